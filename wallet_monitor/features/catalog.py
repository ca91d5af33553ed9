"""Every feature declared once: its name, family, label and suspicious direction.

Everything else is derived from `CATALOG`: the output column order (`FEATURE_NAMES`), the
documentation grouping (`FEATURE_FAMILIES`), the words reasons use (`FEATURE_LABELS`) and the
side of each feature that is suspicious (`FEATURE_DIRECTIONS`: +1 higher, -1 lower, 0 both),
which one-sided reading and reasons use. docs/FEATURES.md is generated from it too
(`python -m wallet_monitor.model.feature_table`). The order of `CATALOG` is the column order
of features.csv and of every model's feature matrix: append, never reorder.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("amount", "velocity", "flow", "access")


@dataclass(frozen=True)
class Feature:
    name: str
    family: str  # one of FAMILIES: where compute.py computes it and the docs list it
    label: str  # what it measures, in words; reasons show it
    direction: int = 1  # the suspicious side: +1 higher, -1 lower, 0 both
    detail: str = ""  # more for the docs table, where the label alone is not enough


_F = Feature
CATALOG: tuple[Feature, ...] = (
    _F("amount_log", "amount", "transaction amount"),
    _F("amount_z", "amount", "amount unusual for this wallet"),
    _F("amount_z_same_type", "amount", "amount unusual for this wallet and type"),
    _F("amount_vs_typical", "amount", "amount vs the wallet's typical amount"),
    _F("amount_vs_max", "amount", "amount vs the wallet's largest earlier amount"),
    _F("amount_unverified_log", "amount", "amount into or out of a wallet without KYC"),
    _F("amount_vs_age", "amount", "amount vs the wallet's age"),
    _F("type_deposit", "amount", "deposit", 0),
    _F("type_transfer", "amount", "transfer", 0),
    _F("type_redeem", "amount", "redemption", 0),
    _F("amount_out_new_device_log", "amount", "amount sent or redeemed from a new device",
       detail="0 for deposits and known devices"),
    _F("tx_count_1h_log", "velocity", "transactions in the last hour"),
    _F("amount_sum_1h_log", "velocity", "amount moved in the last hour"),
    _F("amount_sum_24h_log", "velocity", "amount moved in the last 24 h"),
    _F("transfer_count_1h_log", "velocity", "transfers in the last hour"),
    _F("transfer_sum_1h_log", "velocity", "amount transferred in the last hour"),
    _F("redeem_count_1h_log", "velocity", "redemptions in the last hour"),
    _F("redeem_sum_1h_log", "velocity", "amount redeemed in the last hour"),
    _F("deposit_count_1h_log", "velocity", "deposits in the last hour"),
    _F("deposit_sum_1h_log", "velocity", "amount deposited in the last hour"),
    _F("redeem_count_24h_log", "velocity", "redemptions in the last 24 h"),
    _F("redeem_sum_24h_log", "velocity", "amount redeemed in the last 24 h"),
    _F("deposit_count_24h_log", "velocity", "deposits in the last 24 h"),
    _F("deposit_sum_24h_log", "velocity", "amount deposited in the last 24 h"),
    _F("near_threshold_deposits_24h_log", "velocity",
       "deposits just under a reporting threshold in 24 h"),
    _F("near_threshold_24h_vs_rate", "velocity",
       "deposits just under a threshold in 24 h vs the wallet's usual rate"),
    _F("time_since_prev_tx_log", "velocity", "time since the previous transaction", 0),
    _F("hour_sin", "velocity", "time of day (UTC)", 0),
    _F("hour_cos", "velocity", "time of day (UTC)", 0),
    _F("dormant_amount", "velocity", "large amount after a long idle spell"),
    _F("tx_count_1h_vs_rate", "velocity", "hourly activity vs the wallet's usual rate"),
    _F("tx_count_24h_vs_rate", "velocity", "daily activity vs the wallet's usual rate"),
    _F("amount_sum_1h_vs_rate", "velocity", "hourly volume vs the wallet's usual volume"),
    _F("amount_sum_24h_vs_rate", "velocity", "daily volume vs the wallet's usual volume"),
    _F("transfer_count_24h_vs_rate", "velocity", "transfers in 24 h vs the wallet's usual rate"),
    _F("redeem_count_1h_vs_rate", "velocity",
       "redemptions in the last hour vs the wallet's usual rate"),
    _F("redeem_count_24h_vs_rate", "velocity", "redemptions in 24 h vs the wallet's usual rate"),
    _F("deposit_count_24h_vs_rate", "velocity", "deposits in 24 h vs the wallet's usual rate"),
    _F("redeem_share_24h_vs_usual", "velocity",
       "share of redemptions in 24 h vs the wallet's usual share"),
    _F("redeem_sum_24h_vs_typical", "velocity", "24 h redemptions vs the wallet's typical amount"),
    _F("redeem_sum_1h_vs_max", "velocity",
       "redeemed in the last hour vs the wallet's largest earlier redemption"),
    _F("inflow_1h_log", "flow", "funds received in the last hour"),
    _F("inflow_24h_log", "flow", "funds received in the last 24 h"),
    _F("incoming_transfers_1h_log", "flow", "incoming transfers in the last hour"),
    _F("forward_share", "flow", "share of recent inflow sent on"),
    _F("minutes_since_inflow_log", "flow", "minutes from receiving funds to sending them on", -1),
    _F("forwarded_30m_log", "flow", "amount sent on within 30 minutes of receiving it"),
    _F("incoming_forward_ratio_1h", "flow", "outflow close to a transfer received within the hour"),
    _F("counterparty_new", "flow", "new counterparty"),
    _F("new_counterparties_24h_log", "flow", "new counterparties in the last 24 h"),
    _F("new_counterparties_1h_vs_rate", "flow",
       "new counterparties in the last hour vs the usual transfer rate"),
    _F("wallet_age_days_log", "flow", "wallet age", -1),
    _F("kyc_verified", "flow", "KYC status", -1),
    _F("ip_new", "access", "new IP address"),
    _F("country_new", "access", "new country"),
    _F("device_new", "access", "new device"),
    _F("access_new_count", "access", "new IP, country and device at once"),
    _F("country_changed", "access", "country changed since the previous event"),
    _F("travel_speed_log", "access", "implied travel speed"),
    _F("country_not_home", "access", "outside the home country"),
    _F("new_ips_24h_log", "access", "new IP addresses in the last 24 h"),
    _F("failed_logins_1h_log", "access", "failed logins in the last hour"),
    _F("failed_logins_24h_log", "access", "failed logins in the last 24 h"),
    _F("failed_logins_new_ip_1h_log", "access", "failed logins from a new IP in the last hour"),
    _F("success_logins_1h_log", "access", "successful logins in the last hour", 0),
    _F("failed_login_share_1h", "access", "share of the last hour's logins that failed",
       detail="failed / (failed + successful + 1)"),
    _F("login_unseen", "access", "IP or device never used to log in"),
    _F("time_since_success_login_log", "access", "time since the last successful login"),
    _F("ip_known_days_log", "access", "how long the IP has been known", -1),
    _F("country_known_days_log", "access", "how long the country has been known", -1),
    _F("device_known_days_log", "access", "how long the device has been known", -1),
    _F("new_place_new_device", "access", "new IP or country on a new device",
       detail="`device_new` x (`ip_new` + `country_new`)"),
    _F("failed_logins_new_device_1h_log", "access",
       "failed logins from a new device in the last hour",
       detail="a login without a device: from a new IP"),
    _F("redeem_count_24h_vs_busiest", "velocity",
       "redemptions in 24 h vs the wallet's busiest earlier day",
       detail="log1p(the count) - log1p(the largest 24 h count at the wallet's redemptions 1-29 "
              "days back; 0 if none)"),
    _F("tx_count_1h_vs_busiest", "velocity",
       "transactions in the last hour vs the wallet's busiest earlier hour",
       detail="log1p(the count) - log1p(the largest 1 h count at the wallet's transactions 1 h "
              "to 30 days back; 0 if none)"),
    _F("tx_count_24h_vs_busiest", "velocity",
       "transactions in 24 h vs the wallet's busiest earlier day",
       detail="log1p(the count) - log1p(the largest 24 h count at the wallet's transactions "
              "1-29 days back; 0 if none)"),
    _F("inflow_24h_vs_busiest", "flow",
       "funds received in 24 h vs the wallet's largest earlier day",
       detail="log1p(deposits and transfers in over 24 h, the row included) - log1p(the "
              "largest such 24 h total at the wallet's inflows 1-29 days back; 0 if none)"),
)

FEATURE_NAMES: list[str] = [f.name for f in CATALOG]
FEATURE_FAMILIES: dict[str, list[str]] = {
    fam: [f.name for f in CATALOG if f.family == fam] for fam in FAMILIES
}
FEATURE_LABELS: dict[str, str] = {f.name: f.label for f in CATALOG}
FEATURE_DIRECTIONS: dict[str, int] = {f.name: f.direction for f in CATALOG}
