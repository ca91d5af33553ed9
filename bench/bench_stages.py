"""Where one follower batch's time goes: `bench_batch.py`'s batches, timed by stage.

Each stage is a function of the follower's batch wrapped with a timer (the functions a version
of the code lacks are left out, so two versions can be compared by running this script under
each: `PYTHONPATH=<other checkout> python bench/bench_stages.py`). Per batch size: the median
batch, and per stage the median over the batches of its time in one batch (stages nest:
"features" holds the rows' preparation, the look-back's selection or ledger, the context and
the families).

    python bench/bench_stages.py [--sizes 1,10,70,300] [--repeats 30]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import time
from collections import defaultdict

import numpy as np
from bench_batch import OUT, _Feed

# (module, attribute path, label): wrapped where the batch's code looks them up.
STAGES = [
    ("wallet_monitor.stream.state", "StreamState.add_logins", "logins in"),
    ("wallet_monitor.stream.state", "StreamState._features", "features"),
    ("wallet_monitor.stream.state", "prepare_transactions", "  rows prepared"),
    ("wallet_monitor.stream.state", "Retained.select_prepared", "  look-back selected"),
    ("wallet_monitor.features.ledger", "WalletLedger.add_transactions", "  rows into the ledger"),
    ("wallet_monitor.features.compute", "make_context", "  context"),
    ("wallet_monitor.features.ledger", "WalletLedger.context", "  context"),
    ("wallet_monitor.features.compute", "_compute", "  context and families"),  # look-back path
    ("wallet_monitor.features.compute", "_families", "  families"),
    ("wallet_monitor.features.families", "pair_stats", "    pair statistics"),
    ("wallet_monitor.stream.state", "detect_features", "score"),
    ("wallet_monitor.stream.state", "detect_matrix", "score"),  # the ledger's path
    ("wallet_monitor.stream.recent", "RecentEpisodes.add", "episodes"),
    ("wallet_monitor.stream.state", "StreamState.evict", "evict"),
]


def _wrap(took: dict) -> list[str]:
    labels = []
    for module, path, label in STAGES:
        try:
            owner = importlib.import_module(module)
        except ImportError:  # a module this version of the code does not have
            continue
        *parents, name = path.split(".")
        for part in parents:
            owner = getattr(owner, part, None)
        fn = getattr(owner, name, None) if owner is not None else None
        if fn is None:
            continue

        def timed(*args, _fn=fn, _label=label, **kwargs):
            t0 = time.perf_counter()
            try:
                return _fn(*args, **kwargs)
            finally:
                took[_label] += time.perf_counter() - t0

        setattr(owner, name, functools.wraps(fn)(timed))
        if label not in labels:
            labels.append(label)
    return labels


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1,10,70,300", help="batch sizes, comma-separated")
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args(argv)
    feed = _Feed(OUT / "data", OUT / "models")
    took: dict[str, float] = defaultdict(float)
    labels = _wrap(took)
    sizes = [int(s) for s in args.sizes.split(",")]
    for _ in range(5):  # warm up (numba's cache, first allocations)
        feed.batch(sizes[0])
    for n in sizes:
        per = defaultdict(list)
        for _ in range(args.repeats):
            took.clear()
            t0 = time.perf_counter()
            feed.batch(n)
            per["batch"].append(time.perf_counter() - t0)
            for label in labels:
                per[label].append(took[label])
        print(f"batch of {n} rows: median {np.median(per['batch']) * 1e3:.1f} ms ({args.repeats} "
              "batches); median per stage:")
        for label in labels:
            print(f"  {label:<24} {np.median(per[label]) * 1e3:6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
