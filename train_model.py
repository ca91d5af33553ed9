"""Train the unsupervised fraud model on data/features.csv and save it as one bundle.

    python train_model.py [--model iforest|ocsvm] [--contamination C] [--seed S]

The model is `wallet_monitor.model.train`: one detector per behaviour plus a global one, each
calibrated to the training traffic, combined into `fraud_score` in [0, 1] (higher is more
suspicious: the share of training traffic that looks more normal). `is_anomaly` is
`fraud_score >= threshold`, `threshold = 1 - contamination`, kept in the bundle. Training
never reads labels. It computes no features (so it has no --geoip-db): the database that
located the addresses comes from features.meta.json, beside features.csv, into the bundle.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from wallet_monitor.cli import CliParser, UserError, report, setup_logging
from wallet_monitor.features import read_features, read_features_meta
from wallet_monitor.io import write_json
from wallet_monitor.model import (
    COMBINE,
    COMBINE_METHODS,
    DEFAULT_CONTAMINATION,
    MODEL_TYPES,
    ModelBundle,
    save_bundle,
    train,
)
from wallet_monitor.model.params import COMBINE_DECAY, COMBINE_SECOND_WEIGHT
from wallet_monitor.paths import DATA_DIR, MODEL_FILE, MODELS_DIR, REPORTS_DIR
from wallet_monitor.schema import FEATURES_FILE

PROG = "train_model.py"
logger = logging.getLogger(__name__)


def _parse(argv):
    p = CliParser(prog=PROG, description="Train the unsupervised fraud model on data/features.csv.")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR,
                   help="folder holding features.csv (default: %(default)s)")
    p.add_argument("--models-dir", type=Path, default=MODELS_DIR,
                   help="fraud_model.pkl is written here (default: %(default)s)")
    p.add_argument("--reports-dir", type=Path, default=REPORTS_DIR,
                   help="metrics.json is written here (default: %(default)s)")
    p.add_argument("--model", choices=MODEL_TYPES, default="iforest",
                   help="Isolation Forests or One-Class SVMs, one per behaviour (default: %(default)s)")
    p.add_argument("--single", action="store_true",
                   help="one model over every feature instead of one per feature family")
    p.add_argument("--contamination", type=float, default=DEFAULT_CONTAMINATION,
                   help="share of training traffic flagged; threshold = 1 - contamination")
    p.add_argument(
        "--combine", choices=COMBINE_METHODS, default=COMBINE,
        help="how the per-behaviour scores combine: decay = every detector's evidence from "
        f"the most out of line down, each counting {COMBINE_DECAY:g} times the one before, "
        f"lead+second = the detector most out of line plus {COMBINE_SECOND_WEIGHT:g} of the "
        "next, top2 = the two most out of line, +max = or one far out alone, fisher = all of "
        "them (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    args = p.parse_args(argv)
    if not 0 < args.contamination < 0.5:
        p.error(f"--contamination must be in (0, 0.5), got {args.contamination}")
    return args


def _summary(bundle: ModelBundle, load_s: float, fit_s: float, path: Path) -> dict:
    meta = bundle.metadata
    keys = ("model_type", "model_version", "contamination", "n_rows", "n_fit_rows", "trained_at",
            "features_sha256", "geoip", "library_versions", "params")
    return {
        **{k: getattr(meta, k) for k in keys},
        "n_features": len(bundle.feature_names),
        "threshold": bundle.threshold,
        "load_seconds": round(load_s, 2),
        "fit_seconds": round(fit_s, 2),
        "model_path": str(path),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    setup_logging()
    try:
        t0 = time.perf_counter()
        features = read_features(args.data_dir / FEATURES_FILE)
        geoip = read_features_meta(args.data_dir / FEATURES_FILE).get("geoip")
        if geoip is None:
            logger.warning("%s does not say which database located its addresses; the model "
                           "will not record it", args.data_dir / FEATURES_FILE)
        t1 = time.perf_counter()
        bundle = train(features, args.model, args.contamination, args.seed, single=args.single,
                       combine=args.combine, geoip=geoip)
        t2 = time.perf_counter()
        path = args.models_dir / MODEL_FILE
        save_bundle(bundle, path)
    except (UserError, ValueError) as exc:
        return report(PROG, exc)
    # A new model makes any earlier evaluation stale, so metrics.json starts afresh.
    write_json(args.reports_dir / "metrics.json",
               {"training": _summary(bundle, t1 - t0, t2 - t1, path)}, durable=False, indent=2)
    logger.info(
        "trained %s on %d rows x %d features (%d fitted) in %.1fs; saved %s",
        bundle.model_version, bundle.metadata.n_rows, len(bundle.feature_names),
        bundle.metadata.n_fit_rows, t2 - t1, path,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
