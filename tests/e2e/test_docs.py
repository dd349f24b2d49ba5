"""The documentation keeps up with the options: every option that `parmap --dump-options` lists
appears in the man page, in each shell completion, and in README.md's option table; and the man
page passes `groff -man -ww -z` without a warning.

Run from tests/e2e with PARMAP set to the binary: python3 -m unittest -v test_docs
"""

import os
import re
import shutil
import subprocess
import unittest

PARMAP = os.environ.get("PARMAP") or shutil.which("parmap")
if not PARMAP:
    raise SystemExit("set PARMAP to the parmap binary")

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MAN_PAGE = os.path.join(ROOT, "man", "parmap.1")
BASH = os.path.join(ROOT, "completions", "parmap.bash")
ZSH = os.path.join(ROOT, "completions", "_parmap")
FISH = os.path.join(ROOT, "completions", "parmap.fish")
README = os.path.join(ROOT, "README.md")


def dump_options():
    """Returns (long options, short options) as printed by --dump-options, e.g. "--jobs", "-j"."""
    proc = subprocess.run([PARMAP, "--dump-options"], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AssertionError(f"parmap --dump-options exited {proc.returncode}: "
                             f"{proc.stderr.decode(errors='replace')}")
    names = proc.stdout.decode().split()
    longs = [n for n in names if n.startswith("--")]
    shorts = [n for n in names if re.fullmatch(r"-[^-]", n)]
    return longs, shorts


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def roff_to_text(source):
    """The man page's source with the escapes that can sit inside an option name removed:
    \\- and \\(hy are hyphens; \\% \\& \\c \\: are zero-width; font changes are dropped."""
    text = source.replace("\\-", "-").replace("\\(hy", "-").replace("\\[hy]", "-")
    text = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", text)
    for zero_width in ("\\%", "\\&", "\\c", "\\:"):
        text = text.replace(zero_width, "")
    return text


def mentions(text, option):
    """True if option (e.g. --jobs, -j) occurs in text as a whole word: --checkpoint inside
    --checkpoint-every does not count, nor -j inside -jobs."""
    return re.search(r"(?<![\w-])" + re.escape(option) + r"(?![\w-])", text) is not None


class OptionsAreDocumented(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.longs, cls.shorts = dump_options()

    def test_dump_options_lists_options(self):
        self.assertIn("--jobs", self.longs)
        self.assertIn("--help", self.longs)
        self.assertIn("-j", self.shorts)
        self.assertNotIn("--dump-options", self.longs, "--dump-options is hidden")

    def assertAllMentioned(self, text, options, where, spelled=lambda o: o):
        missing = [o for o in options if not mentions(text, spelled(o))]
        if missing:
            self.fail(f"{where} does not mention: {' '.join(missing)}")

    def test_man_page_has_every_option(self):
        text = roff_to_text(read(MAN_PAGE))
        self.assertAllMentioned(text, self.longs, "man/parmap.1")
        self.assertAllMentioned(text, self.shorts, "man/parmap.1")

    def test_man_page_has_the_sections(self):
        text = read(MAN_PAGE)
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", '"REPLACEMENT STRINGS"',
                        '"EXIT STATUS"', "OUTPUT", "CHECKPOINTS", "SIGNALS", "ENVIRONMENT",
                        "FILES", "EXAMPLES", '"SEE ALSO"'):
            self.assertRegex(text, r"(?m)^\.SH " + re.escape(section) + r"\s*$")

    def test_bash_completion_has_every_option(self):
        text = read(BASH)
        self.assertAllMentioned(text, self.longs, "completions/parmap.bash")
        self.assertAllMentioned(text, self.shorts, "completions/parmap.bash")

    def test_zsh_completion_has_every_option(self):
        text = read(ZSH)
        self.assertAllMentioned(text, self.longs, "completions/_parmap")
        self.assertAllMentioned(text, self.shorts, "completions/_parmap")

    def test_fish_completion_has_every_option(self):
        text = read(FISH)
        # fish spells them "-l jobs" and "-s j".
        self.assertAllMentioned(text, self.longs, "completions/parmap.fish",
                                lambda o: "-l " + o[2:])
        self.assertAllMentioned(text, self.shorts, "completions/parmap.fish",
                                lambda o: "-s " + o[1:])

    def test_readme_option_table_has_every_option(self):
        if not os.path.exists(README):
            self.fail(f"{README} does not exist: README.md needs an option table with one row "
                      "per option (| option | meaning | default | ...)")
        rows = [line for line in read(README).splitlines() if line.lstrip().startswith("|")]
        if not rows:
            self.fail("README.md has no Markdown table: it needs an option table with one row "
                      "per option (| option | meaning | default | ...)")
        table = "\n".join(rows)
        missing = [o for o in self.longs if not mentions(table, o)]
        if missing:
            self.fail("README.md's option table (its Markdown table rows) does not mention: "
                      + " ".join(missing))


class ManPageLint(unittest.TestCase):
    def test_title_names_this_version(self):
        proc = subprocess.run([PARMAP, "--version"], capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        version = proc.stdout.decode().strip()  # "parmap 0.1.0"
        title = re.search(r"(?m)^\.TH .*$", read(MAN_PAGE))
        self.assertIsNotNone(title, "man/parmap.1 has no .TH line")
        self.assertIn(f'"{version}"', title.group(0),
                      f"man/parmap.1's .TH line should name {version!r}")

    def test_groff_prints_no_warnings(self):
        groff = shutil.which("groff")
        if not groff:
            self.skipTest("groff is not installed")
        proc = subprocess.run([groff, "-man", "-ww", "-z", MAN_PAGE], capture_output=True,
                              timeout=60, stdin=subprocess.DEVNULL)
        output = (proc.stdout + proc.stderr).decode(errors="replace")
        self.assertEqual(proc.returncode, 0, output)
        self.assertEqual(output, "", "groff -man -ww -z man/parmap.1 warned:\n" + output)


if __name__ == "__main__":
    unittest.main()
