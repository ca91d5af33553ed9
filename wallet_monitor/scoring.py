"""Batch scoring: features, model scores and episode links for one period of transactions.

Features come only from `build_features`, with the training period's transactions as history,
so scoring sees what training saw. `fraud_score` is in [0, 1], higher is more suspicious;
`is_anomaly` is `fraud_score >= threshold` of the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from wallet_monitor.episodes import EPISODE_TX_COLUMNS, link_episodes
from wallet_monitor.features import FEATURE_NAMES, Locator, build_features
from wallet_monitor.model.bundle import ModelBundle, check_features
from wallet_monitor.model.predict import score_matrix
from wallet_monitor.schema import DETECTION_COLUMNS

_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str": what it infers for strings


def detect(
    bundle: ModelBundle, targets: pd.DataFrame, history=None, wallets=None, logins=None,
    link=True, geo: Locator | None = None,
) -> pd.DataFrame:
    """Score one batch of transactions; returns the detections.csv columns.

    `targets` are loaded transactions (timestamp as datetime64 UTC); `history` the earlier
    ones that give the look-back context. With `link`, rows that led up to a flagged row, or sent
    its funds on, are raised with it (link_episodes); the streaming path scores with link=False
    and links over its recent rows itself. `geo` locates addresses without a given country
    (default: the bundled database), as `build_features` says.
    """
    if len(targets) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DETECTION_COLUMNS}).astype(
            {"fraud_score": float, "is_anomaly": bool}
        )
    features = build_features(targets, history=history, wallets=wallets, logins=logins, geo=geo)
    return detect_features(bundle, targets, features, link)


def detect_features(bundle: ModelBundle, targets: pd.DataFrame, features: pd.DataFrame,
                    link: bool = True) -> pd.DataFrame:
    """`detect` on the targets' features already computed (the follower computes them from
    the events it keeps prepared)."""
    columns = features.columns.tolist()
    check_features(bundle, [c for c in columns if c != "transaction_id"],
                   "the model was trained on other features than feature_engineering computes now")
    fraud, flagged, why = score_matrix(bundle, _matrix(features, columns))
    out = pd.DataFrame(
        {
            "transaction_id": _strings(targets["transaction_id"].to_numpy()),
            "wallet_id": _strings(targets["wallet_id"].to_numpy()),
            # The column's own array: to_numpy() of a zoned column is Timestamp objects,
            # inferred back into the same dtype at a cost a small batch feels.
            "timestamp": targets["timestamp"].array,
            "fraud_score": fraud,
            "is_anomaly": flagged,
            "reasons": _strings(why),
        }, copy=False,
    )
    if link:
        extra = [c for c in EPISODE_TX_COLUMNS if c in targets and c not in out]
        linked = link_episodes(
            pd.concat([out, targets[extra].reset_index(drop=True)], axis=1), bundle.threshold
        )
        out[["fraud_score", "is_anomaly", "reasons"]] = linked[
            ["fraud_score", "is_anomaly", "reasons"]
        ]
    return out


class ScoredBatch:
    """A scored batch's DETECTION_COLUMNS as arrays, without a frame (a follower's few rows
    felt pandas' cost per column): `batch[column]` is a numpy array (the timestamps their
    datetime array, UTC), `len(batch)` its rows."""

    def __init__(self, columns: dict):
        self.columns = columns
        self.n = len(columns["fraud_score"])

    @classmethod
    def of(cls, detections: pd.DataFrame) -> ScoredBatch:
        """The columns of `detect_features`' frame."""
        return cls({c: detections[c].array if c == "timestamp" else detections[c].to_numpy()
                    for c in DETECTION_COLUMNS})

    def __getitem__(self, column: str) -> np.ndarray:
        return self.columns[column]

    def __contains__(self, column: str) -> bool:
        return column in self.columns

    def __len__(self) -> int:
        return self.n


def detect_matrix(bundle: ModelBundle, targets: pd.DataFrame, X: np.ndarray) -> ScoredBatch:
    """`detect_features` without episode links on the targets' feature matrix (targets x
    FEATURE_NAMES, what `build_features` gives after its transaction_id), as arrays: the same
    values as `ScoredBatch.of` that function's frame."""
    check_features(bundle, FEATURE_NAMES,
                   "the model was trained on other features than feature_engineering computes now")
    fraud, flagged, why = score_matrix(bundle, X)
    return ScoredBatch({
        "transaction_id": targets["transaction_id"].to_numpy(),
        "wallet_id": targets["wallet_id"].to_numpy(),
        "timestamp": targets["timestamp"].array,
        "fraud_score": fraud, "is_anomaly": flagged, "reasons": why})


def _strings(values: np.ndarray):
    """Python strings as the "str" column pandas would infer from them, built directly (~10 µs
    less per column); anything else as it is, for pandas to infer as before."""
    if values.dtype == object and all(type(v) is str for v in values.tolist()):
        return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string()), dtype=_STR)
    return values


def _matrix(features: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The feature matrix of a frame whose columns are the model's in its order, with or without
    transaction_id: first (the frame `build_features` gives), its columns after it sliced by
    position (~75 µs on a small batch, against ~250 µs for a selection by names)."""
    if "transaction_id" not in columns:
        return features.to_numpy(dtype=np.float64)
    at = columns.index("transaction_id")
    if at == 0:
        return features.iloc[:, 1:].to_numpy(dtype=np.float64)
    return features.drop(columns="transaction_id").to_numpy(dtype=np.float64)


def wallet_scores(detections: pd.DataFrame) -> pd.DataFrame:
    """One row per wallet: the max score of its transactions, counts, worst reasons."""
    worst = detections.loc[detections.groupby("wallet_id", sort=False)["fraud_score"].idxmax()]
    grouped = detections.groupby("wallet_id", sort=False)
    out = pd.DataFrame(
        {
            "wallet_id": worst["wallet_id"].to_numpy(),
            "wallet_score": worst["fraud_score"].to_numpy(),
            "n_transactions": grouped.size().loc[worst["wallet_id"]].to_numpy(),
            "n_anomalies": grouped["is_anomaly"].sum().loc[worst["wallet_id"]].to_numpy().astype(int),
            "reasons": worst["reasons"].to_numpy(),
        }
    )
    return out.sort_values(
        ["wallet_score", "wallet_id"], ascending=[False, True], ignore_index=True
    )
