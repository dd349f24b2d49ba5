"""Failures and exit statuses: fail-fast, --keep-going, --retries, --halt, usage errors."""

import os
import subprocess
import time

from support import PARMAP, TempDirTest, lines, run

MF = ["sh", "-c", '[ "$1" = boom ] && { echo fail >&2; exit 1; }; echo "$1"', "mf"]


class ExitStatus(TempDirTest):
    def test_all_ok_is_zero(self):
        self.assertEqual(run(["true", ":::", "a", "b"]).returncode, 0)

    def test_fail_fast_exits_with_the_items_status(self):
        p = run(["-j1", "sh", "-c", "echo $1; exit $1", "sh", ":::", "0", "3", "0"])
        self.assertEqual(p.returncode, 3)
        self.assertEqual(lines(p.stdout), ["0", "3"])  # nothing after the failed item
        self.assertIn(b"item 2 (3)", p.stderr)
        self.assertIn(b"exit status 3", p.stderr)

    def test_fail_fast_writes_everything_before_the_failure(self):
        # The failure (item 5) is quick; items before it are slow and must still be written.
        script = 'case $1 in 5) exit 9;; *) sleep 0.3; echo $1;; esac'
        p = run(["-j4", "sh", "-c", script, "sh", ":::"] + [str(i) for i in range(1, 9)])
        self.assertEqual(p.returncode, 9)
        self.assertEqual(lines(p.stdout), ["1", "2", "3", "4"])

    def test_fail_fast_terminates_running_items(self):
        t0 = time.monotonic()
        p = run(["-j2", "sh", "-c", 'case $1 in bad) sleep 0.2; exit 4;; *) sleep 30;; esac', "sh",
                 ":::", "bad", "slow"])
        self.assertEqual(p.returncode, 4)
        self.assertLess(time.monotonic() - t0, 10)

    def test_timeout_is_124(self):
        p = run(["--timeout", "0.2", "sleep", ":::", "10"])
        self.assertEqual(p.returncode, 124)
        self.assertIn(b"timed out", p.stderr)

    def test_signal_is_128_plus_n(self):
        p = run(["sh", "-c", "kill -TERM $$", ":::", "x"])
        self.assertEqual(p.returncode, 128 + 15)
        self.assertIn(b"signal 15", p.stderr)

    def test_command_not_found_is_127(self):
        p = run(["no-such-command-parmap", ":::", "x"])
        self.assertEqual(p.returncode, 127)
        self.assertIn(b"no-such-command-parmap: command not found", p.stderr)

    def test_not_executable_is_126(self):
        script = self.write("script.sh", "#!/bin/sh\necho hi\n", mode=0o644)
        p = run([script, ":::", "x"])
        self.assertEqual(p.returncode, 126)
        self.assertIn(b"Permission denied", p.stderr)

    def test_script_without_shebang_runs_with_sh(self):
        script = self.write("noshebang", "echo via sh $1\n", mode=0o755)
        p = run([script, ":::", "x"])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["via sh x"])

    def test_keep_going_counts_failures(self):
        p = run(["--keep-going"] + MF, input="ok\nboom\nok2\n")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(lines(p.stdout), ["ok", "ok2"])
        self.assertIn(b"fail\n", p.stderr)
        self.assertEqual(sum(1 for line in lines(p.stderr) if "boom" in line), 1)

    def test_safe_is_an_alias(self):
        p = run(["--safe", "-b2"] + MF, input="ok\nboom\nok2\n")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(lines(p.stdout), ["ok", "ok2"])

    def test_keep_going_caps_at_101(self):
        p = run(["--keep-going", "-j2", "false"], input="\n".join(str(i) for i in range(100)))
        self.assertEqual(p.returncode, 100)
        p = run(["--keep-going", "-j2", "false"], input="\n".join(str(i) for i in range(130)))
        self.assertEqual(p.returncode, 101)

    def test_timeouts_with_keep_going_kill_not_await(self):
        # ray-map's test_timeout_yields_exception_object: two timeouts, well under the sleeps.
        t0 = time.monotonic()
        p = run(["--keep-going", "-b2", "--timeout", "0.05", "sh", "-c", "sleep 2", "s"],
                input="1\n2\n")
        self.assertEqual(p.returncode, 2)
        self.assertLess(time.monotonic() - t0, 1.5)
        p = run(["-b2", "--timeout", "0.05", "sh", "-c", "sleep 2", "s"], input="1\n2\n")
        self.assertEqual(p.returncode, 124)


class Retries(TempDirTest):
    def test_retries_run_again_until_success(self):
        counter = self.path("count")
        script = f'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; ' \
                 'echo "attempt $n"; [ $n -ge 3 ]'
        p = run(["--retries", "2", "sh", "-c", script, ":::", "x"])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["attempt 3"])  # failed attempts' output is dropped

    def test_retries_exhausted_fails(self):
        p = run(["--retries", "1", "--json", "false", ":::", "x"])
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'"attempts":2', p.stdout)


class Halt(TempDirTest):
    def test_halt_never_is_keep_going(self):
        p = run(["--halt", "never", "sh", "-c", "exit $1", "sh", ":::", "1", "0", "2"])
        self.assertEqual(p.returncode, 2)

    def test_halt_soon_lets_running_items_finish(self):
        script = 'case $1 in bad) exit 3;; *) sleep 0.3; echo $1 done;; esac'
        p = run(["-j2", "--halt", "soon,fail=1", "--as-ready", "sh", "-c", script, "sh", ":::",
                 "bad", "slow", "never1", "never2"])
        self.assertEqual(p.returncode, 3)
        self.assertEqual(lines(p.stdout), ["slow done"])

    def test_halt_now_success(self):
        p = run(["-j1", "--halt", "now,success=2", "echo", ":::", "a", "b", "c", "d"])
        self.assertEqual(p.returncode, 0)
        self.assertEqual(lines(p.stdout), ["a", "b"])

    def test_halt_percent(self):
        # 6 items: the halt comes with the 3rd failure; the status is GNU parallel's, the
        # percentage of failed items.
        p = run(["-j1", "--halt", "now,fail=50%", "sh", "-c", "echo $1; exit $1", "sh", ":::",
                 "0", "1", "1", "1", "0", "0"])
        self.assertEqual(p.returncode, 50)
        self.assertEqual(lines(p.stdout), ["0", "1", "1", "1"])

    def test_bad_halt_is_a_usage_error(self):
        p = run(["--halt", "sometimes", "true", ":::", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"--halt", p.stderr)


class UsageErrors(TempDirTest):
    def assertUsage(self, args, needle, **kw):
        marker = self.path("ran")
        p = run(args + ["sh", "-c", f"touch {marker}", ":::", "x"], **kw)
        self.assertEqual(p.returncode, 255, msg=p.stderr)
        first, *rest = p.stderr.decode().strip().splitlines()
        self.assertTrue(first.startswith("parmap: "), msg=first)
        self.assertIn(needle.decode(), first)
        self.assertLessEqual(len(rest), 1)  # at most a hint to --help
        self.assertFalse(os.path.exists(marker), "an item ran despite a usage error")

    def test_unknown_option(self):
        self.assertUsage(["--bogus"], b"--bogus")

    def test_bad_numbers(self):
        self.assertUsage(["-b", "0"], b"--batch-size")
        self.assertUsage(["--timeout", "soon"], b"--timeout")
        self.assertUsage(["--kill-grace", "-1"], b"kill-grace")

    def test_contradictions(self):
        self.assertUsage(["--as-ready", "-k"], b"contradict")
        self.assertUsage(["--tag", "--json"], b"contradict")
        self.assertUsage(["--retry-failed"], b"--retry-failed needs --resume")

    def test_no_command(self):
        p = run([":::", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"no command given", p.stderr)

    def test_unreadable_input_files(self):
        marker = self.path("ran")
        for bad in [self.path("missing"), self.dir]:
            p = run(["-a", bad, "touch", marker])
            self.assertEqual(p.returncode, 255)
            self.assertIn(bad.encode(), p.stderr)
            self.assertFalse(os.path.exists(marker))
        locked = self.write("locked", "a\n", mode=0o000)
        if os.geteuid() != 0:
            p = run(["::::", locked, "touch", marker])
            self.assertEqual(p.returncode, 255)

    def test_a_linked_group_needs_a_source_before_it(self):
        p = run(["echo", ":::+", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"needs an input source before it", p.stderr)

    def test_help_and_version(self):
        p = run(["--help"])
        self.assertOk(p)
        self.assertIn(b"--checkpoint", p.stdout)
        self.assertIn(b"Usage: parmap", p.stdout)
        p = run(["--version"])
        self.assertOk(p)
        self.assertTrue(p.stdout.startswith(b"parmap "))
