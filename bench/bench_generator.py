"""Benchmark the generator (wallet_monitor.synth) against the common per-row Faker toy generator.

Each measurement runs in its own child process, so peak memory (ru_maxrss of that child)
belongs to that step alone. Timing covers generating and writing the CSVs. The machine
may be shared: figures are noisy, compare them within one run.

    .venv/bin/python bench/bench_generator.py
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wallet_monitor.synth import generate, write

# The generator makes about this many transactions per wallet over a 30-day period.
TX_PER_WALLET_30D = 85
DAYS, HOLDOUT_DAYS = 30, 7
SIZES = [20_000, 100_000, 1_000_000]
TOY_SIZE = 20_000


def _ours(target: int, out: Path) -> dict:
    t0 = time.perf_counter()
    frames = generate(max(target // TX_PER_WALLET_30D, 2), DAYS, HOLDOUT_DAYS, seed=42)
    t1 = time.perf_counter()
    write(frames, out)
    t2 = time.perf_counter()
    return {"n_tx": len(frames["transactions"]) + len(frames["new_transactions"]),
            "n_logins": len(frames["logins"]), "generate_s": t1 - t0, "total_s": t2 - t0}


def _toy(target: int, out: Path) -> dict:
    """The usual toy approach: one wallet via DataFrame.sample(1), one Faker row at a time."""
    import random

    import pandas as pd
    from faker import Faker

    fake = Faker()
    Faker.seed(0)
    random.seed(0)
    t0 = time.perf_counter()
    wallets = pd.DataFrame({
        "wallet_id": [fake.uuid4() for _ in range(1000)],
        "kyc_verified": [fake.boolean() for _ in range(1000)],
        "registration_date": [fake.date_between(start_date="-2y", end_date="today")
                              for _ in range(1000)],
    })
    rows = []
    for _ in range(target):
        wallet = wallets.sample(1).iloc[0]
        rows.append({
            "transaction_id": fake.uuid4(),
            "wallet_id": wallet["wallet_id"],
            "timestamp": fake.date_time_between(start_date="-60d", end_date="now"),
            "amount": round(random.uniform(1, 10_000), 2),
            "type": random.choice(["deposit", "transfer", "redeem"]),
            "ip_address": fake.ipv4(),
        })
    t1 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    wallets.to_csv(out / "wallets.csv", index=False)
    pd.DataFrame(rows).to_csv(out / "generated_data.csv", index=False)
    t2 = time.perf_counter()
    return {"n_tx": target, "n_logins": 0, "generate_s": t1 - t0, "total_s": t2 - t0}


def _child(kind: str, target: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = (_ours if kind == "ours" else _toy)(target, Path(tmp) / "data")
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run(kind: str, target: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(target)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    p.add_argument("--skip-1m", action="store_true", help="leave out the 1M size")
    args = p.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0

    runs = [("toy (Faker, sample(1))", _run("toy", TOY_SIZE))]
    for size in SIZES:
        if size == 1_000_000 and args.skip_1m:
            continue
        runs.append((f"data_generator ~{size:,}", _run("ours", size)))

    print(f"{'generator':<26} {'transactions':>12} {'logins':>9} {'gen s':>7} {'total s':>8} "
          f"{'tx/s':>10} {'peak MB':>8}")
    for name, r in runs:
        r["rate"] = r["n_tx"] / r["total_s"]
        print(f"{name:<26} {r['n_tx']:>12,} {r['n_logins']:>9,} {r['generate_s']:>7.2f} "
              f"{r['total_s']:>8.2f} {r['rate']:>10,.0f} {r['peak_mb']:>8.0f}")
    toy, ours_20k = runs[0][1], runs[1][1]
    print(f"\nratio at ~20k transactions (tx/s, generate + write): "
          f"{ours_20k['rate'] / toy['rate']:,.0f}x the toy generator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
