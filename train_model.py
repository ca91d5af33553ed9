"""Train the unsupervised fraud model on data/features.csv and save it as one bundle.

    python train_model.py [--model iforest|ocsvm|hbos] [--contamination C] [--seed S]
    python train_model.py --recalibrate [--recent FILE] [--alert-rate R]

The model is `wallet_monitor.model.train`: one detector per behaviour plus a global one, each
calibrated to the training traffic, combined into `fraud_score` in [0, 1] (higher is more
suspicious: the share of training traffic that looks more normal). `is_anomaly` is
`fraud_score >= threshold`, kept in the bundle: the threshold flags `contamination` of the
training period's later rows once episodes are linked (`place_threshold`; 1 - contamination,
own evidence only, where the training transactions are not at hand). Training never reads
labels. The database that located the features' addresses comes from
features.meta.json, beside features.csv, into the bundle.
`--recalibrate` refits the bundle's final calibration and threshold on recent unlabelled
traffic (`wallet_monitor.recalibration`), so the alert budget holds when traffic drifts; the
detectors are kept and the bundle gets a new model_version.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from wallet_monitor.backfill import sample_features
from wallet_monitor.cli import CliParser, UserError, report, reports_dir, setup_logging
from wallet_monitor.features import (
    build_features,
    load_logins,
    load_transactions,
    load_wallets,
    read_features,
    read_features_meta,
)
from wallet_monitor.features.files import features_file
from wallet_monitor.features.geoip import Locator, open_matching
from wallet_monitor.io import write_json
from wallet_monitor.model import (
    COMBINE,
    COMBINE_METHODS,
    DEFAULT_CONTAMINATION,
    MODEL_TYPES,
    ModelBundle,
    load_bundle,
    save_bundle,
    train,
)
from wallet_monitor.model.params import COMBINE_DECAY, COMBINE_SECOND_WEIGHT, OCSVM_COMBINE_DECAY
from wallet_monitor.paths import DATA_DIR, MODEL_FILE, MODELS_DIR
from wallet_monitor.recalibration import DEFAULT_ALERT_RATE, place_threshold, recalibrate
from wallet_monitor.schema import (
    FEATURES_FILE,
    LOGINS_FILE,
    NEW_TRANSACTIONS_FILE,
    WALLETS_FILE,
    input_file,
    transactions_file,
)

PROG = "train_model.py"
logger = logging.getLogger(__name__)


def _parse(argv):
    p = CliParser(prog=PROG, description="Train the unsupervised fraud model on data/features.csv.")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR,
                   help="folder holding features.csv or features.parquet/ (the newer of "
                   "the two; default: %(default)s)")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR,
                   help="fraud_model.pkl is written here (default: %(default)s)")
    p.add_argument("--reports-dir", type=Path, default=None,
                   help="metrics.json is written here (default: 'reports' beside the data folder)")
    p.add_argument("--model", choices=MODEL_TYPES, default="iforest",
                   help="the detector fitted per behaviour: Isolation Forests, One-Class SVMs, "
                   "or pyod's HBOS (default: %(default)s)")
    p.add_argument("--single", action="store_true",
                   help="one model over every feature instead of one per feature family")
    p.add_argument("--contamination", type=float, default=DEFAULT_CONTAMINATION,
                   help="share of the training period's later rows flagged, episode links "
                   "counted (default: %(default)s)")
    p.add_argument(
        "--combine", choices=COMBINE_METHODS, default=COMBINE,
        help="how the per-behaviour scores combine: decay = every detector's evidence from "
        f"the most out of line down, each counting {COMBINE_DECAY:g} times the one before "
        f"({OCSVM_COMBINE_DECAY:g} for ocsvm), "
        f"lead+second = the detector most out of line plus {COMBINE_SECOND_WEIGHT:g} of the "
        "next, top2 = the two most out of line, +max = or one far out alone, fisher = all of "
        "them (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--recalibrate", action="store_true",
                   help="recalibrate MODELS_DIR/fraud_model.pkl on recent unlabelled traffic "
                   "instead of training")
    p.add_argument("--recent", type=Path, default=None,
                   help="with --recalibrate: the recent transactions (default: "
                   "DATA_DIR/new_transactions.csv; the training period gives their history)")
    p.add_argument("--geoip-db", type=Path, default=None, metavar="FILE.mmdb",
                   help="with --recalibrate: a MaxMind GeoLite2/GeoIP2 Country or City database "
                   "to locate addresses without a country (default: the bundled one)")
    p.add_argument("--alert-rate", type=float, default=DEFAULT_ALERT_RATE,
                   help="with --recalibrate: share of the recent rows to flag, episodes linked "
                   "(default: %(default)s)")
    p.add_argument("--engine", choices=("pandas", "dask"), default="pandas",
                   help="pandas: read every feature row (default); dask: draw --sample rows at "
                   "random from a Dask frame over features.csv or features.parquet/")
    p.add_argument("--sample", type=int, default=1_000_000,
                   help="with --engine dask: training rows to draw (default: %(default)s)")
    args = p.parse_args(argv)
    if args.sample < 1:
        p.error(f"--sample must be positive, got {args.sample}")
    if not 0 < args.contamination < 0.5:
        p.error(f"--contamination must be in (0, 0.5), got {args.contamination}")
    if not 0 < args.alert_rate < 0.5:
        p.error(f"--alert-rate must be in (0, 0.5), got {args.alert_rate}")
    return args


def _summary(bundle: ModelBundle, load_s: float, fit_s: float, path: Path) -> dict:
    meta = bundle.metadata
    keys = ("model_type", "model_version", "contamination", "n_rows", "n_fit_rows", "trained_at",
            "features_sha256", "geoip", "library_versions", "params", "recalibration", "budget")
    return {
        **{k: getattr(meta, k) for k in keys},
        "n_features": len(bundle.feature_names),
        "threshold": bundle.threshold,
        "dead_detectors": meta.params.get("dead", {}),
        "load_seconds": round(load_s, 2),
        "fit_seconds": round(fit_s, 2),
        "model_path": str(path),
    }


def _recalibrated(args) -> ModelBundle:
    """The bundle recalibrated on the recent transactions, their features built as detection
    builds them (the training period as history)."""
    bundle = load_bundle(args.models_dir / MODEL_FILE)
    recent_path = args.recent or input_file(args.data_dir, NEW_TRANSACTIONS_FILE)
    recent = load_transactions(recent_path)
    history_path = transactions_file(args.data_dir)
    history = (load_transactions(history_path) if history_path.exists()
               and history_path.resolve() != recent_path.resolve() else None)
    wallets_path = input_file(args.data_dir, WALLETS_FILE)
    features = build_features(recent, history,
                              load_wallets(wallets_path) if wallets_path.exists() else None,
                              load_logins(input_file(args.data_dir, LOGINS_FILE)),
                              Locator(open_matching(args.geoip_db, bundle.metadata.geoip)))
    new = recalibrate(bundle, features, recent, args.alert_rate)
    logger.info("recalibrated %s on %d rows of %s: threshold %.5f -> %.5f (%.1f%% flagged with "
                "episodes linked); model version %s", bundle.model_version, len(recent),
                recent_path.name, bundle.threshold, new.threshold, 100 * args.alert_rate,
                new.model_version)
    return new


def _budgeted(args, bundle: ModelBundle, features) -> ModelBundle:
    """The bundle with its threshold placed on the training period, episode links counted
    (`place_threshold`); as trained (1 - contamination) where the training transactions are
    not at hand or the features are a sample (--engine dask: episodes need every row)."""
    history_path = transactions_file(args.data_dir)
    if args.engine == "dask" or not history_path.exists():
        logger.warning("threshold left at 1 - contamination: episode links not counted in the "
                       "budget (%s)", "sampled features" if args.engine == "dask"
                       else f"no {history_path.name}")
        return bundle
    try:
        return place_threshold(bundle, features, load_transactions(history_path))
    except ValueError as exc:  # features.csv of other transactions than history_path's
        logger.warning("threshold left at 1 - contamination: episode links not counted in the "
                       "budget (%s: %s)", history_path.name, exc)
        return bundle


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    setup_logging()
    path = args.models_dir / MODEL_FILE
    try:
        t0 = time.perf_counter()
        if args.recalibrate:
            bundle = _recalibrated(args)
            t1 = t0
        else:
            features_path = features_file(args.data_dir, FEATURES_FILE)
            features = (sample_features(features_path, args.sample, args.seed)
                        if args.engine == "dask" else read_features(features_path))
            geoip = read_features_meta(features_path).get("geoip")
            if geoip is None:
                logger.warning("%s does not say which database located its addresses; the "
                               "model will not record it", features_path)
            t1 = time.perf_counter()
            bundle = _budgeted(args, train(features, args.model, args.contamination, args.seed,
                                           single=args.single, combine=args.combine, geoip=geoip),
                               features)
        t2 = time.perf_counter()
        save_bundle(bundle, path)
    except (UserError, ValueError) as exc:
        return report(PROG, exc)
    # A new model makes any earlier evaluation stale, so metrics.json starts afresh.
    write_json(reports_dir(args) / "metrics.json",
               {"training": _summary(bundle, t1 - t0, t2 - t1, path)}, durable=False, indent=2)
    if not args.recalibrate:
        logger.info(
            "trained %s on %d rows x %d features (%d fitted) in %.1fs; saved %s",
            bundle.model_version, bundle.metadata.n_rows, len(bundle.feature_names),
            bundle.metadata.n_fit_rows, t2 - t1, path,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
