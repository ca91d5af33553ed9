"""Recalibration: the alert budget held on traffic unlike the training period, as its own step.

A bundle's calibrations and threshold come from the training period: every score is "the
share of training traffic that looks more normal". When traffic drifts (twice the volume,
amounts in another scale, many new wallets), more or fewer rows than the budget cross the
threshold. `recalibrate` refits, on recent unlabelled traffic, the final calibration (so
`fraud_score` reads as the share of recent traffic that looks more normal) and sets the
threshold so that the share of recent rows flagged *after* episode linking is the budget. The
detectors and their own calibrations are kept, so the ranking of rows does not change: only
where the line is drawn. The result
is a new bundle with its own model_version and a record of the traffic it was recalibrated on
(rows, period, a hash of the features): an explicit, versioned input, not hidden running
state, so batch, --follow and any sharded detector give the same flags for the same bundle.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from wallet_monitor.episodes import EPISODE_TX_COLUMNS, link_episodes
from wallet_monitor.model.bundle import ModelBundle, check_features
from wallet_monitor.model.calibration import Calibration, combine_scores
from wallet_monitor.model.predict import family_scores

# The share of recent traffic flagged after episode linking: the middle of a 1-3% budget.
DEFAULT_ALERT_RATE = 0.025
_SEARCH_STEPS = 30  # bisection steps for the threshold (2^-30 of the score range)
_MIN_ROWS = 1000  # fewer recent rows cannot place a threshold at the 2.5% point


def recalibrate(bundle: ModelBundle, features: pd.DataFrame, transactions: pd.DataFrame,
                alert_rate: float = DEFAULT_ALERT_RATE) -> ModelBundle:
    """A copy of `bundle` calibrated on recent traffic: `features` (features.csv rows of it)
    and `transactions` (the same rows, as loaded, in the same order: episode linking reads
    them). Raises ValueError if there are too few rows or the budget is out of (0, 0.5)."""
    if not 0 < alert_rate < 0.5:
        raise ValueError(f"alert rate must be in (0, 0.5), got {alert_rate!r}")
    if len(features) < _MIN_ROWS:
        raise ValueError(f"recalibration needs at least {_MIN_ROWS} recent rows, got {len(features)}")
    check_features(bundle, [c for c in features.columns if c != "transaction_id"],
                   "the recent traffic's features are not the model's")
    new = copy.deepcopy(bundle)
    X = features[new.feature_names].to_numpy(dtype=np.float64)
    fam = family_scores(new, X, new.tails.scores(X))
    if new.calibration is None:
        fraud = fam[:, 0]
    else:
        combined, _ = combine_scores(fam, new.combine, new.combine_calibrations,
                                     new.combine_weight, new.evidence_from)
        new.calibration = Calibration.fit(combined)
        fraud = new.calibration.apply(combined)
    new.threshold = _threshold(fraud, transactions, alert_rate)
    _record(new, features, transactions, alert_rate)
    return new


def _threshold(fraud: np.ndarray, transactions: pd.DataFrame, alert_rate: float) -> float:
    """The threshold at which `alert_rate` of the rows are flagged once episodes are linked
    (linking raises rows, so it sits above the plain (1 - alert_rate) quantile)."""
    cols = [c for c in EPISODE_TX_COLUMNS if c in transactions]
    rows = transactions[cols].reset_index(drop=True).assign(
        fraud_score=np.clip(fraud, 0.0, 1.0), reasons="")
    lo, hi = float(np.quantile(rows["fraud_score"], 1 - alert_rate)), 1.0
    for _ in range(_SEARCH_STEPS):
        mid = (lo + hi) / 2
        if link_episodes(rows, mid)["is_anomaly"].mean() > alert_rate:
            lo = mid
        else:
            hi = mid
    return hi


def _record(bundle: ModelBundle, features: pd.DataFrame, transactions: pd.DataFrame,
            alert_rate: float) -> None:
    digest = hashlib.sha256(pd.util.hash_pandas_object(features, index=False).to_numpy().tobytes())
    sha = digest.hexdigest()
    ts = pd.to_datetime(transactions["timestamp"], utc=True)
    meta = bundle.metadata
    base = meta.model_version.split("-recal-")[0]
    meta.model_version = f"{base}-recal-{sha[:8]}"
    meta.recalibration = {
        "rows": len(features),
        "period": [ts.min().strftime("%Y-%m-%dT%H:%M:%SZ"), ts.max().strftime("%Y-%m-%dT%H:%M:%SZ")],
        "features_sha256": sha,
        "alert_rate": alert_rate,
        "threshold": bundle.threshold,
        "recalibrated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
