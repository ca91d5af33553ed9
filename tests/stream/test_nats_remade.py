"""A watch consumer remade after a reconnect (same name, from after the last entry received)
while the deleted one's deliveries still wait in the reply subscription's queue (the machine's
NATS server): those must not be taken for the new consumer's."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace

import pytest

from tests.stream.test_nats import NATS, _drop
from tests.stream.test_nats_poll import PARTITIONS, _Publisher
from tests.stream.test_nats_standing import _silence
from wallet_monitor.stream import nats_source


@pytest.fixture
def url():
    url = f"{NATS}/R{uuid.uuid4().hex[:10]}"
    yield url
    _drop(url)


def test_a_deleted_watch_consumers_late_delivery_does_not_let_the_hand_over_skip_messages(
        url, monkeypatch):
    # The old watch had sent entries 1 and 2 on the connection that dropped (lost) and entry 3
    # on the new one before `_renew_all` deleted it; entry 3 is read from the queue only after
    # the remake. Taken as the new consumer's, it moves the watch past 1 and 2: the bound passes
    # them while partition 1 (slow) has not delivered them, and when they come, at or below
    # `upto`, they are acknowledged and dropped.
    monkeypatch.setattr(nats_source, "PULL_RENEW_S", 0.5)
    source = nats_source.NatsSource(url, 0, 1, partitions=PARTITIONS,
                                    tx_columns=["transaction_id"])
    pub = _Publisher(url)
    quiet, slow = [True], [True]
    try:
        _silence(source, "watch", lambda: quiet[0])
        renew = source._renew

        async def renew_unless_slow(standing):
            if standing.key == 1 and slow[0]:
                standing.next()
                return
            await renew(standing)
        source._renew = renew_unless_slow
        list(source.replay(None))
        pub.send(1)
        pub.send(1)
        pub.send(2)
        assert sorted(pub.seqs) == [1, 2, 3]
        deadline = time.monotonic() + 10
        while 3 not in source._buffer and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 3 in source._buffer
        stream, watch = source.address.stream, source._standing["watch"].consumer
        late = SimpleNamespace(  # the old watch's delivery of entry 3 (consumer sequence 3)
            subject=f"{stream}.tx.2", headers=None, data=b"",
            reply=f"$JS.ACK.{stream}.{watch}.1.3.3.{time.time_ns()}.0")
        quiet[0] = False

        async def reconnect_then_late_delivery():
            await source._disconnected()
            await source._renew_all()  # as the reconnected callback does
            await source._reply(late)
        source._call(reconnect_then_late_delivery)
        handed: list[int] = []
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            source.wait(0.05)
            handed += source.poll(100).transactions.where.tolist()
            source.commit()
        slow[0] = False
        deadline = time.monotonic() + 10
        while len(handed) < 3 and time.monotonic() < deadline:
            source.wait(0.05)
            handed += source.poll(100).transactions.where.tolist()
            source.commit()
        assert handed == [1, 2, 3]
    finally:
        source.close()
        pub.close()


def test_a_deleted_linker_consumers_late_delivery_loses_no_scored_rows(url):
    # The same for the linker's consumer of STREAM_SCORED: batch 3, read after the remake, had
    # moved `_scored_seq` past batches 1 and 2, which the new consumer then delivered in vain.
    source = nats_source.NatsSource(url, 0, 1, partitions=PARTITIONS,
                                    tx_columns=["transaction_id"])
    quiet = [True]
    try:
        _silence(source, "scored", lambda: quiet[0])
        list(source.replay(None))
        for upto in (1, 2, 3):
            source.publish_scored([], upto)
        source.scored_sent()
        source.start_scored()
        name = source._standing["scored"].consumer
        late = SimpleNamespace(  # the old consumer's delivery of batch 3 (consumer sequence 3)
            subject=source.address.scored_subject(0), headers=None,
            data=json.dumps({"shard": 0, "shards": 1, "upto": 3, "rows": []}).encode(),
            reply=f"$JS.ACK.{source.address.scored_stream}.{name}.1.3.3.{time.time_ns()}.0")
        quiet[0] = False

        async def reconnect_then_late_delivery():
            await source._disconnected()
            await source._renew_all()
            await source._reply(late)
        source._call(reconnect_then_late_delivery)
        deadline = time.monotonic() + 10
        while len(source.scored) < 3 and time.monotonic() < deadline:
            source.wait(0.05)
        assert [b["upto"] for b in source.scored] == [1, 2, 3]
    finally:
        source.close()
