"""Writing detections: detections.csv (or detections.parquet/, a folder of part files) and
wallet_scores.csv, from one frame or from parts that arrive in order (the Dask engine gathers
one partition at a time), byte for byte the same either way.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wallet_monitor.schema import DETECTION_COLUMNS, WALLET_SCORE_COLUMNS


class DetectionWriter:
    """Appends detection parts to `path` (CSV, or a Parquet folder when it ends in
    `.parquet`) and keeps what the wallet scores and the summary need. Use as a context
    manager: the file appears whole on a clean exit (written beside, then renamed)."""

    def __init__(self, path):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.rows = 0
        self.flagged = 0
        self._parts = 0
        self._wallets: list[pd.DataFrame] = []
        self._fh = None

    def __enter__(self) -> DetectionWriter:
        _remove(self.tmp)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix == ".parquet":
            self.tmp.mkdir()
        else:
            self._fh = open(self.tmp, "w", newline="")  # noqa: SIM115 (closed in __exit__)
        return self

    def write(self, det: pd.DataFrame) -> None:
        det = det[DETECTION_COLUMNS].reset_index(drop=True)
        self._wallets.append(_wallet_partial(det, self.rows))
        if self._fh is not None:
            iso = pd.to_datetime(det["timestamp"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            det.assign(timestamp=iso).to_csv(self._fh, index=False, header=not self._parts)
            self._parts += 1
        elif len(det) or self._parts == 0:
            pq.write_table(pa.Table.from_pandas(det, preserve_index=False),
                           self.tmp / f"part-{self._parts:05d}.parquet")
            self._parts += 1
        self.rows += len(det)
        self.flagged += int(det["is_anomaly"].sum())

    def __exit__(self, kind, value, tb) -> None:
        if self._fh is not None:
            if not self._parts:
                pd.DataFrame(columns=DETECTION_COLUMNS).to_csv(self._fh, index=False)
            self._fh.close()
        if kind is not None:
            _remove(self.tmp)
            return
        _remove(self.path)
        self.tmp.rename(self.path)

    def wallet_scores(self) -> pd.DataFrame:
        """As `scoring.wallet_scores` on all rows written: per wallet its worst row (the
        first of equal scores), counts; worst first."""
        if not self._wallets:
            return pd.DataFrame(columns=WALLET_SCORE_COLUMNS)
        parts = pd.concat(self._wallets, ignore_index=True)
        worst = parts.sort_values(["wallet_id", "score", "first"], ascending=[True, False, True],
                                  kind="stable").drop_duplicates("wallet_id")
        sums = parts.groupby("wallet_id", sort=False)[["n", "n_anom"]].sum()
        out = pd.DataFrame({
            "wallet_id": worst["wallet_id"].to_numpy(),
            "wallet_score": worst["score"].to_numpy(),
            "n_transactions": sums["n"].loc[worst["wallet_id"]].to_numpy(),
            "n_anomalies": sums["n_anom"].loc[worst["wallet_id"]].to_numpy().astype(int),
            "reasons": worst["reasons"].to_numpy(),
        })
        return out.sort_values(["wallet_score", "wallet_id"], ascending=[False, True],
                               ignore_index=True)


def write_detections(parts: Iterable[pd.DataFrame], path) -> DetectionWriter:
    """Write every part, in order, to `path`; the writer (counts, wallet scores) after."""
    with DetectionWriter(path) as writer:
        for det in parts:
            writer.write(det)
    return writer


def _wallet_partial(det: pd.DataFrame, offset: int) -> pd.DataFrame:
    """Per wallet of one part: its worst row (score, place in the whole output, reasons) and
    counts; merged by `DetectionWriter.wallet_scores`."""
    if not len(det):
        return pd.DataFrame(columns=["wallet_id", "score", "first", "reasons", "n", "n_anom"])
    grouped = det.groupby("wallet_id", sort=False)
    worst = det.loc[grouped["fraud_score"].idxmax()]
    return pd.DataFrame({
        "wallet_id": worst["wallet_id"].to_numpy(),
        "score": worst["fraud_score"].to_numpy(),
        "first": worst.index.to_numpy() + offset,
        "reasons": worst["reasons"].to_numpy(),
        "n": grouped.size().loc[worst["wallet_id"]].to_numpy(),
        "n_anom": grouped["is_anomaly"].sum().loc[worst["wallet_id"]].to_numpy(),
    })


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
