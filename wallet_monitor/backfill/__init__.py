"""Backfills past one machine's memory: the chain on Dask (`--engine dask`).

Dask itself is imported only when a run starts (it is heavy); the pandas path never loads it.
`connect` opens the cluster, `features_frame` and `detections_frame` build the work (each
wallet partition runs the pandas feature and scoring functions unchanged), `gather` brings the
result back in the input's order, `sample_features` draws training rows.
"""

from wallet_monitor.backfill.cluster import connect
from wallet_monitor.backfill.engine import detections_frame, features_frame
from wallet_monitor.backfill.runs import (
    detect_to_file,
    features_to_file,
    gather,
    sample_features,
)

__all__ = ["connect", "detect_to_file", "detections_frame", "features_frame", "features_to_file",
           "gather", "sample_features"]
