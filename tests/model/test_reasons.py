"""Reasons: the features behind a flag, in the detector that fired, in natural units."""

import numpy as np
import pytest

from tests.model._support import FAMILIES
from wallet_monitor.model import (
    score,
)
from wallet_monitor.model.reasons import shown as shown_value


def test_reasons_of_a_velocity_outlier_name_the_velocity_feature(planted):
    df, bundles = planted
    reasons = score(bundles["iforest", False], df).loc[0, "reasons"]
    first = reasons.split("; ")[0]
    assert first.startswith("transactions in the last hour: tx_count_1h=40 (typical 1)")


def test_reasons_stay_in_the_family_that_fired(planted):
    df, bundles = planted
    reasons = score(bundles["iforest", False], df).loc[0, "reasons"]
    named = {part.split(": ")[1].split("=")[0] for part in reasons.split("; ")}
    assert named <= set(FAMILIES["velocity"])


def test_unflagged_rows_have_no_reasons(planted):
    df, bundles = planted
    scored = score(bundles["iforest", False], df)
    assert (scored.loc[~scored["is_anomaly"], "reasons"] == "").all()
    assert (scored.loc[scored["is_anomaly"], "reasons"] != "").all()


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("tx_count_1h_log", np.log1p(14), "tx_count_1h=14"),
        ("amount_log", np.log1p(9850), "amount=9850"),
        ("minutes_since_inflow_log", np.log1p(3.5), "minutes_since_inflow=3.5 min"),
        ("time_since_success_login_log", np.log1p(3 * 86400), "time_since_success_login=3 d"),
        ("travel_speed_log", np.log1p(4200), "travel_speed=4200 km/h"),
        ("amount_z", 5.8, "amount_z=5.8"),
    ],
)
def test_reasons_show_log_features_in_natural_units(name, value, shown):
    assert shown_value(name, value) == shown

