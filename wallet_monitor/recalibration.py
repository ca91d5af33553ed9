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

`place_threshold` is the same budget on the training period itself, as the last step of
training: the threshold flags `contamination` of the training period's later rows once episodes
are linked, so that episode links are counted in the budget rather than added on top of it.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from wallet_monitor.episodes import EPISODE_TX_COLUMNS, link_episodes
from wallet_monitor.features.params import LOOKBACK
from wallet_monitor.model.bundle import ModelBundle, check_features
from wallet_monitor.model.calibration import Calibration
from wallet_monitor.model.predict import combined_raw, family_scores

# The share of recent traffic flagged after episode linking: the middle of a 1-3% budget.
DEFAULT_ALERT_RATE = 0.025
_SEARCH_STEPS = 30  # bisection steps for the threshold (2^-30 of the score range)
_MIN_ROWS = 1000  # fewer recent rows cannot place a threshold at the 2.5% point
# Training rows the threshold is placed on, at most (the latest): as many as the calibrations'.
_PLACE_MAX_ROWS = 200_000
_PLACE_STEPS = 16  # bisection steps there: 2^-16 of a ~0.03 range, under one row in 200,000

logger = logging.getLogger(__name__)


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
    fraud = _fraud_scores(new, features, refit=True)
    new.threshold = _threshold(fraud, transactions, alert_rate)
    _record(new, features, transactions, alert_rate)
    return new


def place_threshold(bundle: ModelBundle, features: pd.DataFrame,
                    transactions: pd.DataFrame) -> ModelBundle:
    """A copy of `bundle` (just trained on `features`, the training period's features.csv
    rows) whose threshold flags the bundle's contamination of the training period's later rows
    once episodes are linked over `transactions` (the training period as loaded; matched to
    the features by transaction_id). The later rows are those with a full look-back behind
    them, or the later half of the period if that is more (an early row's features see a
    truncated history: every counterparty and device new, unlike any scored row's), at most the
    latest `_PLACE_MAX_ROWS`. With fewer than `_MIN_ROWS` of them the bundle is returned as it
    is (threshold 1 - contamination: own evidence only). The bundle's metadata records where
    the threshold was placed (`budget`)."""
    share = bundle.metadata.contamination
    check_features(bundle, [c for c in features.columns if c != "transaction_id"],
                   "the training features are not the model's")
    tx = _matched(transactions, features)
    ts = pd.to_datetime(tx["timestamp"], utc=True)
    start, end = ts.min(), ts.max()
    later = np.flatnonzero((ts >= start + min(LOOKBACK, (end - start) / 2)).to_numpy())
    later = later[np.argsort(ts.to_numpy()[later], kind="stable")][-_PLACE_MAX_ROWS:]
    if len(later) < _MIN_ROWS:
        logger.warning("threshold left at 1 - contamination (%.5f): %d later training rows, "
                       "fewer than %d to count episode links on", bundle.threshold, len(later),
                       _MIN_ROWS)
        return bundle
    new = copy.deepcopy(bundle)
    rows = tx.iloc[np.sort(later)].reset_index(drop=True)
    fraud = _fraud_scores(new, features.iloc[np.sort(later)], refit=False)
    new.threshold = _threshold(fraud, rows, share, _PLACE_STEPS)
    new.metadata.budget = {
        "rows": len(rows), "share": share, "episodes_linked": True,
        "period": [_iso(rows["timestamp"].min()), _iso(rows["timestamp"].max())],
        "own_evidence_threshold": bundle.threshold, "threshold": new.threshold,
    }
    logger.info("threshold placed on %d later training rows: %.5f -> %.5f (%.2f%% flagged with "
                "episodes linked)", len(rows), bundle.threshold, new.threshold, 100 * share)
    return new


def _matched(transactions: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """The transactions in the features' row order, by transaction_id."""
    if "transaction_id" not in features:
        if len(features) != len(transactions):
            raise ValueError("features without transaction_id must have the transactions' rows")
        return transactions.reset_index(drop=True)
    # A repeated id: the last copy, as the features were built (the batch path keeps the last).
    transactions = transactions.drop_duplicates("transaction_id", keep="last")
    pos = pd.Index(transactions["transaction_id"].astype(str)).get_indexer(
        features["transaction_id"].astype(str))
    if (pos < 0).any():
        raise ValueError(f"{int((pos < 0).sum())} feature rows have no transaction (first: "
                         f"{features['transaction_id'].to_numpy()[pos < 0][0]})")
    return transactions.iloc[pos].reset_index(drop=True)


def _iso(t) -> str:
    return pd.Timestamp(t).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _fraud_scores(bundle: ModelBundle, features: pd.DataFrame, refit: bool) -> np.ndarray:
    """The rows' own fraud_score (no reasons); with `refit`, the final calibration is refitted
    on them first (in place)."""
    X = features[bundle.feature_names].to_numpy(dtype=np.float64)
    fam = family_scores(bundle, X, bundle.tails.scores(X)
                        if any(d.input == "tail" for d in bundle.detectors) else None)
    if bundle.calibration is None:
        return fam[:, 0]
    combined, _ = combined_raw(bundle, fam)
    if refit:
        bundle.calibration = Calibration.fit(combined)
    return bundle.calibration.apply(combined)


def _threshold(fraud: np.ndarray, transactions: pd.DataFrame, alert_rate: float,
               steps: int = _SEARCH_STEPS) -> float:
    """The threshold at which `alert_rate` of the rows are flagged once episodes are linked
    (linking raises rows, so it sits above the plain (1 - alert_rate) quantile)."""
    cols = [c for c in EPISODE_TX_COLUMNS if c in transactions]
    rows = transactions[cols].reset_index(drop=True).assign(
        fraud_score=np.clip(fraud, 0.0, 1.0), reasons="")
    lo, hi = float(np.quantile(rows["fraud_score"], 1 - alert_rate)), 1.0
    for _ in range(steps):
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
