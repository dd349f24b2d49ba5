"""Helpers for parmap's end-to-end tests: run the real binary as a user would."""

import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

PARMAP = os.environ.get("PARMAP") or shutil.which("parmap")
if not PARMAP:
    raise SystemExit("set PARMAP to the parmap binary")


def run(args, input=None, timeout=120, env=None, cwd=None, stdin=None):
    """Runs parmap with args (a list) and returns the CompletedProcess (bytes)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    kwargs = {}
    if input is not None:
        kwargs["input"] = input if isinstance(input, bytes) else input.encode()
    elif stdin is not None:
        kwargs["stdin"] = stdin
    else:
        kwargs["stdin"] = subprocess.DEVNULL
    return subprocess.run([PARMAP] + list(args), capture_output=True, timeout=timeout,
                          env=full_env, cwd=cwd, **kwargs)


GNU = shutil.which("parallel")
needs_gnu = unittest.skipUnless(GNU, "needs GNU parallel")


def gnu(args, input=None, cwd=None, env=None, timeout=120):
    """Runs GNU parallel (without its citation notice) and returns the CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    kwargs = {"input": input.encode() if isinstance(input, str) else input}
    if input is None:
        kwargs = {"stdin": subprocess.DEVNULL}
    return subprocess.run([GNU, "--will-cite"] + list(args), capture_output=True, cwd=cwd,
                          env=full_env, timeout=timeout, **kwargs)


def start(args, cwd=None, env=None, **popen_kwargs):
    """Starts parmap in the background (its own session, so signals reach only it)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
    popen_kwargs.setdefault("stdout", subprocess.PIPE)
    popen_kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([PARMAP] + list(args), cwd=cwd, env=full_env,
                            start_new_session=True, **popen_kwargs)


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except FileNotFoundError:
        return False


def live_processes(keep):
    """PIDs of the live processes (zombies left out) for which keep(uid, argv) is true; argv is
    a list of bytes."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and keep(uid, argv):
            found.append(int(pid))
    return found


def wait_for(predicate, timeout=10.0, interval=0.02):
    """Polls predicate until true; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def count_results(db):
    """Rows in a checkpoint's results table, as another process sees it; -1 if unreadable."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute("SELECT count(*) FROM results").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return -1


def lines(data):
    return data.decode(errors="surrogateescape").splitlines()


class TempDirTest(unittest.TestCase):
    """A test with a fresh directory in self.dir."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="parmap-e2e-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data, mode=0o644):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        os.chmod(p, mode)
        return p

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def assertOk(self, proc):
        self.assertEqual(proc.returncode, 0, msg=proc.stderr.decode(errors="replace"))
