"""The chain on Dask: features and detections of inputs past one machine's memory.

Each wallet partition runs the pandas functions unchanged (`build_features`, `scoring.detect`
with link=False); episode links, the one step that crosses wallets, run as a second pass over
time blocks (`partition`); outputs come back in the input's order (`_row`). The result equals
the pandas engine's row for row. The model bundle and the wallets table are sent to every
worker once (one node of the graph, `_broadcast`).
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import pandas as pd

from wallet_monitor.backfill.inputs import Input, read_inputs, row_divisions, time_range
from wallet_monitor.backfill.partition import (
    EPISODE_HALO,
    part_divisions,
    route_by_block,
    route_by_wallet,
    route_logins,
)
from wallet_monitor.episodes import EPISODE_TX_COLUMNS, link_episodes
from wallet_monitor.features import (
    FEATURE_NAMES,
    LOOKBACK,
    Locator,
    build_features,
    open_database,
)
from wallet_monitor.model.bundle import ModelBundle
from wallet_monitor.schema import DETECTION_COLUMNS
from wallet_monitor.scoring import detect

logger = logging.getLogger(__name__)

# Transactions (with their context) per wallet partition: the pandas features need about
# 2.3 GB per million rows, and scoring 2.9 GB, so a partition stays well under a 6 GB worker.
PARTITION_ROWS = 600_000
LINK_COLUMNS = [c for c in EPISODE_TX_COLUMNS if c not in DETECTION_COLUMNS]
# Episode links run per block of this much time, each with EPISODE_HALO (31 h) of rows either
# side: 2 days keep the halo's extra rows near the block's own and a block's rows ~3M at 10M
# rows over two weeks.
LINK_BLOCK = pd.Timedelta(days=2)


@functools.lru_cache(maxsize=4)
def _locator(geoip_db) -> Locator:
    """One Locator per worker process and database (the database is opened once there)."""
    return Locator(open_database(geoip_db))


def _n_parts(rows: int, partitions: int | None) -> int:
    return partitions or max(1, math.ceil(rows / PARTITION_ROWS))


def _by_wallet(frame, n: int, target: bool):
    meta = frame._meta.assign(_part=pd.Series(dtype="int64"), _target=pd.Series(dtype=bool))
    routed = frame.map_partitions(route_by_wallet, n, target, meta=meta)
    return routed.set_index("_part", divisions=part_divisions(n))


def _logins_by_wallet(frame, n: int):
    meta = frame._meta.assign(_part=pd.Series(dtype="int64"))
    routed = frame.map_partitions(route_logins, n, meta=meta)
    return routed.set_index("_part", divisions=part_divisions(n))


def _split(tx: pd.DataFrame, history: pd.DataFrame | None):
    """A wallet partition's targets and the context around them."""
    tx = tx.reset_index(drop=True)
    target = tx["_target"].to_numpy(dtype=bool)
    context = [tx[~target]]
    if history is not None:
        context.insert(0, history.reset_index(drop=True))
    context = pd.concat(context, ignore_index=True)
    return tx[target].reset_index(drop=True), context if len(context) else None


def _features_part(tx, logins, wallets, geoip_db) -> pd.DataFrame:
    targets, context = _split(tx, None)
    logins = None if logins is None else logins.reset_index(drop=True)
    out = build_features(targets, history=context, wallets=wallets, logins=logins,
                         geo=_locator(geoip_db))
    out["_row"] = targets["_row"].to_numpy()
    return out


def _detect_part(tx, history, logins, wallets, bundle: ModelBundle, geoip_db) -> pd.DataFrame:
    targets, context = _split(tx, history)
    if not len(targets):
        return _detect_meta(targets)
    logins = None if logins is None else logins.reset_index(drop=True)
    out = detect(bundle, targets, history=context, wallets=wallets, logins=logins, link=False,
                 geo=_locator(geoip_db))
    for col in [*LINK_COLUMNS, "_row"]:
        if col in targets.columns:
            out[col] = targets[col].to_numpy()
    return _typed(out)


def _typed(out: pd.DataFrame) -> pd.DataFrame:
    return out.astype({"transaction_id": "str", "wallet_id": "str", "fraud_score": "float64",
                       "is_anomaly": "bool", "reasons": "str"})


def _link_blocks(rows: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Episode links over each time block of a partition with its halo; the blocks' own rows."""
    rows = rows.reset_index(drop=True)
    out = []
    for _, block in rows.groupby("_block", sort=True):
        block = block.reset_index(drop=True)
        linked = link_episodes(block, threshold)
        block[["fraud_score", "is_anomaly", "reasons"]] = linked[["fraud_score", "is_anomaly",
                                                                  "reasons"]]
        out.append(block[block["_core"].to_numpy(dtype=bool)])
    if not out:
        return rows.drop(columns=["_core", "_block"])
    return pd.concat(out, ignore_index=True).drop(columns=["_core", "_block"])


def _in_order(frame, parts):
    """`frame` back in the input's order: one partition per input part, sorted by `_row`."""
    return frame.set_index("_row", divisions=row_divisions(parts))


@dataclass
class Work:
    """A Dask frame of results, indexed by `_row` in the input's order, and the inputs it reads
    (validated in the same pass by `runs.gather`)."""

    frame: object
    inputs: list[Input | None]


def features_frame(transactions, wallets=None, logins=None, geoip_db=None,
                   partitions: int | None = None) -> Work:
    """Features of every transaction of input `transactions` (a CSV or Parquet path):
    `transaction_id` then FEATURE_NAMES."""
    inputs = read_inputs([(transactions, "transactions"),
                          None if logins is None else (logins, "logins")])
    tx_in, lg_in = inputs
    n = _n_parts(sum(p.rows for p in tx_in.parts), partitions)
    logger.info("features on Dask: %d input parts, %d wallet partitions", len(tx_in.parts), n)
    by_wallet = _by_wallet(tx_in.frame, n, True)
    lg_by_wallet = None if lg_in is None else _logins_by_wallet(lg_in.frame, n)
    wallets_f = _broadcast(wallets)
    meta = pd.DataFrame({"transaction_id": pd.Series(dtype="str"),
                         **{c: pd.Series(dtype="float64") for c in FEATURE_NAMES},
                         "_row": pd.Series(dtype="int64")})
    feats = by_wallet.map_partitions(_features_part, lg_by_wallet, wallets_f, geoip_db,
                                     meta=meta, align_dataframes=False)
    return Work(_in_order(feats, tx_in.parts), inputs)


def detections_frame(bundle: ModelBundle, transactions, history=None, wallets=None,
                     logins=None, geoip_db=None, partitions: int | None = None,
                     block: pd.Timedelta = LINK_BLOCK) -> Work:
    """Detections of input `transactions` with input `history` as look-back context: the
    detections.csv columns plus `type`, `counterparty_wallet_id`, `amount` where present."""
    inputs = read_inputs([(transactions, "transactions"),
                          None if history is None else (history, "transactions"),
                          None if logins is None else (logins, "logins")])
    tx_in, hist_in, lg_in = inputs
    rows = sum(p.rows for p in tx_in.parts)
    n = _n_parts(rows + (0 if hist_in is None else sum(p.rows for p in hist_in.parts)), partitions)
    hist = None if hist_in is None else hist_in.frame
    lg = None if lg_in is None else lg_in.frame
    span = time_range(tx_in.parts)
    if span is not None:
        # Only context in [first target - LOOKBACK, last target] can matter (the point-in-time
        # invariant; build_features drops the rest itself): not shuffled at all.
        lo, hi = span[0] - LOOKBACK.value, span[1]
        hist = None if hist is None else _within(hist, lo, hi)
        lg = None if lg is None else _within(lg, lo, hi)
    by_wallet = _by_wallet(tx_in.frame, n, True)
    hist_w = None if hist is None else _by_wallet(hist, n, False)
    lg_w = None if lg is None else _logins_by_wallet(lg, n)
    bundle_f = _broadcast(bundle)
    wallets_f = _broadcast(wallets)
    sample = _detect_meta(tx_in.frame._meta)
    scored = by_wallet.map_partitions(
        _detect_part, hist_w, lg_w, wallets_f, bundle_f, geoip_db, meta=sample,
        align_dataframes=False)
    block_ns = max(block.value, EPISODE_HALO.value)
    logger.info("detection on Dask: %d rows, %d input parts, %d wallet partitions, episode "
                "links in blocks of %.1f h", rows, len(tx_in.parts), n, block_ns / 3.6e12)
    blocks = scored.map_partitions(route_by_block, block_ns, meta=sample.assign(
        _block=pd.Series(dtype="int64"), _core=pd.Series(dtype=bool)))
    linked = blocks.shuffle("_block", npartitions=n).map_partitions(
        _link_blocks, bundle.threshold, meta=sample)
    return Work(_in_order(linked, tx_in.parts), inputs)


def _broadcast(value):
    """`value` as one node of the graph, sent to each worker that needs it once. Not
    `client.scatter`: scattered data has no recipe, so once Dask's memory manager has dropped
    its extra copies a lost worker loses it for good (a worker lost mid-run failed the run);
    a graph node is simply computed again."""
    import dask

    return None if value is None else dask.delayed(value)


def _within(frame, lo: int, hi: int):
    ts = frame["timestamp"]
    return frame[(ts >= pd.Timestamp(lo, tz="UTC")) & (ts <= pd.Timestamp(hi, tz="UTC"))]


def _detect_meta(tx_meta: pd.DataFrame) -> pd.DataFrame:
    """The (empty) frame `_detect_part` returns for transactions typed as `tx_meta`."""
    cols = {"transaction_id": pd.Series(dtype="str"), "wallet_id": pd.Series(dtype="str"),
            "timestamp": tx_meta["timestamp"], "fraud_score": pd.Series(dtype="float64"),
            "is_anomaly": pd.Series(dtype="bool"), "reasons": pd.Series(dtype="str")}
    cols.update({c: tx_meta[c] for c in [*LINK_COLUMNS, "_row"] if c in tx_meta.columns})
    return pd.DataFrame({k: v.reset_index(drop=True) for k, v in cols.items()})
