"""Generate realistic wallet activity with labelled, injected fraud.

Writes ``wallets.csv``, ``transactions.csv`` (training period), ``new_transactions.csv``
(the last ``--holdout-days``), ``logins.csv`` and ``labels.csv`` into ``--data-dir``.
Labels never appear in the transaction files; the seed alone decides every byte of the
output. The simulation lives in `wallet_monitor.synth`; this script is its command line.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import pandas as pd

from wallet_monitor.cli import CliParser, setup_logging
from wallet_monitor.paths import DATA_DIR
from wallet_monitor.synth import (
    DEFAULT_DAYS,
    DEFAULT_FRAUD_RATE,
    DEFAULT_HOLDOUT_DAYS,
    DEFAULT_SEED,
    DEFAULT_WALLETS,
    MAX_FRAUD_RATE,
    generate,
    generate_chunks,
    write,
    write_parquet_chunks,
)

logger = logging.getLogger(__name__)

# Other scripts and notebooks call `data_generator.generate` / `.write`; they stay reachable.
__all__ = ["generate", "main", "write"]


def _build_parser() -> argparse.ArgumentParser:
    p = CliParser(prog="data_generator.py", description=__doc__.splitlines()[0],
                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--wallets", type=int, default=DEFAULT_WALLETS, help="number of wallets")
    p.add_argument("--days", type=int, default=DEFAULT_DAYS, help="length of the whole period")
    p.add_argument("--holdout-days", type=int, default=DEFAULT_HOLDOUT_DAYS,
                   help="last days written to new_transactions.csv")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed: same seed, same bytes")
    p.add_argument("--fraud-rate", type=float, default=DEFAULT_FRAUD_RATE,
                   help=f"target share of fraudulent transactions, in [0, {MAX_FRAUD_RATE}]")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder the CSV files are written to")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv",
                   help="csv: NAME.csv; parquet: NAME.parquet/, folders of part files generated "
                   "and written a chunk of wallets at a time, never the whole set in memory (for "
                   "the Dask engine's backfills)")
    return p


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    # Checked here, not left to `generate`, so a bad flag is a one-line exit 2 naming the flag.
    if args.wallets <= 0:
        parser.error(f"--wallets must be positive, got {args.wallets}")
    if args.days <= 0:
        parser.error(f"--days must be positive, got {args.days}")
    if not 1 <= args.holdout_days < args.days:
        parser.error(f"--holdout-days must be at least 1 and less than --days ({args.days}), "
                     f"got {args.holdout_days}")
    if not 0.0 <= args.fraud_rate <= MAX_FRAUD_RATE:
        parser.error(f"--fraud-rate must be in [0, {MAX_FRAUD_RATE}], got {args.fraud_rate}")


def _log_summary(frames: dict) -> None:
    counts = frames["labels"]["scenario"].value_counts().sort_index()
    eps = frames["episodes"].groupby(["scenario", "variant"]).size()
    for (scenario, variant), n in eps.items():
        logger.info("episodes %s/%s: %d", scenario, variant, n)
    n_tx = len(frames["transactions"]) + len(frames["new_transactions"])
    logger.info("fraud transactions by scenario: %s (%.2f%% of %d)",
                ", ".join(f"{k}={v}" for k, v in counts.items()),
                100.0 * len(frames["labels"]) / max(n_tx, 1), n_tx)


def _summarized(chunks, summary: list[dict]):
    """`chunks` passed on, keeping of each what the summary counts (labels, episodes, rows)."""
    for frames in chunks:
        summary.append({"labels": frames["labels"], "episodes": frames["episodes"],
                        "transactions": frames["transactions"][[]],
                        "new_transactions": frames["new_transactions"][[]]})
        yield frames


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    setup_logging()
    t0 = time.perf_counter()
    if args.format == "parquet":
        summary: list[dict] = []
        chunks = generate_chunks(args.wallets, args.days, args.holdout_days, args.seed,
                                 args.fraud_rate)
        write_parquet_chunks(_summarized(chunks, summary), args.data_dir)
        _log_summary({k: pd.concat([s[k] for s in summary], ignore_index=True)
                      for k in ("labels", "episodes", "transactions", "new_transactions")})
    else:
        frames = generate(args.wallets, args.days, args.holdout_days, args.seed, args.fraud_rate)
        write(frames, args.data_dir, args.format)
        _log_summary(frames)
    logger.info("done in %.1fs", time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
