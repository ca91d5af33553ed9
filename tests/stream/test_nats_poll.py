"""A NatsSource poll (the machine's NATS server): it asks only the partitions its watch shows
messages on, and still hands over, in stream order and once each, every message of the shard
up to `upto` (logins on partitions without a transaction too), at most max_rows transactions."""

from __future__ import annotations

import json
import random
import uuid

import pytest

from tests.stream.test_nats import NATS, _drop
from wallet_monitor.stream.nats_io import LoopThread, connect
from wallet_monitor.stream.nats_source import NatsSource
from wallet_monitor.stream.partition import parse_nats_url, partition_of

PARTITIONS = 8


@pytest.fixture
def stream_url():
    url = f"{NATS}/P{uuid.uuid4().hex[:10]}"
    yield url
    _drop(url)


class _Publisher:
    """Publishes transactions and logins of a wallet of partition p; remembers each's sequence."""

    def __init__(self, url: str):
        self.address = parse_nats_url(url)
        self.loop = LoopThread("nats-test-publisher")
        self.nc = self.loop.run(connect(self.address, "test-publisher"), 30)
        self.js = self.nc.jetstream()
        self.wallet = {}
        k = 0
        while len(self.wallet) < PARTITIONS:
            self.wallet.setdefault(partition_of(f"W{k}", PARTITIONS), f"W{k}")
            k += 1
        self.seqs: dict[int, int] = {}  # sequence -> partition
        self.n = 0

    def send(self, p: int, login: bool = False) -> None:
        self.n += 1
        subject = (self.address.login_subject if login else self.address.tx_subject)(p)
        key = "login_id" if login else "transaction_id"
        body = json.dumps({key: f"e{self.n}", "wallet_id": self.wallet[p]}).encode()
        self.seqs[self.loop.run(self.js.publish(subject, body), 30).seq] = p

    def close(self) -> None:
        self.loop.run(self.nc.close(), 30)
        self.loop.stop()


def test_a_poll_asks_only_partitions_with_messages_and_hands_over_everything_up_to_upto(
        stream_url):
    source = NatsSource(stream_url, 0, 2, partitions=PARTITIONS,
                        tx_columns=["transaction_id", "wallet_id"],
                        login_columns=["login_id", "wallet_id"])
    pub = _Publisher(stream_url)
    asked: list[int] = []
    request = source._request

    async def recording(p, n, *args, **kw):
        if isinstance(p, int):
            asked.append(p)
        return await request(p, n, *args, **kw)

    source._request = recording
    rng = random.Random(0)
    mine = set(source.mine)
    handed: list[int] = []

    def poll(max_rows):
        polled = source.poll(max_rows)
        got = [*polled.transactions.where.tolist(), *polled.logins.where.tolist()]
        assert len(polled.transactions) <= max_rows
        handed.extend(sorted(got))
        # Every message of the shard up to `upto` is handed over, in stream order, once.
        assert handed == sorted(set(handed))
        assert {s for s, p in pub.seqs.items() if p in mine and s <= source.upto} <= set(handed)
        source.commit()
        return got

    try:
        list(source.replay(None))
        for _ in range(15):
            for _ in range(rng.randrange(1, 12)):  # logins alone on some partitions
                pub.send(rng.randrange(PARTITIONS), login=rng.random() < 0.4)
            for _ in range(3):
                poll(rng.choice([1, 2, 5]))
        while poll(5):
            pass
        assert sorted(handed) == sorted(s for s, p in pub.seqs.items() if p in mine)
        assert source.upto >= max(handed)

        # Nothing new: a poll asks no partition. One login on one partition: that one only.
        asked.clear()
        assert poll(5) == []
        assert asked == []
        one = source.mine[1]
        pub.send(one, login=True)
        assert len(poll(5)) == 1
        assert asked == [one]
    finally:
        source.close()
        pub.close()


def test_a_poll_whose_scored_fetch_fails_is_retried_without_losing_its_messages(stream_url):
    # The scored rows are fetched alongside a poll; when that fetch fails (the server went
    # away), `_call` runs the poll again: the first try must not have handed anything over,
    # moved `upto` or left its messages to be acknowledged unseen.
    from nats.errors import ConnectionClosedError
    source = NatsSource(stream_url, 0, 1, partitions=PARTITIONS,
                        tx_columns=["transaction_id", "wallet_id"],
                        login_columns=["login_id", "wallet_id"])
    pub = _Publisher(stream_url)
    fetch_scored = source._poll_scored
    failures = [1]

    async def failing_once():
        if failures:
            failures.pop()
            raise ConnectionClosedError
        return await fetch_scored()

    try:
        list(source.replay(None))
        source.start_scored()
        source._poll_scored = failing_once
        for p in range(PARTITIONS):
            pub.send(p)
        handed = []
        for _ in range(5):
            polled = source.poll(100)
            handed += polled.transactions.where.tolist()
            source.commit()
        assert not failures  # the failure happened
        assert sorted(handed) == sorted(pub.seqs)  # every message once, none lost to the retry
        assert source.upto >= max(pub.seqs)
    finally:
        source.close()
        pub.close()
