"""The model bundle: saved, loaded, and refused with a one-line retrain error when stale."""

import joblib
import pandas as pd
import pytest

from tests.model._support import FAMILIES
from wallet_monitor.model import (
    BUNDLE_FORMAT_VERSION,
    DEFAULT_CONTAMINATION,
    BundleError,
    load_bundle,
    save_bundle,
    score,
)


def test_bundle_round_trips(planted, tmp_path):
    df, bundles = planted
    path = tmp_path / "model.pkl"
    save_bundle(bundles["iforest", False], path)
    loaded = load_bundle(path, feature_names=bundles["iforest", False].feature_names)
    pd.testing.assert_frame_equal(score(loaded, df), score(bundles["iforest", False], df))
    assert loaded.metadata.n_rows == len(df)
    assert loaded.metadata.format_version == BUNDLE_FORMAT_VERSION


def test_metadata_describes_the_training(planted):
    df, bundles = planted
    meta = bundles["iforest", False].metadata
    assert meta.model_type == "iforest"
    assert meta.contamination == DEFAULT_CONTAMINATION
    assert set(meta.params["families"]) == set(FAMILIES)
    assert len(meta.features_sha256) == 64
    assert "scikit-learn" in meta.library_versions


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: setattr(b.metadata, "format_version", 0), "bundle format 0"),
        (
            lambda b: b.metadata.library_versions.update({"scikit-learn": "0.1"}),
            "scikit-learn 0.1",
        ),
    ],
)
def test_stale_bundle_is_refused_with_a_clear_error(planted, tmp_path, change, message):
    _, bundles = planted
    bundle = joblib.load(_saved(bundles["iforest", True], tmp_path))
    change(bundle)
    joblib.dump(bundle, tmp_path / "stale.pkl")
    with pytest.raises(BundleError, match=message):
        load_bundle(tmp_path / "stale.pkl")


def test_bundle_with_other_features_is_refused(planted, tmp_path):
    _, bundles = planted
    path = _saved(bundles["iforest", True], tmp_path)
    names = [*bundles["iforest", True].feature_names[1:], "ip_entropy"]
    with pytest.raises(
        BundleError, match=r"missing \['tx_count_1h'\].*unexpected \['ip_entropy'\]"
    ):
        load_bundle(path, feature_names=names)


@pytest.mark.parametrize("content", [b"not a pickle", b""])
def test_unreadable_bundle_is_refused(tmp_path, content):
    (tmp_path / "model.pkl").write_bytes(content)
    with pytest.raises(BundleError, match="cannot read model"):
        load_bundle(tmp_path / "model.pkl")


def _saved(bundle, tmp_path):
    path = tmp_path / "model.pkl"
    save_bundle(bundle, path)
    return path



def test_a_format_2_bundle_of_the_dict_kind_is_refused_with_a_retrain_error(tmp_path):
    joblib.dump({"detectors": [], "metadata": {"format_version": 2}}, tmp_path / "old.pkl")
    with pytest.raises(BundleError, match="bundle format 2, this code reads 3; retrain"):
        load_bundle(tmp_path / "old.pkl")
