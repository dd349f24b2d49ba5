"""Signals under real conditions: dispositions inherited from nohup and scripts, every signal
that ends a process, job control in a terminal, and an output nobody reads or that closed."""

import errno
import os
import pty
import resource
import select
import signal
import sqlite3
import subprocess
import time

from support import PARMAP, TempDirTest, count_results, lines, pid_alive, start, wait_for


def ignored_signals(status_line):
    """The set of signal numbers in a /proc/PID/status "SigIgn:" line."""
    mask = int(status_line.split()[1], 16)
    return {n for n in range(1, 65) if mask & (1 << (n - 1))}


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


class IgnoredSignals(TempDirTest):
    """A signal ignored when parmap starts stays ignored, in parmap and in its items."""

    # Each item notes that it started, prints the signals it ignores, and takes a while.
    def item(self):
        return ["sh", "-c", f'echo $1 >> {self.path("started")}; grep SigIgn /proc/self/status; '
                'sleep 1', "sh", ":::", "a", "b"]

    def wait_started(self, n=2):
        started = self.path("started")
        return wait_for(lambda: os.path.exists(started) and len(self.read("started").split()) >= n)

    def test_nohup_keeps_sighup_ignored(self):
        proc = subprocess.Popen(["nohup", PARMAP, "-j2"] + self.item(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        self.assertTrue(self.wait_started())
        proc.send_signal(signal.SIGHUP)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, msg=err)
        found = [ignored_signals(line) for line in lines(out)]
        self.assertEqual(len(found), 2)
        for ignored in found:
            self.assertIn(signal.SIGHUP, ignored)

    def test_background_of_a_script_keeps_sigint_and_sigquit_ignored(self):
        # POSIX: a non-interactive shell starts `cmd &` with SIGINT and SIGQUIT ignored, so that
        # Ctrl-C in the terminal reaches the script, not its background jobs.
        pid_file = self.path("pid")
        script = (f'"$0" -j2 "$@" & echo $! > {pid_file}; wait $!; echo "status $?"')
        proc = subprocess.Popen(["sh", "-c", script, PARMAP] + self.item(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        self.assertTrue(self.wait_started())
        pid = int(self.read("pid"))
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGQUIT)
        out, err = proc.communicate(timeout=30)
        out = lines(out)
        self.assertEqual(out[-1], "status 0", msg=err)
        found = [ignored_signals(line) for line in out[:-1]]
        self.assertEqual(len(found), 2)
        for ignored in found:
            self.assertTrue({signal.SIGINT, signal.SIGQUIT} <= ignored, msg=ignored)


class TerminatingSignals(TempDirTest):
    """Every signal that would end parmap ends the run as SIGTERM does: items terminated, the
    checkpoint committed, and parmap dies of that signal, without a core file."""

    NEW = [signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGXCPU,
           signal.SIGXFSZ, signal.SIGVTALRM, signal.SIGPROF]

    @staticmethod
    def words(path):
        with open(path) as f:
            return f.read().split()

    def run_and_signal(self, sig):
        d = self.path(f"sig{int(sig)}")
        os.mkdir(d)
        pids, got, db = f"{d}/pids", f"{d}/got", f"{d}/run.db"
        # Item "done" finishes at once; the others run until stopped, noting the signal.
        script = (f'[ $1 = done ] && exit 0; echo $$ >> {pids}; '
                  f'for s in INT TERM HUP QUIT USR1; do trap "echo $s >> {got}; exit 1" $s; done; '
                  f'sleep 100 & echo $! >> {pids}; wait')

        def limits():
            unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            resource.setrlimit(resource.RLIMIT_CORE, unlimited)

        proc = subprocess.Popen([PARMAP, "--checkpoint", db, "--as-ready", "-j3", "sh", "-c",
                                 script, "sh", ":::", "done", "x", "y"], cwd=d,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=limits)
        self.assertTrue(wait_for(lambda: os.path.exists(pids) and len(self.words(pids)) == 4))
        self.assertTrue(wait_for(lambda: count_results(db) == 1))
        proc.send_signal(sig)
        _, status, _ = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return status, d, pids, got, db

    def test_each_terminating_signal_stops_the_run_like_sigterm(self):
        for sig in self.NEW:
            with self.subTest(signal=sig.name):
                status, d, pids, got, db = self.run_and_signal(sig)
                self.assertTrue(os.WIFSIGNALED(status), msg=status)
                self.assertEqual(os.WTERMSIG(status), sig)
                self.assertFalse(os.WCOREDUMP(status))
                self.assertEqual([f for f in os.listdir(d) if f.startswith("core")], [])
                for pid in map(int, self.words(pids)):
                    self.assertTrue(wait_for(lambda: not pid_alive(pid), timeout=5),
                                    f"{pid} survived")
                # The items got SIGTERM (SIGQUIT would make them dump core, SIGUSR1 may mean
                # something else to them).
                self.assertEqual(sorted(self.words(got)), ["TERM", "TERM"])
                self.assertEqual(count_results(db), 1)

    def test_the_shell_sees_128_plus_n(self):
        # set -m: without job control, a background job would start with SIGQUIT ignored.
        p = subprocess.run(["bash", "-c", f"set -m; {PARMAP} sleep ::: 30 & sleep 0.5; "
                            "kill -QUIT $!; wait $!; echo $?"], capture_output=True, timeout=30)
        self.assertEqual(lines(p.stdout)[-1], "131")


# Prints "status=N"; written so that the terminal's echo of the command does not contain it.
ECHO_STATUS = "echo 'st''atus='$?"


class Terminal:
    """An interactive bash with job control on a pseudo-terminal."""

    def __init__(self, cwd):
        env = dict(os.environ, PS1="$ ", TERM="dumb", HISTFILE="/dev/null")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(cwd)
            os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)
        self.output = b""
        self.expect(b"$ ")

    def send(self, text):
        os.write(self.fd, text.encode() if isinstance(text, str) else text)

    def read_some(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if r:
            try:
                self.output += os.read(self.fd, 65536)
            except OSError as e:
                if e.errno != errno.EIO:
                    raise

    def expect(self, needle, timeout=30):
        """Waits until `needle` appears in the output after what expect() consumed last."""
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen; output: {self.output[-2000:]!r}")
            self.read_some(0.1)
        at = self.output.index(needle) + len(needle)
        seen, self.output = self.output[:at], self.output[at:]
        return seen

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


class JobControl(TempDirTest):
    def setUp(self):
        super().setUp()
        self.term = Terminal(self.dir)
        self.addCleanup(self.term.close)

    def pids(self):
        path = self.path("pids")
        return [int(p) for p in self.read("pids").split()] if os.path.exists(path) else []

    def test_ctrl_z_stops_the_items_and_fg_continues_them_without_eating_the_timeout(self):
        # Items of 2 s under a 3 s --timeout, stopped for 4 s: the stopped time does not count.
        pids = self.path("pids")
        self.term.send(f"{PARMAP} -j2 --timeout 3 sh -c 'echo $$ >> {pids}; exec sleep 2' sh "
                       f"::: a b\n")
        self.assertTrue(wait_for(lambda: len(self.pids()) == 2))
        self.term.send(b"\x1a")  # Ctrl-Z
        self.term.expect(b"Stopped")
        for pid in self.pids():
            self.assertTrue(wait_for(lambda: proc_state(pid) == "T"), f"item {pid} runs on")
        time.sleep(4)
        for pid in self.pids():
            self.assertEqual(proc_state(pid), "T")
        self.term.send(f"fg\n{ECHO_STATUS}\n")  # $? of fg: the job's exit status
        seen = self.term.expect(b"status=", timeout=60)
        self.assertEqual(self.term.expect(b"\n").strip(), b"0", msg=seen)

    def test_a_background_parmap_reading_the_terminal_stops_instead_of_spinning(self):
        self.term.send(f"{PARMAP} echo got & echo 'p''id='$!\n")
        self.term.expect(b"pid=")
        pid = int(self.term.expect(b"\n").strip())
        self.assertTrue(wait_for(lambda: proc_state(pid) == "T"), proc_state(pid))
        time.sleep(0.5)
        with open(f"/proc/{pid}/stat") as f:
            ticks = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13])
        self.assertLess(ticks, 50)  # CPU ticks (utime + stime): stopped, not spinning
        self.term.send("fg\n")
        time.sleep(0.3)
        self.term.send("x\n\x04")  # an item, then end of input
        self.term.expect(b"got x")
        self.term.send(ECHO_STATUS + "\n")
        self.term.expect(b"status=")
        self.assertEqual(self.term.expect(b"\n").strip(), b"0")


class StalledOutput(TempDirTest):
    def test_terminating_signal_while_nobody_reads_stdout(self):
        fifo = self.path("fifo")
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # there, but never reading
        self.addCleanup(os.close, reader)
        db = self.path("run.db")
        started = self.path("started")
        with open(fifo, "wb") as out:
            proc = start(["-j2", "--kill-grace", "0.5", "--checkpoint", db, "sh", "-c",
                          f'echo $1 >> {started}; head -c 100000 /dev/zero | tr "\\0" x; '
                          'echo " end $1"', "sh", ":::"] + [str(i) for i in range(1, 51)],
                         stdout=out)
        # The pipe is full and items are waiting behind it.
        self.assertTrue(wait_for(lambda: os.path.exists(started) and
                                 len(self.read("started").split()) >= 4, timeout=20))
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(proc.returncode, -signal.SIGTERM)
        data = b""
        while True:
            try:
                chunk = os.read(reader, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        recorded = [int(r[0]) for r in sqlite3.connect(db).execute("SELECT item FROM results")]
        # Only what was written whole is recorded.
        for seq in recorded:
            self.assertIn(b"x end %d\n" % seq, data, msg=recorded)


class ClosedOutput(TempDirTest):
    def test_a_reader_that_left_is_noticed_while_items_are_silent(self):
        t0 = time.monotonic()
        p = subprocess.run(["bash", "-c", f"{PARMAP} sh -c 'sleep $1; echo $1' sh ::: 0 30 30 "
                            "| head -1; echo ${PIPESTATUS[0]}"], capture_output=True, timeout=60)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(lines(p.stdout), ["0", "141"], msg=p.stderr)

    def test_a_file_as_stdout_is_not_watched(self):
        with open(self.path("out"), "wb") as out:
            p = subprocess.run([PARMAP, "sh", "-c", "sleep 0.2; echo $1", "sh", ":::", "a", "b"],
                               stdout=out, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(p.returncode, 0, msg=p.stderr)
        self.assertEqual(lines(self.read("out")), ["a", "b"])
