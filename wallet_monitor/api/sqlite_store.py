"""``SqliteAlertStore``: the alert store in one SQLite file; the only SQL of the API.

Storage is one SQLite file in WAL mode with ``synchronous=NORMAL``: every write is committed
before the 2xx answer, so an alert survives a crash of this process (the commit is in the WAL
file the moment ``COMMIT`` returns); only a power cut or OS crash may roll back the last few
commits, and never corrupts the file. Writes are serialised by one in-process lock, so the
threads of the pool never sit in SQLite's sleep-and-retry busy handler.

Another process may hold the file's write lock (a second API, a backup, the sqlite3 shell): the
event loop's fast path then gives up at once (its connection has no busy timeout) and the write
waits in the thread pool, up to ``busy_timeout_ms``, then fails as a ``StoreError`` (503).

An alert row keeps its latest ``HISTORY_INLINE`` triage entries (JSON) and their count; every
entry after the opening one is also a row of ``alert_history``, read page by page. A file made
before that table existed is upgraded in place when opened (``PRAGMA user_version`` 0 -> 1).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

from wallet_monitor.api.config import DEFAULT_PAGE, HISTOGRAM_BINS
from wallet_monitor.api.schemas import (
    TRANSITIONS,
    AlertIn,
    AlertUpdate,
    severity_of,
    utc_iso,
    utc_now_iso,
)
from wallet_monitor.api.store import (
    CONTENT_FIELDS,
    Alert,
    AlertConflict,
    AlertNotFound,
    AlertStore,
    Entry,
    StoreError,
    TransitionNotAllowed,
    content,
    inline_history,
    log_stored,
    log_updated,
    opened_alert,
    same_content,
    stats_body,
    stats_hours,
)

BUSY_TIMEOUT_MS = 5000
POOL_IDLE_MAX = 16
CHECKPOINT_SECONDS = 1.0
SCHEMA_VERSION = 1  # 1: alert_history and alerts.history_total
# SQLITE_BUSY and SQLITE_LOCKED (primary result codes): another connection holds a lock.
_BUSY_CODES = (5, 6)

logger = logging.getLogger(__name__)

_COLUMNS = (
    "id", "transaction_id", "wallet_id", "fraud_score", "severity", "timestamp", "amount",
    "type", "reasons", "model_version", "status", "note", "created_at", "updated_at", "history",
    "history_total",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM alerts"
_INSERT = (
    "INSERT INTO alerts (transaction_id, wallet_id, fraud_score, severity, timestamp, amount,"
    " type, reasons, model_version, status, note, created_at, updated_at, history)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', NULL, ?, ?, ?)"
    " ON CONFLICT(transaction_id) DO NOTHING"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    transaction_id TEXT NOT NULL UNIQUE,
    wallet_id TEXT NOT NULL,
    fraud_score REAL NOT NULL,
    severity TEXT NOT NULL,
    timestamp TEXT,
    amount REAL,
    type TEXT,
    reasons TEXT,
    model_version TEXT,
    status TEXT NOT NULL DEFAULT 'open',
    note TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    history TEXT NOT NULL DEFAULT '[]',
    history_total INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS alerts_wallet ON alerts (wallet_id);
CREATE INDEX IF NOT EXISTS alerts_created ON alerts (created_at);
CREATE TABLE IF NOT EXISTS alert_history (
    alert_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    note TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (alert_id, seq)
) WITHOUT ROWID
"""


def _connect(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT), so a write
    # takes the write lock up front instead of failing to upgrade a read snapshot later.
    # check_same_thread=False: a pooled connection is used by one request at a time, but that
    # request may be served by any thread of the pool.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA synchronous = NORMAL")
    # The checkpointer thread moves the WAL into the file: a commit then never pays a
    # checkpoint's fsyncs (measured: p999 of a single insert 24 ms with autocheckpoint on).
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


@contextmanager
def _write(conn: sqlite3.Connection, lock: AbstractContextManager) -> Iterator[sqlite3.Connection]:
    """One write transaction, committed on exit, rolled back on any error."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _opened(now: str) -> str:
    """The history of a new alert: opened at ``now``."""
    return json.dumps([{"status": "open", "note": None, "at": now}])


def _row(alert: AlertIn, now: str, history: str) -> tuple:
    return (
        alert.transaction_id, alert.wallet_id, alert.fraud_score, severity_of(alert.fraud_score),
        alert.timestamp, alert.amount, alert.type, alert.reasons, alert.model_version,
        now, now, history,
    )


def _to_dict(row: tuple) -> Alert:
    alert = dict(zip(_COLUMNS, row, strict=True))
    alert["history"] = json.loads(alert["history"])
    return alert


def _fetch(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    row = conn.execute(f"{_SELECT} WHERE id = ?", (alert_id,)).fetchone()
    return None if row is None else _to_dict(row)


def _is_busy(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _BUSY_CODES


def _create_or_upgrade(conn: sqlite3.Connection) -> None:
    """Create the tables, or bring a file made by an older version up to SCHEMA_VERSION."""
    conn.execute("BEGIN IMMEDIATE")  # one process at a time, all or nothing
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(alerts)")}
            if columns and "history_total" not in columns:
                conn.execute("ALTER TABLE alerts ADD COLUMN history_total INTEGER NOT NULL DEFAULT 1")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            if columns:
                _move_history(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _move_history(conn: sqlite3.Connection) -> None:
    """Version 0 kept every entry in alerts.history: move them to alert_history."""
    rows = conn.execute("SELECT id, history FROM alerts WHERE json_array_length(history) > 1")
    for alert_id, history in rows.fetchall():
        entries = json.loads(history)
        conn.executemany(
            "INSERT OR IGNORE INTO alert_history (alert_id, seq, status, note, at) VALUES (?, ?, ?, ?, ?)",
            [(alert_id, seq, e["status"], e["note"], e["at"]) for seq, e in enumerate(entries[1:], 2)],
        )
        conn.execute("UPDATE alerts SET history = ?, history_total = ? WHERE id = ?",
                     (json.dumps(inline_history(entries)), len(entries), alert_id))


class SqliteAlertStore(AlertStore):
    """The database file, a small pool of connections to it and a background checkpointer.

    Opening creates the file, its folder and the table if missing (raises ``OSError`` or
    ``StoreError``). ``checkpoint_seconds=None`` runs no checkpointer, for a short-lived store.
    """

    def __init__(
        self,
        path: str | Path,
        checkpoint_seconds: float | None = CHECKPOINT_SECONDS,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_ms = busy_timeout_ms
        self._idle: deque[sqlite3.Connection] = deque()
        self._write_lock = threading.Lock()
        try:
            conn = _connect(self.path, busy_timeout_ms)
            conn.execute("PRAGMA journal_mode = WAL")
            _create_or_upgrade(conn)
            # The event loop's own: used only under _write_lock, it never waits for a lock.
            self._now_conn = _connect(self.path, busy_timeout_ms=0)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc
        self._idle.append(conn)
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if checkpoint_seconds is not None:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, args=(checkpoint_seconds,),
                name="alert-db-checkpoint", daemon=True,
            )
            self._checkpointer.start()

    def __str__(self) -> str:
        return str(self.path)

    # ---- connections -------------------------------------------------------------------------

    def _checkpoint_loop(self, every: float) -> None:
        conn = _connect(self.path)
        try:
            while not self._stop.wait(every):
                try:
                    # PASSIVE never waits for readers or writers; SQLite drops the GIL meanwhile.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    logger.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    def _acquire(self) -> sqlite3.Connection:
        try:
            return self._idle.pop()  # LIFO keeps the warmest connection busy
        except IndexError:
            return _connect(self.path, self._busy_timeout_ms)

    def _release(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.rollback()
        if len(self._idle) < POOL_IDLE_MAX:
            self._idle.append(conn)
        else:
            conn.close()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A pooled connection for one call; any SQLite error leaves as a ``StoreError``."""
        try:
            conn = self._acquire()
            try:
                yield conn
            finally:
                self._release(conn)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        with self._write_lock:
            self._now_conn.close()
        while self._idle:
            conn = self._idle.pop()
            if not self._idle:
                try:  # the last connection out folds the WAL back into the file
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:
                    logger.warning("final WAL checkpoint failed: %s", exc)
            conn.close()

    # ---- writes ------------------------------------------------------------------------------

    def add(self, alert: AlertIn) -> tuple[bool, Alert]:
        with self._connection() as conn:
            return self._add(conn, self._write_lock, alert)

    def try_add_now(self, alert: AlertIn) -> tuple[bool, Alert] | None:
        """``add`` right here when no lock has to be waited for; else None.

        An insert+commit costs ~0.1 ms (no checkpoint, see _connect), less than the hop to the
        thread pool (measured ~0.15 ms CPU), so a single alert is cheapest stored on the event
        loop, as long as that never means waiting: for a batch or PATCH of this process
        (_write_lock) or for another process (the fast connection's busy timeout is 0).
        """
        if not self._write_lock.acquire(blocking=False):
            return None
        conn = self._now_conn
        try:
            return self._add(conn, nullcontext(), alert)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            if _is_busy(exc):
                return None
            raise StoreError(str(exc)) from exc
        finally:
            self._write_lock.release()

    def _add(
        self, conn: sqlite3.Connection, lock: AbstractContextManager, alert: AlertIn
    ) -> tuple[bool, Alert]:
        now = utc_now_iso()
        with _write(conn, lock):
            cur = conn.execute(_INSERT, _row(alert, now, _opened(now)))
            created = cur.rowcount == 1
            new_id = cur.lastrowid
        if not created:
            # No transaction needed: a stored alert's content never changes.
            existing = _to_dict(conn.execute(
                f"{_SELECT} WHERE transaction_id = ?", (alert.transaction_id,)
            ).fetchone())
            if not same_content(alert, existing):
                raise AlertConflict([(alert, content(existing))])
            return False, existing
        log_stored(alert)
        return True, opened_alert(new_id, alert, now)

    def add_many(self, alerts: list[AlertIn]) -> dict[str, Any]:
        now = utc_now_iso()
        history = _opened(now)
        first: dict[str, AlertIn] = {}
        conflicts = []
        for alert in alerts:
            earlier = first.setdefault(alert.transaction_id, alert)
            if earlier is not alert and not same_content(alert, earlier):
                conflicts.append((alert, content(earlier)))
        ids = list(first)
        with self._connection() as conn, _write(conn, self._write_lock):
            # Read under the write lock, so nothing can slip in between this check and the insert.
            stored = {
                r[0]: dict(zip(CONTENT_FIELDS, r[1:], strict=True)) for r in conn.execute(
                    f"SELECT transaction_id, {', '.join(CONTENT_FIELDS)} FROM alerts"
                    f" WHERE transaction_id IN ({','.join('?' * len(ids))})",
                    ids,
                )
            }
            conflicts += [(a, stored[tx]) for tx, a in first.items()
                          if tx in stored and not same_content(a, stored[tx])]
            if conflicts:
                raise AlertConflict(conflicts)  # rolls the transaction back: nothing stored
            created = [a for tx, a in first.items() if tx not in stored]
            conn.executemany(_INSERT, [_row(a, now, history) for a in created])
        for alert in created:
            log_stored(alert)
        return {
            "created": [a.transaction_id for a in created],
            "existing": [tx for tx in ids if tx in stored],
            "count": len(alerts),
        }

    def update(self, alert_id: int, update: AlertUpdate) -> Alert:
        with self._connection() as conn:
            with _write(conn, self._write_lock):
                row = conn.execute(
                    "SELECT status, note, history, history_total FROM alerts WHERE id = ?",
                    (alert_id,),
                ).fetchone()
                if row is None:
                    raise AlertNotFound(alert_id)
                status, note, history, total = row
                new_status = update.status or status
                if update.status is not None and new_status not in TRANSITIONS[status]:
                    raise TransitionNotAllowed(f"Cannot change status from {status} to {new_status}")
                if "note" in update.model_fields_set:  # an explicit null clears the note
                    note = update.note
                now = utc_now_iso()
                entry = {"status": new_status, "note": update.note, "at": now}
                conn.execute(
                    "INSERT INTO alert_history (alert_id, seq, status, note, at) VALUES (?, ?, ?, ?, ?)",
                    (alert_id, total + 1, new_status, update.note, now),
                )
                conn.execute(
                    "UPDATE alerts SET status = ?, note = ?, updated_at = ?, history = ?,"
                    " history_total = ? WHERE id = ?",
                    (new_status, note, now, json.dumps(inline_history([*json.loads(history), entry])),
                     total + 1, alert_id),
                )
            log_updated(alert_id, new_status)
            return _fetch(conn, alert_id)

    # ---- reads -------------------------------------------------------------------------------

    def get(self, alert_id: int) -> Alert | None:
        with self._connection() as conn:
            return _fetch(conn, alert_id)

    def query(
        self,
        *,
        status: str | None = None,
        severity: str | None = None,
        wallet_id: str | None = None,
        min_score: float | None = None,
        since: str | None = None,
        limit: int = DEFAULT_PAGE,
        before_id: int | None = None,
    ) -> tuple[list[Alert], int | None]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("status", status), ("severity", severity), ("wallet_id", wallet_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if min_score is not None:
            clauses.append("fraud_score >= ?")
            params.append(min_score)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(since)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._connection() as conn:
            rows = conn.execute(
                f"{_SELECT}{where} ORDER BY id DESC LIMIT ?", (*params, limit + 1)
            ).fetchall()
        items = [_to_dict(r) for r in rows[:limit]]
        return items, (items[-1]["id"] if len(rows) > limit else None)

    def history(
        self, alert_id: int, *, limit: int = DEFAULT_PAGE, before: int | None = None
    ) -> tuple[list[Entry], int | None]:
        with self._connection() as conn:
            conn.execute("BEGIN")  # the count and the entries from one snapshot
            try:
                row = conn.execute(
                    "SELECT created_at, history_total FROM alerts WHERE id = ?", (alert_id,)
                ).fetchone()
                if row is None:
                    raise AlertNotFound(alert_id)
                created_at, total = row
                below = total + 1 if before is None else min(before, total + 1)
                # Entry 1 (opened) is not a row: it is the alert's created_at.
                seqs = conn.execute(
                    "SELECT seq, status, note, at FROM alert_history WHERE alert_id = ? AND seq < ?"
                    " ORDER BY seq DESC LIMIT ?",
                    (alert_id, below, limit + 1),
                ).fetchall()
            finally:
                conn.execute("COMMIT")
        if below > 1 and len(seqs) <= limit:
            seqs.append((1, "open", None, created_at))
        page = seqs[:limit]
        entries = [{"status": st, "note": note, "at": at} for _, st, note, at in page]
        return entries, (page[-1][0] if len(seqs) > limit else None)

    def stats(self, now: datetime | None = None) -> dict[str, Any]:
        hours = stats_hours(now)
        bins = HISTOGRAM_BINS
        with self._connection() as conn:
            conn.execute("BEGIN")  # one snapshot for every number
            try:
                by_status = dict(
                    conn.execute("SELECT status, COUNT(*) FROM alerts GROUP BY status").fetchall()
                )
                by_severity = dict(
                    conn.execute("SELECT severity, COUNT(*) FROM alerts GROUP BY severity").fetchall()
                )
                per_hour = dict(conn.execute(
                    "SELECT substr(created_at, 1, 13), COUNT(*) FROM alerts WHERE created_at >= ?"
                    " GROUP BY 1",
                    (utc_iso(hours[0]),),
                ).fetchall())
                # Same double arithmetic as Python's min(int(clip(s) * bins), bins - 1).
                histogram = dict(conn.execute(
                    f"SELECT MIN(CAST(MAX(MIN(fraud_score, 1.0), 0.0) * {bins} AS INTEGER), {bins - 1}),"
                    " COUNT(*) FROM alerts GROUP BY 1"
                ).fetchall())
            finally:
                conn.execute("COMMIT")
        return stats_body(hours, by_status, by_severity, per_hour, histogram)

    def health(self) -> str | None:
        with self._connection() as conn:
            try:
                conn.execute("SELECT 1 FROM alerts LIMIT 1").fetchall()
            except sqlite3.Error as exc:
                return str(exc)
        return None
