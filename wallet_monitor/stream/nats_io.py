"""NATS plumbing shared by the publisher and the consumer: nats-py (asyncio) on a private event
loop in a daemon thread, so synchronous code (the follower loop, scripts) calls it with `run`;
the streams created with the partition count they carry."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading

from nats.aio.client import Client
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from wallet_monitor.cli import UserError
from wallet_monitor.stream.partition import (
    DEFAULT_PARTITIONS,
    StreamAddress,
    describe,
    partitions_in,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
RECONNECT_WAIT_S = 0.5  # between reconnect attempts while the server is down (forever)
NO_UVLOOP_ENV = "WALLET_MONITOR_NO_UVLOOP"
SCORED_MAX_AGE_S = 7 * 24 * 3600.0  # scored rows are needed for EPISODE_REACH, kept a week


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (a requirement; its loop takes ~20% less of the
    NATS thread's CPU per message than asyncio's own, docs/LATENCY.md "Tenth step"), else
    asyncio's; asyncio's too with WALLET_MONITOR_NO_UVLOOP=1 (a comparison, or a broken install)."""
    if os.environ.get(NO_UVLOOP_ENV) == "1":
        return asyncio.new_event_loop()
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class LoopThread:
    """An asyncio loop in a daemon thread; `run(coro)` waits for a coroutine's result."""

    def __init__(self, name: str = "nats"):
        self.loop = new_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro) -> concurrent.futures.Future:
        """Start a coroutine on the loop; its result comes with the future returned."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro, timeout: float | None = None):
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()  # a call that timed out must not go on beside its retry
            raise

    def stop(self) -> None:
        """Cancel what still runs on the loop (a client's background tasks), then stop it."""
        async def _cancel_rest():
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            self.run(_cancel_rest(), 5)
        except Exception as exc:  # stopping is best effort
            logger.debug("stopping the NATS loop: %s", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class ReconnectingClient(Client):
    """nats-py's client, each (re)connection attempt starting clean. nats-py 2.16 starts one
    dirty in two ways (docs/DECISIONS.md, "A reconnect starts clean"):
    - its parser is reset when the connection is lost (`_process_op_err`), but a read loop
      holding a chunk read just before parses it after that reset, and the reset meant for a
      reconnect never runs (it tests for RECONNECTING after setting CONNECTING): the new
      connection's first bytes (its PONG, the replies) are read as the rest of an old message,
      lost; the reconnect's flush times out;
    - an attempt that fails after it started its read loop (that flush timing out) leaves the
      loop and its socket to the next attempt: two read loops on one connection ("read() called
      while another coroutine is already waiting"), each attempt failing again, for good.
    Before each attempt: the last attempt's tasks cancelled, its socket closed, the parser
    reset."""

    async def _connect_to_server(self, s) -> None:
        for task in (self._reading_task, self._ping_interval_task, self._flusher_task):
            if task is not None and not task.done():
                task.cancel()
        if self._transport is not None:
            self._transport.close()
        self._ps.reset()
        await super()._connect_to_server(s)


class StatusOnlyClient(ReconnectingClient):
    """A client that reads a delivered message's headers only when they carry a status (a pull
    request's 404/408, a JetStream control message): a consumer that never reads the others
    (the publisher's Nats-Msg-Id on every event, a headers-only watch's) is spared their
    parsing, about half of nats-py's cost per message (docs/LATENCY.md, branch issue-20k).
    Messages it delivers have `headers` None unless they carry a status."""

    async def _process_headers(self, headers):
        # "NATS/1.0 404 No Messages": a space after the version line's "NATS/1.0" is a status.
        if headers and len(headers) > _HEADER_LINE and headers[_HEADER_LINE] == _SPACE:
            return await super()._process_headers(headers)
        return None


_HEADER_LINE = len(b"NATS/1.0")
_SPACE = ord(" ")


async def connect(address: StreamAddress, name: str, *, statuses_only: bool = False,
                  disconnected=None, reconnected=None):
    """A connection that reconnects forever: a NATS restart pauses the detector, no more.
    `statuses_only`: delivered messages keep their headers only when they carry a status
    (`StatusOnlyClient`), for a consumer that reads no other header. `reconnected`: a
    coroutine function awaited after each reconnect (a consumer renews its pull requests);
    `disconnected`, one awaited when the connection is lost."""
    made = []

    async def _disconnected():
        if made and not (made[0].is_closed or made[0].is_draining):  # not our own close
            logger.warning("disconnected from %s; reconnecting", address.server)
            if disconnected is not None:
                await disconnected()

    async def _reconnected():
        logger.info("reconnected to %s", address.server)
        if reconnected is not None:
            await reconnected()

    async def _error(exc):
        logger.debug("nats: %s", exc)

    try:
        nc = StatusOnlyClient() if statuses_only else ReconnectingClient()
        await nc.connect(
            address.server, name=name, connect_timeout=CONNECT_TIMEOUT_S,
            max_reconnect_attempts=-1, reconnect_time_wait=RECONNECT_WAIT_S,
            disconnected_cb=_disconnected, reconnected_cb=_reconnected, error_cb=_error)
        made.append(nc)
        return nc
    except Exception as exc:  # nats-py raises a zoo of connection errors
        raise UserError(f"cannot connect to NATS at {address.server}: {exc}") from None


async def ensure_streams(js, address: StreamAddress, partitions: int | None) -> int:
    """Create the event and scored streams if needed; returns the partition count the event
    stream records (`partitions`, or the default, for a new one). A count that disagrees with
    the stream's is a UserError: publisher and consumers must agree."""
    try:
        info = await js.stream_info(address.stream)
        have = partitions_in(info.config.description)
        if have is None:
            raise UserError(f"stream {address.stream} exists but was not created by wallet-monitor "
                            "(no partition count in its description)")
        if partitions is not None and partitions != have:
            raise UserError(f"--partitions {partitions} disagrees with stream {address.stream}, "
                            f"which has {have}")
    except NotFoundError:
        have = partitions or DEFAULT_PARTITIONS
        await js.add_stream(StreamConfig(name=address.stream, subjects=address.subjects,
                                         description=describe(have), duplicate_window=120.0))
        logger.info("created stream %s with %d partitions", address.stream, have)
    try:
        await js.stream_info(address.scored_stream)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=address.scored_stream,
                                         subjects=[f"{address.scored_stream}.*"],
                                         max_age=SCORED_MAX_AGE_S, duplicate_window=120.0))
    return have


async def delete_streams(js, address: StreamAddress) -> None:
    """Remove both streams (tests and benchmarks clean up after themselves)."""
    for name in (address.stream, address.scored_stream):
        try:
            await js.delete_stream(name)
        except NotFoundError:
            pass
