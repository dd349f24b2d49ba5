"""No orphans, no double execution: what a parmap killed with SIGKILL leaves running is found
through its checkpoint, reported, and terminated by --resume before its items run again."""

import json
import os
import signal
import sqlite3
import time

from support import TempDirTest, pid_alive, run, start, wait_for


class WithoutCheckpoint(TempDirTest):
    def test_items_own_processes_get_sigterm_when_parmap_is_killed(self):
        pids = self.path("pids")
        proc = start(["-j2", "sh", "-c", f"echo $$ >> {pids}; exec sleep 300", "sh", ":::", "a",
                      "b"])
        self.assertTrue(wait_for(lambda: os.path.exists(pids) and
                                 len(self.read("pids").split()) == 2))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        for pid in map(int, self.read("pids").split()):
            self.assertTrue(wait_for(lambda: not pid_alive(pid), timeout=5), f"item {pid} survived")


class KilledRun(TempDirTest):
    def setUp(self):
        super().setUp()
        self.db = self.path("run.db")
        self.marks = self.path("marks")
        self.doubles = self.path("doubles")
        # The first run's items start a background child and wait for it, noting both pids;
        # once `quick` exists, an item instead notes whether a process of an earlier copy of
        # itself still lives (it must not), and ends.
        script = (f'if [ -e {self.path("quick")} ]; then '
                  f'  for p in $(grep "^$1 " {self.marks} | cut -d" " -f2); do '
                  f'    if [ -e /proc/$p ] && ! grep -q ") Z" /proc/$p/stat; then '
                  f'      echo "$1 $p" >> {self.doubles}; fi; done; '
                  f'  echo "ran $1"; '
                  f'else echo "$1 $$" >> {self.marks}; sleep 300 & echo "$1 $!" >> {self.marks}; '
                  f'  wait; fi')
        self.args = ["--checkpoint", self.db, "--resume", "-j3", "sh", "-c", script, "sh",
                     ":::", "a", "b", "c", "d"]

    def recorded_running(self):
        try:
            con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
            try:
                return con.execute("SELECT seq, pgid FROM running_items").fetchall()
            finally:
                con.close()
        except sqlite3.Error:
            return []

    def old_pids(self):
        return [int(line.split()[1]) for line in self.read("marks").decode().splitlines()]

    def kill_nine_while_items_run(self):
        proc = start(self.args)
        self.assertTrue(wait_for(lambda: len(self.recorded_running()) == 3, timeout=20))
        self.assertTrue(wait_for(lambda: os.path.exists(self.marks) and len(self.old_pids()) == 6))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        self.addCleanup(self.kill_leftovers)
        return proc

    def kill_leftovers(self):
        for pid in self.old_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def test_resume_terminates_what_the_killed_run_left_before_running_it_again(self):
        self.kill_nine_while_items_run()
        # Killed with -9, parmap could do nothing: the items' children run on.
        self.assertTrue(any(pid_alive(p) for p in self.old_pids()))
        with open(self.path("quick"), "w"):
            pass
        p = run(self.args)
        self.assertEqual(p.returncode, 0, msg=p.stderr)
        self.assertEqual(sorted(p.stdout.decode().split("\n")),
                         ["", "ran a", "ran b", "ran c", "ran d"])
        self.assertFalse(os.path.exists(self.doubles), self.read("doubles") if
                         os.path.exists(self.doubles) else "")
        for pid in self.old_pids():
            self.assertFalse(pid_alive(pid), f"{pid} of the killed run survived")
        err = p.stderr.decode()
        for seq in (1, 2, 3):
            self.assertIn(f"item {seq} is still running from an earlier run", err)
        self.assertEqual(self.recorded_running(), [])

    def test_report_lists_the_groups_left_running(self):
        self.kill_nine_while_items_run()
        recorded = self.recorded_running()
        p = run(["--checkpoint", self.db, "--report"])
        self.assertEqual(p.returncode, 0, msg=p.stderr)
        text = p.stdout.decode()
        self.assertIn("left running by a run that was killed", text)
        for seq, pgid in recorded:
            self.assertIn(f"#{seq}  ", text)
            self.assertIn(f"process group {pgid}", text)
        report = json.loads(run(["--checkpoint", self.db, "--report", "--json"]).stdout)
        self.assertFalse(report["run_active"])
        self.assertEqual(sorted((r["seq"], r["pgid"]) for r in report["running"]), sorted(recorded))
        # The children outlive their killed parents; the groups count as alive while they do.
        self.assertTrue(all(r["alive"] for r in report["running"]), report["running"])

    def test_report_of_a_run_in_progress(self):
        proc = start(["--checkpoint", self.db, "-j2", "sleep", ":::", "30", "30", "0"])
        self.addCleanup(lambda: (proc.send_signal(signal.SIGTERM), proc.communicate(timeout=10)))
        self.assertTrue(wait_for(lambda: len(self.recorded_running()) == 2, timeout=20))
        report = json.loads(run(["--checkpoint", self.db, "--report", "--json"]).stdout)
        self.assertTrue(report["run_active"])
        self.assertEqual([r["item"] for r in report["running"]], ["30", "30"])
        self.assertIn(b"running now", run(["--checkpoint", self.db, "--report"]).stdout)

    def test_an_orderly_end_leaves_no_running_rows(self):
        proc = start(["--checkpoint", self.db, "-j2", "sleep", ":::", "30", "30"])
        self.assertTrue(wait_for(lambda: len(self.recorded_running()) == 2, timeout=20))
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, -signal.SIGTERM)
        self.assertEqual(self.recorded_running(), [])

    def test_a_reused_pid_is_not_taken_for_a_left_group(self):
        # A row naming a live process that is not the recorded one (another start time): left
        # alone, and forgotten.
        run(["--checkpoint", self.db, "true", ":::", "x"])
        me = os.getpid()
        con = sqlite3.connect(self.db)
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        con.execute("INSERT INTO running_items VALUES (7, 'x', 1, 0, ?, 1, ?)", (me, boot))
        con.commit()
        con.close()
        report = json.loads(run(["--checkpoint", self.db, "--report", "--json"]).stdout)
        self.assertEqual([(r["pgid"], r["alive"]) for r in report["running"]], [(me, False)])
        p = run(["--checkpoint", self.db, "--resume", "true", ":::", "x"])
        self.assertEqual(p.returncode, 0, msg=p.stderr)
        self.assertNotIn(b"still running", p.stderr)
        self.assertEqual(self.recorded_running(), [])
