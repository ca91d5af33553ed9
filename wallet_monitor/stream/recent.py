"""The follower's recent scored rows, linked again as each batch arrives.

The batch path links episodes over a whole period; the follower keeps the scored rows of the
last EPISODE_REACH (plus slack), and the deposits of the EPISODE_SERIES_WINDOW before them
that a series may raise (`series_only`: they take part in that last step alone), and links
again, per batch, the rows the batch can reach (those sharing a wallet with it, in chains),
which gives them what linking every kept row gives them. A row whose linked score rises above what was written for it is
written again (stream_episodes.csv) and alerted then. Each transaction's last line there,
else its line in stream_detections.csv, is what the batch path gives, across restarts too.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from wallet_monitor.episodes import (
    EPISODE_MIN_SCORE,
    EPISODE_REACH,
    EPISODE_SERIES_WINDOW,
    EPISODE_TX_COLUMNS,
    episode_reasons,
    link_arrays,
)
from wallet_monitor.stream.state import EVICT_SLACK

# How far behind the newest scored row the follower keeps rows that may still be raised, and
# the deposits a flagged deposit among them may still raise as its series (own score at least
# EPISODE_MIN_SCORE; these take part in the series step only).
EPISODE_KEEP = EPISODE_REACH + EVICT_SLACK
SERIES_KEEP = EPISODE_KEEP + EPISODE_SERIES_WINDOW
# The wallet codes are rebuilt from the kept rows once they hold this many times as many codes
# as rows kept (and at least CODES_MIN): bounded memory, a rebuild every many batches.
CODES_GROWTH = 4
CODES_MIN = 4096


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
        self._wallets: dict = {}  # wallet id -> code, for the rows' owner and receiver codes
        self._owner = self._receiver = np.zeros(0, dtype=np.int64)
        self._none: pd.DataFrame | None = None
        # How many kept rows carry each transaction id, kept with the rows: `holds` answers per
        # row, not by reading every kept row's id (a shard asks it each poll).
        self._ids: Counter = Counter()

    def holds(self, transaction_id) -> bool:
        """Whether a kept row has this transaction id."""
        return self._ids.get(transaction_id, 0) > 0

    @property
    def recent(self) -> pd.DataFrame:
        """The recent rows (COLUMNS)."""
        return _frame(self._rows)

    def add(self, det, good: pd.DataFrame) -> pd.DataFrame:
        """Take in a scored batch (a detections frame, or a `ScoredBatch`'s arrays); returns
        the earlier or new rows whose linked score rose above what was written for them, or
        whose link changed at the same score (detection columns plus linked_to, amount, type
        and was_flagged)."""
        return self.add_columns({
            **{c: _values(det[c]) for c in ("transaction_id", "wallet_id", "reasons")},
            "timestamp": _values(det["timestamp"]), "fraud_score": _values(det["fraud_score"]),
            "type": good["type"].array, "amount": good["amount"],
            "counterparty_wallet_id": (good["counterparty_wallet_id"].array
                                       if "counterparty_wallet_id" in good
                                       else np.full(len(det), None, dtype=object))})

    def add_columns(self, columns) -> pd.DataFrame:
        """`add` of a scored batch given as COLUMNS (arrays or lists of one length; times as
        datetimes): what a shard links, from the scored rows' values, without a frame."""
        fresh = _arrays(columns)
        n = len(fresh["fraud_score"])
        rows = {c: np.concatenate([self._rows[c], fresh[c]]) for c in self.COLUMNS}
        owner = np.concatenate([self._owner, self._codes(fresh["wallet_id"])])
        receiver = np.concatenate([self._receiver, self._codes(fresh["counterparty_wallet_id"])])
        shown = np.concatenate([self.shown, fresh["fraud_score"]])
        shown_link = np.concatenate([self.shown_link, np.full(n, "", dtype=object)])
        series_only = np.concatenate([self.series_only, np.zeros(n, dtype=bool)])
        # Only the rows the batch can reach are linked again: those sharing a wallet with it,
        # in chains (`link_arrays` gives them what linking every recent row gives them); the
        # score of any other row is what it was when last linked, or lower once rows left.
        sub = _reached(owner, receiver, n)
        if (rows["fraud_score"][sub] >= self.threshold).any():
            out = self._relink(rows, owner, receiver, sub, shown, shown_link, series_only)
        else:  # no flagged row among them: no link, nothing rises (most small batches)
            out = self._no_rise()
        # Rows older than the newest by more than EPISODE_REACH can rise no more, but as part of
        # a later flagged deposit's series.
        keep, series_only = self._keep(rows, rows["timestamp"], rows["timestamp"].max())
        self._ids.update(fresh["transaction_id"].tolist())
        self._ids.subtract(rows["transaction_id"][~keep].tolist())
        self._rows = {c: v[keep] for c, v in rows.items()}
        self._owner, self._receiver = owner[keep], receiver[keep]
        self.shown = shown[keep]
        self.shown_link = shown_link[keep]
        self.series_only = series_only[keep]
        if len(self._wallets) > CODES_GROWTH * max(len(self.shown), CODES_MIN):
            self._recode()
        if len(self._ids) > CODES_GROWTH * max(len(self.shown), CODES_MIN):
            self._ids = +self._ids  # the ids of rows let go (count 0) forgotten
        return out

    def _relink(self, rows: dict, owner, receiver, sub, shown, shown_link, series_only
                ) -> pd.DataFrame:
        """Link rows `sub` again; the rows that rise (as `add` returns them). Updates `shown`
        and `shown_link` in place."""
        ids, kinds = _text(rows["transaction_id"][sub]), _text(rows["type"][sub])
        ts, own = rows["timestamp"][sub], rows["fraud_score"][sub]
        score, via, how = link_arrays(ids, owner[sub], receiver[sub], kinds, ts,
                                      rows["amount"][sub], own, self.threshold, series_only[sub])
        link = np.full(len(sub), "", dtype=object)
        link[via >= 0] = ids[via[via >= 0]]
        # An equal score by way of another row happens when a row that ties with the written
        # link becomes flagged later; the batch path names the earliest, so the last word must,
        # and only an earlier row replaces the written one. A row no longer kept is earlier than
        # every kept one: a link to it stands (relinking without the rows that raised it could
        # find a later row at the same score). A written link is to a row sharing a wallet, so
        # it is among the rows reached, or no longer kept.
        was, was_link = shown[sub], shown_link[sub]
        up = score > was
        tie = np.flatnonzero((score == was) & (link != "") & (link != was_link))
        if len(tie):
            order = dict(zip(ids.tolist(), zip(ts.tolist(), ids.tolist(), strict=True),
                             strict=True))
            gone = (np.iinfo(np.int64).min, "")
            up[tie] = [was_link[r] == "" or order[link[r]] < order.get(was_link[r], gone)
                       for r in tie]
        at_sub = np.flatnonzero(up)
        at = sub[at_sub]
        why, _ = episode_reasons(at_sub, ids, kinds, _text(rows["reasons"][sub], ""),
                                 own, score, via, how, self.threshold)
        shown_link[at] = link[at_sub]
        shown[sub] = np.maximum(was, score)
        if not len(at):
            return self._no_rise()
        return pd.DataFrame({
            "transaction_id": rows["transaction_id"][at], "wallet_id": rows["wallet_id"][at],
            "timestamp": pd.to_datetime(rows["timestamp"][at], utc=True),
            "amount": rows["amount"][at], "type": rows["type"][at], "fraud_score": score[at_sub],
            "is_anomaly": score[at_sub] >= self.threshold, "reasons": why,
            "linked_to": link[at_sub], "was_flagged": was[at_sub] >= self.threshold,
        }, index=at)

    def _no_rise(self) -> pd.DataFrame:
        """`add`'s answer when nothing rises: a frame without rows (built once, then copied)."""
        if self._none is None:
            self._none = pd.DataFrame({
                "transaction_id": np.zeros(0, dtype=object), "wallet_id": np.zeros(0, dtype=object),
                "timestamp": pd.to_datetime(np.zeros(0, dtype=np.int64), utc=True),
                "amount": np.zeros(0), "type": np.zeros(0, dtype=object),
                "fraud_score": np.zeros(0), "is_anomaly": np.zeros(0, dtype=bool),
                "reasons": np.zeros(0, dtype=object), "linked_to": np.zeros(0, dtype=object),
                "was_flagged": np.zeros(0, dtype=bool),
            }, index=np.zeros(0, dtype=np.int64))
        return self._none.copy(deep=False)  # its own columns: a caller's pop stays its own

    def _codes(self, wallets: np.ndarray) -> np.ndarray:
        """Wallet ids as codes, the same for the same id across batches (-1: none)."""
        code, missing = self._wallets, pd.isna(wallets).tolist()
        return np.fromiter((-1 if m else code.setdefault(w, len(code))
                            for w, m in zip(wallets.tolist(), missing, strict=True)),
                           np.int64, len(wallets))

    def _recode(self) -> None:
        """Forget the codes of wallets no kept row names."""
        self._wallets = {}
        self._owner = self._codes(self._rows["wallet_id"])
        self._receiver = self._codes(self._rows["counterparty_wallet_id"])

    @staticmethod
    def _keep(rows: dict, ts: np.ndarray, newest) -> tuple[np.ndarray, np.ndarray]:
        """Which rows to keep, and which of them only for the series step."""
        series_only = ts < newest - EPISODE_KEEP.value
        series = ((rows["type"] == "deposit")  # objects: what astype(str) == "deposit" gives
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
        self._ids = Counter(arrays["transaction_id"].tolist())
        self._recode()
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




def _values(column):
    """A frame's column as its array; an array as it is."""
    return column.array if isinstance(column, pd.Series) else column


def _arrays(columns) -> dict[str, np.ndarray]:
    """RecentEpisodes.COLUMNS of `columns` (a frame, or a dict of columns of one length) as
    arrays: timestamp in ns, fraud_score and amount as floats, the rest as objects."""
    out = {c: np.asarray(columns[c], dtype=object) for c in RecentEpisodes.COLUMNS
           if c not in ("timestamp", "fraud_score", "amount")}
    ts = _values(columns["timestamp"])
    # A frame's times as their own array (~4 against ~17 us through an index).
    out["timestamp"] = (ts.as_unit("ns").asi8 if isinstance(ts, pd.arrays.DatetimeArray) else
                        pd.DatetimeIndex(columns["timestamp"]).as_unit("ns").asi8)
    out["fraud_score"] = np.asarray(columns["fraud_score"], dtype=float)
    amount = columns["amount"]
    out["amount"] = (np.asarray(amount) if getattr(amount, "dtype", None) == np.float64 else
                     pd.to_numeric(pd.Series(amount), errors="coerce").to_numpy(dtype=float))
    return out


def _reached(owner: np.ndarray, receiver: np.ndarray, n: int) -> np.ndarray:
    """Positions of the rows that share a wallet (owner or receiver) with the last `n` rows,
    directly or through a chain of such rows."""
    if not n:
        return np.zeros(0, dtype=np.int64)
    wanted = np.zeros(int(max(owner.max(initial=0), receiver.max(initial=0))) + 2, dtype=bool)
    wanted[owner[-n:]] = wanted[receiver[-n:]] = True
    while True:
        wanted[-1] = False  # the spare slot code -1 hits
        m = wanted[owner] | wanted[receiver]
        more = np.concatenate([owner[m], receiver[m]])
        more = more[~wanted[more]]
        if not (more >= 0).any():
            return np.flatnonzero(m)
        wanted[more] = True


def _text(values: np.ndarray, missing: str = "None") -> np.ndarray:
    """Values as strings (objects), as pandas' astype(str) gives them; `missing` where absent."""
    out = values.astype(object)
    if all(type(v) is str for v in out.tolist()):  # ids, types and reasons as they come
        return out
    out[pd.isna(out)] = missing
    return out.astype(str).astype(object)


def _frame(rows: dict[str, np.ndarray]) -> pd.DataFrame:
    """The arrays as a frame, timestamps in UTC."""
    ts = rows["timestamp"].view("M8[ns]")
    return pd.DataFrame({**rows, "timestamp": pd.to_datetime(ts, utc=True)})
