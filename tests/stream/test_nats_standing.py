"""A NatsSource's standing pull requests (the machine's NATS server): renewed when they expire,
sent again when one goes unanswered, held while a backlog fills the buffer; a message the
watch showed and its partition has not delivered holds the hand-over back until it comes, and
is passed over only once it is gone from the stream."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest

from tests.stream.test_nats import NATS, _drop
from tests.stream.test_nats_poll import PARTITIONS, _Publisher
from wallet_monitor.stream import nats_source
from wallet_monitor.stream.nats_source import RETRY_WAIT_S, NatsSource, _Standing


@pytest.fixture
def url():
    url = f"{NATS}/S{uuid.uuid4().hex[:10]}"
    yield url
    _drop(url)


def _open(url, **kw):
    source = NatsSource(url, 0, 1, partitions=PARTITIONS, tx_columns=["transaction_id"], **kw)
    list(source.replay(None))
    return source


def _poll_until(source, handed, n, seconds=10.0):
    deadline = time.monotonic() + seconds
    while len(handed) < n and time.monotonic() < deadline:
        source.wait(0.05)
        handed += source.poll(100).transactions.where.tolist()
        source.commit()
    return handed


def _silence(source, p, until):
    """Partition p's requests go unsent (as if lost) while `until()` says so."""
    renew = source._renew

    async def renew_unless_silenced(standing):
        if standing.key == p and until():
            standing.next()  # counted as sent: lost on the way
            return
        await renew(standing)

    source._renew = renew_unless_silenced


def test_a_status_ends_only_the_request_it_answers():
    kept = []
    standing = _Standing(3, "S", "wm-3", 2, kept.append)
    standing.next()
    standing.next()  # the second request is current

    def status(code, n):
        return SimpleNamespace(subject=f"_INBOX.x.3.{n}", headers={"Status": code})
    assert standing.take(status("408", 1)) is None  # the first request's end: not this one's
    assert standing.take(status("408", 2)) == 0.0  # expired: renewed at once
    assert not standing.troubled
    assert standing.take(status("409", 2)) == RETRY_WAIT_S  # ended by the server: after a pause
    assert standing.troubled  # its consumer is looked up
    assert standing.take(status("100", 2)) is None  # a heartbeat ends nothing
    message = SimpleNamespace(subject="S.tx.3", headers=None)
    assert standing.take(message) is None
    assert standing.take(message) == 0.0  # its batch delivered: renewed
    assert kept == [message, message]


def test_an_expired_request_is_renewed(url, monkeypatch):
    monkeypatch.setattr(nats_source, "PULL_EXPIRES_S", 0.2)
    monkeypatch.setattr(nats_source, "PULL_RENEW_S", 60.0)  # no rescue by the replacement
    source = _open(url)
    pub = _Publisher(url)
    try:
        time.sleep(1.2)  # several expiries, no poll
        assert source._standing[2].sent >= 4  # each 408 brought the next request
        pub.send(2)
        assert _poll_until(source, [], 1) == list(pub.seqs)
    finally:
        source.close()
        pub.close()


def test_a_request_that_goes_unanswered_is_sent_again(url, monkeypatch):
    monkeypatch.setattr(nats_source, "PULL_EXPIRES_S", 0.2)
    monkeypatch.setattr(nats_source, "PULL_RENEW_S", 0.4)
    source = _open(url)
    pub = _Publisher(url)
    lost = [True]
    _silence(source, 5, lambda: lost.pop() if lost else False)  # one request lost
    try:
        time.sleep(0.5)  # partition 5's request expired, its renewal was lost
        sent = source._standing[5].sent
        time.sleep(0.5)
        source.poll(100)  # sent again (PULL_RENEW_S after the one lost)
        assert source._standing[5].sent > sent
        pub.send(5)
        assert _poll_until(source, [], 1) == list(pub.seqs)
    finally:
        source.close()
        pub.close()


@pytest.fixture
def one_a_request(url, monkeypatch):
    """A source whose partitions take one message a request (so a silenced partition has
    delivered its first and no more), a message not delivered looked up after 0.2 s; and a
    publisher."""
    monkeypatch.setattr(nats_source, "PARTITION_BATCH", 1)
    monkeypatch.setattr(nats_source, "SEEN_GRACE_S", 0.2)
    source = _open(url)
    pub = _Publisher(url)
    yield source, pub
    source.close()
    pub.close()


def test_a_message_the_partition_has_not_delivered_holds_the_hand_over_until_it_comes(
        one_a_request):
    # Partition 1's requests go unanswered for a while (longer than SEEN_GRACE_S): the message
    # the watch showed there holds back a later one of partition 2, and is not passed over
    # though it waited past the grace (it is still in the stream): both come, in order.
    source, pub = one_a_request
    until = [float("inf")]
    _silence(source, 1, lambda: time.monotonic() < until[0])  # after its first request
    pub.send(1)
    handed = _poll_until(source, [], 1)  # the first request took it; the next is not sent
    pub.send(1)
    pub.send(2)
    until[0] = time.monotonic() + 1.0
    early = _poll_until(source, [], 1, seconds=0.6)
    assert early == []  # partition 2's message waits behind partition 1's
    handed = _poll_until(source, handed + early, 3)
    assert handed == sorted(pub.seqs)


def test_a_message_removed_from_the_stream_after_the_watch_showed_it_is_passed_over(
        one_a_request):
    source, pub = one_a_request
    _silence(source, 1, lambda: True)  # partition 1 asks no more after its first request
    pub.send(1)
    handed = _poll_until(source, [], 1)
    pub.send(1)
    gone = max(pub.seqs)
    pub.send(2)
    time.sleep(0.1)  # the watch has shown both
    pub.loop.run(pub.nc.jsm().delete_msg(source.address.stream, gone), 30)
    del pub.seqs[gone]
    handed = _poll_until(source, handed, 2, seconds=5)
    assert handed == sorted(pub.seqs)  # partition 2's message came; the gone one never


def test_a_backlog_is_read_as_it_is_handed_over_not_into_memory(url, monkeypatch):
    monkeypatch.setattr(nats_source, "PARTITION_BATCH", 2)
    monkeypatch.setattr(nats_source, "BUFFER_MAX", 6)
    source = NatsSource(url, 0, 1, partitions=PARTITIONS, tx_columns=["transaction_id"])
    pub = _Publisher(url)
    try:
        for k in range(80):
            pub.send(k % 4)
        list(source.replay(None))  # the consumers open on the backlog
        handed, most = [], 0
        deadline = time.monotonic() + 20
        while len(handed) < 80 and time.monotonic() < deadline:
            source.wait(0.05)
            most = max(most, len(source._buffer))
            got = source.poll(3).transactions.where.tolist()
            handed += got
            source.commit()
        assert handed == sorted(pub.seqs)  # all of it, in order, no deadlock
        # At most BUFFER_MAX plus one batch a partition beyond it.
        assert most <= 6 + PARTITIONS * 2
    finally:
        source.close()
        pub.close()


def test_a_partition_that_lost_its_request_is_asked_again_once_the_hand_over_waits_on_it(
        one_a_request, monkeypatch):
    # The server was seen to drop a standing request under load without an answer: the
    # message the hand-over waits on brings a second request at once (NUDGE_S), not after the
    # request is taken for lost.
    monkeypatch.setattr(nats_source, "PULL_RENEW_S", 60.0)
    source, pub = one_a_request
    lost = [True]
    _silence(source, 1, lambda: lost.pop() if lost else False)  # its second request lost
    pub.send(1)
    pub.send(1)
    assert _poll_until(source, [], 2, seconds=5) == sorted(pub.seqs)


def test_a_request_is_replaced_before_it_expires(url, monkeypatch):
    # The server was seen to let a request lapse at its expiry with no 408: each is replaced
    # PULL_RENEW_S after it was sent, before that can happen.
    monkeypatch.setattr(nats_source, "PULL_EXPIRES_S", 60.0)  # no expiry in the test
    monkeypatch.setattr(nats_source, "PULL_RENEW_S", 0.2)
    source = _open(url)
    try:
        sent = {k: s.sent for k, s in source._standing.items()}
        for _ in range(10):
            source.wait(0.1)
            source.poll(100)
        assert all(s.sent >= sent[k] + 3 for k, s in source._standing.items())
    finally:
        source.close()


def test_a_remake_after_a_reconnect_that_failed_is_tried_again(url):
    # After a reconnect the watch is remade before its entries are taken again; if that remake
    # failed (JetStream not back yet), the watch's entries were dropped for good.
    source = _open(url)
    pub = _Publisher(url)
    try:
        source._cut = True  # as a reconnect whose remake failed leaves it
        pub.send(3)
        assert _poll_until(source, [], 1, seconds=5) == list(pub.seqs)
    finally:
        source.close()
        pub.close()
