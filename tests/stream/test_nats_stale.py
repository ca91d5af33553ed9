"""A NatsSource poll reads each request's own end: a 404/408 that ends an earlier request (come
after its reader stopped waiting) is not taken for the answer to the current one."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest

from tests.stream.test_nats import NATS, _drop
from tests.stream.test_nats_poll import PARTITIONS, _Publisher
from wallet_monitor.stream.nats_source import NatsSource


@pytest.fixture
def source_and_publisher():
    url = f"{NATS}/A{uuid.uuid4().hex[:10]}"
    source = NatsSource(url, 0, 1, partitions=PARTITIONS, tx_columns=["transaction_id"])
    pub = _Publisher(url)
    yield source, pub
    source.close()
    pub.close()
    _drop(url)


def test_an_earlier_requests_late_404_is_not_taken_for_the_answer(source_and_publisher):
    # A request whose reader stopped waiting (its deadline passed) may still end with a 404
    # after the next request went out: read as that one's answer, it said "drained" before
    # the partition's messages came, and the bound passed them (handed over never).
    source, pub = source_and_publisher
    request = source._request

    async def with_a_late_404(p, n, *args, **kw):
        await request(p, n, *args, **kw)
        if isinstance(p, int):  # ahead of the real answer: an earlier request's end
            source._queues[p].items.appendleft(SimpleNamespace(
                subject=f"{source._inbox}.{p}.0", headers={"Status": "404"}, data=b"",
                reply=""))

    source._request = with_a_late_404
    list(source.replay(None))
    for p in (1, 3, 3, 6):
        pub.send(p)
    handed: list[int] = []
    for _ in range(4):
        handed += source.poll(100).transactions.where.tolist()
        source.commit()
    assert sorted(handed) == sorted(pub.seqs)


def test_a_partition_answering_no_messages_below_what_the_watch_saw_bounds_the_poll(
        source_and_publisher):
    # A consumer learns of a stored message a moment after the watch may have delivered it: a
    # no-wait request then is answered 404 though the message is there. Taken for "drained",
    # the bound passed the message, which came with the next request and was dropped as
    # handed over.
    source, pub = source_and_publisher
    request = source._request
    early: set[int] = set()

    async def answered_too_early(p, n, *args, **kw):
        await request(p, n, *args, **kw)
        if isinstance(p, int) and p not in early:  # its first request: "no messages"
            early.add(p)
            queue = source._queues[p]
            queue.items.appendleft(SimpleNamespace(
                subject=f"{source._inbox}.{p}.{queue._sent}", headers={"Status": "404"},
                data=b"", reply=""))

    source._request = answered_too_early
    list(source.replay(None))
    for p in (2, 5, 5, 7, 2):
        pub.send(p)
    handed: list[int] = []
    for _ in range(6):
        handed += source.poll(100).transactions.where.tolist()
        source.commit()
    assert early
    assert sorted(handed) == sorted(pub.seqs)


def test_a_message_the_watch_saw_and_the_stream_lost_does_not_hold_the_shard_back(
        source_and_publisher, monkeypatch):
    # A message removed from the stream (a purge, limits) after the watch showed it is never
    # delivered: its partition answers "no messages" below what the watch saw from then on.
    # Held as late for good, it bounded every poll, and nothing of the shard was handed over.
    monkeypatch.setattr("wallet_monitor.stream.nats_source.SEEN_GRACE_S", 0.2)
    source, pub = source_and_publisher
    list(source.replay(None))
    pub.send(0)
    pub.send(1)
    handed = source.poll(100).transactions.where.tolist()
    source.commit()
    pub.send(0)
    lost = max(pub.seqs)
    fetch = source._fetch_some

    async def after_a_removal(parts, n):
        if lost in pub.seqs:  # once the watch has shown it: gone before its partition is asked
            del pub.seqs[lost]
            await pub.nc.jsm().delete_msg(source.address.stream, lost)
        return await fetch(parts, n)

    source._fetch_some = after_a_removal
    for p in (1, 2, 1):
        pub.send(p)
    for _ in range(50):
        handed += source.poll(100).transactions.where.tolist()
        source.commit()
        if len(handed) == len(pub.seqs):
            break
        time.sleep(0.02)
    assert lost not in pub.seqs
    assert sorted(handed) == sorted(pub.seqs)
