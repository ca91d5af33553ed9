"""A NatsSource poll reads each request's own end: a 404/408 that ends an earlier request (come
after its reader stopped waiting) is not taken for the answer to the current one."""

from __future__ import annotations

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
