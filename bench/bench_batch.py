"""One follower batch in one process: what `StreamState.detect` and `RecentEpisodes.add` cost for
batches of a few to a few hundred rows, on bench_stream's data (run bench_stream.py once to make
it), with the look-back loaded as the follower loads it. No API, no files: the cost of a batch
itself, which is what a row waits behind in the follower.

Compare two versions of the code by running this script under each, one after the other
(`PYTHONPATH=<other checkout> python bench/bench_batch.py`); `--profile N` prints cProfile's
cumulative listing of N batches of the last size.

    python bench/bench_batch.py [--sizes 1,10,30,300] [--repeats 15] [--profile 0]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

import numpy as np

from wallet_monitor.features import (
    FEATURE_NAMES,
    load_logins,
    load_transactions,
    load_wallets,
)
from wallet_monitor.model import load_bundle
from wallet_monitor.stream.recent import RecentEpisodes
from wallet_monitor.stream.state import StreamState, horizon

OUT = Path(__file__).resolve().parent / "out" / "stream"


class _Feed:
    """The holdout fed in order, each batch with the logins up to its last row."""

    def __init__(self, data: Path, models: Path):
        bundle = load_bundle(models / "fraud_model.pkl", FEATURE_NAMES)
        history = load_transactions(data / "transactions.csv")
        self.new = load_transactions(data / "new_transactions.csv")
        self.logins = load_logins(data / "logins.csv")
        self.state = StreamState(bundle, load_wallets(data / "wallets.csv"), with_logins=True)
        start = history["timestamp"].max() - horizon()
        self.state.add_history(history.loc[history["timestamp"] >= start])
        first = self.new["timestamp"].iloc[0]
        lt = self.logins["timestamp"]
        self.state.add_logins(self.logins.loc[(lt >= start) & (lt < first)])
        self.state.evict(force=True)
        self.episodes = RecentEpisodes(bundle.threshold)
        self.fed_logins = int((lt < first).sum())
        self.pos = 0

    def batch(self, n: int) -> None:
        rows = self.new.iloc[self.pos:self.pos + n].reset_index(drop=True)
        self.pos += n
        upto = int(np.searchsorted(self.logins["timestamp"], rows["timestamp"].iloc[-1],
                                   side="right"))
        self.state.add_logins(self.logins.iloc[self.fed_logins:upto])
        self.fed_logins = upto
        self.episodes.add(self.state.detect(rows), rows)
        self.state.evict()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1,10,30,300", help="batch sizes, comma-separated")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--profile", type=int, default=0, help="profile this many batches")
    p.add_argument("--data-dir", type=Path, default=OUT / "data")
    p.add_argument("--models-dir", type=Path, default=OUT / "models")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    feed = _Feed(args.data_dir, args.models_dir)
    for _ in range(5):  # warm up (numba's cache, first allocations)
        feed.batch(sizes[0])
    for n in sizes:
        took = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            feed.batch(n)
            took.append(time.perf_counter() - t0)
        print(f"batch of {n} rows: median {np.median(took) * 1e3:.1f} ms, "
              f"min {min(took) * 1e3:.1f} ms ({args.repeats} batches)")
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
