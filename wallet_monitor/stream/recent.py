"""The follower's recent scored rows, linked again as each batch arrives.

The batch path links episodes over a whole period; the follower keeps the scored rows of the
last EPISODE_REACH (plus slack), and the deposits of the EPISODE_SERIES_WINDOW before them
that a series may raise (`series_only`: they take part in that last step alone), and links
them again per batch. A row whose linked score rises above what was written for it is
written again (stream_episodes.csv) and alerted then. Each transaction's last line there,
else its line in stream_detections.csv, is what the batch path gives, across restarts too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from wallet_monitor.episodes import (
    EPISODE_MIN_SCORE,
    EPISODE_REACH,
    EPISODE_SERIES_WINDOW,
    EPISODE_TX_COLUMNS,
    link_episodes,
)
from wallet_monitor.stream.state import EVICT_SLACK

# How far behind the newest scored row the follower keeps rows that may still be raised, and
# the deposits a flagged deposit among them may still raise as its series (own score at least
# EPISODE_MIN_SCORE; these take part in the series step only).
EPISODE_KEEP = EPISODE_REACH + EVICT_SLACK
SERIES_KEEP = EPISODE_KEEP + EPISODE_SERIES_WINDOW


class RecentEpisodes:
    """The scored rows of the last EPISODE_REACH, linked again as each batch arrives, and the
    older deposits their series may still raise."""

    COLUMNS = [*EPISODE_TX_COLUMNS, "fraud_score", "reasons"]

    def __init__(self, threshold: float):
        self.threshold = threshold
        # The recent rows as one array per column (timestamp in ns): a batch of a few rows is
        # joined, linked and cut back without pandas' per-call cost on every step.
        self._rows = _arrays(pd.DataFrame(columns=self.COLUMNS))
        self.shown = np.zeros(0)  # the score last written for each recent row
        self.shown_link = np.zeros(0, dtype=object)  # and the row it was linked to ("": none)
        self.series_only = np.zeros(0, dtype=bool)  # kept for the series step only

    @property
    def recent(self) -> pd.DataFrame:
        """The recent rows (COLUMNS)."""
        return _frame(self._rows)

    def add(self, det: pd.DataFrame, good: pd.DataFrame) -> pd.DataFrame:
        """Take in a scored batch; returns the earlier or new rows whose linked score rose above
        what was written for them, or whose link changed at the same score (detection columns
        plus linked_to, amount, type and was_flagged)."""
        n = len(det)
        fresh = _arrays({
            **{c: det[c] for c in ("transaction_id", "wallet_id", "timestamp", "fraud_score",
                                   "reasons")},
            "type": good["type"], "amount": good["amount"],
            "counterparty_wallet_id": (good["counterparty_wallet_id"]
                                       if "counterparty_wallet_id" in good
                                       else np.full(n, None, dtype=object))})
        rows = {c: np.concatenate([self._rows[c], fresh[c]]) for c in self.COLUMNS}
        shown = np.concatenate([self.shown, fresh["fraud_score"]])
        shown_link = np.concatenate([self.shown_link, np.full(n, "", dtype=object)])
        series_only = np.concatenate([self.series_only, np.zeros(n, dtype=bool)])
        linked = link_episodes(_frame(rows, naive=True), self.threshold, series_only=series_only)
        score, link = linked["fraud_score"].to_numpy(), linked["linked_to"].to_numpy()
        # An equal score by way of another row happens when a row that ties with the written
        # link becomes flagged later; the batch path names the earliest, so the last word must,
        # and only an earlier row replaces the written one. A row no longer kept is earlier than
        # every kept one: a link to it stands (relinking without the rows that raised it could
        # find a later row at the same score).
        ts = rows["timestamp"]
        up = score > shown
        tie = np.flatnonzero((score == shown) & (link != "") & (link != shown_link))
        if len(tie):
            ids = pd.Series(rows["transaction_id"]).astype(str).to_numpy()
            order = dict(zip(ids, zip(ts.tolist(), ids.tolist(), strict=True), strict=True))
            gone = (np.iinfo(np.int64).min, "")
            up[tie] = [shown_link[r] == "" or order[link[r]] < order.get(shown_link[r], gone)
                       for r in tie]
        at = np.flatnonzero(up)
        out = pd.DataFrame({
            "transaction_id": rows["transaction_id"][at], "wallet_id": rows["wallet_id"][at],
            "timestamp": pd.to_datetime(ts[at], utc=True), "amount": rows["amount"][at],
            "type": rows["type"][at], "fraud_score": score[at],
            "is_anomaly": linked["is_anomaly"].to_numpy()[at],
            "reasons": linked["reasons"].to_numpy()[at], "linked_to": link[at],
            "was_flagged": shown[at] >= self.threshold,
        }, index=at)
        shown_link[up] = link[up]
        # Rows older than the newest by more than EPISODE_REACH can rise no more, but as part of
        # a later flagged deposit's series.
        keep, series_only = self._keep(rows, ts, ts.max())
        self._rows = {c: v[keep] for c, v in rows.items()}
        self.shown = np.maximum(shown, score)[keep]
        self.shown_link = shown_link[keep]
        self.series_only = series_only[keep]
        return out

    @staticmethod
    def _keep(rows: dict, ts: np.ndarray, newest) -> tuple[np.ndarray, np.ndarray]:
        """Which rows to keep, and which of them only for the series step."""
        series_only = ts < newest - EPISODE_KEEP.value
        series = ((rows["type"].astype(str) == "deposit")
                  & (rows["fraud_score"] >= EPISODE_MIN_SCORE)
                  & (ts >= newest - SERIES_KEEP.value))
        return ~series_only | series, series_only

    def restore(self, det_path: Path, ep_path: Path, retained: pd.DataFrame) -> None:
        """On resume: the recent rows from what was written before the stop (scores on arrival in
        det_path, rises in ep_path) and their transactions from `retained`."""
        if not det_path.exists() or det_path.stat().st_size == 0:
            return
        det = pd.read_csv(det_path, dtype={"transaction_id": str, "reasons": str},
                          usecols=["transaction_id", "timestamp", "fraud_score", "reasons"])
        if not len(det):
            return
        det["timestamp"] = pd.to_datetime(det["timestamp"], utc=True, format="ISO8601")
        newest = det["timestamp"].max()
        det = det.loc[det["timestamp"] >= newest - SERIES_KEEP]
        cols = [c for c in EPISODE_TX_COLUMNS if c != "timestamp" and c in retained]
        rows = det.merge(retained[cols].astype({"transaction_id": str}), on="transaction_id",
                         how="inner")
        for c in self.COLUMNS:
            if c not in rows:
                rows[c] = None
        arrays = _arrays(rows[self.COLUMNS])
        if len(rows):
            keep, series_only = self._keep(arrays, arrays["timestamp"], newest.value)
            arrays, self.series_only = {c: v[keep] for c, v in arrays.items()}, series_only[keep]
        self._rows = arrays
        shown = arrays["fraud_score"].copy()
        shown_link = np.full(len(shown), "", dtype=object)
        if ep_path.exists() and ep_path.stat().st_size:
            rises = pd.read_csv(ep_path, dtype={"transaction_id": str, "linked_to": str},
                                usecols=["transaction_id", "fraud_score", "linked_to"],
                                keep_default_na=False)
            last = rises.groupby("transaction_id").last()
            ids = pd.Series(arrays["transaction_id"])
            shown = np.maximum(shown, ids.map(last["fraud_score"]).fillna(0).to_numpy())
            shown_link = ids.map(last["linked_to"]).astype(object).fillna("").to_numpy(
                dtype=object)
        self.shown, self.shown_link = shown, shown_link




def _arrays(columns) -> dict[str, np.ndarray]:
    """RecentEpisodes.COLUMNS of `columns` (a frame, or a dict of columns of one length) as
    arrays: timestamp in ns, fraud_score and amount as floats, the rest as objects."""
    out = {c: np.asarray(columns[c], dtype=object) for c in RecentEpisodes.COLUMNS
           if c not in ("timestamp", "fraud_score", "amount")}
    out["timestamp"] = pd.DatetimeIndex(columns["timestamp"]).as_unit("ns").asi8
    out["fraud_score"] = np.asarray(columns["fraud_score"], dtype=float)
    out["amount"] = pd.to_numeric(pd.Series(columns["amount"]), errors="coerce").to_numpy(
        dtype=float)
    return out


def _frame(rows: dict[str, np.ndarray], naive: bool = False) -> pd.DataFrame:
    """The arrays as a frame; timestamps in UTC (naive: as datetime64[ns], for linking)."""
    ts = rows["timestamp"].view("M8[ns]")
    return pd.DataFrame({**rows, "timestamp": ts if naive else pd.to_datetime(ts, utc=True)})
