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
        self.recent = pd.DataFrame(columns=self.COLUMNS)
        self.shown = np.zeros(0)  # the score last written for each recent row
        self.shown_link = np.zeros(0, dtype=object)  # and the row it was linked to ("": none)
        self.series_only = np.zeros(0, dtype=bool)  # kept for the series step only

    def add(self, det: pd.DataFrame, good: pd.DataFrame) -> pd.DataFrame:
        """Take in a scored batch; returns the earlier or new rows whose linked score rose above
        what was written for them, or whose link changed at the same score (detection columns
        plus linked_to, amount, type and was_flagged)."""
        new = det[["transaction_id", "wallet_id", "timestamp", "fraud_score", "reasons"]].assign(
            type=good["type"].to_numpy(), amount=good["amount"].to_numpy(),
            counterparty_wallet_id=(good["counterparty_wallet_id"].to_numpy()
                                    if "counterparty_wallet_id" in good else None))
        recent = pd.concat([self.recent, new[self.COLUMNS]], ignore_index=True) \
            if len(self.recent) else new[self.COLUMNS].reset_index(drop=True)
        shown = np.concatenate([self.shown, new["fraud_score"].to_numpy(dtype=float)])
        shown_link = np.concatenate([self.shown_link, np.full(len(new), "", dtype=object)])
        series_only = np.concatenate([self.series_only, np.zeros(len(new), dtype=bool)])
        linked = link_episodes(recent, self.threshold, series_only=series_only)
        score, link = linked["fraud_score"].to_numpy(), linked["linked_to"].to_numpy()
        # An equal score by way of another row happens when a row that ties with the written
        # link becomes flagged later; the batch path names the earliest, so the last word must,
        # and only an earlier row replaces the written one. A row no longer kept is earlier than
        # every kept one: a link to it stands (relinking without the rows that raised it could
        # find a later row at the same score).
        ts = pd.DatetimeIndex(recent["timestamp"]).as_unit("ns").asi8
        up = score > shown
        tie = np.flatnonzero((score == shown) & (link != "") & (link != shown_link))
        if len(tie):
            ids = recent["transaction_id"].astype(str).to_numpy()
            order = dict(zip(ids, zip(ts.tolist(), ids.tolist(), strict=True), strict=True))
            gone = (np.iinfo(np.int64).min, "")
            up[tie] = [shown_link[r] == "" or order[link[r]] < order.get(shown_link[r], gone)
                       for r in tie]
        out = pd.concat([recent.loc[up, ["transaction_id", "wallet_id", "timestamp", "amount",
                                         "type"]], linked.loc[up]], axis=1)
        out["was_flagged"] = shown[up] >= self.threshold
        shown_link[up] = link[up]
        # Rows older than the newest by more than EPISODE_REACH can rise no more, but as part of
        # a later flagged deposit's series.
        keep, series_only = self._keep(recent, ts, ts.max())
        self.recent = recent.loc[keep].reset_index(drop=True)
        self.shown = np.maximum(shown, score)[keep]
        self.shown_link = shown_link[keep]
        self.series_only = series_only[keep]
        return out

    @staticmethod
    def _keep(recent: pd.DataFrame, ts: np.ndarray, newest) -> tuple[np.ndarray, np.ndarray]:
        """Which rows to keep, and which of them only for the series step."""
        series_only = ts < newest - EPISODE_KEEP.value
        series = ((recent["type"].astype(str).to_numpy() == "deposit")
                  & (recent["fraud_score"].to_numpy(dtype=float) >= EPISODE_MIN_SCORE)
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
        if len(rows):
            keep, series_only = self._keep(
                rows, pd.DatetimeIndex(rows["timestamp"]).as_unit("ns").asi8, newest.value)
            rows, self.series_only = rows.loc[keep], series_only[keep]
        self.recent = rows[self.COLUMNS].reset_index(drop=True)
        shown = self.recent["fraud_score"].to_numpy(dtype=float)
        shown_link = np.full(len(shown), "", dtype=object)
        if ep_path.exists() and ep_path.stat().st_size:
            rises = pd.read_csv(ep_path, dtype={"transaction_id": str, "linked_to": str},
                                usecols=["transaction_id", "fraud_score", "linked_to"],
                                keep_default_na=False)
            last = rises.groupby("transaction_id").last()
            ids = self.recent["transaction_id"]
            shown = np.maximum(shown, ids.map(last["fraud_score"]).fillna(0).to_numpy())
            shown_link = ids.map(last["linked_to"]).astype(object).fillna("").to_numpy(
                dtype=object)
        self.shown, self.shown_link = shown, shown_link


