"""Alert delivery in its own thread, so a slow alert API never holds up scoring.

The follower hands each batch's alert bodies to an `Outbox` and goes on reading and scoring;
the outbox's thread POSTs them in order through the `SpoolingSender` (which spools what the API
does not take, as before). The follower writes its checkpoint and commits the source only when
the outbox is `idle` (everything handed over is delivered or spooled), so a checkpoint still
means "every row before it is written and alerted": a crash before it re-scores and re-alerts
the rows after the last checkpoint (the API keeps one alert per transaction), never loses one.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque

from wallet_monitor.delivery import DeliveryError, SpoolingSender

logger = logging.getLogger(__name__)

# How often an idle outbox retries what waits in the spool (the sender itself holds new alerts
# back for RETRY_AFTER_S after a failure, so this only bounds how soon a recovered API hears).
SPOOL_RETRY_S = 1.0


class Outbox:
    """A FIFO of alert batches and the thread that delivers them."""

    def __init__(self, sender: SpoolingSender):
        self.sender = sender
        self.spooled = 0  # alerts waiting in the spool after the last delivery
        self.error: DeliveryError | None = None
        self._queue: deque[tuple[float, list[dict]]] = deque()
        self._busy = False
        self._closing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="alert-outbox", daemon=True)
        self._thread.start()

    def put(self, records: list[dict]) -> None:
        with self._cond:
            self._queue.append((time.monotonic(), records))
            self._cond.notify_all()

    @property
    def idle(self) -> bool:
        """Everything handed over is delivered or spooled."""
        with self._cond:
            return not self._queue and not self._busy

    def oldest_age(self) -> float:
        """Seconds the oldest undelivered batch has waited (0 when idle)."""
        with self._cond:
            if self._queue:
                return time.monotonic() - self._queue[0][0]
            return 0.0

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything handed over is delivered or spooled; True if it is."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self) -> None:
        """Deliver or spool what is pending, try the spool a last time, stop the thread."""
        self.drain()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        if self.error is None and self.sender.spool.exists():
            self.sender.retry_at = 0.0
            self.spooled = self.sender([])

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    if not self._cond.wait(SPOOL_RETRY_S) and self._spool_due():
                        break
                if self._closing and not self._queue:
                    return
                records = self._queue.popleft()[1] if self._queue else []
                self._busy = True
            try:
                self._deliver(records)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _spool_due(self) -> bool:
        return self.error is None and self.sender.spool.exists() and \
            time.monotonic() >= self.sender.retry_at

    def _deliver(self, records: list[dict]) -> None:
        try:
            self.spooled = self.sender(records)
        except DeliveryError as exc:
            # Refused for good (e.g. the key): what follows goes straight to the spool, and
            # the follower stops on this error.
            if self.error is None:
                self.error = exc
            self.sender.retry_at = math.inf
        except Exception:  # noqa: BLE001 - the thread must not die with alerts in its queue
            logger.exception("alert delivery failed; these alerts wait in %s", self.sender.spool)
            self.sender.retry_at = time.monotonic() + 1.0
            self.spooled = self.sender(records)
