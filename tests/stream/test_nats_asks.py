"""A NatsSource poll asks each partition for the messages its watch showed there, and a
partition that delivered all of them bounds nothing (no 404/408 answer to wait for or read)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from tests.stream.test_nats import NATS, _drop
from tests.stream.test_nats_poll import PARTITIONS, _Publisher
from wallet_monitor.stream.nats_source import NatsSource


@pytest.fixture
def stream_url():
    url = f"{NATS}/A{uuid.uuid4().hex[:10]}"
    yield url
    _drop(url)


def test_a_poll_asks_for_what_the_watch_showed_and_hands_it_all_over(stream_url):
    source = NatsSource(stream_url, 0, 1, partitions=PARTITIONS,
                        tx_columns=["transaction_id", "wallet_id"],
                        login_columns=["login_id", "wallet_id"])
    pub = _Publisher(stream_url)
    asked: list[tuple[int, int]] = []
    request = source._request

    async def recording(p, n, *args, **kw):
        if isinstance(p, int):
            asked.append((p, n))
        return await request(p, n, *args, **kw)

    source._request = recording
    try:
        list(source.replay(None))
        for rounds in ([(2, False), (2, True), (5, False), (2, False)], [(5, True), (7, False)]):
            for p, login in rounds:
                pub.send(p, login=login)
            asked.clear()
            polled = source.poll(100)
            got = [*polled.transactions.where.tolist(), *polled.logins.where.tolist()]
            source.commit()
            counts: dict[int, int] = {}
            for p, _ in rounds:
                counts[p] = counts.get(p, 0) + 1
            assert sorted(asked) == sorted(counts.items())
            # All of it in this one poll: each partition delivered what the watch showed.
            new = [s for s in pub.seqs if s > source.upto - len(rounds)]
            assert sorted(got) == sorted(new)
            assert source.upto == max(pub.seqs)
    finally:
        source.close()
        pub.close()


def test_an_earlier_requests_late_404_is_not_taken_for_the_answer(stream_url):
    # A request whose reader stopped waiting (its deadline passed) may still end with a 404
    # after the next request went out: read as that one's answer, it said "drained" before
    # the partition's messages came, and the bound passed them (handed over never).
    source = NatsSource(stream_url, 0, 1, partitions=PARTITIONS,
                        tx_columns=["transaction_id", "wallet_id"],
                        login_columns=["login_id", "wallet_id"])
    pub = _Publisher(stream_url)
    request = source._request

    async def with_a_late_404(p, n, *args, **kw):
        await request(p, n, *args, **kw)
        if isinstance(p, int):  # ahead of the real answer: an earlier request's end
            source._queues[p].items.appendleft(SimpleNamespace(
                subject=f"{source._inbox}.{p}.0", headers={"Status": "404"}, data=b"",
                reply=""))

    source._request = with_a_late_404
    handed: list[int] = []
    try:
        list(source.replay(None))
        for p in (1, 3, 3, 6):
            pub.send(p)
        for _ in range(4):
            handed += source.poll(100).transactions.where.tolist()
            source.commit()
        assert sorted(handed) == sorted(pub.seqs)
    finally:
        source.close()
        pub.close()
