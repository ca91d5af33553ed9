"""The command-line contract every script shares.

- `CliParser`: argparse whose errors are one line on stderr and exit code 2, no usage block.
- `setup_logging`: one log format for every script (configured by the script's `main` only,
  never at import time).
- `UserError`: the base of every error that is the user's to fix (a bad file, a stale model,
  an alert API that refuses the key); `report` prints it as `PROG: error: REASON` and returns
  exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class UserError(Exception):
    """An error the user can fix; scripts report it as one line, without a traceback."""


class CliParser(argparse.ArgumentParser):
    """argparse with the chain's error contract: one line on stderr, exit 2, no usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_engine_arguments(parser: CliParser, output: str) -> None:
    """--engine, --scheduler, --dask-partitions and --output-format (feature_engineering.py, detect_anomalies.py)."""
    parser.add_argument("--engine", choices=("pandas", "dask"), default="pandas",
                        help="pandas: in this process (default); dask: on a Dask cluster, for "
                        "data past this machine's memory (same result)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                        help="with --engine dask: this scheduler (default: a local cluster, one "
                        "worker per core, a memory limit per worker)")
    parser.add_argument("--dask-partitions", type=int, default=None,
                        help="with --engine dask: wallet partitions (default: one per ~600k rows)")
    parser.add_argument("--output-format", choices=("csv", "parquet"), default="csv",
                        help=f"csv: {output}.csv (default); parquet: {output}.parquet/, a folder "
                        "of part files")


def setup_logging(log_file: Path | None = None) -> None:
    """INFO to stderr (and to `log_file` when given), one format for every script."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        try:
            handlers.append(logging.FileHandler(log_file))
        except OSError as exc:
            raise UserError(f"cannot open log file {log_file}: {exc}") from None
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, handlers=handlers)


def report(prog: str, message: object, code: int = 1) -> int:
    """Print `PROG: error: MESSAGE` on stderr and return the exit code."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def reports_dir(args) -> Path:
    """`--reports-dir`, or by default `reports` beside the data folder: a user's own data
    never overwrites the project's reports."""
    return args.reports_dir if args.reports_dir is not None else (
        args.data_dir.resolve().parent / "reports")
