"""Checkpoints of any size made with SQL in seconds, for the HTML report's benchmark and tests:
a real run of 100,000 items takes minutes on a loaded machine.

fill_checkpoint(db, count) replaces the results and attempts of a checkpoint that parmap created
(so that the schema and the session row are parmap's own) with `count` results run on `slots`
slots, one after another per slot, durations log-normal around 50 ms, one in a hundred failed.
"""

import random
import sqlite3


def fill_checkpoint(db, count, slots=8, seed=7):
    rng = random.Random(seed)
    free = [1700000000.0] * slots
    attempts, results = [], []
    for seq in range(1, count + 1):
        slot = min(range(slots), key=lambda s: free[s])
        duration = rng.lognormvariate(-3, 1)
        status, code = ("failed", 1) if rng.random() < 0.01 else ("ok", 0)
        item = f"item-{seq}".encode()
        attempts.append((1, seq, item, 1, 1, 1, slot + 1, status, code, 0, free[slot], duration,
                         3))
        results.append((item, 1, seq, status, code, 0, free[slot], duration, 1, b"ok\n", b""))
        free[slot] += duration + 0.002
    con = sqlite3.connect(db)
    with con:
        con.execute("DELETE FROM attempts")
        con.execute("DELETE FROM results")
        con.executemany("INSERT INTO attempts (session, seq, item, occurrence, attempt, is_result, "
                        "slot, status, exit, signal, started, duration, stdout_bytes) VALUES "
                        "(?,?,?,?,?,?,?,?,?,?,?,?,?)", attempts)
        con.executemany("INSERT INTO results (item, occurrence, seq, status, exit, signal, "
                        "started, duration, attempts, stdout, stderr) VALUES "
                        "(?,?,?,?,?,?,?,?,?,?,?)", results)
        con.execute("UPDATE sessions SET started = 1700000000, last_commit = ?, slots = ?",
                    (max(free), slots))
    con.close()
