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


def test_one_chunk_is_exactly_generate():
    whole = synth.generate(60, 8, 2, 3, 0.03)
    chunks = list(synth.generate_chunks(60, 8, 2, 3, 0.03, chunk_wallets=60))
    assert len(chunks) == 1
    for name in synth.FILES:
        pd.testing.assert_frame_equal(chunks[0][name], whole[name], check_exact=True, obj=name)


def test_parquet_chunks_are_seeded_with_ids_unique_across_chunks(tmp_path):
    for out in ("a", "b"):
        chunks = synth.generate_chunks(90, 8, 2, 3, 0.03, chunk_wallets=40)
        synth.write_parquet_chunks(chunks, tmp_path / out, chunk_rows=500)
    for name in synth.FILES.values():
        a = sorted((tmp_path / "a" / name).with_suffix(".parquet").glob("*.parquet"))
        b = sorted((tmp_path / "b" / name).with_suffix(".parquet").glob("*.parquet"))
        assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b], name
    read = {k: pd.read_parquet((tmp_path / "a" / f).with_suffix(".parquet"))
            for k, f in synth.FILES.items()}
    assert len(read["wallets"]) == 90 and read["wallets"]["wallet_id"].is_unique
    tx = pd.concat([read["transactions"], read["new_transactions"]], ignore_index=True)
    assert tx["transaction_id"].is_unique and read["logins"]["login_id"].is_unique
    assert set(tx["wallet_id"]) <= set(read["wallets"]["wallet_id"])
    assert set(read["labels"]["transaction_id"]) <= set(tx["transaction_id"])
    # Three chunks (40, 40, 10 wallets), each drawn from its own generator.
    assert tx["wallet_id"].str[1:].astype(int).max() == 89
