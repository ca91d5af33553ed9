"""Scoring feature rows with a trained bundle.

`fraud_score` lies in [0, 1] and higher is more suspicious: it is the share of training
traffic that looks more normal than the row. Deciding is one step apart from scoring:
`is_anomaly = fraud_score >= bundle.threshold`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wallet_monitor.features.params import LOOKBACK
from wallet_monitor.model.bundle import BundleError, ModelBundle
from wallet_monitor.model.calibration import combine_scores
from wallet_monitor.model.detectors import raw_anomaly
from wallet_monitor.model.reasons import reasons
from wallet_monitor.model.stacked import stacked_forests

# The time since the wallet's previous transaction sits at its cap when there is none.
HISTORY_FEATURE = "time_since_prev_tx_log"
NO_HISTORY_VALUE = float(np.log1p(LOOKBACK.total_seconds()))


def score(bundle: ModelBundle, features: pd.DataFrame) -> pd.DataFrame:
    """Score feature rows with a bundle.

    Returns a frame with the input's index and columns `fraud_score` (in [0, 1], higher is
    more suspicious), `is_anomaly` (`fraud_score >= bundle.threshold`) and `reasons`
    (`"; "`-separated top features for flagged rows, `""` otherwise).
    """
    missing = [c for c in bundle.feature_names if c not in features.columns]
    if missing:
        raise BundleError(f"features lack columns the model was trained on: {missing[:5]}")
    X = features[bundle.feature_names].to_numpy(dtype=np.float64)
    fraud, flagged, why = score_matrix(bundle, X)
    return pd.DataFrame({"fraud_score": fraud, "is_anomaly": flagged, "reasons": why},
                        index=features.index)


def score_matrix(bundle: ModelBundle, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`score` of a feature matrix in the bundle's column order: fraud_score, is_anomaly and
    reasons as arrays (reasons worked out for flagged rows only)."""
    # Tail scores are per row: worked out for every row only when a detector reads them, else
    # for the flagged rows' reasons alone (most small batches have none).
    T = bundle.tails.scores(X) if any(d.input == "tail" for d in bundle.detectors) else None
    fam = family_scores(bundle, X, T)
    if bundle.calibration is None:
        fraud = fam[:, 0]
    else:
        raw, _ = combined_raw(bundle, fam)
        fraud = bundle.calibration.apply(raw)
    fraud = np.clip(fraud, 0.0, 1.0)
    flagged = fraud >= bundle.threshold
    why = np.full(len(X), "", dtype=object)
    if flagged.any():
        T = bundle.tails.scores(X[flagged]) if T is None else T[flagged]
        why[flagged] = reasons(bundle, X[flagged], T, fam[flagged])
    return fraud, flagged, why


def combined_raw(bundle: ModelBundle, fam: np.ndarray):
    """The bundle's combination of its detectors' calibrated scores (`combine_scores`); a bundle
    saved before volume was read apart has neither volume field (the class defaults, None)."""
    return combine_scores(fam, bundle.combine, bundle.combine_calibrations, bundle.combine_weight,
                          bundle.evidence_from, bundle.combine_groups, volume=bundle.combine_volume,
                          volume_weight=bundle.combine_volume_weight)


def family_scores(bundle: ModelBundle, X: np.ndarray, T: np.ndarray | None) -> np.ndarray:
    """Each detector's calibrated score, one column per detector (T, the tail scores, is read
    only by detectors whose input is "tail")."""
    col = {c: j for j, c in enumerate(bundle.feature_names)}
    # The forests all walked in one compiled call (the same values as one by one), when they can.
    stack = stacked_forests(bundle, len(X))
    stacked = None if stack is None else stack.raw_anomaly(X)
    walked = {} if stacked is None else dict(zip(stack.detectors, stacked.T, strict=True))
    out = []
    for k, d in enumerate(bundle.detectors):
        if k in walked:
            raw = np.ascontiguousarray(walked[k])
        else:
            idx = [col[c] for c in d.features]
            x = (T[:, idx] if d.input == "tail"
                 else clamped(X[:, idx], d.features, bundle.input_clamps))
            raw = raw_anomaly(d.pipeline, x)
        p = d.calibration.apply(raw)
        if d.without_history_only:
            p = without_history(p, X, bundle.feature_names)
        out.append(p)
    return np.column_stack(out)


def without_history(p: np.ndarray, X: np.ndarray, names: list[str]) -> np.ndarray:
    """`p` where the row's wallet has no earlier transaction in the look-back, 0 (no evidence)
    where it has: population-relative evidence stands in for the history a row lacks."""
    if HISTORY_FEATURE not in names:
        return p
    has_history = X[:, names.index(HISTORY_FEATURE)] < NO_HISTORY_VALUE - 1e-9
    return np.where(has_history, 0.0, p)


def clamped(X: np.ndarray, names: list[str], clamps: dict[str, tuple[float, float]]) -> np.ndarray:
    """A detector's view of its columns: a one-sided column read no further than its training
    median on its harmless side (a value under the median of a "higher is suspicious" feature
    reads as the median). X is a detector's own slice, changed in place (copied first if
    read-only)."""
    bounds = [(j, clamps[c]) for j, c in enumerate(names) if c in clamps]
    if not bounds:
        return X
    if not X.flags.writeable:
        X = X.copy()
    cols = [j for j, _ in bounds]
    # One clip for all clamped columns: the same values as clipping them one by one.
    X[:, cols] = np.clip(X[:, cols], [lo for _, (lo, _) in bounds], [hi for _, (_, hi) in bounds])
    return X
