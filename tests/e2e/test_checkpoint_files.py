"""The checkpoint file under real conditions: a directory the user cannot write, damage, paths
that cannot hold a checkpoint, how often commits come, and messages in parmap's words."""

import hashlib
import os
import sqlite3
import stat
import subprocess
import time
import unittest

from support import PARMAP, TempDirTest, lines, run, start, wait_for

NOBODY = 65534


def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sql_words(text):
    """The SQL a message must never show."""
    return [w for w in (b"SELECT", b"pragma_", b"FROM ", b"sqlite_master") if w in text]


class FilesTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.db = self.path("run.db")
        self.marker = self.path("ran")

    def marked(self):
        """A command that leaves a trace when any item runs."""
        return ["sh", "-c", f'echo "$1"; touch {self.marker}', "sh"]

    def assertRefusedInOneLine(self, p, needle):
        self.assertEqual(p.returncode, 255, msg=p.stderr)
        self.assertIn(needle, p.stderr)
        self.assertEqual(len(lines(p.stderr)), 1, msg=p.stderr)
        self.assertEqual(sql_words(p.stderr), [])
        self.assertFalse(os.path.exists(self.marker), "an item ran")


class ReadOnlyDirectory(FilesTest):
    """A cron job's checkpoint, read by a monitoring user who cannot write its directory."""

    def as_reader(self, args):
        # Under root (CI), setpriv to nobody; otherwise this user, with the directory made
        # read-only for it. Either way the directory is really not writable for parmap.
        if os.geteuid() == 0:
            return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                                   "--clear-groups", PARMAP, "--checkpoint", self.db] + args,
                                  capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        os.chmod(self.dir, 0o555)
        self.addCleanup(os.chmod, self.dir, 0o755)
        return run(["--checkpoint", self.db] + args)

    # b fails; slow runs until it is stopped.
    COMMAND = ["sh", "-c", 'echo $1; [ $1 != slow ] || exec sleep 30; [ $1 != b ]', "sh"]

    def setUp(self):
        super().setUp()
        os.chmod(self.dir, 0o755)
        p = run(["--checkpoint", self.db, "--keep-going"] + self.COMMAND + [":::", "a", "b", "c"])
        self.assertEqual(p.returncode, 1, msg=p.stderr)
        os.chmod(self.db, 0o644)  # readable by the monitoring user, writable by the owner only

    def files(self):
        return sorted(os.listdir(self.dir))

    def test_report_reads_it_and_leaves_nothing_behind(self):
        before = file_hash(self.db)
        p = self.as_reader(["--report"])
        self.assertOk(p)
        self.assertIn(b"3: 2 ok, 1 failed", p.stdout)
        self.assertEqual(self.files(), ["run.db"])  # no -wal, no -shm
        self.assertEqual(file_hash(self.db), before)

    def test_report_sees_a_run_in_progress(self):
        # The owner's run has its -wal open: the reader sees its latest commits through it.
        proc = start(["--checkpoint", self.db, "--resume", "--keep-going", "--checkpoint-every",
                      "1"] + self.COMMAND + [":::", "a", "b", "c", "d", "slow"],
                     stdout=subprocess.DEVNULL)
        try:
            def recorded():
                con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
                try:
                    return con.execute("SELECT count(*) FROM results").fetchone()[0] == 4
                except sqlite3.Error:
                    return False
                finally:
                    con.close()
            self.assertTrue(wait_for(recorded, timeout=30))
            for name in ("run.db-wal", "run.db-shm"):
                os.chmod(self.path(name), 0o644)
            p = self.as_reader(["--report"])
            self.assertOk(p)
            self.assertIn(b"4: 3 ok, 1 failed", p.stdout)
        finally:
            proc.terminate()
            proc.communicate(timeout=30)

    def test_a_run_says_the_directory_is_not_writable(self):
        before = file_hash(self.db)
        p = self.as_reader(["--resume", "--keep-going"] + self.COMMAND + [":::", "a", "b", "d"])
        self.assertEqual(p.returncode, 255, msg=p.stderr)
        self.assertIn(f"the directory {os.path.realpath(self.dir)} is not writable".encode(),
                      p.stderr)
        self.assertIn(b"run.db-wal", p.stderr)
        self.assertNotIn(b"not a parmap checkpoint", p.stderr)
        self.assertEqual(len(lines(p.stderr)), 1, msg=p.stderr)
        self.assertEqual(p.stdout, b"")
        self.assertEqual(self.files(), ["run.db"])
        self.assertEqual(file_hash(self.db), before)


class Damage(FilesTest):
    def setUp(self):
        super().setUp()
        self.gate = self.path("go")
        self.started = self.path("started")
        # Prints 2001 bytes; the item "slow" first waits for the gate file.
        self.command = ["sh", "-c", f'if [ "$1" = slow ]; then touch {self.started}; '
                        f'while [ ! -e {self.gate} ]; do sleep 0.02; done; fi; '
                        'printf "%2000s\\n" "$1"', "sh"]

    def make(self, n=300):
        items = "".join(f"{i}\n" for i in range(n)).encode()
        p = run(["--checkpoint", self.db] + self.command, input=items)
        self.assertOk(p)

    def damage_a_page(self):
        size = os.path.getsize(self.db)
        page = size // 4096 // 2
        with open(self.db, "r+b") as f:
            f.seek(page * 4096)
            f.write(bytes((0xA5 ^ i) & 0xff for i in range(4096)))

    def test_found_when_opening_and_nothing_is_touched(self):
        self.make()
        self.damage_a_page()
        before = file_hash(self.db)
        p = run(["--checkpoint", self.db, "--resume"] + self.command + [":::", "1", "new"])
        self.assertRefusedInOneLine(p, b"the checkpoint is damaged")
        self.assertIn(self.db.encode(), p.stderr)
        self.assertNotIn(b"--force", p.stderr)
        self.assertNotIn(b"command", p.stderr)
        self.assertEqual(p.stdout, b"")
        self.assertEqual(file_hash(self.db), before)
        self.assertEqual(sorted(os.listdir(self.dir)), ["run.db"])

    def test_report_of_a_damaged_file_fails_clearly(self):
        self.make()
        self.damage_a_page()
        before = file_hash(self.db)
        for extra in ([], ["--json"]):
            p = run(["--checkpoint", self.db, "--report"] + extra)
            self.assertRefusedInOneLine(p, b"the checkpoint is damaged")
            self.assertEqual(p.stdout, b"")
        self.assertEqual(file_hash(self.db), before)

    def test_damage_showing_mid_run_names_the_file(self):
        # Sound when opened; pages are damaged while the first (new) item runs, before the
        # stored items after it are looked up: the lookups find the damage.
        self.make(3000)
        items = "slow\n" + "".join(f"{i}\n" for i in range(3000))
        proc = start(["--checkpoint", self.db, "--resume", "-j1", "--max-pending", "1"] +
                     self.command + ["::::", self.write("items", items)], stdout=subprocess.DEVNULL)
        self.assertTrue(wait_for(lambda: os.path.exists(self.started), timeout=30))
        size = os.path.getsize(self.db)
        with open(self.db, "r+b") as f:  # a quarter of the file from the middle on
            f.seek(size // 2 // 4096 * 4096)
            f.write(b"\xa5" * (size // 4 // 4096 * 4096))
        open(self.gate, "w").close()
        _, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 255, msg=err)
        self.assertIn(f"parmap: {self.db}: the checkpoint is damaged".encode(), err)
        self.assertEqual(len(lines(err)), 1, msg=err)
        self.assertEqual(sql_words(err), [])


class Paths(FilesTest):
    def test_empty_path_is_a_usage_error(self):
        # `--checkpoint "$CP"` with CP unset in a crontab must not run without a checkpoint.
        p = run(["--checkpoint", ""] + self.marked() + [":::", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"--checkpoint was given an empty value", p.stderr)
        self.assertFalse(os.path.exists(self.marker))
        p = run(["--checkpoint", "", "--report"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"--checkpoint was given an empty value", p.stderr)

    def test_dev_null_is_refused_and_nothing_is_created(self):
        existed = {n: os.path.exists(n) for n in ("/dev/null-journal", "/dev/null-wal")}
        for args in (["--resume"] + self.marked() + [":::", "a"], self.marked() + [":::", "a"],
                     ["--report"]):
            p = run(["--checkpoint", "/dev/null"] + args)
            self.assertRefusedInOneLine(p, b"/dev/null: a character device")
        self.assertEqual({n: os.path.exists(n) for n in existed}, existed)
        self.assertTrue(stat.S_ISCHR(os.stat("/dev/null").st_mode))

    def test_a_fifo_is_refused_without_blocking(self):
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        p = run(["--checkpoint", fifo] + self.marked() + [":::", "a"], timeout=20)
        self.assertRefusedInOneLine(p, b"a FIFO")
        p = run(["--checkpoint", self.dir] + self.marked() + [":::", "a"])
        self.assertRefusedInOneLine(p, b"a directory")

    def test_dangling_symlink_says_so(self):
        target = self.path("gone/run.db")
        os.symlink(target, self.db)
        for args in (self.marked() + [":::", "a"], ["--report"]):
            p = run(["--checkpoint", self.db] + args)
            self.assertRefusedInOneLine(p, f"a symbolic link to {target}, which does not exist"
                                        .encode())
        self.assertFalse(os.path.exists(self.path("gone")))
        self.assertEqual(os.listdir(self.dir), ["run.db"])


class Messages(FilesTest):
    def test_no_sql_in_messages_about_files_that_are_not_checkpoints(self):
        self.write("run.db", "just text, long enough to be read as a header " * 20)
        for args in (["--report"], ["--resume", "true", ":::", "a"]):
            p = run(["--checkpoint", self.db] + args)
            self.assertEqual(p.returncode, 255)
            self.assertIn(b"not a parmap checkpoint", p.stderr)
            self.assertEqual(sql_words(p.stderr), [])


class CommitCadence(FilesTest):
    def test_commits_come_at_least_once_a_second(self):
        # Items end every 0.9 s. Commits a full second after each transaction's first result
        # (0.1.0) came 1.8 s apart here; on a one-second grid they come 1 s apart. A reader
        # watches the committed row count.
        proc = start(["--checkpoint", self.db, "-j1", "--checkpoint-every", "1000", "sleep", ":::"]
                     + ["0.9"] * 7, stdout=subprocess.DEVNULL)
        seen = []
        last = 0
        try:
            while proc.poll() is None:
                try:
                    con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
                    try:
                        n = con.execute("SELECT count(*) FROM results").fetchone()[0]
                    finally:
                        con.close()
                except sqlite3.Error:
                    n = last
                if n != last:
                    seen.append(time.monotonic())
                    last = n
                time.sleep(0.01)
        finally:
            proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0)
        gaps = [b - a for a, b in zip(seen, seen[1:])]
        self.assertGreaterEqual(len(gaps), 3, msg=gaps)
        self.assertLess(max(gaps), 1.5, msg=gaps)


if __name__ == "__main__":
    unittest.main()
