"""Replay the holdout period live: append new_transactions.csv (and its logins) to files in time order.

Sets up OUT_DIR as a data directory the follower can use (`detect_anomalies.py --follow
--data-dir OUT_DIR`): wallets.csv and transactions.csv link to the source, logins.csv holds the
logins before the first holdout transaction, new_transactions.csv starts with only its header.
Then the holdout transactions, with the logins between them, are appended at `--rate` rows per
second or `--speedup` times real time. A previous follower's checkpoint, detections and spool in
OUT_DIR are removed, since the files they refer to start over.

    python bench/replay.py --data-dir data --out-dir data/live --rate 50

With `--to nats://HOST:PORT/STREAM` it publishes the holdout (and its logins) to NATS JetStream
instead, partitioned by wallet (`wallet_monitor.stream.publish.publish_events`, importable by
producers), creating the stream if needed:

    python bench/replay.py --data-dir data --to nats://127.0.0.1:4222/WALLETS --rate 0
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from wallet_monitor.stream.publish import publish_events

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("replay")
FOLLOWER_FILES = ("follow_checkpoint.json", "stream_detections.csv", "stream_episodes.csv",
                  "undelivered_alerts.jsonl")
_TICK_S = 0.005  # pacing granularity


def _lines(path: Path) -> tuple[bytes, list[bytes]]:
    raw = path.read_bytes().splitlines(keepends=True)
    return raw[0], [ln if ln.endswith(b"\n") else ln + b"\n" for ln in raw[1:] if ln.strip()]


def _times(path: Path) -> np.ndarray:
    ts = pd.read_csv(path, usecols=["timestamp"], dtype=str)["timestamp"]
    return pd.DatetimeIndex(pd.to_datetime(ts, utc=True, format="ISO8601")).as_unit("ns").asi8


def prepare(data_dir: Path, out_dir: Path, limit: int | None = None, setup: bool = True):
    """Set OUT_DIR up (unless `setup` is False: it already is, and a follower may be reading it);
    returns the timeline (times, is_login, lines, transaction ids) to append."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in FOLLOWER_FILES if setup else ():
        (out_dir / name).unlink(missing_ok=True)
    for name in ("wallets.csv", "transactions.csv") if setup else ():
        link = out_dir / name
        link.unlink(missing_ok=True)
        if (data_dir / name).exists():
            os.symlink((data_dir / name).resolve(), link)
    tx_head, tx_lines = _lines(data_dir / "new_transactions.csv")
    tx_t = _times(data_dir / "new_transactions.csv")
    ids = pd.read_csv(data_dir / "new_transactions.csv", usecols=["transaction_id"], dtype=str)
    ids = ids["transaction_id"].to_numpy()
    order = np.argsort(tx_t, kind="stable")
    start = tx_t[order[0]] if len(order) else 0
    if limit is not None:
        order = order[:limit]
    tx_t, tx_lines, ids = tx_t[order], [tx_lines[i] for i in order], ids[order]
    lg_lines, lg_t = [], np.zeros(0, np.int64)
    logins = data_dir / "logins.csv"
    if logins.exists():
        lg_head, lg_all = _lines(logins)
        lg_all_t = _times(logins)
        before = lg_all_t < start
        if setup:
            (out_dir / "logins.csv").write_bytes(
                lg_head + b"".join(ln for ln, b in zip(lg_all, before, strict=True) if b)
            )
        after = np.flatnonzero(~before & (lg_all_t <= (tx_t[-1] if len(tx_t) else start)))
        lg_lines, lg_t = [lg_all[i] for i in after], lg_all_t[after]
    if setup:
        (out_dir / "new_transactions.csv").write_bytes(tx_head)
    times = np.concatenate([lg_t, tx_t])
    is_login = np.concatenate([np.ones(len(lg_t), bool), np.zeros(len(tx_t), bool)])
    # A login at the same time as a transaction is written first (it counts for it).
    merged = np.lexsort((~is_login, times))
    lines = lg_lines + tx_lines
    tx_ids = np.concatenate([np.full(len(lg_t), None, object), ids])
    return times[merged], is_login[merged], [lines[i] for i in merged], tx_ids[merged]


def replay(out_dir: Path, timeline, rate: float | None = None, speedup: float | None = None,
           timings: Path | None = None) -> int:
    """Append the timeline; `rate` transactions/s, or `speedup` x real time, or all at once."""
    times, is_login, lines, tx_ids = timeline
    n_tx = int((~is_login).sum())
    tx_rank = np.cumsum(~is_login) - (~is_login)  # transactions before each event
    if rate:
        due = tx_rank / rate
    elif speedup:
        due = (times - times[0]) / 1e9 / speedup if len(times) else times
    else:
        due = np.zeros(len(times))
    written_at = []
    t0 = time.time()
    i = 0
    with (out_dir / "new_transactions.csv").open("ab") as ftx, \
            (out_dir / "logins.csv").open("ab") as flg:
        while i < len(lines):
            now = time.time() - t0
            j = int(np.searchsorted(due, now, side="right"))
            if j <= i:
                time.sleep(min(_TICK_S, due[i] - now))
                continue
            for k in range(i, j):
                (flg if is_login[k] else ftx).write(lines[k])
            flg.flush()
            ftx.flush()
            stamp = time.time()
            written_at += [(tx_ids[k], stamp) for k in range(i, j) if not is_login[k]]
            i = j
    elapsed = time.time() - t0
    logger.info("appended %d transactions and %d logins in %.1fs (%.0f transactions/s)",
                n_tx, len(lines) - n_tx, elapsed, n_tx / max(elapsed, 1e-9))
    if timings is not None:
        pd.DataFrame(written_at, columns=["transaction_id", "appended_at"]).to_csv(timings, index=False)
    return n_tx


def holdout_events(data_dir: Path, limit: int | None = None):
    """The holdout transactions (the first `limit` in time order) and the logins from the first
    of them to the last, as text-valued frames."""
    tx = pd.read_csv(data_dir / "new_transactions.csv", dtype=str, keep_default_na=False)
    t = _times(data_dir / "new_transactions.csv")
    order = np.argsort(t, kind="stable")[:limit]
    logins = None
    if (data_dir / "logins.csv").exists() and len(order):
        lg = pd.read_csv(data_dir / "logins.csv", dtype=str, keep_default_na=False)
        lt = _times(data_dir / "logins.csv")
        logins = lg.loc[(lt >= t[order[0]]) & (lt <= t[order[-1]])]
    return tx.iloc[order].reset_index(drop=True), logins


def _to_nats(args) -> int:
    tx, logins = holdout_events(args.data_dir, args.limit)
    rate = args.rate or 0.0
    try:
        out = publish_events(args.to, tx, logins, rate=rate, partitions=args.partitions)
    except Exception as exc:  # one line for the user, as the scripts do
        print(f"replay.py: error: {exc}", file=sys.stderr)
        return 1
    if args.timings is not None:
        pd.DataFrame(out.published_at, columns=["transaction_id", "appended_at"]).to_csv(
            args.timings, index=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=ROOT / "data", help="source data directory")
    p.add_argument("--out-dir", type=Path, default=ROOT / "data" / "live",
                   help="directory the follower reads (default DATA_DIR/live)")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--rate", type=float, help="transactions per second")
    speed.add_argument("--speedup", type=float, help="times real time (e.g. 3600: an hour a second)")
    p.add_argument("--limit", type=int, help="replay only the first N transactions")
    p.add_argument("--no-setup", action="store_true",
                   help="OUT_DIR is already set up (by an earlier --limit 0 run): only append")
    p.add_argument("--timings", type=Path, help="write transaction_id,appended_at (epoch s) here")
    p.add_argument("--to", metavar="nats://HOST:PORT/STREAM",
                   help="publish to this NATS JetStream stream instead of appending to files")
    p.add_argument("--partitions", type=int, default=None,
                   help="with --to: partition count of a stream this creates (default 64)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not (args.data_dir / "new_transactions.csv").exists():
        print(f"replay.py: error: {args.data_dir / 'new_transactions.csv'} not found "
              "(run data_generator.py first)", file=sys.stderr)
        return 1
    if args.to:
        return _to_nats(args)
    if args.out_dir.resolve() == args.data_dir.resolve():
        print("replay.py: error: --out-dir must differ from --data-dir", file=sys.stderr)
        return 2
    timeline = prepare(args.data_dir, args.out_dir, args.limit, setup=not args.no_setup)
    logger.info("replaying %d events into %s", len(timeline[0]), args.out_dir)
    try:
        replay(args.out_dir, timeline, args.rate, args.speedup, args.timings)
    except KeyboardInterrupt:
        logger.info("interrupted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
