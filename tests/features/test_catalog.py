"""The feature catalog: each feature declared once, everything else derived from it."""

from __future__ import annotations

from wallet_monitor.features import CATALOG, FEATURE_FAMILIES, FEATURE_NAMES, build_features
from wallet_monitor.features.catalog import FAMILIES
from wallet_monitor.model import DETECTOR_FAMILIES, UNMODELLED_FEATURES
from wallet_monitor.model.feature_table import feature_table, main


def test_every_feature_is_declared_once_with_a_known_family_and_side():
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES)) == len(CATALOG)
    assert all(f.family in FAMILIES and f.direction in (-1, 0, 1) and f.label for f in CATALOG)
    assert sorted(n for names in FEATURE_FAMILIES.values() for n in names) == sorted(FEATURE_NAMES)


def test_build_features_computes_exactly_the_catalog_in_its_order(small_frames):
    out = build_features(small_frames["new_transactions"].head(50),
                         history=small_frames["transactions"])
    assert list(out.columns) == ["transaction_id", *FEATURE_NAMES]


def test_every_catalog_feature_is_in_a_detector_or_left_out_with_a_reason():
    modelled = {n for names in DETECTOR_FAMILIES.values() for n in names}
    assert modelled | set(UNMODELLED_FEATURES) == set(FEATURE_NAMES)
    assert not modelled & set(UNMODELLED_FEATURES)


def test_docs_feature_table_is_generated_from_the_catalog():
    table = feature_table()
    assert all(f"| `{name}` |" in table for name in FEATURE_NAMES)
    assert main(["--check"]) == 0, "docs/FEATURES.md is stale: python -m wallet_monitor.model.feature_table"
