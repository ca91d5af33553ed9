"""Publish transactions and logins to NATS JetStream, partitioned by wallet (importable by
producers: `publish_events`; `bench/replay.py --to nats://...` is its command line).

Events go out in time order (a login before the transactions at its time, as a file writer
appends them), one JSON object per message with the data contract's columns as text, to
`STREAM.tx.<p>` / `STREAM.login.<p>` (see `partition`); a transfer also to its receiver's
partition. Each message carries a Nats-Msg-Id, so a publisher that retries after a failure
within the stream's duplicate window stores each event once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wallet_monitor.stream.nats_io import LoopThread, connect, ensure_streams
from wallet_monitor.stream.partition import StreamAddress, parse_nats_url, partition_of

logger = logging.getLogger(__name__)

_TICK_S = 0.005  # pacing granularity at a set rate


@dataclass
class Published:
    transactions: int = 0
    logins: int = 0
    messages: int = 0
    seconds: float = 0.0
    published_at: list = field(default_factory=list)  # (transaction_id, epoch s)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of their non-empty text values."""
    cols = list(frame.columns)
    values = frame.astype(object).where(frame.notna(), None).to_numpy()
    return [{c: str(v) for c, v in zip(cols, row, strict=True) if v is not None and v != ""}
            for row in values]


def timeline(transactions: pd.DataFrame, logins: pd.DataFrame | None = None):
    """(is_login, record) in time order: transactions in (time, file order), a login before
    the transactions at its own time."""
    tx_t = pd.to_datetime(transactions["timestamp"], utc=True, format="ISO8601")
    lg = logins if logins is not None else pd.DataFrame(columns=["timestamp"])
    lg_t = pd.to_datetime(lg["timestamp"], utc=True, format="ISO8601")
    times = np.concatenate([pd.DatetimeIndex(lg_t).as_unit("ns").asi8,
                            pd.DatetimeIndex(tx_t).as_unit("ns").asi8])
    is_login = np.r_[np.ones(len(lg), bool), np.zeros(len(transactions), bool)]
    records = _records(lg) + _records(transactions)
    order = np.lexsort((np.arange(len(times)), ~is_login, times))
    return [(bool(is_login[i]), records[i]) for i in order]


def publish_events(url: str, transactions: pd.DataFrame, logins: pd.DataFrame | None = None, *,
                   rate: float = 0.0, partitions: int | None = None) -> Published:
    """Publish `transactions` (and `logins`), text-valued frames with the contract's columns,
    to the stream at `url` (nats://HOST:PORT/STREAM), creating it if needed, at `rate`
    transactions/s (0: as fast as possible). Returns counts and each transaction's publish time."""
    address = parse_nats_url(url)
    loop = LoopThread("nats-publish")
    try:
        return loop.run(_publish(address, timeline(transactions, logins), rate, partitions))
    finally:
        loop.stop()


async def _publish(address: StreamAddress, events, rate: float, partitions: int | None) -> Published:
    nc = await connect(address, "wallet-monitor-publisher")
    try:
        js = nc.jetstream()
        parts = await ensure_streams(js, address, partitions)
        out = Published()
        t0 = time.time()
        for is_login, rec in events:
            if rate and not is_login:
                wait = t0 + out.transactions / rate - time.time()
                if wait > 0:
                    await js.publish_async_completed()
                    await asyncio.sleep(max(wait, _TICK_S) if wait > _TICK_S else wait)
            payload = json.dumps(rec).encode()
            p = partition_of(rec.get("wallet_id", ""), parts)
            if is_login:
                targets = [address.login_subject(p)]
                out.logins += 1
            else:
                targets = [address.tx_subject(p)]
                cp = rec.get("counterparty_wallet_id")
                if rec.get("type", "").strip().lower() == "transfer" and cp:
                    q = partition_of(cp, parts)
                    if q != p:
                        targets.append(address.tx_subject(q))
                out.transactions += 1
            key = rec.get("login_id" if is_login else "transaction_id", "")
            for subject in targets:
                await js.publish_async(subject, payload, headers={"Nats-Msg-Id": f"{subject}/{key}"})
                out.messages += 1
            if not is_login:
                out.published_at.append((key, time.time()))
        await js.publish_async_completed()
        out.seconds = time.time() - t0
        logger.info("published %d transactions and %d logins to %s (%d messages) in %.1fs",
                    out.transactions, out.logins, address.stream, out.messages, out.seconds)
        return out
    finally:
        await nc.drain()
