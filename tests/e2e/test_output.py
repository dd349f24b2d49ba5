"""Output: ordered or as-ready, whole per item (never interleaved), --tag, --json, large."""

import hashlib
import json
import os
import subprocess
import time

from support import PARMAP, TempDirTest, lines, run


class Ordering(TempDirTest):
    def test_input_order_with_random_durations(self):
        items = [str(i) for i in range(40)]
        # Later items finish first: sleep (40 - i) ms.
        p = run(["-j8", "sh", "-c", 'sleep 0.0$((40 - $1 % 40)); echo $1', "sh", ":::"] + items)
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), items)

    def test_keep_order_flag_is_the_default(self):
        p = run(["-k", "-j4", "sh", "-c", "sleep 0.$((3 - $1)); echo $1", "sh", ":::", "0", "1", "2"])
        self.assertEqual(lines(p.stdout), ["0", "1", "2"])

    def test_as_ready_follows_completion(self):
        p = run(["--as-ready", "-j3", "sh", "-c", "sleep 0.$1; echo $1", "sh", ":::", "6", "1", "3"])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["1", "3", "6"])

    def test_as_ready_squares_are_all_there(self):
        # ray-map's test_imap_as_ready_and_ret_args as a command line.
        items = [str(i) for i in range(20)]
        p = run(["--as-ready", "--tag", "sh", "-c", 'echo $(($1*$1))', "sq"], input="\n".join(items))
        self.assertOk(p)
        rows = sorted(lines(p.stdout), key=lambda r: int(r.split("\t")[0]))
        self.assertEqual(rows, [f"{i}\t{i * i}" for i in range(20)])

    def test_ray_map_preserves_order_with_batches(self):
        # test_imap_preserves_order: 0..49, batch 4, max_pending 2.
        for jobs in ("1", "4", "8"):
            p = run(["-j", jobs, "-b4", "--max-pending", "2", "sh", "-c", 'echo $(($1*$1))', "sq"],
                    input="\n".join(str(i) for i in range(50)))
            self.assertOk(p)
            self.assertEqual(lines(p.stdout), [str(i * i) for i in range(50)], msg=jobs)

    def test_infinite_input_with_head(self):
        # test_imap_stream_limit_with_infinite_iter: the first 25 squares, then a prompt stop.
        t0 = time.monotonic()
        p = subprocess.run(f"seq 0 1000000000 | {PARMAP} -b3 sh -c 'echo $(($1*$1))' sq | head -n 25",
                           shell=True, capture_output=True, timeout=60)
        self.assertEqual(lines(p.stdout), [str(i * i) for i in range(25)])
        self.assertLess(time.monotonic() - t0, 15)


class Grouping(TempDirTest):
    def test_outputs_are_never_interleaved(self):
        # Four jobs write 200 lines each, slowly and at the same time.
        script = 'for i in $(seq 200); do echo "$1 $i"; [ $((i % 50)) = 0 ] && sleep 0.01; done'
        for mode in ([], ["--as-ready"]):
            p = run(mode + ["-j4", "sh", "-c", script, "sh", ":::", "a", "b", "c", "d"])
            self.assertOk(p)
            seen = lines(p.stdout)
            self.assertEqual(len(seen), 800)
            # Each job's 200 lines are contiguous and in their own order.
            blocks = [seen[i:i + 200] for i in range(0, 800, 200)]
            for block in blocks:
                name = block[0].split()[0]
                self.assertEqual(block, [f"{name} {i}" for i in range(1, 201)], msg=mode)

    def test_stderr_is_grouped_too(self):
        script = 'for i in 1 2 3; do echo "$1 $i" >&2; sleep 0.01; done'
        p = run(["-j3", "sh", "-c", script, "sh", ":::", "a", "b", "c"])
        self.assertOk(p)
        self.assertEqual(lines(p.stderr), [f"{x} {i}" for x in "abc" for i in (1, 2, 3)])

    def test_line_buffer_gives_whole_lines(self):
        script = 'printf "%s-start " $1; sleep 0.2; echo "$1-end"; echo "$1-more"'
        p = run(["--as-ready", "--line-buffer", "-j2", "sh", "-c", script, "sh", ":::", "a", "b"])
        self.assertOk(p)
        got = lines(p.stdout)
        self.assertEqual(sorted(got), sorted(["a-start a-end", "a-more", "b-start b-end", "b-more"]))


class Tag(TempDirTest):
    def test_tag_prefixes_every_line_of_stdout_and_stderr(self):
        p = run(["--tag", "sh", "-c", 'echo one; echo two; echo err >&2', "sh", ":::", "x y", "z"])
        self.assertOk(p)
        self.assertEqual(lines(p.stdout), ["x y\tone", "x y\ttwo", "z\tone", "z\ttwo"])
        self.assertEqual(lines(p.stderr), ["x y\terr", "z\terr"])


class Json(TempDirTest):
    def test_one_object_per_item_with_the_documented_fields(self):
        p = run(["--json", "--keep-going", "sh", "-c",
                 '[ "$1" = boom ] && { echo fail >&2; exit 1; }; echo "$1"', "mf"],
                input="ok\nboom\nok2\n")
        self.assertEqual(p.returncode, 1)
        records = [json.loads(line) for line in lines(p.stdout)]
        self.assertEqual([r["item"] for r in records], ["ok", "boom", "ok2"])
        self.assertEqual(set(records[0]), {"seq", "item", "args", "status", "exit", "signal",
                                           "stdout", "stderr", "duration_s", "attempts",
                                           "replayed"})
        self.assertEqual([r["args"] for r in records], [["ok"], ["boom"], ["ok2"]])
        self.assertEqual(records[1]["status"], "failed")
        self.assertEqual(records[1]["exit"], 1)
        self.assertEqual(records[1]["stderr"], "fail\n")
        self.assertEqual(records[2]["stdout"], "ok2\n")
        self.assertEqual(records[0]["signal"], None)
        self.assertFalse(records[0]["replayed"])
        self.assertEqual([r["seq"] for r in records], [1, 2, 3])

    def test_statuses_timeout_and_signal(self):
        p = run(["--json", "--keep-going", "--timeout", "0.2", "sh", "-c",
                 'case $1 in t) sleep 5;; k) kill -9 $$;; esac', "sh", ":::", "t", "k"])
        records = [json.loads(line) for line in lines(p.stdout)]
        self.assertEqual(records[0]["status"], "timeout")
        self.assertEqual(records[0]["exit"], 124)
        self.assertEqual(records[1]["status"], "signaled")
        self.assertEqual(records[1]["signal"], 9)
        self.assertEqual(records[1]["exit"], 137)

    def test_invalid_utf8_stays_valid_json_and_lossless(self):
        import base64
        p = run(["--json", "sh", "-c", r'printf "ok\377\376"; printf "\200" >&2', "sh", ":::",
                 "caf\xe9"], )
        self.assertOk(p)
        record = json.loads(p.stdout)
        self.assertEqual(base64.b64decode(record["stdout_b64"]), b"ok\xff\xfe")
        self.assertEqual(base64.b64decode(record["stderr_b64"]), b"\x80")
        self.assertIn("\ufffd", record["stdout"])
        self.assertEqual(record["item"], "caf\xe9")
        self.assertNotIn("item_b64", record)

    def test_invalid_utf8_item(self):
        import base64
        p = run(["--json", "echo"], input=b"\xffitem\n")
        record = json.loads(p.stdout)
        self.assertEqual(base64.b64decode(record["item_b64"]), b"\xffitem")


class LargeOutputs(TempDirTest):
    def test_large_outputs_pass_whole_and_in_order(self):
        for name in "abc":
            with open(self.path(name), "wb") as f:
                f.write(os.urandom(8 * 1024 * 1024))
        expected = hashlib.sha256()
        for name in "abc":
            expected.update(self.read(name))
        for mode in ([], ["--as-ready"], ["--tag"]):
            p = subprocess.run([PARMAP, "-j3"] + mode + ["cat", ":::"] + [self.path(n) for n in "abc"],
                               capture_output=True, timeout=120)
            self.assertOk(p)
            if mode == ["--tag"]:
                continue
            if mode == ["--as-ready"]:
                self.assertEqual(len(p.stdout), 3 * 8 * 1024 * 1024)
                continue
            self.assertEqual(hashlib.sha256(p.stdout).hexdigest(), expected.hexdigest())

    def test_spilled_output_reaches_a_slow_reader_intact(self):
        # Output waiting behind a slow head is spilled, then sent to stdout by the kernel; a
        # reader that is slow to take it must still get every byte (pages still in the pipe
        # must not be released under it).
        sizes = [5_000_000, 3_000_001, 4_444_444, 1_234_567]
        for i, size in enumerate(sizes):
            with open(self.path(f"part{i}"), "wb") as f:
                f.write(os.urandom(size))
        expected = hashlib.sha256(b"".join(self.read(f"part{i}") for i in range(4))).hexdigest()
        for mode in ("", "--as-ready"):
            cmd = (f"{PARMAP} -j4 {mode} sh -c 'if [ $1 = 0 ]; then sleep 0.5; fi; cat {self.dir}/part$1' "
                   "sh ::: 0 1 2 3 | (sleep 1.5; sha256sum)")
            p = subprocess.run(cmd, shell=True, capture_output=True, timeout=120)
            if mode == "":
                self.assertEqual(p.stdout.split()[0].decode(), expected)
            else:
                self.assertEqual(p.returncode, 0)

    def test_json_with_large_output(self):
        p = run(["--json", "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x", "sh", ":::", "a"])
        self.assertOk(p)
        record = json.loads(p.stdout)
        self.assertEqual(record["stdout"], "x" * 3000000)


class ClosedStdout(TempDirTest):
    def test_head_ends_the_run_promptly(self):
        t0 = time.monotonic()
        p = subprocess.run(f"{PARMAP} -j2 sh -c 'echo $1; sleep 0.05' sh ::: $(seq 1000) | head -1; "
                           "echo ${PIPESTATUS[0]}", shell=True, executable="/bin/bash",
                           capture_output=True, timeout=60)
        out = lines(p.stdout)
        self.assertEqual(out[0], "1")
        self.assertEqual(out[1], "141")  # died of SIGPIPE, like any filter
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(p.stderr, b"")

    def test_full_disk_is_reported(self):
        with open("/dev/full", "wb") as full:
            p = subprocess.run([PARMAP, "echo", ":::", "a"], stdout=full, stderr=subprocess.PIPE,
                               timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"stdout", p.stderr)
        self.assertIn(b"No space left", p.stderr)
