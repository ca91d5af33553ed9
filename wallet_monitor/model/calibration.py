"""Turning raw detector scores into probabilities, and detectors' evidence into one score.

A calibration is the empirical CDF of the training traffic's raw scores: a calibrated score p
is the share of training traffic that looks more normal. Each detector's p is read as
evidence -log(1 - p); `combine` turns the evidence of all detectors into one raw score, which
is calibrated once more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wallet_monitor.model.params import (
    CALIBRATION_POINTS,
    COMBINE_DECAY,
    COMBINE_SECOND_WEIGHT,
    CORRELATED_EVIDENCE,
    OCSVM_COMBINE_DECAY,
    VOLUME_DECAY,
)

COMBINE_METHODS = ("fisher", "max", "fisher+max", "top2", "top2+max", "lead+second", "decay")


@dataclass
class Calibration:
    """Sorted quantiles of training raw scores (`x`) and their levels (`y`), with a short
    exponential `tail` past the extremes."""

    x: np.ndarray
    y: np.ndarray
    tail: float

    @classmethod
    def fit(cls, raw: np.ndarray) -> Calibration:
        """Quantiles of `raw`; ties collapse to their mid level."""
        n = CALIBRATION_POINTS
        levels = (np.arange(n) + 0.5) / n
        q = np.quantile(raw, levels)
        xs, inverse = np.unique(q, return_inverse=True)
        ys = np.bincount(inverse, weights=levels) / np.bincount(inverse)
        spread = float(xs[-1] - xs[0])
        return cls(x=xs, y=ys, tail=spread / 10 if spread > 0 else 1.0)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """ECDF of the training raw scores: monotone in `raw`, strictly inside (0, 1)."""
        xs, ys, tail = self.x, self.y, self.tail
        out = np.interp(raw, xs, ys)
        # Past the training extremes the ECDF is flat; a short exponential tail keeps the
        # order of outliers beyond everything seen in training.
        hi = raw > xs[-1]
        if hi.any():  # (a small batch's rows mostly lie inside: no empty selections)
            out[hi] = ys[-1] + (1 - ys[-1]) * -np.expm1(-(raw[hi] - xs[-1]) / tail)
        lo = raw < xs[0]
        if lo.any():
            out[lo] = ys[0] * np.exp((raw[lo] - xs[0]) / tail)
        return out


def combine_weight(how: str, model: str = "iforest") -> float | None:
    """The weight a weighted combination keeps in the bundle (None for the others); the
    One-Class SVM decays faster (`OCSVM_COMBINE_DECAY`)."""
    decay = OCSVM_COMBINE_DECAY if model == "ocsvm" else COMBINE_DECAY
    return {"lead+second": COMBINE_SECOND_WEIGHT, "decay": decay}.get(how)


def detector_evidence(fam_scores: np.ndarray, evidence_from: float = 0.0) -> np.ndarray:
    """Each detector's upper-tail p-value (1 - calibrated score) read as evidence -log(p),
    counted only past the calibrated score `evidence_from`."""
    evidence = -np.log(np.maximum(1.0 - fam_scores, 1e-12))
    if evidence_from > 0:
        evidence = np.maximum(evidence + np.log(1.0 - evidence_from), 0.0)
    return evidence


def evidence_groups(fam_scores: np.ndarray, evidence_from: float = 0.0,
                    limit: float = CORRELATED_EVIDENCE, apart=None) -> list[int]:
    """Which detectors speak for the same rows: each detector's group number, detectors whose
    evidence on the training rows has a rank correlation of `limit` or more (directly or
    through another) sharing one. Learned from unlabelled rows, so each data set finds its own
    (the global forest and the velocity detector on every generator measured). Detectors
    marked in `apart` keep a group of their own: one that speaks only for rows without history
    is 0 on every other row, and two such correlate through that alone."""
    evidence = detector_evidence(fam_scores, evidence_from)
    # Spearman's: ties (half the rows share evidence 0) at their mid rank; a constant detector
    # correlates with none (NaN -> 0).
    corr = np.nan_to_num(pd.DataFrame(evidence).corr(method="spearman").to_numpy(), nan=0.0)
    if apart is not None:
        alone = np.asarray(apart, dtype=bool)
        corr[alone, :] = corr[:, alone] = 0.0
    group = list(range(evidence.shape[1]))
    for i, j in zip(*np.nonzero(np.triu(corr >= limit, k=1)), strict=True):
        old, new = group[j], group[i]
        group = [new if g == old else g for g in group]
    first = {}  # numbered in order of first appearance
    return [first.setdefault(g, len(first)) for g in group]


def volume_together(evidence: np.ndarray, groups: np.ndarray, volume: list[bool],
                    weight: float) -> np.ndarray:
    """`evidence`, one column per group, with the groups whose detectors all read volume in
    one column: their evidence from the largest down, each counting `weight` times the one
    before. Several ways of counting how busy a wallet is agree on a busy hour, legitimate or
    not; agreement counts where the detectors read different things (docs/QUALITY.md, tenth
    round)."""
    vol = np.asarray(volume, dtype=bool)
    together = np.array([vol[groups == k].all() for k in range(evidence.shape[1])])
    if together.sum() < 2:
        return evidence
    out = _decay_sum(-np.sort(-evidence[:, together], axis=1), weight)
    return np.column_stack([evidence[:, ~together], out])


def _decay_sum(ranked: np.ndarray, weight: float) -> np.ndarray:
    """Columns already ranked from the largest down, each counting `weight` times the one
    before it. Column by column, not `ranked @ w`: a matrix product's order of addition depends
    on the batch's size (BLAS kernels), so a row's last bits did too (a 1-row poll against a
    whole period, a Dask partition against the pandas engine); this is one order always."""
    out = np.zeros(len(ranked))
    for j, w in enumerate(weight ** np.arange(ranked.shape[1])):
        out += ranked[:, j] * w
    return out


def combine_scores(
    fam_scores: np.ndarray, how: str, cals: list[Calibration] | None = None,
    weight: float | None = None, evidence_from: float = 0.0, groups: list[int] | None = None,
    volume: list[bool] | None = None, volume_weight: float | None = None,
) -> tuple[np.ndarray, list[Calibration] | None]:
    """Combined raw score of the detectors' calibrated scores, and the calibrations it used;
    `weight` is what "lead+second" gives the second detector's evidence, or the ratio of
    "decay"; a detector's evidence counts only past the calibrated score `evidence_from`;
    with `groups` (`evidence_groups`), detectors of one group count once, as the group's
    largest evidence, in "decay"; with `volume` (each detector's `is_volume_detector`), the
    groups of volume detectors take one place in "decay" together, each after the largest
    counting `volume_weight` (default VOLUME_DECAY) times the one before it."""
    top = fam_scores.max(axis=1)
    evidence = detector_evidence(fam_scores, evidence_from)
    if how == "decay":
        g = np.arange(evidence.shape[1]) if groups is None else np.asarray(groups)
        if len(set(g)) < len(g):
            evidence = np.column_stack([evidence[:, g == k].max(axis=1)
                                        for k in range(g.max() + 1)])
        if volume is not None:
            evidence = volume_together(evidence, g, volume,
                                       VOLUME_DECAY if volume_weight is None else volume_weight)
    if how == "max":
        return top, None
    if how == "fisher":  # Fisher's method: the evidence of every detector
        return evidence.sum(axis=1), None
    ranked = -np.sort(-evidence, axis=1)  # the detectors from the most out of line down
    two = ranked[:, :2]
    if how in ("decay", "lead+second"):
        # Each detector counts `weight` times the one before it: all of them, or the first two.
        weight = combine_weight(how) if weight is None else weight
        return _decay_sum(ranked if how == "decay" else two, weight), None
    if how == "top2":  # both counted fully, without the single-detector branch
        return two.sum(axis=1), None
    # A sum of evidence alone ranks several moderately odd detectors above one detector far out
    # (whose p-value the calibration cannot take below ~1/rows); the larger of the two
    # calibrated statistics, the sum and the maximum, keeps both kinds at the top.
    if how == "fisher+max":
        summed = evidence.sum(axis=1)
    else:  # "top2+max": the two detectors most out of line, one far out or two agreeing
        summed = two.sum(axis=1)
    if cals is None:
        cals = [Calibration.fit(summed), Calibration.fit(top)]
    both = np.maximum(cals[0].apply(summed), cals[1].apply(top))
    return both, cals
