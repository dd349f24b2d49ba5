"""Processes: group timeouts, no process left behind, signals, pipes held by background jobs."""

import os
import signal
import subprocess
import time

from support import PARMAP, TempDirTest, lines, pid_alive, run, start, wait_for


class Timeouts(TempDirTest):
    def test_timeout_kills_grandchildren(self):
        pids = self.path("pids")
        script = f'sleep 100 & echo $! >> {pids}; sleep 100 & echo $! >> {pids}; echo $$ >> {pids}; wait'
        t0 = time.monotonic()
        p = run(["--timeout", "0.3", "sh", "-c", script, ":::", "x"])
        self.assertEqual(p.returncode, 124)
        self.assertLess(time.monotonic() - t0, 5)
        for pid in map(int, self.read("pids").split()):
            self.assertTrue(wait_for(lambda: not pid_alive(pid), timeout=5), f"pid {pid} survived")

    def test_sigterm_ignored_gets_sigkill_after_grace(self):
        pids = self.path("pids")
        script = f"trap '' TERM; sleep 100 & echo $! >> {pids}; sleep 100"
        t0 = time.monotonic()
        p = run(["--timeout", "0.2", "--kill-grace", "0.5", "sh", "-c", script, ":::", "x"])
        elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, 124)
        self.assertGreater(elapsed, 0.6)  # 0.2 s, then the 0.5 s grace
        self.assertLess(elapsed, 5)
        for pid in map(int, self.read("pids").split()):
            self.assertTrue(wait_for(lambda: not pid_alive(pid), timeout=5))

    def test_group_members_ignoring_term_die_after_the_leader(self):
        # The leader dies of SIGTERM at once; a member ignoring it and not holding the pipes
        # must still get SIGKILL when the grace ends.
        pids = self.path("pids")
        script = (f"(trap '' TERM; exec sleep 100) >/dev/null 2>&1 & echo $! >> {pids}; "
                  "exec sleep 100")
        p = run(["--timeout", "0.2", "--kill-grace", "0.3", "sh", "-c", script, ":::", "x"])
        self.assertEqual(p.returncode, 124)
        pid = int(self.read("pids").split()[0])
        self.assertTrue(wait_for(lambda: not pid_alive(pid), timeout=5), "member survived")

    def test_sigkill_comes_one_grace_after_sigterm_when_the_leader_takes_its_time(self):
        # The leader exits 1.5 s into a 2 s grace; the member ignoring SIGTERM must get SIGKILL
        # when the grace ends (about 2.2 s in), not a whole grace after the leader (3.7 s).
        # --keep-going and more items keep parmap running past that moment.
        pids = self.path("pids")
        script = (f'if [ "$1" != x ]; then sleep 0.2; exit 0; fi; '
                  f"(trap '' TERM; exec sleep 100) >/dev/null 2>&1 & echo $! >> {pids}; "
                  "trap 'sleep 1.5; exit 1' TERM; while :; do sleep 0.05; done")
        t0 = time.monotonic()
        proc = start(["-j2", "--keep-going", "--timeout", "0.2", "--kill-grace", "2", "sh", "-c",
                      script, "sh", ":::", "x"] + [str(i) for i in range(40)])
        self.assertTrue(wait_for(lambda: os.path.exists(pids) and self.read("pids").strip()))
        pid = int(self.read("pids").split()[0])
        self.assertTrue(wait_for(lambda: not pid_alive(pid), timeout=10), "member survived")
        killed_after = time.monotonic() - t0
        proc.communicate(timeout=30)
        self.assertGreater(killed_after, 2.1)
        self.assertLess(killed_after, 3.2)

    def test_setsid_escapes_the_group_without_hanging_parmap(self):
        # Documented: a process that leaves the group (setsid) is not killed; parmap still ends.
        pid_file = self.path("escaped")
        t0 = time.monotonic()
        p = run(["--timeout", "0.3", "--kill-grace", "0.2", "sh", "-c",
                 f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 30' & sleep 30", ":::", "x"])
        self.assertEqual(p.returncode, 124)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertTrue(wait_for(lambda: os.path.exists(pid_file) and self.read("escaped").strip()))
        escaped = int(self.read("escaped"))
        self.assertTrue(pid_alive(escaped))
        os.kill(escaped, signal.SIGKILL)

    def test_timeout_applies_per_item(self):
        p = run(["--keep-going", "-j2", "--timeout", "0.5", "--json", "sh", "-c", "sleep $1",
                 "sh", ":::", "0.1", "2", "0.2"])
        self.assertEqual(p.returncode, 1)
        self.assertEqual([line.count('"timeout"') for line in lines(p.stdout)], [0, 1, 0])


class Pipes(TempDirTest):
    def test_background_process_holding_the_pipe_does_not_hang(self):
        t0 = time.monotonic()
        p = run(["sh", "-c", "echo before; sleep 30 & echo after", ":::", "x"])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["before", "after"])
        self.assertLess(time.monotonic() - t0, 5)

    def test_child_closing_stdout_early(self):
        p = run(["sh", "-c", "exec >&-; sleep 0.2; echo still here >&2", ":::", "x"])
        self.assertOk(p)
        self.assertEqual(lines(p.stderr), ["still here"])

    def test_child_writing_after_sigterm(self):
        script = "trap 'while true; do echo spam; done' TERM; sleep 100"
        t0 = time.monotonic()
        p = run(["--timeout", "0.2", "--kill-grace", "0.3", "sh", "-c", script, ":::", "x"])
        self.assertEqual(p.returncode, 124)
        self.assertLess(time.monotonic() - t0, 10)

    def test_no_descriptor_leaks_into_children(self):
        p = run(["-j4", "sh", "-c", "sleep 0.1; ls /proc/self/fd", ":::", "a", "b", "c", "d"])
        self.assertOk(p)
        # ls itself opens one descriptor for the directory; nothing but 0, 1, 2 and that.
        for line in lines(p.stdout):
            self.assertLessEqual(int(line), 3, msg=p.stdout)

    def test_many_jobs_under_a_low_open_file_limit(self):
        p = subprocess.run(["bash", "-c", f"ulimit -n 64; {PARMAP} -j 64 sh -c 'sleep 0.05; echo $1' sh ::: $(seq 200)"],
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, msg=p.stderr)
        self.assertEqual(lines(p.stdout), [str(i) for i in range(1, 201)])
        self.assertIn(b"open-file limit", p.stderr)


class Signals(TempDirTest):
    def check_signal(self, sig):
        pids = self.path(f"pids-{sig}")
        script = f"echo $$ >> {pids}; sleep 100 & echo $! >> {pids}; wait"
        proc = start(["-j2", "sh", "-c", script, ":::", "a", "b", "c"])
        self.assertTrue(wait_for(lambda: os.path.exists(pids) and len(open(pids).read().split()) >= 4))
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, -sig, msg=err)
        for pid in map(int, open(pids).read().split()):
            self.assertTrue(wait_for(lambda: not pid_alive(pid), timeout=5), f"{pid} survived")

    def test_sigint(self):
        self.check_signal(signal.SIGINT)

    def test_sigterm(self):
        self.check_signal(signal.SIGTERM)

    def test_sighup(self):
        self.check_signal(signal.SIGHUP)

    def test_shell_sees_128_plus_n(self):
        # set -m: without job control, a background job would start with SIGINT ignored.
        p = subprocess.run(["bash", "-c", f"set -m; {PARMAP} sleep ::: 30 & sleep 0.5; kill -INT $!; wait $!; echo $?"],
                           capture_output=True, timeout=30)
        self.assertEqual(lines(p.stdout)[-1], "130")

    def test_second_sigint_kills_at_once(self):
        pids = self.path("pids")
        script = f"trap '' INT TERM; echo $$ >> {pids}; sleep 100"
        proc = start(["--kill-grace", "30", "sh", "-c", script, ":::", "a"])
        self.assertTrue(wait_for(lambda: os.path.exists(pids)))
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        self.assertIsNone(proc.poll())  # the item ignores SIGINT; the grace is 30 s
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(proc.returncode, -signal.SIGINT)


class HostileItems(TempDirTest):
    ITEMS = ["$(touch PWNED)", "`touch PWNED`", "; touch PWNED", "a'b\"c", "-n", "--help",
             "x && touch PWNED", "* ?", "\\", "$HOME", "' ; touch PWNED ; '", "|touch PWNED",
             "tab\there", "caf\u00e9", ""]

    def check(self, args):
        p = run(args, input="\n".join(self.ITEMS) + "\n", cwd=self.dir)
        self.assertOk(p)
        self.assertFalse(os.path.exists(self.path("PWNED")), "an item ran as code")
        return p

    def test_items_reach_the_command_byte_for_byte(self):
        printer = ["printf", "[%s]\\n"]
        expected = [f"[{item}]" for item in self.ITEMS]
        self.assertEqual(lines(self.check(printer).stdout), expected)
        self.assertEqual(lines(self.check(["printf '[%s]\\n' {}"]).stdout), expected)
        self.assertEqual(lines(self.check(["--shell", "printf", "'[%s]\\n'", "{}"]).stdout), expected)
        self.assertEqual(lines(self.check(["printf '[%s]\\n' {/} | cat"]).stdout),
                         [f"[{item.rsplit('/', 1)[-1]}]" for item in self.ITEMS])

    def test_nul_separated_items_with_newlines_and_long_items(self):
        items = [b"line one\nline two", b"$(touch PWNED)\n`touch PWNED`", b"-n", b"x" * 100_000,
                 b"\xff\xfe\n\t'\"", b""]
        data = b"\0".join(items) + b"\0"
        for template in (["printf", "[%s]\\0"], ["printf '[%s]\\0' {}"], ["--shell", "printf", "'[%s]\\0'"]):
            p = run(["-0", "-j3"] + template, input=data, cwd=self.dir)
            self.assertOk(p)
            self.assertEqual(p.stdout, b"".join(b"[" + i + b"]\0" for i in items), msg=template)
            self.assertFalse(os.path.exists(self.path("PWNED")))
            dry = run(["-0", "--dry-run"] + template, input=data, cwd=self.dir)
            redo = subprocess.run(["sh"], input=dry.stdout, capture_output=True, cwd=self.dir)
            self.assertEqual(redo.stdout, p.stdout, msg=template)
            self.assertFalse(os.path.exists(self.path("PWNED")))

    def test_dry_run_output_run_by_sh_gives_the_same_argv(self):
        for template in (["printf", "[%s]\\n"], ["printf '[%s]\\n' {}"]):
            p = self.check(["--dry-run"] + template)
            self.assertFalse(os.path.exists(self.path("PWNED")))
            redo = subprocess.run(["sh"], input=p.stdout, capture_output=True, cwd=self.dir)
            self.assertEqual(lines(redo.stdout), [f"[{item}]" for item in self.ITEMS])
            self.assertFalse(os.path.exists(self.path("PWNED")))
