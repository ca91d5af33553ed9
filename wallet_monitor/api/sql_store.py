"""``SqlAlertStore``: the alert store on SQLAlchemy Core, for SQLite and PostgreSQL; the API's SQL.

One implementation for both databases (database.py has what differs: the URL, the pool, how a
write transaction begins); the schema is tables.py, created and upgraded by migrate.py.

Idempotency is the database's: ``transaction_id`` is unique and an alert is inserted with ``ON
CONFLICT DO NOTHING``, so two API processes receiving the same alert store it once; what was not
inserted is then read back and compared (``same_content``), inside the same transaction, so a
conflicting repeat rolls a batch back whole.

SQLite: writes of this process are serialised by one lock, so the pool's threads never sit in
SQLite's sleep-and-retry busy handler; another process holding the file's write lock (a second
API, a backup, the sqlite3 shell) makes the event loop's fast path give up at once (its
connection has no busy timeout) and a pooled write wait up to ``busy_timeout_ms``, then fail as
a ``StoreError`` (503). A checkpointer thread moves the WAL into the file.

PostgreSQL: rows are locked where two processes could meet (``SELECT ... FOR UPDATE`` on a
triage update), and reads that must agree (history, stats) run in one REPEATABLE READ snapshot.
A server that is down or restarting is a ``StoreError`` (503 with Retry-After) until it is back.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from wallet_monitor.api import migrate
from wallet_monitor.api.config import DEFAULT_PAGE, HISTOGRAM_BINS
from wallet_monitor.api.database import (
    BUSY_TIMEOUT_MS,
    Compiled,
    begin_snapshot,
    create_engine,
    database_url,
    describe,
    driver_errors,
    is_busy,
    reason,
    write_transaction,
)
from wallet_monitor.api.outbox import Outbox
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
from wallet_monitor.api.tables import alert_history, alerts, subscriptions

CHECKPOINT_SECONDS = 1.0

logger = logging.getLogger(__name__)

_COLUMNS = (
    "id", "transaction_id", "wallet_id", "fraud_score", "severity", "timestamp", "amount",
    "type", "reasons", "model_version", "status", "note", "created_at", "updated_at", "history",
    "history_total",
)
# What an insert writes (``_row``); the rest are the columns' defaults.
_ROW = ("transaction_id", "wallet_id", "fraud_score", "severity", "timestamp", "amount", "type",
        "reasons", "model_version", "status", "created_at", "updated_at", "history")
_FLOATS = ("fraud_score", "amount")
# Built once: a statement reused is compiled once and keyed cheaply.
_SELECT = sa.select(*(alerts.c[name] for name in _COLUMNS))
_GET = _SELECT.where(alerts.c.id == sa.bindparam("alert_id"))
_GET_TX = _SELECT.where(alerts.c.transaction_id == sa.bindparam("tx"))
_CONTENT = sa.select(alerts.c.transaction_id, *(alerts.c[f] for f in CONTENT_FIELDS)).where(
    alerts.c.transaction_id.in_(sa.bindparam("txs", expanding=True)))


def _insert(dialect: str) -> sa.Insert:
    """INSERT of one alert row (``_row``) that does nothing when its transaction_id is stored."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(alerts).values({name: sa.bindparam(name) for name in _ROW}).on_conflict_do_nothing(
        index_elements=[alerts.c.transaction_id])


def _insert_json() -> sa.Insert:
    """PostgreSQL: INSERT of a whole batch from one JSON array of row objects
    (``json_to_recordset``), returning the transaction_ids it stored. One short statement and
    one text parameter whatever the batch's size: the JSON is made by ``json.dumps`` (C), where
    one array per column (``unnest``) cost psycopg ~15 us per alert to dump in Python
    (docs/DECISIONS.md)."""
    rows = sa.func.json_to_recordset(sa.cast(sa.bindparam("rows"), postgresql.JSON)).table_valued(
        *(sa.column(n, sa.Double if n in _FLOATS else sa.Text) for n in _ROW)
    ).render_derived(name="batch", with_types=True)
    return (postgresql.insert(alerts).from_select(_ROW, sa.select(*(rows.c[n] for n in _ROW)))
            .on_conflict_do_nothing(index_elements=[alerts.c.transaction_id])
            .returning(alerts.c.transaction_id))


def _insert_alone() -> sa.Select:
    """PostgreSQL: one alert inserted by one statement, run alone (autocommit), unless some
    subscription is active: then nothing is inserted and the alert takes the transaction that
    records its notifications (outbox.py). Answers (subscribed, id or NULL when stored before).
    One round trip, where BEGIN, INSERT, the subscriptions' read and COMMIT took four."""
    subscribed = sa.exists().where(subscriptions.c.active)
    values = sa.select(*(sa.cast(sa.bindparam(n), sa.Double if n in _FLOATS else sa.Text)
                         for n in _ROW)).where(~subscribed)
    inserted = (postgresql.insert(alerts).from_select(_ROW, values)
                .on_conflict_do_nothing(index_elements=[alerts.c.transaction_id])
                .returning(alerts.c.id).cte("inserted"))
    return sa.select(subscribed, sa.select(inserted.c.id).scalar_subquery())


def _opened(now: str) -> str:
    """The history of a new alert: opened at ``now``."""
    return json.dumps([{"status": "open", "note": None, "at": now}])


def _row(alert: AlertIn, now: str, history: str) -> dict[str, Any]:
    """The values of ``_ROW`` for a new alert."""
    return {
        "transaction_id": alert.transaction_id, "wallet_id": alert.wallet_id,
        "fraud_score": alert.fraud_score, "severity": severity_of(alert.fraud_score),
        "timestamp": alert.timestamp, "amount": alert.amount, "type": alert.type,
        "reasons": alert.reasons, "model_version": alert.model_version, "status": "open",
        "created_at": now, "updated_at": now, "history": history,
    }


def _to_dict(row: tuple) -> Alert:
    alert = dict(zip(_COLUMNS, row, strict=True))
    alert["history"] = json.loads(alert["history"])
    return alert


def _opened_alerts(conn: sa.Connection, new: list[AlertIn], now: str) -> list[Alert]:
    """The alerts of a batch just inserted, as ``opened_alert`` shapes them (ids read back)."""
    ids = dict(conn.execute(sa.select(alerts.c.transaction_id, alerts.c.id).where(
        alerts.c.transaction_id.in_([a.transaction_id for a in new]))).all())
    return [opened_alert(ids[a.transaction_id], a, now) for a in new]


def _histogram_bin(dialect: str, bins: int) -> sa.ColumnElement:
    """``min(int(clip(score, 0, 1) * bins), bins - 1)`` in SQL, the same double arithmetic."""
    score = alerts.c.fraud_score
    if dialect == "sqlite":  # scalar MIN/MAX; CAST truncates, as int() does for x >= 0
        clipped = sa.func.max(sa.func.min(score, 1.0), 0.0)
        return sa.func.min(sa.cast(clipped * bins, sa.Integer), bins - 1)
    clipped = sa.func.greatest(sa.func.least(score, 1.0), 0.0)  # CAST would round: floor first
    return sa.func.least(sa.cast(sa.func.floor(clipped * bins), sa.Integer), bins - 1)


class SqlAlertStore(AlertStore):
    """The alerts in the database ``db`` names (a URL or an SQLite file path), through a pool.

    Opening brings the database to the current schema unless ``migrate_schema=False`` (alert_api.py
    migrates once before forking workers) and raises ``StoreError`` (or ``OSError`` for an
    SQLite folder that cannot be made) when it cannot. ``checkpoint_seconds=None`` runs no
    checkpointer (SQLite), for a short-lived store.
    """

    def __init__(
        self,
        db: str | os.PathLike,
        checkpoint_seconds: float | None = CHECKPOINT_SECONDS,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        migrate_schema: bool = True,
    ) -> None:
        self.url = database_url(db)
        self.dialect = self.url.get_backend_name()
        self._sqlite = self.dialect == "sqlite"
        self.engine = create_engine(self.url, busy_timeout_ms)
        self._errors = driver_errors(self.engine)
        dialect = self.engine.dialect
        self._insert_many = Compiled(_insert(self.dialect), dialect)
        self._insert_id = Compiled(_insert(self.dialect).returning(alerts.c.id), dialect)
        self._insert_json = Compiled(_insert_json(), dialect) if not self._sqlite else None
        self._insert_alone = Compiled(_insert_alone(), dialect) if not self._sqlite else None
        self._get = Compiled(_GET, dialect)
        self._get_tx = Compiled(_GET_TX, dialect)
        self._bin = _histogram_bin(self.dialect, HISTOGRAM_BINS)
        # SQLite: one writer at a time in this process; PostgreSQL locks rows itself.
        self._write_lock: AbstractContextManager = threading.Lock() if self._sqlite else nullcontext()
        self._now_engine: sa.Engine | None = None
        # Notifications are recorded in the transaction of their alert (outbox.py).
        self.outbox = Outbox(self._connection, lambda conn: self._write(conn, self._write_lock))
        self._now_conn: sa.Connection | None = None
        try:
            if self._sqlite:
                dbapi_conn = self.engine.raw_connection()
                try:
                    dbapi_conn.driver_connection.execute("PRAGMA journal_mode = WAL")
                finally:
                    dbapi_conn.close()
            if migrate_schema:
                migrate.upgrade(self.engine)
            if self._sqlite:
                # The event loop's own connection: used only under _write_lock, never waits.
                self._now_engine = create_engine(self.url, busy_timeout_ms=0, pool_size=1)
                self._now_conn = self._now_engine.connect()
        except self._errors as exc:
            if self._now_engine is not None:
                self._now_engine.dispose()
            self.engine.dispose()
            raise StoreError(reason(exc)) from exc
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if self._sqlite and checkpoint_seconds is not None:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, args=(checkpoint_seconds,),
                name="alert-db-checkpoint", daemon=True,
            )
            self._checkpointer.start()

    def __str__(self) -> str:
        return describe(self.url)

    # ---- connections -------------------------------------------------------------------------

    def _checkpoint_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                with self.engine.connect() as conn:
                    # PASSIVE never waits for readers or writers; SQLite drops the GIL meanwhile.
                    conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception as exc:  # sqlite3 or pool errors: log, try again next time
                logger.warning("WAL checkpoint failed: %s", exc)

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        """A pooled connection for one call; any database error leaves as a ``StoreError``."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except self._errors as exc:
            raise StoreError(reason(exc)) from exc

    @contextmanager
    def _write(self, conn: sa.Connection, lock: AbstractContextManager) -> Iterator[sa.Connection]:
        """One write transaction, committed on exit, rolled back on any error."""
        with lock, write_transaction(conn):
            yield conn

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        if self._now_conn is not None:
            with self._write_lock:
                self._now_conn.close()
            self._now_engine.dispose()
        if self._sqlite:
            try:  # fold the WAL back into the file
                with self.engine.connect() as conn:
                    conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except Exception as exc:
                logger.warning("final WAL checkpoint failed: %s", exc)
        self.engine.dispose()

    # ---- writes ------------------------------------------------------------------------------

    def add(self, alert: AlertIn) -> tuple[bool, Alert]:
        if self._insert_alone is not None:
            added = self._add_alone(alert)
            if added is not None:
                return added
        with self._connection() as conn:
            return self._add(conn, self._write_lock, alert)

    def _add_alone(self, alert: AlertIn) -> tuple[bool, Alert] | None:
        """PostgreSQL: ``add`` in one autocommitted statement (``_insert_alone``) when no
        subscription is active and the alert is new; else None, and ``_add`` does it all."""
        now = utc_now_iso()
        with self._connection() as conn:
            driver = conn.connection.dbapi_connection
            driver.autocommit = True
            try:
                subscribed, new_id = self._insert_alone.execute(
                    conn, _row(alert, now, _opened(now))).fetchone()
            except self._errors:
                if driver.closed:  # the server went away, so did every pooled connection: a
                    conn.invalidate()  # new pool, as SQLAlchemy makes on a disconnect it sees
                    self.engine.dispose(close=False)
                raise
            finally:
                if not driver.closed:
                    driver.autocommit = False
        if subscribed or new_id is None:
            return None
        log_stored(alert)
        return True, opened_alert(new_id, alert, now)

    def try_add_now(self, alert: AlertIn) -> tuple[bool, Alert] | None:
        """``add`` right here when no lock has to be waited for (SQLite only); else None.

        An insert+commit costs ~0.1 ms (no checkpoint, see database.py), less than the hop to
        the thread pool (measured ~0.15 ms CPU), so a single alert is cheapest stored on the
        event loop, as long as that never means waiting: for a batch or PATCH of this process
        (_write_lock) or for another process (the fast connection's busy timeout is 0). On
        PostgreSQL every write goes over the network: always None.
        """
        if self._now_conn is None or not self._write_lock.acquire(blocking=False):
            return None
        try:
            return self._add(self._now_conn, nullcontext(), alert)
        except self._errors as exc:
            if self._now_conn.in_transaction():
                self._now_conn.rollback()
            if is_busy(exc):
                return None
            raise StoreError(reason(exc)) from exc
        finally:
            self._write_lock.release()

    def _add(
        self, conn: sa.Connection, lock: AbstractContextManager, alert: AlertIn
    ) -> tuple[bool, Alert]:
        now = utc_now_iso()
        with self._write(conn, lock):
            inserted = self._insert_id.execute(conn, _row(alert, now, _opened(now))).fetchone()
            new_id = None if inserted is None else inserted[0]
            if new_id is not None:
                self.outbox.enqueue(conn, "alert.created",
                                    lambda: [opened_alert(new_id, alert, now)], now)
            else:
                # Stored before (by this or another process): read it within the transaction.
                existing = _to_dict(self._get_tx.execute(conn, {"tx": alert.transaction_id}).fetchone())
        if new_id is None:
            if not same_content(alert, existing):
                raise AlertConflict([(alert, content(existing))])
            return False, existing
        log_stored(alert)
        return True, opened_alert(new_id, alert, now)

    def add_many(self, alerts_in: list[AlertIn]) -> dict[str, Any]:
        now = utc_now_iso()
        history = _opened(now)
        first: dict[str, AlertIn] = {}
        conflicts = []
        for alert in alerts_in:
            earlier = first.setdefault(alert.transaction_id, alert)
            if earlier is not alert and not same_content(alert, earlier):
                conflicts.append((alert, content(earlier)))
        with self._connection() as conn, self._write(conn, self._write_lock):
            inserted = self._insert_new(conn, [_row(a, now, history) for a in first.values()])
            # Whatever was not inserted was stored before (by this process or, with several
            # API workers, by another one just now): compare it; a conflict rolls it all back.
            rest = [tx for tx in first if tx not in inserted]
            stored = {}
            if rest:
                stored = {r[0]: dict(zip(CONTENT_FIELDS, r[1:], strict=True))
                          for r in conn.execute(_CONTENT, {"txs": rest})}
            conflicts += [(first[tx], stored[tx]) for tx in rest
                          if not same_content(first[tx], stored[tx])]
            if conflicts:
                raise AlertConflict(conflicts)  # rolls the transaction back: nothing stored
            if inserted:
                self.outbox.enqueue(conn, "alert.created", lambda: _opened_alerts(
                    conn, [a for tx, a in first.items() if tx in inserted], now), now)
        created = [a for tx, a in first.items() if tx in inserted]
        for alert in created:
            log_stored(alert)
        return {
            "created": [a.transaction_id for a in created],
            "existing": rest,
            "count": len(alerts_in),
        }

    def _insert_new(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> set[str]:
        """Insert the rows whose transaction_id is not stored; the transaction_ids inserted."""
        if self._insert_json is not None:
            cursor = self._insert_json.execute(conn, {"rows": json.dumps(rows)})
            return {r[0] for r in cursor.fetchall()}
        # SQLite: the write transaction holds the whole file, so what is stored now stays so
        # until it commits; the driver's executemany is the fastest insert there is.
        stored = {r[0] for r in conn.execute(_CONTENT, {"txs": [r["transaction_id"] for r in rows]})}
        new = [r for r in rows if r["transaction_id"] not in stored]
        self._insert_many.executemany(conn, new)
        return {r["transaction_id"] for r in new}

    def update(self, alert_id: int, update: AlertUpdate) -> Alert:
        with self._connection() as conn:
            with self._write(conn, self._write_lock):
                row = conn.execute(
                    sa.select(alerts.c.status, alerts.c.note, alerts.c.history, alerts.c.history_total)
                    .where(alerts.c.id == alert_id).with_for_update()
                ).first()
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
                conn.execute(alert_history.insert().values(
                    alert_id=alert_id, seq=total + 1, status=new_status, note=update.note, at=now))
                conn.execute(alerts.update().where(alerts.c.id == alert_id).values(
                    status=new_status, note=note, updated_at=now, history_total=total + 1,
                    history=json.dumps(inline_history([*json.loads(history), entry]))))
                alert = self._fetch(conn, alert_id)
                if update.status is not None:
                    self.outbox.enqueue(conn, "alert.status_changed",
                                        lambda: [{**alert, "previous_status": status}], now)
            log_updated(alert_id, new_status)
            return alert

    # ---- reads -------------------------------------------------------------------------------

    def _fetch(self, conn: sa.Connection, alert_id: int) -> Alert | None:
        row = self._get.execute(conn, {"alert_id": alert_id}).fetchone()
        return None if row is None else _to_dict(row)

    def get(self, alert_id: int) -> Alert | None:
        with self._connection() as conn:
            return self._fetch(conn, alert_id)

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
        c = alerts.c
        wheres = [column == value for column, value in
                  ((c.status, status), (c.severity, severity), (c.wallet_id, wallet_id))
                  if value is not None]
        if min_score is not None:
            wheres.append(c.fraud_score >= min_score)
        if since is not None:
            wheres.append(c.created_at >= since)
        if before_id is not None:
            wheres.append(c.id < before_id)
        with self._connection() as conn:
            rows = conn.execute(
                _SELECT.where(*wheres).order_by(c.id.desc()).limit(limit + 1)).fetchall()
        items = [_to_dict(r) for r in rows[:limit]]
        return items, (items[-1]["id"] if len(rows) > limit else None)

    def history(
        self, alert_id: int, *, limit: int = DEFAULT_PAGE, before: int | None = None
    ) -> tuple[list[Entry], int | None]:
        h = alert_history.c
        with self._connection() as conn, begin_snapshot(conn):  # the count and the entries
            row = conn.execute(sa.select(alerts.c.created_at, alerts.c.history_total)
                               .where(alerts.c.id == alert_id)).first()
            if row is None:
                raise AlertNotFound(alert_id)
            created_at, total = row
            below = total + 1 if before is None else min(before, total + 1)
            # Entry 1 (opened) is not a row: it is the alert's created_at.
            seqs = [tuple(r) for r in conn.execute(
                sa.select(h.seq, h.status, h.note, h.at)
                .where(h.alert_id == alert_id, h.seq < below)
                .order_by(h.seq.desc()).limit(limit + 1))]
        if below > 1 and len(seqs) <= limit:
            seqs.append((1, "open", None, created_at))
        page = seqs[:limit]
        entries = [{"status": st, "note": note, "at": at} for _, st, note, at in page]
        return entries, (page[-1][0] if len(seqs) > limit else None)

    def stats(self, now: datetime | None = None) -> dict[str, Any]:
        hours = stats_hours(now)
        c = alerts.c
        count = sa.func.count()
        hour = sa.func.substr(c.created_at, 1, 13)
        first = sa.literal_column("1")  # GROUP BY 1: PostgreSQL cannot match bound parameters
        with self._connection() as conn, begin_snapshot(conn):  # one snapshot for every number
            by_status = dict(conn.execute(sa.select(c.status, count).group_by(c.status)).all())
            by_severity = dict(conn.execute(sa.select(c.severity, count).group_by(c.severity)).all())
            per_hour = dict(conn.execute(sa.select(hour, count).where(
                c.created_at >= utc_iso(hours[0])).group_by(first)).all())
            histogram = dict(conn.execute(sa.select(self._bin, count).group_by(first)).all())
        return stats_body(hours, by_status, by_severity, per_hour, histogram)

    def health(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(alerts.c.id).limit(1)).all()
        except self._errors as exc:
            return reason(exc)
        return None
