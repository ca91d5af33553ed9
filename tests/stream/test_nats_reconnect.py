"""A reconnect starts clean (`nats_io.ReconnectingClient`, on the machine's NATS server): nats-py
2.16 lets a lost connection's last bytes spoil the next one's first, and a failed attempt leave
its read loop to the next. Either left the detector waiting on "nats: timeout" for good. Both on
uvloop's event loop (the default) and on asyncio's (WALLET_MONITOR_NO_UVLOOP=1)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import uvloop
from nats import errors

from tests.stream.test_nats import NATS
from wallet_monitor.stream.nats_io import NO_UVLOOP_ENV, LoopThread, connect
from wallet_monitor.stream.partition import parse_nats_url


@pytest.fixture(autouse=True, params=["uvloop", "asyncio"])
def event_loop_kind(request, monkeypatch):
    """Each test on both event loops a LoopThread can run."""
    if request.param == "asyncio":
        monkeypatch.setenv(NO_UVLOOP_ENV, "1")
    else:
        monkeypatch.delenv(NO_UVLOOP_ENV, raising=False)
    return request.param


def test_the_loop_thread_runs_the_event_loop_asked_for(event_loop_kind):
    loop = LoopThread("nats-loop-kind-test")
    try:
        assert isinstance(loop.loop, uvloop.Loop) == (event_loop_kind == "uvloop")
        assert loop.run(asyncio.sleep(0, "ran"), 5) == "ran"
    finally:
        loop.stop()


def _connected():
    loop = LoopThread("nats-reconnect-test")
    back = threading.Event()

    async def reconnected():
        back.set()
    nc = loop.run(connect(parse_nats_url(f"{NATS}/R"), "reconnect-test",
                          reconnected=reconnected), 10)
    return loop, nc, back


def _round_trip(loop, nc) -> bytes:
    """A request answered by a subscription of the same connection: the read loop works."""
    async def echo(m):
        await m.respond(b"back:" + m.data)

    async def go():
        sub = await nc.subscribe("reconnect.test.echo", cb=echo)
        try:
            return (await nc.request("reconnect.test.echo", b"x", timeout=2)).data
        finally:
            await sub.unsubscribe()
    return loop.run(go(), 10)


def _close(loop, nc) -> None:
    try:
        loop.run(nc.close(), 10)
    finally:
        loop.stop()


def test_bytes_parsed_after_the_drop_do_not_spoil_the_next_connection():
    # The drop comes from another task (the flusher's write error, the pinger's stale
    # connection) while the read loop holds a chunk it read just before: it parses the chunk
    # after the parser's reset, ending in the middle of a message. The new connection's first
    # bytes (the PONG its reconnect waits for) were read as that message's rest: lost.
    loop, nc, back = _connected()
    try:
        async def drop_mid_message():
            await nc._process_op_err(ConnectionResetError("test"))
            await nc._ps.parse(b"HMSG R.tx.1 9 $JS.ACK.R.wm-1.1.5.5.0.0 12 400\r\nNATS/1.0\r\n")
        loop.run(drop_mid_message(), 10)
        assert back.wait(5), "the reconnect did not complete (its flush timed out)"
        assert _round_trip(loop, nc) == b"back:x"
    finally:
        _close(loop, nc)


def test_an_attempt_that_failed_after_starting_its_read_loop_leaves_none_behind(caplog):
    # The first attempt's flush times out after its read loop started; the next attempt
    # started another on the same client: two loops, one connection each attempt, each
    # later attempt failing ("read() called while another coroutine is already waiting").
    loop, nc, back = _connected()
    fail = [True]
    flush = nc.flush

    async def flush_failing_once(*args, **kwargs):
        if fail[0] and nc.is_reconnecting is False and nc.stats["reconnects"] == 1:
            fail[0] = False
            await asyncio.sleep(0.3)  # its read loop runs meanwhile, as in a real timeout
            raise errors.FlushTimeoutError
        return await flush(*args, **kwargs)
    nc.flush = flush_failing_once
    try:
        loop.run(nc._process_op_err(ConnectionResetError("test")), 10)
        assert back.wait(10), "no reconnect"
        assert not fail[0]  # the first attempt did fail
        assert nc.stats["reconnects"] == 2

        async def read_loops():
            await asyncio.sleep(0.2)  # cancelled tasks finish
            return [t for t in asyncio.all_tasks()
                    if t.get_coro().__name__ == "_read_loop" and not t.done()]
        assert loop.run(read_loops(), 10) == [nc._reading_task]
        assert "encountered error" not in caplog.text  # nats-py's: a read loop died
        assert _round_trip(loop, nc) == b"back:x"
        time.sleep(0.2)
        assert nc.is_connected
    finally:
        _close(loop, nc)
