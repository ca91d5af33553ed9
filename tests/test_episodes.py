"""Episode linking: a flagged row raises the rows of its episode."""

from unittest import mock

import numpy as np
import pandas as pd
import pytest

from tests._episode_support import (
    _follow,
    _random_rows,
    _rows,
    _series,
    _series_rows,
)
from wallet_monitor import episodes
from wallet_monitor.episodes import (
    EPISODE_FOLLOW_WITHIN,
    EPISODE_FUNDING,
    EPISODE_MIN_SCORE,
    EPISODE_WEIGHT,
    EPISODE_WINDOW,
    link_episodes,
)


def _blend(trigger, own):
    e = lambda p: -np.log(1 - p)  # noqa: E731
    return 1 - np.exp(-(EPISODE_WEIGHT * e(trigger) + (1 - EPISODE_WEIGHT) * e(own)))


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
    out = link_episodes(rows, threshold=0.975)
    want = rows["fraud_score"].to_numpy().copy()
    want[1], want[2], want[8] = _blend(0.999, 0.6), _blend(0.999, 0.8), _blend(0.98, 0.6)
    np.testing.assert_allclose(out["fraud_score"], want)
    assert out["linked_to"].tolist() == ["", "T4", "T4", "", "", "", "", "", "T9", ""]
    assert out["is_anomaly"].tolist() == [False, True, True, False, True, False, False, False,
                                          False, True]
    assert out.loc[2, "reasons"] == ("part of an episode: came before flagged transfer T4 "
                                     "(why T4: x=1 (typical 0))")
    assert out.loc[8, "reasons"] == ""  # raised, but still under the threshold


_FUND = int(EPISODE_FUNDING / pd.Timedelta(minutes=1))


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
    out = link_episodes(rows, threshold=0.975)
    np.testing.assert_allclose(out["fraud_score"], [0.999, _blend(0.999, 0.9), _blend(0.999, 0.8),
                                                    0.9, 0.3, 0.999, 0.2, 0.9])
    assert out["linked_to"].tolist() == ["", "DEP", "DEP", "", "", "", "", ""]
    assert out.loc[1, "reasons"] == ("part of an episode: sent on funds of flagged deposit DEP "
                                     "(why DEP: x=1 (typical 0))")
    # The link needs nothing later than the raised row: the same without the rows after O1.
    early = link_episodes(rows.iloc[:2], threshold=0.975)
    assert early.loc[1, "fraud_score"] == out.loc[1, "fraud_score"]


def test_a_mule_chain_is_raised_back_to_its_opening_deposit():
    rows = _rows([
        ("D", "A", 0, "deposit", None, 0.95),
        ("AB", "A", 5, "transfer", "B", 0.6),
        ("BC", "B", 10, "transfer", "C", 0.999),  # the hop that gives it away
        ("X", "B", -200, "deposit", None, 0.9),   # an inflow long before: not the funding
    ])
    out = link_episodes(rows, threshold=0.975)
    ab = _blend(0.999, 0.6)
    assert ab >= 0.975  # flagged in the first pass, so it raises its own funding in the second
    np.testing.assert_allclose(out["fraud_score"], [_blend(ab, 0.95), ab, 0.999, 0.9])
    assert out["is_anomaly"].tolist() == [True, True, True, False]
    assert out["linked_to"].tolist() == ["AB", "BC", "", ""]
    assert out.loc[1, "reasons"].startswith("part of an episode: funded flagged transfer BC (why BC")
    assert out.loc[0, "reasons"] == "part of an episode: funded flagged transfer AB"


_WITHIN = int(EPISODE_FOLLOW_WITHIN / pd.Timedelta(minutes=1))


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
    out = link_episodes(rows, threshold=0.975)
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
    assert link_episodes(low, threshold=0.975).loc[0, "fraud_score"] == 0.29
    plain = link_episodes(rows.drop(columns="amount"), threshold=0.975)
    assert plain.loc[1, "fraud_score"] == pytest.approx(_blend(0.99, 0.7))
    assert plain.loc[0, "fraud_score"] == 0.35
    assert plain.loc[3, "fraud_score"] == 0.4  # under EPISODE_MIN_SCORE: a plain link leaves it


def test_a_flagged_deposit_raises_the_similar_deposits_of_its_day_and_no_further():
    rows = _series_rows()
    out = link_episodes(rows, threshold=0.975)
    want = rows["fraud_score"].to_numpy().copy()
    want[1], want[2], want[6] = _series(0.995, 0.9), _series(0.995, 0.6), _series(0.995, 0.9)
    np.testing.assert_allclose(out["fraud_score"], want)
    assert out["linked_to"].tolist() == ["", "T", "T", "", "", "", "T", "", "", "", "", ""]
    assert out.loc[2, "reasons"] == ("part of an episode: one of a series of similar deposits "
                                     "before flagged deposit T (why T: x=1 (typical 0))")
    # S1 is flagged now, yet raises nothing in turn (S0, in the day before S1, stays).
    assert out.loc[1, "is_anomaly"] and out.loc[0, "fraud_score"] == 0.9
    # Without amounts there is no series.
    plain = link_episodes(rows.drop(columns="amount"), threshold=0.975)
    np.testing.assert_array_equal(plain["fraud_score"], rows["fraud_score"])


def test_linking_does_not_depend_on_row_order_and_never_lowers_a_score():
    rng = np.random.default_rng(5)
    n = 400
    rows = _rows([(f"T{i:03d}", f"W{rng.integers(8)}", int(rng.integers(0, 600)),
                   rng.choice(["deposit", "transfer", "redeem"]), f"W{rng.integers(8)}",
                   float(rng.choice([0.2, 0.6, 0.9, 0.98, 0.995]))) for i in range(n)])
    rows.loc[rows["type"] != "transfer", "counterparty_wallet_id"] = None
    out = link_episodes(rows, threshold=0.975)
    assert (out["fraud_score"] >= rows["fraud_score"]).all()
    assert (out["linked_to"] != "").sum() > 10
    shuffled = rows.sample(frac=1, random_state=1)
    again = link_episodes(shuffled, threshold=0.975).loc[rows.index]
    np.testing.assert_array_equal(again["fraud_score"], out["fraud_score"])
    # Only rows that were at least EPISODE_MIN_SCORE on their own ever rise.
    assert (out["fraud_score"] == rows["fraud_score"])[rows["fraud_score"] < EPISODE_MIN_SCORE].all()


@pytest.mark.parametrize("seed", range(12))
def test_linking_is_the_same_in_any_row_order_even_with_equal_times(seed):
    rows = _random_rows(seed, minutes=60)  # many rows share a minute
    out = link_episodes(rows, threshold=0.975)
    for k in range(3):
        again = link_episodes(rows.sample(frac=1, random_state=k), threshold=0.975)
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
    out = link_episodes(rows, threshold=0.975)
    assert out["linked_to"].tolist() == ["", "", "", "", "OUTB", ""]  # SELF only as a same-type row
    np.testing.assert_array_equal(out["fraud_score"].to_numpy()[:4], [0.9, 0.2, 0.9, 0.999])


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
    out = link_episodes(rows, threshold=0.975)
    assert out["linked_to"].tolist() == ["OUT", "", "T1", "", "", "", "T1"]
    shuffled = link_episodes(rows.iloc[::-1], threshold=0.975).loc[rows.index]
    assert shuffled["linked_to"].tolist() == out["linked_to"].tolist()



_W = int(EPISODE_WINDOW / pd.Timedelta(minutes=1))


def test_a_flagged_transfer_raises_the_other_transfers_into_the_wallet_it_paid():
    # A fan-in: three wallets pay one collector within the hour, one of them plainly odd, and
    # the collector sends the money on. The same rows paying three different wallets (the
    # look-alike) stay as they were, and so do the same rows paying a wallet that keeps it.
    fan_in = [
        ("S1", "A", -30, "transfer", "C", 0.8),
        ("S2", "B", 0, "transfer", "C", 0.999),        # flagged
        ("S3", "D", _W, "transfer", "C", 0.7),         # the window's edge, after it: raised
        ("S4", "E", -2 * _W, "transfer", "C", 0.9),    # an hour before S1's hour: stays
        ("S5", "F", 10, "transfer", "C", 0.3),         # ordinary on its own: stays
        ("S6", "C", 5, "deposit", None, 0.9),          # the collector's own deposit: stays
        ("OUT", "C", _W - 20, "redeem", None, 0.2),     # sends on, within the hour after S2
    ]
    look_alike = [(f"L{k}", w, m, t, "X" + str(k), s)
                  for k, (_, w, m, t, _, s) in enumerate(fan_in[:3])]
    rows = _rows(fan_in + look_alike)
    out = link_episodes(rows, threshold=0.975)
    want = rows["fraud_score"].to_numpy().copy()
    want[0], want[2] = _blend(0.999, 0.8), _blend(0.999, 0.7)
    np.testing.assert_allclose(out["fraud_score"], want)
    assert out["linked_to"].tolist() == ["S2", "", "S2", "", "", "", "", "", "", ""]
    assert out.loc[2, "reasons"] == ("part of an episode: paid the same wallet within the hour as "
                                     "flagged transfer S2 (why S2: x=1 (typical 0))")
    # the planted fan-in's senders rank above the look-alike's
    assert min(out.loc[[0, 2], "fraud_score"]) > max(out.loc[[7, 9], "fraud_score"])
    # a wallet that keeps what it is paid (a merchant) raises nothing; one minute more and OUT
    # is past the hour after S2
    for keeps in (rows.drop(index=6), rows.assign(timestamp=rows["timestamp"].where(
            rows.index != 6, rows.loc[6, "timestamp"] + pd.Timedelta(minutes=21)))):
        assert link_episodes(keeps, threshold=0.975)["linked_to"].eq("").all()


@pytest.mark.parametrize("trigger", [0.975, 0.974999])
def test_a_row_exactly_at_the_threshold_raises_its_episode_and_one_under_it_raises_none(trigger):
    # Linking is skipped where no row reaches the threshold: at it, a row still triggers.
    rows = _rows([("T1", "A", 0, "transfer", "X1", 0.6),
                  ("T2", "A", 10, "transfer", "X2", trigger)])
    out = link_episodes(rows, threshold=0.975)
    raised = trigger >= 0.975
    assert out["linked_to"].tolist() == (["T2", ""] if raised else ["", ""])
    assert out["fraud_score"].iloc[0] == (_blend(trigger, 0.6) if raised else 0.6)


@pytest.mark.parametrize("seed", range(8))
def test_the_searches_keyed_by_time_offsets_find_what_ranked_times_find(seed):
    # The passes key (group, time) by the time's offset within the group's band; the general
    # way (the times' ranks) is taken where those bands would overflow int64. Both the same,
    # with equal times, missing types and counterparties, and a long period (days apart).
    rows = _random_rows(seed, minutes=60 if seed % 2 else 4000)
    rows.loc[rows.index[::9], "type"] = None
    out = link_episodes(rows, threshold=0.975)
    assert (out["linked_to"] != "").sum() > 0
    with mock.patch.object(episodes, "_KEY_LIMIT", 0):  # every search by ranks
        pd.testing.assert_frame_equal(link_episodes(rows, threshold=0.975), out)


def test_types_coded_by_a_dict_are_the_codes_factorize_gives():
    for values in (np.array(["b", "a", "b", "c", "a"], dtype=object),
                   np.array(["b", None, "a", np.nan, "b"], dtype=object),
                   np.array([], dtype=object)):
        codes, n = episodes._codes(values)
        want, uniques = pd.factorize(values)
        np.testing.assert_array_equal(codes, want)
        assert n == len(uniques)
