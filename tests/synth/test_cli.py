"""Tests for data_generator.py, the command line of the generator."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wallet_monitor import synth
from wallet_monitor.paths import ROOT


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "data_generator.py"), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,needle", [
    (["--wallets", "0"], "--wallets"),
    (["--days", "0"], "--days"),
    (["--days", "10", "--holdout-days", "10"], "--holdout-days"),
    (["--holdout-days", "0"], "--holdout-days"),
    (["--fraud-rate", "0.5"], "--fraud-rate"),
    (["--fraud-rate", "-0.1"], "--fraud-rate"),
    (["--wallets", "many"], "--wallets"),
])
def test_cli_bad_argument_exits_2_with_one_line(tmp_path, args, needle):
    result = _cli(*args, "--data-dir", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("data_generator.py: error:") and needle in lines[0]
    assert not any(tmp_path.iterdir())


def test_cli_writes_the_five_files(tmp_path):
    result = _cli("--wallets", "40", "--days", "6", "--holdout-days", "2", "--seed", "1",
                  "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(synth.FILES.values())
    assert "labels.csv" in result.stderr and "done in" in result.stderr


def test_cli_help_works():
    result = _cli("--help")
    assert result.returncode == 0 and "--holdout-days" in result.stdout
