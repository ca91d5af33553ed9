"""Event-driven wake-up: a write to a followed file ends the follower's wait."""

from __future__ import annotations

import threading

from wallet_monitor.stream.notify import FileWatch
from wallet_monitor.stream.source import FileSource


def test_a_write_to_a_watched_file_ends_the_wait(tmp_path):
    path = tmp_path / "new_transactions.csv"
    path.write_text("transaction_id\n")
    watch = FileWatch([path])
    try:
        assert watch.active  # Linux: inotify through libc
        assert watch.wait(0) is False  # nothing written since the watch began
        with path.open("a") as f:
            f.write("t1\n")
        assert watch.wait(30) is True
        assert watch.wait(0) is False  # the events of that write are consumed
    finally:
        watch.close()


def test_a_write_from_another_thread_wakes_a_waiting_watch(tmp_path):
    path = tmp_path / "logins.csv"
    path.write_text("login_id\n")
    watch = FileWatch([tmp_path / "absent.csv", path])  # a missing file is left out
    try:
        writer = threading.Timer(0.05, lambda: path.open("a").write("l1\n"))
        writer.start()
        assert watch.wait(30) is True
        writer.join()
    finally:
        watch.close()


def test_without_a_file_to_watch_the_wait_is_a_sleep(tmp_path):
    watch = FileWatch([tmp_path / "absent.csv", None])
    assert not watch.active
    assert watch.wait(0.01) is False


def test_a_file_source_wakes_for_its_transactions_and_reads_them(tmp_path):
    tx = tmp_path / "new_transactions.csv"
    tx.write_text("transaction_id,wallet_id\n")
    source = FileSource(tx)
    try:
        assert len(source.poll(10).transactions) == 0
        with tx.open("a") as f:
            f.write("t1,w1\n")
        source.wait(30)
        assert len(source.poll(10).transactions) == 1
    finally:
        source.close()
