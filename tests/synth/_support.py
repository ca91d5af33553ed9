"""Constants and helpers the generator's tests share (fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.conftest import SMALL_ARGS
from wallet_monitor import synth

START = pd.Timestamp(synth.DEFAULT_START)
END = START + pd.Timedelta(days=SMALL_ARGS["days"])
HOLDOUT = END - pd.Timedelta(days=SMALL_ARGS["holdout_days"])
ISO_Z = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def raw_csv(data_dir: Path, name: str) -> pd.DataFrame:
    """A written CSV as text, exactly as in the file."""
    return pd.read_csv(data_dir / name, dtype=str, keep_default_na=False)


def episodes_of(small_frames, variant: str) -> list[tuple[str, tuple[str, ...]]]:
    """``(wallet_id, transaction_ids)`` of every injected episode of `variant` (at least one)."""
    eps = small_frames["episodes"]
    eps = eps[eps["variant"] == variant]
    assert len(eps) > 0
    return list(zip(eps["wallet_id"], eps["transaction_ids"], strict=True))
