"""Faults of a NatsSource's standing pull requests found in review (the machine's NATS server):
a message delivered again before its commit must not be acknowledged then (AckPolicy.ALL
acknowledges the partition below it too); a message no partition consumer reads must not hold
the shard back for good; the pending count must not stay up for a message removed from the
stream; a consumer deleted under the shard must not leave it waiting silently."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from nats.js.errors import NotFoundError

from tests.stream.test_nats import NATS, _drop
from tests.stream.test_nats_poll import PARTITIONS, _Publisher
from tests.stream.test_nats_standing import _open, _poll_until, _silence
from wallet_monitor.stream import nats_source


@pytest.fixture
def url():
    url = f"{NATS}/F{uuid.uuid4().hex[:10]}"
    yield url
    _drop(url)


def _consumer(source, name):
    return source._call(lambda: source.js.consumer_info(source.address.stream, name))


def test_a_message_delivered_again_before_its_commit_is_not_acknowledged(url):
    # Handed over, not yet committed (the follower still scores or alerts), its acknowledgement
    # wait runs out: the server delivers it again. Acknowledging it then (AckPolicy.ALL: the
    # partition's messages below it too) says handled what a crash would lose.
    source = _open(url, ack_wait=1.0)
    pub = _Publisher(url)
    try:
        pub.send(3)
        seq = max(pub.seqs)
        handed = []
        deadline = time.monotonic() + 10
        while not handed and time.monotonic() < deadline:
            source.wait(0.05)
            handed += source.poll(100).transactions.where.tolist()  # no commit
        assert handed == [seq]
        deadline = time.monotonic() + 20
        while (_consumer(source, "wm-3").delivered.consumer_seq < 2
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert _consumer(source, "wm-3").delivered.consumer_seq >= 2  # delivered again
        source._call(lambda: source.nc.flush(timeout=10))
        assert _consumer(source, "wm-3").ack_floor.stream_seq == 0  # not before the commit
        source.commit()
        assert _consumer(source, "wm-3").ack_floor.stream_seq == seq
    finally:
        source.close()
        pub.close()


def test_a_message_no_partition_consumer_reads_does_not_hold_the_shard_back(url, monkeypatch):
    # STREAM.tx.01 is in the stream (STREAM.*.*) and the watch shows it as partition 1's, but
    # wm-1 reads STREAM.*.1 only: it is never delivered, and it is in the stream, so it was
    # waited on for good; every later message of the shard with it.
    monkeypatch.setattr(nats_source, "SEEN_GRACE_S", 0.2)
    source = _open(url)
    pub = _Publisher(url)
    try:
        pub.loop.run(pub.js.publish(f"{source.address.stream}.tx.01", b'{"transaction_id": "x"}'),
                     30)
        pub.send(2)
        assert _poll_until(source, [], 1, seconds=10) == list(pub.seqs)
    finally:
        source.close()
        pub.close()


def test_the_pending_count_falls_to_zero_once_a_message_it_counted_is_removed(
        url, monkeypatch):
    # Partition 1 delivers its first message saying one more waits; that one is removed from
    # the stream before it is delivered. The count stayed at 1 for good: a ShardFollower,
    # busy while consumer_pending() > 0, never goes idle.
    monkeypatch.setattr(nats_source, "PARTITION_BATCH", 1)
    monkeypatch.setattr(nats_source, "SEEN_GRACE_S", 0.2)
    source = nats_source.NatsSource(url, 0, 1, partitions=PARTITIONS,
                                    tx_columns=["transaction_id"])
    pub = _Publisher(url)
    stop = [False]
    try:
        pub.send(1)
        pub.send(1)
        gone = max(pub.seqs)
        calls = [0]

        def silenced():
            calls[0] += 1
            return calls[0] > 1 and not stop[0]
        _silence(source, 1, silenced)  # its first request only, until the removal
        list(source.replay(None))
        handed = _poll_until(source, [], 1)
        pub.loop.run(pub.nc.jsm().delete_msg(source.address.stream, gone), 30)
        del pub.seqs[gone]
        stop[0] = True
        deadline = time.monotonic() + 10
        while source.consumer_pending() and time.monotonic() < deadline:
            source.wait(0.05)
            handed += source.poll(100).transactions.where.tolist()
            source.commit()
        assert handed == sorted(pub.seqs)
        assert source.consumer_pending() == 0
    finally:
        source.close()
        pub.close()


def test_a_partition_consumer_deleted_under_the_shard_is_an_error_not_a_silent_wait(url):
    # `_call` raises NotFoundError when "the stream or a consumer is gone: not a matter of
    # waiting". A standing request to a deleted consumer is answered 409 then 503 (no
    # responders), renewed every RETRY_WAIT_S for ever: the shard waits on the partition's
    # messages silently and hands nothing over again.
    source = _open(url)
    pub = _Publisher(url)
    try:
        pub.send(2)
        assert _poll_until(source, [], 1) == list(pub.seqs)
        source._call(lambda: source.js.delete_consumer(source.address.stream, "wm-1"))
        pub.send(1)
        pub.send(2)
        with pytest.raises(NotFoundError):
            _poll_until(source, [], 2, seconds=10)
    finally:
        source.close()
        pub.close()


def test_watch_entries_lost_with_a_connection_do_not_let_the_hand_over_skip_messages(
        url, monkeypatch):
    # The watch acknowledges nothing (AckPolicy.NONE): entries the server had written to the
    # connection when it dropped (the client reads slower than the server writes) are never
    # sent again. With a gap in `_ahead`, the bound stops at the last entry before it (the
    # messages after wait until something new is published), then passes the gap: a message
    # there that its partition (slow, as under a backlog) has not delivered yet is skipped,
    # and when it comes, at or below `upto`, acknowledged (AckPolicy.ALL) and dropped.
    n = 20_000
    monkeypatch.setattr(nats_source, "PARTITION_BATCH", 16)
    monkeypatch.setattr(nats_source, "WATCH_BATCH", n)  # one request: the whole backlog
    source = nats_source.NatsSource(url, 0, 1, partitions=PARTITIONS,
                                    tx_columns=["transaction_id"])
    pub = _Publisher(url)
    slow = [True]
    try:
        async def backlog():
            for k in range(n):
                p = 2 if k < 2000 else 1 + k % 2  # partition 1's first after the drop
                body = {"transaction_id": f"e{k}", "wallet_id": pub.wallet[p]}
                await pub.nc.publish(pub.address.tx_subject(p), json.dumps(body).encode())
            await pub.nc.flush()
        pub.loop.run(backlog(), 120)
        deadline = time.monotonic() + 30
        while source._call(source._last_seq) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        _silence(source, 1, lambda: slow[0])
        list(source.replay(None))
        watch = source._standing["watch"]
        keep = watch.keep

        shown = []  # the watch's consumer sequences: a gap is entries lost

        def keep_then_drop(m):
            keep(m)
            shown.append(int(m.reply.split(".")[6]))
            if len(shown) == 1:  # the connection drops while the backlog streams in
                asyncio.get_running_loop().create_task(
                    source.nc._process_op_err(ConnectionResetError("test")))
        watch.keep = keep_then_drop
        while not source.nc.stats["reconnects"] and time.monotonic() < deadline:
            time.sleep(0.05)
        handed: list[int] = []
        for _ in range(20):  # the watch shows what it still had before the drop
            source.wait(0.05)
            handed += source.poll(5000).transactions.where.tolist()
        if shown == list(range(shown[0], shown[0] + len(shown))):
            pytest.skip("the client had read every entry the server sent before the drop")
        pub.send(2)  # something new: the watch moves on past the gap
        slow[0] = False
        deadline = time.monotonic() + 30
        while len(handed) < n + 1 and time.monotonic() < deadline:
            source.wait(0.05)
            handed += source.poll(5000).transactions.where.tolist()
            source.commit()
        assert handed == list(range(1, n + 2))
    finally:
        source.close()
        pub.close()
