"""Country from the IP address, offline: known allocations in the bundled database and in
MaxMind's own test databases, unknown and malformed addresses, given countries winning, the
generated data, and the scripts' --geoip-db."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import detect_anomalies
import feature_engineering
import train_model
from wallet_monitor.features import (
    CATALOG,
    GeoDatabaseError,
    Locator,
    build_features,
    load_logins,
    load_transactions,
    load_wallets,
    open_database,
)
from wallet_monitor.features.geoip import LOCATED, MALFORMED, UNKNOWN
from wallet_monitor.model import load_bundle

ROOT = Path(__file__).resolve().parents[2]
MAXMIND = ROOT / "tests" / "data" / "maxmind"
MAXMIND_FILES = [MAXMIND / "GeoIP2-Country-Test.mmdb", MAXMIND / "GeoIP2-City-Test.mmdb"]

# Networks of well-documented allocation, IPv4 and IPv6.
PUBLIC = [
    ("8.8.8.8", "US"),  # Google Public DNS (ARIN)
    ("2001:4860:4860::8888", "US"),  # Google Public DNS over IPv6
    ("193.0.14.129", "NL"),  # k.root-servers.net, run by the RIPE NCC in Amsterdam
    ("2001:7fd::1", "NL"),  # k.root-servers.net over IPv6
    ("202.12.29.205", "AU"),  # APNIC's own network in Brisbane
    ("::ffff:8.8.8.8", "US"),  # IPv4-mapped IPv6, as dual-stack servers log IPv4
]
# What MaxMind's test databases hold (their source-data JSON), real allocations all of them:
# the bundled registries' data places them in the same countries.
MAXMIND_TEST = [
    ("81.2.69.160", "GB"),
    ("89.160.20.128", "SE"),
    ("216.160.83.56", "US"),
    ("175.16.199.1", "CN"),
    ("2001:218::1", "JP"),
    ("2a02:d180::1", "DE"),
]
UNLOCATED = ["10.0.0.1", "192.168.1.1", "172.16.5.4", "127.0.0.1", "100.64.0.1", "169.254.1.1",
             "::1", "fe80::1", "2001:db8::1", "224.0.0.1"]
MALFORMED_TEXT = ["999.1.1.1", "abc", "1.2.3", "", None]
COUNTRY_FEATURES = [f.name for f in CATALOG if f.name.startswith("country_")] + [
    "travel_speed_log", "new_place_new_device"]


def _series(values) -> pd.Series:
    return pd.Series(values, dtype="string[pyarrow]").str.strip().replace("", pd.NA)


def _looked_up(database, addresses) -> list:
    looked, _ = Locator(database).lookup(_series(addresses))
    return [None if pd.isna(v) else v for v in looked]


@pytest.mark.parametrize(("address", "country"), PUBLIC + MAXMIND_TEST)
def test_the_bundled_database_places_known_public_addresses(address, country):
    assert _looked_up(open_database(), [address]) == [country]


@pytest.mark.parametrize("path", MAXMIND_FILES, ids=lambda p: p.stem)
def test_a_maxmind_database_places_the_addresses_of_its_test_data(path):
    database = open_database(path)
    assert database.info["database"] in ("GeoIP2-Country", "GeoIP2-City")
    addresses, countries = zip(*MAXMIND_TEST, strict=True)
    assert _looked_up(database, list(addresses)) == list(countries)
    # In neither test database: no country rather than a guess.
    assert _looked_up(database, ["8.8.8.8", "10.0.0.1"]) == [None, None]


@pytest.mark.parametrize("database", [None, *MAXMIND_FILES], ids=["bundled", "country", "city"])
def test_private_reserved_and_malformed_addresses_have_no_country_and_never_fail(database):
    locator = Locator(open_database(database))
    looked, status = locator.lookup(_series(UNLOCATED + MALFORMED_TEXT))
    assert looked.isna().all()
    assert status.tolist() == [UNKNOWN] * len(UNLOCATED) + [MALFORMED] * len(MALFORMED_TEXT)


def test_a_given_country_wins_and_the_log_counts_located_unknown_malformed_and_disagreeing(caplog):
    ip = _series(["8.8.8.8", "81.2.69.160", "10.0.0.1", "999.1.1.1", "abc", None, "2001:218::1"])
    given = _series([None, "FR", None, None, None, None, None])
    ids = pd.Series([f"t{i}" for i in range(7)], name="transaction_id")
    with caplog.at_level(logging.INFO, logger="wallet_monitor.features.geoip"):
        country = Locator().fill(ip, given, ids, "transactions")
    assert country.tolist()[:3] == ["US", "FR", pd.NA] and country.iloc[6] == "JP"
    summary = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(summary) == 1
    assert "for 3 of 7 rows (2 rows without a given country filled" in summary[0]
    assert "1 not located" in summary[0] and "3 malformed" in summary[0]
    assert "1 given countries disagree" in summary[0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["transactions: 3 rows have an ip_address that is no IP address (country "
                        "unknown): transaction_id 't3' ('999.1.1.1'), transaction_id 't4' ('abc'), "
                        "transaction_id 't5' (empty)"]


def test_malformed_rows_are_reported_once_per_run_not_again_when_read_again(caplog):
    locator = Locator()
    ip, given = _series(["abc", "8.8.8.8"]), _series([None, None])
    ids = pd.Series(["t1", "t2"], name="transaction_id")
    with caplog.at_level(logging.WARNING, logger="wallet_monitor.features.geoip"):
        locator.fill(ip, given, ids, "transactions")
        locator.fill(ip, given, ids, "transactions")  # a follower reads its retained rows again
    assert len(caplog.records) == 1


def test_each_distinct_address_is_looked_up_once():
    calls = []

    class Counting(type(open_database())):
        def _lookup(self, addresses):
            calls.append(list(addresses))
            return super()._lookup(addresses)

    locator = Locator(Counting())
    locator.lookup(_series(["8.8.8.8", "1.1.1.1", "8.8.8.8", None, "1.1.1.1"] * 1000))
    locator.lookup(_series(["1.1.1.1", "193.0.14.129"]))
    assert calls == [["8.8.8.8", "1.1.1.1"], ["193.0.14.129"]]


@pytest.mark.parametrize("name", ["transactions", "new_transactions", "logins"])
def test_on_generated_data_the_ip_gives_the_country_column(small_data_dir, name):
    frame = (load_logins if name == "logins" else load_transactions)(small_data_dir / f"{name}.csv")
    looked, status = Locator().lookup(frame["ip_address"].astype("string[pyarrow]"))
    agree = (looked.to_numpy() == frame["country"].to_numpy()).mean()
    assert (status == LOCATED).all()
    assert agree >= 0.95, f"{name}: derived country equals the column on {agree:.1%} of rows"


def test_country_features_from_ips_alone_match_those_from_the_country_column(small_data_dir):
    d = small_data_dir
    tx, logins = load_transactions(d / "transactions.csv"), load_logins(d / "logins.csv")
    wallets = load_wallets(d / "wallets.csv")
    given = build_features(tx, wallets=wallets, logins=logins)
    derived = build_features(tx.drop(columns="country"), wallets=wallets,
                             logins=logins.drop(columns="country"))
    for name in COUNTRY_FEATURES:
        a, b = given[name].to_numpy(), derived[name].to_numpy()
        either = (a != 0) | (b != 0)
        assert either.any(), name
        agree = np.isclose(a[either], b[either]).mean()
        assert agree >= 0.95, f"{name}: equal on {agree:.1%} of the rows where either is non-zero"


def test_open_database_names_a_missing_or_corrupt_file(tmp_path):
    with pytest.raises(GeoDatabaseError, match=f"{tmp_path / 'none.mmdb'}: GeoIP database not found"):
        open_database(tmp_path / "none.mmdb")
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(GeoDatabaseError, match=f"{bad}: not a readable MaxMind database"):
        open_database(bad)


@pytest.mark.parametrize("script", [feature_engineering, detect_anomalies])
@pytest.mark.parametrize("kind", ["missing", "corrupt"])
def test_scripts_refuse_a_bad_geoip_db_in_one_line(chain, tmp_path, capsys, script, kind):
    path = tmp_path / "GeoLite2-Country.mmdb"
    if kind == "corrupt":
        path.write_bytes(b"\x00" * 4096)
    args = ["--data-dir", str(chain / "data"), "--geoip-db", str(path)]
    if script is detect_anomalies:
        args += ["--models-dir", str(chain / "models"), "--no-alerts", "--no-figures",
                 "--reports-dir", str(tmp_path / "reports")]
    assert script.main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{script.PROG}: error: {path}: ")


def test_the_bundle_records_the_database_its_features_were_located_with(chain, tmp_path, caplog):
    data, models = tmp_path / "data", tmp_path / "models"
    data.mkdir()
    for name in ("wallets", "transactions", "new_transactions", "logins"):
        frame = pd.read_csv(chain / "data" / f"{name}.csv", dtype=str)
        frame.drop(columns="country", errors="ignore").to_csv(data / f"{name}.csv", index=False)
    mmdb = str(MAXMIND_FILES[0])
    assert feature_engineering.main(["--data-dir", str(data), "--geoip-db", mmdb]) == 0
    assert train_model.main(["--data-dir", str(data), "--models-dir", str(models),
                             "--reports-dir", str(tmp_path / "reports")]) == 0
    geoip = load_bundle(models / "fraud_model.pkl").metadata.geoip
    assert geoip["database"] == "GeoIP2-Country" and geoip["source"] == "GeoIP2-Country-Test.mmdb"
    detect_args = ["--data-dir", str(data), "--models-dir", str(models), "--no-alerts",
                   "--no-figures", "--reports-dir", str(tmp_path / "reports")]
    with caplog.at_level(logging.WARNING):
        assert detect_anomalies.main([*detect_args, "--geoip-db", mmdb]) == 0
    assert not [r for r in caplog.records if "may differ" in r.getMessage()]
    with caplog.at_level(logging.WARNING):
        assert detect_anomalies.main(detect_args) == 0  # the bundled database: another one
    assert [r for r in caplog.records if "may differ" in r.getMessage()]
