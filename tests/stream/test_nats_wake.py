"""A NatsSource's wait after a wake-up: it leaves JetStream WAKE_SETTLE_S from the wake-up to
store the message, and no more; a wake-up that came while the follower was busy has had it."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.stream.test_nats import NATS, _drop
from wallet_monitor.stream import nats_source
from wallet_monitor.stream.nats_source import WAKE_SETTLE_S, NatsSource


@pytest.fixture
def source():
    url = f"{NATS}/K{uuid.uuid4().hex[:10]}"
    src = NatsSource(url, 0, 1, partitions=4)
    yield src
    src.close()
    _drop(url)


def test_a_wait_sleeps_only_what_is_left_of_the_settle_time_after_the_wake_up(source,
                                                                             monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(nats_source.time, "sleep", slept.append)
    # Woken long ago (a row published while the last batch was scored): no sleep.
    source._woken_at = time.monotonic() - 1.0
    source._arrived.set()
    source.wait(5.0)
    assert slept == []
    assert not source._arrived.is_set()
    # Woken "now" (the clock read after it, so later than any real one): what is left of it.
    source._woken_at = time.monotonic() + 60.0
    source._arrived.set()
    source.wait(5.0)
    assert len(slept) == 1 and slept[0] > WAKE_SETTLE_S
