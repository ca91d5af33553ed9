"""Real time: score rows as a source hands them over, link episodes, write, alert, checkpoint.

Each `poll_once` reads what arrived since the last poll as one micro-batch and runs it
through read -> parse -> score -> link -> write -> alert, with the same feature function and
model as the batch path (the micro-batch is the targets; the retained events of the wallets
it touches are the history). The follower waits for rows with the source's `wait` (a file
watch wakes it as a row is written), and alerts are delivered by an `Outbox` thread while the
next batch is scored. A checkpoint (the source's position, the sizes of the outputs) is written
atomically once every alert handed over is delivered or spooled (at most every
CHECKPOINT_EVERY_S while rows keep coming), so a restart resumes exactly there: no row
skipped, none alerted twice.
"""

from __future__ import annotations

import csv
import gc
import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from wallet_monitor.delivery import (
    SPOOL_NAME,
    DeliveryError,
    SpoolingSender,
    alert_bodies,
    alert_records,
    utc_text,
)
from wallet_monitor.features import Locator
from wallet_monitor.features.arrays import ColumnCache
from wallet_monitor.features.kernels import kernels
from wallet_monitor.io import write_json
from wallet_monitor.model.bundle import ModelBundle
from wallet_monitor.model.compiled import stacked_walk
from wallet_monitor.model.stacked import stacked_forests
from wallet_monitor.schema import DETECTION_COLUMNS
from wallet_monitor.scoring import ScoredBatch
from wallet_monitor.stream.metrics import DetectorMetrics
from wallet_monitor.stream.outbox import Outbox
from wallet_monitor.stream.parse import valid_logins, valid_transactions
from wallet_monitor.stream.recent import RecentEpisodes
from wallet_monitor.stream.source import FileSource, TransactionSource
from wallet_monitor.stream.state import StreamState, horizon

logger = logging.getLogger(__name__)

# The longest wait for rows between two polls: a source that is told of new rows (a file
# watch) returns at once; one that is not is polled at this interval.
POLL_S = 0.1
# A checkpoint waits for alerts in flight at most this long; then scoring pauses until they are
# delivered or spooled, so checkpoints (and a broker's acknowledgements) keep coming under load.
COMMIT_LAG_S = 0.5
# While rows keep coming, a checkpoint (an fsynced write, and a broker's acknowledgement) is
# written at most this often rather than after every batch: a few ms less per small batch; a
# crash re-scores at most this much more. An idle poll writes a due checkpoint at once.
CHECKPOINT_EVERY_S = 0.2
MAX_BATCH = 5000  # rows per micro-batch: bounds latency and memory while catching up
STREAM_DETECTIONS_NAME = "stream_detections.csv"
# Rows raised after they were scored, when a later row flagged the episode they belong to (or a
# row that funded them was raised itself): one line per rise, STREAM_COLUMNS plus linked_to. The
# last line of a transaction here, else its line in stream_detections.csv, is what the batch
# path gives for it.
STREAM_EPISODES_NAME = "stream_episodes.csv"
CHECKPOINT_NAME = "follow_checkpoint.json"
STREAM_COLUMNS = [*DETECTION_COLUMNS, "scored_at"]
_MAX_BAD_KEPT = 100


@dataclass
class FollowStats:
    scored: int = 0
    flagged: int = 0
    raised: int = 0  # rises of rows scored before, when their episode showed (stream_episodes.csv)
    malformed: int = 0
    logins: int = 0
    alerts_sent: int = 0
    alerts_spooled: int = 0
    reason: str = ""
    malformed_lines: list = field(default_factory=list)  # (source, line, reason), first few

    def report_bad(self, bad: list) -> None:
        for name, where, reason in bad:
            logger.warning("%s line %d skipped: %s", name, where, reason)
        self.malformed += len(bad)
        self.malformed_lines += bad[: max(0, _MAX_BAD_KEPT - len(self.malformed_lines))]


class Follower:
    """Scores what `source` hands over; writes OUT_DIR/stream_detections.csv (detections.csv
    columns plus `scored_at`, epoch seconds), stream_episodes.csv and follow_checkpoint.json;
    alerts flagged rows through `sender` when one is given."""

    def __init__(self, bundle: ModelBundle, source: TransactionSource, out_dir: Path, *,
                 history: pd.DataFrame | None = None, wallets: pd.DataFrame | None = None,
                 sender: SpoolingSender | None = None, geo: Locator | None = None,
                 metrics: DetectorMetrics | None = None):
        self.bundle, self.source, self.sender, self.metrics = bundle, source, sender, metrics
        out_dir.mkdir(parents=True, exist_ok=True)
        self.det_path = out_dir / STREAM_DETECTIONS_NAME
        self.ep_path = out_dir / STREAM_EPISODES_NAME
        self.ckpt_path = out_dir / CHECKPOINT_NAME
        self.stats = FollowStats()
        # The compiled kernels loaded from numba's cache (or compiled: seconds in a new
        # checkout) and the bundle's forests stacked for them (~30 ms) now, before `resume`
        # says the follower is ready, not in its first batch.
        kernels()
        stacked_walk()
        stacked_forests(bundle, 1)
        self.state = StreamState(bundle, wallets, with_logins=source.has_logins, geo=geo)
        if history is not None and len(history):
            start = history["timestamp"].max() - horizon()
            self.state.add_history(history.loc[history["timestamp"] >= start])
        self.episodes = RecentEpisodes(bundle.threshold)
        self.det_bytes = self.ep_bytes = 0
        self.outbox = None if sender is None else Outbox(sender)
        self._checkpoint_due = False
        self._committed_at = -float("inf")  # time.monotonic() of the last commit

    # ------------------------------------------------------------------ resume / checkpoint

    def resume(self) -> None:
        """Take in the source's context and, after a stop, everything up to the checkpoint
        (without scoring it again); cut the outputs back to what the checkpoint had written."""
        ckpt = self._load_checkpoint()
        for raw in self.source.context():
            good, _ = valid_logins(raw, self.state.logins.ids)
            self.state.add_logins(good)
        outputs = (self.det_path, self.ep_path)
        if ckpt:
            for raw in self.source.replay(ckpt):
                good, _ = valid_transactions(raw, self.state.tx.ids)
                self.state.add_history(good)
            for path, size in zip(outputs, (ckpt["detections_bytes"], ckpt.get("episodes_bytes")),
                                  strict=True):
                if size is not None and path.exists() and path.stat().st_size > size:
                    with path.open("r+b") as f:  # rows read after the checkpoint are scored again
                        f.truncate(size)
        else:
            for path in outputs:  # a run from the top writes its output from the top
                path.unlink(missing_ok=True)
        self.state.evict(force=True)
        self.det_bytes = self.det_path.stat().st_size if self.det_path.exists() else 0
        self.ep_bytes = self.ep_path.stat().st_size if self.ep_path.exists() else 0
        if ckpt:  # rows scored before the stop can still be raised by rows after it
            self.episodes.restore(self.det_path, self.ep_path, self.state.tx.select_all())
        self.checkpoint()  # also tells a watcher the follower is ready

    def checkpoint(self) -> None:
        write_json(self.ckpt_path, {
            **self.source.position(),
            "detections": str(self.det_path), "detections_bytes": self.det_bytes,
            "episodes": str(self.ep_path), "episodes_bytes": self.ep_bytes,
            "model_version": self.bundle.model_version,
            "updated_at": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        })

    def _load_checkpoint(self) -> dict | None:
        """The checkpoint, if it belongs to this source; None to start from the top."""
        if not self.source.resumable or not self.ckpt_path.exists():
            return None
        try:
            ckpt = json.loads(self.ckpt_path.read_text())
            same = self.source.owns(ckpt)
        except (ValueError, KeyError, TypeError):
            logger.warning("%s is not a follow checkpoint; starting from the top", self.ckpt_path)
            return None
        if not same:
            logger.warning("%s is for other files; starting from the top", self.ckpt_path)
            return None
        return ckpt

    # ------------------------------------------------------------------------------ polling

    def poll_once(self, max_rows: int = MAX_BATCH) -> int:
        """One micro-batch: read, parse, score, link, write, alert, checkpoint. Returns the
        number of transaction rows read."""
        self._settle()
        polled = self.source.poll(max_rows)
        if polled.logins is not None:
            good, bad = valid_logins(polled.logins, self.state.logins.ids)
            self.state.add_logins(ColumnCache(good))
            self.stats.logins += len(good)
            self.stats.report_bad(bad)
        n_read = len(polled.transactions)
        if n_read:
            good, bad = valid_transactions(polled.transactions, self.state.tx.ids)
            self.stats.report_bad(bad)
            if len(good):
                self._score(ColumnCache(good))
            self.state.evict()
        if polled.moved:
            self._commit_when_delivered()
        elif self._checkpoint_due and self._delivered():  # idle: no reason to wait
            self._commit()
        if self.metrics is not None:
            self.metrics.observe_spool(None if self.sender is None else self.sender.spool)
        return n_read

    def _settle(self) -> None:
        """Before a poll: raise the error that stopped delivery, if one did; acknowledge a
        deferred position whose alerts the outbox has since delivered or spooled (nothing was
        polled since, so the position is the one scored and alerted), unless the last
        checkpoint is under CHECKPOINT_EVERY_S old."""
        if self.outbox is not None and self.outbox.error is not None:
            raise self.outbox.error
        if self._checkpoint_due and self._delivered() and self._commit_is_due():
            self._commit()

    def _delivered(self) -> bool:
        return self.outbox is None or self.outbox.idle

    def _commit_is_due(self) -> bool:
        return time.monotonic() - self._committed_at >= CHECKPOINT_EVERY_S

    def _commit_when_delivered(self) -> None:
        """Acknowledge what was polled once the outbox has delivered or spooled its alerts;
        scoring goes on meanwhile, the acknowledgement at most COMMIT_LAG_S behind; while rows
        keep coming, at most one checkpoint per CHECKPOINT_EVERY_S."""
        if self.outbox is not None and self.outbox.oldest_age() > COMMIT_LAG_S:
            self.outbox.drain()
            self._commit()
        elif self._delivered() and self._commit_is_due():
            self._commit()
        else:
            self._checkpoint_due = True

    def _commit(self) -> None:
        """Checkpoint and acknowledge: everything polled so far is written and alerted."""
        self.checkpoint()
        self.source.commit()
        self._checkpoint_due = False
        self._committed_at = time.monotonic()

    def _score(self, good: pd.DataFrame) -> None:
        det = self.state.detect(good, scored=lambda det: self._hand_over(det, good))
        flagged = det["is_anomaly"]
        self.det_bytes = _append_detections(self.det_path, det)
        raised = self.episodes.add(det, good)
        if len(raised):
            self.ep_bytes = _append_detections(self.ep_path, raised, [*STREAM_COLUMNS, "linked_to"])
        self.stats.scored += len(det)
        self.stats.flagged += int(flagged.sum())
        self.stats.raised += len(raised)
        if self.metrics is not None:  # flagged on arrival, or raised to the threshold now
            self.metrics.scored.inc(len(det))
            rose = (raised["is_anomaly"] & ~raised["was_flagged"]).sum() if len(raised) else 0
            self.metrics.flagged.inc(int(flagged.sum()) + int(rose))
        if self.outbox is None or not len(raised):
            return
        # A row already alerted stays as the API stored it (the API keeps the first alert of a
        # transaction); a row that now reaches the threshold is alerted.
        fresh = raised.loc[~raised.pop("was_flagged")]
        if fresh["is_anomaly"].any():  # the outbox retries the spool by itself
            self.outbox.put(alert_records(fresh, self.bundle.model_version))

    def _hand_over(self, det: ScoredBatch, good: pd.DataFrame) -> None:
        """Rows flagged on arrival are handed over as soon as they are scored, ahead of
        retaining the batch, linking and writing: the outbox posts them while the rest of the
        batch is done. (No such row is in the rises: a row flagged on arrival was written as
        flagged.) Their columns are taken as arrays: no frame is built for them."""
        flagged = det["is_anomaly"]
        if self.outbox is None or not flagged.any():
            return
        self.outbox.put(alert_bodies({
            **{c: det[c][flagged] for c in ("transaction_id", "wallet_id", "fraud_score",
                                            "reasons")},
            "timestamp": det["timestamp"][flagged],
            "amount": good["amount"].to_numpy()[flagged],
            "type": good["type"].to_numpy()[flagged]}, self.bundle.model_version))

    def _finish_delivery(self, raise_error: bool = True) -> None:
        """Deliver or spool every alert handed over (a last try for the spool), then stop the
        outbox; raises the DeliveryError that stopped delivery, if one did."""
        if self.outbox is None:
            return
        self.outbox.close()
        self.stats.alerts_spooled = self.outbox.spooled
        if raise_error and self.outbox.error is not None:
            raise self.outbox.error

    # ---------------------------------------------------------------------------------- run

    def run(self, poll: float = POLL_S, max_batch: int = MAX_BATCH,
            max_idle: float | None = None, stop_after: int | None = None,
            stop: threading.Event | None = None) -> FollowStats:
        """Poll until SIGINT/SIGTERM, `stop`, `max_idle` seconds without new transactions,
        `stop_after` transactions read, or the end of the source; then deliver or spool what
        is pending and write a last checkpoint."""
        stop = stop or threading.Event()
        signalled: list[int] = []
        previous = _catch_signals(signalled)
        logger.info("following %s (%d transactions, %d logins retained; alerts %s; addresses "
                    "without a country located with %s)", self.source.name, len(self.state.tx),
                    0 if self.state.logins is None else len(self.state.logins),
                    self.sender.api_url if self.sender else "off",
                    self.state.geo.database.describe())
        idle_since = time.monotonic()
        read_rows = 0
        stats = self.stats
        # The look-back just loaded lives as long as the run: kept out of the cyclic collector,
        # whose full passes over it stalled a batch by ~150 ms each (docs/LATENCY.md).
        gc.collect()
        gc.freeze()
        try:
            while not (stop.is_set() or signalled):
                cycle_start = time.monotonic()
                limit = max_batch if stop_after is None else min(max_batch, stop_after - read_rows)
                n = self.poll_once(limit)
                read_rows += n
                if n:
                    idle_since = time.monotonic()
                if stop_after is not None and read_rows >= stop_after:
                    stats.reason = f"read {read_rows} rows"
                    break
                if self.source.finished:
                    stats.reason = "end of input"
                    break
                if max_idle is not None and time.monotonic() - idle_since > max_idle:
                    stats.reason = f"idle for {max_idle:g}s"
                    break
                if n < limit:
                    # Wait at most `poll` from the start of the last read (a row written during
                    # the batch's work is read at once); a file watch ends the wait at a write.
                    self.source.wait(poll - (time.monotonic() - cycle_start))
            else:
                stats.reason = "stop requested"
            self._finish_delivery()
            self.checkpoint()
        except DeliveryError as exc:
            self._finish_delivery(raise_error=False)
            self.checkpoint()  # the refused alerts are in the spool; the rows are done
            stats.reason = str(exc)
            raise
        finally:
            gc.unfreeze()
            for s, h in previous.items():
                signal.signal(s, h)
            if self.sender is not None:
                stats.alerts_sent = self.sender.sent
                self.sender.close()
            self.source.close()
        logger.info("stopped (%s): %d scored, %d flagged, %d raised by a later row, %d malformed, "
                    "%d alerts sent, %d spooled; checkpoint %s", stats.reason, stats.scored,
                    stats.flagged, stats.raised, stats.malformed, stats.alerts_sent,
                    stats.alerts_spooled, self.ckpt_path)
        return stats


def _catch_signals(signalled: list) -> dict:
    """Record SIGINT/SIGTERM in `signalled` (main thread only); returns the handlers replaced.
    The handler only records the signal: Event.set could deadlock on the lock wait() holds."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, lambda signum, _frame: signalled.append(signum))
            for s in (signal.SIGINT, signal.SIGTERM)}


def _append_detections(path: Path, detections: pd.DataFrame | ScoredBatch,
                       columns=STREAM_COLUMNS) -> int:
    out = {c: detections[c] for c in columns if c not in ("timestamp", "scored_at")}
    ts = detections["timestamp"]
    out["timestamp"] = utc_text(ts.array if isinstance(ts, pd.Series) else ts)
    out["scored_at"] = np.full(len(detections), round(time.time(), 3))
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        write_csv_rows(f, [out[c] for c in columns], columns if new else None)
        f.flush()
        return f.tell()


def write_csv_rows(f, values: list, header: list[str] | None = None) -> None:
    """Columns (one array each) as CSV rows, byte for byte what `DataFrame.to_csv(f,
    index=False)` writes for them (its csv writer, floats as numpy's shortest text, booleans as
    True/False, missing values empty), without building a frame for a few rows."""
    writer = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL, quotechar='"',
                        doublequote=True, delimiter=",")
    if header is not None:
        writer.writerow(header)
    writer.writerows(zip(*(_csv_values(v) for v in values), strict=True))


def _csv_values(values) -> list:
    a = np.asarray(values)
    if a.dtype.kind == "f":  # what to_csv does with floats (pandas' get_values_for_csv)
        text = a.astype(str).astype(object)
        text[np.isnan(a)] = ""
        return text.tolist()
    if a.dtype.kind in "biu":  # never missing: Python's bools and ints, as to_csv writes them
        return a.tolist()
    text = a.tolist()
    if all(type(v) is str for v in text):  # ids and reasons: nothing missing to blank
        return text
    a = np.array(values, dtype=object)  # a copy: a frame's own array may be read-only
    a[pd.isna(a)] = ""
    return a.tolist()


def follow(
    bundle: ModelBundle,
    transactions_path: Path | None,
    out_dir: Path,
    *,
    history: pd.DataFrame | None = None,
    wallets: pd.DataFrame | None = None,
    logins_path: Path | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
    poll: float = POLL_S,
    max_batch: int = MAX_BATCH,
    max_idle: float | None = None,
    stop_after: int | None = None,
    stop: threading.Event | None = None,
    geo: Locator | None = None,
    metrics: DetectorMetrics | None = None,
) -> FollowStats:
    """Score rows appended to `transactions_path` (None: stdin) and `logins_path` as they
    arrive: a `Follower` over a `FileSource`, alerting to `api_url` when it is set, with the
    spool in `out_dir`; `geo` locates addresses as the batch path does. Stops as
    `Follower.run` says."""
    source = FileSource(transactions_path, logins_path)
    sender = SpoolingSender(api_url, api_key, out_dir / SPOOL_NAME) if api_url else None
    follower = Follower(bundle, source, out_dir, history=history, wallets=wallets, sender=sender,
                        geo=geo, metrics=metrics)
    follower.resume()
    return follower.run(poll=poll, max_batch=max_batch, max_idle=max_idle,
                        stop_after=stop_after, stop=stop)
