"""Items: stdin, -a, :::, ::::, -0, -d; lazy reading; replacement strings; the environment."""

import os
import subprocess
import time

from support import PARMAP, TempDirTest, lines, run


class InputSources(TempDirTest):
    def test_stdin_one_item_per_line(self):
        p = run(["echo", "x"], input="a\nb c\n\nd")
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["x a", "x b c", "x ", "x d"])

    def test_triple_colon(self):
        p = run(["echo", "{}", "!", ":::", "one", "two words", "-x"])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["one !", "two words !", "-x !"])

    def test_quad_colon_files_are_sources(self):
        # As GNU parallel: each file is an input source, combined with the others.
        a = self.write("a.txt", "1\n2\n")
        b = self.write("b.txt", "3\n")
        p = run(["echo", "::::", a, b])
        self.assertEqual(lines(p.stdout), ["1 3", "2 3"])

    def test_arg_file_repeatable_and_dash_is_stdin(self):
        a = self.write("a.txt", "1\n")
        b = self.write("b.txt", "3\n")
        p = run(["-a", a, "-a", "-", "-a", b, "echo"], input="2\n")
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["1 2 3"])

    def test_null_delimited(self):
        p = run(["-0", "printf", "[%s]\\n"], input=b"a\nb\0c d\0")
        self.assertOk(p)
        self.assertEqual(p.stdout, b"[a\nb]\n[c d]\n")

    def test_other_delimiter(self):
        p = run(["-d", ",", "echo"], input="a,b,c")
        self.assertEqual(lines(p.stdout), ["a", "b", "c"])
        p = run(["-d", "\\t", "echo"], input="a\tb\t")
        self.assertEqual(lines(p.stdout), ["a", "b"])

    def test_bad_delimiter_is_a_usage_error(self):
        p = run(["-d", "ab", "echo", ":::", "x"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"--delimiter", p.stderr)

    def test_empty_input_runs_nothing(self):
        p = run(["echo", "x"], input="")
        self.assertOk(p)
        self.assertEqual(p.stdout, b"")

    def test_results_flow_before_input_ends(self):
        # The first result must come out while parmap's stdin is still open.
        proc = subprocess.Popen([PARMAP, "-j2", "echo"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            proc.stdin.write(b"first\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            self.assertEqual(line, b"first\n")
        finally:
            proc.communicate(timeout=10)  # closes stdin: the end of the input
        self.assertEqual(proc.returncode, 0)

    def test_endless_input_is_read_lazily(self):
        # `yes | parmap ... | head` ends promptly: input is read only as dispatch needs it.
        t0 = time.monotonic()
        p = subprocess.run(f"yes | {PARMAP} -j2 echo | head -n 5", shell=True,
                           capture_output=True, timeout=60)
        self.assertEqual(lines(p.stdout), ["y"] * 5)
        self.assertLess(time.monotonic() - t0, 10)


class ReplacementStrings(TempDirTest):
    def test_all_replacement_strings(self):
        p = run(["-j1", "echo", "{}|{.}|{/}|{//}|{/.}|{#}|{%}", ":::",
                 "dir.d/sub/file.tar.gz", "plain", "/abs", ".bashrc"])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), [
            "dir.d/sub/file.tar.gz|dir.d/sub/file.tar|file.tar.gz|dir.d/sub|file.tar|1|1",
            "plain|plain|plain|.|plain|2|1",
            "/abs|/abs|abs|/|abs|3|1",
            ".bashrc||.bashrc|.||4|1",
        ])

    def test_item_appended_without_replacement(self):
        p = run(["printf", "<%s>", ":::", "a b"])
        self.assertEqual(p.stdout, b"<a b>")

    def test_slot_numbers_stay_within_jobs(self):
        p = run(["-j3", "sh", "-c", "sleep 0.05; echo {%}", ":::"] + [str(i) for i in range(12)])
        self.assertOk(p)
        self.assertEqual(set(lines(p.stdout)), {"1", "2", "3"})

    def test_environment_has_seq_and_slot(self):
        p = run(["-j2", "sh", "-c", 'echo "$PARMAP_SEQ $PARMAP_SLOT $1"', "sh", ":::", "a", "b", "c"])
        self.assertOk(p)
        rows = [line.split() for line in lines(p.stdout)]
        self.assertEqual([r[0] for r in rows], ["1", "2", "3"])
        self.assertEqual([r[2] for r in rows], ["a", "b", "c"])
        self.assertTrue(all(r[1] in ("1", "2") for r in rows))


class ShellOrExec(TempDirTest):
    def test_several_words_are_exec_directly(self):
        p = run(["echo", "$HOME", "*", ":::", "x"], env={"HOME": "/home/h"})
        self.assertEqual(lines(p.stdout), ["$HOME * x"])

    def test_one_word_with_shell_syntax_uses_the_shell(self):
        p = run(["echo $HOME {} | tr a-z A-Z"], env={"HOME": "/home/h"}, input="x\n")
        self.assertEqual(lines(p.stdout), ["/HOME/H X"])

    def test_force_shell_and_no_shell(self):
        p = run(["--shell", "echo", "$HOME", ":::", "x"], env={"HOME": "/home/h"})
        self.assertEqual(lines(p.stdout), ["/home/h x"])
        p = run(["--no-shell", "echo $HOME", ":::", "x"])
        self.assertEqual(p.returncode, 127)

    def test_stdin_of_jobs_is_dev_null_when_items_come_from_stdin(self):
        p = run(["sh", "-c", "cat; echo done {}"], input="a\nb\n")
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["done a", "done b"])

    def test_shell_builtins_run_through_the_shell(self):
        p = run(["exit", ":::", "0", "3"])
        self.assertEqual(p.returncode, 3, p.stderr)
        p = run(["--keep-going", "cd", ":::", self.dir, "/nonexistent"])
        self.assertEqual(p.returncode, 1, p.stderr)
        canary = self.path("pwned")
        p = run(["export", "{}=1", ":::", f"X;touch {canary}"])
        self.assertNotEqual(p.returncode, 0)
        self.assertFalse(os.path.exists(canary))

    def test_exported_bash_functions(self):
        canary = self.path("pwned")
        script = (f'f() {{ printf "in %s\\n" "$1"; }}; export -f f; '
                  f'"$PARMAP" f ::: 1 "$(printf \'$(touch %s)\' {canary})"')
        p = subprocess.run(["bash", "-c", script], capture_output=True, timeout=60,
                           env=dict(os.environ, PARMAP=PARMAP), stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(lines(p.stdout), ["in 1", f"in $(touch {canary})"])
        self.assertFalse(os.path.exists(canary))

    def test_the_template_shell_can_be_chosen(self):
        arrays = "a=({} b); [[ ${a[1]} == b ]] && echo ${#a[@]}"
        p = run([arrays, ":::", "x"])
        self.assertNotEqual(p.returncode, 0)  # dash has no arrays
        p = run([arrays, ":::", "x"], env={"PARALLEL_SHELL": "bash"})
        self.assertEqual(lines(p.stdout), ["2"], p.stderr)
        p = run(["--shell-path", "/usr/bin/bash", arrays, ":::", "x"],
                env={"PARALLEL_SHELL": "/nonexistent"})
        self.assertEqual(lines(p.stdout), ["2"], p.stderr)

    def test_arithmetic_takes_numbers_only(self):
        canary = self.path("pwned")
        p = run(["--keep-going", "--shell-path", "bash", "echo $(( {} + 1 ))", ":::", "41",
                 f"a[$(touch {canary})]"])
        self.assertEqual(p.returncode, 1)
        self.assertEqual(lines(p.stdout), ["42"])
        self.assertIn(b"is not a number", p.stderr)
        self.assertFalse(os.path.exists(canary))

    def test_a_pasted_shell_script_gets_a_warning(self):
        p = run(["sh", "-c", "echo {}", ":::", "x"])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["x"])
        self.assertIn(b"warning: the item is pasted into the sh -c script", p.stderr)
        self.assertIn(b"parmap 'echo {}'", p.stderr)
        p = run(["sh", "-c", 'echo "$1"', "sh", "{}", ":::", "x"])
        self.assertEqual(p.stderr, b"")

    def test_gnu_only_syntax_is_an_error(self):
        for template in (["echo", "{= s/a/b/ =}"], ["echo", "{+/}"], ["echo", "{##}"]):
            p = run(template + [":::", "a"])
            self.assertEqual(p.returncode, 255, template)
            self.assertEqual(p.stdout, b"")
            self.assertIn(b"GNU parallel", p.stderr)

    def test_jobs_inherit_stdin_with_triple_colon(self):
        with open(self.write("in.txt", "from stdin\n"), "rb") as f:
            p = run(["-j1", "cat", ":::", "-"], stdin=f)
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["from stdin"])


class Jobs(TempDirTest):
    def concurrency(self, jobs_arg, n=8):
        # Each job records start and end times; the most overlapping is the concurrency seen.
        script = 'date +%s.%N > "$0/$1.start"; sleep 0.3; date +%s.%N > "$0/$1.end"'
        p = run(["-j", jobs_arg, "sh", "-c", script, self.dir, ":::"] + [str(i) for i in range(n)])
        self.assertOk(p)
        spans = []
        for i in range(n):
            spans.append((float(self.read(f"{i}.start")), float(self.read(f"{i}.end"))))
        best = 0
        for s, _ in spans:
            best = max(best, sum(1 for a, b in spans if a <= s < b))
        return best

    def test_jobs_limit_concurrency(self):
        self.assertEqual(self.concurrency("3"), 3)
        self.assertEqual(self.concurrency("1", n=3), 1)

    def test_jobs_percent_and_relative(self):
        cpus = os.cpu_count()
        self.assertEqual(self.concurrency("100%"), min(8, cpus))
        self.assertEqual(self.concurrency("+1"), min(8, cpus + 1))

    def test_bad_jobs_is_a_usage_error(self):
        for bad in ("x", "1.5x", "-j"):
            p = run(["-j", bad, "echo", ":::", "a"])
            self.assertEqual(p.returncode, 255, msg=bad)
