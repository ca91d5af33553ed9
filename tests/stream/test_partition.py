"""Wallet partitions, shards and nats:// URLs: what publishers and detectors must agree on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wallet_monitor.cli import UserError
from wallet_monitor.stream.partition import (
    parse_nats_url,
    parse_shard,
    partition_of,
    shard_partitions,
)

ROOT = Path(__file__).resolve().parents[2]


def test_a_wallets_partition_is_crc32_of_its_utf8_bytes_modulo_the_count():
    assert partition_of("W000001", 64) == 20
    assert partition_of("wallet-ü", 64) == 8  # UTF-8 bytes, not code points


@pytest.mark.parametrize("shards", [1, 2, 3, 64])
def test_shards_cover_every_partition_exactly_once(shards):
    owned = [p for i in range(shards) for p in shard_partitions(i, shards, 64)]
    assert sorted(owned) == list(range(64))


def test_more_shards_than_partitions_is_refused():
    with pytest.raises(UserError, match="partitions"):
        shard_partitions(0, 9, 8)


@pytest.mark.parametrize("url, server, stream", [
    ("nats://127.0.0.1:4222/WALLETS", "nats://127.0.0.1:4222", "WALLETS"),
    ("nats://nats-a/wm_events-1", "nats://nats-a:4222", "wm_events-1"),
])
def test_nats_urls_name_a_server_and_a_stream(url, server, stream):
    address = parse_nats_url(url)
    assert (address.server, address.stream) == (server, stream)
    assert address.tx_subject(5) == f"{stream}.tx.5" and address.login_subject(5) == f"{stream}.login.5"


@pytest.mark.parametrize("url", ["http://h:1/S", "nats://h:1/", "nats://h:1/a.b", "nats:///S"])
def test_a_bad_nats_url_is_a_user_error(url):
    with pytest.raises(UserError):
        parse_nats_url(url)


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "0/0"])
def test_a_bad_shard_is_a_user_error(text):
    with pytest.raises(UserError, match="--shard"):
        parse_shard(text)


def test_the_script_refuses_a_bad_shard_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "detect_anomalies.py"), "--follow",
                          "nats://127.0.0.1:4222/S", "--shard", "2/2", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "detect_anomalies.py: error: --shard must be I/N with 0 <= I < N, got '2/2'")
    assert "Traceback" not in out.stderr
