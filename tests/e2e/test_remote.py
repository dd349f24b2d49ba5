"""Remote hosts (-S): items run on the fixture's ssh hosts through one `parmap --agent` per
host. The hosts are tests/fixtures/ssh-hosts (network and PID namespaces on this machine,
started once for this file); they share this machine's filesystem, so a test can look at what
an item left "remotely" and at the processes each host runs.

Needs root (the fixture makes namespaces and a user); skipped with a message otherwise.
"""

import json
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from support import PARMAP, TempDirTest, lines, live_processes, run, start, wait_for

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "ssh-hosts")
HOSTS = ["host1", "host2", "host3"]
D = None  # the fixture's folder
AGENT = None  # parmap as the hosts run it (a wrapper that routes sanitizer reports)
USER = "parmaptest"


def setUpModule():
    global D, AGENT
    if os.geteuid() != 0:
        raise unittest.SkipTest("the ssh-hosts fixture needs root (network namespaces, a user)")
    D = tempfile.mkdtemp(prefix="parmap-ssh-")
    env = dict(os.environ, SSH_HOSTS_DIR=D, SSH_HOSTS_PORT=os.environ.get("SSH_HOSTS_PORT", "2299"))
    p = subprocess.run([FIXTURE, "up", str(len(HOSTS))], env=env, capture_output=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        shutil.rmtree(D, True)
        raise unittest.SkipTest("the ssh-hosts fixture did not start: "
                                + p.stderr.decode(errors="replace").strip()[-500:])
    # The hosts run this parmap as the fixture's user: a copy it can read, and a wrapper that
    # sends the agent's sanitizer reports (if any) where tearDownModule collects them.
    os.makedirs(os.path.join(D, "bin"))
    os.makedirs(os.path.join(D, "reports"), mode=0o1777)
    os.chmod(os.path.join(D, "reports"), 0o1777)
    shutil.copy(PARMAP, os.path.join(D, "bin", "parmap"))
    AGENT = write_script("agent", f"""#!/bin/sh
ASAN_OPTIONS=log_path={D}/reports/asan:detect_leaks=0:halt_on_error=1 \\
UBSAN_OPTIONS=log_path={D}/reports/ubsan:print_stacktrace=1:halt_on_error=1 \\
exec {D}/bin/parmap "$@"
""")
    os.chmod(os.path.join(D, "bin"), 0o755)


def tearDownModule():
    if D is None:
        return
    reports = os.path.join(D, "reports")
    found = os.listdir(reports) if os.path.isdir(reports) else []
    # Reports of the agents go where the build's sanitizer check looks (it fails the suite).
    for opt in os.environ.get("ASAN_OPTIONS", "").split(":"):
        if opt.startswith("log_path=") and found:
            target = os.path.dirname(opt[len("log_path="):])
            os.makedirs(target, exist_ok=True)
            for name in found:
                shutil.copy(os.path.join(reports, name), os.path.join(target, "agent-" + name))
    subprocess.run([FIXTURE, "down"], env=dict(os.environ, SSH_HOSTS_DIR=D),
                   capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    shutil.rmtree(D, True)


def write_script(name, text):
    path = os.path.join(D, "bin", name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def remote(args, **kwargs):
    """Runs parmap against the fixture's hosts (args name them with -S)."""
    return run(["--ssh", f"ssh -F {D}/ssh_config", "--remote-parmap", AGENT] + args, **kwargs)


def start_remote(args, **kwargs):
    return start(["--ssh", f"ssh -F {D}/ssh_config", "--remote-parmap", AGENT] + args, **kwargs)


def host_processes(marker):
    """Live processes of the fixture's user whose command line holds `marker`."""
    uid = pwd.getpwnam(USER).pw_uid
    return live_processes(lambda u, argv: u == uid and marker.encode() in b" ".join(argv))


def shared_dir(test):
    """A folder the hosts' user can write in (the filesystem is shared with them)."""
    path = os.path.join(test.dir, "shared")
    os.makedirs(path, exist_ok=True)
    os.chmod(test.dir, 0o755)
    os.chmod(path, 0o777)
    return path


class RemoteTest(TempDirTest):
    def assertNoneLeft(self, marker):
        self.assertTrue(wait_for(lambda: not host_processes(marker), timeout=15),
                        f"left running on a host: {host_processes(marker)}")

    def assertCtrlCLeavesNone(self, args, marker, running):
        """Starts parmap with args, waits until `running` processes of `marker` run on the hosts,
        sends SIGINT: parmap dies of it and nothing is left running there."""
        proc = start_remote(args)
        self.assertTrue(wait_for(lambda: len(host_processes(marker)) == running, timeout=30))
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, -signal.SIGINT)
        self.assertNoneLeft(marker)


class Running(RemoteTest):
    def test_items_run_on_every_host_in_input_order(self):
        items = [str(i) for i in range(1, 31)]
        joblog = self.path("log")
        p = remote(["-S", ",".join(HOSTS), "-j2", "--joblog", joblog, "sh", "-c",
                    'echo "$1 $(hostname) $PARMAP_HOST $PARMAP_SEQ"', "sh", ":::"] + items)
        self.assertOk(p)
        out = [line.split() for line in lines(p.stdout)]
        self.assertEqual([o[0] for o in out], items)
        self.assertEqual({o[1] for o in out}, set(HOSTS))
        self.assertTrue(all(o[1] == o[2] for o in out), out)  # PARMAP_HOST names the host
        self.assertEqual([o[3] for o in out], items)
        hosts = {line.split("\t")[1] for line in lines(self.read("log"))[1:]}
        self.assertEqual(hosts, set(HOSTS))

    def test_json_and_local_slots_beside_remote_ones(self):
        p = remote(["-S", ":,host1", "-j2", "--json", "sh", "-c", 'echo $PARMAP_HOST', "sh",
                    ":::"] + [str(i) for i in range(12)])
        self.assertOk(p)
        records = [json.loads(line) for line in lines(p.stdout)]
        self.assertEqual([r["seq"] for r in records], list(range(1, 13)))
        for r in records:
            self.assertEqual(r["stdout"].strip(), r.get("host", ":"))
        self.assertEqual({r.get("host", ":") for r in records}, {":", "host1"})

    def test_checkpoint_resume_across_hosts(self):
        ck = self.path("run.db")
        shared = shared_dir(self)
        cmd = ["sh", "-c", f'echo "$1" >> {shared}/ran; echo "$1"', "sh"]
        p = remote(["-S", ",".join(HOSTS), "--checkpoint", ck] + cmd + [":::"] + list("abcdef"))
        self.assertOk(p)
        p = remote(["-S", ",".join(HOSTS), "--checkpoint", ck, "--resume"] + cmd
                   + [":::"] + list("abcdefgh"))
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), list("abcdefgh"))
        self.assertEqual(sorted(lines(self.read("shared/ran"))), list("abcdefgh"))  # once each
        with sqlite3.connect(ck) as db:
            hosts = {h for (h,) in db.execute("SELECT host FROM results")}
        self.assertTrue(hosts <= set(HOSTS) and hosts, hosts)

    def test_report_draws_a_row_per_host_and_slot_and_rebuilds_the_joblog(self):
        ck, live, rebuilt, page = (self.path(n) for n in ("run.db", "live", "rebuilt", "r.html"))
        p = remote(["-S", "host1,host2", "-j2", "--checkpoint", ck, "--joblog", live, "sh", "-c",
                    'sleep 0.2; echo "$1"', "sh", ":::"] + [str(i) for i in range(8)])
        self.assertOk(p)
        self.assertOk(run(["--checkpoint", ck, "--report", "--joblog", rebuilt]))
        want, got = lines(self.read("live")), lines(self.read("rebuilt"))
        self.assertEqual(sorted(got[1:], key=lambda l: int(l.split("\t")[0])), want[1:])
        self.assertEqual({line.split("\t")[1] for line in got[1:]}, {"host1", "host2"})
        self.assertOk(run(["--checkpoint", ck, "--report", "--html", page]))
        html = self.read("r.html").decode()
        self.assertIn("<h2>Hosts</h2>", html)
        # Four rows, each named by its host: no idle local row for a slot that ran remotely.
        self.assertEqual(html.count('<g class="lane">'), 4, html)
        for host in ("host1", "host2"):
            self.assertEqual(html.count(f">{host} slot "), 2, html)

    def test_output_bytes_pass_unchanged(self):
        data = bytes(range(256)) * 300 + b"no newline at the end"
        src = self.write("blob", data)
        os.chmod(self.dir, 0o755)
        p = remote(["-S", "host2", "cat", ":::", src])
        self.assertOk(p)
        self.assertEqual(p.stdout, data)

    def test_failure_stops_the_run_with_the_items_status(self):
        p = remote(["-S", "host1", "sh", "-c", 'echo "$1"; exit "$1"', "sh", ":::", "0", "3", "0"])
        self.assertEqual(p.returncode, 3)
        self.assertIn(b"item 2 (3) on host1 failed: exit status 3", p.stderr)


class Processes(RemoteTest):
    def test_timeout_kills_the_remote_process_group(self):
        marker = f"pm-timeout-{os.getpid()}"
        t0 = time.monotonic()
        p = remote(["-S", "host1", "--timeout", "0.5", "sh", "-c",
                    f"sleep 100 & exec -a {marker} sleep 100", "sh", ":::", "x"])
        self.assertEqual(p.returncode, 124, p.stderr)
        self.assertLess(time.monotonic() - t0, 20)
        self.assertNoneLeft("sleep 100")

    def test_agent_started_with_signals_ignored_still_times_out_items(self):
        # A wrapper that ignores TERM/INT/HUP: the agent's items must not inherit that.
        agent = write_script("agent-ign", f"#!/bin/sh\ntrap '' TERM INT HUP\nexec {AGENT} \"$@\"\n")
        t0 = time.monotonic()
        p = run(["--ssh", f"ssh -F {D}/ssh_config", "--remote-parmap", agent, "-S", "host2",
                 "--timeout", "0.3", "--kill-grace", "30", "sleep", ":::", "101"])
        self.assertEqual(p.returncode, 124, p.stderr)
        self.assertLess(time.monotonic() - t0, 15)  # SIGTERM did it, not SIGKILL after 30 s
        self.assertNoneLeft("sleep 101")

    def test_ctrl_c_leaves_no_remote_process(self):
        self.assertCtrlCLeavesNone(["-S", ",".join(HOSTS), "-j2", "sleep", ":::"] + ["102"] * 6,
                                   "sleep 102", 6)

    def test_closed_stdout_stops_remote_items(self):
        # A remote item's output is written when it ends: items 1 and 2 end at once, the write
        # of 2 finds the reader gone, and 3 and 4 are still sleeping on the hosts.
        p = subprocess.run(
            ["bash", "-c", f"{PARMAP} --ssh 'ssh -F {D}/ssh_config' --remote-parmap {AGENT} "
                           f"-S host1,host3 -j2 sh -c 'echo $1; [ $1 -le 2 ] || sleep 103' sh "
                           "::: 1 2 3 4 | (sleep 1; head -1); echo ${PIPESTATUS[0]}"],
            capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(lines(p.stdout), ["1", "141"])
        self.assertNoneLeft("sleep 103")

    def test_a_host_lost_mid_run_loses_nothing(self):
        shared = shared_dir(self)
        items = [str(i) for i in range(1, 31)]
        proc = start_remote(["-S", ",".join(HOSTS), "-j2", "sh", "-c",
                             f'echo "$1 $(hostname)" >> {shared}/started; sleep 0.4; echo "$1"',
                             "sh", ":::"] + items)
        started = os.path.join(shared, "started")
        def host2_started():
            with open(started) as f:
                return "host2" in f.read()
        self.assertTrue(wait_for(lambda: os.path.exists(started) and host2_started(), timeout=30))
        with open(os.path.join(D, "pids", "sshd-pmt2.pid")) as f:
            os.kill(int(f.read()), signal.SIGKILL)  # the host is gone, with all it ran
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(lines(out), items)  # each once, in order
        self.assertIn(b"host2: connection lost", err)
        self.assertNoneLeft(f"{shared}/started")
        subprocess.run([FIXTURE, "down"], env=dict(os.environ, SSH_HOSTS_DIR=D, SSH_HOSTS_KEEP="1"),
                       capture_output=True, timeout=120)
        setUpModuleAgain()


def setUpModuleAgain():
    """Brings the fixture back after a test took a host down (same folder, same user)."""
    env = dict(os.environ, SSH_HOSTS_DIR=D, SSH_HOSTS_PORT=os.environ.get("SSH_HOSTS_PORT", "2299"))
    subprocess.run([FIXTURE, "up", str(len(HOSTS))], env=env, capture_output=True, timeout=300,
                   check=True, stdin=subprocess.DEVNULL)


def gnu_parallel(args):
    """GNU parallel itself on the same hosts (None when it is not installed)."""
    if shutil.which("parallel") is None:
        return None
    return subprocess.run(["parallel"] + args, env=dict(os.environ, PARALLEL_SSH=f"ssh -F {D}/ssh_config"),
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)


class OnAll(RemoteTest):
    def test_every_item_runs_on_every_host_as_in_gnu_parallel(self):
        cmd = "echo {} $(hostname)"
        p = remote(["--onall", "-S", "host1,host2,host3", "--tag", cmd, ":::", "a", "b"])
        self.assertOk(p)
        # Input order, each item's hosts in -S order; --tag names the host, as GNU's does.
        expected = [f"{h}\t{i} {h}" for i in "ab" for h in HOSTS]
        self.assertEqual(lines(p.stdout), expected)
        g = gnu_parallel(["--onall", "-S", "host1,host2,host3", "--tag", cmd, ":::", "a", "b"])
        if g is not None:
            self.assertEqual(g.returncode, 0, g.stderr)
            self.assertEqual(sorted(lines(g.stdout)), sorted(expected))  # GNU groups by host

    def test_nonall_runs_the_command_once_per_host_without_arguments_or_input(self):
        p = remote(["--nonall", "-S", "host2,:", "--tag", "sh", "-c",
                    'echo "$# $PARMAP_HOST $PARALLEL_SSHLOGIN"; cat'], input=b"not read\n")
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), [":\t0 : :", "host2\t0 host2 host2"])
        g = gnu_parallel(["--nonall", "-S", "host2,:", "--tag", "echo $PARALLEL_SSHLOGIN"])
        if g is not None:
            self.assertEqual(sorted(lines(g.stdout)), [":\t:", "host2\thost2"])
        p = remote(["--nonall", "-S", "host1", "echo", ":::", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"--nonall runs the command once on each host and takes no input", p.stderr)

    def test_an_unreachable_hosts_copies_fail_and_the_others_run(self):
        p = remote(["--onall", "--keep-going", "-S", "host1,parmaptest@10.200.99.2", "sh", "-c",
                    'echo "$1 $PARMAP_HOST"', "sh", ":::", "a", "b"], timeout=180)
        self.assertEqual(p.returncode, 2, p.stderr)  # two failed items
        self.assertEqual(lines(p.stdout), ["a host1", "b host1"])
        self.assertIn(b"parmaptest@10.200.99.2: not run there", p.stderr)
        self.assertIn(b"item 2 (a) on parmaptest@10.200.99.2 failed: exit status 255", p.stderr)

    def test_resume_replays_each_hosts_result_and_refuses_other_hosts(self):
        shared = shared_dir(self)
        db = self.path("run.db")
        cmd = (f'echo "$1 $PARMAP_HOST" >> {shared}/ran; echo "$1"; '
               f'[ "$1 $PARMAP_HOST" != "b host2" ] || [ -e {shared}/fixed ]')
        args = ["--onall", "--keep-going", "--checkpoint", db, "sh", "-c", cmd, "sh", ":::", "a", "b"]
        p = remote(["-S", "host1,host2"] + args)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(lines(p.stdout), ["a", "a", "b", "b"])
        open(os.path.join(shared, "fixed"), "w").close()
        os.unlink(os.path.join(shared, "ran"))
        p = remote(["-S", "host1,host2", "--resume", "--retry-failed", "--json"] + args)
        self.assertOk(p)
        results = [json.loads(line) for line in lines(p.stdout)]
        self.assertEqual([(r["item"], r["host"], r["replayed"]) for r in results],
                         [("a", "host1", True), ("a", "host2", True), ("b", "host1", True),
                          ("b", "host2", False)])
        with open(os.path.join(shared, "ran")) as f:
            self.assertEqual(f.read(), "b host2\n")  # only the failed copy ran again
        p = remote(["-S", "host2,host1", "--resume"] + args)
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"resume an --onall run with the same hosts, in the same order", p.stderr)

    def test_timeout_and_ctrl_c_kill_every_hosts_group(self):
        p = remote(["--onall", "-S", "host1,host3", "--timeout", "0.5", "--keep-going",
                    "sleep", ":::", "105"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertNoneLeft("sleep 105")
        self.assertCtrlCLeavesNone(["--onall", "-S", "host1,host2,host3", "sleep", ":::", "106"],
                                   "sleep 106", 3)

    def test_an_item_lost_with_its_connection_runs_again_on_its_host(self):
        shared = shared_dir(self)
        nap = f"sleep 60.{os.getpid() % 997}"
        cmd = (f'echo "$1 $PARMAP_HOST" >> {shared}/ran; '
               f'if [ $PARMAP_HOST = host2 ] && [ ! -e {shared}/once ]; then '
               f'touch {shared}/once; {nap}; fi; echo "$1"')
        proc = start_remote(["--onall", "-S", "host1,host2", "sh", "-c", cmd, "sh", ":::", "a", "b"])
        self.assertTrue(wait_for(lambda: host_processes(nap), timeout=30))
        # The connection to host2 drops: its ssh client dies (the agent's input closes there).
        transports = live_processes(lambda u, argv: argv[0].endswith(b"ssh") and b"host2" in argv
                                    and any(b"--agent" in a for a in argv))
        self.assertTrue(transports)
        for pid in transports:
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(lines(out), ["a", "a", "b", "b"])  # each copy once, in order
        self.assertIn(b"will run again when it is back", err)
        with open(os.path.join(shared, "ran")) as f:
            self.assertEqual(sorted(f.read().splitlines()),
                             ["a host1", "a host2", "a host2", "b host1", "b host2"])
        self.assertNoneLeft(nap)


class Files(RemoteTest):
    NAMES = ["a b.txt", "it's \"q\".txt", "new\nline.txt", "-dash.txt", "ünï.txt"]

    def test_transfer_return_cleanup_round_trip_odd_names(self):
        for i, name in enumerate(self.NAMES):
            self.write(name, f"content {i} of {name}\n")
        workdir = f"pm-wd-{os.getpid()}"
        home = pwd.getpwnam(USER).pw_dir
        p = remote(["-S", "host1,host2", "--workdir", workdir, "--transfer", "--return", "{}.out",
                    "--cleanup", "sh", "-c", 'tr a-z A-Z < "$1" > "$1.out"', "sh", ":::"]
                   + self.NAMES, cwd=self.dir)
        self.assertOk(p)
        for i, name in enumerate(self.NAMES):
            # tr upper-cases ASCII only, as bytes.upper() does
            self.assertEqual(self.read(name + ".out"), f"content {i} of {name}\n".encode().upper())
            self.assertFalse(os.path.exists(os.path.join(home, workdir, name)), name)
            self.assertFalse(os.path.exists(os.path.join(home, workdir, name + ".out")), name)

    def test_without_cleanup_files_stay_and_basefile_arrives_once(self):
        self.write("base.cfg", "base\n")
        self.write("x y", "item\n")
        workdir = f"pm-wd2-{os.getpid()}"
        home = pwd.getpwnam(USER).pw_dir
        p = remote(["-S", "host3", "--workdir", workdir, "--basefile", "base.cfg", "--transfer",
                    "sh", "-c", 'cat base.cfg "$1"', "sh", ":::", "x y"], cwd=self.dir)
        self.assertOk(p)
        self.assertEqual(p.stdout, b"base\nitem\n")
        with open(os.path.join(home, workdir, "x y")) as f:
            self.assertEqual(f.read(), "item\n")
        shutil.rmtree(os.path.join(home, workdir))

    def test_temporary_workdir_is_removed_and_missing_return_is_reported(self):
        p = remote(["-S", "host1", "--workdir", "...", "--return", "nothing-{}", "sh", "-c",
                    'pwd > "$1.where"; cat "$1.where"', "sh", ":::", "w"], cwd=self.dir)
        self.assertOk(p)
        where = p.stdout.decode().strip()
        self.assertIn("parmap-", where)
        self.assertTrue(wait_for(lambda: not os.path.exists(where), timeout=10), where)
        self.assertIn(b"cannot return nothing-w", p.stderr)


class Refusals(RemoteTest):
    def test_wrong_agent_version_is_refused_naming_both(self):
        fake = write_script("old-agent", "#!/bin/sh\necho 'PARMAP-AGENT 99 9.9.9'\nexec cat >/dev/null\n")
        p = run(["--ssh", f"ssh -F {D}/ssh_config", "--remote-parmap", fake, "-S", "host1",
                 "echo", ":::", "x"], timeout=120)
        self.assertEqual(p.returncode, 255)
        err = p.stderr.decode()
        self.assertIn("9.9.9 (agent protocol 99)", err)
        self.assertRegex(err, r"this one is \S+ \(protocol \d+\)")
        self.assertIn("host1", err)

    def test_missing_agent_and_unreachable_host(self):
        p = run(["--ssh", f"ssh -F {D}/ssh_config", "--remote-parmap", "/nonexistent/parmap",
                 "-S", "host1", "echo", ":::", "x"], timeout=120)
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"parmap was not found there", p.stderr)
        p = remote(["-S", "parmaptest@10.200.99.2", "echo", ":::", "x"], timeout=120)
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"no host to run on", p.stderr)

    def test_bad_sshlogin_is_a_usage_error(self):
        p = run(["-S", "0/host1", "echo", ":::", "x"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"--sshlogin '0/host1'", p.stderr)


class ShellOnHost(RemoteTest):
    def test_bin_sh_being_bash_there(self):
        # root on host1, in a mount namespace where /bin/sh is bash: a shell-mode command still
        # gets the item as data, and an exported bash function given with --env works.
        agent = write_script("agent-bash", f"""#!/bin/sh
exec unshare --mount sh -c 'mount --bind /bin/bash /bin/sh && exec "$0" "$@"' {AGENT} "$@"
""")
        env = dict(os.environ)
        env["BASH_FUNC_shout%%"] = "() {  echo \"<$1>\" | tr a-z A-Z\n}"
        p = run(["--ssh", f"ssh -F {D}/ssh_config", "--remote-parmap", agent, "-S", "root@host1",
                 "--env", "shout", "shout {}; echo $BASH_VERSION | cut -c1", ":::", "$(touch pwned)"],
                env=env, cwd=self.dir, timeout=120)
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["<$(TOUCH PWNED)>", "5"])
        self.assertFalse(os.path.exists(os.path.join(self.dir, "pwned")))


if __name__ == "__main__":
    unittest.main()
