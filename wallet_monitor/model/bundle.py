"""The model bundle: everything scoring needs, in one typed object, saved as one joblib file.

Loading checks the format version, the scikit-learn version and (when given) the feature
names, and refuses with a one-line "retrain" error; a bundle of an older format (a dict, up
to format 2) is refused the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from wallet_monitor.cli import UserError
from wallet_monitor.io import atomic_write
from wallet_monitor.model.calibration import Calibration
from wallet_monitor.model.tails import Tails

BUNDLE_FORMAT_VERSION = 3  # 3: a ModelBundle dataclass (2 and before: a dict)


class BundleError(UserError):
    """A model bundle that cannot be used: unreadable, stale format, or other features."""


@dataclass
class Detector:
    """One fitted detector: its behaviour, the columns it reads, what it sees ("raw" features
    or "tail" scores), the fitted pipeline and the calibration of its raw scores."""

    family: str
    features: list[str]
    input: str
    pipeline: Any  # a fitted sklearn Pipeline
    calibration: Calibration
    without_history_only: bool = False  # speaks only for rows whose wallet has no history


@dataclass
class ReasonStats:
    """What reasons show beside a value: the training median and each feature's words."""

    median: np.ndarray
    labels: list[str]


@dataclass
class BundleMetadata:
    format_version: int
    model_type: str
    model_version: str
    params: dict
    contamination: float
    seed: int
    n_rows: int
    n_fit_rows: int
    trained_at: str
    library_versions: dict
    features_sha256: str
    recalibration: dict | None = None  # the recent traffic it was recalibrated on, if it was
    # Which database located the training features' addresses (features.geoip info: database,
    # version, source); None when unknown. A default, so bundles saved before it still load.
    geoip: dict | None = None
    # Where the threshold was placed with episode links counted (recalibration.place_threshold:
    # rows, period, share); None when it is 1 - contamination (own evidence only).
    budget: dict | None = None


@dataclass
class ModelBundle:
    """A trained model. `fraud_score` of a row is `calibration` applied to `combine` of its
    detectors' calibrated scores (the single detector's score when `calibration` is None);
    `is_anomaly` is `fraud_score >= threshold`."""

    detectors: list[Detector]
    feature_names: list[str]
    calibration: Calibration | None
    combine: str
    combine_weight: float | None
    combine_calibrations: list[Calibration] | None
    threshold: float
    tails: Tails
    reason_stats: ReasonStats
    metadata: BundleMetadata
    input_clamps: dict[str, tuple[float, float]] = field(default_factory=dict)
    evidence_from: float = 0.0
    # Each detector's group in "decay" (calibration.evidence_groups); None: every detector its
    # own, as bundles saved before it.
    combine_groups: list[int] | None = None
    # Which detectors read volume (families.is_volume_detector), taking one place in "decay"
    # together, and the ratio within it; None: none, as bundles saved before it.
    combine_volume: list[bool] | None = None
    combine_volume_weight: float | None = None

    @property
    def model_version(self) -> str:
        return self.metadata.model_version


def save_bundle(bundle: ModelBundle, path) -> None:
    """Write the bundle atomically and durably (a crash leaves the old model or the new one)."""
    with atomic_write(path, "wb") as fh:
        joblib.dump(bundle, fh)


def load_bundle(path, feature_names: list[str] | None = None) -> ModelBundle:
    """Load a bundle and check it; raises BundleError naming what does not fit."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"no model at {path}: run train_model.py first")
    try:
        bundle = joblib.load(path)
    except Exception as exc:  # unpickling can fail in many library-specific ways
        raise BundleError(
            f"cannot read model {path}: {type(exc).__name__}: {exc}; retrain with train_model.py"
        ) from exc
    version = _format_version(bundle)
    if version != BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"model {path} has bundle format {version!r}, this code reads {BUNDLE_FORMAT_VERSION}; "
            "retrain with train_model.py"
        )
    trained_with = bundle.metadata.library_versions.get("scikit-learn")
    if trained_with != sklearn.__version__:
        raise BundleError(
            f"model {path} was trained with scikit-learn {trained_with}, this is "
            f"{sklearn.__version__}; retrain with train_model.py"
        )
    if feature_names is not None:
        check_features(bundle, feature_names, f"model {path} was trained on other features")
    return bundle


def check_features(bundle: ModelBundle, feature_names, what: str) -> None:
    """Raise BundleError unless `feature_names` are the bundle's, in its order."""
    got, want = list(feature_names), list(bundle.feature_names)
    if got == want:
        return
    missing = [c for c in want if c not in got]
    extra = [c for c in got if c not in want]
    raise BundleError(
        f"{what} (missing {missing[:5]}, unexpected {extra[:5]}"
        f"{', different order' if not missing and not extra else ''}); retrain with train_model.py"
    )


def _format_version(obj) -> object:
    if isinstance(obj, ModelBundle):
        return getattr(obj.metadata, "format_version", None)
    if isinstance(obj, dict):  # formats 1 and 2 were dicts
        meta = obj.get("metadata")
        return meta.get("format_version") if isinstance(meta, dict) else None
    return None
