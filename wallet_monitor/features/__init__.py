"""Point-in-time features: load and validate the inputs, compute, write.

The one public entry is `build_features`; `catalog` declares every feature once.
Imports no other stage.
"""

from wallet_monitor.features.catalog import (
    CATALOG,
    FEATURE_DIRECTIONS,
    FEATURE_FAMILIES,
    FEATURE_LABELS,
    FEATURE_NAMES,
)
from wallet_monitor.features.compute import build_features
from wallet_monitor.features.files import read_features, read_features_meta, write_features
from wallet_monitor.features.geoip import (
    CountryDatabase,
    GeoDatabaseError,
    Locator,
    open_database,
)
from wallet_monitor.features.load import load_logins, load_transactions, load_wallets
from wallet_monitor.features.params import LOOKBACK, WINDOWS

__all__ = [
    "CATALOG", "FEATURE_DIRECTIONS", "FEATURE_FAMILIES", "FEATURE_LABELS", "FEATURE_NAMES",
    "LOOKBACK", "WINDOWS", "CountryDatabase", "GeoDatabaseError", "Locator", "build_features", "load_logins",
    "load_transactions", "load_wallets", "open_database", "read_features", "read_features_meta",
    "write_features",
]
