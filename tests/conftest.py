"""Shared fixtures: one small generated dataset for the whole test session."""

from __future__ import annotations

import pytest

import data_generator

# Small enough to generate in well under a second, big enough that every fraud
# scenario and variant appears in both the training and the holdout period.
SMALL_ARGS = {"n_wallets": 150, "days": 20, "holdout_days": 5, "seed": 7, "fraud_rate": 0.02}


@pytest.fixture(scope="session")
def small_frames():
    """The frames ``data_generator.generate`` returns for ``SMALL_ARGS`` (do not mutate)."""
    return data_generator.generate(**SMALL_ARGS)


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory, small_frames):
    """A directory holding the five generated CSVs of ``SMALL_ARGS``."""
    path = tmp_path_factory.mktemp("small_data")
    data_generator.write(small_frames, path)
    return path
