"""--pipe and --pipepart: blocks of input on the jobs' stdin, compared with GNU parallel's output
on the same input for every option (record boundaries, -N, -L, --header, --round-robin, --cat,
--fifo); retries, timeouts, kill -9 and --resume per block; jobs that do not read their stdin;
a closed stdout; bounded memory; bad input."""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import unittest

from support import PARMAP, TempDirTest, lines, run, start, wait_for

GNU = shutil.which("parallel")


def numbered(first, last):
    return "".join(f"{i}\n" for i in range(first, last + 1)).encode()


def fasta(records):
    """FASTA-like records: a '>' header line, then one to three sequence lines."""
    out = []
    for i in range(records):
        out.append(f">seq{i}\n")
        out.extend("ACGT" * (i % 7 + 1) + "\n" for _ in range(i % 3 + 1))
    return "".join(out).encode()


def gnu(args, input):
    """GNU parallel with the same arguments, in input order (-k, parmap's default)."""
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run([GNU, "--will-cite", "-k"] + list(args), capture_output=True,
                          timeout=300, **stdin)


def blocks(output, end="=\n"):
    """A job's output per block, for commands that end theirs with `echo =`."""
    return output.decode(errors="surrogateescape").split(end)[:-1]


@unittest.skipUnless(GNU, "GNU parallel is not installed")
class SameAsGnu(TempDirTest):
    """The same blocks as GNU parallel: each job prints its block, then '='. Commands are one
    word of shell, which both run through sh."""

    SHOW = ["cat; echo ="]

    def assertSame(self, args, input, command=None):
        command = command or self.SHOW
        mine = run(list(args) + command, input=input)
        self.assertOk(mine)
        theirs = gnu(list(args) + command, input)
        self.assertEqual(theirs.returncode, 0, theirs.stderr)
        self.assertEqual(mine.stdout, theirs.stdout)
        return mine

    def test_blocks_of_whole_lines(self):
        data = numbered(1, 200000)
        self.assertSame(["--pipe", "--block", "100k"], data, ["wc", "-l"])
        self.assertSame(["--pipe"], data + data, ["wc", "-l"])  # the default 1M
        self.assertSame(["--pipe", "--block", "1Ki"], data[:20000])

    def test_records_longer_than_the_block(self):
        data = b"".join(b"x" * (i * 7 % 50) + b"\n" for i in range(300))
        mine = self.assertSame(["--pipe", "--block", "10"], data)
        self.assertIn(b"longer than the block size", mine.stderr)

    def test_no_trailing_newline_and_empty_input(self):
        self.assertSame(["--pipe", "--block", "5"], b"a\nbb\nccc\ndddd")
        self.assertEqual(self.assertSame(["--pipe"], b"").stdout, b"")  # no job at all

    def test_recstart_and_recend(self):
        data = fasta(200)
        self.assertSame(["--pipe", "--block", "200", "--recstart", ">"], data)
        self.assertSame(["--pipe", "--block", "200", "--recend", "\\n", "--recstart", ">"], data)
        self.assertSame(["--pipe", "--block", "300", "--recend", "\\n\\n"],
                        b"".join(f"para {i}\nline\n\n".encode() for i in range(100)))
        self.assertSame(["--pipe", "--block", "50", "--recend", "\\0"],
                        b"".join(f"rec {i}\0".encode() for i in range(100)),
                        ["tr '\\0' '|'; echo ="])
        self.assertSame(["--pipe", "--block", "7", "--recend", ""], b"0123456789" * 5)

    def test_regexp(self):
        data = fasta(200)
        self.assertSame(["--pipe", "--block", "200", "--regexp", "--recstart", "^>"], data)
        self.assertSame(["--pipe", "--block", "100", "--regexp", "--recend", "[0-9]\\n"],
                        b"".join(f"a{i}\nb\n".encode() for i in range(100)))

    def test_records_per_block(self):
        data = numbered(1, 1000)
        self.assertSame(["--pipe", "-N", "7"], data)
        self.assertSame(["--pipe", "-n", "7"], data)  # GNU parallel reads -n as -N with --pipe
        self.assertSame(["--pipe", "-N", "3", "--block", "10"], data[:500])
        self.assertSame(["--pipe", "-L", "4", "--block", "50"], data)
        self.assertSame(["--pipe", "-N", "2", "-L", "3"], data)
        self.assertSame(["--pipe", "-N", "3", "--recstart", ">"], fasta(50))

    def test_header_before_every_block(self):
        data = b"name\tsize\n" + numbered(1, 300)
        self.assertSame(["--pipe", "--header", ":", "--block", "100"], data)
        self.assertSame(["--pipe", "--header", "2", "-N", "40"], data)
        self.assertSame(["--pipe", "--header", ":"], b"only a header\n")

    def test_pipepart(self):
        path = self.write("big", numbered(1, 300000))
        for extra in ([], ["--block", "100k"], ["--block", "-3"], ["--recend", "0\\n"]):
            with self.subTest(extra=extra):
                args = ["--pipepart", "-a", path, "-j2"] + extra
                self.assertSame(args, None, ["wc", "-l"])
        headed = self.write("headed", b"col\n" + numbered(1, 5000))
        self.assertSame(["--pipepart", "-a", headed, "--header", ":", "--block", "2k"], None)

    def test_cat_and_fifo(self):
        data = numbered(1, 3000)
        masked = ["wc -l < {}; case {} in /*) echo a path;; esac; echo ="]
        for mode in ("--cat", "--fifo"):
            with self.subTest(mode=mode):
                self.assertSame([mode, "--block", "2k"], data, masked)
                self.assertSame(["--pipepart", "-a", self.write("f", data), mode, "--block", "3k"],
                                None, masked)
        # Without {} the path is appended, as GNU parallel does; nothing is left behind.
        tmp = self.path("tmp")
        os.mkdir(tmp)
        mine = run(["--pipe", "--cat", "wc", "-l"], input=data, env={"TMPDIR": tmp})
        self.assertOk(mine)
        self.assertRegex(mine.stdout.decode(), r"^3000 /\S+/1\n$")
        self.assertEqual(os.listdir(tmp), [], "the block files outlived the run")


@unittest.skipUnless(GNU, "GNU parallel is not installed")
class RoundRobin(TempDirTest):
    def test_every_line_once_at_most_one_job_per_slot(self):
        data = numbered(1, 50000)
        p = run(["--pipe", "--round-robin", "-j3", "--block", "1k", "sh", "-c", "cat; echo ="],
                input=data)
        self.assertOk(p)
        jobs = blocks(p.stdout)
        self.assertLessEqual(len(jobs), 3)
        self.assertEqual(sorted("".join(jobs).splitlines(), key=int),
                         [str(i) for i in range(1, 50001)])
        # GNU parallel: the same multiset of lines.
        theirs = gnu(["--pipe", "--round-robin", "-j3", "--block", "1k", "cat"], data)
        self.assertEqual(sorted(lines(theirs.stdout)), sorted("".join(jobs).splitlines()))

    def test_a_job_per_block_while_slots_are_free(self):
        # Which job gets which later block depends on timing, in GNU parallel too; how many
        # jobs start does not: one per block while a slot is free, so one for a small input.
        args = ["--pipe", "--round-robin", "-j4", "--block", "10", "wc", "-l"]
        mine = run(args, input=numbered(1, 3))
        self.assertEqual(lines(mine.stdout), lines(gnu(args, numbered(1, 3)).stdout))
        self.assertEqual(lines(mine.stdout), ["3"])
        mine = run(args, input=numbered(1, 20))
        self.assertEqual(len(lines(mine.stdout)), 4)
        self.assertEqual(sum(int(n) for n in lines(mine.stdout)), 20)

    def test_the_header_once_per_job(self):
        p = run(["--pipe", "--round-robin", "-j2", "--header", ":", "--block", "4",
                 "cat; echo ="], input=b"h\n" + numbered(1, 100))
        self.assertOk(p)
        jobs = blocks(p.stdout)
        self.assertIn(len(jobs), (1, 2))
        for job in jobs:
            self.assertTrue(job.startswith("h\n"))
            self.assertEqual(job.count("h"), 1)
        got = "".join(job[2:] for job in jobs).splitlines()
        self.assertEqual(sorted(got, key=int), [str(i) for i in range(1, 101)])

    def test_refused_where_blocks_are_not_its_own(self):
        for extra in (["--retries", "1"], ["--checkpoint", self.path("x.db")], ["--cat"]):
            with self.subTest(extra=extra):
                p = run(["--pipe", "--round-robin"] + extra + ["cat"], input=b"a\n")
                self.assertEqual(p.returncode, 255)
                self.assertIn(b"--round-robin", p.stderr)


class Jobs(TempDirTest):
    """What each block's job does, and parmap's guarantees around it."""

    def test_a_job_that_does_not_read_its_stdin(self):
        # GNU parallel reports such a job as killed by SIGPIPE when its block did not fit in the
        # pipe; here its own exit status counts.
        t0 = time.monotonic()
        p = run(["--pipe", "--block", "100k", "-j2", "true"], input=numbered(1, 400000))
        self.assertOk(p)
        self.assertLess(time.monotonic() - t0, 60)
        p = run(["--pipe", "--block", "100k", "head", "-1"], input=numbered(1, 100000))
        self.assertOk(p)
        self.assertEqual(lines(p.stdout)[:3], ["1", "18518", "35184"])

    def test_with_sigpipe_ignored_by_the_caller(self):
        # nohup-style: SIGPIPE ignored in parmap's environment, inherited by the jobs.
        p = subprocess.run(["sh", "-c", 'trap "" PIPE; exec "$0" --pipe --block 10k true', PARMAP],
                           input=numbered(1, 100000), capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_bytes_pass_unchanged(self):
        data = bytes(range(256)) * 2000 + b"\n\xff\xfe\x00 $(touch x) '\"\n"
        p = run(["--pipe", "--block", "10k", "cat"], input=data, cwd=self.dir)
        self.assertOk(p)
        self.assertEqual(p.stdout, data)
        self.assertFalse(os.path.exists(self.path("x")))

    def test_a_failed_block_is_retried_with_the_same_bytes(self):
        marks = self.path("marks")
        os.mkdir(marks)
        script = ('sum=$(cksum); f="$0/$PARMAP_SEQ"; echo "$sum" >> "$f";'
                  '[ "$(wc -l < "$f")" -gt 1 ] || exit 1; echo "$sum"')
        p = run(["--pipe", "--block", "10k", "--retries", "1", "sh", "-c", script, marks],
                input=numbered(1, 20000))
        self.assertOk(p)
        for name in os.listdir(marks):
            tries = lines(self.read(os.path.join("marks", name)))
            self.assertEqual(len(tries), 2)
            self.assertEqual(tries[0], tries[1], "the retry got other bytes")
        self.assertEqual(len(lines(p.stdout)), len(os.listdir(marks)))

    def test_timeout_per_block(self):
        p = run(["--pipe", "-N", "1", "--keep-going", "--timeout", "1", "sh", "-c",
                 'read x; [ "$x" = slow ] && sleep 30; echo "$x"'], input=b"a\nslow\nb\n")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(lines(p.stdout), ["a", "b"])
        self.assertIn(b"timed out", p.stderr)

    def test_closed_stdout_stops_the_run(self):
        status = self.path("status")
        p = subprocess.run(
            f'yes 0123456789 | head -c 200000000 | "{PARMAP}" --pipe --block 100k cat | head -c 10;'
            f' echo "${{PIPESTATUS[2]}}" > "{status}"',
            shell=True, capture_output=True, executable="/bin/bash", timeout=120)
        self.assertEqual(p.stdout, b"0123456789")
        self.assertEqual(p.stderr, b"")
        self.assertEqual(lines(self.read("status")), ["141"])  # quietly, by SIGPIPE

    def peak_rss_kb(self, megabytes):
        """parmap's peak RSS cutting a stream of `megabytes` MB into 10 MB blocks for two jobs."""
        gen = subprocess.Popen(f'yes "some line of text, repeated" | head -c {megabytes}000000',
                               shell=True, stdout=subprocess.PIPE)
        # ASan keeps freed memory in quarantine (256 MB): that is not parmap's memory.
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") +
                   ":quarantine_size_mb=1")
        p = subprocess.Popen([PARMAP, "--pipe", "--block", "10M", "-j2", "wc", "-l"],
                             stdin=gen.stdout, stdout=subprocess.PIPE, env=env)
        gen.stdout.close()
        out = p.stdout.read()
        p.stdout.close()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        gen.wait()
        self.assertEqual(p.returncode, 0)
        self.assertEqual(sum(int(n) for n in lines(out)), megabytes * 1000000 // 28)
        return usage.ru_maxrss

    def test_memory_stays_bounded(self):
        # Blocks stream: 500 MB take no more memory than 50 MB. A Release build stays far below
        # the 64 MB the issue allows (see bench/README.md); sanitizers add their own share.
        small = self.peak_rss_kb(50)
        large = self.peak_rss_kb(500)
        self.assertLess(large, small + 16 * 1024, f"{small} KB for 50 MB, {large} KB for 500 MB")
        self.assertLess(large, 64 * 1024 * (3 if small > 40 * 1024 else 1))

    def test_json_and_joblog_per_block(self):
        p = run(["--pipe", "-N", "2", "--json", "wc", "-l"], input=numbered(1, 5))
        self.assertOk(p)
        self.assertEqual([l.count('"seq"') for l in lines(p.stdout)], [1, 1, 1])
        self.assertIn('"item":""', p.stdout.decode().replace(" ", ""))


class Checkpoint(TempDirTest):
    """kill -9 then --resume: blocks already done are replayed, not run again."""

    def rows(self, db):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute("SELECT item FROM results").fetchall()
        finally:
            con.close()

    def committed(self, db, n):
        try:
            return len(self.rows(db)) >= n
        except sqlite3.Error:
            return False

    def kill_then_resume(self, args, stdin_path=None):
        db = self.path("run.db")
        log = self.path("ran.log")
        command = ["sh", "-c", 'n=$(wc -l); echo "$n"; echo "$PARMAP_SEQ $n" >> "$0"; sleep 0.05',
                   log]
        full = ["--checkpoint", db, "--resume", "--checkpoint-every", "1", "-j2"] + args + command

        def launch():
            stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
            try:
                return start(full, stdin=stdin)
            finally:
                if stdin_path:
                    stdin.close()

        proc = launch()
        self.assertTrue(wait_for(lambda: self.committed(db, 5), timeout=60), "nothing committed")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        done_before = len(self.rows(db))
        ran_before = len(lines(self.read("ran.log")))
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            final = run(full, stdin=stdin, timeout=300)
        finally:
            if stdin_path:
                stdin.close()
        self.assertOk(final)
        total = len(self.rows(db))
        ran_after = len(lines(self.read("ran.log"))) - ran_before
        self.assertEqual(sum(int(n) for n in lines(final.stdout)), 100000)
        self.assertEqual(len(lines(final.stdout)), total)
        # Only what the kill left unrecorded ran again.
        self.assertEqual(ran_after, total - done_before)
        self.assertLess(ran_after, total)
        return final

    def test_pipepart(self):
        path = self.write("data", numbered(1, 100000))
        self.kill_then_resume(["--pipepart", "-a", path, "--block", "20k"])
        keys = [row[0] for row in self.rows(self.path("run.db"))]
        self.assertTrue(all(re.fullmatch(rb"bytes \d+-\d+ \(xxh3 [0-9a-f]{16}\)", k) for k in keys), keys[:3])

    def test_pipe(self):
        path = self.write("data", numbered(1, 100000))
        self.kill_then_resume(["--pipe", "--block", "20k"], stdin_path=path)
        keys = [row[0] for row in self.rows(self.path("run.db"))]
        self.assertTrue(all(re.fullmatch(rb"block \d+ \(\d+ bytes, xxh3 [0-9a-f]{16}\)", k) for k in keys), keys[:3])

    def test_a_changed_block_runs_again(self):
        db = self.path("run.db")
        data = numbered(1, 3000)
        first = run(["--checkpoint", db, "--pipe", "--block", "2k", "wc", "-l"], input=data)
        self.assertOk(first)
        changed = data.replace(b"\n1500\n", b"\n15OO\n")
        again = run(["--checkpoint", db, "--resume", "--json", "--pipe", "--block", "2k", "wc",
                     "-l"], input=changed)
        self.assertOk(again)
        replayed = [b'"replayed":true' in l.replace(b" ", b"") for l in again.stdout.splitlines()]
        self.assertEqual(replayed.count(False), 1)


class BadInput(TempDirTest):
    def assertRefused(self, args, needle, input=b"a\n"):
        p = run(args, input=input)
        self.assertEqual(p.returncode, 255, p.stderr)
        self.assertIn(needle.encode(), p.stderr)
        self.assertEqual(len(lines(p.stderr)), 1)  # one line in parmap's words, as every usage error
        self.assertEqual(p.stdout, b"")

    def test_refusals(self):
        f = self.write("f", "1\n")
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        self.assertRefused(["--pipe", "--block", "0", "cat"], "--block: '0'")
        self.assertRefused(["--pipe", "--block", "1X", "cat"], "is not a size")
        self.assertRefused(["--pipe", "--block", "-1", "cat"], "at least 1 byte")
        self.assertRefused(["--pipe", "--regexp", "--recend", "(", "cat"], "not a valid regular")
        self.assertRefused(["--pipe", "--header", "[", "cat"], "--header")
        self.assertRefused(["--pipe", "--cat", "--fifo", "cat"], "contradict")
        self.assertRefused(["--pipe", "cat", ":::", "a"], "no ::: arguments")
        self.assertRefused(["--pipe", "-a", f, "cat"], "--pipepart -a FILE")
        self.assertRefused(["--pipepart", "cat"], "needs the file")
        self.assertRefused(["--pipepart", "-a", fifo, "cat"], "regular file")
        self.assertRefused(["--pipepart", "-a", self.path("missing"), "cat"], "missing")
        self.assertRefused(["--pipepart", "-N", "2", "-a", f, "cat"], "-N")
        # The library names Options members; the command line words them as its flags.
        self.assertRefused(["--round-robin", "--checkpoint", self.path("c.db"), "cat"],
                           "--round-robin cannot be used with --checkpoint")
        self.assertRefused(["--round-robin", "--retries", "1", "cat"],
                           "--round-robin cannot be used with --retries")
        self.assertRefused(["--block", "1M", "cat"], "--block needs --pipe")
        self.assertRefused(["--recstart", ">", "cat"], "--recstart needs --pipe")
        # -N, -L and --header are the blocks' with --pipe; the other argument options have no
        # meaning for a block.
        self.assertRefused(["--pipe", "-X", "cat"], "-X cannot be used with --pipe")
        self.assertRefused(["--pipe", "-n", "2", "-N", "3", "cat"], "-n and -N")
        self.assertRefused(["--pipe", "--colsep", ",", "cat"], "--colsep cannot be used with")
        self.assertRefused(["--pipe", "-N", "x", "cat"], "-N")


if __name__ == "__main__":
    unittest.main()
