"""A NatsSource's scored rows (`publish_scored`): sent without waiting for their
acknowledgement, which a commit and the next publish wait for; a batch that was not
acknowledged is published again before the next, so STREAM_SCORED holds them in order."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest
from nats.errors import ConnectionClosedError

from tests.stream.test_nats import NATS, _drop
from wallet_monitor.stream.nats_source import NatsSource


@pytest.fixture
def source():
    url = f"{NATS}/S{uuid.uuid4().hex[:10]}"
    src = NatsSource(url, 0, 1, partitions=4)
    list(src.replay(None))
    src.start_scored()
    yield src
    src.close()
    _drop(url)


def _received(source: NatsSource, batches: int) -> list[tuple[int, list]]:
    """The scored batches received, once `batches` are in (they come by themselves: the
    linker's consumer holds a standing request), or what came within 10 s."""
    deadline = time.monotonic() + 10
    while len(source.scored) < batches and time.monotonic() < deadline:
        source.wait(0.05)
    time.sleep(0.1)  # none more than expected
    out = [(b["upto"], [r["seq"] for r in b["rows"]]) for b in source.scored]
    source.scored.clear()
    return out


def test_publish_scored_returns_before_its_ack_and_a_commit_waits_for_it(source):
    release = source._loop.run(_event())
    publish = source.js.publish

    async def held(*args, **kw):
        await release.wait()
        return await publish(*args, **kw)

    source.js.publish = held
    sent = threading.Thread(target=source.publish_scored, args=([{"seq": 1}], 1), daemon=True)
    sent.start()
    sent.join(30)
    assert not sent.is_alive()  # returned with the publish still held
    committed = threading.Thread(target=source.commit, daemon=True)
    committed.start()
    time.sleep(0.2)
    waited = committed.is_alive()  # the commit waits for the acknowledgement
    source._loop.loop.call_soon_threadsafe(release.set)
    committed.join(30)
    assert waited and not committed.is_alive()
    assert _received(source, 1) == [(1, [1])]


def test_a_batch_not_acknowledged_is_published_again_before_the_next(source):
    publish = source.js.publish
    failures = [1]

    async def failing_once(*args, **kw):
        if failures:
            failures.pop()
            raise ConnectionClosedError
        return await publish(*args, **kw)

    source.js.publish = failing_once
    source.publish_scored([{"seq": 1}, {"seq": 2}], 2)
    source.publish_scored([{"seq": 3}], 3)
    source.commit()
    assert not failures
    assert _received(source, 2) == [(2, [1, 2]), (3, [3])]


async def _event() -> asyncio.Event:
    return asyncio.Event()


def test_close_closes_the_connection_when_the_last_publish_failed():
    # Closing waits for the scored rows in flight; their failure must not skip the close.
    import concurrent.futures

    url = f"{NATS}/S{uuid.uuid4().hex[:10]}"
    source = NatsSource(url, 0, 1, partitions=4)
    try:
        failed = concurrent.futures.Future()
        failed.set_exception(RuntimeError("publish failed"))
        source._in_flight = ([[]], 0, failed)
        nc = source.nc
        source.close()
        assert nc.is_closed
    finally:
        _drop(url)
