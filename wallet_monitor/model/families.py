"""Which features each detector reads: one detector per behaviour, plus one over all of them.

A forest over a few related features finds rows that are jointly unusual for one behaviour
(many redemptions *and* far above the wallet's largest), where one forest over everything
dilutes a strong signal among dozens of irrelevant dimensions; the global forest sees what
spans behaviours. The column order within a detector is part of the model (it changes which
splits a forest draws): append, never reorder.
"""

from __future__ import annotations

DETECTOR_FAMILIES: dict[str, list[str]] = {
    "amount": ["amount_log", "amount_z", "amount_z_same_type", "amount_vs_typical",
               "amount_vs_max", "type_deposit", "type_transfer", "type_redeem",
               "amount_out_new_device_log"],
    # Split by time scale: in one forest the day's evidence was diluted by the hour's (a
    # cash-out spread over a day ranked at the 89th percentile; docs/QUALITY.md, fourth and sixth rounds).
    "redemptions": ["redeem_count_1h_log", "redeem_sum_1h_log", "redeem_count_1h_vs_rate",
                    "redeem_sum_1h_vs_max", "dormant_amount"],
    "redemption day": ["redeem_count_24h_vs_rate", "redeem_share_24h_vs_usual",
                       "redeem_sum_24h_vs_typical", "redeem_count_24h_vs_busiest"],
    "deposits": ["deposit_count_1h_log", "deposit_sum_1h_log", "deposit_sum_24h_log",
                 "near_threshold_deposits_24h_log", "near_threshold_24h_vs_rate",
                 "deposit_count_24h_vs_rate",
                 "amount_unverified_log", "amount_vs_age", "wallet_age_days_log", "kyc_verified"],
    "velocity": ["tx_count_1h_log", "amount_sum_1h_log", "amount_sum_24h_log",
                 "transfer_count_1h_log", "transfer_sum_1h_log", "time_since_prev_tx_log",
                 "tx_count_1h_vs_rate", "tx_count_24h_vs_rate", "amount_sum_1h_vs_rate",
                 "amount_sum_24h_vs_rate", "transfer_count_24h_vs_rate"],
    "money_flow": ["inflow_1h_log", "inflow_24h_log", "incoming_transfers_1h_log", "forward_share",
                   "minutes_since_inflow_log", "forwarded_30m_log", "incoming_forward_ratio_1h",
                   "counterparty_new"],
    "counterparties": ["new_counterparties_24h_log", "new_counterparties_1h_vs_rate"],
    "location": ["device_new", "access_new_count", "country_changed", "travel_speed_log",
                 "country_not_home", "new_ips_24h_log", "login_unseen", "ip_known_days_log",
                 "country_known_days_log", "device_known_days_log", "new_place_new_device"],
    "logins": ["failed_logins_new_device_1h_log", "time_since_success_login_log"],
    # Issue 18h: the hour and the day against the wallet's busiest earlier ones, a detector of
    # their own (in velocity they are diluted; docs/QUALITY.md, eighth round).
    "bursts": ["tx_count_1h_vs_busiest", "tx_count_24h_vs_busiest"],
    # Issue 18m: the day's inflow against the wallet's largest earlier day, a detector of its
    # own (smurfing, mule pass-throughs; docs/QUALITY.md, thirteenth candidate).
    "inflow day": ["inflow_24h_vs_busiest"],
}  # fmt: skip
GLOBAL_DETECTOR = "all behaviours"
# Read by their own detector only, not by the global forest: among its 60-odd inputs one more
# window total dilutes what spans behaviours (the eleventh round's outflow twin moved aml's
# takeovers down there; docs/QUALITY.md).
OUTSIDE_GLOBAL = frozenset({"inflow_24h_vs_busiest"})
# Population-relative detectors: how a row compares with all rows of its kind, which needs no
# history of the wallet (a first transaction, a data set where wallets rarely repeat). Each
# reads its value on the feature's suspicious side (a young wallet, a large amount for its age).
# name -> (value column, group columns); append, never reorder.
_TYPES = ("type_deposit", "type_transfer", "type_redeem")
POPULATION_DETECTORS: dict[str, tuple[str, tuple[str, ...]]] = {
    "amount within its type": ("amount_log", _TYPES),
    # Issue 18g: a first transaction from a brand-new wallet, and a large one for the wallet's
    # age, against the rows of its type (docs/QUALITY.md, seventh round).
    "wallet age within its type": ("wallet_age_days_log", _TYPES),
    "amount vs age within its type": ("amount_vs_age", _TYPES),
}
# Issue 18j: features that count or total the wallet's recent events (how many, how much over a
# window, how often) rather than describe the row itself (its amount, type, place, device,
# counterparty, the money it forwards). A detector most of whose inputs are these reads volume:
# busy wallets' busy hours are far out in it and ordinary in the rest (docs/QUALITY.md, tenth round).
VOLUME_FEATURES = frozenset({
    "tx_count_1h_log", "amount_sum_1h_log", "amount_sum_24h_log", "transfer_count_1h_log",
    "transfer_sum_1h_log", "redeem_count_1h_log", "redeem_sum_1h_log", "deposit_count_1h_log",
    "deposit_sum_1h_log", "redeem_count_24h_log", "redeem_sum_24h_log", "deposit_count_24h_log",
    "deposit_sum_24h_log", "near_threshold_deposits_24h_log", "near_threshold_24h_vs_rate",
    "time_since_prev_tx_log", "tx_count_1h_vs_rate", "tx_count_24h_vs_rate",
    "amount_sum_1h_vs_rate", "amount_sum_24h_vs_rate", "transfer_count_24h_vs_rate",
    "redeem_count_1h_vs_rate", "redeem_count_24h_vs_rate", "deposit_count_24h_vs_rate",
    "redeem_share_24h_vs_usual", "redeem_sum_24h_vs_typical", "redeem_sum_1h_vs_max",
    "inflow_1h_log", "inflow_24h_log", "incoming_transfers_1h_log", "new_counterparties_24h_log",
    "new_counterparties_1h_vs_rate", "new_ips_24h_log", "failed_logins_1h_log",
    "failed_logins_24h_log", "failed_logins_new_ip_1h_log", "failed_logins_new_device_1h_log",
    "redeem_count_24h_vs_busiest", "tx_count_1h_vs_busiest", "tx_count_24h_vs_busiest",
    "inflow_24h_vs_busiest",
})  # fmt: skip
# In features.csv for analysis, in no detector; why each is left out (docs/DECISIONS.md has
# the measurements).
UNMODELLED_FEATURES: dict[str, str] = {
    "hour_sin": "legitimate traffic and fraud share the daily rhythm",
    "hour_cos": "legitimate traffic and fraud share the daily rhythm",
    "redeem_count_24h_log": "repeats the 1 h count and the rate features; lowered recall",
    "redeem_sum_24h_log": "repeats the 1 h sum and the rate features; lowered recall",
    "deposit_count_24h_log": "repeats the 1 h count and the rate features; lowered recall",
    "failed_logins_24h_log": "a busy wallet's typos add up",
    "success_logins_1h_log": "a busy wallet's logins add up",
    "ip_new": "mostly travel and VPNs; read through `new_place_new_device`",
    "country_new": "mostly travel and VPNs; read through `new_place_new_device`",
    "failed_logins_1h_log": "mostly the owner's typos; read through `failed_logins_new_device_1h_log`",
    "failed_login_share_1h": "still the owner's typos; read through `failed_logins_new_device_1h_log`",
    "failed_logins_new_ip_1h_log": "an owner on a new network mistypes too",
}


def detector_families(feature_names: list[str], families: dict | None, single: bool) -> dict:
    """Detector name -> its feature columns, for the features present.

    Default: DETECTOR_FAMILIES plus the global detector (over every feature but
    `OUTSIDE_GLOBAL`). With `families` given, those groups
    (and no global one); with `single`, one detector over everything. A feature listed twice
    belongs to the first family naming it; features in no family form an "other" detector.
    """
    if single:
        return {"all": list(feature_names)}
    with_global = families is None
    if families is None:
        families = DETECTOR_FAMILIES
        feature_names = [c for c in feature_names if c not in UNMODELLED_FEATURES]
    present = set(feature_names)
    out = {}
    seen = set()
    for fam, names in families.items():
        cols = [c for c in names if c in present and c not in seen]
        if cols:
            out[fam] = cols
            seen.update(cols)
    # Features left out of the detectors on purpose stay out of the catch-all detector too.
    rest = [c for c in feature_names if c not in seen and c not in UNMODELLED_FEATURES]
    if rest:
        out["other"] = rest
    if with_global:
        out[GLOBAL_DETECTOR] = [c for c in feature_names if c not in OUTSIDE_GLOBAL]
        for name, (value, groups) in POPULATION_DETECTORS.items():
            if value in present:
                out[name] = [value, *(g for g in groups if g in present)]
    return out


def is_volume_detector(features: list[str]) -> bool:
    """A detector most of whose features count or total the wallet's recent events
    (`VOLUME_FEATURES`): velocity, counterparties, bursts, redemptions and deposits, inflow day,
    and the global forest (55% of its inputs) with the default families; not amount, money flow,
    location, logins or the population detectors."""
    return sum(c in VOLUME_FEATURES for c in features) > len(features) / 2
