"""Bad input: huge lines, NUL bytes, invalid UTF-8, closed or broken descriptors."""

import json
import os
import subprocess

from support import PARMAP, TempDirTest, lines, run


class BadInput(TempDirTest):
    def test_huge_line_fails_that_item_only(self):
        huge = b"x" * 5_000_000
        p = run(["--keep-going", "sh", "-c", 'echo ${#1}', "sh"], input=b"short\n" + huge + b"\nok\n")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(lines(p.stdout), ["5", "2"])
        self.assertIn(b"item 2 not run: an argument is 5000000 bytes long", p.stderr)
        self.assertIn(b"131071", p.stderr)

    def test_huge_line_fails_fast_with_126(self):
        p = run(["echo"], input=b"y" * 200_000 + b"\n")
        self.assertEqual(p.returncode, 126)

    def test_line_at_the_limit_runs(self):
        item = b"z" * 131071
        p = run(["sh", "-c", 'printf %s "$1" | wc -c', "sh"], input=item + b"\n")
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["131071"])

    def test_nul_byte_in_line_mode(self):
        p = run(["--keep-going", "echo"], input=b"a\x00b\nfine\n")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(lines(p.stdout), ["fine"])
        self.assertIn(b"NUL byte", p.stderr)
        self.assertIn(b"-0", p.stderr)

    def test_invalid_utf8_items_pass_byte_for_byte(self):
        item = b"\xff\xfe caf\xe9 \xc3\x28"
        p = run(["printf", "%s"], input=item + b"\n")
        self.assertOk(p)
        self.assertEqual(p.stdout, item)

    def test_crlf_is_kept(self):
        p = run(["printf", "<%s>"], input=b"a\r\n")
        self.assertEqual(p.stdout, b"<a\r>")

    def test_closed_stdin_and_stdout_descriptors(self):
        # parmap started with fd 0, 1 and 2 closed must not hand its pipes to children as them.
        p = subprocess.run(["bash", "-c", f"{PARMAP} sh -c 'echo ok > {self.path('out')}' ::: a <&- >&- 2>&-; echo $?"],
                           capture_output=True, timeout=30)
        self.assertEqual(lines(p.stdout), ["0"])
        self.assertEqual(self.read("out"), b"ok\n")

    def test_directory_as_checkpoint(self):
        p = run(["--checkpoint", self.dir, "true", ":::", "a"])
        self.assertEqual(p.returncode, 255)
        self.assertIn(self.dir.encode(), p.stderr)
