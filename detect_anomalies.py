"""Score new transactions with the trained model, report, and send alerts to the alert API.

    python detect_anomalies.py [--transactions FILE] [--api-url URL] [--no-alerts] [--follow]
                               [--geoip-db FILE.mmdb] [--engine pandas|dask]
                               [--scheduler tcp://HOST:8786] [--output-format csv|parquet]

Batch: scores DATA_DIR/new_transactions.csv with the training period as history
(`wallet_monitor.scoring.detect`: features, model, episode links), writes detections.csv and
wallet_scores.csv, POSTs every flagged transaction to `/alert` (`wallet_monitor.delivery`:
batches, retries, a spool so nothing is lost), and with labels.csv present prints and saves
an evaluation. `--follow`: the same scoring on rows as they are appended
(`wallet_monitor.stream`). `fraud_score` is in [0, 1], higher is more suspicious. Both
locate addresses without a country as feature_engineering.py does (the bundled database, or
--geoip-db), and warn when the model's features were located with another database.
`--engine dask`: the same batch scoring on a Dask cluster (`wallet_monitor.backfill`), the
same detections; evaluation and figures are left to a run that fits in memory.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd

from wallet_monitor.backfill import detect_to_file
from wallet_monitor.cli import (
    CliParser,
    UserError,
    add_engine_arguments,
    report,
    reports_dir,
    setup_logging,
)
from wallet_monitor.delivery import DEFAULT_API_URL, SPOOL_NAME, alert_records, send_alerts
from wallet_monitor.detections import write_detections
from wallet_monitor.evaluation import evaluate_file, format_metrics, write_detection_report
from wallet_monitor.features import (
    Locator,
    load_logins,
    load_transactions,
    load_wallets,
)
from wallet_monitor.features.geoip import open_matching
from wallet_monitor.figures import write_figures
from wallet_monitor.model import ModelBundle, load_bundle
from wallet_monitor.paths import DATA_DIR, MODEL_FILE, MODELS_DIR
from wallet_monitor.schema import (
    DETECTIONS_FILE,
    LABELS_FILE,
    LOGINS_FILE,
    NEW_TRANSACTIONS_FILE,
    WALLET_SCORES_FILE,
    WALLETS_FILE,
    InputError,
    input_file,
    transactions_file,
)
from wallet_monitor.scoring import detect
from wallet_monitor.stream import follow
from wallet_monitor.stream.metrics import DetectorMetrics
from wallet_monitor.stream.parse import csv_header
from wallet_monitor.stream.partition import DEFAULT_PARTITIONS, parse_nats_url, parse_shard
from wallet_monitor.stream.shard import follow_nats

PROG = "detect_anomalies.py"
logger = logging.getLogger(__name__)


def _parse(argv):
    p = CliParser(prog=PROG, description="Score new transactions and send alerts for the flagged ones.")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR,
                   help="folder with the input CSVs; outputs are written here (default: %(default)s)")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR,
                   help="folder holding fraud_model.pkl (default: %(default)s)")
    p.add_argument("--reports-dir", type=Path, default=None,
                   help="metrics.json and figures/ are written here (default: 'reports' beside "
                   "the data folder)")
    p.add_argument("--transactions", type=Path, default=None,
                   help="transactions to score (default: DATA_DIR/new_transactions.csv)")
    p.add_argument("--api-url", default=os.environ.get("ALERT_API_URL", DEFAULT_API_URL),
                   help="alert API base URL (env ALERT_API_URL; default: %(default)s)")
    p.add_argument("--api-key", default=os.environ.get("ALERT_API_KEY"),
                   help="X-API-Key for the alert API (default: env ALERT_API_KEY)")
    p.add_argument("--no-alerts", action="store_true", help="do not send alerts")
    p.add_argument("--no-figures", action="store_true", help="skip reports/figures/*.png")
    p.add_argument("--follow", nargs="?", const=True, default=False, metavar="nats://HOST:PORT/STREAM",
                   help="keep scoring rows appended to the transactions file ('-': stdin) and "
                   "logins.csv; writes DATA_DIR/stream_detections.csv and follow_checkpoint.json. "
                   "With a nats:// URL: consume the stream's transactions and logins instead "
                   "(docs/DEPLOY.md); outputs go to DATA_DIR/nats-STREAM-I-of-N/")
    p.add_argument("--shard", default="0/1", metavar="I/N",
                   help="with --follow nats://: consume the partitions p with p mod N == I "
                   "(default: %(default)s)")
    p.add_argument("--partitions", type=int, default=None,
                   help="with --follow nats://: the partition count of a stream this creates "
                   f"(default {DEFAULT_PARTITIONS}); an existing stream's count must agree")
    p.add_argument("--ack-wait", type=float, default=10.0,
                   help="with --follow nats://: seconds before an unacknowledged message is "
                   "delivered again (default: %(default)s)")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="with --follow: serve Prometheus metrics at http://127.0.0.1:PORT/metrics")
    p.add_argument("--max-idle", type=float, default=None,
                   help="with --follow: stop after this many seconds without new transactions")
    p.add_argument("--stop-after", type=int, default=None,
                   help="with --follow: stop after reading this many transaction rows")
    p.add_argument("--geoip-db", type=Path, default=None, metavar="FILE.mmdb",
                   help="locate IP addresses with this MaxMind GeoIP2/GeoLite2 Country or City "
                   "database instead of the bundled one (use the one the model was trained with)")
    add_engine_arguments(p, "detections")
    return p.parse_args(argv)


def _history(data_dir: Path, scored: Path | None) -> pd.DataFrame | None:
    """The training period's transactions as look-back context, unless it is the scored file."""
    path = transactions_file(data_dir)
    if not path.exists() or (scored is not None and path.resolve() == scored.resolve()):
        return None
    return load_transactions(path)


def _wallets(data_dir: Path) -> pd.DataFrame | None:
    path = input_file(data_dir, WALLETS_FILE)
    return load_wallets(path) if path.exists() else None


def _spool_status(args, stats, spool_dir: Path) -> int:
    """A follower's exit status: 0, or the one-line error naming the alerts left spooled."""
    return (report(PROG, f"alert API at {args.api_url} unreachable; {stats.alerts_spooled} "
                   f"alerts wait in {spool_dir / SPOOL_NAME}") if stats.alerts_spooled else 0)


def _follow_nats(args) -> int:
    """`--follow nats://...`: the data folder gives wallets and history; the stream, the rest."""
    metrics = None
    try:
        address = parse_nats_url(args.follow)
        shard = parse_shard(args.shard)
        if args.partitions is not None and args.partitions < 1:
            raise UserError(f"--partitions must be at least 1, got {args.partitions}")
        bundle = load_bundle(args.models_dir / MODEL_FILE)
        database = open_matching(args.geoip_db, bundle.metadata.geoip)
        history = _history(args.data_dir, None)
        logins_path = args.data_dir / LOGINS_FILE
        logins = load_logins(logins_path) if logins_path.exists() else None
        metrics = DetectorMetrics(args.metrics_port, shard=args.shard) if args.metrics_port else None
        out_dir = args.data_dir / f"nats-{address.stream}-{shard[0]}-of-{shard[1]}"
        stats = follow_nats(
            bundle, args.follow, out_dir, shard=shard, partitions=args.partitions,
            ack_wait=args.ack_wait, history=history, wallets=_wallets(args.data_dir),
            logins=logins, tx_columns=csv_header(transactions_file(args.data_dir)),
            login_columns=csv_header(logins_path),
            api_url=None if args.no_alerts else args.api_url, api_key=args.api_key,
            max_idle=args.max_idle, stop_after=args.stop_after, metrics=metrics,
            geo=Locator(database, summary_level=logging.DEBUG))
    except (UserError, OSError) as exc:
        return report(PROG, exc)
    finally:
        if metrics is not None:
            metrics.close()
    return _spool_status(args, stats, out_dir)


def _history_path(data_dir: Path, scored: Path) -> Path | None:
    path = transactions_file(data_dir)
    return None if not path.exists() or path.resolve() == scored.resolve() else path


def _detections_path(args) -> Path:
    out = args.data_dir / DETECTIONS_FILE
    return out.with_suffix(".parquet") if args.output_format == "parquet" else out


def _dask_main(args, t0: float) -> int:
    """`--engine dask`: score on the cluster, write the outputs and send the alerts."""
    try:
        bundle = load_bundle(args.models_dir / MODEL_FILE)
        open_matching(args.geoip_db, bundle.metadata.geoip)  # warns on another database
        new_path = args.transactions or input_file(args.data_dir, NEW_TRANSACTIONS_FILE)
        logins = input_file(args.data_dir, LOGINS_FILE)
        writer, flagged = detect_to_file(
            args.scheduler, bundle, new_path, _detections_path(args),
            _history_path(args.data_dir, new_path), _wallets(args.data_dir),
            logins if logins.exists() else None, args.geoip_db, args.dask_partitions)
    except UserError as exc:
        return report(PROG, exc)
    seconds = time.perf_counter() - t0
    _log_outputs(args, writer, seconds)
    status = 0 if args.no_alerts or flagged is None else _deliver(args, flagged, flagged, bundle)
    logger.info("--engine dask: evaluation and figures skipped (run them where the detections "
                "fit in memory)")
    write_detection_report(reports_dir(args) / "metrics.json", new_path, bundle, writer.rows,
                           writer.flagged, None, seconds)
    return status


def _follow_main(args) -> int:
    """`--follow`: load the model, history and wallets table, then follow."""
    if isinstance(args.follow, str) and args.follow.startswith("nats://"):
        return _follow_nats(args)
    if isinstance(args.follow, str):
        return report(PROG, f"--follow takes a nats://HOST:PORT/STREAM URL, got {args.follow!r}", 2)
    tx_path = args.transactions or args.data_dir / NEW_TRANSACTIONS_FILE
    stdin = str(tx_path) == "-"
    metrics = None
    try:
        bundle = load_bundle(args.models_dir / MODEL_FILE)
        database = open_matching(args.geoip_db, bundle.metadata.geoip)
        metrics = DetectorMetrics(args.metrics_port) if args.metrics_port else None
        stats = follow(
            bundle, None if stdin else tx_path, args.data_dir,
            history=_history(args.data_dir, None if stdin else tx_path),
            wallets=_wallets(args.data_dir), logins_path=args.data_dir / LOGINS_FILE,
            api_url=None if args.no_alerts else args.api_url, api_key=args.api_key,
            max_idle=args.max_idle, stop_after=args.stop_after,
            geo=Locator(database, summary_level=logging.DEBUG), metrics=metrics,
        )
    except (UserError, OSError) as exc:
        return report(PROG, exc)
    finally:
        if metrics is not None:
            metrics.close()
    return _spool_status(args, stats, args.data_dir)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    setup_logging()
    if args.follow:
        return _follow_main(args)
    t0 = time.perf_counter()
    if args.engine == "dask":
        return _dask_main(args, t0)
    try:
        bundle = load_bundle(args.models_dir / MODEL_FILE)
        geo = Locator(open_matching(args.geoip_db, bundle.metadata.geoip))
        new_path = args.transactions or input_file(args.data_dir, NEW_TRANSACTIONS_FILE)
        if not new_path.exists():
            raise InputError(f"{new_path}: not found")
        targets = load_transactions(new_path)
        logins = load_logins(input_file(args.data_dir, LOGINS_FILE))
        detections = detect(bundle, targets, _history(args.data_dir, new_path),
                            _wallets(args.data_dir), logins, geo=geo)
    except UserError as exc:
        return report(PROG, exc)
    seconds = time.perf_counter() - t0
    writer = write_detections([detections], _detections_path(args))
    _log_outputs(args, writer, seconds)
    # Alerts first: evaluation and figures are for the analyst and must never hold them back.
    status = 0 if args.no_alerts else _deliver(args, targets, detections, bundle)
    metrics = evaluate_file(detections, args.data_dir / LABELS_FILE)
    if metrics is not None:
        print(format_metrics(metrics, title=f"Evaluation of {bundle.model_version}"))
    write_detection_report(reports_dir(args) / "metrics.json", new_path, bundle, writer.rows,
                           writer.flagged, metrics, seconds)
    if not args.no_figures and len(detections):
        write_figures(detections, bundle.threshold, metrics, reports_dir(args) / "figures")
    logger.info("reports written to %s", reports_dir(args))
    return status


def _log_outputs(args, writer, seconds: float) -> None:
    """wallet_scores.csv, and the run's summary in the log."""
    wallets_out = writer.wallet_scores()
    wallets_out.to_csv(args.data_dir / WALLET_SCORES_FILE, index=False)
    logger.info("scored %d transactions in %.1fs: %d flagged (%.2f%%); wrote %s and %s",
                writer.rows, seconds, writer.flagged, 100 * writer.flagged / max(writer.rows, 1),
                writer.path, args.data_dir / WALLET_SCORES_FILE)
    for r in wallets_out.head(5).itertuples():
        logger.info("top wallet %s score %.4f (%d of %d flagged): %s", r.wallet_id,
                    r.wallet_score, r.n_anomalies, r.n_transactions, r.reasons)


def _deliver(args, targets: pd.DataFrame, detections: pd.DataFrame, bundle: ModelBundle) -> int:
    """POST the flagged rows of `detections` (`targets`: the same rows' amount and type)."""
    extra = targets[["amount", "type"]].reset_index(drop=True)
    rows = detections.drop(columns=["amount", "type"], errors="ignore").reset_index(drop=True)
    records = alert_records(pd.concat([rows, extra], axis=1), bundle.model_version)
    spool = args.data_dir / SPOOL_NAME
    try:
        result = send_alerts(records, args.api_url, spool, api_key=args.api_key)
    except UserError as exc:
        return report(PROG, exc)
    logger.info("alerts: %d sent (%d new, %d already stored), %d waiting in %s, %d refused",
                result.sent, result.created, result.existing, result.spooled, spool,
                result.rejected)
    if result.spooled:
        return report(PROG, f"alert API at {args.api_url} unreachable; {result.spooled} alerts "
                      f"wait in {spool} and are sent first on the next run")
    if result.rejected:
        return report(PROG, f"the alert API refused {result.rejected} alerts as invalid; they "
                      f"are kept in {spool.with_name(spool.stem + '.rejected.jsonl')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
