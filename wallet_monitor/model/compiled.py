"""The packed forest's walk compiled with numba, when numba is there.

`forest_walk()` returns the compiled walk of one forest, `stacked_walk()` the walk of several
forests laid end to end (model/stacked.py), or None where numba is missing or cannot compile
them (the caller then walks in numpy, `PackedForest`'s own path). numba is imported on first
use, never at import time, and the compiled code is cached on disk (`cache=True`), so only the
first process on a machine pays the compile. Both walks are the numpy walk's arithmetic
exactly: the same float32 inputs compared with the thresholds, the leaves' addends summed per
row in tree order, so scores are bit for bit the same (tests/model/test_compiled.py).
"""

from __future__ import annotations

import logging
import os

import numpy as np

logger = logging.getLogger(__name__)

# Set to 1 to walk in numpy even where numba is installed (a comparison, or a broken install).
DISABLE_ENV = "WALLET_MONITOR_NO_NUMBA"
_WALK: list = []  # [the compiled walk or None], filled on first use
_STACKED: list = []  # [the compiled stacked walk or None], filled on first use
# A node of the stacked walk: its split (a leaf: -inf, so every row goes right), the column it
# reads and its right child; its left child is the next node (sklearn numbers depth first).
NODE = np.dtype([("threshold", np.float32), ("feature", np.int16), ("right", np.int16)])
# Trees the stacked walk steps through side by side for one row: independent chains of loads
# the CPU overlaps (8-32 measured alike; 1 is ~4x slower, docs/DECISIONS.md).
LANES = 16


def forest_walk():
    """The compiled walk `(X32, left, right, feature, threshold, leaf_depth, levels) -> depths`,
    or None."""
    if not _WALK:
        _WALK.append(None if os.environ.get(DISABLE_ENV) == "1"
                     else _guarded(_compile, "the forest walk", "walking in numpy"))
    return _WALK[0]


def stacked_walk():
    """The compiled walk of stacked forests `(X32, nodes (NODE records), leaf_depth, forest,
    levels, n_forests) -> depths (rows, forests)`, or None (always None when `forest_walk()`
    is)."""
    if forest_walk() is None:
        return None
    if not _STACKED:
        _STACKED.append(_guarded(_compile_stacked, "the stacked walk",
                                 "forests walked one by one"))
    return _STACKED[0]


def _guarded(compile_walk, what: str, fallback: str):
    """`compile_walk()` (which compiles, or loads from the cache, now: a failure falls back
    here, not mid-stream), or None where numba fails at any step (no writable cache folder for
    `cache=True` at decoration, a broken install, a compile error): the caller's fallback."""
    try:
        return compile_walk()
    except Exception as exc:  # noqa: BLE001 - any numba failure means: the fallback
        logger.warning("numba could not compile %s (%s); %s", what, exc, fallback)
        return None


def _compile():
    try:
        import numba
        import numpy as np
    except ImportError:
        return None

    @numba.njit(cache=True, nogil=True)
    def walk(X, left, right, feature, threshold, leaf_depth, levels):  # pragma: no cover - jit
        n, n_trees = X.shape[0], left.shape[0]
        depths = np.zeros(n)
        for k in range(n_trees):  # tree by tree (its nodes stay in cache); rows add in tree order
            lk, rk, fk, tk = left[k], right[k], feature[k], threshold[k]
            for r in range(n):
                node = 0
                for _ in range(levels):
                    nxt = lk[node] if np.float64(X[r, fk[node]]) <= tk[node] else rk[node]
                    if nxt == node:  # a leaf points at itself
                        break
                    node = nxt
                depths[r] += leaf_depth[k, node]
        return depths

    walk(np.zeros((1, 1), np.float32), *(np.zeros((1, 1), np.intp),) * 3,
         np.zeros((1, 1)), np.zeros((1, 1)), 1)
    return walk


def _compile_stacked():
    import numba
    import numpy as np

    lanes = LANES

    @numba.njit(cache=True, nogil=True)
    def walk(X, nodes, leaf_depth, forest, levels, n_forests):  # pragma: no cover - jit
        n, n_trees = X.shape[0], nodes.shape[0]
        depths = np.zeros((n, n_forests))
        at = np.zeros(lanes, np.intp)
        for k0 in range(0, n_trees, lanes):  # a block of trees (its nodes stay in cache) ...
            m = min(lanes, n_trees - k0)
            for r in range(n):  # ... for every row: each tree a chain of loads, side by side
                at[:m] = 0
                for _ in range(levels):  # a leaf is its own right child and sends every row
                    for j in range(m):  # right: extra levels stay there
                        node = nodes[k0 + j, at[j]]  # one record: one cache line per step
                        # left (the next node) or right by arithmetic, not a branch the CPU
                        # would mispredict half the time (~2.5x the walk's speed)
                        go = np.intp(X[r, node.feature] <= node.threshold)
                        at[j] = go * (at[j] + 1) + (1 - go) * np.intp(node.right)
                for j in range(m):  # a row's addends in tree order, as the numpy walk sums them
                    depths[r, forest[k0 + j]] += leaf_depth[k0 + j, at[j]]
        return depths

    walk(np.zeros((1, 1), np.float32), np.zeros((1, 1), NODE), np.zeros((1, 1)),
         np.zeros(1, np.intp), 1, 1)
    return walk
