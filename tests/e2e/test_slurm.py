"""Slurm (--slurm, --slurm-alloc): items run in long-lived job steps of an allocation, one
`srun ... parmap --agent` step per slot. The cluster is tests/fixtures/slurm-cluster (munged,
slurmctld and one slurmd on this machine, started once for this file); its node shares this
machine's filesystem and processes, so a test can look at what an item left and at what still
runs.

Needs root (the fixture's daemons run as SlurmUser root); skipped with a message otherwise.
"""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest

from support import PARMAP, TempDirTest, lines, live_processes, run, start, wait_for

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "slurm-cluster")
D = None  # the fixture's folder


def free_port_pair():
    """A port whose successor is free too (slurmctld's and slurmd's), so that two runs of this
    suite on one machine (or a developer's cluster on the default port) do not collide."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports for the slurm-cluster fixture")


def setUpModule():
    global D
    if os.geteuid() != 0:
        raise unittest.SkipTest("the slurm-cluster fixture needs root (its daemons run as root)")
    # What the suite runs must not think it is inside some other allocation.
    for name in [n for n in os.environ if n.startswith("SLURM_")]:
        del os.environ[name]
    D = tempfile.mkdtemp(prefix="parmap-slurm-")
    env = dict(os.environ, SLURM_CLUSTER_DIR=D, SLURM_CLUSTER_CPUS="4",
               SLURM_CLUSTER_PORT=str(free_port_pair()))
    p = subprocess.run([FIXTURE, "up"], env=env, capture_output=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        shutil.rmtree(D, True)
        D = None
        # Root can start it: a failure here is a failure, not a reason to skip.
        raise RuntimeError("the slurm-cluster fixture did not start: "
                           + p.stderr.decode(errors="replace").strip()[-800:])
    os.environ["SLURM_CONF"] = os.path.join(D, "slurm.conf")


def tearDownModule():
    if D is None:
        return
    subprocess.run([FIXTURE, "down"], env=dict(os.environ, SLURM_CLUSTER_DIR=D),
                   capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    shutil.rmtree(D, True)


def slurm(args, timeout=30):
    """Runs a Slurm client command; its stdout."""
    return subprocess.run(args, capture_output=True, timeout=timeout, check=True,
                          stdin=subprocess.DEVNULL).stdout.decode()


def in_salloc(ntasks, args, cwd=None):
    """Runs parmap inside `salloc -n NTASKS`, as a user would."""
    return subprocess.run(["salloc", "--quiet", f"-n{ntasks}", PARMAP] + args, capture_output=True,
                          timeout=120, stdin=subprocess.DEVNULL, cwd=cwd)


def allocate(ntasks):
    """An allocation held by no process (salloc --no-shell); its job id."""
    err = subprocess.run(["salloc", "--no-shell", f"-n{ntasks}"], capture_output=True,
                         timeout=60, check=True, stdin=subprocess.DEVNULL).stderr.decode()
    return re.search(r"Granted job allocation (\d+)", err).group(1)


def allocation_env(job, ntasks):
    """What a command run inside allocation `job` finds in its environment."""
    return {"SLURM_JOB_ID": job, "SLURM_JOBID": job, "SLURM_NTASKS": str(ntasks)}


def steps_of(job):
    return slurm(["squeue", "--noheader", "--steps", f"--jobs={job}", "--format=%i"]).split()


def jobs():
    return slurm(["squeue", "--noheader", "--format=%i"]).split()


def processes(marker):
    """Live processes whose argv[0] holds `marker` (items run a sleep named after it; parmap's
    own command line, which holds the marker as an argument, does not count)."""
    return live_processes(lambda uid, argv: marker.encode() in argv[0])


def finish(proc):
    """Kills a parmap a failed test left running, and closes its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


class SlurmTest(TempDirTest):
    def sleeper(self, marker):
        """`sleep` under a name that marks the processes of one test."""
        path = self.path(marker)
        os.symlink(shutil.which("sleep"), path)
        return path

    def start(self, args, env=None):
        """Starts parmap in the background; the test's end finishes it."""
        proc = start(args, env=env)
        self.addCleanup(finish, proc)
        return proc

    def start_in_allocation(self, ntasks, args):
        """Starts parmap inside an allocation held by no process (scancelled at the end); the
        process, the job id and the allocation's environment."""
        job = allocate(ntasks)
        self.addCleanup(subprocess.run, ["scancel", job], capture_output=True)
        env = allocation_env(job, ntasks)
        return self.start(args, env=env), job, env

    def assertNoneLeft(self, marker):
        self.assertTrue(wait_for(lambda: not processes(marker), timeout=30),
                        f"left running: {processes(marker)}")

    def assertNoStep(self, job):
        self.assertTrue(wait_for(lambda: not steps_of(job), timeout=30, interval=0.2),
                        f"steps left in job {job}: {steps_of(job)}")


class Running(SlurmTest):
    def test_items_run_in_one_step_per_task_in_input_order(self):
        items = [str(i) for i in range(1, 41)]
        joblog = self.path("log")
        p = in_salloc(2, ["--slurm", "--joblog", joblog, "sh", "-c",
                          'echo "$1 $SLURM_JOB_ID.$SLURM_STEP_ID $PARMAP_HOST"', "sh", ":::"]
                      + items)
        self.assertOk(p)
        out = [line.split() for line in lines(p.stdout)]
        self.assertEqual([o[0] for o in out], items)
        # 40 items, two tasks: two steps ran them all (step ids 0 and 1 of the allocation).
        steps = {o[1] for o in out}
        self.assertEqual({s.split(".")[1] for s in steps}, {"0", "1"}, steps)
        self.assertEqual({o[2] for o in out}, {"localhost"})  # the node, as Slurm names it
        hosts = {line.split("\t")[1] for line in lines(self.read("log"))[1:]}
        self.assertEqual(hosts, {"localhost/" + s for s in steps})

    def test_j_sets_the_number_of_steps(self):
        p = in_salloc(2, ["--slurm", "-j3", "sh", "-c", 'sleep 0.2; echo "$SLURM_STEP_ID"', "sh",
                          ":::"] + [str(i) for i in range(12)])
        self.assertOk(p)
        self.assertEqual(set(lines(p.stdout)), {"0", "1", "2"})

    def test_json_checkpoint_report_and_resume_carry_the_step(self):
        ck = self.path("run.db")
        cmd = ["sh", "-c", f'echo "$1" >> {self.dir}/ran; echo "$1"', "sh", ":::"]
        p = in_salloc(2, ["--slurm", "--json", "--checkpoint", ck] + cmd + list("abcd"))
        self.assertOk(p)
        records = [json.loads(line) for line in lines(p.stdout)]
        self.assertEqual([r["item"] for r in records], list("abcd"))
        self.assertTrue(all(r["host"] == "localhost" for r in records), records)
        self.assertTrue(all(re.fullmatch(r"\d+\.[01]", r["step"]) for r in records), records)
        with sqlite3.connect(ck) as db:
            stored = {s for (s,) in db.execute("SELECT step FROM results")}
        self.assertEqual(stored, {r["step"] for r in records})
        report = run(["--checkpoint", ck, "--report", "--json"])
        self.assertOk(report)
        hosts = json.loads(report.stdout)["hosts"]
        self.assertEqual([h["host"] for h in hosts], ["localhost"])
        self.assertEqual(sorted(hosts[0]["steps"]), sorted(stored))
        self.assertIn(b"steps ", run(["--checkpoint", ck, "--report"]).stdout)
        # --report --joblog: the Host column the live joblog writes; the page names the steps.
        joblog = run(["--checkpoint", ck, "--report", "--joblog", "-"])
        self.assertEqual({line.split("\t")[1] for line in lines(joblog.stdout)[1:]},
                         {f"localhost/{s}" for s in stored})
        page = run(["--checkpoint", ck, "--report", "--html", "-"]).stdout
        for step in stored:
            self.assertIn(f" \u00b7 step {step} \u00b7 ".encode(), page)
        p = in_salloc(2, ["--slurm", "--checkpoint", ck, "--resume"] + cmd + list("abcdef"))
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), list("abcdef"))
        self.assertEqual(sorted(lines(self.read("ran"))), list("abcdef"))  # once each

    def test_hostile_items_and_failures(self):
        p = in_salloc(2, ["--slurm", "--keep-going", "echo {}; exit {#}", ":::", "$(touch pwned)",
                          "it's", "a\tb"], cwd=self.dir)
        self.assertEqual(p.returncode, 3, p.stderr)  # three failures
        self.assertEqual(lines(p.stdout), ["$(touch pwned)", "it's", "a\tb"])
        self.assertFalse(os.path.exists(self.path("pwned")))

    def test_outside_an_allocation_it_says_how_to_get_one(self):
        p = run(["--slurm", "echo", ":::", "x"])
        self.assertEqual(p.returncode, 255)
        err = p.stderr.decode()
        self.assertIn("salloc", err)
        self.assertIn("--slurm-alloc", err)
        self.assertEqual(err.count("\n"), 1, err)
        p = run(["--slurm", "-S", "host1", "echo", ":::", "x"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"--slurm runs items in Slurm job steps and -S on ssh hosts", p.stderr)

    def test_slurm_alloc_gets_an_allocation_and_releases_it(self):
        p = run(["--slurm-alloc", "-n2", "sh", "-c", 'echo "$1 $SLURM_STEP_ID"', "sh", ":::",
                 "a", "b", "c"])
        self.assertOk(p)
        self.assertEqual([line.split()[0] for line in lines(p.stdout)], ["a", "b", "c"])
        self.assertTrue(wait_for(lambda: not jobs(), timeout=30, interval=0.2), jobs())
        p = run(["--slurm-alloc", "-n2 --partition=nonesuch", "echo", ":::", "x"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"salloc", p.stderr)


class Processes(SlurmTest):
    def test_timeout_kills_the_items_group_on_its_node(self):
        marker = f"pm-slurm-timeout-{os.getpid()}"
        t0 = time.monotonic()
        sleep = self.sleeper(marker)
        p = in_salloc(1, ["--slurm", "--timeout", "0.5", "sh", "-c", f"{sleep} 201 & {sleep} 201",
                          "sh", ":::", "x"])
        self.assertEqual(p.returncode, 124, p.stderr)
        self.assertLess(time.monotonic() - t0, 30)
        self.assertNoneLeft(marker)

    def test_a_cancelled_step_loses_nothing(self):
        items = [str(i) for i in range(1, 25)]
        started = self.path("started")
        job = allocate(2)
        self.addCleanup(subprocess.run, ["scancel", job], capture_output=True)
        proc = self.start(["--slurm", "sh", "-c",
                      f'echo "$SLURM_STEP_ID" >> {started}; sleep 0.3; echo "$1"', "sh", ":::"]
                     + items, env=allocation_env(job, 2))
        def step_0_busy():
            return os.path.exists(started) and "0" in lines(self.read("started"))
        self.assertTrue(wait_for(step_0_busy, timeout=30))
        slurm(["scancel", f"{job}.0"])
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(lines(out), items)  # each once, in order
        self.assertIn(b"will run again elsewhere", err)
        self.assertNoStep(job)

    def test_ctrl_c_leaves_no_step_and_no_item(self):
        marker = f"pm-slurm-int-{os.getpid()}"
        job = allocate(2)
        self.addCleanup(subprocess.run, ["scancel", job], capture_output=True)
        proc = self.start([
            "--slurm", self.sleeper(marker), ":::"] + ["202"] * 6, env=allocation_env(job, 2))
        self.assertTrue(wait_for(lambda: len(processes(marker)) == 2, timeout=30))
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, -signal.SIGINT)
        self.assertNoStep(job)
        self.assertNoneLeft(marker)
        self.assertIn(job, jobs())  # the user's allocation is theirs to end

    def test_ctrl_c_releases_an_allocation_of_slurm_alloc(self):
        marker = f"pm-slurm-alloc-int-{os.getpid()}"
        proc = self.start(["--slurm-alloc", "-n2", self.sleeper(marker), ":::", "203", "204"])
        self.assertTrue(wait_for(lambda: len(processes(marker)) == 2, timeout=30))
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, -signal.SIGINT)
        self.assertNoneLeft(marker)
        self.assertTrue(wait_for(lambda: not jobs(), timeout=30, interval=0.2), jobs())

    def test_ctrl_c_while_salloc_waits_withdraws_the_request(self):
        job = allocate(4)  # every CPU of the cluster: the next request waits in the queue
        self.addCleanup(subprocess.run, ["scancel", job], capture_output=True)
        proc = self.start(["--slurm-alloc", "-n2", "echo", ":::", "x"])
        def pending():
            return slurm(["squeue", "--noheader", "--states=PENDING", "--format=%i"]).split()
        self.assertTrue(wait_for(pending, timeout=30, interval=0.2))
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, -signal.SIGINT)
        self.assertEqual(out, b"")
        self.assertTrue(wait_for(lambda: jobs() == [job], timeout=30, interval=0.2), jobs())

    def test_end_of_the_allocation_stops_cleanly_and_resume_finishes(self):
        items = [str(i) for i in range(1, 31)]
        ck = self.path("run.db")
        ran = self.path("ran")
        cmd = ["sh", "-c", f'echo "$1" >> {ran}; sleep 0.2; echo "$1"', "sh", ":::"]
        proc, job, _ = self.start_in_allocation(2, ["--slurm", "--checkpoint", ck] + cmd + items)
        self.assertTrue(wait_for(lambda: os.path.exists(ran) and len(lines(self.read("ran"))) >= 6,
                                 timeout=30))
        slurm(["scancel", job])  # as its time limit would
        out, err = proc.communicate(timeout=120)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(f"the Slurm allocation {job} has ended".encode(), err)
        with sqlite3.connect(ck) as db:
            done = {i for (i,) in db.execute("SELECT item FROM results WHERE status = 'ok'")}
        self.assertTrue(done, err)
        p = in_salloc(2, ["--slurm", "--checkpoint", ck, "--resume"] + cmd + items)
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), items)
        runs = lines(self.read("ran"))
        for item in done:
            self.assertEqual(runs.count(item.decode() if isinstance(item, bytes) else item), 1)


class Queued(SlurmTest):
    """A step gets its next items before its running one ends (the round trip through srun is
    hidden): they wait on the agent, and start only when the slot frees."""

    def ran(self):
        return [int(i) for i in lines(self.read("ran"))] if os.path.exists(self.path("ran")) else []

    def test_a_halt_starts_no_queued_item(self):
        # -b 4: items 3 and 4 wait behind the failing item 2 on the one step.
        for when in ("now", "soon"):
            with self.subTest(when=when):
                ran = self.path("ran")
                if os.path.exists(ran):
                    os.unlink(ran)
                p = in_salloc(1, ["--slurm", "-b", "4", "--halt", f"{when},fail=1", "sh", "-c",
                                  f'echo "$1" >> {ran}; sleep 0.2; [ "$1" != 2 ]', "sh", ":::"]
                              + [str(i) for i in range(1, 9)])
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertEqual(self.ran(), [1, 2])

    def test_the_default_batch_queues_items_and_a_failure_starts_none_of_them(self):
        # Quick items make the controller queue the next ones ahead (about a round trip of
        # them); those behind the failing item 30 never start.
        ran = self.path("ran")
        p = in_salloc(1, ["--slurm", "sh", "-c",
                          f'echo "$1" >> {ran}; [ "$1" != 30 ] || {{ sleep 0.3; exit 1; }}',
                          "sh", ":::"] + [str(i) for i in range(1, 61)])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(self.ran(), list(range(1, 31)))

    def test_timeouts_and_start_times_count_from_the_start(self):
        joblog = self.path("log")
        p = in_salloc(1, ["--slurm", "-b", "3", "--timeout", "0.7", "--joblog", joblog,
                          "sleep", ":::", "0.4", "0.4", "0.4"])
        self.assertOk(p)  # 1.2 s of work queued at once, and no item timed out
        rows = [line.split("\t") for line in lines(self.read("log"))[1:]]
        starts = sorted(float(r[2]) for r in rows)
        self.assertTrue(all(b - a >= 0.35 for a, b in zip(starts, starts[1:])), starts)
        self.assertTrue(all(float(r[3]) < 0.7 for r in rows), rows)

    def test_kill_9_then_resume_loses_nothing(self):
        items = [str(i) for i in range(1, 81)]
        ck = self.path("run.db")
        ran = self.path("ran")
        cmd = ["sh", "-c", f'echo "$1" >> {ran}; sleep 0.03; echo "$1"', "sh", ":::"]
        proc, job, env = self.start_in_allocation(
            2, ["--slurm", "--checkpoint", ck, "--checkpoint-every", "1"] + cmd + items)
        self.assertTrue(wait_for(lambda: len(self.ran()) >= 30, timeout=60))
        proc.kill()
        proc.communicate(timeout=60)
        self.assertNoStep(job)
        first_run = set(self.ran())
        with sqlite3.connect(ck) as db:
            done = {int(i) for (i,) in db.execute("SELECT item FROM results")}
        self.assertTrue(done <= first_run, done - first_run)  # none recorded that did not run
        p = subprocess.run([PARMAP, "--slurm", "--checkpoint", ck, "--resume"] + cmd + items,
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, **env))
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), items)
        self.assertEqual(set(self.ran()), set(range(1, 81)))
        for item in done:
            self.assertEqual(self.ran().count(item), 1)  # replayed, not run again


if __name__ == "__main__":
    unittest.main()
