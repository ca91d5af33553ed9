"""Where a wallet's events live on NATS JetStream: URLs, subjects, partitions and shards.

A stream STREAM holds `STREAM.tx.<p>` (transactions), `STREAM.login.<p>` (logins) and
`STREAM.invalid` (dead letters); p = crc32(wallet_id as UTF-8) mod the stream's partition
count, recorded in the stream's description so publishers and consumers agree. A transfer is
published to its sender's partition and, when it differs, to its receiver's too (the receiving
wallet's inflow features and episode links read it). Scored rows go to a second stream,
STREAM_SCORED (subjects `STREAM_SCORED.<shard>`), which every shard reads to link episodes across
shards (see docs/DEPLOY.md). Shard I of N consumes the partitions p with p mod N == I.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from wallet_monitor.cli import UserError

DEFAULT_PARTITIONS = 64  # room for up to 64 shards; a partition costs one consumer per shard
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_DESCRIPTION = "wallet-monitor events; partitions={}"


@dataclass(frozen=True)
class StreamAddress:
    """nats://HOST:PORT/STREAM parsed: the server URL and the stream name."""

    server: str
    stream: str

    @property
    def scored_stream(self) -> str:
        return f"{self.stream}_SCORED"

    def tx_subject(self, p: int) -> str:
        return f"{self.stream}.tx.{p}"

    def login_subject(self, p: int) -> str:
        return f"{self.stream}.login.{p}"

    def scored_subject(self, shard: int) -> str:
        return f"{self.stream}_SCORED.{shard}"

    @property
    def invalid_subject(self) -> str:
        return f"{self.stream}.invalid"

    @property
    def subjects(self) -> list[str]:
        # One wildcard over both kinds: a partition's consumer filters STREAM.*.<p>, which must
        # lie inside one of the stream's subjects.
        return [f"{self.stream}.*.*", self.invalid_subject]


def parse_nats_url(url: str) -> StreamAddress:
    """`nats://HOST:PORT/STREAM` -> StreamAddress; a UserError names what is wrong."""
    parts = urlsplit(url)
    stream = parts.path.strip("/")
    if parts.scheme != "nats" or not parts.hostname:
        raise UserError(f"--follow {url!r}: expected nats://HOST:PORT/STREAM")
    if not _NAME.match(stream or ""):
        raise UserError(f"--follow {url!r}: the stream name must be letters, digits, _ or -, "
                        f"got {stream!r}")
    return StreamAddress(f"nats://{parts.hostname}:{parts.port or 4222}", stream)


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 0 <= I < N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 0 <= int(m[1]) < int(m[2]):
        raise UserError(f"--shard must be I/N with 0 <= I < N, got {text!r}")
    return int(m[1]), int(m[2])


def partition_of(wallet_id: str, partitions: int) -> int:
    """The stable partition of a wallet: crc32 of its UTF-8 bytes modulo `partitions`."""
    return zlib.crc32(str(wallet_id).encode("utf-8")) % partitions


def shard_partitions(shard: int, shards: int, partitions: int) -> list[int]:
    if shards > partitions:
        raise UserError(f"{shards} shards need at least as many partitions, the stream has "
                        f"{partitions}")
    return [p for p in range(partitions) if p % shards == shard]


def describe(partitions: int) -> str:
    return _DESCRIPTION.format(partitions)


def partitions_in(description: str | None) -> int | None:
    """The partition count a stream's description records (None: not a wallet-monitor stream)."""
    m = re.search(r"partitions=(\d+)", description or "")
    return int(m[1]) if m else None
