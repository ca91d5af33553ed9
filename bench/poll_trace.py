"""Run `detect_anomalies.py` with every `Follower.poll_once` timed, step by step, to a CSV: where
a slow batch of a real follow run went (`bench_stream.py --trace`).

    python bench/poll_trace.py TRACE.csv CODE/detect_anomalies.py --follow ...

One line per poll that read rows: its start (epoch s), rows read, its time, each step's
exclusive time (bench_batch's STEPS, plus the parts of eviction), and the cyclic collector's
time in it per generation (`gc.callbacks`). A name the code under test lacks is skipped, so the
same launcher traces a baseline checkout (PYTHONPATH=its checkout).
"""

from __future__ import annotations

import atexit
import csv
import gc
import runpy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import STEPS, _Timers  # noqa: E402

# Eviction's parts, timed apart from the rest of `StreamState.evict`.
EVICT_STEPS = {
    "evict_chunks": ["wallet_monitor.stream.state:Retained.compact"],
    "evict_ledger": ["wallet_monitor.features.ledger:WalletLedger.evict"],
    "vocab_compact": ["wallet_monitor.features.vocab:Vocabulary.compact",
                      "wallet_monitor.features.vocab:Vocabulary.compact_step"],
    "recode": ["wallet_monitor.stream.state:Retained.recode",
               "wallet_monitor.features.ledger:WalletLedger.recode"],
}
TIMED = [*STEPS, *EVICT_STEPS, "other", "gc0", "gc1", "gc2"]  # a poll's ms, by where they went
COLUMNS = ["start", "rows", "ms", *TIMED, "cpu", "runq"]


def _runq() -> int:
    """ns this thread has waited runnable for a core (Linux schedstat; 0 elsewhere): the part of
    a poll's time off the CPU not spent waiting for the GIL or I/O."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1])
    except OSError:
        return 0


class _Trace:
    def __init__(self, path: Path):
        self.path, self.rows = path, []
        self.timers = _Timers()
        self.gc = [0.0, 0.0, 0.0]
        self._gc_start = 0.0

    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc[info["generation"]] += time.perf_counter() - self._gc_start

    def wrap_poll(self, follower_cls) -> None:
        poll_once = follower_cls.poll_once

        def traced(follower, *args, **kwargs):
            self.timers.take()
            self.gc = [0.0, 0.0, 0.0]
            start, t0, c0, q0 = time.time(), time.perf_counter(), time.thread_time(), _runq()
            n = poll_once(follower, *args, **kwargs)
            took, cpu = time.perf_counter() - t0, time.thread_time() - c0
            if n:
                spent = self.timers.take()
                row = {"start": round(start, 6), "rows": n, "ms": took * 1e3}
                row.update({k: spent.get(k, 0.0) * 1e3 for k in [*STEPS, *EVICT_STEPS]})
                row["other"] = row["ms"] - sum(spent.values()) * 1e3
                row.update({f"gc{g}": self.gc[g] * 1e3 for g in range(3)})
                row["cpu"] = cpu * 1e3  # the poll's own CPU time: the rest it waited (GIL, I/O, cores)
                row["runq"] = (_runq() - q0) / 1e6  # of that wait, for a core (runnable)
                self.rows.append(row)
            return n

        follower_cls.poll_once = traced

    def write(self) -> None:
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, COLUMNS)
            w.writeheader()
            w.writerows({k: (f"{v:.3f}" if isinstance(v, float) and k != "start" else v)
                         for k, v in r.items()} for r in self.rows)


def summarize(path: Path) -> str:
    """The polls that took more than twice the median of polls of their size (sizes binned by
    powers of two), and per step the time they spent over their bin's median."""
    import numpy as np
    import pandas as pd

    t = pd.read_csv(path)
    if not len(t):
        return "no polls traced"
    t["bin"] = np.floor(np.log2(t["rows"])).astype(int)
    steps = [c for c in TIMED if c in t and t[c].any()]
    med = t.groupby("bin")[["ms", *steps]].transform("median")
    slow = t[t["ms"] > 2 * med["ms"]]
    over = (slow[steps] - med.loc[slow.index, steps]).clip(lower=0).sum()
    cause = (slow[steps] - med.loc[slow.index, steps]).idxmax(axis=1).value_counts()
    return (f"{len(slow)} of {len(t)} polls over 2x their size's median ({slow['ms'].sum():.0f} "
            f"of {t['ms'].sum():.0f} ms); their excess by step (ms): "
            + ", ".join(f"{k} {v:.0f}" for k, v in over.sort_values(ascending=False).items() if v >= 1)
            + "; largest excess step: " + ", ".join(f"{k} {v}" for k, v in cause.items()))


def medians(path: Path) -> str:
    """The median poll: its rows, its time, and each step's median time (steps over 0.05 ms)."""
    import pandas as pd

    t = pd.read_csv(path)
    if not len(t):
        return "no polls traced"
    steps = [c for c in TIMED if c in t]
    med = t[steps].median()
    cpu = (f" ({t['cpu'].median():.1f} ms of it on the CPU, {t['runq'].median():.1f} ms waiting "
           "for a core)" if "runq" in t else "")
    return (f"{len(t)} polls, median {t['rows'].median():.0f} rows in {t['ms'].median():.1f} ms{cpu}; "
            "median per step (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in med.items() if v >= 0.05))


def main() -> None:
    trace_path, script, *args = sys.argv[1:]
    from wallet_monitor.stream.follower import Follower
    from wallet_monitor.stream.shard import ShardFollower  # its own poll_once (NATS)

    trace = _Trace(Path(trace_path))
    trace.timers.install({**STEPS, **EVICT_STEPS})
    trace.wrap_poll(Follower)
    trace.wrap_poll(ShardFollower)
    gc.callbacks.append(trace.on_gc)
    atexit.register(trace.write)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
