"""The command-line contract every script of the chain shares (SPEC: Command-line contract)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ["data_generator.py", "feature_engineering.py", "train_model.py", "detect_anomalies.py",
           "alert_api.py"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_works_and_names_the_data_dir(script):
    done = _run(script, "--help")
    assert done.returncode == 0
    assert "usage:" in done.stdout
    if script != "alert_api.py":  # the receiver knows no data folder, only its --db
        assert "--data-dir" in done.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_bad_argument_is_one_line_on_stderr_and_exit_2(script):
    done = _run(script, "--no-such-flag")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{script}: error:") and "--no-such-flag" in lines[0]
    assert "Traceback" not in done.stderr
