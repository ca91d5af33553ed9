"""Every forest of a bundle stacked for one compiled walk per batch.

Scoring a small batch detector by detector paid a compiled call, a float32 copy and a few numpy
calls per forest (~0.1 ms each, most of a 1-10-row batch's scoring). `StackedForests` lays the
bundle's packed forests end to end, their feature numbers turned into the bundle's columns, one
8-byte record per node (`compiled.NODE`), so one call walks every tree for every row. The values
are the per-detector path's bit for bit: the same clamped columns as float32, each float64
threshold taken down to the largest float32 at or under it (for a float32 x, x <= t exactly when
x <= that float32), the leaves' addends summed per row in tree order
(tests/model/test_stacked.py). Why and how fast: docs/DECISIONS.md.
"""

from __future__ import annotations

import weakref

import numpy as np

from wallet_monitor.model.bundle import ModelBundle
from wallet_monitor.model.compiled import NODE, stacked_walk
from wallet_monitor.model.detectors import packed_forest
from wallet_monitor.model.params import PARALLEL_MIN_ROWS, RAW_DECIMALS


class StackedForests:
    """The forests of detectors `detectors` (positions in the bundle) as one set of trees."""

    def __init__(self, bundle: ModelBundle):
        self.signature = _signature(bundle)
        col = {c: j for j, c in enumerate(bundle.feature_names)}
        self.detectors, packed = [], []
        for k, d in enumerate(bundle.detectors):
            forest = d.pipeline.named_steps.get("forest")
            p = None if forest is None else packed_forest(forest)
            if (p is None or d.input != "raw" or len(d.pipeline.steps) != 1
                    or forest.n_features_in_ != len(d.features) or not _fits(p, col)):
                continue  # scored on its own, as before
            self.detectors.append(k)
            packed.append((np.array([col[c] for c in d.features], dtype=np.intp), p))
        self.columns = np.unique(np.concatenate([idx for idx, _ in packed])) if packed else None
        clamps = [(col[c], lo, hi) for c, (lo, hi) in bundle.input_clamps.items() if c in col]
        self.clamp_cols = np.array([j for j, _, _ in clamps], dtype=np.intp)
        self.clamp_lo = np.array([lo for _, lo, _ in clamps], dtype=np.float64)
        self.clamp_hi = np.array([hi for _, _, hi in clamps], dtype=np.float64)
        self._stack(packed)

    def _stack(self, packed: list) -> None:
        n_trees = sum(len(p.left) for _, p in packed)
        width = max((p.left.shape[1] for _, p in packed), default=1)
        self.nodes = np.zeros((n_trees, width), dtype=NODE)
        self.nodes["threshold"] = -np.inf  # unused slots: leaves
        self.nodes["right"] = np.arange(width)
        self.leaf_depth = np.zeros((n_trees, width))
        self.forest = np.zeros(n_trees, dtype=np.intp)
        self.denominator = np.array([p.denominator for _, p in packed], dtype=np.float64)
        self.levels = max((p.levels for _, p in packed), default=0)
        k = 0
        for f, (idx, p) in enumerate(packed):
            t, w = p.left.shape
            at = np.arange(w)
            split = p.left > at  # a leaf points at itself, an unused slot at 0
            view = self.nodes[k:k + t, :w]
            view["threshold"] = np.where(split, _float32_down(p.threshold), -np.inf)
            view["feature"] = np.where(split, idx[p.feature], 0)
            view["right"] = np.where(split, p.right, at)
            self.leaf_depth[k:k + t, :w] = p.leaf_depth
            self.forest[k:k + t] = f
            k += t

    def raw_anomaly(self, X: np.ndarray) -> np.ndarray | None:
        """`raw_anomaly` of every stacked detector, one column each, for feature rows X in the
        bundle's column order; None where the per-detector path must score (a value the
        forests' columns hold is not finite once clamped: sklearn scores those)."""
        walk = stacked_walk()
        if walk is None or not len(self.detectors):
            return None
        Xc = X.copy()
        Xc[:, self.clamp_cols] = np.clip(X[:, self.clamp_cols], self.clamp_lo, self.clamp_hi)
        X32 = Xc.astype(np.float32)
        if not np.isfinite(X32[:, self.columns]).all():  # finite float64 beyond float32: inf
            return None
        depths = walk(X32, self.nodes, self.leaf_depth, self.forest, self.levels,
                      len(self.detectors))
        den = self.denominator
        raw = 2 ** -np.divide(depths, den, out=np.ones_like(depths), where=den != 0)
        return np.round(raw, RAW_DECIMALS)


def _fits(p, col: dict) -> bool:
    """Whether a packed forest fits the stacked walk's nodes: every left child the next node
    (sklearn's depth-first numbering), node and column numbers within int16."""
    at = np.arange(p.left.shape[1])
    split = p.left > at
    small = max(p.left.shape[1], len(col)) <= np.iinfo(np.int16).max
    return small and bool((p.left == at + 1)[split].all())


def _signature(bundle: ModelBundle) -> tuple:
    """What the stack is built from: the columns, the clamps, each detector's input, columns
    and fitted trees (a forest refitted has new estimators_)."""
    return (tuple(bundle.feature_names), tuple(bundle.input_clamps.items()),
            tuple((d.input, tuple(d.features), d.pipeline,  # objects, compared by identity
                   *(getattr(step, "estimators_", None) for _, step in d.pipeline.steps))
                  for d in bundle.detectors))


def _float32_down(threshold: np.ndarray) -> np.ndarray:
    """Each threshold as the largest float32 at or under it."""
    with np.errstate(over="ignore"):  # past float32's range: inf, taken down below
        t32 = threshold.astype(np.float32)
    over = t32.astype(np.float64) > threshold
    t32[over] = np.nextafter(t32[over], np.float32(-np.inf))
    return t32


# id(bundle) -> (a weak reference to it, its stacked forests)
_STACKS: dict[int, tuple] = {}


def stacked_forests(bundle: ModelBundle, n_rows: int) -> StackedForests | None:
    """The bundle's stacked forests (built once per bundle, again after a refit), or None where
    the per-detector path scores: no compiled walk, no rows, or sklearn's threads from
    PARALLEL_MIN_ROWS."""
    if not 0 < n_rows < PARALLEL_MIN_ROWS or stacked_walk() is None:
        return None
    ref, stack = _STACKS.get(id(bundle), (None, None))
    if ref is None or ref() is not bundle or stack.signature != _signature(bundle):
        stack = StackedForests(bundle)
        key = id(bundle)
        _STACKS[key] = (weakref.ref(bundle, lambda _, key=key: _STACKS.pop(key, None)), stack)
    return stack
