"""How detectors' evidence combines."""

import numpy as np
import pytest

from wallet_monitor.model.calibration import combine_scores, evidence_groups


def test_lead_plus_second_adds_part_of_the_second_detectors_evidence():
    fam = np.array([[0.9, 0.99, 0.5], [0.5, 0.5, 0.5]])
    raw, cals = combine_scores(fam, "lead+second", weight=0.6)
    assert cals is None
    assert raw[0] == pytest.approx(-np.log(0.01) - 0.6 * np.log(0.1))
    assert raw[1] == pytest.approx(-1.6 * np.log(0.5))


def test_decay_counts_each_detector_half_as_much_as_the_one_before():
    fam = np.array([[0.9, 0.99, 0.5, 0.999], [0.5, 0.5, 0.5, 0.5]])
    raw, cals = combine_scores(fam, "decay", weight=0.5)
    assert cals is None
    e = -np.log([0.001, 0.01, 0.1, 0.5])  # from the most out of line down
    assert raw[0] == pytest.approx(e[0] + e[1] / 2 + e[2] / 4 + e[3] / 8)
    assert raw[1] == pytest.approx(-np.log(0.5) * (1 + 1 / 2 + 1 / 4 + 1 / 8))
    # With two detectors it is "lead+second" at the same weight.
    two = fam[:, [1, 2]]
    np.testing.assert_allclose(combine_scores(two, "decay", weight=0.6)[0],
                               combine_scores(two, "lead+second", weight=0.6)[0])



@pytest.mark.parametrize("how", ["decay", "lead+second"])
@pytest.mark.parametrize("n_detectors", [2, 13, 14, 17])
def test_a_rows_combined_score_is_the_same_bits_alone_or_in_any_batch(how, n_detectors):
    # A follower scores a row in a poll of one, the batch path in a whole period, the Dask engine
    # in a partition: the combined score must not depend on the batch (a matrix product's order
    # of addition did, by the last bits: the Dask engine's detections then differed).
    rng = np.random.default_rng(n_detectors)
    fam = rng.random((2500, n_detectors)) ** 0.2  # mostly near 1: large evidence, many bits
    whole, _ = combine_scores(fam, how, weight=0.55)
    for size in (1, 3, 64, 1000):
        parts = np.concatenate([combine_scores(fam[i:i + size], how, weight=0.55)[0]
                                for i in range(0, len(fam), size)])
        assert parts.tobytes() == whole.tobytes(), size


def test_detectors_that_speak_for_the_same_training_rows_share_a_group():
    # Issue 18i: a copy of a detector (the global forest leaning on the velocity one) is not a
    # second opinion; an independent detector, or one merely related, keeps its own group.
    rng = np.random.default_rng(0)
    a, c, d = rng.random((3, 20_000))
    related = np.where(rng.random(20_000) < 0.3, a, rng.random(20_000))  # rank correlation ~0.3
    fam = np.column_stack([a, c, a ** 2, d, related])  # a ** 2: the same ranks as a
    assert evidence_groups(fam, evidence_from=0.5) == [0, 1, 0, 2, 3]
    assert evidence_groups(fam, evidence_from=0.5, limit=0.2) == [0, 1, 0, 2, 0]


def test_a_group_counts_once_so_two_behaviours_outrank_one_counted_twice():
    # Row 0 is far out in one behaviour that two detectors read; row 1 is out in two
    # independent behaviours. Counted detector by detector the copy looks like agreement.
    fam = np.array([[0.999, 0.999, 0.5, 0.5], [0.5, 0.5, 0.995, 0.995]])
    grouped, _ = combine_scores(fam, "decay", weight=0.55, evidence_from=0.5, groups=[0, 0, 1, 2])
    plain, _ = combine_scores(fam, "decay", weight=0.55, evidence_from=0.5)
    assert grouped[1] > grouped[0]
    assert plain[0] > plain[1]
    e = np.log(0.5 / 0.001)  # the group's evidence, counted once
    assert grouped[0] == pytest.approx(e)
    # Without shared groups it is plain decay.
    np.testing.assert_array_equal(
        combine_scores(fam, "decay", weight=0.55, evidence_from=0.5, groups=[0, 1, 2, 3])[0], plain)


def test_detectors_marked_apart_keep_their_own_group():
    # Two detectors that speak only for rows without history are both 0 on every other row:
    # correlated through that gate alone, they stay apart when marked so.
    rng = np.random.default_rng(1)
    history = rng.random(20_000) < 0.8
    a, b, c = (np.where(history, 0.0, rng.random(20_000)) for _ in range(3))
    fam = np.column_stack([a, b, c])
    assert evidence_groups(fam, evidence_from=0.0) == [0, 0, 0]
    assert evidence_groups(fam, evidence_from=0.0, apart=[True, True, False]) == [0, 1, 2]


def test_volume_detectors_take_one_place_so_a_busy_hour_counts_less_than_what_plus_how_many():
    # Issue 18j: row 0 is far out in three detectors that count the wallet's events (a busy
    # wallet's busy hour); row 1 in one of them and in a detector of the row's content (an odd
    # amount). Counted detector by detector the three counts look like three behaviours agreeing.
    fam = np.array([[0.999, 0.999, 0.999, 0.5], [0.999, 0.5, 0.5, 0.999]])
    volume = [True, True, True, False]
    together, _ = combine_scores(fam, "decay", weight=0.55, evidence_from=0.5, volume=volume,
                                 volume_weight=0.3)
    plain, _ = combine_scores(fam, "decay", weight=0.55, evidence_from=0.5)
    assert together[1] > together[0]
    assert plain[0] > plain[1]
    e = np.log(0.5 / 0.001)
    assert together[0] == pytest.approx(e * (1 + 0.3 + 0.09))  # one place: 1, 0.3, 0.3 ** 2
    assert together[1] == pytest.approx(e * (1 + 0.55))  # volume and content: two places
    # No volume detector, or one alone: plain decay (a bundle saved before has none).
    for alone in ([False] * 4, [True, False, False, False]):
        np.testing.assert_array_equal(
            combine_scores(fam, "decay", weight=0.55, evidence_from=0.5, volume=alone)[0], plain)


def test_volume_detectors_join_after_their_correlation_groups():
    # A group counts as volume only when all its detectors read volume; the group's largest
    # evidence is what joins the volume place.
    fam = np.array([[0.999, 0.999, 0.99, 0.5]])
    e = np.log(0.5 / np.array([0.001, 0.01]))
    out, _ = combine_scores(fam, "decay", weight=0.55, evidence_from=0.5, groups=[0, 0, 1, 2],
                            volume=[True, True, True, False], volume_weight=0.3)
    assert out[0] == pytest.approx(e[0] + 0.3 * e[1])
    mixed, _ = combine_scores(fam, "decay", weight=0.55, evidence_from=0.5, groups=[0, 0, 1, 2],
                              volume=[True, False, True, False], volume_weight=0.3)
    assert mixed[0] == pytest.approx(e[0] + 0.55 * e[1])


def test_which_detectors_read_volume_is_decided_by_their_features():
    from wallet_monitor.model.families import DETECTOR_FAMILIES, is_volume_detector

    volume = {fam for fam, cols in DETECTOR_FAMILIES.items() if is_volume_detector(cols)}
    assert volume == {"velocity", "counterparties", "bursts", "redemptions", "redemption day",
                      "deposits", "inflow day"}
    assert not is_volume_detector(["amount_log", "tx_count_1h_log"])  # half is not most
