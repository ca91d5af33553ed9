"""What the scripts call with `--engine dask`: results gathered in the input's order, one
partition at a time, with progress in the log (and the dashboard's address), written by the
pandas path's own writers; a training sample drawn from a Dask frame."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from wallet_monitor.backfill.cluster import connect
from wallet_monitor.backfill.engine import detections_frame, features_frame
from wallet_monitor.backfill.inputs import check_inputs, report_rows
from wallet_monitor.detections import write_detections
from wallet_monitor.features.files import check_features, write_feature_parts
from wallet_monitor.features.load import RowsError

logger = logging.getLogger(__name__)

_PROGRESS_EVERY_S = 10.0  # a progress line at most this often (and at the end)


def gather(client, work, what: str):
    """The partitions of `work` (an engine.Work), computed together on the cluster and yielded
    in order (index dropped); each is released once yielded, so the client holds one at a time.

    Each input part is read once, for the checks and the work alike: the ids' repeat counts
    are computed in the same graph as the work (unfused, so both read the same `load_part`
    tasks), and awaited before the first partition is yielded, so a malformed input raises the
    pandas loader's message before anything is written."""
    import dask

    present = [i for i in work.inputs if i is not None]
    checks = [dask.delayed(pd.concat)(i.repeated.optimize(fuse=False).to_delayed(
        optimize_graph=False)) for i in present]
    parts = work.frame.optimize(fuse=False).to_delayed(optimize_graph=False)
    # The graph carries the model bundle and the wallets table once (engine._broadcast): tens
    # of MB by design, not the mistake Dask's 10 MB warning is for.
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "256MB"}):
        futures = client.compute([*checks, *parts])
    checks, futures = futures[:len(checks)], futures[len(checks):]
    try:
        check_inputs(work.inputs, [f.result() for f in checks])
        yield from _in_order(futures, what)
    except RowsError:
        client.cancel(futures + checks)
        report_rows(work.inputs)
        raise
    except BaseException:
        client.cancel(futures + checks)
        raise


def _in_order(futures, what: str):
    t0 = last = time.perf_counter()
    rows = 0
    for i, future in enumerate(futures):
        part = future.result()
        future.release()
        rows += len(part)
        now = time.perf_counter()
        if now - last >= _PROGRESS_EVERY_S or i == len(futures) - 1:
            logger.info("%s: %d of %d partitions done, %d rows, %.0fs", what, i + 1,
                        len(futures), rows, now - t0)
            last = now
        yield part.reset_index(drop=True)


def sample_features(path, rows: int, seed: int = 0) -> pd.DataFrame:
    """About `rows` rows drawn at random (seeded) from features file `path` (CSV or a Parquet
    file or folder) read as a Dask frame, checked as `read_features` checks a whole file; all
    rows when the file has fewer."""
    import dask.dataframe as dd

    path = Path(path)
    frame = (dd.read_parquet(str(path)) if path.suffix == ".parquet"
             else dd.read_csv(str(path), blocksize="64MB"))
    total = int(frame.map_partitions(len).sum().compute())
    frac = min(1.0, rows / max(total, 1))
    sample = frame if frac >= 1.0 else frame.sample(frac=frac, random_state=seed)
    features = sample.compute().reset_index(drop=True)
    logger.info("sampled %d of %d feature rows from %s", len(features), total, path)
    return check_features(features, path)


def features_to_file(scheduler, transactions, out, wallets=None, logins=None, geoip_db=None,
                     meta: dict | None = None, partitions: int | None = None) -> int:
    """feature_engineering.py on Dask: features of input `transactions` written to `out`
    (features.csv or features.parquet/) in the input's order; returns the rows written."""
    with connect(scheduler) as client:
        work = features_frame(transactions, wallets, logins, geoip_db, partitions)
        return write_feature_parts(gather(client, work, "features"), out, meta=meta)


def detect_to_file(scheduler, bundle, transactions, out, history=None, wallets=None,
                   logins=None, geoip_db=None, partitions: int | None = None):
    """detect_anomalies.py's batch scoring on Dask: detections of input `transactions` written
    to `out` (detections.csv or detections.parquet/) in the input's order. Returns the
    `DetectionWriter` (counts, wallet scores) and the flagged rows with `amount` and `type`
    (what the alerts carry)."""
    flagged: list[pd.DataFrame] = []

    def parts(client, work):
        for part in gather(client, work, "detections"):
            flagged.append(part[part["is_anomaly"].to_numpy(dtype=bool)])
            yield part

    with connect(scheduler) as client:
        work = detections_frame(bundle, transactions, history, wallets, logins,
                                geoip_db, partitions)
        writer = write_detections(parts(client, work), out)
    return writer, pd.concat(flagged, ignore_index=True) if flagged else None
