"""The unsupervised model: detectors per behaviour, calibration, reasons, the typed bundle.

Imports the features stage (its catalog) and no later one.
"""

from wallet_monitor.model.bundle import (
    BUNDLE_FORMAT_VERSION,
    BundleError,
    ModelBundle,
    load_bundle,
    save_bundle,
)
from wallet_monitor.model.calibration import COMBINE_METHODS
from wallet_monitor.model.families import DETECTOR_FAMILIES, UNMODELLED_FEATURES
from wallet_monitor.model.params import COMBINE, DEFAULT_CONTAMINATION, MODEL_TYPES, PYOD_MODELS
from wallet_monitor.model.predict import score
from wallet_monitor.model.training import train

__all__ = [
    "BUNDLE_FORMAT_VERSION", "COMBINE", "COMBINE_METHODS", "DEFAULT_CONTAMINATION",
    "DETECTOR_FAMILIES", "MODEL_TYPES", "PYOD_MODELS", "UNMODELLED_FEATURES", "BundleError", "ModelBundle",
    "load_bundle", "save_bundle", "score", "train",
]
