"""The seam between the routes and a database: ``AlertStore``, its errors and shared helpers.

The routes see only this interface, never a connection, so another store plugs in as another
subclass without touching them. ``SqlAlertStore`` (sql_store.py) is the implementation, on
SQLite or PostgreSQL.

Every method returns JSON-ready dicts in the shape of the response models (``AlertOut``,
``BatchResult``, ``HistoryPage``, ``Stats``): the routes send them as they are, without a second
validation. Every method may raise ``StoreError`` when the database fails; the app answers it
with a 503 and Retry-After.

What an implementation must provide (tests/api/test_store.py checks it on both databases):
- idempotent writes by transaction_id, and ``AlertConflict`` (409) when a repeat's content
  (``CONTENT_FIELDS``) differs from the stored alert's: the first alert stands; also between
  processes (several API workers on one database store each alert once);
- an alert carries its latest ``HISTORY_INLINE`` triage entries and ``history_total``; every
  entry stays readable, newest first, through ``history`` (``inline_history`` shapes them);
- blocking methods: the routes call them in the thread pool, never on the event loop, except
  ``try_add_now``, which must return None rather than wait for anything.

Notifications (issue 23) are optional: a store with an ``outbox`` attribute (outbox.Outbox,
``SqlAlertStore`` has one) records them in the transaction of each alert or status change, and
create_app runs a sender for it; a store without one serves no /webhooks (404).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from typing import Any

from wallet_monitor.api.config import DEFAULT_PAGE, HISTOGRAM_BINS, HISTORY_INLINE, STATS_HOURS
from wallet_monitor.api.schemas import SEVERITIES, STATUSES, AlertIn, AlertUpdate, severity_of

logger = logging.getLogger(__name__)

Alert = dict[str, Any]  # one stored alert, keys and order as AlertOut
Entry = dict[str, Any]  # one triage entry: {"status", "note", "at"}
# What an alert says about its transaction. A repeat that differs only elsewhere (timestamp
# format, model_version: delivery metadata) is the same alert; one that differs here is not.
CONTENT_FIELDS = ("wallet_id", "fraud_score", "amount", "type", "reasons")


class StoreError(Exception):
    """The database failed; the message says how. Answered 503: a retry may succeed."""


class AlertNotFound(LookupError):
    """No alert has this id."""


class TransitionNotAllowed(ValueError):
    """The alert's status cannot change to the one asked for (see schemas.TRANSITIONS)."""


class AlertConflict(ValueError):
    """A transaction_id already stored (or earlier in the batch) with other content.

    ``pairs`` holds (the refused alert, the content that stands) for each; nothing was stored.
    """

    def __init__(self, pairs: list[tuple[AlertIn, dict[str, Any]]]) -> None:
        super().__init__(", ".join(_printable(a.transaction_id) for a, _ in pairs))
        self.pairs = pairs

    @property
    def transaction_ids(self) -> list[str]:
        return list(dict.fromkeys(a.transaction_id for a, _ in self.pairs))


class AlertStore(ABC):
    """Where alerts live. Safe to call from several threads at once."""

    @abstractmethod
    def add(self, alert: AlertIn) -> tuple[bool, Alert]:
        """Store ``alert`` unless its transaction_id exists; return (created, stored alert).

        A retry returns the alert as first stored: POST /alert is idempotent. A repeat whose
        ``CONTENT_FIELDS`` differ raises ``AlertConflict`` (see ``same_content``). Committed
        durably before it returns.
        """

    def try_add_now(self, alert: AlertIn) -> tuple[bool, Alert] | None:
        """``add``, but only if nothing at all has to be waited for; else None.

        Called on the event loop, where any wait (a lock held by another thread or another
        process, the network, a full pool) stalls every other request, /health included: on
        None the route runs ``add`` in the thread pool. An implementation whose writes go over
        a network keeps this default.
        """
        return None

    @abstractmethod
    def add_many(self, alerts: list[AlertIn]) -> dict[str, Any]:
        """Store a batch all or nothing: ``{"created": [...], "existing": [...], "count": n}``.

        ``created`` lists the transaction_ids stored now, ``existing`` those stored before this
        batch; each id once, in the order of its first appearance; ``count`` is ``len(alerts)``.
        A conflict (with a stored alert, or between two alerts of the batch) raises
        ``AlertConflict`` listing every one, and nothing is stored.
        """

    @abstractmethod
    def get(self, alert_id: int) -> Alert | None:
        """The alert with this id, or None."""

    @abstractmethod
    def update(self, alert_id: int, update: AlertUpdate) -> Alert:
        """Apply a status change and/or note, appending it to the history; the updated alert.

        A note given as null clears the note; a status alone keeps it. Raises
        ``AlertNotFound`` or ``TransitionNotAllowed``, and then changes nothing. The cost of
        an update must not grow with the alert's history.
        """

    @abstractmethod
    def history(
        self, alert_id: int, *, limit: int = DEFAULT_PAGE, before: int | None = None
    ) -> tuple[list[Entry], int | None]:
        """The alert's triage entries newest first; (page, next ``before``) as ``query`` pages.

        Entry n (1 = opened) is the n-th of the alert's history; ``before`` continues below
        it. Raises ``AlertNotFound``.
        """

    @abstractmethod
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
        """Alerts newest first (by id) matching every given filter; (page, next before_id).

        ``since`` compares with created_at (a ``utc_iso`` string); ``before_id`` is the
        cursor: ids only go up, so pages stay stable while alerts arrive.
        """

    @abstractmethod
    def stats(self, now: datetime | None = None) -> dict[str, Any]:
        """Counts by status and severity, alerts per hour (last 24 h), score histogram.

        Every number from one snapshot; ``stats_body`` shapes them.
        """

    @abstractmethod
    def health(self) -> str | None:
        """None when the alerts can be read, else why not (GET /health answers it as 503)."""

    @abstractmethod
    def close(self) -> None:
        """Release every resource; the store is not used afterwards."""


# ---- helpers every implementation shares ---------------------------------------------------


def opened_alert(alert_id: int, alert: AlertIn, now: str) -> Alert:
    """What a just-stored alert reads back as, without reading it back."""
    return {
        "id": alert_id, "transaction_id": alert.transaction_id, "wallet_id": alert.wallet_id,
        "fraud_score": alert.fraud_score, "severity": severity_of(alert.fraud_score),
        "timestamp": alert.timestamp, "amount": alert.amount, "type": alert.type,
        "reasons": alert.reasons, "model_version": alert.model_version, "status": "open",
        "note": None, "created_at": now, "updated_at": now,
        "history": [{"status": "open", "note": None, "at": now}], "history_total": 1,
    }


def inline_history(entries: list[Entry]) -> list[Entry]:
    """What an alert carries of its history, oldest first: the latest HISTORY_INLINE entries."""
    return entries[-HISTORY_INLINE:]


def content(alert: AlertIn | Alert) -> dict[str, Any]:
    """The ``CONTENT_FIELDS`` of an incoming or a stored alert."""
    if isinstance(alert, dict):
        return {f: alert.get(f) for f in CONTENT_FIELDS}
    return {f: getattr(alert, f) for f in CONTENT_FIELDS}


def same_content(alert: AlertIn, stored: AlertIn | Alert) -> bool:
    """Whether ``alert`` repeats ``stored`` (an identical retry) rather than contradicting it."""
    return content(alert) == content(stored)


def _printable(s: str) -> str:
    # Ids come from clients: quote anything that could forge or break a log line.
    return s if s.isprintable() and " " not in s else repr(s)


def log_stored(alert: AlertIn) -> None:
    """The one log line per stored alert (a retry stores, so logs, nothing)."""
    logger.info(
        "alert stored wallet=%s transaction=%s score=%.6g severity=%s",
        _printable(alert.wallet_id), _printable(alert.transaction_id), alert.fraud_score,
        severity_of(alert.fraud_score),
    )


def log_conflict(alert: AlertIn, stands: dict[str, Any]) -> None:
    """Both versions of a refused repeat: the one that stands and the one refused."""
    def show(c: dict[str, Any]) -> str:
        return " ".join(f"{k}={_printable(str(v)) if isinstance(v, str) else v}" for k, v in c.items())

    logger.warning("alert conflict transaction=%s: kept %s; refused %s",
                   _printable(alert.transaction_id), show(content(stands)), show(content(alert)))


def log_updated(alert_id: int, status: str) -> None:
    logger.info("alert updated id=%d status=%s", alert_id, status)


def stats_hours(now: datetime | None = None) -> list[datetime]:
    """The STATS_HOURS whole hours /stats counts, oldest first; the last one holds ``now``."""
    now = now or datetime.now(UTC)
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=STATS_HOURS - 1)
    return [first_hour + timedelta(hours=h) for h in range(STATS_HOURS)]


def stats_body(
    hours: list[datetime],
    by_status: dict[str, int],
    by_severity: dict[str, int],
    per_hour: dict[str, int],
    histogram: dict[int, int],
) -> dict[str, Any]:
    """The GET /stats body from raw counts, zeros filled in.

    ``per_hour`` is keyed by the first 13 characters of created_at (``2026-01-05T13``);
    ``histogram`` by bin, ``min(int(clip(score, 0, 1) * HISTOGRAM_BINS), HISTOGRAM_BINS - 1)``.
    """
    bins = HISTOGRAM_BINS
    by_status = dict.fromkeys(STATUSES, 0) | by_status
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_severity": dict.fromkeys(SEVERITIES, 0) | by_severity,
        "per_hour": [
            {"hour": h.strftime("%Y-%m-%dT%H:00:00Z"), "count": per_hour.get(h.strftime("%Y-%m-%dT%H"), 0)}
            for h in hours
        ],
        "score_histogram": [
            {"start": round(k / bins, 4), "end": round((k + 1) / bins, 4), "count": histogram.get(k, 0)}
            for k in range(bins)
        ],
    }
