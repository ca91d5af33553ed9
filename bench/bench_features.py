"""Benchmark feature_engineering.py: transactions/s and peak memory at ~100k and ~1M rows.

Generates data with data_generator.py (subprocess), then runs `feature_engineering.py` (load,
features, write features.csv) in a child process and reads its peak RSS, twice: on the files
as generated (countries given) and on the same files without their `country` columns (every
country located from the IP address). Goals: 1M transactions with their logins in <= 15 s and
<= 3 GB (issue 3); without countries within 1.2x of the run with them (issue 22). Figures are
noisy on a shared machine.

    .venv/bin/python bench/bench_features.py [--sizes 100k 1M] [--keep]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger(__name__)

# wallets, days: the generator yields about 125 training transactions per wallet over 46 days
SIZES = {"100k": (800, 60), "1M": (8000, 60)}
HOLDOUT_DAYS = 14
SEED = 1
WAIT_FOR_GENERATOR_S = 300


def _wait_for_generator() -> Path:
    script = ROOT / "data_generator.py"
    deadline = time.monotonic() + WAIT_FOR_GENERATOR_S
    while not script.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_features.py: error: {script} does not exist")
        time.sleep(10)
    return script


def _count_rows(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 20), b"")) - 1


def _without_countries(data_dir: Path) -> Path:
    """A sibling folder with the same files, transactions and logins without `country`."""
    out = data_dir.with_name(data_dir.name + "_ips_only")
    out.mkdir()
    for path in data_dir.glob("*.csv"):
        table = pacsv.read_csv(path)
        if path.name in ("transactions.csv", "logins.csv") and "country" in table.column_names:
            pacsv.write_csv(table.drop_columns(["country"]), out / path.name)
        else:
            os.symlink(path, out / path.name)
    return out


def _measure(data_dir: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of feature_engineering.py on `data_dir`."""
    # A fresh interpreter per measurement, so its peak RSS is its own.
    probe = (
        "import resource, subprocess, sys, time;"
        "t0 = time.perf_counter();"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL);"
        "print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    cmd = [sys.executable, str(ROOT / "feature_engineering.py"), "--data-dir", str(data_dir)]
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd], check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--keep", action="store_true", help="keep the generated folders")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    generator = _wait_for_generator()
    results = []
    for size in args.sizes:
        wallets, days = SIZES[size]
        data_dir = Path(tempfile.mkdtemp(prefix=f"bench_features_{size}_"))
        try:
            gen = [
                sys.executable, str(generator), "--wallets", str(wallets), "--days", str(days),
                "--holdout-days", str(HOLDOUT_DAYS), "--seed", str(SEED), "--data-dir", str(data_dir),
            ]  # fmt: skip
            subprocess.run(gen, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            n_tx = _count_rows(data_dir / "transactions.csv")
            n_logins = _count_rows(data_dir / "logins.csv")
            wall, peak_mb = _measure(data_dir)
            results.append((size, n_tx, n_logins, wall, n_tx / wall, peak_mb))
            print(
                f"{size:>5}: {n_tx:>9,d} transactions + {n_logins:>9,d} logins -> features.csv "
                f"in {wall:6.2f} s = {n_tx / wall:>9,.0f} tx/s, peak RSS {peak_mb:7.0f} MB",
                flush=True,
            )
            ips_wall, ips_peak = _measure(_without_countries(data_dir))
            print(
                f"{'':>5}  the same without country columns (located from the IPs): "
                f"{ips_wall:6.2f} s, peak RSS {ips_peak:7.0f} MB; ratio to countries given "
                f"{ips_wall / wall:.2f}x (goal <= 1.2x)",
                flush=True,
            )
        finally:
            if args.keep:
                print(f"       data kept in {data_dir} and {data_dir}_ips_only")
            else:
                shutil.rmtree(data_dir, ignore_errors=True)
                shutil.rmtree(data_dir.with_name(data_dir.name + "_ips_only"), ignore_errors=True)
    goal = [r for r in results if r[0] == "1M"]
    if goal:
        _, n_tx, _, wall, _, peak = goal[0]
        ok = wall <= 15 and peak <= 3072
        print(f"goal (1M in <= 15 s, <= 3 GB): {'met' if ok else 'NOT met'} "
              f"({n_tx:,d} tx, {wall:.1f} s, {peak:.0f} MB)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
