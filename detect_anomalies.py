"""Score new transactions with the trained model, report, and send alerts to the alert API.

    python detect_anomalies.py [--transactions FILE] [--api-url URL] [--no-alerts] [--follow]
                               [--geoip-db FILE.mmdb]

Batch: scores DATA_DIR/new_transactions.csv with the training period as history
(`wallet_monitor.scoring.detect`: features, model, episode links), writes detections.csv and
wallet_scores.csv, POSTs every flagged transaction to `/alert` (`wallet_monitor.delivery`:
batches, retries, a spool so nothing is lost), and with labels.csv present prints and saves
an evaluation. `--follow`: the same scoring on rows as they are appended
(`wallet_monitor.stream`). `fraud_score` is in [0, 1], higher is more suspicious. Both
locate addresses without a country as feature_engineering.py does (the bundled database, or
--geoip-db), and warn when the model's features were located with another database.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd

from wallet_monitor.cli import CliParser, UserError, report, reports_dir, setup_logging
from wallet_monitor.delivery import DEFAULT_API_URL, SPOOL_NAME, alert_records, send_alerts
from wallet_monitor.evaluation import evaluate_file, format_metrics
from wallet_monitor.features import (
    Locator,
    load_logins,
    load_transactions,
    load_wallets,
)
from wallet_monitor.features.geoip import open_matching
from wallet_monitor.figures import write_figures
from wallet_monitor.io import write_json
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
    transactions_file,
)
from wallet_monitor.scoring import detect, wallet_scores
from wallet_monitor.stream import follow
from wallet_monitor.stream.metrics import DetectorMetrics
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
                   help="with --follow nats://: serve Prometheus metrics at "
                   "http://127.0.0.1:PORT/metrics")
    p.add_argument("--max-idle", type=float, default=None,
                   help="with --follow: stop after this many seconds without new transactions")
    p.add_argument("--stop-after", type=int, default=None,
                   help="with --follow: stop after reading this many transaction rows")
    p.add_argument("--geoip-db", type=Path, default=None, metavar="FILE.mmdb",
                   help="locate IP addresses with this MaxMind GeoIP2/GeoLite2 Country or City "
                   "database instead of the bundled one (use the one the model was trained with)")
    return p.parse_args(argv)


def _history(data_dir: Path, scored: Path | None) -> pd.DataFrame | None:
    """The training period's transactions as look-back context, unless it is the scored file."""
    path = transactions_file(data_dir)
    if not path.exists() or (scored is not None and path.resolve() == scored.resolve()):
        return None
    return load_transactions(path)


def _wallets(data_dir: Path) -> pd.DataFrame | None:
    path = data_dir / WALLETS_FILE
    return load_wallets(path) if path.exists() else None


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
            logins=logins, tx_columns=_columns(transactions_file(args.data_dir)),
            login_columns=_columns(logins_path),
            api_url=None if args.no_alerts else args.api_url, api_key=args.api_key,
            max_idle=args.max_idle, stop_after=args.stop_after, metrics=metrics,
            geo=Locator(database, summary_level=logging.DEBUG))
    except (UserError, OSError) as exc:
        return report(PROG, exc)
    finally:
        if metrics is not None:
            metrics.close()
    if stats.alerts_spooled:
        return report(PROG, f"alert API at {args.api_url} unreachable; {stats.alerts_spooled} "
                      f"alerts wait in {out_dir / SPOOL_NAME}")
    return 0


def _columns(path: Path) -> list[str]:
    """A CSV's header (the columns a stream's messages are read with), [] without the file."""
    if path.suffix != ".csv" or not path.exists():
        return []
    return list(pd.read_csv(path, nrows=0).columns)


def _follow_main(args) -> int:
    """`--follow`: load the model, history and wallets table, then follow."""
    if isinstance(args.follow, str) and args.follow.startswith("nats://"):
        return _follow_nats(args)
    if isinstance(args.follow, str):
        return report(PROG, f"--follow takes a nats://HOST:PORT/STREAM URL, got {args.follow!r}", 2)
    tx_path = args.transactions or args.data_dir / NEW_TRANSACTIONS_FILE
    stdin = str(tx_path) == "-"
    try:
        bundle = load_bundle(args.models_dir / MODEL_FILE)
        database = open_matching(args.geoip_db, bundle.metadata.geoip)
        stats = follow(
            bundle, None if stdin else tx_path, args.data_dir,
            history=_history(args.data_dir, None if stdin else tx_path),
            wallets=_wallets(args.data_dir), logins_path=args.data_dir / LOGINS_FILE,
            api_url=None if args.no_alerts else args.api_url, api_key=args.api_key,
            max_idle=args.max_idle, stop_after=args.stop_after,
            geo=Locator(database, summary_level=logging.DEBUG),
        )
    except UserError as exc:
        return report(PROG, exc)
    if stats.alerts_spooled:
        return report(PROG, f"alert API at {args.api_url} unreachable; {stats.alerts_spooled} "
                      f"alerts wait in {args.data_dir / SPOOL_NAME}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    setup_logging()
    if args.follow:
        return _follow_main(args)
    t0 = time.perf_counter()
    try:
        bundle = load_bundle(args.models_dir / MODEL_FILE)
        geo = Locator(open_matching(args.geoip_db, bundle.metadata.geoip))
        new_path = args.transactions or args.data_dir / NEW_TRANSACTIONS_FILE
        if not new_path.exists():
            raise InputError(f"{new_path}: not found")
        targets = load_transactions(new_path)
        detections = detect(bundle, targets, _history(args.data_dir, new_path),
                            _wallets(args.data_dir), load_logins(args.data_dir / LOGINS_FILE),
                            geo=geo)
    except UserError as exc:
        return report(PROG, exc)
    seconds = time.perf_counter() - t0
    _write_outputs(args.data_dir, detections, seconds)
    # Alerts first: evaluation and figures are for the analyst and must never hold them back.
    status = 0 if args.no_alerts else _deliver(args, targets, detections, bundle)
    metrics = evaluate_file(detections, args.data_dir / LABELS_FILE)
    if metrics is not None:
        print(format_metrics(metrics, title=f"Evaluation of {bundle.model_version}"))
    _write_report(reports_dir(args), new_path, bundle, detections, metrics, seconds)
    if not args.no_figures and len(detections):
        write_figures(detections, bundle.threshold, metrics, reports_dir(args) / "figures")
    logger.info("reports written to %s", reports_dir(args))
    return status


def _write_outputs(data_dir: Path, detections: pd.DataFrame, seconds: float) -> None:
    wallets_out = wallet_scores(detections)
    data_dir.mkdir(parents=True, exist_ok=True)
    iso = pd.to_datetime(detections["timestamp"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    detections.assign(timestamp=iso).to_csv(data_dir / DETECTIONS_FILE, index=False)
    wallets_out.to_csv(data_dir / WALLET_SCORES_FILE, index=False)
    n_flag = int(detections["is_anomaly"].sum())
    logger.info("scored %d transactions in %.1fs: %d flagged (%.2f%%); wrote %s and %s",
                len(detections), seconds, n_flag, 100 * n_flag / max(len(detections), 1),
                data_dir / DETECTIONS_FILE, data_dir / WALLET_SCORES_FILE)
    for r in wallets_out.head(5).itertuples():
        logger.info("top wallet %s score %.4f (%d of %d flagged): %s", r.wallet_id,
                    r.wallet_score, r.n_anomalies, r.n_transactions, r.reasons)


def _write_report(reports_dir: Path, new_path: Path, bundle: ModelBundle,
                  detections: pd.DataFrame, metrics: dict | None, seconds: float) -> None:
    """reports/metrics.json: training's summary (kept) plus this detection and evaluation."""
    path = reports_dir / "metrics.json"
    try:
        report_json = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        report_json = {}
    if not isinstance(report_json, dict):
        report_json = {}
    report_json["detection"] = {
        "transactions": str(new_path),
        "model_version": bundle.model_version,
        "rows": len(detections),
        "flagged": int(detections["is_anomaly"].sum()),
        "threshold": bundle.threshold,
        "seconds": round(seconds, 2),
        "dead_detectors": bundle.metadata.params.get("dead", {}),
        "recalibration": bundle.metadata.recalibration,
    }
    report_json["evaluation"] = metrics
    write_json(path, report_json, durable=False, indent=2)


def _deliver(args, targets: pd.DataFrame, detections: pd.DataFrame, bundle: ModelBundle) -> int:
    extra = targets[["amount", "type"]].reset_index(drop=True)
    records = alert_records(pd.concat([detections, extra], axis=1), bundle.model_version)
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
