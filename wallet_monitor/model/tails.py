"""Tail scores: how rare a value is on its feature's suspicious side.

A feature's tail score is -log of the share of training traffic at least as extreme on its
suspicious side (3 = 1 in 20, 7 = 1 in 1000); two-sided features take the smaller tail,
doubled so the median scores 0. Reasons rank features by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wallet_monitor.features.catalog import FEATURE_DIRECTIONS
from wallet_monitor.model.params import TAIL_GRID


def suspicious_sides(names: list[str], given: dict[str, int] | None = None) -> np.ndarray:
    """Each feature's suspicious side, +1 when unknown (the side of every count, sum and ratio)."""
    given = FEATURE_DIRECTIONS if given is None else given
    return np.array([float(np.sign(given.get(c, 1))) for c in names])


@dataclass
class Tails:
    """Per feature: a value grid with log P(X >= v) and log P(X <= v) on training rows."""

    grid: list[np.ndarray]
    log_ge: list[np.ndarray]
    log_le: list[np.ndarray]
    floor: float
    scale_hi: np.ndarray
    scale_lo: np.ndarray
    direction: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, direction: np.ndarray) -> Tails:
        n = len(X)
        grids, log_ge, log_le, scale_hi, scale_lo = [], [], [], [], []
        floor = np.log(0.5 / n)
        for j in range(X.shape[1]):
            s = np.sort(X[:, j])
            u = np.unique(s)
            if len(u) > TAIL_GRID:
                u = np.unique(s[np.linspace(0, n - 1, TAIL_GRID).astype(np.int64)])
            ge = 1.0 - np.searchsorted(s, u, "left") / n
            le = np.searchsorted(s, u, "right") / n
            grids.append(u)
            log_ge.append(np.maximum(np.log(ge), floor))
            log_le.append(np.maximum(np.log(np.maximum(le, 1e-300)), floor))
            med = s[n // 2]
            # Beyond the training extremes, distance in units of the extreme's distance from
            # the median keeps the order of new outliers (40 after 7 ranks above 45 after 16).
            scale_hi.append(max(float(s[-1] - med), 1e-9))
            scale_lo.append(max(float(med - s[0]), 1e-9))
        return cls(grid=grids, log_ge=log_ge, log_le=log_le, floor=float(floor),
                   scale_hi=np.array(scale_hi), scale_lo=np.array(scale_lo), direction=direction)

    def scores(self, X: np.ndarray) -> np.ndarray:
        """-log tail probability of each value in its feature's suspicious direction, >= 0."""
        # One interpolation per feature and side; the rest for all features at once (a
        # flagged batch's reasons paid ~6 numpy calls per feature; the same values).
        hi, lo = np.zeros(X.shape), np.zeros(X.shape)
        d, floor = self.direction, self.floor
        for j, u in enumerate(self.grid):
            if d[j] >= 0:
                hi[:, j] = -np.interp(X[:, j], u, self.log_ge[j], left=0.0, right=floor)
            if d[j] <= 0:
                lo[:, j] = -np.interp(X[:, j], u, self.log_le[j], left=floor, right=0.0)
        top = np.broadcast_to([u[-1] for u in self.grid], X.shape)
        bottom = np.broadcast_to([u[0] for u in self.grid], X.shape)
        over = (X > top) & (d >= 0)
        if over.any():
            hi[over] += np.log1p((X[over] - top[over])
                                 / np.broadcast_to(self.scale_hi, X.shape)[over])
        under = (X < bottom) & (d <= 0)
        if under.any():
            lo[under] += np.log1p((bottom[under] - X[under])
                                  / np.broadcast_to(self.scale_lo, X.shape)[under])
        both = np.maximum(np.maximum(hi, lo) - np.log(2.0), 0.0)
        return np.where(d > 0, hi, np.where(d < 0, lo, both))
