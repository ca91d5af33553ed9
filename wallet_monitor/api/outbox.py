"""``Outbox``: the SQL of notifications: subscriptions, and the deliveries waiting to be sent.

The store calls ``enqueue`` inside the very transaction that stores an alert or changes its
status, so a notification is recorded exactly when its alert is: a crash loses neither or both,
and ingestion never waits for a receiver. The sender (sender.py) reads what is due, sends it
and records each attempt with ``record``: the retry schedule (backoff with jitter), the failed
state after the last try, and the pause of a subscription that has failed for a day.

A failing subscription is probed, not flooded: after a failed attempt it gets ``retry_at`` (the
failed delivery's next try, at most ``PROBE_MAX_S`` away), and until an attempt succeeds only
one of its deliveries is due at a time, from then on. A receiver that is down costs one attempt
per interval however many alerts arrive; once it answers, its backlog flows at once.

A delivery is one (notification, subscription) pair; its id (``msg_...``) is the
``webhook-id`` header, the same on every retry, so a receiver drops a repeat by id.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from wallet_monitor.api.config import PAUSE_AFTER_S, PROBE_MAX_S, RETRY_DELAYS_S, RETRY_JITTER
from wallet_monitor.api.schemas import SEVERITIES, utc_iso
from wallet_monitor.api.tables import deliveries, subscriptions

EVENTS = ("alert.created", "alert.status_changed")
RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
EMAIL_EVENTS = ("alert.created",)

_SUB_COLUMNS = ("id", "kind", "url", "events", "min_severity", "active", "paused_reason",
                "failing_since", "created_at")
_DELIVERY_COLUMNS = ("id", "subscription_id", "event", "alert_id", "severity", "status",
                     "attempts", "next_at", "created_at", "last_attempt_at", "last_error",
                     "delivered_at")
_ACTIVE = sa.select(subscriptions.c.id, subscriptions.c.kind, subscriptions.c.events,
                    subscriptions.c.min_severity).where(subscriptions.c.active)
_DUE = (sa.select(deliveries.c.id, deliveries.c.subscription_id, subscriptions.c.kind,
                  subscriptions.c.url, subscriptions.c.secret, deliveries.c.payload,
                  deliveries.c.attempts, deliveries.c.created_at)
        .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
        .where(deliveries.c.status == "pending"))


@dataclass(frozen=True)
class Due:
    """A delivery to attempt now, with what sending it needs."""

    id: str
    subscription_id: int
    kind: str
    url: str
    secret: str | None
    payload: str
    attempts: int
    created_at: str


@dataclass(frozen=True)
class Outcome:
    """One attempt: ``error`` None when it was delivered."""

    due: Due
    error: str | None


def _later(now: datetime, seconds: float) -> str:
    return utc_iso(now + timedelta(seconds=seconds))


def _subscription(row: sa.Row) -> dict[str, Any]:
    sub = dict(zip(_SUB_COLUMNS, row, strict=False))
    sub["events"] = sub["events"].split(",")
    sub["active"] = bool(sub["active"])
    return sub


class Outbox:
    """Notifications in the store's database, through the store's own connections.

    ``connect()`` yields a pooled connection (database errors leave as ``StoreError``) and
    ``write(conn)`` is one write transaction on it: the store's, so that on SQLite the sender
    takes the same in-process write lock as ingestion instead of waiting in SQLite's busy loop.
    """

    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[sa.Connection]],
        write: Callable[[sa.Connection], AbstractContextManager[sa.Connection]],
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
        jitter: float = RETRY_JITTER,
        pause_after_s: float = PAUSE_AFTER_S,
        probe_max_s: float = PROBE_MAX_S,
    ) -> None:
        self._connect = connect
        self._write = write
        self.retry_delays_s = tuple(retry_delays_s)
        self.jitter = jitter
        self.pause_after_s = pause_after_s
        self.probe_max_s = probe_max_s
        self._random = random.Random()

    # ---- inside the store's transaction ------------------------------------------------------

    def enqueue(self, conn: sa.Connection, event: str,
                alerts: Callable[[], Iterable[dict[str, Any]]], now: str) -> int:
        """Record ``event`` for each of ``alerts()`` and each active subscription that wants it.

        ``alerts`` is only called when some subscription wants the event: without one, an
        alert costs one small indexed read here.
        """
        subs = [s for s in conn.execute(_ACTIVE) if event in s.events.split(",")]
        if not subs:
            return 0
        rows = []
        for alert in alerts():
            rank = RANK[alert["severity"]]
            body = json.dumps({"type": event, "timestamp": now, "data": alert},
                              separators=(",", ":"))
            rows += [{
                "id": f"msg_{uuid.uuid4().hex}", "subscription_id": s.id, "event": event,
                "alert_id": alert["id"], "severity": alert["severity"], "payload": body,
                # Email: a critical alert at once, the rest gathered into a digest.
                "digest": s.kind == "email" and alert["severity"] != "critical",
                "next_at": now, "created_at": now,
            } for s in subs if rank >= RANK[s.min_severity]]
        if rows:
            conn.execute(deliveries.insert(), rows)
        return len(rows)

    # ---- the sender --------------------------------------------------------------------------

    def due(self, now: str, limit: int, skip: frozenset[str] | set[str] = frozenset(),
            kinds: Sequence[str] = ("webhook",),
            busy: frozenset[int] | set[int] = frozenset()) -> list[Due]:
        """Deliveries of ``kinds`` to send now (not digests), oldest first, but those in ``skip``.

        Every due delivery of a healthy subscription; of a failing one (``retry_at`` set), one
        probe once ``retry_at`` has come, unless it is ``busy`` (has deliveries in flight).
        """
        s, d = subscriptions.c, deliveries.c
        ready = _DUE.where(d.next_at <= now, sa.not_(d.digest)).order_by(d.next_at)
        rows: list[sa.Row] = []
        # Subscription by subscription (index deliveries_subscription): a dead receiver's
        # backlog is never scanned to find another's due deliveries.
        with self._connect() as conn:
            for sub_id, retry_at in conn.execute(
                    sa.select(s.id, s.retry_at).where(s.kind.in_(kinds)).order_by(s.id)).all():
                if retry_at is None:
                    rows += conn.execute(ready.where(d.subscription_id == sub_id)
                                         .limit(limit + len(skip))).all()
                elif retry_at <= now and sub_id not in busy:
                    rows[:0] = conn.execute(ready.where(d.subscription_id == sub_id).limit(1)).all()
        return [Due(*r) for r in rows if r[0] not in skip][:limit]

    def due_digest(self, now: str, oldest_before: str, limit: int) -> list[Due]:
        """The digest deliveries due now, once the oldest of them is older than ``oldest_before``."""
        emails = sa.select(subscriptions.c.id).where(subscriptions.c.kind == "email")
        where = (deliveries.c.status == "pending", deliveries.c.digest,
                 deliveries.c.next_at <= now, deliveries.c.subscription_id.in_(emails.scalar_subquery()))
        with self._connect() as conn:
            oldest = conn.execute(sa.select(sa.func.min(deliveries.c.created_at)).where(*where)).scalar()
            if oldest is None or oldest > oldest_before:
                return []
            rows = conn.execute(_DUE.where(*where[1:]).order_by(deliveries.c.created_at)
                                .limit(limit)).all()
        return [Due(*r) for r in rows]

    def record(self, outcomes: Sequence[Outcome], now: datetime | None = None) -> list[int]:
        """Record the attempts; the ids of the subscriptions this paused."""
        if not outcomes:
            return []
        now = now or datetime.now(UTC)
        stamp = utc_iso(now)
        last = len(self.retry_delays_s)
        ok_subs = {o.due.subscription_id for o in outcomes if o.error is None}
        bad_subs = {o.due.subscription_id for o in outcomes if o.error is not None} - ok_subs
        d, s = deliveries.c, subscriptions.c
        paused = []
        probe_at: dict[int, float] = {}  # failing subscription -> seconds to its next probe
        with self._connect() as conn, self._write(conn):
            for o in outcomes:
                tries = o.due.attempts + 1
                values: dict[str, Any] = {"attempts": tries, "last_attempt_at": stamp,
                                          "last_error": o.error}
                if o.error is None:
                    values |= {"status": "delivered", "delivered_at": stamp}
                else:
                    wait = self.retry_delays_s[min(tries, last) - 1]
                    wait *= self._random.uniform(1 - self.jitter, 1 + self.jitter)
                    sub = o.due.subscription_id
                    probe_at[sub] = min(probe_at.get(sub, wait), wait, self.probe_max_s)
                    if tries > last:
                        values["status"] = "failed"
                    else:
                        values["next_at"] = _later(now, wait)
                conn.execute(deliveries.update().where(d.id == o.due.id, d.status == "pending")
                             .values(**values))
            if ok_subs:
                conn.execute(subscriptions.update().where(s.id.in_(ok_subs))
                             .values(failing_since=None, retry_at=None))
            if bad_subs:
                conn.execute(subscriptions.update().where(s.id.in_(bad_subs),
                                                          s.failing_since.is_(None))
                             .values(failing_since=stamp))
                for sub_id in bad_subs:
                    conn.execute(subscriptions.update().where(s.id == sub_id)
                                 .values(retry_at=_later(now, probe_at[sub_id])))
                cutoff = _later(now, -self.pause_after_s)
                paused = list(conn.execute(
                    sa.select(s.id).where(s.id.in_(bad_subs), s.active,
                                          s.failing_since <= cutoff)).scalars())
                for sub_id in paused:
                    self._pause(conn, sub_id, stamp)
        return paused

    def _pause(self, conn: sa.Connection, sub_id: int, stamp: str) -> None:
        reason = f"paused at {stamp}: every delivery failed for {self.pause_after_s / 3600:g} h"
        conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id)
                     .values(active=False, paused_reason=reason))
        conn.execute(deliveries.update().where(deliveries.c.subscription_id == sub_id,
                                               deliveries.c.status == "pending")
                     .values(status="failed", last_error=reason))

    # ---- subscriptions -----------------------------------------------------------------------

    def subscribe(self, url: str, events: Sequence[str], min_severity: str, secret: str | None,
                  kind: str = "webhook") -> dict[str, Any]:
        """A new active subscription (the secret is not in the returned dict)."""
        now = utc_iso(datetime.now(UTC))
        with self._connect() as conn, self._write(conn):
            sub_id = conn.execute(subscriptions.insert().returning(subscriptions.c.id), {
                "kind": kind, "url": url, "events": ",".join(events), "min_severity": min_severity,
                "secret": secret, "active": True, "created_at": now}).scalar_one()
        return self.subscription(sub_id)

    def subscription(self, sub_id: int) -> dict[str, Any] | None:
        items = self.subscriptions(sub_id=sub_id, kind=None)
        return items[0] if items else None

    def subscriptions(self, *, sub_id: int | None = None, kind: str | None = "webhook") -> list[dict[str, Any]]:
        """Subscriptions oldest first, each with its count of pending and failed deliveries."""
        s, d = subscriptions.c, deliveries.c
        query = sa.select(*(s[c] for c in _SUB_COLUMNS)).order_by(s.id)
        if sub_id is not None:
            query = query.where(s.id == sub_id)
        if kind is not None:
            query = query.where(s.kind == kind)
        with self._connect() as conn:
            subs = [_subscription(r) for r in conn.execute(query)]
            counts = {(k, st): n for k, st, n in conn.execute(
                sa.select(d.subscription_id, d.status, sa.func.count())
                .where(d.status.in_(("pending", "failed")), d.subscription_id.in_([x["id"] for x in subs]))
                .group_by(d.subscription_id, d.status))}
        for sub in subs:
            sub["pending"] = counts.get((sub["id"], "pending"), 0)
            sub["failed"] = counts.get((sub["id"], "failed"), 0)
        return subs

    def unsubscribe(self, sub_id: int) -> bool:
        """Delete a subscription; its pending deliveries are failed. False if there is none."""
        with self._connect() as conn, self._write(conn):
            gone = conn.execute(subscriptions.delete().where(subscriptions.c.id == sub_id)).rowcount
            if gone:
                conn.execute(deliveries.update().where(deliveries.c.subscription_id == sub_id,
                                                       deliveries.c.status == "pending")
                             .values(status="failed", last_error="subscription deleted"))
        return bool(gone)

    def resume(self, sub_id: int) -> dict[str, Any] | None:
        """Reactivate a (paused) subscription; None if there is none."""
        with self._connect() as conn, self._write(conn):
            found = conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id)
                                 .values(active=True, paused_reason=None, failing_since=None,
                                         retry_at=None)).rowcount
        return self.subscription(sub_id) if found else None

    def configure_email(self, to: Sequence[str] | None, min_severity: str = "high") -> None:
        """The one email subscription: to ``to`` (``mailto:a,b``), or off when ``to`` is None.

        Called at every start-up with the command line's email options: pending emails stay
        queued while no SMTP server is configured, and go out once one is.
        """
        s = subscriptions.c
        with self._connect() as conn, self._write(conn):
            if to is None:
                conn.execute(subscriptions.update().where(s.kind == "email").values(active=False))
                return
            values = {"url": "mailto:" + ",".join(to), "events": ",".join(EMAIL_EVENTS),
                      "min_severity": min_severity, "active": True, "paused_reason": None}
            found = conn.execute(subscriptions.update().where(s.kind == "email")
                                 .values(**values)).rowcount
            if not found:
                conn.execute(subscriptions.insert().values(
                    kind="email", created_at=utc_iso(datetime.now(UTC)), **values))

    # ---- deliveries --------------------------------------------------------------------------

    def deliveries(self, *, status: str | None = None, delivery_id: str | None = None,
                   limit: int = 50) -> list[dict[str, Any]]:
        """Deliveries newest first (the payload left out)."""
        d = deliveries.c
        query = sa.select(*(d[c] for c in _DELIVERY_COLUMNS)).order_by(d.created_at.desc(), d.id)
        if status is not None:
            query = query.where(d.status == status)
        if delivery_id is not None:
            query = query.where(d.id == delivery_id)
        with self._connect() as conn:
            return [dict(zip(_DELIVERY_COLUMNS, r, strict=True))
                    for r in conn.execute(query.limit(limit))]

    def retry(self, delivery_id: str) -> dict[str, Any] | None:
        """Send a failed delivery again, from the first attempt; None if there is no such one.

        Raises ``ValueError`` when it is not failed (pending or delivered).
        """
        d = deliveries.c
        with self._connect() as conn, self._write(conn):
            status = conn.execute(sa.select(d.status).where(d.id == delivery_id)).scalar()
            if status is None:
                return None
            if status != "failed":
                raise ValueError(f"Delivery is {status}, not failed")
            conn.execute(deliveries.update().where(d.id == delivery_id).values(
                status="pending", attempts=0, next_at=utc_iso(datetime.now(UTC))))
        return self.deliveries(delivery_id=delivery_id)[0]
