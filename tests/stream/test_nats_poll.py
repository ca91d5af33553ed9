"""A NatsSource poll (the machine's NATS server): it hands over, in stream order and once each,
every message of the shard up to `upto` (logins on partitions without a transaction too), at
most max_rows transactions, whatever its standing requests have brought in so far."""

from __future__ import annotations

import json
import random
import time
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


def test_polls_hand_over_every_message_of_the_shard_up_to_upto_in_order_once(stream_url):
    # Messages come by themselves (standing requests), so a poll may find some of a
    # partition's messages in and not others: it must still hand over, in stream order and
    # once, exactly the shard's messages up to `upto`, never one past a message not yet in.
    source = NatsSource(stream_url, 0, 2, partitions=PARTITIONS,
                        tx_columns=["transaction_id", "wallet_id"],
                        login_columns=["login_id", "wallet_id"])
    pub = _Publisher(stream_url)
    rng = random.Random(0)
    mine = set(source.mine)
    handed: list[int] = []

    def poll(max_rows):
        polled = source.poll(max_rows)
        got = [*polled.transactions.where.tolist(), *polled.logins.where.tolist()]
        assert len(polled.transactions) <= max_rows
        handed.extend(sorted(got))
        assert handed == sorted(set(handed))  # in stream order, once
        # Every message of the shard up to `upto` is handed over.
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
        want = sorted(s for s, p in pub.seqs.items() if p in mine)
        deadline = time.monotonic() + 20
        while handed != want and time.monotonic() < deadline:
            source.wait(0.1)
            poll(5)
        assert handed == want
        assert source.upto >= max(handed)
        # A login alone on one partition is handed over too.
        pub.send(source.mine[1], login=True)
        deadline = time.monotonic() + 20
        while len(handed) == len(want) and time.monotonic() < deadline:
            source.wait(0.1)
            poll(5)
        assert handed[-1] == max(pub.seqs)
        poll(5)
        assert source.consumer_pending() == 0  # drained: the follower may go idle
    finally:
        source.close()
        pub.close()
