"""The shell-template promise under every /bin/sh: hostile items stay data through the one-word
shell form (quotes, $(...), backticks, here-documents, comments, ${x:-...}, arithmetic) with dash,
bash, busybox sh, mksh and zsh (in sh mode) as the shell.

Where the tests run as root with unshare(1) (CI), each shell is bind-mounted over /bin/sh in a
private mount namespace, so parmap runs exactly as on a system whose /bin/sh is that shell.
Elsewhere each shell is named through PARALLEL_SHELL (a symlink called "sh", so that busybox,
mksh and zsh take their sh personality)."""

import base64
import json
import os
import shutil
import subprocess
import unittest

from support import PARMAP, TempDirTest

SHELLS = {name: path for name, path in (("dash", "/usr/bin/dash"), ("bash", "/usr/bin/bash"),
                                        ("busybox", "/usr/bin/busybox"),
                                        ("mksh", "/usr/bin/mksh"), ("zsh", "/usr/bin/zsh"))
          if os.path.exists(path)}


def can_bind_mount():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


BIND = can_bind_mount()


def hostile_items(canary):
    touch = f"touch {canary}"
    return [
        "plain", "", " ", "a b", "'", "''", '"', "it's \"quoted\"", "\\", "\\'", "a\\nb",
        f"$({touch})", f"`{touch}`", f"a; {touch}", f"a && {touch}", f"a | {touch}",
        f"a[$({touch})]", f"x[`{touch}`]", f"$(({touch}))", "$HOME", "${HOME}", "$((1+1))",
        "*", "?", "[a]", "~", "#not a comment", "{}", "{a,b}", "<in >out", "2>&1", "-n", "--",
        "a\nb", f"a\n{touch}", "EOF", "x\nEOF\n" + touch, "\r\n", "\t",
        "\x01\x1b[31m\x7f", "caf\u00e9", "41", "-0x10",
    ]


# (template, expected stdout for an item, or None when the item must be refused)
def templates():
    def bracket(item):
        return b"[" + item + b"]\n"

    def number(item):
        try:
            return str(int(item.decode(), 0) + 1).encode() + b"\n"
        except ValueError:
            return None

    return [
        ("printf '[%s]\\n' {}", bracket),
        ("printf '[%s]\\n' \"{}\"", bracket),
        ("printf '[%s]\\n' '{}'", bracket),
        ("printf '[%s]\\n' \"${PARMAP_UNSET_VAR:-{}}\"", bracket),
        ("printf '%s\\n' \"$(printf '[%s]' {})\"", bracket),
        ("printf '%s\\n' \"`printf '[%s]' {}`\"", bracket),
        ("cat <<EOF\n[{}]\nEOF", bracket),
        ("cat <<'EOF'\n[{}]\nEOF", bracket),
        ("cat <<-EOF\n\t[{}]\n\tEOF", bracket),
        ("# it's a comment with {}\nprintf '[%s]\\n' {} # don't", bracket),
        ("printf '[%s]\\n'", bracket),
        ("echo $(( {} + 1 ))", number),
        ("[ {} -eq 0 ] || echo $(( {} + 1 ))", number),
    ]


class EveryShell(TempDirTest):
    def run_under(self, shell, args, stdin):
        """Runs parmap with `shell` as /bin/sh (bind mount) or as PARALLEL_SHELL."""
        env = dict(os.environ)
        if BIND:
            cmd = ["unshare", "-m", "--propagation", "private", "--", "/usr/bin/bash", "-c",
                   'mount --bind "$1" /bin/sh && cmp -s "$1" /bin/sh && shift && exec "$@"',
                   "bind", shell, PARMAP] + args
        else:
            link_dir = self.path("shell-" + os.path.basename(shell))
            os.makedirs(link_dir, exist_ok=True)
            link = os.path.join(link_dir, "sh")
            if not os.path.exists(link):
                os.symlink(shell, link)
            env["PARALLEL_SHELL"] = link
            cmd = [PARMAP] + args
        return subprocess.run(cmd, input=stdin, capture_output=True, timeout=300, env=env)

    def test_hostile_items_stay_data(self):
        self.assertTrue(SHELLS, "no shell to test")
        canary = self.path("PWNED")
        items = [i.encode() for i in hostile_items(canary)]
        stdin = b"".join(i + b"\0" for i in items)
        for name, shell in SHELLS.items():
            for template, expect in templates():
                with self.subTest(shell=name, template=template):
                    p = self.run_under(shell, ["-0", "--json", "--keep-going", "-j4", template],
                                       stdin)
                    self.assertIn(p.returncode, range(0, 102), p.stderr)
                    records = [json.loads(line) for line in p.stdout.splitlines()]
                    self.assertEqual(len(records), len(items), p.stderr)
                    for item, record in zip(items, records):
                        out = (base64.b64decode(record["stdout_b64"]) if "stdout_b64" in record
                               else record["stdout"].encode())
                        want = expect(item)
                        if want is None:
                            self.assertEqual(record["exit"], 126, (item, record))
                            self.assertIn("not a number", record["stderr"])
                        else:
                            self.assertEqual((item, out), (item, want), record["stderr"])
                    self.assertFalse(os.path.exists(canary), f"{name} ran an item as code")

    def test_the_shell_under_test_is_the_one_that_runs(self):
        # The matrix above is only worth something if /bin/sh (or PARALLEL_SHELL) really is the
        # shell under test.
        for name, shell in SHELLS.items():
            with self.subTest(shell=name):
                p = self.run_under(shell, ["echo ${BASH_VERSION:+bash}${ZSH_VERSION:+zsh}"
                                           "${KSH_VERSION:+ksh}:", ":::", "x"], b"")
                want = {"bash": "bash: x", "zsh": "zsh: x", "mksh": "ksh: x"}.get(name, ": x")
                self.assertEqual(p.stdout.decode().strip(), want, p.stderr)


if __name__ == "__main__":
    unittest.main()
