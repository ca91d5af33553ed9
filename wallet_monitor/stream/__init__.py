"""Real time: a follower that scores rows as a source hands them over.

`source` (where rows come from, owning its position), `parse` (checking rows as the batch
loader checks files), `state` (the retained look-back), `recent` (episode links over recent
rows), `follower` (the loop: read -> parse -> score -> link -> write -> alert -> checkpoint).
"""

from wallet_monitor.stream.follower import (
    CHECKPOINT_NAME,
    STREAM_COLUMNS,
    STREAM_DETECTIONS_NAME,
    STREAM_EPISODES_NAME,
    Follower,
    FollowStats,
    follow,
)
from wallet_monitor.stream.source import FileSource, TransactionSource

__all__ = [
    "CHECKPOINT_NAME", "STREAM_COLUMNS", "STREAM_DETECTIONS_NAME", "STREAM_EPISODES_NAME",
    "FileSource", "FollowStats", "Follower", "TransactionSource", "follow",
]
