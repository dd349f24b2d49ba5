"""--report --html and --report --joblog: the page checked in headless Chromium as a person would
see it (loads with no error and no network request, a row per slot, a bar per attempt, hostile
items shown as text), resumed runs as phases, checkpoints of parmap 0.1.0, a run in progress,
100,000 attempts, and the joblog against the one a live run writes."""

import html.parser
import os
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

from browser import Browser
from support import PARMAP, TempDirTest, lines, run, start, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from synth import fill_checkpoint  # noqa: E402  (shared with bench/run's report suite)

OK_GREEN = (0, 158, 115)  # --ok in the page's palette
FAILED_RED = (213, 94, 0)

# Sleeps, so that each bar is far wider than a pixel; items starting with "fail" fail.
SCRIPT = 'sleep 0.2; case "$1" in fail*) echo "it broke: $1" >&2; exit 3;; esac'
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>',
           "fail<script>alert(3)</script>", "'; alert(4); '"]

V1_SCHEMA = """
  CREATE TABLE run (id INTEGER PRIMARY KEY CHECK (id = 1), command TEXT NOT NULL,
    options TEXT NOT NULL, version TEXT NOT NULL, created REAL NOT NULL);
  CREATE TABLE results (item BLOB NOT NULL, occurrence INTEGER NOT NULL, seq INTEGER NOT NULL,
    status TEXT NOT NULL, exit INTEGER NOT NULL, signal INTEGER NOT NULL, started REAL NOT NULL,
    duration REAL NOT NULL, attempts INTEGER NOT NULL, stdout BLOB, stderr BLOB,
    PRIMARY KEY (item, occurrence));
  PRAGMA application_id = 1347240272;
  PRAGMA user_version = 1;
"""


def count_pixels(shot, colour, tolerance=12):
    _, _, rows = shot
    return sum(1 for row in rows for px in row
               if all(abs(a - b) <= tolerance for a, b in zip(px, colour)))


def query(db, sql):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class InBrowser(TempDirTest):
    """Tests that look at the page in one Chromium shared by the class."""

    @classmethod
    def setUpClass(cls):
        cls.browser = Browser()

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()

    def setUp(self):
        super().setUp()
        self.db = self.path("run.db")

    def report(self, *extra):
        page = self.path("report.html")
        p = run(["--checkpoint", self.db, "--report", "--html", page] + list(extra))
        self.assertOk(p)
        self.assertEqual(p.stdout, b"")
        return page

    def open(self, page):
        tab = self.browser.open("file://" + page)
        self.assertEqual(tab.console_errors(), [])
        self.assertEqual(tab.requests(), [])
        self.assertEqual(tab.dialogs(), [])
        return tab

    def count(self, tab, selector):
        return tab.evaluate(f"document.querySelectorAll({selector!r}).length")


class Page(InBrowser):
    def test_a_row_per_slot_a_bar_per_attempt_and_hostile_items_as_text(self):
        items = ["a", "b", "c", "fail-always"] + HOSTILE
        p = run(["--checkpoint", self.db, "-j3", "--keep-going", "--retries", "1", "sh", "-c",
                 SCRIPT, "sh", ":::"] + items)
        self.assertEqual(p.returncode, 2)
        attempts = query(self.db, "SELECT count(*) FROM attempts")[0][0]
        self.assertEqual(attempts, len(items) + 2)  # the two failures were tried again
        tab = self.open(self.report())

        self.assertEqual(self.count(tab, "svg.timeline"), 1)
        self.assertEqual(self.count(tab, "svg.timeline g.lane"), 3)
        self.assertEqual(self.count(tab, "rect.bar"), attempts)
        self.assertEqual(self.count(tab, "rect.agg"), 0)
        self.assertEqual(self.count(tab, "rect.bar.failed"), 4)
        self.assertEqual(self.count(tab, "rect.bar.retried"), 2)
        # Nothing from an item became markup, and every hostile item reads as the text it is.
        self.assertEqual(self.count(tab, "script, img, iframe, object, embed, [onerror]"), 0)
        text = tab.evaluate("document.body.innerText")
        for item in HOSTILE:
            self.assertIn(item, text)
        self.assertIn("it broke: fail<script>alert(3)</script>", text)
        # Hovering a bar names the item, its duration and how it ended.
        titles = tab.evaluate("[...document.querySelectorAll('rect.bar > title')]"
                              ".map(t => t.textContent)")
        mine = [t for t in titles if t.startswith(HOSTILE[0] + "\n")]
        self.assertEqual(len(mine), 1, msg=titles)
        self.assertRegex(mine[0],
                         r"\n\d+ms \u00b7 exit 0\n#5 \u00b7 attempt 1 \u00b7 slot \d \u00b7 started ")
        failed = [t for t in titles if t.startswith("fail-always\n")]
        self.assertEqual(len(failed), 2)
        self.assertTrue(any("exit 3" in t and "tried again" in t for t in failed), msg=failed)
        # A person sees bars: the chart is not blank.
        shot = tab.screenshot("svg.timeline")
        self.assertGreater(count_pixels(shot, OK_GREEN), 2000)
        self.assertGreater(count_pixels(shot, FAILED_RED), 500)
        self.assertGreater(count_pixels(tab.screenshot("svg.durations"), OK_GREEN), 200)

    def test_durations_show_the_median_and_the_timeout(self):
        p = run(["--checkpoint", self.db, "-j2", "--keep-going", "--timeout", "0.5", "sleep",
                 ":::", "0.05", "0.1", "0.1", "5"])
        self.assertEqual(p.returncode, 1)
        tab = self.open(self.report())
        labels = tab.evaluate("[...document.querySelectorAll('svg.durations text')]"
                              ".map(t => t.textContent)")
        self.assertTrue(any(t.startswith("median ") for t in labels), msg=labels)
        self.assertIn("--timeout 500ms", labels)
        self.assertEqual(self.count(tab, "svg.durations rect.bin.timeout"), 1)
        self.assertEqual(self.count(tab, "rect.bar.timeout"), 1)

    def test_a_resumed_run_shows_each_session_as_a_phase(self):
        marker = self.path("fast")
        script = 'if [ -e "$0" ]; then sleep 0.1; else sleep "$1"; fi'
        args = ["--checkpoint", self.db, "--checkpoint-every", "1", "-j2", "sh", "-c", script,
                marker, ":::", "0.1", "0.1", "0.2", "0.2", "30", "30"]
        proc = start(args)
        self.assertTrue(wait_for(lambda: self.results() >= 4, timeout=30))
        time.sleep(0.3)  # the two long items are running
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, -signal.SIGINT)
        open(marker, "w").close()
        self.assertOk(run(["--resume"] + args))
        tab = self.open(self.report())

        self.assertEqual(self.count(tab, "svg.timeline"), 2)
        self.assertEqual(self.count(tab, "svg.timeline[data-session='1'] rect.bar.interrupted"), 2)
        self.assertEqual(self.count(tab, "svg.timeline[data-session='1'] rect.bar.ok"), 4)
        self.assertEqual(self.count(tab, "svg.timeline[data-session='2'] rect.bar.ok"), 2)
        headers = tab.evaluate("[...document.querySelectorAll('#timeline h3, #timeline .meta')]"
                               ".map(e => e.textContent)")
        self.assertTrue(any("Session 2 \u00b7 resumed" in h for h in headers), msg=headers)
        self.assertTrue(any("4 results replayed" in h for h in headers), msg=headers)

    def results(self):
        try:
            return query(self.db, "SELECT count(*) FROM results")[0][0]
        except sqlite3.Error:
            return 0

    def test_a_checkpoint_of_parmap_0_1_0_reports_and_resumes(self):
        con = sqlite3.connect(self.db)
        con.executescript(V1_SCHEMA)
        con.execute("INSERT INTO run VALUES (1, 'sleep', '', '0.1.0', 1700000000)")
        # Three overlap at most: drawn in three lanes, each in the lowest lane free.
        spans = [(0, 2), (0.5, 1), (1, 2.5), (1.6, 1), (2.1, 2), (3.0, 0.5)]
        for i, (start_at, duration) in enumerate(spans, 1):
            con.execute("INSERT INTO results VALUES (?, 1, ?, 'ok', 0, 0, ?, ?, 1, x'', x'')",
                        (str(i).encode(), i, 1700000000 + start_at, duration))
        con.commit()
        con.close()
        tab = self.open(self.report())
        self.assertEqual(self.count(tab, "svg.timeline g.lane"), 3)
        self.assertEqual(self.count(tab, "rect.bar"), 6)
        self.assertIn("Run recorded by parmap 0.1.0", tab.evaluate("document.body.innerText"))
        labels = tab.evaluate("[...document.querySelectorAll('g.lane text')]"
                              ".map(t => t.textContent)")
        self.assertEqual(labels, ["lane 1", "lane 2", "lane 3"])

        # A resume brings the file to schema 2: the old results become session 0's attempts.
        self.assertOk(run(["--checkpoint", self.db, "--resume", "-j1", "sleep", ":::", "1", "7"]))
        self.assertEqual(query(self.db, "PRAGMA user_version"), [(2,)])
        self.assertEqual(query(self.db, "SELECT session, count(*) FROM attempts GROUP BY session"),
                         [(0, 6), (1, 1)])
        self.assertEqual(query(self.db, "SELECT replayed FROM sessions"), [(1,)])
        tab = self.open(self.report())
        self.assertEqual(self.count(tab, "svg.timeline"), 2)
        self.assertEqual(self.count(tab, "svg.timeline[data-session='1'] g.lane"), 1)

    def test_a_run_in_progress(self):
        proc = start(["--checkpoint", self.db, "--checkpoint-every", "1", "-j2", "sleep", ":::"] +
                     ["0.3"] * 16)
        try:
            self.assertTrue(wait_for(lambda: self.results() >= 4, timeout=30))
            tab = self.open(self.report())
            self.assertGreaterEqual(self.count(tab, "rect.bar"), 4)
            self.assertEqual(self.count(tab, "svg.timeline g.lane"), 2)
        finally:
            proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0)  # reading it did not disturb the run
        self.assertEqual(self.results(), 16)

    def running(self):
        try:
            return query(self.db, "SELECT count(*) FROM running_items")[0][0]
        except sqlite3.Error:
            return 0  # not made yet

    def test_items_running_now_are_listed(self):
        proc = start(["--checkpoint", self.db, "sleep", ":::", "30"])
        try:
            self.assertTrue(wait_for(lambda: self.running() == 1, timeout=30))
            with open(self.report(), encoding="utf-8") as f:
                page = f.read()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
        self.assertIn("<h2>Running now</h2>", page)
        self.assertRegex(page, r"#1</td><td><code>30</code></td><td>process group \d+</td>")


class BarCounter(html.parser.HTMLParser):
    """Counts what the timelines draw: bars, and the attempts inside aggregates."""

    def __init__(self):
        super().__init__()
        self.bars = self.aggregates = self.in_aggregates = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "rect" and "bar" in classes:
            self.bars += 1
        elif tag == "rect" and "agg" in classes:
            self.aggregates += 1
            self.in_aggregates += int(a["data-n"])


def peak_rss_kib(args):
    """Runs parmap with args under GNU time; returns (exit status, peak RSS in KiB). (wait4 on a
    child that Python starts would count Python's own memory: it is recorded at exec.)"""
    if not os.access("/usr/bin/time", os.X_OK):
        raise unittest.SkipTest("GNU time is not installed (.ci/install installs it)")
    env = dict(os.environ)
    # Under AddressSanitizer, freed memory waits in a quarantine that grows with the churn.
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                           ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0").lstrip(":")
    p = subprocess.run(["/usr/bin/time", "-f", "%M", PARMAP] + args, env=env, timeout=600,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return p.returncode, int(p.stderr.split()[-1])


class Large(InBrowser):
    def make(self, count):
        db = self.path(f"run{count}.db")
        self.assertOk(run(["--checkpoint", db, "-j8", "true", ":::", "x"]))
        fill_checkpoint(db, count)
        return db

    def test_100000_attempts_stay_small_and_complete(self):
        self.db = self.make(100000)
        page = self.report()
        size = os.path.getsize(page)
        self.assertLess(size, 4 << 20)
        counter = BarCounter()
        with open(page, encoding="utf-8") as f:
            counter.feed(f.read())
        # Every attempt is drawn, alone or in an aggregate; aggregates keep the page small.
        self.assertEqual(counter.bars + counter.in_aggregates, 100000)
        self.assertGreater(counter.in_aggregates, 90000)
        tab = self.open(page)
        self.assertEqual(self.count(tab, "svg.timeline g.lane"), 8)
        self.assertGreater(count_pixels(tab.screenshot("svg.timeline"), OK_GREEN, 60), 5000)

    def test_memory_does_not_grow_with_the_attempts(self):
        small, large = self.make(10000), self.make(100000)
        results = {}
        for name, db in (("small", small), ("large", large)):
            rc, rss = peak_rss_kib(["--checkpoint", db, "--report", "--html", "-"])
            self.assertEqual(rc, 0)
            results[name] = rss
        # SQLite sorts in its page cache and spills to a temporary file beyond it.
        self.assertLess(results["large"] - results["small"], 8 * 1024, msg=results)


class Joblog(TempDirTest):
    def check_same_as_live(self, command, items, *extra):
        db, live, rebuilt = self.path("run.db"), self.path("live.log"), self.path("report.log")
        p = run(["--checkpoint", db, "--joblog", live, "--keep-going", "-j2"] + list(extra) +
                command + [":::"] + items)
        self.assertLess(p.returncode, 102, msg=p.stderr)
        self.assertOk(run(["--checkpoint", db, "--report", "--joblog", rebuilt]))
        want, got = lines(self.read("live.log")), lines(self.read("report.log"))
        self.assertEqual(got[0], want[0])
        self.assertEqual(sorted(got[1:], key=lambda l: int(l.split("\t")[0])), want[1:])

    def test_the_same_lines_as_a_live_joblog(self):
        items = ["a b", "it's", "$(touch x)", "fail"]
        self.check_same_as_live(["sh", "-c", 'echo {#} {%} "$1"; [ "$1" != fail ]', "sh"], items)

    def test_a_shell_template(self):
        self.check_same_as_live(['echo {#} {%} "{}" > /dev/null; exit ${#1}'], ["", "x", "a'b"])

    def test_timeouts_and_stderr(self):
        # Exitval -1 for a timeout; Receive counts stdout only, as the live joblog does.
        self.check_same_as_live(["sh", "-c", 'echo out; echo more err >&2; sleep $1', "sh"],
                                ["0", "5"], "--timeout", "0.5")

    def test_one_line_per_result_not_per_attempt(self):
        self.check_same_as_live(["false"], ["a", "b"], "--retries", "2")

    def test_to_stdout_with_gnu_parallels_columns(self):
        db = self.path("run.db")
        run(["--checkpoint", db, "--keep-going", "sh", "-c", "exit $1", "sh", ":::", "0", "5"])
        p = run(["--checkpoint", db, "--report", "--joblog", "-"])
        self.assertOk(p)
        awk = subprocess.run(["awk", "-F", "\t", "NR > 1 && $7 != 0 {print $1}"], input=p.stdout,
                             capture_output=True)
        self.assertEqual(lines(awk.stdout), ["2"])


class BadUse(TempDirTest):
    def setUp(self):
        super().setUp()
        self.db = self.path("run.db")
        self.assertOk(run(["--checkpoint", self.db, "true", ":::", "a"]))

    def assertUsage(self, args, message):
        p = run(args)
        self.assertEqual(p.returncode, 255, msg=p.stderr)
        self.assertIn(message.encode(), p.stderr)
        self.assertEqual(len(lines(p.stderr)), 1)  # one line, parmap's usage errors

    def test_contradictions(self):
        self.assertUsage(["--html", "x.html", "true", ":::", "a"], "--html needs --report")
        self.assertUsage(["--checkpoint", self.db, "--report", "--html", ""],
                         "--html was given an empty value")
        self.assertUsage(["--checkpoint", self.db, "--report", "--joblog", "+x.log"],
                         "+FILE (append) does not go with --report")
        self.assertUsage(["--checkpoint", self.db, "--report", "--json", "--html", "x"],
                         "--json does not go with --html or --joblog")
        self.assertUsage(["--checkpoint", self.db, "--report", "--html", "-", "--joblog", "-"],
                         "would both write to stdout")
        self.assertFalse(os.path.exists("x.html"))
        self.assertFalse(os.path.exists("+x.log"))

    def test_unwritable_or_unreadable_files(self):
        p = run(["--checkpoint", self.db, "--report", "--html", self.path("no/dir/r.html")])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"no/dir/r.html: cannot write", p.stderr)
        p = run(["--checkpoint", self.path("missing.db"), "--report", "--html",
                 self.path("r.html")])
        self.assertEqual(p.returncode, 255)
        self.assertIn(b"missing.db", p.stderr)
        self.assertEqual(sorted(os.listdir(self.dir)), ["run.db"])  # no half-written page

    def test_stdout_and_a_closed_pipe(self):
        p = run(["--checkpoint", self.db, "--report", "--html", "-"])
        self.assertOk(p)
        self.assertTrue(p.stdout.startswith(b"<!DOCTYPE html>"))
        self.assertTrue(p.stdout.endswith(b"</html>\n"))
        head = subprocess.run(f"{PARMAP} --checkpoint {self.db} --report --html - | head -c 10",
                              shell=True, capture_output=True, timeout=60)
        self.assertEqual(head.stdout, b"<!DOCTYPE ")


if __name__ == "__main__":
    unittest.main()
