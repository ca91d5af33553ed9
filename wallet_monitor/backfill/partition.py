"""Routing rows to partitions: by wallet for the features, by time block for episode links.

By wallet: a transaction goes to its wallet's partition, and a transfer also goes, as context
only, to the partition of the wallet receiving it (the inflow features read it there); logins
go to their wallet's. The features of a transaction depend only on its wallet's events (the
point-in-time invariant of `features.compute`), so each partition's features are exactly the
whole data's.

By time block: `link_episodes` is the one step where a row depends on rows of other wallets (a
chain's next hop). A row's linked score depends only on rows within EPISODE_HALO of it, so each
block is linked with the rows of the EPISODE_HALO either side and keeps its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wallet_monitor.episodes import EPISODE_FUNDING, EPISODE_REACH, EPISODE_SERIES_WINDOW

# Rows a block's links can depend on: a series trigger up to EPISODE_SERIES_WINDOW later, the
# passes' reach, and the funding inflow an outflow looks back to, with slack.
EPISODE_HALO = EPISODE_SERIES_WINDOW + 2 * EPISODE_REACH + EPISODE_FUNDING


def wallet_part(wallets: pd.Series, n: int) -> np.ndarray:
    """The partition (0..n-1) of each wallet id: a hash that is the same in every process."""
    hashed = pd.util.hash_pandas_object(wallets.astype(str), index=False).to_numpy()
    return (hashed % np.uint64(n)).astype(np.int64)


def route_by_wallet(df: pd.DataFrame, n: int, target: bool) -> pd.DataFrame:
    """`df` with `_part` (its wallet's partition) and `_target`, plus a context copy of each
    transfer whose receiving wallet lies in another partition."""
    own = wallet_part(df["wallet_id"], n)
    out = df.assign(_part=own, _target=target)
    if "counterparty_wallet_id" not in df.columns or "type" not in df.columns:
        return out
    cp = df["counterparty_wallet_id"]
    has_cp = cp.notna().to_numpy()
    cp_part = np.where(has_cp, wallet_part(cp.fillna(""), n), -1)
    copy = has_cp & (df["type"].astype(str) == "transfer").to_numpy() & (cp_part != own)
    if not copy.any():
        return out
    extra = df[copy].assign(_part=cp_part[copy], _target=False)
    return pd.concat([out, extra], ignore_index=True)


def route_logins(df: pd.DataFrame, n: int) -> pd.DataFrame:
    return df.assign(_part=wallet_part(df["wallet_id"], n))


def part_divisions(n: int) -> tuple[int, ...]:
    """Divisions on `_part` giving partition i exactly the rows of `_part == i`."""
    return tuple(range(n)) + (n - 1,)


def route_by_block(df: pd.DataFrame, block_ns: int) -> pd.DataFrame:
    """`df` with `_block` (its timestamp's block of `block_ns`, counted from the epoch) and
    `_core` True, plus copies, with `_core` False, in the neighbouring block whose halo it
    lies in (blocks are at least EPISODE_HALO long, so only the next and the previous can be)."""
    ts = pd.DatetimeIndex(df["timestamp"]).as_unit("ns").asi8
    block = ts // block_ns
    halo = EPISODE_HALO.value
    parts = [df.assign(_block=block, _core=True)]
    prev = ts - block * block_ns < halo
    nxt = (block + 1) * block_ns - ts <= halo
    if prev.any():
        parts.append(df[prev].assign(_block=block[prev] - 1, _core=False))
    if nxt.any():
        parts.append(df[nxt].assign(_block=block[nxt] + 1, _core=False))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
