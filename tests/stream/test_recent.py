"""The follower's recent rows: linked again per batch, as the batch path links them."""

import numpy as np
import pandas as pd
import pytest

from tests._episode_support import _M, _follow, _random_rows, _rows, _series, _series_rows
from wallet_monitor.episodes import (
    link_episodes,
)
from wallet_monitor.stream.recent import SERIES_KEEP, RecentEpisodes
from wallet_monitor.stream.shard import scored_columns


def _follow_row_by_row(rows, threshold):
    """Feed rows (in time order) to a follower one at a time; returns it and the link it wrote
    last for each raised row."""
    episodes, last = RecentEpisodes(threshold), {}
    for k in range(len(rows)):
        row = rows.iloc[[k]].reset_index(drop=True)
        raised = episodes.add(row[["transaction_id", "wallet_id", "timestamp", "fraud_score",
                                   "reasons"]], row)
        last.update(zip(raised["transaction_id"], raised["linked_to"], strict=True))
    return episodes, last


def test_the_follower_raises_a_series_a_day_back_and_after_a_restart(tmp_path):
    rows = _series_rows().sort_values(["timestamp", "transaction_id"], ignore_index=True)
    rows["counterparty_wallet_id"] = None
    want = link_episodes(rows, threshold=0.975).set_index(rows["transaction_id"])
    det_cols = ["transaction_id", "wallet_id", "timestamp", "fraud_score", "reasons"]
    final = rows.set_index("transaction_id")[["fraud_score"]].assign(linked_to="")
    cut = int(np.flatnonzero(rows["transaction_id"] == "S4")[0])  # stop before the last hours
    episodes, rises = RecentEpisodes(0.975), []
    for k in range(len(rows)):
        if k == cut:  # restart: a new follower rebuilt from what the first one wrote
            det_path, ep_path = tmp_path / "det.csv", tmp_path / "ep.csv"
            rows.iloc[:cut][det_cols].to_csv(det_path, index=False)
            pd.DataFrame(rises, columns=["transaction_id", "fraud_score", "linked_to"]).to_csv(
                ep_path, index=False)
            episodes = RecentEpisodes(0.975)
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
    want = link_episodes(rows, threshold=0.975)
    assert want["linked_to"].tolist() == ["D", "", ""]
    assert want.loc[0, "fraud_score"] == pytest.approx(_follow(0.995, 0.9))
    assert _follow(0.995, 0.9) == _series(0.995, 0.9)  # the two links tie
    _, last = _follow_row_by_row(rows, 0.975)
    assert last.get("S") == "D"


@pytest.mark.parametrize("seed", range(16))
def test_the_followers_episode_window_ends_where_linking_everything_ends(seed):
    # _Episodes gets the scored rows in arrival (time) order in random micro-batches, equal times
    # split across batches included; what it wrote last per row must be link_episodes of all.
    rng = np.random.default_rng(100 + seed)
    rows = _random_rows(seed, n=250, minutes=300).sort_values(["timestamp", "transaction_id"],
                                                              ignore_index=True)
    want = link_episodes(rows, threshold=0.975)
    episodes = RecentEpisodes(0.975)
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
        ("Z", "Q", int(SERIES_KEEP / _M) + 10, "deposit", None, 0.1),
        ("Z2", "Q", int(SERIES_KEEP / _M) + 11, "deposit", None, 0.1),
    ]).assign(amount=[1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0])  # M sends on more than K: plain links
    want = link_episodes(rows, threshold=0.8)
    assert want["linked_to"].tolist()[:5] == ["", "J", "L", "", "K"]
    episodes, last = _follow_row_by_row(rows, 0.8)
    assert "J" not in episodes.recent["transaction_id"].tolist()  # let go by the end
    assert {k: last.get(k, "") for k in rows["transaction_id"]} == dict(
        zip(rows["transaction_id"], want["linked_to"], strict=True))



@pytest.mark.parametrize("seed", range(3))
def test_holds_names_exactly_the_transactions_of_the_kept_rows(seed):
    # A shard asks `holds` each poll instead of reading every kept row's id: it must follow the
    # rows in and out (rows let go, over a day and a half of batches).
    rows = _random_rows(seed, n=400, minutes=2200).sort_values(
        ["timestamp", "transaction_id"], ignore_index=True)
    episodes, seen, let_go = RecentEpisodes(0.975), [], 0
    for start in range(0, len(rows), 7):
        batch = rows.iloc[start:start + 7].reset_index(drop=True)
        episodes.add(batch, batch)
        seen += batch["transaction_id"].tolist()
        kept = set(episodes.recent["transaction_id"])
        assert [episodes.holds(t) for t in seen] == [t in kept for t in seen]
        let_go = max(let_go, len(seen) - len(kept))
    assert let_go > 100  # rows did leave


@pytest.mark.parametrize("seed", range(4))
def test_a_shard_links_scored_rows_as_the_follower_links_its_frames(seed):
    # A shard links the scored rows STREAM_SCORED brings (dicts, times as ISO text to the ns)
    # through `scored_columns`, without a frame: every batch must raise what the frames raise.
    rows = _random_rows(seed, n=300, minutes=400).sort_values(
        ["timestamp", "transaction_id"], ignore_index=True)
    rows["timestamp"] += pd.to_timedelta(np.arange(len(rows)) * 1_001, unit="ns")  # ns kept
    if seed % 2:  # a row published without a counterparty or an amount (an older version)
        rows.loc[::9, "counterparty_wallet_id"] = None
    by_frame, by_rows = RecentEpisodes(0.975), RecentEpisodes(0.975)
    raised = 0
    for start in range(0, len(rows), 11):
        batch = rows.iloc[start:start + 11].reset_index(drop=True)
        ts = np.char.add(np.datetime_as_string(
            batch["timestamp"].dt.tz_convert(None).to_numpy(), unit="ns"), "Z")
        dicts = [{**r, "timestamp": t} for r, t in zip(
            batch.astype(object).where(batch.notna(), None).to_dict("records"), ts.tolist(),
            strict=True)]
        if seed == 3 and start == 0:  # another time form: the slower parser, the same times
            dicts[0]["timestamp"] = batch["timestamp"][0].isoformat()
        want = by_frame.add(batch, batch)
        got = by_rows.add_columns(scored_columns(dicts))
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                      check_dtype=False)
        raised += len(want)
    pd.testing.assert_frame_equal(by_rows.recent, by_frame.recent, check_dtype=False)
    assert raised > 0  # rows were raised: the links were compared, not only the rows kept
