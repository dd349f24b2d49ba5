"""Checkpoint and resume: what is recorded, when, replay, refusals, kill -9, --report."""

import base64
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import time

from support import PARMAP, TempDirTest, count_results, lines, pid_alive, run, start, wait_for

# Prints the item and appends it to a run log, so that tests can tell which items really ran.
LOGGED = ["sh", "-c", 'echo "out $1"; echo "$1" >> "$0"']


def file_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class CheckpointTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.db = self.path("run.db")
        self.log = self.path("ran.log")

    def logged(self):
        return LOGGED[:2] + [LOGGED[2], self.log]

    def ran(self):
        return lines(self.read("ran.log")) if os.path.exists(self.log) else []

    def rows(self):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return con.execute("SELECT item, occurrence, status FROM results ORDER BY seq").fetchall()
        finally:
            con.close()

    def parmap(self, *args, items=None, **kw):
        args = ["--checkpoint", self.db] + list(args)
        if items is not None:
            kw["input"] = "".join(f"{i}\n" for i in items)
        return run(args, **kw)


class Recording(CheckpointTest):
    def test_every_finished_item_is_recorded(self):
        p = self.parmap(*self.logged(), items=["a", "b", "c"])
        self.assertOk(p)
        self.assertEqual(self.rows(), [(b"a", 1, "ok"), (b"b", 1, "ok"), (b"c", 1, "ok")])
        mode = os.stat(self.db).st_mode & 0o777
        self.assertEqual(mode, 0o600)

    def test_schema_and_run_record(self):
        self.parmap("echo", items=["x"])
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 2)
        self.assertEqual(con.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        command, version = con.execute("SELECT command, version FROM run").fetchone()
        self.assertEqual(command, "echo")
        self.assertTrue(version)
        cols = [r[1] for r in con.execute("PRAGMA table_info(results)")]
        for c in ("item", "occurrence", "seq", "status", "exit", "signal", "stdout", "stderr",
                  "started", "duration", "attempts", "host"):
            self.assertIn(c, cols)
        cols = [r[1] for r in con.execute("PRAGMA table_info(output_chunks)")]
        self.assertEqual(cols, ["result", "stream", "bytes"])
        cols = [r[1] for r in con.execute("PRAGMA table_info(running_items)")]
        self.assertEqual(cols, ["seq", "item", "occurrence", "started", "pgid", "leader_start",
                                "boot_id"])
        con.close()

    def test_schema_1_file_resumes_and_gains_the_new_columns(self):
        self.assertOk(self.parmap("echo", items=["a", "b"]))
        con = sqlite3.connect(self.db)
        # As parmap 0.1.0 wrote it: none of schema 2's additions.
        con.execute("DROP TRIGGER output_chunks_go_with_their_result")
        con.execute("DROP TABLE output_chunks")
        con.execute("DROP TABLE running_items")
        con.execute("DROP TABLE sessions")
        con.execute("DROP TABLE attempts")
        con.execute("ALTER TABLE results DROP COLUMN host")
        con.execute("ALTER TABLE results DROP COLUMN step")
        con.execute("PRAGMA user_version = 1")
        con.commit()
        con.close()
        p = self.parmap("--resume", "echo", items=["a", "b", "c"])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["a", "b", "c"])
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 2)
        self.assertEqual(con.execute("SELECT count(*) FROM results WHERE host IS NULL").fetchone()[0], 3)
        con.close()

    def test_duplicates_get_their_own_rows(self):
        self.parmap("echo", items=["a", "a", "b", "a"])
        self.assertEqual(sorted(self.rows()), [(b"a", 1, "ok"), (b"a", 2, "ok"), (b"a", 3, "ok"),
                                               (b"b", 1, "ok")])

    def test_committed_on_fail_fast(self):
        p = self.parmap("-j1", "sh", "-c", "exit $1", "sh", items=["0", "0", "5", "0"])
        self.assertEqual(p.returncode, 5)
        self.assertEqual([r[2] for r in self.rows()], ["ok", "ok", "failed"])

    def test_committed_when_stdout_closes(self):
        p = subprocess.run(f"seq 100000 | {PARMAP} --checkpoint {self.db} -j2 echo | head -n 3",
                           shell=True, capture_output=True, timeout=60)
        self.assertEqual(lines(p.stdout), ["1", "2", "3"])
        rows = self.rows()
        # Items 1 and 2 had ended when 3's output came (output is in order). Item 3 may not:
        # its output streams as it runs, so its echo may still be alive when head leaves, and
        # the stop that follows interrupts it (an interrupted item is not recorded).
        self.assertGreaterEqual(len(rows), 2)
        # Only what was written can be recorded, and it was recorded in order from the start.
        self.assertEqual([r[0] for r in rows], [str(i).encode() for i in range(1, len(rows) + 1)])

    def test_committed_on_signals(self):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            db = self.path(f"sig{int(sig)}.db")
            proc = start(["--checkpoint", db, "--checkpoint-every", "1000", "-j2", "sh", "-c",
                          'case $1 in [0-4]) echo $1;; *) sleep 100;; esac', "sh", ":::"] +
                         [str(i) for i in range(10)])
            self.assertTrue(wait_for(lambda: os.path.exists(db) and count_results(db) >= 0))
            time.sleep(0.5)
            proc.send_signal(sig)
            proc.communicate(timeout=20)
            self.assertEqual(proc.returncode, -sig)
            self.assertEqual(count_results(db), 5, msg=str(sig))

    def test_large_output_is_stored_and_replayed(self):
        p = self.parmap("sh", "-c", "head -c 3000000 /dev/urandom | tee $0.$1", self.path("big"),
                        items=["x"])
        self.assertOk(p)
        again = self.parmap("--resume", "sh", "-c", "head -c 3000000 /dev/urandom | tee $0.$1",
                            self.path("big"), items=["x"])
        self.assertOk(again)
        self.assertEqual(again.stdout, self.read("big.x"))


class Resume(CheckpointTest):
    def test_resume_runs_only_the_missing_items(self):
        self.parmap(*self.logged(), items=["a", "b"])
        p = self.parmap("--resume", *self.logged(), items=["a", "b", "c", "b"])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["out a", "out b", "out c", "out b"])
        # a and b ran once before; now only c and the second b (a new occurrence) run.
        self.assertEqual(sorted(self.ran()), ["a", "b", "b", "c"])

    def test_reordered_input(self):
        self.parmap(*self.logged(), items=["1", "2", "3"])
        p = self.parmap("--resume", *self.logged(), items=["3", "4", "1", "2"])
        self.assertEqual(lines(p.stdout), ["out 3", "out 4", "out 1", "out 2"])
        self.assertEqual(sorted(self.ran()), ["1", "2", "3", "4"])

    def test_replay_in_as_ready_mode_comes_first(self):
        self.parmap("echo", items=["a"])
        p = self.parmap("--resume", "--as-ready", "sh", "-c", "sleep 0.2; echo $1", "sh",
                        items=["b", "a"], )
        self.assertEqual(p.returncode, 255)  # another command: refused
        p = self.parmap("--resume", "--force", "--as-ready", "sh", "-c", "sleep 0.2; echo $1",
                        "sh", items=["b", "a"])
        self.assertEqual(lines(p.stdout), ["a", "b"])

    def test_replay_as_if_just_run(self):
        self.parmap("sh", "-c", "echo $1; echo err >&2", "sh", items=["x"])
        p = self.parmap("--resume", "--json", "sh", "-c", "echo $1; echo err >&2", "sh",
                        items=["x", "y"])
        records = [json.loads(line) for line in lines(p.stdout)]
        self.assertEqual([r["replayed"] for r in records], [True, False])
        self.assertEqual(records[0]["stdout"], "x\n")
        self.assertEqual(records[0]["stderr"], "err\n")
        p = self.parmap("--resume", "--tag", "sh", "-c", "echo $1; echo err >&2", "sh",
                        items=["x", "y"])
        self.assertEqual(lines(p.stdout), ["x\tx", "y\ty"])
        self.assertEqual(lines(p.stderr), ["x\terr", "y\terr"])

    def test_stored_failures_replay_as_failures(self):
        cmd = ["sh", "-c", 'echo "$1" >> "$0"; [ "$1" != bad ]', self.log]
        p = self.parmap("--keep-going", *cmd, items=["ok", "bad"])
        self.assertEqual(p.returncode, 1)
        p = self.parmap("--resume", *cmd, items=["ok", "bad", "new"])
        self.assertEqual(p.returncode, 1)  # counted, but does not stop the run
        self.assertEqual(sorted(self.ran()), ["bad", "new", "ok"])
        p = self.parmap("--resume", "--retry-failed", *cmd, items=["ok", "bad", "new"])
        self.assertEqual(p.returncode, 1)
        self.assertEqual(sorted(self.ran()), ["bad", "bad", "new", "ok"])

    def test_resume_after_fail_fast_finishes_the_rest(self):
        cmd = ["-j1", "sh", "-c", 'echo "$1" >> "$0"; [ "$1" != 2 ] || [ -e "$0.fixed" ]', self.log]
        p = self.parmap(*cmd, items=["1", "2", "3"])
        self.assertEqual(p.returncode, 1)
        self.write("ran.log.fixed", "")
        p = self.parmap("--resume", "--retry-failed", *cmd, items=["1", "2", "3"])
        self.assertOk(p)
        self.assertEqual(self.ran(), ["1", "2", "2", "3"])

    def test_resume_on_a_missing_file_starts_fresh(self):
        p = self.parmap("--resume", "echo", items=["a"])
        self.assertOk(p)
        self.assertEqual(self.rows(), [(b"a", 1, "ok")])

    def test_force_takes_results_for_the_new_command(self):
        self.parmap("echo", "old", items=["a"])
        p = self.parmap("--resume", "--force", "echo", "new", items=["a", "b"])
        self.assertEqual(lines(p.stdout), ["old a", "new b"])
        p = self.parmap("--resume", "echo", "new", items=["a", "b"])  # now recorded as 'echo new'
        self.assertOk(p)


class Refusals(CheckpointTest):
    def assertRefused(self, args, needle, items=("a",)):
        before = file_hash(self.db) if os.path.exists(self.db) else None
        marker = self.path("ran-marker")
        p = self.parmap(*args, "sh", "-c", f"touch {marker}", items=list(items))
        self.assertEqual(p.returncode, 255, msg=p.stderr)
        self.assertIn(needle, p.stderr)
        self.assertIn(self.db.encode(), p.stderr)
        self.assertEqual(len(lines(p.stderr)), 1)
        self.assertFalse(os.path.exists(marker))
        if before is not None:
            self.assertEqual(file_hash(self.db), before, "the checkpoint was modified")
        return p

    def test_existing_results_without_resume(self):
        self.parmap("sh", "-c", f"touch {self.path('ran-marker')}", items=["a"])
        os.unlink(self.path("ran-marker"))
        self.assertRefused([], b"--resume")

    def test_other_command(self):
        self.parmap("echo", items=["a"])
        self.assertRefused(["--resume"], b"--force")

    def test_not_a_checkpoint(self):
        self.write("run.db", "just text\n")
        self.assertRefused([], b"not a parmap checkpoint")
        con = sqlite3.connect(self.db if False else self.path("other.db"))
        con.execute("CREATE TABLE t(x)")
        con.commit()
        con.close()
        os.replace(self.path("other.db"), self.db)
        self.assertRefused(["--resume"], b"not a parmap checkpoint")

    def test_newer_schema(self):
        self.parmap("sh", "-c", f"touch {self.path('ran-marker')}", items=["a"])
        os.unlink(self.path("ran-marker"))
        con = sqlite3.connect(self.db)
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
        self.assertRefused(["--resume"], b"newer parmap")

    def test_path_that_cannot_be_created(self):
        self.db = self.path("no/such/dir/run.db")
        self.assertRefused([], b"cannot create")

    def test_in_use_by_another_run(self):
        proc = start(["--checkpoint", self.db, "sleep", ":::", "30"])
        try:
            self.assertTrue(wait_for(lambda: os.path.exists(self.db)))
            time.sleep(0.3)
            p = self.parmap("--resume", "sleep", items=["1"])
            self.assertEqual(p.returncode, 255)
            self.assertIn(b"in use", p.stderr)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=10)

    def test_refused_new_file_is_not_left_behind(self):
        self.db = self.path("new.db")
        p = self.parmap("--retry-failed", "true", items=["a"])
        self.assertEqual(p.returncode, 255)
        self.assertFalse(os.path.exists(self.db))


class KillNine(CheckpointTest):
    def test_random_sigkills_then_resume_gives_everything_once(self):
        items = [str(i) for i in range(1, 301)]
        data = self.write("items.txt", "".join(f"{i}\n" for i in items))
        cmd = ["--checkpoint", self.db, "--resume", "--checkpoint-every", "7", "-j4", "sh", "-c",
               'sleep 0.0$(($1 % 4)); echo "out $1"; echo "$1" >> "$0"', self.log, "::::", data]
        rng = random.Random(1234)
        for _ in range(6):
            proc = start(cmd)
            time.sleep(rng.uniform(0.05, 0.6))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=10)
            # The file always opens, and holds only whole records.
            con = sqlite3.connect(self.db)
            con.execute("SELECT count(*) FROM results").fetchone()
            con.close()
        final = run(cmd)
        self.assertOk(final)
        self.assertEqual(lines(final.stdout), [f"out {i}" for i in items])
        ran = self.ran()
        self.assertEqual(set(ran), set(items))  # every item ran at least once
        self.assertEqual(len(self.rows()), 300)
        # Re-runs only for items a kill caught uncommitted: far fewer than the items.
        self.assertLess(len(ran) - len(items), 150)


class Report(CheckpointTest):
    def test_report_text_and_json(self):
        self.parmap("--keep-going", "--timeout", "0.3", "sh", "-c",
                    'case $1 in bad) echo "it broke" >&2; exit 3;; slow) sleep 2;; *) true;; esac',
                    "sh", items=["ok", "bad", "slow"])
        before = file_hash(self.db)
        p = run(["--checkpoint", self.db, "--report"])
        self.assertOk(p)
        text = p.stdout.decode()
        self.assertIn("3: 1 ok, 1 failed, 1 timed out", text)
        self.assertIn("it broke", text)
        self.assertIn("slowest", text)
        p = run(["--checkpoint", self.db, "--report", "--json"])
        self.assertOk(p)
        report = json.loads(p.stdout)
        self.assertEqual((report["done"], report["ok"], report["failed"], report["timeout"]),
                         (3, 1, 1, 1))
        self.assertEqual(report["failures"][0]["item"], "bad")
        self.assertEqual(report["failures"][0]["stderr_tail"], "it broke\n")
        self.assertEqual(report["slowest"][0]["item"], "slow")
        self.assertEqual(file_hash(self.db), before)

    def test_report_shows_each_item_on_one_line(self):
        # An item read with -0 may hold a newline or an escape byte; the report's lines stay whole.
        p = run(["--checkpoint", self.db, "-0", "--keep-going", "sh", "-c", 'echo "$1 failed" >&2; exit 1',
                 "sh"], input=b"two\nlines\0esc\x1b[2Jape\0")
        self.assertEqual(p.returncode, 2, msg=p.stderr)
        text = run(["--checkpoint", self.db, "--report"]).stdout.decode()
        self.assertIn("  #1  two?lines  (exit 1, 1 attempt)\n", text)
        self.assertIn("  #2  esc?[2Jape  (exit 1, 1 attempt)\n", text)
        self.assertNotIn("\x1b", text)
        # The stderr tail keeps its own lines.
        self.assertIn("two\n", text)

    def test_report_json_keeps_the_exact_bytes_of_an_item(self):
        p = run(["--checkpoint", self.db, "false"], input=b"caf\xe9\n")
        self.assertEqual(p.returncode, 1, msg=p.stderr)
        report = json.loads(run(["--checkpoint", self.db, "--report", "--json"]).stdout)
        failure = report["failures"][0]
        self.assertEqual(failure["item"], "caf\ufffd")
        self.assertEqual(base64.b64decode(failure["item_b64"]), b"caf\xe9")

    def test_report_on_bad_files(self):
        p = run(["--checkpoint", self.path("missing.db"), "--report"])
        self.assertEqual(p.returncode, 255)
        self.write("junk.db", "junk")
        p = run(["--checkpoint", self.path("junk.db"), "--report"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"not a parmap checkpoint", p.stderr)


class WriteErrors(CheckpointTest):
    def test_full_disk_records_only_what_was_written(self):
        with open("/dev/full", "wb") as full:
            p = subprocess.run([PARMAP, "--checkpoint", self.db, "echo", ":::", "a", "b", "c"],
                               stdout=full, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"No space left on device", p.stderr)
        self.assertEqual(self.rows(), [])

    def test_spill_files_never_outlive_the_run(self):
        # Output waiting behind a slow head spills to $TMPDIR; even kill -9 leaves nothing.
        tmp = self.path("tmp")
        os.mkdir(tmp)
        head_pid = self.path("head.pid")
        proc = start(["-j2", "sh", "-c",
                      f'if [ $1 = 1 ]; then echo $$ > {head_pid}; exec sleep 30; '
                      'else head -c 20000000 /dev/zero; fi', "sh", ":::", "1", "2"],
                     env={"TMPDIR": tmp}, stdout=subprocess.DEVNULL)
        # Wait until parmap holds a spill file (an open, unlinked one: O_TMPFILE).
        def spilled():
            try:
                return any("(deleted)" in os.readlink(f"/proc/{proc.pid}/fd/{fd}") and
                           os.readlink(f"/proc/{proc.pid}/fd/{fd}").startswith(tmp)
                           for fd in os.listdir(f"/proc/{proc.pid}/fd"))
            except OSError:
                return False
        self.assertTrue(wait_for(spilled, timeout=20))
        self.assertEqual(os.listdir(tmp), [])  # never visible by name
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        self.assertEqual(os.listdir(tmp), [])
        os.kill(int(self.read("head.pid")), signal.SIGKILL)  # orphaned by the kill -9
