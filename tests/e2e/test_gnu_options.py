"""GNU parallel's command lines on parmap: its spellings, output modes, environment, joblog and
exit statuses, compared with real GNU parallel on the same input wherever the behaviour is
meant to match."""

import csv
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import time
import unittest

from support import PARMAP, GNU, TempDirTest, gnu, lines, needs_gnu, run, start, wait_for

# A command both run the same way: parmap execs it directly, GNU parallel needs -q for that.
SHOW = ["sh", "-c", "echo out $0; echo err $0 >&2", "{}"]


def tree(root):
    """{relative path: bytes} of every file under root, and the set of directories."""
    files, dirs = {}, set()
    for base, subdirs, names in os.walk(root):
        for d in subdirs:
            dirs.add(os.path.relpath(os.path.join(base, d), root))
        for n in names:
            with open(os.path.join(base, n), "rb") as f:
                files[os.path.relpath(os.path.join(base, n), root)] = f.read()
    return files, dirs


class Spellings(TempDirTest):
    """GNU parallel's names for options parmap has."""

    def test_aliases_work_like_the_options(self):
        for args in (["-P", "2"], ["--max-procs", "2"], ["--halt-on-error", "never"],
                     ["--jl", self.path("log")], ["--will-cite"], ["--no-notice"], ["-q"],
                     ["--quote"], ["--group"]):
            p = run(args + ["echo", ":::", "a", "b"])
            self.assertOk(p)
            self.assertEqual(lines(p.stdout), ["a", "b"], msg=args)
        p = run(["--dryrun", "touch", self.path("x"), ":::", "a"])
        self.assertOk(p)
        self.assertFalse(os.path.exists(self.path("x")))

    def test_a_repeated_option_takes_its_last_value(self):
        # alias pm='parmap -j4'; pm -j1 ...: the last -j counts, as in GNU parallel and xargs.
        script = f"echo $$ >> {self.path('starts')}; sleep 0.3; echo $$ >> {self.path('ends')}"
        p = run(["-j4", "-j1", "--timeout", "9", "--timeout", "30", "sh", "-c", script,
                 ":::", "a", "b", "c"])
        self.assertOk(p)
        with open(self.path("starts")) as f, open(self.path("ends")) as g:
            starts, ends = f.read().split(), g.read().split()
        self.assertEqual(starts, ends)  # -j1: each ended before the next started

    @needs_gnu
    def test_line_buffer_spellings(self):
        for spelling in ("--lb", "--linebuffer", "--line-buffer"):
            p = run([spelling, "--as-ready", "echo", ":::", "a"])
            self.assertEqual(lines(p.stdout), lines(gnu([spelling, "echo", ":::", "a"]).stdout))

    @needs_gnu
    def test_arg_sep_and_arg_file_sep(self):
        items = self.write("items", "x\ny\n")
        for args in (["--arg-sep", ",,", "echo", ",,", "a", "b"],
                     ["--argsep", ",,", "echo", ":::", ",,", "a"],
                     ["--arg-file-sep", "//", "echo", "//", items],
                     ["--argfilesep", "//", "echo", "//", items]):
            p = run(["-k"] + args)
            self.assertOk(p)
            self.assertEqual(p.stdout, gnu(["-k"] + args).stdout, msg=args)

    def test_resume_failed_is_resume_and_retry_failed(self):
        db = self.path("run.db")
        run(["--checkpoint", db, "--keep-going", "sh", "-c", "[ -e ok ] || exit 3; echo $1", "sh",
             ":::", "a"], cwd=self.dir)
        self.write("ok", "")
        p = run(["--checkpoint", db, "--resume-failed", "--keep-going", "sh", "-c",
                 "[ -e ok ] || exit 3; echo $1", "sh", ":::", "a"], cwd=self.dir)
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["a"])

    @needs_gnu
    def test_number_of_cores_and_cpus(self):
        for option in ("--number-of-cores", "--number-of-cpus"):
            p = run([option])
            self.assertOk(p)
            self.assertEqual(p.stdout, gnu([option]).stdout)
        if shutil.which("taskset"):
            pinned = subprocess.run(["taskset", "-c", "0", PARMAP, "--number-of-cores"],
                                    capture_output=True)
            self.assertEqual(pinned.stdout, b"1\n")

    @needs_gnu
    def test_shellquote_quotes_items_for_the_shell(self):
        items = ["a b", "it's", "$(touch PWNED)", "", "-x", "tab\there", "plain"]
        for args in (["--shellquote"], ["--shell-quote"], ["--shellquote", "--shellquote"]):
            p = run(args + [":::"] + items, cwd=self.dir)
            self.assertOk(p)
            g = gnu(["-k"] + args + [":::"] + items)
            # parmap's quoting may be spelt otherwise ('\'' for '"'"'); the shell reads both
            # back as the item, once per --shellquote.
            for quoted in (lines(p.stdout), lines(g.stdout)):
                self.assertEqual(len(quoted), len(items))
                for text, item in zip(quoted, items):
                    for _ in args:
                        text = shlex.split(text)[0]
                    self.assertEqual(text, item)
        self.assertFalse(os.path.exists(self.path("PWNED")))
        p = run(["--shellquote"], input="a b\nc\n")
        self.assertEqual(lines(p.stdout), ["'a b'", "c"])


@needs_gnu
class Environment(TempDirTest):
    def test_parallel_seq_and_jobslot(self):
        cmd = ["sh", "-c", 'echo "$PARALLEL_SEQ $PARALLEL_JOBSLOT $0"', "{}"]
        p = run(["-j1"] + cmd + [":::", "a", "b", "c"])
        g = gnu(["-j1", "-k", "-q"] + cmd + [":::", "a", "b", "c"])
        self.assertEqual(p.stdout, g.stdout)
        # Two slots: every item's slot is 1 or 2, and both are used.
        p = run(["-j2", "sh", "-c", 'sleep 0.2; echo $PARALLEL_JOBSLOT', "sh", ":::", "1", "2"])
        self.assertEqual(sorted(lines(p.stdout)), ["1", "2"])


class JobsFile(TempDirTest):
    def test_jobs_from_a_file_read_again_when_it_changes(self):
        procs = self.write("procs", "1\n")
        script = "touch started.$1; while [ ! -e go ]; do sleep 0.02; done"
        proc = start(["-j", procs, "sh", "-c", script, "sh", ":::", "1", "2", "3", "4", "5"],
                     cwd=self.dir)
        started = lambda: len([n for n in os.listdir(self.dir) if n.startswith("started.")])
        self.assertTrue(wait_for(lambda: started() == 1))
        time.sleep(1.2)  # one re-read at least: the file has not changed, -j1 holds
        self.assertEqual(started(), 1)
        with open(procs, "w") as f:
            f.write("3\n")
        later = time.time() + 5
        os.utime(procs, (later, later))  # a new mtime, whatever the clock's granularity
        self.assertTrue(wait_for(lambda: started() == 3, timeout=20))
        self.write("go", "")
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, msg=err)

    def test_a_bad_count_in_the_file_is_a_warning(self):
        procs = self.write("procs", "2\n")
        script = "touch started.$1; while [ ! -e go ]; do sleep 0.02; done"
        proc = start(["-j", procs, "sh", "-c", script, "sh", ":::", "1", "2"], cwd=self.dir)
        self.assertTrue(wait_for(lambda: os.path.exists(self.path("started.1"))))
        with open(procs, "w") as f:
            f.write("many\n")
        later = time.time() + 5
        os.utime(procs, (later, later))
        time.sleep(1.5)
        self.write("go", "")
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, msg=err)
        self.assertIn(b"parmap: warning: --jobs " + procs.encode() + b": 'many' is not a whole "
                      b"number; still running 2 jobs at a time", err)

    def test_a_missing_file_is_a_usage_error(self):
        p = run(["-j", self.path("nothing"), "true", ":::", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"is neither a number of jobs", p.stderr)


@needs_gnu
class Joblog(TempDirTest):
    def rows(self, text):
        return [line.split("\t") for line in text.splitlines()]

    def test_joblog_to_stdout_follows_each_output(self):
        p = run(["-j1", "--joblog", "-", "echo", ":::", "a", "b"])
        g = gnu(["-j1", "--joblog", "-", "echo", ":::", "a", "b"])
        ours, theirs = self.rows(p.stdout.decode()), self.rows(g.stdout.decode())
        self.assertEqual(len(ours), len(theirs))
        for o, t in zip(ours, theirs):
            if len(t) == 9 and t[0] != "Seq":
                self.assertEqual(o[:2] + o[4:], t[:2] + t[4:])  # all but the times
            else:
                self.assertEqual(o, t)

    def test_plus_file_appends_without_a_header(self):
        for tool, log in ((run, self.path("ours")), (gnu, self.path("theirs"))):
            tool(["--joblog", log, "echo", ":::", "a"])
            tool(["--joblog", "+" + log, "echo", ":::", "b"])
            tool(["--joblog", "+" + self.path("new-" + os.path.basename(log)), "echo", ":::", "c"])
        ours = [r[0] for r in self.rows(self.read("ours").decode())]
        self.assertEqual(ours, [r[0] for r in self.rows(self.read("theirs").decode())])
        self.assertEqual(ours, ["Seq", "1", "1"])
        self.assertEqual(self.read("new-ours").count(b"\n"), 1)

    def test_a_timed_out_item_has_exitval_minus_one(self):
        args = ["--timeout", "0.5", "--halt", "never", "sleep"]
        run(["--joblog", self.path("ours"), "--kill-grace", "0.2"] + args + [":::", "0", "5"])
        gnu(["--joblog", self.path("theirs")] + args + [":::", "0", "5"])
        cols = lambda name: sorted((r[6], r[7]) for r in self.rows(self.read(name).decode())[1:])
        self.assertEqual(cols("ours"), cols("theirs"))
        self.assertEqual(cols("ours"), [("-1", "15"), ("0", "0")])

    def test_an_item_killed_by_a_signal_has_exitval_zero(self):
        cmd = "kill -9 $$"
        run(["--joblog", self.path("ours"), "--keep-going", cmd, ":::", "a"])
        gnu(["--joblog", self.path("theirs"), cmd, ":::", "a"])
        row = lambda name: self.rows(self.read(name).decode())[1][6:8]
        self.assertEqual(row("ours"), row("theirs"))
        self.assertEqual(row("ours"), ["0", "9"])

    def test_receive_counts_stdout_only(self):
        run(["--joblog", self.path("ours")] + SHOW + [":::", "abc"])
        gnu(["--joblog", self.path("theirs"), "-q"] + SHOW + [":::", "abc"])
        receive = lambda name: self.rows(self.read(name).decode())[1][5]
        self.assertEqual(receive("ours"), receive("theirs"))


@needs_gnu
class HaltStatuses(TempDirTest):
    ITEMS = ["0", "1", "2", "0", "3", "0", "0", "4", "0", "0"]

    def test_exit_statuses_match_gnu_parallel(self):
        for halt in ("never", "soon,fail=1", "now,fail=1", "now,fail=2", "soon,fail=3",
                     "now,fail=20%", "soon,fail=50%", "now,success=1", "now,success=2",
                     "soon,success=50%", "now,done=1", "now,done=3", "soon,done=30%", "1", "2",
                     "-1", "-2", "20%", "now,fail=90%", "now,success=90%"):
            p = run(["-j1", "--halt", halt, "exit {}", ":::"] + self.ITEMS)
            g = gnu(["-j1", "--halt", halt, "exit {}", ":::"] + self.ITEMS)
            self.assertEqual(p.returncode, g.returncode, msg=halt)

    def test_default_fail_fast_keeps_the_items_status(self):
        p = run(["-j1", "exit {}", ":::", "0", "7", "0"])
        self.assertEqual(p.returncode, 7)


@needs_gnu
class Results(TempDirTest):
    ITEMS = ["a", "b c", "d/e", "x\ty", "back\\slash", "", "-dash", "it's"]

    def test_directory_tree_is_gnu_parallels(self):
        p = run(["--results", self.path("ours")] + SHOW + [":::"] + self.ITEMS)
        self.assertOk(p)
        self.assertEqual(p.stdout, b"")  # saved, not printed, as GNU parallel does
        gnu(["--results", self.path("theirs"), "-q"] + SHOW + [":::"] + self.ITEMS)
        self.assertEqual(tree(self.path("ours")), tree(self.path("theirs")))

    def test_templated_names_give_a_file_or_a_directory_per_item(self):
        for name in ("out_{}", "dir_{#}/"):
            run(["--results", self.path("ours/" + name)] + SHOW + [":::", "a", "b"])
            gnu(["--results", self.path("theirs/" + name), "-q"] + SHOW + [":::", "a", "b"])
        self.assertEqual(tree(self.path("ours")), tree(self.path("theirs")))

    def table(self, text, sep):
        return list(csv.reader(io.StringIO(text), delimiter=sep))

    def compare_tables(self, ours, theirs, sep):
        o, t = self.table(ours, sep), self.table(theirs, sep)
        self.assertEqual(len(o), len(t))
        self.assertEqual(o[0], t[0])
        for a, b in zip(o[1:], t[1:]):
            # Starttime and JobRuntime differ from run to run; the command may be quoted
            # otherwise, but it is the same command.
            self.assertEqual(a[:2] + a[4:8] + a[9:], b[:2] + b[4:8] + b[9:])
            self.assertEqual(shlex.split(a[8]), shlex.split(b[8]))
            self.assertRegex(a[2], r"^\d+\.\d{3}$")
            self.assertRegex(a[3], r"^\d+\.\d{3}$")

    def test_csv_and_tsv_files_are_gnu_parallels(self):
        items = ["a", "b c", "d,e", 'q"uote', "x\ty"]
        for ext, sep in (("csv", ","), ("tsv", "\t")):
            ours, theirs = self.path("ours." + ext), self.path("theirs." + ext)
            p = run(["-j1", "--results", ours] + SHOW + [":::"] + items)
            self.assertOk(p)
            self.assertEqual(p.stdout, b"")
            gnu(["-j1", "-k", "--results", theirs, "-q"] + SHOW + [":::"] + items)
            self.compare_tables(self.read("ours." + ext).decode(),
                                self.read("theirs." + ext).decode(), sep)

    def test_csv_on_stdout(self):
        p = run(["-j1", "--results", "-.csv", "echo", ":::", "a", "b c"])
        g = gnu(["-j1", "-k", "--results", "-.csv", "echo", ":::", "a", "b c"])
        self.compare_tables(p.stdout.decode(), g.stdout.decode(), ",")

    def test_json_lines_are_gnu_parallels(self):
        items = ["a", 'q"uote\\', "x\ty"]
        p = run(["-j1", "--results", self.path("ours.json")] + SHOW + [":::"] + items)
        self.assertOk(p)
        gnu(["-j1", "-k", "--results", self.path("theirs.json"), "-q"] + SHOW + [":::"] + items)
        ours = self.read("ours.json").decode().splitlines()
        theirs = self.read("theirs.json").decode().splitlines()
        self.assertEqual(len(ours), len(theirs))
        times = re.compile(r'"Starttime": [0-9.]+, "JobRuntime": [0-9.]+')
        for o, t in zip(ours, theirs):
            oj, tj = json.loads(o), json.loads(t)
            self.assertEqual(shlex.split(oj["Command"]), shlex.split(tj["Command"]))
            command = re.compile(r'"Command": "(\\.|[^"\\])*"')
            self.assertEqual(times.sub("", command.sub("", o)), times.sub("", command.sub("", t)))

    def test_resume_writes_the_files_of_replayed_items_too(self):
        db = self.path("run.db")
        run(["--checkpoint", db, "--results", self.path("first"), "echo", ":::", "a"])
        p = run(["--checkpoint", db, "--resume", "--results", self.path("second"), "echo", ":::",
                 "a", "b"])
        self.assertOk(p)
        files, _ = tree(self.path("second"))
        self.assertEqual(files["1/a/stdout"], b"a\n")
        self.assertEqual(files["1/b/stdout"], b"b\n")

    def test_an_unwritable_results_file_is_an_error(self):
        p = run(["--results", self.path("no/such/dir/out.csv"), "echo", ":::", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"no/such/dir/out.csv", p.stderr)


@needs_gnu
class OutputModes(TempDirTest):
    def test_files_prints_the_names_of_files_holding_stdout(self):
        tmp = os.path.join(self.dir, "tmp")
        os.mkdir(tmp)
        p = run(["--tmpdir", tmp, "--files"] + SHOW + [":::", "a", "b"])
        self.assertOk(p)
        names = lines(p.stdout)
        self.assertEqual(len(names), 2)
        for name, item in zip(names, ["a", "b"]):
            self.assertTrue(name.startswith(tmp + "/par") and name.endswith(".par"), name)
            with open(name, "rb") as f:
                self.assertEqual(f.read(), f"out {item}\n".encode())
        # stderr is not lost (GNU parallel drops it).
        self.assertEqual(sorted(lines(p.stderr)), ["err a", "err b"])
        g = gnu(["-k", "--tmpdir", tmp, "--files", "-q"] + SHOW + [":::", "a", "b"])
        for name in lines(g.stdout):
            self.assertTrue(os.path.basename(name).startswith("par") and name.endswith(".par"))

    def test_tagstring_with_replacement_strings(self):
        args = ["--tagstring", "<{}:{#}:{%}>", "-j1"] + SHOW + [":::", "a", "b"]
        p = run(args)
        g = gnu(["-k", "-q"] + args)
        self.assertEqual(p.stdout, g.stdout)
        self.assertEqual(p.stderr, g.stderr)

    def test_ungroup_passes_output_straight_through(self):
        p = run(["-u", "-j2", "sh", "-c", "printf a; sleep 0.3; echo $1", "sh", ":::", "1", "2"])
        self.assertOk(p)
        self.assertEqual(sorted(p.stdout.decode()), sorted("a1\na2\n"))
        p = run(["-u", "--ungroup", "sh", "-c", "echo err >&2", ":::", "x"])
        self.assertEqual(p.stderr, b"err\n")

    def test_ungroup_with_a_checkpoint_records_no_output(self):
        db = self.path("run.db")
        p = run(["-u", "--checkpoint", db, "echo", ":::", "a"])
        self.assertEqual(p.stdout, b"a\n")
        p = run(["-u", "--checkpoint", db, "--resume", "echo", ":::", "a", "b"])
        self.assertEqual(p.stdout, b"b\n")

    def test_verbose_prints_each_command_then_its_output(self):
        args = ["-j1", "-v", "echo", ":::", "a", "b c"]
        p = run(args)
        self.assertEqual(p.stdout, gnu(["-k"] + args).stdout)
        self.assertEqual(lines(p.stdout), ["echo a", "a", "echo 'b c'", "b c"])

    def test_shuf_runs_every_item_once_in_some_order(self):
        items = [str(i) for i in range(1, 41)]
        p = run(["--shuf", "-j1", "sh", "-c", 'echo "$PARALLEL_SEQ $0"', "{}", ":::"] + items)
        self.assertOk(p)
        rows = [line.split() for line in lines(p.stdout)]
        self.assertEqual([r[0] for r in rows], items)  # {#} follows the order they ran in
        self.assertEqual(sorted(r[1] for r in rows), sorted(items))
        self.assertNotEqual([r[1] for r in rows], items)  # 1 in 40! to fail by chance
        p = run(["--shuf", "echo"], input="".join(i + "\n" for i in items))
        self.assertEqual(sorted(lines(p.stdout)), sorted(items))

    def test_nice(self):
        cmd = ["sh", "-c", "ps -o ni= -p $$", "{}"]
        p = run(["--nice", "7"] + cmd + [":::", "a"])
        self.assertEqual(p.stdout.split(), gnu(["--nice", "7", "-q"] + cmd + [":::", "a"]).stdout.split())
        self.assertEqual(p.stdout.split(), [str(min(19, os.nice(0) + 7)).encode()])

    def test_wd(self):
        sub = os.path.join(self.dir, "sub")
        os.mkdir(sub)
        os.mkdir(os.path.join(self.dir, "a"))
        p = run(["--wd", sub, "pwd", ":::", "x"])
        self.assertEqual(p.stdout, gnu(["--wd", sub, "pwd", ":::", "x"]).stdout)
        # Replacement strings, relative to parmap's directory.
        p = run(["--workdir", "{}", "pwd", ":::", "a"], cwd=self.dir)
        self.assertEqual(lines(p.stdout), [os.path.join(self.dir, "a")])
        p = run(["--keep-going", "--wd", "{}", "pwd", ":::", "missing"], cwd=self.dir)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"--wd missing: not a directory", p.stderr)

    def test_wd_dots_gives_each_item_a_fresh_directory_removed_after(self):
        tmp = os.path.join(self.dir, "tmp")
        os.mkdir(tmp)
        p = run(["--tmpdir", tmp, "--wd", "...", "-j2", "sh", "-c",
                 "pwd; ls -A | wc -l; touch made", "sh", ":::", "1", "2"])
        self.assertOk(p)
        out = lines(p.stdout)
        dirs = out[0::2]
        self.assertEqual(len(set(dirs)), 2)
        for d in dirs:
            self.assertTrue(d.startswith(tmp + "/"), d)
        self.assertEqual(out[1::2], ["0", "0"])
        self.assertEqual(os.listdir(tmp), [])  # removed, with what the items left there

    def test_tmpdir_is_the_jobs_tmpdir(self):
        tmp = os.path.join(self.dir, "tmp")
        os.mkdir(tmp)
        p = run(["--tmpdir", tmp, "echo $TMPDIR", ":::", "a"])
        self.assertEqual(p.stdout, gnu(["--tmpdir", tmp, "echo $TMPDIR", ":::", "a"]).stdout)
        self.assertEqual(p.stdout, tmp.encode() + b" a\n")


class ProgressOnAPipe(TempDirTest):
    def test_bar_shows_a_total_and_a_percentage_on_piped_input(self):
        p = run(["--bar", "--progress-always", "-j2", "true"],
                input="".join(f"{i}\n" for i in range(200)))
        self.assertOk(p)
        frames = p.stderr.decode().replace("\r", "\n")
        self.assertIn("200/200", frames)
        self.assertIn("100%", frames)

    def test_eta_on_piped_input(self):
        p = run(["--eta", "--progress-always", "true"], input="a\nb\nc\n")
        self.assertIn("3/3", p.stderr.decode())


class UsageMessages(TempDirTest):
    def test_near_miss_and_value_errors(self):
        p = run(["--timout", "3", "true", ":::", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertEqual(p.stderr, b"parmap: unknown option --timout (did you mean --timeout?)\n")
        p = run(["--retries", "-1", "true", ":::", "a"])
        self.assertEqual(p.stderr, b"parmap: --retries must not be negative (got -1)\n")
        p = run(["-j", "4", "-j", "8", "true", ":::", "a"])
        self.assertOk(p)

    def test_many_jobs_report_what_was_asked(self):
        p = subprocess.run(["bash", "-c", f"ulimit -n 256; {PARMAP} -j 99999999999 true ::: a"],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, msg=p.stderr)
        self.assertRegex(p.stderr, rb"running \d+ jobs at a time instead of 99999999999: ")


if __name__ == "__main__":
    unittest.main()
