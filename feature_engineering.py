"""Turn wallets, transactions and logins into data/features.csv (the training period).

    python feature_engineering.py [--data-dir DIR] [--geoip-db FILE.mmdb]
                                  [--engine pandas|dask] [--scheduler tcp://HOST:8786]
                                  [--output-format csv|parquet]

The features themselves are `wallet_monitor.features.build_features` (point-in-time, one row
per transaction); docs/FEATURES.md lists them. Rows without a country are located from their
ip_address, offline (the bundled database, or a MaxMind file with --geoip-db);
features.meta.json records which database. Each input may be `NAME.parquet` (a file or a
folder of part files) in place of `NAME.csv`. `--engine dask` runs the same features on a Dask
cluster (`wallet_monitor.backfill`) for data past one machine's memory, with the same result.
This script only reads, calls and writes.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from wallet_monitor.backfill import features_to_file
from wallet_monitor.cli import CliParser, UserError, add_engine_arguments, report, setup_logging
from wallet_monitor.features import (
    FEATURE_NAMES,
    Locator,
    build_features,
    load_logins,
    load_transactions,
    load_wallets,
    open_database,
    write_features,
)
from wallet_monitor.paths import DATA_DIR
from wallet_monitor.schema import (
    FEATURES_FILE,
    LOGINS_FILE,
    WALLETS_FILE,
    input_file,
    transactions_file,
)

PROG = "feature_engineering.py"
logger = logging.getLogger(__name__)


def _parser() -> CliParser:
    parser = CliParser(
        prog=PROG,
        description="Turn wallets, transactions and logins into data/features.csv (training period).",
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help="folder with wallets.csv, transactions.csv (or generated_data.csv), "
                        "logins.csv; features.csv is written there (default: %(default)s)")
    parser.add_argument("--geoip-db", type=Path, default=None, metavar="FILE.mmdb",
                        help="locate IP addresses with this MaxMind GeoIP2/GeoLite2 Country or City "
                        "database instead of the bundled one (rows with a country keep it)")
    add_engine_arguments(parser, "features")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    t0 = time.perf_counter()
    try:
        database = open_database(args.geoip_db)
        logger.info("locating addresses without a country with %s", database.describe())
        tx_path = transactions_file(args.data_dir)
        wallets_path = input_file(args.data_dir, WALLETS_FILE)
        wallets = load_wallets(wallets_path) if wallets_path.exists() else None
        logins_path = input_file(args.data_dir, LOGINS_FILE)
        out = args.data_dir / FEATURES_FILE
        if args.output_format == "parquet":
            out = out.with_suffix(".parquet")
        if args.engine == "dask":
            rows = features_to_file(args.scheduler, tx_path, out, wallets,
                                    logins_path if logins_path.exists() else None, args.geoip_db,
                                    {"geoip": database.info}, args.dask_partitions)
            logger.info("computed %d features for %d transactions on Dask; wrote %s (total %.2fs)",
                        len(FEATURE_NAMES), rows, out, time.perf_counter() - t0)
            return 0
        transactions = load_transactions(tx_path)
        logins = load_logins(logins_path)
        t1 = time.perf_counter()
        logger.info(
            "loaded %d transactions (%s), %d wallets, %d logins in %.2fs",
            len(transactions), tx_path.name, 0 if wallets is None else len(wallets),
            0 if logins is None else len(logins), t1 - t0,
        )
        features = build_features(transactions, wallets=wallets, logins=logins,
                                  geo=Locator(database))
    except UserError as exc:
        return report(PROG, exc)
    t2 = time.perf_counter()
    write_features(features, out, meta={"geoip": database.info})
    t3 = time.perf_counter()
    logger.info(
        "computed %d features for %d transactions in %.2fs; wrote %s in %.2fs (total %.2fs)",
        len(FEATURE_NAMES), len(features), t2 - t1, out, t3 - t2, t3 - t0,
    )
    return 0

if __name__ == "__main__":
    sys.exit(main())
