"""Default folders, anchored to the repository rather than the working directory.

Every script takes `--data-dir`, `--models-dir` (and `--reports-dir` where it writes reports)
to point elsewhere; these are only the defaults.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
MODELS_DIR = ROOT / "models"
REPORTS_DIR = ROOT / "reports"
STATIC_DIR = ROOT / "static"
MODEL_FILE = "fraud_model.pkl"
