"""GNU parallel's input and argument options on parmap: several input sources, {1} {-1},
--link, --colsep/--trim/--header, -d on ::: words, -n/-N/-X/-m/-L/-s/-I/--xargs, compared with
real GNU parallel on the same input; the checkpoint keys of several arguments (--resume after
kill -9, --json's args, --tag); GNU template syntax parmap lacks is refused."""

import json
import os
import signal
import sqlite3

from support import TempDirTest, gnu, lines, needs_gnu, run, start, wait_for


class AgainstGnu(TempDirTest):
    """Each case runs on both with -k; the outputs must be byte for byte the same."""

    def setUp(self):
        super().setUp()
        self.write("f1", "1\n2\n")
        self.write("f2", "x\ny\nz\n")
        self.write("csv", "h1,h2\n1,2\n3,4\n")
        self.write("tsv", "a\tb\n1\t2\n")
        self.write("more", "h3\n5\n")

    def same(self, *args, input=None):
        args = ["-k"] + list(args)
        theirs = gnu(args, input=input, cwd=self.dir)
        ours = run(args, input=input, cwd=self.dir)
        self.assertEqual(theirs.returncode, 0, msg=(args, theirs.stderr))
        self.assertOk(ours)
        self.assertEqual(ours.stdout, theirs.stdout, msg=args)
        self.assertNotEqual(ours.stdout, b"", msg=args)

    @needs_gnu
    def test_several_sources_combine_in_gnu_order(self):
        self.same("echo", ":::", "a", "b", ":::", "1", "2")
        self.same("echo", "{2}", "{1}", ":::", "a", "b", ":::", "1", "2", "3")
        self.same("echo", "::::", "f1", "f2")
        self.same("-a", "f1", "-a", "f2", "echo")
        self.same("-a", "f1", "echo", ":::", "a", "b")
        self.same("echo", ":::", "a", "b", "::::", "f1")
        self.same("echo", "::::", "-", ":::", "a", "b", input="s\nt\n")  # stdin, read once

    @needs_gnu
    def test_linked_sources(self):
        self.same("echo", ":::", "a", "b", ":::+", "1", "2", "3")
        self.same("echo", "::::", "f1", "::::+", "f2")
        self.same("echo", ":::", "a", "b", ":::+", "1", "2", ":::", "x", "y")
        self.same("--link", "echo", ":::", "a", "b", ":::", "1", "2", "3")  # the shorter wraps
        self.same("--xapply", "echo", ":::", "a", "b", "c", "d", ":::", "1", "2", "3")
        self.same("--link", "echo", "::::", "f1", "::::", "-", input="p\nq\nr\n")

    @needs_gnu
    def test_positional_replacement_strings(self):
        self.same("echo", "{1/}", "{1.}", "{1//}", "{1/.}", "{-1}", "{2}", ":::", "/x/y.z",
                  ":::", "q")
        self.same("echo", "{}", "{.}", ":::", "a.x", "b.y", ":::", "1.z")
        self.same("echo", "[{3}]", "{3}", "x", ":::", "a", ":::", "b")  # past the last: empty
        self.same("echo", "{#}", ":::", "a", "b", ":::", "1", "2")

    @needs_gnu
    def test_columns(self):
        self.same("--colsep", ",", "echo", "{2}", "{1}", ":::", "a,b", "c,d")
        self.same("--colsep", r"\s+", "echo", "{2}-{1}", ":::", "a  b", "c d")
        self.same("--colsep", "[,;]", "echo", "{3}-{-1}", ":::", "a,b;c")
        self.same("--colsep", ",", "echo", "[{1}][{2}]", ":::", " a , b ")
        self.same("--colsep", ",", "--trim", "n", "echo", "[{1}][{2}]", ":::", " a , b ")
        self.same("--trim", "lr", "echo", "[{}]", ":::", " a ")
        self.same("--trim", "r", "echo", "[{}]", ":::", " a ")
        self.same("-d", ",", "echo", ":::", "a,b", "c")

    @needs_gnu
    def test_header_names_columns(self):
        self.same("--header", ":", "--colsep", ",", "echo", "{h2}", "{h1}", "::::", "csv")
        self.same("--header", ":", "--colsep", ",", "echo", "{h2}", "{h3}", "::::", "csv", "more")
        self.same("--header", ":", "echo", "{b}", "{}", "::::", "tsv")  # TAB without --colsep
        self.same("--header", ":", "echo", "{a}", "{b}", ":::", "a", "1", "2", ":::", "b", "3")
        self.same("--header", ".*", "--colsep", ",", "echo", "{h2}", "::::", "csv")
        self.same("--header", ":", "--colsep", ",", "echo", "{2}", "{1}", "::::", "csv")

    @needs_gnu
    def test_several_items_per_command(self):
        items = [":::"] + list("abcde")
        self.same("-n", "2", "echo", *items)
        self.same("-n", "2", "echo", "{1}-{2}", *items)
        self.same("-N", "2", "echo", "{1}-{2}", *items)
        self.same("-N", "3", "echo", "{1}-{3}", *items)
        self.same("-n", "0", "echo", "x", *items)
        self.same("-N", "0", "echo", "x", *items)
        self.same("-X", "echo", "pre{}post", *items)
        self.same("-m", "echo", "pre{}post", *items)
        self.same("-j3", "-X", "echo", "x{}y", ":::", *"1234567")
        self.same("-j2", "-m", "echo", ":::", *"1234567")
        self.same("--xargs", "echo", *items)
        self.same("-L", "2", "echo", *items)
        self.same("-L", "1", "echo", ":::", "a ", "b", "c")  # a trailing blank continues
        self.same("-s", "10", "echo", ":::", "aaa", "bbb", "ccc")
        self.same("-m", "-s", "20", "echo", ":::", *[f"item{i}" for i in range(20)])
        self.same("-I", "XX", "echo", "XX-{}", ":::", "a", "b")
        self.same("-n", "2", "echo", ":::", "a", "b", ":::", "1", "2")
        self.same("-N", "2", "echo", "{1}+{2}+{3}+{4}", ":::", "a", "b", ":::", "1", "2")

    @needs_gnu
    def test_x_fills_the_command_line_with_a_handful_of_commands(self):
        names = "".join(f"./dir/some_file_name_{i}.tmp\n" for i in range(60000))
        ours = run(["-X", "sh", "-c", 'echo $#', "sh"], input=names)
        self.assertOk(ours)
        counts = [int(n) for n in lines(ours.stdout)]
        self.assertEqual(sum(counts), 60000)
        self.assertLess(len(counts), 40)  # a handful, not one per file
        theirs = gnu(["-X", "echo"], input=names)
        ours = run(["-X", "echo"], input=names)
        self.assertEqual(sorted(ours.stdout.split()), sorted(theirs.stdout.split()))

    def test_rm_with_x_removes_every_file(self):
        os.mkdir(self.path("d"))
        for i in range(500):
            self.write(f"d/f{i}.tmp", "")
        names = "".join(f"d/f{i}.tmp\n" for i in range(500))
        p = run(["-X", "rm"], input=names, cwd=self.dir)
        self.assertOk(p)
        self.assertEqual(os.listdir(self.path("d")), [])


class Results(TempDirTest):
    def test_json_args_and_tag(self):
        p = run(["--json", "echo", ":::", "a b", "c", ":::", "1"])
        self.assertOk(p)
        records = [json.loads(l) for l in lines(p.stdout)]
        self.assertEqual([r["args"] for r in records], [["a b", "1"], ["c", "1"]])
        self.assertEqual([r["item"] for r in records], ["a b 1", "c 1"])
        p = run(["--tag", "echo", ":::", "a", "b", ":::", "1"])
        self.assertEqual(p.stdout, b"a\t1\ta 1\nb\t1\tb 1\n")  # arguments TAB-separated
        p = run(["--json", "-n", "2", "echo", ":::", "a", "b", "c"])
        records = [json.loads(l) for l in lines(p.stdout)]
        self.assertEqual([r["args"] for r in records], [["a", "b"], ["c"]])

    def test_template_syntax_parmap_lacks_is_an_error(self):
        for word in ("{= s/a/b/ =}", "{+/}", "{##}", "{:-x}", "{choose_k}"):
            p = run(["echo", word, ":::", "a"])
            self.assertEqual(p.returncode, 255, msg=word)
            self.assertEqual(p.stdout, b"", msg=word)
            self.assertIn(b"parmap:", p.stderr)
        p = run(["echo", "{+/}", ":::", "a"])
        self.assertIn(b"--plus", p.stderr)

    def test_bad_values_name_the_option(self):
        for args, words in ((["--colsep", "("], b"--colsep"), (["-n", "x"], b"-n"),
                            (["--trim", "q"], b"--trim"), (["-X", "-m"], b"contradict"),
                            (["-s", "0"], b"-s")):
            p = run(args + ["echo", ":::", "a"])
            self.assertEqual(p.returncode, 255, msg=args)
            self.assertIn(words, p.stderr, msg=args)
            self.assertEqual(len(lines(p.stderr)), 1, msg=args)


class ResumeAfterKill(TempDirTest):
    """kill -9 in the middle, then --resume: every command's output once, the done ones not
    run again (bar those the kill caught in flight)."""

    def kill_then_resume(self, args, expected):
        db = self.path("ck.db")
        log = self.path("ran")
        cmd = ["--checkpoint", db, "--checkpoint-every", "1", "-j2"] + args[0] + [
            "sh", "-c", 'echo "$*" >> "$0"; echo "$*"; sleep 0.1', log] + args[1]
        proc = start(cmd)

        def committed():
            try:
                con = sqlite3.connect(db)
                try:
                    return con.execute("SELECT count(*) FROM results").fetchone()[0] >= 3
                finally:
                    con.close()
            except sqlite3.Error:
                return False

        self.assertTrue(wait_for(committed, timeout=60))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        before = set(lines(self.read("ran")))
        self.assertLess(len(before), len(expected))  # it was stopped midway
        p = run(cmd[:2] + ["--resume"] + cmd[2:])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), expected)
        ran = lines(self.read("ran"))
        self.assertEqual(set(ran), set(expected))
        self.assertLess(len(ran) - len(expected), 3)  # only what was in flight ran twice

    def test_several_sources(self):
        combos = [f"{a} {n}" for a in "abcdef" for n in "123"]
        self.kill_then_resume([[], ["{1}", "{2}", ":::"] + list("abcdef") + [":::", "1", "2", "3"]],
                              combos)

    def test_x_groups(self):
        words = [f"w{i}" for i in range(40)]
        self.kill_then_resume([["-n", "4", "-X"], ["{}", ":::"] + words],
                              [" ".join(words[i:i + 4]) for i in range(0, 40, 4)])
