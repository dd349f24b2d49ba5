"""README's nightly cron job, run as written (with `mail` recorded instead of sent): it mails
the report when items fail, and nothing when all succeed or when the previous run still holds
the lock."""

import fcntl
import os
import re
import subprocess
import unittest

from support import PARMAP, TempDirTest

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def cron_command():
    """The command of README's crontab line (the five schedule fields removed)."""
    with open(README, encoding="utf-8") as f:
        block = re.search(r"```cron\n(.*?)\n```", f.read(), re.S).group(1)
    return block.split(None, 5)[5]


class CronExample(TempDirTest):
    def setUp(self):
        super().setUp()
        bin_dir = self.path("bin")
        os.mkdir(bin_dir)
        os.symlink(PARMAP, os.path.join(bin_dir, "parmap"))
        self.mails = self.path("mails")
        self.write("bin/mail", f'#!/bin/sh\n{{ echo "mail $*"; cat; }} >> {self.mails}\n', 0o755)
        self.write("ingest.sh", '#!/bin/sh\necho "ingested $1"; [ "$1" != bad ]\n', 0o755)
        self.env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"])
        self.command = cron_command().replace("/srv/data", self.dir)

    def cron(self):
        return subprocess.run(["sh", "-c", self.command], env=self.env, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=60)

    def mailed(self):
        return self.read("mails").decode() if os.path.exists(self.mails) else ""

    def test_failures_are_mailed(self):
        self.write("todo.txt", "a\nbad\nc\n")
        self.cron()
        self.assertIn('mail -s ingest failures ops@example.com', self.mailed())
        self.assertIn("1 failed", self.mailed())

    def test_a_good_night_mails_nothing(self):
        self.write("todo.txt", "a\nb\n")
        p = self.cron()
        self.assertEqual(p.returncode, 0, msg=p.stderr)
        self.assertEqual(self.mailed(), "")
        self.assertEqual(self.read("ingest.out"), b"ingested a\ningested b\n")

    def test_the_previous_run_still_going_mails_nothing(self):
        self.write("todo.txt", "a\nbad\n")
        # The previous run's lock, held here as flock(1) holds it.
        lock = os.open(self.path(".nightly.lock"), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            p = self.cron()
        finally:
            os.close(lock)
        self.assertEqual(p.returncode, 0, msg=p.stderr)
        self.assertEqual(self.mailed(), "")
        self.assertFalse(os.path.exists(self.path("nightly.db")))


if __name__ == "__main__":
    unittest.main()
