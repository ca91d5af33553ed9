"""detect_anomalies: evaluation and wallet scores by hand, and the batch chain through the CLIs."""

import json
import shutil

import joblib
import numpy as np
import pandas as pd
import pytest

import detect_anomalies as da
import feature_engineering as fe
import train_model as tm

SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]


def _detections(scores=SCORES, flagged=2):
    n = len(scores)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "wallet_id": ["w1", "w1", "w2", "w2", "w2", "w3", "w3", "w3", "w3", "w3"][:n],
            "timestamp": pd.date_range("2026-01-05", periods=n, freq="h", tz="UTC"),
            "fraud_score": scores,
            "is_anomaly": [i < flagged for i in range(n)],
            "reasons": [f"r{i}" for i in range(n)],
        }
    )


def test_evaluate_matches_a_hand_computed_example():
    labels = pd.DataFrame(
        {
            "transaction_id": ["t0", "t2", "gone"],
            "scenario": ["rapid_transfers", "account_takeover", "x"],
        }
    )
    m = da.evaluate(_detections(), labels, top_share=0.2)
    # Frauds at ranks 1 and 3 of 10: AP = (1/1 + 2/3) / 2; AUC: 8 + 7 of 16 pairs.
    assert m["rows"] == 10 and m["frauds"] == 2
    assert m["fraud_prevalence"] == pytest.approx(0.2)
    assert m["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["roc_auc"] == pytest.approx(15 / 16)
    assert m["alert_rate"] == pytest.approx(0.2)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["recall_top"] == pytest.approx(0.5)  # the top 2 rows hold one of the two frauds
    assert m["scenarios"] == {
        "account_takeover": {"n": 1, "recall": 0.0, "recall_top": 0.0},
        "rapid_transfers": {"n": 1, "recall": 1.0, "recall_top": 1.0},
    }


def test_evaluate_without_frauds_reports_no_ranking_metrics():
    m = da.evaluate(_detections(), pd.DataFrame({"transaction_id": [], "scenario": []}))
    assert m["average_precision"] is None and m["roc_auc"] is None and m["recall"] is None
    assert m["precision"] == 0.0


def test_wallet_scores_take_the_worst_transaction():
    d = _detections(flagged=3)
    w = da.wallet_scores(d).set_index("wallet_id")
    assert w.loc["w1"].tolist() == [0.9, 2, 2, "r0"]
    assert w.loc["w2"].tolist() == [0.7, 3, 1, "r2"]
    assert w.loc["w3"].tolist() == [0.4, 5, 0, "r5"]
    assert list(da.wallet_scores(d)["wallet_id"]) == ["w1", "w2", "w3"]


def test_alert_records_carry_the_alert_fields():
    d = _detections().assign(amount=12.5, type="transfer")
    records = da.alert_records(d, "iforest-test")
    assert [r["transaction_id"] for r in records] == ["t0", "t1"]
    assert records[0] == {
        "transaction_id": "t0",
        "wallet_id": "w1",
        "fraud_score": 0.9,
        "timestamp": "2026-01-05T00:00:00Z",
        "amount": 12.5,
        "type": "transfer",
        "reasons": "r0",
        "model_version": "iforest-test",
    }


# ------------------------------------------------------------------------ the real chain


@pytest.fixture(scope="module")
def chain(small_data_dir, tmp_path_factory):
    """The small generated set with features and a trained default model."""
    root = tmp_path_factory.mktemp("chain")
    data = root / "data"
    shutil.copytree(small_data_dir, data)
    assert fe.main(["--data-dir", str(data)]) == 0
    assert (
        tm.main(
            [
                "--data-dir",
                str(data),
                "--models-dir",
                str(root / "models"),
                "--reports-dir",
                str(root / "reports"),
            ]
        )
        == 0
    )
    return root


def _detect_args(root, *extra):
    return [
        "--data-dir",
        str(root / "data"),
        "--models-dir",
        str(root / "models"),
        "--reports-dir",
        str(root / "reports"),
        *extra,
    ]


@pytest.fixture(scope="module")
def detected(chain):
    assert da.main(_detect_args(chain, "--no-alerts")) == 0
    return chain


def test_cli_writes_detections_per_the_contract(detected):
    d = pd.read_csv(detected / "data" / "detections.csv", dtype=str, keep_default_na=False)
    new = pd.read_csv(detected / "data" / "new_transactions.csv", dtype=str)
    assert list(d.columns) == da.DETECTION_COLUMNS
    assert d["transaction_id"].tolist() == new["transaction_id"].tolist()
    assert d["fraud_score"].astype(float).between(0, 1).all()
    assert set(d["is_anomaly"]) <= {"True", "False"}
    assert d["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    flagged = d["is_anomaly"] == "True"
    assert (d.loc[flagged, "reasons"] != "").all() and (d.loc[~flagged, "reasons"] == "").all()


def test_cli_writes_wallet_scores_per_the_contract(detected):
    w = pd.read_csv(detected / "data" / "wallet_scores.csv")
    d = pd.read_csv(detected / "data" / "detections.csv")
    assert list(w.columns) == [
        "wallet_id",
        "wallet_score",
        "n_transactions",
        "n_anomalies",
        "reasons",
    ]
    assert w["n_transactions"].sum() == len(d)
    assert w["wallet_score"].is_monotonic_decreasing


def test_cli_reports_metrics_and_figures_when_labels_exist(detected):
    report = json.loads((detected / "reports" / "metrics.json").read_text())
    assert report["training"]["n_rows"] > 0
    assert report["evaluation"]["rows"] == report["detection"]["rows"]
    assert 0 <= report["evaluation"]["average_precision"] <= 1
    names = {p.name for p in (detected / "reports" / "figures").glob("*.png")}
    assert names == {"score_distribution.png", "alerts_per_hour.png", "scenario_recall.png"}


def test_detect_matches_the_cli(detected):
    bundle = tm.load_bundle(detected / "models" / "fraud_model.pkl")
    data = detected / "data"
    new = fe.load_transactions(data / "new_transactions.csv")
    out = da.detect(
        bundle,
        new,
        fe.load_transactions(data / "transactions.csv"),
        fe.load_wallets(data / "wallets.csv"),
        fe.load_logins(data / "logins.csv"),
    )
    cli = pd.read_csv(data / "detections.csv")
    assert out["fraud_score"].to_numpy() == pytest.approx(cli["fraud_score"].to_numpy())


def test_detect_refuses_a_model_trained_on_other_features(detected):
    bundle = tm.load_bundle(detected / "models" / "fraud_model.pkl")
    bundle["feature_names"] = [*bundle["feature_names"], "no_such_feature"]
    new = fe.load_transactions(detected / "data" / "new_transactions.csv")
    with pytest.raises(tm.BundleError, match="no_such_feature"):
        da.detect(bundle, new.head(20))


def test_cli_stale_model_gives_one_line_error(chain, tmp_path, capsys):
    bundle = joblib.load(chain / "models" / "fraud_model.pkl")
    bundle["metadata"]["format_version"] = 0
    joblib.dump(bundle, tmp_path / "fraud_model.pkl")
    rc = da.main(
        [
            "--data-dir",
            str(chain / "data"),
            "--models-dir",
            str(tmp_path),
            "--no-alerts",
            "--reports-dir",
            str(tmp_path / "reports"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert err.startswith("detect_anomalies.py: error: ") and "bundle format 0" in err
    assert "\n" not in err


def test_a_header_only_file_scores_nothing_and_succeeds(chain, tmp_path):
    header = (chain / "data" / "new_transactions.csv").read_text().splitlines()[0]
    empty = tmp_path / "empty.csv"
    empty.write_text(header + "\n")
    out = tmp_path / "out"
    shutil.copytree(chain / "data", out)
    args = ["--data-dir", str(out), "--models-dir", str(chain / "models"),
            "--reports-dir", str(tmp_path / "reports"), "--transactions", str(empty), "--no-alerts"]
    assert da.main(args) == 0
    d = pd.read_csv(out / "detections.csv")
    assert list(d.columns) == da.DETECTION_COLUMNS and d.empty


def test_the_prototype_format_flags_a_sane_share(small_data_dir, tmp_path):
    """wallets with 3 columns, transactions in generated_data.csv with 6, no logins."""
    data = tmp_path / "proto"
    data.mkdir()
    w = pd.read_csv(small_data_dir / "wallets.csv", dtype=str)
    w[["wallet_id", "kyc_verified", "registration_date"]].to_csv(data / "wallets.csv", index=False)
    cols = ["transaction_id", "wallet_id", "timestamp", "amount", "type", "ip_address"]
    for src, dst in (("transactions.csv", "generated_data.csv"),
                     ("new_transactions.csv", "new_transactions.csv")):
        pd.read_csv(small_data_dir / src, dtype=str)[cols].to_csv(data / dst, index=False)
    dirs = ["--data-dir", str(data), "--models-dir", str(tmp_path / "m"),
            "--reports-dir", str(tmp_path / "r")]
    assert fe.main(["--data-dir", str(data)]) == 0
    assert tm.main(dirs) == 0
    assert da.main([*dirs, "--no-alerts", "--no-figures"]) == 0
    d = pd.read_csv(data / "detections.csv")
    # The threshold flags about 2.5% of training-like traffic; a feature that drifts between
    # the periods once made it 29%.
    assert 0.005 < d["is_anomaly"].mean() < 0.08


# ------------------------------------------------------------------------------ episodes

_T = pd.Timestamp("2026-03-01 12:00", tz="UTC")
_M = pd.Timedelta(minutes=1)


def _rows(spec):
    """spec: (id, wallet, minutes after _T, type, counterparty or None, own score)."""
    return pd.DataFrame({
        "transaction_id": [r[0] for r in spec],
        "wallet_id": [r[1] for r in spec],
        "timestamp": [_T + r[2] * _M for r in spec],
        "type": [r[3] for r in spec],
        "counterparty_wallet_id": [r[4] for r in spec],
        "fraud_score": [r[5] for r in spec],
        "reasons": [f"why {r[0]}: x=1 (typical 0); more" if r[5] >= 0.975 else "" for r in spec],
    })


def _blend(trigger, own):
    e = lambda p: -np.log(1 - p)  # noqa: E731
    return 1 - np.exp(-(da.EPISODE_WEIGHT * e(trigger) + (1 - da.EPISODE_WEIGHT) * e(own)))


def test_the_transfers_before_a_flagged_fan_out_transfer_are_raised_with_it():
    rows = _rows([
        ("T0", "A", -90, "transfer", "X0", 0.9),   # before the window: stays
        ("T1", "A", 0, "transfer", "X1", 0.6),
        ("T2", "A", 10, "transfer", "X2", 0.8),
        ("T3", "A", 20, "transfer", "X3", 0.3),    # ordinary on its own: stays
        ("T4", "A", 30, "transfer", "X4", 0.999),  # flagged
        ("T5", "A", 40, "transfer", "X5", 0.6),    # after it: stays
        ("T6", "B", 15, "transfer", "X6", 0.9),    # another wallet: stays
        ("T7", "A", 25, "redeem", None, 0.9),      # another type, and no inflow: stays
        ("T8", "C", 0, "redeem", None, 0.6),       # before a barely flagged redemption:
        ("T9", "C", 50, "redeem", None, 0.98),     # raised, yet not to the threshold
    ])
    out = da.link_episodes(rows, threshold=0.975)
    want = rows["fraud_score"].to_numpy().copy()
    want[1], want[2], want[8] = _blend(0.999, 0.6), _blend(0.999, 0.8), _blend(0.98, 0.6)
    np.testing.assert_allclose(out["fraud_score"], want)
    assert out["linked_to"].tolist() == ["", "T4", "T4", "", "", "", "", "", "T9", ""]
    assert out["is_anomaly"].tolist() == [False, True, True, False, True, False, False, False,
                                          False, True]
    assert out.loc[2, "reasons"] == ("part of an episode: came before flagged transfer T4 "
                                     "(why T4: x=1 (typical 0))")
    assert out.loc[8, "reasons"] == ""  # raised, but still under the threshold


_FUND = int(da.EPISODE_FUNDING / pd.Timedelta(minutes=1))


def test_the_outflows_that_sent_on_a_flagged_deposit_are_raised_with_it():
    rows = _rows([
        ("DEP", "P", 0, "deposit", None, 0.999),         # flagged
        ("O1", "P", 20, "transfer", "Q", 0.9),            # sends it on: raised
        ("O2", "P", _FUND - 1, "redeem", None, 0.8),      # still within EPISODE_FUNDING: raised
        ("O3", "P", _FUND + 1, "redeem", None, 0.9),      # too late to be its funds: stays
        ("O4", "P", 30, "redeem", None, 0.3),             # ordinary on its own: stays
        ("DEP2", "R", 0, "deposit", None, 0.999),         # flagged, but...
        ("IN", "R", 10, "deposit", None, 0.2),            # ...a later ordinary inflow
        ("O5", "R", 20, "redeem", None, 0.9),             # is what this one sends on: stays
    ])
    out = da.link_episodes(rows, threshold=0.975)
    np.testing.assert_allclose(out["fraud_score"], [0.999, _blend(0.999, 0.9), _blend(0.999, 0.8),
                                                    0.9, 0.3, 0.999, 0.2, 0.9])
    assert out["linked_to"].tolist() == ["", "DEP", "DEP", "", "", "", "", ""]
    assert out.loc[1, "reasons"] == ("part of an episode: sent on funds of flagged deposit DEP "
                                     "(why DEP: x=1 (typical 0))")
    # The link needs nothing later than the raised row: the same without the rows after O1.
    early = da.link_episodes(rows.iloc[:2], threshold=0.975)
    assert early.loc[1, "fraud_score"] == out.loc[1, "fraud_score"]


def test_a_mule_chain_is_raised_back_to_its_opening_deposit():
    rows = _rows([
        ("D", "A", 0, "deposit", None, 0.95),
        ("AB", "A", 5, "transfer", "B", 0.6),
        ("BC", "B", 10, "transfer", "C", 0.999),  # the hop that gives it away
        ("X", "B", -200, "deposit", None, 0.9),   # an inflow long before: not the funding
    ])
    out = da.link_episodes(rows, threshold=0.975)
    ab = _blend(0.999, 0.6)
    assert ab >= 0.975  # flagged in the first pass, so it raises its own funding in the second
    np.testing.assert_allclose(out["fraud_score"], [_blend(ab, 0.95), ab, 0.999, 0.9])
    assert out["is_anomaly"].tolist() == [True, True, True, False]
    assert out["linked_to"].tolist() == ["AB", "BC", "", ""]
    assert out.loc[1, "reasons"].startswith("part of an episode: funded flagged transfer BC (why BC")
    assert out.loc[0, "reasons"] == "part of an episode: funded flagged transfer AB"


def _follow(trigger, own):
    e = lambda p: -np.log(1 - p)  # noqa: E731
    w = da.EPISODE_FOLLOW_WEIGHT
    return 1 - np.exp(-(w * e(trigger) + (1 - w) * e(own)))


_WITHIN = int(da.EPISODE_FOLLOW_WITHIN / pd.Timedelta(minutes=1))


def test_the_hop_whose_money_a_flagged_hop_sends_on_at_once_takes_nearly_all_its_evidence():
    # A mule chain: D -> AB -> BC -> CD, each hop passing on 90% of the last within minutes. Only
    # BC stands out; AB on its own (0.7) would stay under the threshold with the plain weight.
    spec = [
        ("D", "A", 0, "deposit", None, 0.35, 1000.0),
        ("AB", "A", 5, "transfer", "B", 0.7, 900.0),
        ("BC", "B", 10, "transfer", "C", 0.99, 810.0),
        ("CD", "C", 14, "transfer", "D", 0.4, 730.0),
        # The same shape, but each hop passes on too little of the last, or too late: plain links.
        ("E", "E", 0, "deposit", None, 0.35, 1000.0),
        ("EF", "E", 5, "transfer", "F", 0.7, 500.0),
        ("FG", "F", 10, "transfer", "G", 0.99, 300.0),              # 60% of its inflow
        ("GH", "G", 10 + _WITHIN + 1, "transfer", "H", 0.7, 290.0),  # a minute too late
        ("HI", "H", 10, "deposit", None, 0.7, 100.0),
        ("HJ", "H", 15, "transfer", "J", 0.99, 101.0),            # more than came in
    ]
    rows = _rows([r[:6] for r in spec]).assign(amount=[r[6] for r in spec])
    assert _blend(0.99, 0.7) < 0.975 <= _follow(0.99, 0.7)
    out = da.link_episodes(rows, threshold=0.975)
    ab = _follow(0.99, 0.7)
    want = [_follow(ab, 0.35), ab, 0.99, _follow(0.99, 0.4),
            0.35, _blend(0.99, 0.7), 0.99, _blend(0.99, 0.7), _blend(0.99, 0.7), 0.99]
    np.testing.assert_allclose(out["fraud_score"], want)
    assert out["linked_to"].tolist() == ["AB", "BC", "", "BC", "", "FG", "", "FG", "HJ", ""]
    assert out["is_anomaly"].tolist()[:4] == [True, True, True, True]
    assert out.loc[1, "reasons"].startswith(
        "part of an episode: funds sent on within minutes by flagged transfer BC (why BC")
    assert out.loc[3, "reasons"].startswith(
        "part of an episode: sent on within minutes funds of flagged transfer BC (why BC")
    # An ordinary row (under EPISODE_FOLLOW_MIN_SCORE) is never raised, followed or not; and
    # without amounts no link counts as money followed.
    low = rows.assign(fraud_score=np.where(rows["transaction_id"] == "D", 0.29, rows["fraud_score"]))
    assert da.link_episodes(low, threshold=0.975).loc[0, "fraud_score"] == 0.29
    plain = da.link_episodes(rows.drop(columns="amount"), threshold=0.975)
    assert plain.loc[1, "fraud_score"] == pytest.approx(_blend(0.99, 0.7))
    assert plain.loc[0, "fraud_score"] == 0.35
    assert plain.loc[3, "fraud_score"] == 0.4  # under EPISODE_MIN_SCORE: a plain link leaves it


def _follow_row_by_row(rows, threshold):
    """Feed rows (in time order) to a follower one at a time; returns it and the link it wrote
    last for each raised row."""
    episodes, last = da._Episodes(threshold), {}
    for k in range(len(rows)):
        row = rows.iloc[[k]].reset_index(drop=True)
        raised = episodes.add(row[["transaction_id", "wallet_id", "timestamp", "fraud_score",
                                   "reasons"]], row)
        last.update(zip(raised["transaction_id"], raised["linked_to"], strict=True))
    return episodes, last


def _series(trigger, own):
    e = lambda p: -np.log(1 - p)  # noqa: E731
    w = da.EPISODE_SERIES_WEIGHT
    return 1 - np.exp(-(w * e(trigger) + (1 - w) * e(own)))


_H = 60  # minutes
_BAND = da.EPISODE_SERIES_BAND


def _series_rows():
    spec = [
        ("S0", "W", -40 * _H, "deposit", None, 0.9, 9400.0),  # in S1's day, not T's: stays
        ("S1", "W", -20 * _H, "deposit", None, 0.9, 9500.0),  # a similar deposit that day: raised
        ("S2", "W", -3 * _H, "deposit", None, 0.6, 9000.0),   # raised
        ("S3", "W", -25 * _H, "deposit", None, 0.9, 9300.0),  # a day and an hour before: stays
        ("S4", "W", -2 * _H, "deposit", None, 0.9, 500.0),    # not a similar amount: stays
        ("S5", "W", -5 * _H, "deposit", None, 0.4, 9200.0),   # ordinary on its own: stays
        ("S6", "W", -4 * _H, "deposit", None, 0.9, 9300.0 * _BAND),  # the band's edge: raised
        ("S7", "W", -6 * _H, "deposit", None, 0.9, 9300.0 * _BAND + 1),  # just past it: stays
        ("R", "W", -3 * _H, "redeem", None, 0.9, 9300.0),     # not a deposit: stays
        ("V", "V", -3 * _H, "deposit", None, 0.9, 9300.0),    # another wallet: stays
        ("T", "W", 0, "deposit", None, 0.995, 9300.0),        # flagged
        ("S8", "W", 0, "deposit", None, 0.9, 9300.0),         # at the same time: not before it
    ]
    return _rows([r[:6] for r in spec]).assign(amount=[r[6] for r in spec])


def test_a_flagged_deposit_raises_the_similar_deposits_of_its_day_and_no_further():
    rows = _series_rows()
    out = da.link_episodes(rows, threshold=0.975)
    want = rows["fraud_score"].to_numpy().copy()
    want[1], want[2], want[6] = _series(0.995, 0.9), _series(0.995, 0.6), _series(0.995, 0.9)
    np.testing.assert_allclose(out["fraud_score"], want)
    assert out["linked_to"].tolist() == ["", "T", "T", "", "", "", "T", "", "", "", "", ""]
    assert out.loc[2, "reasons"] == ("part of an episode: one of a series of similar deposits "
                                     "before flagged deposit T (why T: x=1 (typical 0))")
    # S1 is flagged now, yet raises nothing in turn (S0, in the day before S1, stays).
    assert out.loc[1, "is_anomaly"] and out.loc[0, "fraud_score"] == 0.9
    # Without amounts there is no series.
    plain = da.link_episodes(rows.drop(columns="amount"), threshold=0.975)
    np.testing.assert_array_equal(plain["fraud_score"], rows["fraud_score"])


def test_the_follower_raises_a_series_a_day_back_and_after_a_restart(tmp_path):
    rows = _series_rows().sort_values(["timestamp", "transaction_id"], ignore_index=True)
    rows["counterparty_wallet_id"] = None
    want = da.link_episodes(rows, threshold=0.975).set_index(rows["transaction_id"])
    det_cols = ["transaction_id", "wallet_id", "timestamp", "fraud_score", "reasons"]
    final = rows.set_index("transaction_id")[["fraud_score"]].assign(linked_to="")
    cut = int(np.flatnonzero(rows["transaction_id"] == "S4")[0])  # stop before the last hours
    episodes, rises = da._Episodes(0.975), []
    for k in range(len(rows)):
        if k == cut:  # restart: a new follower rebuilt from what the first one wrote
            det_path, ep_path = tmp_path / "det.csv", tmp_path / "ep.csv"
            rows.iloc[:cut][det_cols].to_csv(det_path, index=False)
            pd.DataFrame(rises, columns=["transaction_id", "fraud_score", "linked_to"]).to_csv(
                ep_path, index=False)
            episodes = da._Episodes(0.975)
            episodes.restore(det_path, ep_path, rows.iloc[:cut])
            assert set(episodes.recent["transaction_id"]) >= {"S1", "S2"}  # kept for a series
        row = rows.iloc[[k]].reset_index(drop=True)
        raised = episodes.add(row[det_cols], row)
        rises += raised[["transaction_id", "fraud_score", "linked_to"]].values.tolist()
        final.loc[raised["transaction_id"], ["fraud_score", "linked_to"]] = raised[
            ["fraud_score", "linked_to"]].to_numpy()
    np.testing.assert_array_equal(final["fraud_score"], want.loc[final.index, "fraud_score"])
    assert final["linked_to"].tolist() == want.loc[final.index, "linked_to"].tolist()
    assert final.loc["S1", "linked_to"] == "T"  # raised 20 hours after it arrived


def test_a_series_link_equal_to_a_pass_link_names_the_earlier_row_as_the_follower_does():
    # S's redemption R (90% of it, minutes later) and its series deposit D raise it exactly as
    # much; D comes first (same time, smaller id), so the follower writes D first and keeps it.
    rows = _rows([
        ("S", "W", 0, "deposit", None, 0.9),
        ("D", "W", 10, "deposit", None, 0.995),
        ("R", "W", 10, "redeem", None, 0.995),
    ]).assign(amount=[100.0, 100.0, 90.0])
    want = da.link_episodes(rows, threshold=0.975)
    assert want["linked_to"].tolist() == ["D", "", ""]
    assert want.loc[0, "fraud_score"] == pytest.approx(_follow(0.995, 0.9))
    assert _follow(0.995, 0.9) == _series(0.995, 0.9)  # the two links tie
    _, last = _follow_row_by_row(rows, 0.975)
    assert last.get("S") == "D"


def test_linking_does_not_depend_on_row_order_and_never_lowers_a_score():
    rng = np.random.default_rng(5)
    n = 400
    rows = _rows([(f"T{i:03d}", f"W{rng.integers(8)}", int(rng.integers(0, 600)),
                   rng.choice(["deposit", "transfer", "redeem"]), f"W{rng.integers(8)}",
                   float(rng.choice([0.2, 0.6, 0.9, 0.98, 0.995]))) for i in range(n)])
    rows.loc[rows["type"] != "transfer", "counterparty_wallet_id"] = None
    out = da.link_episodes(rows, threshold=0.975)
    assert (out["fraud_score"] >= rows["fraud_score"]).all()
    assert (out["linked_to"] != "").sum() > 10
    shuffled = rows.sample(frac=1, random_state=1)
    again = da.link_episodes(shuffled, threshold=0.975).loc[rows.index]
    np.testing.assert_array_equal(again["fraud_score"], out["fraud_score"])
    # Only rows that were at least EPISODE_MIN_SCORE on their own ever rise.
    assert (out["fraud_score"] == rows["fraud_score"])[rows["fraud_score"] < da.EPISODE_MIN_SCORE].all()


def _random_rows(seed, n=300, wallets=6, minutes=400):
    rng = np.random.default_rng(seed)
    rows = _rows([(f"T{i:03d}", f"W{rng.integers(wallets)}", int(rng.integers(0, minutes)),
                   rng.choice(["deposit", "transfer", "redeem"]), f"W{rng.integers(wallets)}",
                   float(rng.choice([0.2, 0.6, 0.9, 0.98, 0.995]))) for i in range(n)])
    rows.loc[rows["type"] != "transfer", "counterparty_wallet_id"] = None
    rows["amount"] = rng.choice([80.0, 100.0, 100.0, 300.0], n)  # some pass most of an inflow on
    return rows


@pytest.mark.parametrize("seed", range(12))
def test_linking_is_the_same_in_any_row_order_even_with_equal_times(seed):
    rows = _random_rows(seed, minutes=60)  # many rows share a minute
    out = da.link_episodes(rows, threshold=0.975)
    for k in range(3):
        again = da.link_episodes(rows.sample(frac=1, random_state=k), threshold=0.975)
        pd.testing.assert_frame_equal(again.loc[rows.index], out)


def test_the_funding_inflow_is_the_latest_one_strictly_before_the_outflow():
    rows = _rows([
        ("OLD", "A", -25, "deposit", None, 0.9),    # not the latest: stays
        ("NEW", "A", -2, "deposit", None, 0.2),     # the latest, but ordinary: stays
        ("SAME", "A", 0, "deposit", None, 0.9),     # same time as the outflow: not before it
        ("OUT", "A", 0, "redeem", None, 0.999),
        ("SELF", "B", -5, "transfer", "B", 0.9),    # to itself: not an inflow
        ("OUTB", "B", 0, "transfer", "C", 0.999),
    ])
    out = da.link_episodes(rows, threshold=0.975)
    assert out["linked_to"].tolist() == ["", "", "", "", "OUTB", ""]  # SELF only as a same-type row
    np.testing.assert_array_equal(out["fraud_score"].to_numpy()[:4], [0.9, 0.2, 0.9, 0.999])


@pytest.mark.parametrize("seed", range(16))
def test_the_followers_episode_window_ends_where_linking_everything_ends(seed):
    # _Episodes gets the scored rows in arrival (time) order in random micro-batches, equal times
    # split across batches included; what it wrote last per row must be link_episodes of all.
    rng = np.random.default_rng(100 + seed)
    rows = _random_rows(seed, n=250, minutes=300).sort_values(["timestamp", "transaction_id"],
                                                              ignore_index=True)
    want = da.link_episodes(rows, threshold=0.975)
    episodes = da._Episodes(0.975)
    final = rows[["fraud_score", "reasons"]].assign(linked_to="")
    final.index = rows["transaction_id"]
    cuts = np.unique(np.r_[0, np.sort(rng.integers(1, len(rows), 40)), len(rows)])
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        part = rows.iloc[lo:hi]
        det = part[["transaction_id", "wallet_id", "timestamp", "fraud_score", "reasons"]]
        raised = episodes.add(det, part)
        final.loc[raised["transaction_id"], ["fraud_score", "reasons", "linked_to"]] = raised[
            ["fraud_score", "reasons", "linked_to"]].to_numpy()
    np.testing.assert_array_equal(final["fraud_score"].to_numpy(), want["fraud_score"].to_numpy())
    assert final["linked_to"].tolist() == want["linked_to"].tolist()
    flagged = want["is_anomaly"].to_numpy()
    assert final["reasons"].to_numpy()[flagged].tolist() == want["reasons"].to_numpy()[flagged].tolist()


def test_the_follower_keeps_a_link_whose_row_it_let_go_over_a_later_equal_one():
    # J's funds go on through L to X; J is let go before M arrives, and M raises X exactly as
    # much as L does. The batch path names L (the earlier), so the follower must keep it.
    rows = _rows([
        ("J", "A", 0, "deposit", None, 0.9),
        ("L", "A", 50, "transfer", "B", 0.6),
        ("X", "B", 100, "transfer", "C", 0.6),
        ("K", "B", 120, "deposit", None, 0.9),
        ("M", "B", 130, "transfer", "D", 0.6),
        # Late enough that J is let go even as a deposit a later series could raise.
        ("Z", "Q", int(da._SERIES_KEEP / _M) + 10, "deposit", None, 0.1),
        ("Z2", "Q", int(da._SERIES_KEEP / _M) + 11, "deposit", None, 0.1),
    ]).assign(amount=[1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0])  # M sends on more than K: plain links
    want = da.link_episodes(rows, threshold=0.8)
    assert want["linked_to"].tolist()[:5] == ["", "J", "L", "", "K"]
    episodes, last = _follow_row_by_row(rows, 0.8)
    assert "J" not in episodes.recent["transaction_id"].tolist()  # let go by the end
    assert {k: last.get(k, "") for k in rows["transaction_id"]} == dict(
        zip(rows["transaction_id"], want["linked_to"], strict=True))


def test_window_edges_are_inclusive_and_equal_links_name_the_earliest_row():
    rows = _rows([
        ("F", "D", -_FUND, "deposit", None, 0.9),  # exactly EPISODE_FUNDING before: funds OUT
        ("OUT", "D", 0, "redeem", None, 0.999),
        ("P", "E", -60, "transfer", "X", 0.6),     # exactly EPISODE_WINDOW before T1
        ("T1", "E", 0, "transfer", "Y", 0.99),
        ("T2", "E", 1, "transfer", "Z", 0.99),     # the same evidence, a minute later
        ("Q", "E", -61, "transfer", "X", 0.6),     # a minute too early for T1 and T2
        ("P2", "E", -30, "transfer", "X", 0.6),    # before both, raised alike: T1 is named
    ])
    out = da.link_episodes(rows, threshold=0.975)
    assert out["linked_to"].tolist() == ["OUT", "", "T1", "", "", "", "T1"]
    shuffled = da.link_episodes(rows.iloc[::-1], threshold=0.975).loc[rows.index]
    assert shuffled["linked_to"].tolist() == out["linked_to"].tolist()
