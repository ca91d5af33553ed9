"""What the scripts call with `--engine dask`: results gathered in the input's order, one
partition at a time, with progress in the log; a training sample drawn from a Dask frame."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from wallet_monitor.features.files import check_features

logger = logging.getLogger(__name__)

_PROGRESS_EVERY_S = 10.0  # a progress line at most this often (and at the end)


def gather(client, frame, what: str):
    """The partitions of Dask `frame`, computed together on the cluster and yielded in order
    (index dropped); each is released once yielded, so the client holds one at a time."""
    parts = frame.to_delayed()
    futures = client.compute(parts)
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
