"""An output over SQLite's 1 GB value limit is stored in chunks and replays like any other.
In a file of its own: it costs about 3.3 GB of disk at its peak (spill file, WAL, database) and
most of a minute on a busy disk, so ctest runs it beside the other files."""

import hashlib
import os
import resource
import shutil
import sqlite3
import subprocess
import unittest

from support import PARMAP, TempDirTest


def zeros_sha256(n):
    h = hashlib.sha256()
    block = bytes(1 << 20)
    while n > 0:
        h.update(block[:min(n, len(block))])
        n -= len(block)
    return h.hexdigest()


class HugeOutput(TempDirTest):
    SIZE = 1_000_000_001  # one byte over SQLite's limit of 1 000 000 000 bytes in one value

    def test_stored_in_chunks_and_replayed(self):
        free = shutil.disk_usage(self.dir).free
        if free < 4 * self.SIZE:
            self.skipTest(f"needs {4 * self.SIZE} bytes free in {self.dir}, has {free}")
        self.db = self.path("run.db")
        self.marker = self.path("ran")
        env = {"TMPDIR": self.dir}
        cmd = ["--checkpoint", self.db, "--resume", "sh", "-c",
               f'head -c {self.SIZE} /dev/zero; touch {self.marker}', "sh", ":::", "big"]
        with open(os.devnull, "wb") as null:
            p = subprocess.run([PARMAP] + cmd, stdout=null, stderr=subprocess.PIPE,
                               env=dict(os.environ, **env), timeout=600)
        self.assertEqual(p.returncode, 0, msg=p.stderr)
        self.assertEqual(p.stderr, b"")
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        chunks, stored = con.execute(
            "SELECT count(*), sum(length(bytes)) FROM output_chunks").fetchone()
        con.close()
        self.assertEqual(stored, self.SIZE)
        self.assertGreater(chunks, 1)
        os.unlink(self.marker)
        # The resume replays it (nothing runs), streamed to the reader.
        proc = subprocess.Popen([PARMAP] + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, **env))
        h = hashlib.sha256()
        total = 0
        for block in iter(lambda: proc.stdout.read(1 << 20), b""):
            total += len(block)
            h.update(block)
        err = proc.stderr.read()
        proc.wait(timeout=600)
        self.assertEqual(proc.returncode, 0, msg=err)
        self.assertEqual(total, self.SIZE)
        self.assertEqual(h.hexdigest(), zeros_sha256(self.SIZE))
        self.assertFalse(os.path.exists(self.marker), "the item ran again")
        # Memory stayed bounded: the output was streamed, never held whole (the bound leaves
        # room for ASan's quarantine of freed memory, 256 MB).
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        self.assertLess(peak_kb, 600 * 1024)



if __name__ == "__main__":
    unittest.main()
