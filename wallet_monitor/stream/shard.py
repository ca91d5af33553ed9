"""One shard of a detector fleet over NATS JetStream: score the shard's wallets, link episodes
across shards, acknowledge once written and alerted.

Scoring is wallet-local: a row's features read its wallet's events and the transfers into it,
and both arrive on the wallet's partition (a transfer is published to its receiver's partition
too, where it is context: history, never scored). Episode links are not: a chain's next hop
(an outflow funded by a transfer from a wallet of another shard) links rows of two shards. So
every shard publishes its scored rows to STREAM_SCORED, tagged with their event's stream
sequence and how far (`upto`) the shard has handled its partitions; every shard links all
scored rows, releasing them in stream-sequence order only up to the least `upto` of all
shards. That order is the publish order, the one a single file follower reads in, so each
shard's links are the single follower's and the batch path's; a shard writes and alerts the
rises of its own rows only. Linking is replicated (it is light); scoring, the costly step,
is split.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from wallet_monitor.delivery import SPOOL_NAME, SpoolingSender, alert_records
from wallet_monitor.features import Locator
from wallet_monitor.features.arrays import ColumnCache
from wallet_monitor.model.bundle import ModelBundle
from wallet_monitor.stream.follower import (
    MAX_BATCH,
    POLL_S,
    STREAM_COLUMNS,
    Follower,
    FollowStats,
    _append_detections,
)
from wallet_monitor.stream.metrics import DetectorMetrics
from wallet_monitor.stream.nats_source import NatsSource
from wallet_monitor.stream.parse import valid_logins, valid_transactions
from wallet_monitor.stream.partition import partition_of

logger = logging.getLogger(__name__)

LINK_WAIT_S = 30.0  # on restart: how long to wait for the scored rows linked before the stop
# What linking reads of a scored row (a row published by an older version may lack one: None).
_LINK_FIELDS = ("transaction_id", "wallet_id", "timestamp", "fraud_score", "reasons", "type",
                "amount", "counterparty_wallet_id")


class _Linker:
    """Scored rows of all shards, released in stream-sequence order up to the least `upto`."""

    def __init__(self, shards: int):
        self.shards = shards
        self.upto: dict[int, int] = {}
        self.rows: list[dict] = []
        self.released = 0

    def take(self, payloads) -> None:
        for body in payloads:
            # Rows scored under an earlier layout (before a shard was added) are linked too;
            # progress counts only from this layout's shards.
            if int(body.get("shards", self.shards)) == self.shards:
                k = int(body["shard"])
                self.upto[k] = max(self.upto.get(k, 0), int(body["upto"]))
            self.rows.extend(body["rows"])

    def release(self, cap: int | None = None) -> list[dict]:
        if len(self.upto) < self.shards:
            return []
        bound = min(self.upto.values())
        if cap is not None:
            bound = min(bound, cap)
        ready = [r for r in self.rows if r["seq"] <= bound]
        if ready:
            self.rows = [r for r in self.rows if r["seq"] > bound]
            ready.sort(key=lambda r: r["seq"])
        self.released = max(self.released, bound)
        return ready


class ShardFollower(Follower):
    """A Follower over a NatsSource: scores the shard's rows, links episodes over all shards'."""

    source: NatsSource

    def __init__(self, bundle, source: NatsSource, out_dir, *, metrics: DetectorMetrics | None = None,
                 **kw):
        super().__init__(bundle, source, out_dir, metrics=metrics, **kw)
        self.linker = _Linker(source.shards)
        self._published_upto = -1

    def _own(self, wallets) -> np.ndarray:
        parts = np.fromiter((partition_of(w, self.source.partitions) for w in wallets), np.int64,
                            len(wallets))
        return self.source._mine[parts] if len(parts) else np.zeros(0, bool)

    # ------------------------------------------------------------------------------ resume

    def resume(self) -> None:
        """Take in the history logins and every event the shard handled before a stop; cut the
        outputs back to the checkpoint; link again, quietly, the scored rows linked before."""
        ckpt = self._load_checkpoint()
        for raw in self.source.context():
            good, _ = valid_logins(raw, self.state.logins.ids)
            self.state.add_logins(good)
        for polled in self.source.replay(ckpt):
            self._take_context(polled)
            good, _ = valid_transactions(polled.transactions, self.state.tx.ids)
            self.state.add_history(good)
        outputs = (self.det_path, self.ep_path)
        sizes = (ckpt["detections_bytes"], ckpt["episodes_bytes"]) if ckpt else (0, 0)
        for path, size in zip(outputs, sizes, strict=True):
            if path.exists() and path.stat().st_size > size:
                with path.open("r+b") as f:  # rows handled after the checkpoint come again
                    f.truncate(size)
        self.state.evict(force=True)
        self.det_bytes = self.det_path.stat().st_size if self.det_path.exists() else 0
        self.ep_bytes = self.ep_path.stat().st_size if self.ep_path.exists() else 0
        self.source.start_scored()
        if ckpt and ckpt.get("linked_upto"):
            self._relink_quietly(ckpt["linked_upto"])
        self.checkpoint()

    def _relink_quietly(self, upto: int) -> None:
        """Link again what was linked before the stop, writing nothing; then take what was
        written for the shard's rows as what they show."""
        deadline = time.monotonic() + LINK_WAIT_S
        while self.linker.released < upto and time.monotonic() < deadline:
            self.source.fetch_scored()
            self.linker.take(self._drain_scored())
            rows = self.linker.release(cap=upto)
            if rows:
                self._link(rows, quiet=True)
            elif self.linker.released < upto:
                time.sleep(0.05)
        rec = self.episodes.recent
        if not len(rec) or not self.det_path.exists():
            return
        det = pd.read_csv(self.det_path, dtype={"transaction_id": str},
                          usecols=["transaction_id", "fraud_score"])
        shown = rec["transaction_id"].map(det.groupby("transaction_id")["fraud_score"].last())
        link = pd.Series("", index=rec.index, dtype=object)
        if self.ep_path.exists() and self.ep_path.stat().st_size:
            rises = pd.read_csv(self.ep_path, dtype={"transaction_id": str, "linked_to": str},
                                usecols=["transaction_id", "fraud_score", "linked_to"],
                                keep_default_na=False).groupby("transaction_id").last()
            shown = np.maximum(shown, rec["transaction_id"].map(rises["fraud_score"]).fillna(0))
            link = rec["transaction_id"].map(rises["linked_to"]).fillna("")
        own = self._own(rec["wallet_id"].astype(str).to_numpy())
        self.episodes.shown[own] = shown.fillna(0).to_numpy(dtype=float)[own]
        self.episodes.shown_link[own] = link.astype(object).to_numpy()[own]

    def checkpoint(self) -> None:
        # The base checkpoint plus how far linking went, in one write (the source's position
        # carries it): one fsync a commit, not a second write and a read.
        self.source.scored_sent()  # what the checkpoint says was handled is in STREAM_SCORED
        self.source.linked_upto = self.linker.released
        super().checkpoint()

    # ----------------------------------------------------------------------------- polling

    def _take_context(self, polled) -> None:
        if polled.logins is not None and len(polled.logins):
            good, _ = valid_logins(polled.logins, self.state.logins.ids)
            self.state.add_logins(ColumnCache(good))
            self.stats.logins += len(good)
        if polled.context is not None and len(polled.context):
            good, _ = valid_transactions(polled.context, self.state.tx.ids)
            self.state.tx.add(good)  # the sender's shard reports a bad one

    def poll_once(self, max_rows: int = MAX_BATCH) -> int:
        """One micro-batch: read, score the shard's rows, publish them, link what all shards
        scored, write, alert, checkpoint, acknowledge. Returns the rows read (1 while scored
        rows of other shards still wait to be linked, so an idle stop waits for them)."""
        self._settle()
        polled = self.source.poll(max_rows)
        self._take_context(polled)
        raw = polled.transactions
        seq_of: dict = {}
        for t, seq in zip(raw.column("transaction_id") if len(raw.where) else [], raw.where,
                          strict=True):
            seq_of.setdefault(t, seq)  # a repeated id: the first is the row kept
        scored: list[dict] = []
        if len(raw):
            good, bad = valid_transactions(raw, self.state.tx.ids)
            self.stats.report_bad(bad)
            self.source.dead_letter(bad)
            for _, seq, _ in bad:  # no latency is read for a refused row
                self.source.published_at.pop(int(seq), None)
            if len(good):
                scored = self._score_own(ColumnCache(good), seq_of)
            self.state.evict()
        if scored or self.source.upto > self._published_upto:
            self.source.publish_scored(scored, self.source.upto)
            self._published_upto = self.source.upto
        self.linker.take(self._drain_scored())
        linked = self.linker.release()
        if linked:
            self._link(linked)
        if polled.moved or linked:
            self._commit_when_delivered()
        elif self._checkpoint_due and self._delivered():  # idle: no reason to wait
            self._commit()
        if self.metrics is not None:
            self.metrics.pending.set(self.source.consumer_pending())
            self.metrics.observe_spool(None if self.sender is None else self.sender.spool)
        busy = bool(self.linker.rows) or self.source.consumer_pending() > 0 or self._checkpoint_due
        return len(raw) or int(busy or bool(linked))

    def _finish_delivery(self, raise_error: bool = True) -> None:
        super()._finish_delivery(raise_error)
        if self._checkpoint_due:  # delivered or spooled now: acknowledge before stopping
            self._commit()

    def _drain_scored(self) -> list[dict]:
        out = []
        while self.source.scored:
            out.append(self.source.scored.popleft())
        return out

    def _score_own(self, good: pd.DataFrame, seq_of: dict) -> list[dict]:
        # Flagged rows go to the outbox as soon as they are scored (`Follower._hand_over`).
        det = self.state.detect(good, scored=lambda det: self._hand_over(det, good))
        self.det_bytes = _append_detections(self.det_path, det)
        flagged = int(det["is_anomaly"].sum())
        self.stats.scored += len(det)
        self.stats.flagged += flagged
        ids = det["transaction_id"]
        seqs = [seq_of[t] for t in ids.tolist()]
        published = [self.source.published_at.pop(int(s), None) for s in seqs]
        if self.metrics is not None:
            self.metrics.scored.inc(len(det))
            self.metrics.flagged.inc(flagged)
            now = time.time()
            for at in published:
                if at is not None:
                    self.metrics.latency.observe(max(0.0, now - at))
        cp = (good["counterparty_wallet_id"].to_numpy() if "counterparty_wallet_id" in good
              else np.full(len(good), None, dtype=object))
        # Times as ISO text to the nanosecond, as numpy writes them (pandas' isoformat a row
        # at a time cost ~20 us a row).
        ts = np.char.add(np.datetime_as_string(
            pd.DatetimeIndex(det["timestamp"]).as_unit("ns").asi8.view("M8[ns]"), unit="ns"), "Z")
        return [{"seq": int(s), "transaction_id": str(t), "wallet_id": str(w), "timestamp": x,
                 "fraud_score": f, "reasons": r, "type": k, "amount": a,
                 "counterparty_wallet_id": None if pd.isna(c) else str(c)}
                for s, t, w, x, f, r, k, a, c in zip(
                    seqs, ids.tolist(), det["wallet_id"].tolist(), ts.tolist(),
                    det["fraud_score"].astype(float).tolist(), det["reasons"].tolist(),
                    good["type"].tolist(), good["amount"].astype(float).tolist(), cp.tolist(),
                    strict=True)]

    def _link(self, rows: list[dict], quiet: bool = False) -> None:
        """Link released scored rows with the recent ones; write and alert the shard's rises."""
        # Each row once, and none linked already (a row scored again after a restart), picked
        # in Python: pandas' isin and drop_duplicates cost a few ms a poll on a few rows, and
        # the kept rows' ids are asked one by one (reading them all cost ms more each poll).
        picked, fresh = set(), []
        for r in rows:
            t = r["transaction_id"]
            if t not in picked and not self.episodes.holds(t):
                picked.add(t)
                fresh.append(r)
        if not fresh:
            return
        raised = self.episodes.add_columns(scored_columns(fresh))
        if quiet or not len(raised):
            return
        raised = raised.loc[self._own(raised["wallet_id"].astype(str).to_numpy())]
        if not len(raised):
            return
        self.ep_bytes = _append_detections(self.ep_path, raised, [*STREAM_COLUMNS, "linked_to"])
        self.stats.raised += len(raised)
        fresh = raised.loc[~raised.pop("was_flagged")]
        if self.metrics is not None:
            self.metrics.flagged.inc(int(fresh["is_anomaly"].sum()))
        if self.outbox is not None and fresh["is_anomaly"].any():
            self.outbox.put(alert_records(fresh, self.bundle.model_version))


def scored_columns(rows: list[dict]) -> dict:
    """Scored rows (as STREAM_SCORED carries them) as the columns `RecentEpisodes` links."""
    columns = {c: [r.get(c) for r in rows] for c in _LINK_FIELDS}
    columns["timestamp"] = _times(columns["timestamp"])
    for c in ("fraud_score", "amount"):  # None (absent) as NaN, as a frame made them
        columns[c] = np.array(columns[c], dtype=float)
    return columns


def _times(text: list):
    """Scored rows' times, as `_score_own` writes them (ISO to the ns, "Z"), by numpy's parser
    (pandas' cost per call was a tenth of a small poll's linking); another form (an older
    version's) or a missing one by pandas'."""
    if all(type(t) is str and t.endswith("Z") for t in text):
        try:
            return np.array([t[:-1] for t in text], dtype="M8[ns]")
        except ValueError:
            pass
    return pd.to_datetime(pd.Series(text, dtype=object), utc=True, format="ISO8601")


def follow_nats(bundle: ModelBundle, url: str, out_dir: Path, *, shard: tuple[int, int] = (0, 1),
                partitions: int | None = None, ack_wait: float = 10.0,
                history: pd.DataFrame | None = None, wallets: pd.DataFrame | None = None,
                logins: pd.DataFrame | None = None, tx_columns=(), login_columns=(),
                api_url: str | None = None, api_key: str | None = None, poll: float = POLL_S,
                max_batch: int = MAX_BATCH, max_idle: float | None = None,
                stop_after: int | None = None, stop: threading.Event | None = None,
                geo: Locator | None = None, metrics: DetectorMetrics | None = None) -> FollowStats:
    """Follow shard `shard` = (I, N) of the stream at `url`: a ShardFollower over a NatsSource,
    writing to `out_dir` (detections, checkpoint, spool), alerting to `api_url` when set;
    `history`, `wallets` and `logins` (the data folder's) are the look-back. Stops as
    `Follower.run` says."""
    source = NatsSource(url, *shard, partitions=partitions, ack_wait=ack_wait,
                        tx_columns=tx_columns, login_columns=login_columns, context_logins=logins)
    sender = SpoolingSender(api_url, api_key, out_dir / SPOOL_NAME) if api_url else None
    try:
        follower = ShardFollower(bundle, source, out_dir, history=history, wallets=wallets,
                                 sender=sender, geo=geo, metrics=metrics)
        follower.resume()
    except BaseException:
        source.close()
        raise
    return follower.run(poll=poll, max_batch=max_batch, max_idle=max_idle,
                        stop_after=stop_after, stop=stop)
