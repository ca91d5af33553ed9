"""Tests for synth.generator: arguments, defaults and determinism (same seed, same bytes)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SMALL_ARGS
from wallet_monitor import synth


def _write(tmp_path: Path, name: str, seed: int) -> Path:
    out = tmp_path / name
    synth.write(synth.generate(60, 8, 2, seed, 0.03), out)
    return out


def test_same_seed_gives_identical_bytes(tmp_path):
    a, b = _write(tmp_path, "a", 3), _write(tmp_path, "b", 3)
    for name in synth.FILES.values():
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_different_seed_gives_different_data(tmp_path):
    a, b = _write(tmp_path, "a", 3), _write(tmp_path, "b", 4)
    for name in synth.FILES.values():
        assert (a / name).read_bytes() != (b / name).read_bytes(), name


def test_same_seed_gives_equal_frames():
    a, b = synth.generate(**SMALL_ARGS), synth.generate(**SMALL_ARGS)
    assert list(a) == list(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.mark.parametrize("kwargs", [
    {"n_wallets": 0}, {"days": 0}, {"holdout_days": 0}, {"holdout_days": 20},
    {"fraud_rate": -0.01}, {"fraud_rate": 0.21},
])
def test_generate_rejects_bad_arguments(kwargs):
    args = {**SMALL_ARGS, **kwargs}
    with pytest.raises(ValueError):
        synth.generate(**args)


def test_default_rate_is_one_to_two_percent():
    assert 0.01 <= synth.DEFAULT_FRAUD_RATE <= 0.02
