"""Backfill on Dask: 10M transactions (Parquet) through features and scoring, and the pandas
engine beside Dask on the same 1M.

    .venv/bin/python bench/bench_backfill.py [--data data/backfill] [--rows 10000000]
                                             [--compare-rows 1000000] [--workers 2]

--data holds the generator's Parquet folders (`data_generator.py --format parquet`); when it
has none they are generated there first (enough wallets for --rows new transactions over 14
days, two days of history before them, seed 3). The model is trained on a small generated set
(its features are the same functions; only the scores' calibration differs). Each run scores
the first --rows new transactions with the history, wallets and logins (episode links
included) and writes detections.parquet/ under bench/out/backfill/. Prints wall time, rows/s,
peak memory per worker (goal: no worker above 6 GB) and, on --compare-rows rows, the pandas
engine's rows/s per core beside Dask's (goal: Dask within 1.5x of pandas per core), and
whether the two engines' detections are identical. The pandas engine's forests score on a
thread per core (model.params.N_JOBS), so it is pinned to --pandas-cores cores (default 1)
and its rows/s per core is its rows/s over them; each engine's CPU time is printed too (the
pandas process's; Dask's workers' plus the client's, which holds a local cluster's
scheduler), with the load average, as the per-core figure on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import child_process
import pandas as pd
import pyarrow.parquet as pq

from wallet_monitor import model as tm
from wallet_monitor.backfill import connect, detections_frame, gather
from wallet_monitor.detections import write_detections
from wallet_monitor.features import (
    build_features,
    load_logins,
    load_transactions,
    load_wallets,
)
from wallet_monitor.paths import ROOT
from wallet_monitor.scoring import detect
from wallet_monitor.synth import generate, generate_chunks, write_parquet_chunks

OUT = ROOT / "bench" / "out" / "backfill"
TX_PER_WALLET_DAY = 3.0  # holdout transactions per wallet and day in the generator's data
HOLDOUT_DAYS = 14
INPUTS = ("transactions", "wallets", "logins")


def _generate(data: Path, rows: int) -> None:
    chunks = generate_chunks(n_wallets=int(rows / (TX_PER_WALLET_DAY * HOLDOUT_DAYS)) + 1,
                             days=HOLDOUT_DAYS + 2, holdout_days=HOLDOUT_DAYS, seed=3)
    write_parquet_chunks(chunks, data)


def _train(path: Path) -> None:
    small = generate(n_wallets=500, days=30, holdout_days=5, seed=1)
    features = build_features(small["transactions"], None, small["wallets"], small["logins"])
    tm.save_bundle(tm.train(features, "iforest"), path)


def _run_dir(data: Path, rows: int) -> Path:
    """A data folder whose new_transactions.parquet/ is the part files holding the first
    `rows` new transactions (links to them); the other inputs linked whole."""
    run = OUT / f"data_{rows}"
    shutil.rmtree(run, ignore_errors=True)
    (run / "new_transactions.parquet").mkdir(parents=True)
    total = 0
    for part in sorted((data / "new_transactions.parquet").glob("*.parquet")):
        if total >= rows:
            break
        (run / "new_transactions.parquet" / part.name).symlink_to(part)
        total += pq.ParquetFile(part).metadata.num_rows
    for name in INPUTS:
        (run / f"{name}.parquet").symlink_to(data / f"{name}.parquet")
    return run


def _pandas_step(run: Path, bundle_path: Path, cores: int = 0) -> dict:
    if cores:  # the process, and every thread its forests start, on `cores` cores only
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
    cpu0 = _cpu()
    t0 = time.perf_counter()
    bundle = tm.load_bundle(bundle_path)
    targets = load_transactions(run / "new_transactions.parquet")
    history = load_transactions(run / "transactions.parquet")
    det = detect(bundle, targets, history, load_wallets(run / "wallets.parquet"),
                 load_logins(run / "logins.parquet"))
    writer = write_detections([det], run / "detections_pandas.parquet")
    return {"rows": writer.rows, "flagged": writer.flagged, "seconds": time.perf_counter() - t0,
            "cpu_seconds": round(_cpu() - cpu0, 1)}


def _cpu() -> float:
    """CPU seconds of this process so far, every thread's (user + system)."""
    return sum(resource.getrusage(resource.RUSAGE_SELF)[:2])


def _cluster_cpu(client) -> float:
    """CPU seconds of the workers and of this process (a local cluster's scheduler runs here)."""
    workers = client.run(lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2]))
    return sum(workers.values()) + _cpu()


def _dask_step(run: Path, bundle_path: Path, workers: int, partitions: int | None) -> dict:
    bundle = tm.load_bundle(bundle_path)
    wallets = load_wallets(run / "wallets.parquet")
    with connect(workers=workers) as client:
        cpu0 = _cluster_cpu(client)
        t0 = time.perf_counter()
        work = detections_frame(bundle, run / "new_transactions.parquet",
                                run / "transactions.parquet", wallets, run / "logins.parquet",
                                partitions=partitions)
        writer = write_detections(gather(client, work, "detections"),
                                  run / "detections_dask.parquet")
        seconds = time.perf_counter() - t0
        cpu = _cluster_cpu(client) - cpu0
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"rows": writer.rows, "flagged": writer.flagged, "seconds": seconds,
            "worker_peak_gb": sorted(round(v / 1e9, 2) for v in peaks.values()),
            "workers": workers, "cpu_seconds": round(cpu, 1)}


def _same(run: Path) -> bool:
    a = pd.read_parquet(run / "detections_pandas.parquet")
    b = pd.read_parquet(run / "detections_dask.parquet")
    return a.equals(b)


def _run(target, *args) -> dict:
    result = child_process.run(_step, target, *args)
    result["peak_rss_gb"] = round(result.pop("peak_rss_kb") / 1e6, 2)
    return result


def _step(target, *args) -> dict:
    """`target(*args)` with the backfill's progress logged and the load average around it."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("wallet_monitor.backfill").setLevel(logging.INFO)
    load = os.getloadavg()[0]
    result = target(*args) or {}
    result["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]
    return result


def _line(name: str, r: dict) -> str:
    rate = r["rows"] / r["seconds"]
    peaks = r.get("worker_peak_gb")
    mem = (f"peak per worker {', '.join(f'{p} GB' for p in peaks)} (goal <= 6 GB)" if peaks
           else f"peak {r['peak_rss_gb']} GB")
    return (f"{name}: {r['rows']:,} transactions in {r['seconds']:.1f}s, {rate:,.0f} rows/s, "
            f"{r['cpu_seconds']:.1f} CPU-s, {r['flagged']:,} flagged; {mem}; load average "
            f"{r['load_average'][0]} -> {r['load_average'][1]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT / "data" / "backfill")
    p.add_argument("--rows", type=int, default=10_000_000, help="rows of the backfill (0: skip)")
    p.add_argument("--compare-rows", type=int, default=1_000_000,
                   help="rows for pandas beside Dask (0: skip)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--partitions", type=int, default=None)
    p.add_argument("--pandas-cores", type=int, default=1,
                   help="cores the pandas engine may use (0: all); its rows/s per core is "
                        "its rows/s over these")
    args = p.parse_args(argv)
    args.data = args.data.resolve()  # the run folders link to it
    OUT.mkdir(parents=True, exist_ok=True)
    if not (args.data / "new_transactions.parquet").exists():
        _run(_generate, args.data, max(args.rows, args.compare_rows))
    bundle = OUT / "model.pkl"
    _run(_train, bundle)
    results = {}
    if args.compare_rows:
        run = _run_dir(args.data, args.compare_rows)
        pandas_r = _run(_pandas_step, run, bundle, args.pandas_cores)
        dask_r = _run(_dask_step, run, bundle, args.workers, args.partitions)
        cores = args.pandas_cores or len(os.sched_getaffinity(0))
        per_core_pandas = pandas_r["rows"] / pandas_r["seconds"] / cores
        per_core_dask = dask_r["rows"] / dask_r["seconds"] / args.workers
        print(_line(f"pandas engine ({cores} core{'s' if cores > 1 else ''})", pandas_r))
        print(_line(f"dask engine ({args.workers} workers)", dask_r))
        print(f"rows/s per core: pandas {per_core_pandas:,.0f}, dask {per_core_dask:,.0f}: "
              f"pandas/dask {per_core_pandas / per_core_dask:.2f}x (goal <= 1.5x); "
              f"detections identical: {_same(run)}")
        print(f"CPU-s per 1M rows: pandas {pandas_r['cpu_seconds'] / pandas_r['rows'] * 1e6:.1f}, "
              f"dask {dask_r['cpu_seconds'] / dask_r['rows'] * 1e6:.1f}: dask/pandas "
              f"{dask_r['cpu_seconds'] / pandas_r['cpu_seconds']:.2f}x")
        results["compare"] = {"pandas": pandas_r, "dask": dask_r}
    if args.rows:
        run = _run_dir(args.data, args.rows)
        big = _run(_dask_step, run, bundle, args.workers, args.partitions)
        print(_line(f"dask engine ({args.workers} workers)", big))
        results["backfill"] = big
    (OUT / f"results_{args.rows}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
