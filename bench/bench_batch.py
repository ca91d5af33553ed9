"""One follower batch in one process: what `Follower.poll_once` costs for batches of one to a
few hundred rows, and where the time goes, on bench_stream's data (run bench_stream.py once to
make it), with the look-back loaded as the follower loads it. No API: alerts are built and
handed to an outbox that keeps them. The cost of a batch itself, which is what a row waits
behind in the follower.

Each batch's rows (and the logins up to its last row) are appended to files in a temporary
folder that a real `FileSource` follows, then `poll_once` reads, parses, scores, links, writes,
builds the alerts and checkpoints them. The split times the follower's steps by wrapping the
functions named in STEPS (time in a step nested in another counts for the inner one only);
"other" is the rest of `poll_once`; each figure is the median over the batches. A name the code under
test lacks is skipped, so two versions of the code can be compared by running this script
under each, one after the other (`PYTHONPATH=<other checkout> python bench/bench_batch.py`);
`--profile N` prints cProfile's cumulative listing of N batches of the last size.

    python bench/bench_batch.py [--sizes 1,10,70,300] [--repeats 15] [--profile 0] [--warmup 0]
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from wallet_monitor.features import FEATURE_NAMES, load_transactions, load_wallets
from wallet_monitor.model import load_bundle
from wallet_monitor.stream.follower import Follower
from wallet_monitor.stream.source import FileSource
from wallet_monitor.stream.state import horizon

OUT = Path(__file__).resolve().parent / "out" / "stream"
WARMUP_BATCH = 15  # rows per untimed --warmup batch: a follower's poll at 1,000 rows/s
# step -> the functions ("module:qualname") whose time is the step's.
STEPS = {  # the NATS shard's names too (bench_cluster.py --trace), absent from a file run
    "read": ["wallet_monitor.stream.source:FileSource.poll",
             "wallet_monitor.stream.nats_source:NatsSource.poll",
             "wallet_monitor.stream.shard:ShardFollower._take_context"],
    "parse": ["wallet_monitor.stream.parse:valid_transactions",
              "wallet_monitor.stream.parse:valid_logins"],
    "features": ["wallet_monitor.stream.state:StreamState._features"],
    "score": ["wallet_monitor.scoring:detect_features",
              "wallet_monitor.scoring:detect_matrix",
              "wallet_monitor.scoring:score_batch"],
    "reasons": ["wallet_monitor.model.reasons:reasons"],
    "link": ["wallet_monitor.stream.recent:RecentEpisodes.add",
             "wallet_monitor.stream.recent:RecentEpisodes.add_columns"],
    "publish": ["wallet_monitor.stream.nats_source:NatsSource.publish_scored",
                "wallet_monitor.stream.nats_source:NatsSource.dead_letter"],
    "write": ["wallet_monitor.stream.follower:_append_detections"],
    "alerts": ["wallet_monitor.delivery:alert_records", "wallet_monitor.delivery:alert_bodies",
               "wallet_monitor.stream.follower:Follower._hand_over"],
    "checkpoint": ["wallet_monitor.stream.follower:Follower._commit"],
    "retain": ["wallet_monitor.stream.state:StreamState.add_history",
               "wallet_monitor.stream.state:StreamState.add_logins"],
    "evict": ["wallet_monitor.stream.state:StreamState.evict"],
}


class _Timers:
    """Exclusive time per step: each wrapped call adds its time to its step and takes it off
    the step of the wrapped call it is nested in."""

    def __init__(self):
        self.spent: dict[str, float] = defaultdict(float)
        self._stack: list[str] = []

    def install(self, steps: dict[str, list[str]]) -> None:
        for step, names in steps.items():
            for name in names:
                module, qual = name.split(":")
                try:  # a module or class the code under test lacks (an older checkout): skipped
                    owner = importlib.import_module(module)
                except ModuleNotFoundError:
                    continue
                *path, attr = qual.split(".")
                for p in path:
                    owner = getattr(owner, p, None)
                fn = getattr(owner, attr, None)
                if fn is None:
                    continue
                wrapped = self._wrap(step, fn)
                setattr(owner, attr, wrapped)
                if not path:  # a function: every module that imported it by name
                    for mod in list(sys.modules.values()):
                        if (getattr(mod, "__name__", "").startswith("wallet_monitor")
                                and getattr(mod, attr, None) is fn):
                            setattr(mod, attr, wrapped)

    def _wrap(self, step: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self._stack.append(step)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - t0
                self._stack.pop()
                self.spent[step] += took
                if self._stack:
                    self.spent[self._stack[-1]] -= took
        return timed

    def take(self) -> dict[str, float]:
        out, self.spent = dict(self.spent), defaultdict(float)
        return out


class _KeptOutbox:
    """An outbox that keeps what it is handed (delivery is bench_stream's and bench_alerts')."""

    error = None
    idle = True

    def __init__(self):
        self.alerts = 0

    def put(self, records: list[dict]) -> None:
        self.alerts += len(records)

    def oldest_age(self) -> float:
        return 0.0

    def close(self) -> None:
        pass


class _Feed:
    """The holdout appended in order to followed files, each batch after the logins up to its
    last row."""

    def __init__(self, data: Path, models: Path, live: Path):
        bundle = load_bundle(models / "fraud_model.pkl", FEATURE_NAMES)
        history = load_transactions(data / "transactions.csv")
        self.lines = (data / "new_transactions.csv").read_text().splitlines()
        self.times = _ns(pd.read_csv(data / "new_transactions.csv",
                                     usecols=["timestamp"])["timestamp"])
        logins = (data / "logins.csv").read_text().splitlines()
        self.login_lines = logins[1:]
        self.login_times = _ns(pd.Series([ln.split(",")[2] for ln in logins[1:]]))
        start = (history["timestamp"].max() - horizon()).value
        self.fed_logins = int(np.searchsorted(self.login_times, self.times[0]))
        self.tx_path, self.lg_path = live / "new_transactions.csv", live / "logins.csv"
        self.tx_path.write_text(self.lines[0] + "\n")
        skip = int(np.searchsorted(self.login_times, start))
        self.lg_path.write_text("\n".join([logins[0], *self.login_lines[skip:self.fed_logins]])
                                + "\n")
        self.follower = Follower(bundle, FileSource(self.tx_path, self.lg_path), live,
                                 history=history, wallets=load_wallets(data / "wallets.csv"))
        self.follower.resume()
        self.follower.outbox = self.outbox = _KeptOutbox()
        self.pos = 1  # the next data line

    def batch(self, n: int) -> float:
        """Append the next `n` rows (and their logins), then time one poll."""
        rows = self.lines[self.pos:self.pos + n]
        last = self.times[self.pos - 1 + len(rows) - 1]
        upto = int(np.searchsorted(self.login_times, last, side="right"))
        with self.lg_path.open("a") as f:
            f.writelines(ln + "\n" for ln in self.login_lines[self.fed_logins:upto])
        with self.tx_path.open("a") as f:
            f.writelines(ln + "\n" for ln in rows)
        self.fed_logins, self.pos = upto, self.pos + n
        t0 = time.perf_counter()
        assert self.follower.poll_once(n) == n
        return time.perf_counter() - t0


def _ns(text: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(pd.to_datetime(text, utc=True, format="ISO8601")).as_unit("ns").asi8


def _split_line(n: int, took: list[float], spent: list[dict[str, float]]) -> str:
    """The batch's median time and each step's median over the batches (on a shared machine a
    batch now and then waits for a core: medians keep one such wait from a step's figure)."""
    steps = [k for k in [*STEPS, "other"] if k == "other" or any(k in s for s in spent)]
    per = {k: [s.get(k, 0.0) for s in spent] for k in steps}
    per["other"] = [t - sum(v for k, v in s.items() if k in STEPS) for t, s in zip(took, spent,
                                                                                   strict=True)]
    split = ", ".join(f"{k} {np.median(per[k]) * 1e3:.1f}" for k in steps)
    return (f"batch of {n} rows: median {np.median(took) * 1e3:.1f} ms, min "
            f"{min(took) * 1e3:.1f} ms ({len(took)} batches); median per step (ms): {split}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1,10,70,300", help="batch sizes, comma-separated")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--profile", type=int, default=0, help="profile this many batches")
    p.add_argument("--warmup", type=int, default=0,
                   help="rows fed first in batches of WARMUP_BATCH, untimed (the recent episodes "
                        "and the retained chunks as a live run has them)")
    p.add_argument("--data-dir", type=Path, default=OUT / "data")
    p.add_argument("--models-dir", type=Path, default=OUT / "models")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as live:
        feed = _Feed(args.data_dir, args.models_dir, Path(live))
        for _ in range(20):  # warm up (numba's cache, first allocations, pyarrow's kernels)
            feed.batch(sizes[0])
        for _ in range(args.warmup // WARMUP_BATCH):
            feed.batch(WARMUP_BATCH)
        timers = _Timers()
        timers.install(STEPS)
        for n in sizes:
            timers.take()
            took, spent = [], []
            for _ in range(args.repeats):
                took.append(feed.batch(n))
                spent.append(timers.take())
            print(_split_line(n, took, spent), flush=True)
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.profile):
                feed.batch(sizes[-1])
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats("wallet_monitor", 40)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
