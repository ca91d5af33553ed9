"""Training: fit the detectors on training-period features and build the bundle.

The default model is a per-behaviour ensemble: one Isolation Forest per family of related
features (`DETECTOR_FAMILIES`) plus one global forest over all of them, each calibrated to the
empirical CDF of its scores on the training traffic. `single` fits one model over every
feature instead; `model="ocsvm"` swaps the forests for a bounded One-Class SVM (Nystroem
kernel map + SGDOneClassSVM fitted on a capped subsample). Training never reads labels.
"""

from __future__ import annotations

import hashlib
import logging
import platform
from datetime import UTC, datetime

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline

from wallet_monitor.features.catalog import FEATURE_LABELS
from wallet_monitor.model.bundle import (
    BUNDLE_FORMAT_VERSION,
    BundleMetadata,
    Detector,
    ModelBundle,
    ReasonStats,
)
from wallet_monitor.model.calibration import (
    COMBINE_METHODS,
    Calibration,
    combine_scores,
    combine_weight,
    evidence_groups,
)
from wallet_monitor.model.detectors import WithinGroup, make_pipeline, raw_anomaly
from wallet_monitor.model.families import (
    POPULATION_DETECTORS,
    detector_families,
    is_volume_detector,
)
from wallet_monitor.model.params import (
    CALIBRATION_MAX_ROWS,
    CALIBRATION_POINTS,
    COMBINE,
    DEFAULT_CONTAMINATION,
    EVIDENCE_FROM,
    FOREST_INPUTS,
    IFOREST_PARAMS,
    MODEL_TYPES,
    OCSVM_PARAMS,
    ONE_SIDED,
    ONE_SIDED_FEATURES,
    TAIL_GRID,
    VOLUME_DECAY,
)
from wallet_monitor.model.predict import clamped, without_history
from wallet_monitor.model.tails import Tails, suspicious_sides

logger = logging.getLogger(__name__)


def train(
    features: pd.DataFrame,
    model: str = "iforest",
    contamination: float = DEFAULT_CONTAMINATION,
    seed: int = 0,
    single: bool = False,
    families: dict[str, list[str]] | None = None,
    labels: dict[str, str] | None = None,
    directions: dict[str, int] | None = None,
    combine: str = COMBINE,
    inputs: str = FOREST_INPUTS,
    one_sided: str = ONE_SIDED,
    evidence_from: float = EVIDENCE_FROM,
    geoip: dict | None = None,
) -> ModelBundle:
    """Fit the detectors on training-period features and return the model bundle.

    `features` is features.csv as a frame (a `transaction_id` column is ignored).
    `families` groups features for the per-family ensemble (default: `DETECTOR_FAMILIES`
    plus a global detector); features in no family form an "other" one. `labels` and
    `directions` give each feature's words and suspicious side (default: the feature
    catalog's; +1 when unknown). `combine` is one of COMBINE_METHODS; `inputs` what the
    forests see ("raw" features or "tail" scores). `geoip` says which database located the
    features' addresses (features.meta.json); the bundle's metadata keeps it.
    """
    _check_args(model, contamination, combine)
    X_df = features.drop(columns=["transaction_id"], errors="ignore")
    names = list(X_df.columns)
    if not names or len(X_df) < 10:
        raise ValueError(f"need at least 10 rows and one feature, got {X_df.shape}")
    X_df = X_df.astype(np.float64)
    if not np.isfinite(X_df.to_numpy()).all():
        raise ValueError("features contain NaN or infinite values")
    labels = FEATURE_LABELS if labels is None else labels
    rng = np.random.default_rng(seed)
    n = len(X_df)
    calib_idx = (
        np.sort(rng.choice(n, CALIBRATION_MAX_ROWS, replace=False))
        if n > CALIBRATION_MAX_ROWS
        else np.arange(n)
    )
    X_cal = X_df.iloc[calib_idx][names].to_numpy(dtype=np.float64)
    # Tail scores are fitted on the calibration rows: their quantiles are the training
    # traffic's, and the forests subsample a few hundred rows per tree anyway.
    sides = suspicious_sides(names, directions)
    tails = Tails.fit(X_cal, sides)
    # An RBF kernel on clamped inputs puts half of each feature's mass on one point, which
    # distorts its scale (a planted velocity outlier fell from first to third): the One-Class
    # SVM reads only ONE_SIDED_FEATURES one-sided.
    clamps = _clamps(names, sides, X_cal, "features" if model == "ocsvm" else one_sided)
    groups, dead = _live_groups(detector_families(names, families, single), names, X_cal)
    side = dict(zip(names, sides, strict=True))
    detectors, fam_scores, n_fit_rows = _fit_detectors(
        groups, model, inputs, X_df, X_cal, tails, clamps, rng, seed, side)
    # The combination's weight is kept with the bundle, so it scores as it was calibrated.
    weight = combine_weight(combine, model)
    fam_matrix = np.column_stack(fam_scores)
    # Detectors that speak for the same training rows count once (docs/QUALITY.md, ninth round).
    groups = (evidence_groups(fam_matrix, evidence_from,
                              apart=[d.without_history_only for d in detectors])
              if combine == "decay" else None)
    # Detectors reading volume take one place together (docs/QUALITY.md, tenth round).
    volume = ([is_volume_detector(d.features) for d in detectors] if combine == "decay"
              else None)
    volume_weight = VOLUME_DECAY if volume is not None else None
    combined, combine_cals = combine_scores(fam_matrix, combine, weight=weight,
                                            evidence_from=evidence_from, groups=groups,
                                            volume=volume, volume_weight=volume_weight)
    params = {
        "single": single or len(detectors) == 1,
        "families": {d.family: d.features for d in detectors},
        **({"iforest": IFOREST_PARAMS} if model == "iforest" else
           {"ocsvm": OCSVM_PARAMS} if model == "ocsvm" else {"pyod": model}),
        "calibration_points": CALIBRATION_POINTS,
        "combine": combine,
        "combine_weight": weight,
        "combine_groups": groups,
        "combine_volume": volume,
        "forest_inputs": inputs,
        "tail_grid": TAIL_GRID,
        "one_sided": one_sided,
        "dead": dead,
    }
    return ModelBundle(
        detectors=detectors,
        feature_names=names,
        calibration=Calibration.fit(combined) if len(detectors) > 1 else None,
        combine=combine,
        combine_weight=weight,
        combine_calibrations=combine_cals,
        threshold=1.0 - contamination,
        input_clamps=clamps,
        evidence_from=evidence_from,
        combine_groups=groups,
        combine_volume=volume,
        combine_volume_weight=volume_weight,
        tails=tails,
        reason_stats=ReasonStats(median=np.median(X_cal, axis=0),
                                 labels=[labels.get(c, c) for c in names]),
        metadata=_metadata(features, model, params, contamination, seed, n, n_fit_rows, geoip),
    )


def _check_args(model: str, contamination: float, combine: str) -> None:
    if combine not in COMBINE_METHODS:
        raise ValueError(f"combine must be one of {COMBINE_METHODS}, got {combine!r}")
    if model not in MODEL_TYPES:
        raise ValueError(f"model must be one of {MODEL_TYPES}, got {model!r}")
    if not 0 < contamination < 0.5:
        raise ValueError(f"contamination must be in (0, 0.5), got {contamination!r}")


def _clamps(names, sides, X_cal, one_sided: str) -> dict[str, tuple[float, float]]:
    """Where each one-sided feature stops on its harmless side: its training median."""
    if one_sided == "directional":
        chosen = [j for j, s in enumerate(sides) if s != 0]
    else:
        chosen = [names.index(c) for c in ONE_SIDED_FEATURES if c in names]
    out = {}
    for j in chosen:
        med = float(np.median(X_cal[:, j]))
        out[names[j]] = (med, np.inf) if sides[j] >= 0 else (-np.inf, med)
    return out


def _live_groups(groups: dict, names: list[str], X_cal: np.ndarray) -> tuple[dict, dict]:
    """The detectors with something to say, and why each other one was left out: a detector
    whose every input is constant on the training rows (a column the data lacks, history the
    data has none of) would add the same evidence to every row."""
    col = {c: j for j, c in enumerate(names)}
    constant = {c for c in names if np.ptp(X_cal[:, col[c]]) == 0}
    live, dead = {}, {}
    for fam, cols in groups.items():
        if all(c in constant for c in cols):
            dead[fam] = f"every input constant on the training rows ({', '.join(cols)})"
        else:
            live[fam] = cols
    if not live:  # nothing varies at all: keep the first, it scores every row alike
        first = next(iter(groups))
        live[first] = groups[first]
        dead.pop(first)
    for fam, why in dead.items():
        logger.warning("detector %s left out of the score: %s", fam, why)
    return live, dead


def _fit_detectors(groups, model, inputs, X_df, X_cal, tails, clamps, rng, seed, side):
    """Fit and calibrate one detector per group; returns them, their calibrated scores on the
    calibration rows, and the most rows any detector was fitted on. `side`: each feature's
    suspicious side, which a population detector reads its value on."""
    col = {c: j for j, c in enumerate(X_df.columns)}
    n = len(X_df)
    T_cal = tails.scores(X_cal) if model == "iforest" and inputs == "tail" else None
    detectors, fam_scores, n_fit_rows = [], [], 0
    for i, (fam, cols) in enumerate(groups.items()):
        idx = [col[c] for c in cols]
        pipeline = (Pipeline([("within", WithinGroup(1.0 if side[cols[0]] >= 0 else -1.0))])
                    if fam in POPULATION_DETECTORS else make_pipeline(model, len(cols), n, seed + i))
        if T_cal is not None:
            X = X_fit = T_cal[:, idx]
        elif model != "ocsvm":  # forests and pyod's detectors fit on the calibration rows
            X = X_fit = clamped(X_cal[:, idx], cols, clamps)
        else:
            X = clamped(X_df[cols].to_numpy(dtype=np.float64), cols, clamps)
            X_fit = clamped(X_cal[:, idx], cols, clamps)
            if n > OCSVM_PARAMS["max_fit_rows"]:
                # One-Class SVM cost grows with the rows it sees: a uniform subsample
                # keeps the fit bounded whatever the size of the training period.
                X = X[np.sort(rng.choice(n, OCSVM_PARAMS["max_fit_rows"], replace=False))]
        pipeline.fit(X)
        n_fit_rows = max(n_fit_rows, len(X))
        raw = raw_anomaly(pipeline, X_fit)
        cal = Calibration.fit(raw)
        population = fam in POPULATION_DETECTORS
        detectors.append(Detector(family=fam, features=cols,
                                  input=inputs if model == "iforest" else "raw",
                                  pipeline=pipeline, calibration=cal,
                                  without_history_only=population))
        p = cal.apply(raw)
        fam_scores.append(without_history(p, X_cal, list(X_df.columns)) if population else p)
    return detectors, fam_scores, n_fit_rows


def _metadata(features, model, params, contamination, seed, n, n_fit_rows,
              geoip) -> BundleMetadata:
    trained_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sha = _features_hash(features)
    return BundleMetadata(
        format_version=BUNDLE_FORMAT_VERSION,
        model_type=model,
        model_version=f"{model}{'-single' if params['single'] else ''}-{trained_at[:10]}-{sha[:8]}",
        params=params,
        contamination=contamination,
        seed=seed,
        n_rows=n,
        n_fit_rows=n_fit_rows,
        trained_at=trained_at,
        library_versions={
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "joblib": joblib.__version__,
        },
        features_sha256=sha,
        geoip=geoip,
    )


def _features_hash(features: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(",".join(features.columns).encode())
    digest.update(pd.util.hash_pandas_object(features, index=False).to_numpy().tobytes())
    return digest.hexdigest()
