"""``Sender``: the background task that delivers the outbox: signed webhooks and emails.

It runs in the API process (create_app's lifespan starts it), apart from ingestion: a receiver
that is down or slow delays only its own deliveries. Every ``poll_s`` it reads what is due and
starts each delivery as its own task (at most ``MAX_IN_FLIGHT`` at once, each cut off at
``timeout_s``); finished attempts are recorded together, in one transaction per round.

Webhooks are POSTed with the Standard Webhooks headers (signing.py); a 2xx answer is success,
anything else (a redirect included: it is never followed) a failure to retry. Emails go through
``--smtp-url``: a critical alert at once, the others as one digest once the oldest of them has
waited ``digest_minutes``.

One sender per database: with SQLite the API is one process; on PostgreSQL every worker runs
a sender, but only the one holding a session advisory lock sends. If that worker dies its
connection closes, the lock is freed, and another worker takes over within ``poll_s``.
Delivery is at least once: an attempt whose outcome could not be recorded (the process stopped
in between) is sent again with the same ``webhook-id``, which receivers use to drop repeats.
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from wallet_monitor.api import mailer, signing
from wallet_monitor.api.config import (
    DELIVERY_TIMEOUT_S,
    DIGEST_MAX,
    MAX_IN_FLIGHT,
    PAUSE_AFTER_S,
    RETRY_DELAYS_S,
    RETRY_JITTER,
    SENDER_POLL_S,
)
from wallet_monitor.api.database import reason
from wallet_monitor.api.mailer import EmailSettings
from wallet_monitor.api.outbox import Due, Outbox, Outcome
from wallet_monitor.api.schemas import utc_iso
from wallet_monitor.api.store import StoreError

# pg_try_advisory_lock key of the one sending worker (migrate.py's migration lock is 0x57A11E7).
SENDER_LOCK_KEY = 0x57A11E8
USER_AGENT = "wallet-monitor-webhooks/1"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotifySettings:
    """How notifications are sent; the defaults are config.py's (docs/NOTIFICATIONS.md)."""

    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
    jitter: float = RETRY_JITTER
    timeout_s: float = DELIVERY_TIMEOUT_S
    poll_s: float = SENDER_POLL_S
    pause_after_s: float = PAUSE_AFTER_S
    email: EmailSettings | None = None


class Sender:
    """Delivers ``outbox``; on PostgreSQL only while holding the sender lock on ``lock_engine``."""

    def __init__(self, outbox: Outbox, settings: NotifySettings,
                 lock_engine: sa.Engine | None = None) -> None:
        self.outbox = outbox
        self.settings = settings
        self._lock_engine = lock_engine
        self._lock_conn: sa.Connection | None = None
        self.leader = lock_engine is None
        self._inflight: dict[str, Due] = {}  # sent or being sent, until recorded
        self._tasks: set[asyncio.Task] = set()
        self._digest: asyncio.Task | None = None
        self._done: list[Outcome] = []
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None

    async def run(self) -> None:
        """Deliver until cancelled."""
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request; ours say more
        # No proxy from the environment, no redirects: a delivery goes where its URL says.
        self._client = httpx.AsyncClient(timeout=self.settings.timeout_s, follow_redirects=False,
                                         trust_env=False, headers={"user-agent": USER_AGENT})
        try:
            while True:
                try:
                    if self._lock_engine is None or await asyncio.to_thread(self._hold_lock):
                        await self._round()
                except StoreError as exc:
                    logger.warning("notification sender: database error: %s", exc)
                except Exception:  # never let one bad round end the sender
                    logger.exception("notification sender round failed")
                self._wake.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._client.aclose()
            if self._done:  # attempts made but not yet recorded: record them, or they are resent
                with suppress(Exception):
                    await asyncio.to_thread(self.outbox.record, self._done)
            await asyncio.to_thread(self._drop_lock)

    # ---- one sender per database -------------------------------------------------------------

    def _hold_lock(self) -> bool:
        """Whether this process is the sender: take the advisory lock, or check it is held."""
        try:
            if self._lock_conn is None:
                self._lock_conn = self._lock_engine.connect()
                self._lock_conn.execution_options(isolation_level="AUTOCOMMIT")
            if self.leader:
                self._lock_conn.execute(sa.text("SELECT 1"))  # the session (and lock) lives
            else:
                # Per schema: two stores in one database (search_path) each get their sender.
                self.leader = bool(self._lock_conn.execute(sa.text(
                    "SELECT pg_try_advisory_lock(:key, hashtext(current_schema()))"),
                    {"key": SENDER_LOCK_KEY}).scalar())
                if self.leader:
                    logger.info("notification sender active in this process (pid %d, lock %#x)",
                                os.getpid(), SENDER_LOCK_KEY)
        except SQLAlchemyError as exc:
            if self.leader:
                logger.warning("notification sender lock lost: %s", reason(exc))
            self._drop_lock()
        return self.leader

    def _drop_lock(self) -> None:
        if self._lock_engine is None:
            return
        self.leader = False
        if self._lock_conn is not None:
            with suppress(SQLAlchemyError):
                self._lock_conn.close()  # closing the session frees the lock
            self._lock_conn = None

    # ---- rounds ------------------------------------------------------------------------------

    async def _round(self) -> None:
        if self._done:
            outcomes, self._done = self._done, []
            try:
                paused = await asyncio.to_thread(self.outbox.record, outcomes)
            except Exception:
                self._done = outcomes + self._done  # recorded next round; still in flight
                raise
            for o in outcomes:
                self._inflight.pop(o.due.id, None)
            for sub_id in paused:
                logger.warning("subscription %d paused: its deliveries failed for %g h", sub_id,
                               self.settings.pause_after_s / 3600)
        room = MAX_IN_FLIGHT - len(self._tasks)  # a digest is one task
        now = datetime.now(UTC)
        stamp = utc_iso(now)
        email = self.settings.email
        if room > 0:
            kinds = ("webhook", "email") if email else ("webhook",)
            busy = frozenset(d.subscription_id for d in self._inflight.values())
            for due in await asyncio.to_thread(self.outbox.due, stamp, room,
                                               frozenset(self._inflight), kinds, busy):
                self._start([due])
        if email and self._digest is None:
            oldest = utc_iso(now - timedelta(minutes=email.digest_minutes))
            group = await asyncio.to_thread(self.outbox.due_digest, stamp, oldest, DIGEST_MAX)
            group = [d for d in group if d.id not in self._inflight]
            if group:
                self._digest = self._start(group)

    def _start(self, group: list[Due]) -> asyncio.Task:
        task = asyncio.create_task(self._attempt(group))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        for due in group:
            self._inflight[due.id] = due
        return task

    async def _attempt(self, group: list[Due]) -> None:
        first = group[0]
        try:
            error = await (self._email(group) if first.kind == "email" else self._post(first))
        except Exception as exc:  # a bug must not leave the delivery in flight for ever
            logger.exception("delivery %s failed unexpectedly", first.id)
            error = f"internal error: {type(exc).__name__}: {exc}"
        if error is not None:
            logger.info("delivery %s (subscription %d, attempt %d) failed: %s", first.id,
                        first.subscription_id, first.attempts + 1, error)
        self._done += [Outcome(due, error) for due in group]
        if self._digest is not None and self._digest is asyncio.current_task():
            self._digest = None
        self._wake.set()

    async def _post(self, due: Due) -> str | None:
        """POST one signed webhook; None on a 2xx answer, else what went wrong."""
        headers = signing.headers(due.secret or "", due.id, int(time.time()), due.payload)
        timeout = self.settings.timeout_s
        try:
            async with asyncio.timeout(timeout):  # the whole exchange, not each read
                async with self._client.stream("POST", due.url, content=due.payload.encode(),
                                               headers=headers) as answer:
                    status, location = answer.status_code, answer.headers.get("location")
        except TimeoutError:
            return f"no answer within {timeout:g} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}".rstrip(": ")
        if 200 <= status < 300:
            return None
        if 300 <= status < 400:
            return f"HTTP {status}: redirect to {location!r} not followed"
        return f"HTTP {status}"

    async def _email(self, group: list[Due]) -> str | None:
        """One email (a digest when ``group`` has several); None once the server took it."""
        email = self.settings.email
        message = mailer.compose(email, [d.payload for d in group])
        try:
            await asyncio.to_thread(mailer.send, email, message, self.settings.timeout_s)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            return f"SMTP: {exc}"
        return None
