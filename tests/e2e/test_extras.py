"""What users expect around the core: joblog, dry-run, progress on a terminal, --delay, -j forms,
--timeout N%, --env, --halt forms, --version/--help."""

import json
import os
import re
import shutil
import subprocess
import time
import unittest

from support import PARMAP, TempDirTest, lines, run


class Joblog(TempDirTest):
    def test_gnu_parallel_columns(self):
        log = self.path("jobs.log")
        p = run(["--joblog", log, "--keep-going", "-j1", "sh", "-c",
                 'echo out; case $1 in f) exit 3;; k) kill -9 $$;; esac', "sh", ":::", "ok", "f",
                 "k", "a\tb"])
        self.assertEqual(p.returncode, 2)
        rows = [line.split("\t") for line in lines(self.read("jobs.log"))]
        self.assertEqual(rows[0], ["Seq", "Host", "Starttime", "JobRuntime", "Send", "Receive",
                                   "Exitval", "Signal", "Command"])
        self.assertEqual(len(rows), 5)
        for row in rows[1:]:
            self.assertEqual(len(row), 9, msg=row)
            self.assertEqual(row[1], ":")
            self.assertRegex(row[2], r"^\d{10}\.\d{3}$")
            self.assertRegex(row[3], r"^ *\d+\.\d{3}$")
            self.assertEqual(len(row[3]), 10)
            self.assertEqual(row[4], "0")
        self.assertEqual([r[0] for r in rows[1:]], ["1", "2", "3", "4"])
        self.assertEqual([(r[6], r[7]) for r in rows[1:]], [("0", "0"), ("3", "0"), ("0", "9"),
                                                             ("0", "0")])
        self.assertEqual(rows[1][5], "4")  # "out\n"
        self.assertTrue(rows[1][8].startswith("sh -c "), msg=rows[1][8])
        self.assertNotIn("\t", rows[4][8][-10:])  # a TAB in the item does not add a column

    def test_existing_tools_can_read_it(self):
        # awk '$7 != 0' is how people list failed jobs from parallel's joblog.
        log = self.path("jobs.log")
        run(["--joblog", log, "--keep-going", "sh", "-c", "exit $1", "sh", ":::", "0", "5", "0"])
        p = subprocess.run(["awk", "-F", "\t", "NR > 1 && $7 != 0 {print $1}", log],
                           capture_output=True)
        self.assertEqual(lines(p.stdout), ["2"])

    def test_unwritable_joblog_is_a_usage_error(self):
        p = run(["--joblog", self.path("no/dir/log"), "true", ":::", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"no/dir/log", p.stderr)


class DryRun(TempDirTest):
    def test_prints_commands_and_runs_nothing(self):
        marker = self.path("ran")
        p = run(["--dry-run", "touch", marker, "{}", ":::", "a b", "c"])
        self.assertOk(p)
        self.assertFalse(os.path.exists(marker))
        self.assertEqual(lines(p.stdout), [f"touch {marker} 'a b'", f"touch {marker} c"])

    def test_shell_templates_print_a_runnable_line(self):
        p = run(["--dry-run", "echo {} | tr a-z A-Z", ":::", "it's"])
        self.assertEqual(lines(p.stdout), ["sh -c 'echo \"${1}\" | tr a-z A-Z' sh 'it'\\''s'"])
        self.assertEqual(subprocess.run(["sh"], input=p.stdout, capture_output=True).stdout,
                         b"IT'S\n")

    def test_with_checkpoint_is_refused(self):
        p = run(["--dry-run", "--checkpoint", self.path("x.db"), "echo", ":::", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertFalse(os.path.exists(self.path("x.db")))


def terminal_screen(data):
    """The non-empty lines a terminal shows after `data`, handling what parmap's display and a
    tty's output processing use: \\r, \\n and ESC[K (erase to the end of the line)."""
    screen, col, i = [""], 0, 0
    while i < len(data):
        if data.startswith("\x1b[K", i):
            screen[-1] = screen[-1][:col]
            i += 3
            continue
        c = data[i]
        i += 1
        if c == "\r":
            col = 0
        elif c == "\n":
            screen.append("")
            col = 0
        else:
            line = screen[-1].ljust(col)
            screen[-1] = line[:col] + c + line[col + 1:]
            col += 1
    return [line for line in screen if line]


@unittest.skipUnless(shutil.which("script"), "needs script(1) from util-linux")
class Progress(TempDirTest):
    def on_terminal(self, args, stdin_data=""):
        # script(1) gives parmap a pseudo terminal as stdin, stdout and stderr.
        cmd = " ".join(["'" + a.replace("'", "'\\''") + "'" for a in [PARMAP] + args])
        p = subprocess.run(["script", "-qfec", cmd, "/dev/null"], input=stdin_data.encode(),
                           capture_output=True, timeout=60)
        return p.stdout.decode(errors="replace")

    def test_bar_is_drawn_on_a_terminal(self):
        out = self.on_terminal(["--bar", "-j2", "sh", "-c", "sleep 0.1", "sh", ":::"] +
                               [str(i) for i in range(12)])
        self.assertIn("\r", out)
        self.assertRegex(out, r"100% \[#+\] 12/12")
        self.assertRegex(out, r"\d+% \[#* +\] \d+/12")  # an intermediate state was drawn

    def test_output_on_the_same_terminal_never_shares_the_bar_line(self):
        # Results and bar on one terminal: the bar is erased before output and drawn again
        # below it, so each result has its line and no stale bar stays above (as pv, cargo).
        out = self.on_terminal(["--bar", "-j2", "sh", "-c", "sleep 0.15; echo result-$1", "sh",
                                ":::"] + [str(i) for i in range(10)])
        screen = terminal_screen(out)
        self.assertEqual([line for line in screen if "result-" in line],
                         [f"result-{i}" for i in range(10)], msg=screen)
        self.assertEqual(screen[:-1], [f"result-{i}" for i in range(10)], msg=screen)
        self.assertRegex(screen[-1], r"^parmap: 100% \[#+\] 10/10")

    def test_a_line_left_open_by_the_output_is_not_erased(self):
        # The running item printed half a line: the bar waits for the newline.
        out = self.on_terminal(["--bar", "-j1", "sh", "-c", "printf part-$1; sleep 0.4; echo",
                                "sh", ":::", "1", "2"])
        screen = terminal_screen(out)
        self.assertEqual(screen[:2], ["part-1", "part-2"], msg=screen)
        self.assertRegex(screen[-1], r"^parmap: 100% .* 2/2")

    def test_progress_always_into_a_file_writes_plain_lines(self):
        p = run(["--bar", "--progress-always", "-j1", "sleep", ":::"] + ["0.4"] * 4)
        self.assertOk(p)
        self.assertNotIn(b"\r", p.stderr)
        self.assertNotIn(b"\x1b", p.stderr)
        progress = lines(p.stderr)
        self.assertTrue(all(line.startswith("parmap: ") for line in progress), msg=progress)
        self.assertRegex(progress[-1], r"100% \[#+\] 4/4")
        self.assertGreaterEqual(len(progress), 2)
        self.assertLessEqual(len(progress), 5, msg=progress)  # at most one a second

    def test_eta_is_drawn(self):
        out = self.on_terminal(["--eta", "sh", "-c", "sleep 0.05", "sh", ":::", "1", "2", "3"])
        self.assertIn("ETA", out)
        self.assertIn("3/3", out)

    def test_a_pipe_shows_a_running_count_until_it_ends_then_a_total(self):
        # The input is read ahead: while the pipe is open the length is unknown (a count and
        # a rate); once it ended, a total and a percentage.
        p = subprocess.run(["sh", "-c", f"(echo a; sleep 1.5; echo b) | {PARMAP} --bar "
                                        "--progress-always -j1 true"],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, msg=p.stderr)
        self.assertIn(b"1 done", p.stderr)
        self.assertIn(b"100% [", p.stderr)
        self.assertIn(b"2/2", p.stderr)

    def test_stdin_that_is_a_regular_file_has_a_known_length(self):
        # Known length from the start: a total (and the adaptive tail); a pipe: once read.
        data = self.write("items.txt", "".join(f"{i}\n" for i in range(40)))
        with open(data, "rb") as f:
            p = run(["--bar", "--progress-always", "true"], stdin=f)
        self.assertIn(b"40/40", p.stderr)
        p = run(["--bar", "--progress-always", "true"], input="".join(f"{i}\n" for i in range(40)))
        self.assertIn(b"40/40", p.stderr)

    def test_nothing_when_stderr_is_not_a_terminal(self):
        p = run(["--bar", "--eta", "true", ":::", "1", "2"])
        self.assertOk(p)
        self.assertEqual(p.stderr, b"")

    def test_progress_always_forces_it(self):
        p = run(["--bar", "--progress-always", "true", ":::", "1", "2"])
        self.assertIn(b"2/2", p.stderr)

    def test_redraws_are_rate_limited(self):
        out = self.on_terminal(["--bar", "-j2", "true", ":::"] + [str(i) for i in range(300)])
        draws = out.count("\r")
        self.assertLess(draws, 60)  # 300 items finish in well under a few seconds


class Habits(TempDirTest):
    def test_delay_spaces_starts(self):
        t0 = time.monotonic()
        p = run(["-j4", "--delay", "0.2", "true", ":::", "1", "2", "3", "4"])
        self.assertOk(p)
        self.assertGreater(time.monotonic() - t0, 0.55)

    def test_timeout_percent_of_the_median(self):
        # Five quick items set the median; the sixth takes far longer than 300% of it.
        p = run(["-j1", "--keep-going", "--timeout", "300%", "--json", "sh", "-c", "sleep $1",
                 "sh", ":::", "0.1", "0.1", "0.1", "0.1", "0.1", "3"])
        statuses = re.findall(rb'"status":"(\w+)"', p.stdout)
        self.assertEqual(statuses, [b"ok"] * 5 + [b"timeout"])

    def test_timeout_percent_ignores_quick_failures(self):
        # Issue 12's reproduction (with `.05`, the text of the items, so that they do fail): the
        # median is of successes only, so the four quick failures do not set a limit that kills
        # the normal half-second items, as in GNU parallel.
        p = run(["-j1", "--keep-going", "--timeout", "300%", "--json", "sh", "-c",
                 'sleep $1; [ $1 != .05 ]', "sh", ":::",
                 ".5", ".05", ".05", ".05", ".05", ".5", ".5", ".5"])
        statuses = re.findall(rb'"status":"(\w+)"', p.stdout)
        self.assertEqual(statuses, [b"ok"] + [b"failed"] * 4 + [b"ok"] * 3, msg=p.stderr)
        self.assertEqual(p.returncode, 4)

    def test_timeout_percent_does_not_shrink_with_each_timeout(self):
        # Equal items at 50%: all but the first time out, each at half the first one's runtime.
        # Counting timed-out runtimes would halve the limit at every timeout.
        p = run(["-j1", "--keep-going", "--timeout", "50%", "--json", "sleep", ":::"] +
                ["0.4"] * 5)
        records = [json.loads(line) for line in lines(p.stdout)]
        self.assertEqual([r["status"] for r in records], ["ok"] + ["timeout"] * 4)
        limit = records[0]["duration_s"] / 2
        for r in records[1:]:
            self.assertGreater(r["duration_s"], limit * 0.95, msg=records)

    def test_env_is_accepted(self):
        p = run(["--env", "FOO", "sh", "-c", "echo $FOO", ":::", "x"], env={"FOO": "bar"})
        self.assertEqual(lines(p.stdout), ["bar"])

    def test_jobs_zero_means_many(self):
        p = run(["-j0", "sh", "-c", "sleep 0.5", ":::"] + [str(i) for i in range(20)])
        self.assertOk(p)

    def test_version_matches_the_man_page(self):
        version = run(["--version"]).stdout.decode().split()[1]
        man = open(os.path.join(os.path.dirname(__file__), "..", "..", "man", "parmap.1")).read()
        self.assertIn(version, man.splitlines()[0] + man[:400])
