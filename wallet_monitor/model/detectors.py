"""The detectors themselves: an Isolation Forest or a bounded One-Class SVM per behaviour, and
a fast path that walks a small batch through a forest's trees in numpy."""

from __future__ import annotations

import weakref

import joblib
import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import SGDOneClassSVM
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler, StandardScaler

from wallet_monitor.model.compiled import forest_walk
from wallet_monitor.model.params import (
    IFOREST_PARAMS,
    MODEL_TYPES,
    N_JOBS,
    OCSVM_PARAMS,
    PACKED_MAX_ROWS,
    PARALLEL_MIN_ROWS,
    PYOD_MODELS,
    RAW_DECIMALS,
)


def make_pipeline(model: str, n_features: int, n_rows: int, seed: int):
    if model == "iforest":
        # What the forest sees (raw features or tail scores) is FOREST_INPUTS, set by the caller.
        forest = IsolationForest(
            n_estimators=IFOREST_PARAMS["n_estimators"],
            max_samples=min(IFOREST_PARAMS["max_samples"], n_rows),
            random_state=seed,
        )
        return Pipeline([("forest", forest)])
    if model == "ocsvm":
        # The RBF kernel needs comparable units; StandardScaler after the robust scaler
        # keeps binary flags (IQR 0) from blowing up.
        return Pipeline(
            [
                ("robust", RobustScaler(quantile_range=(5.0, 95.0))),
                ("scale", StandardScaler()),
                (
                    "kernel",
                    Nystroem(
                        gamma=1.0 / max(n_features, 1),
                        n_components=OCSVM_PARAMS["n_components"],
                        random_state=seed,
                    ),
                ),
                ("svm", SGDOneClassSVM(nu=OCSVM_PARAMS["nu"], random_state=seed)),
            ]
        )
    if model in PYOD_MODELS:
        # pyod and its numba JIT are heavy: loaded only when such a model is asked for.
        from pyod.models.hbos import HBOS

        return Pipeline([("pyod", HBOS())])
    raise ValueError(f"model must be one of {MODEL_TYPES}, got {model!r}")


class WithinGroup:
    """How far a value lies past what its group (a transaction type) usually shows, on its
    suspicious side, in units of the group's spread on that side: with v = side * x,
    (v - median) / (q99 - median), fitted on the training rows (side -1: lower is suspicious,
    as a wallet's age).

    Input columns: the value, then one 0/1 column per group (a row in no group is compared
    with all rows). Population-relative evidence: it needs no history of the wallet, so it
    speaks for a first transaction too.
    """

    def __init__(self, side: float = 1.0):
        self.side = side

    def fit(self, X: np.ndarray, y=None) -> WithinGroup:
        x, groups = self._side() * X[:, 0], X[:, 1:] > 0.5
        self.stats_ = [self._stats(x)] + [self._stats(x[g]) if g.sum() >= 10 else self._stats(x)
                                          for g in groups.T]
        return self

    @staticmethod
    def _stats(x: np.ndarray) -> tuple[float, float]:
        med, top = np.quantile(x, [0.5, 0.99])
        return float(med), float(max(top - med, 1e-9))

    def _side(self) -> float:
        return getattr(self, "side", 1.0)  # bundles from before issue 18g read the upper side

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        x, groups = self._side() * X[:, 0], X[:, 1:] > 0.5
        which = (np.where(groups.any(axis=1), groups.argmax(axis=1) + 1, 0) if groups.shape[1]
                 else np.zeros(len(x), dtype=int))
        med = np.array([s[0] for s in self.stats_])[which]
        spread = np.array([s[1] for s in self.stats_])[which]
        return (x - med) / spread


class PackedForest:
    """A fitted IsolationForest's trees as padded arrays, walked level by level for all trees
    and rows at once.

    sklearn walks the trees one by one, each a joblib task: about 0.1 ms of overhead per tree,
    so a 25-row streaming micro-batch spent 80 ms in nine 100-tree forests. Walking every tree
    in lockstep with numpy takes a few ms for such a batch. The result is bit for bit
    `-forest.score_samples(X)` computed on one thread: the same float32 inputs, thresholds,
    per-leaf path lengths and summation in tree order (tests/test_train_model.py holds it to
    that); above `PACKED_MAX_ROWS` rows sklearn's own per-tree code is faster.
    """

    def __init__(self, forest):
        trees = [e.tree_ for e in forest.estimators_]
        width = max(t.node_count for t in trees)
        shape = (len(trees), width)
        self.left = np.zeros(shape, dtype=np.intp)
        self.right = np.zeros(shape, dtype=np.intp)
        self.feature = np.zeros(shape, dtype=np.intp)
        self.threshold = np.full(shape, np.inf)
        self.leaf_depth = np.zeros(shape)
        for k, t in enumerate(trees):
            n = t.node_count
            leaf = t.children_left[:n] == -1
            # A leaf points at itself, so extra levels leave rows where they are.
            self.left[k, :n] = np.where(leaf, np.arange(n), t.children_left[:n])
            self.right[k, :n] = np.where(leaf, np.arange(n), t.children_right[:n])
            self.feature[k, :n] = np.where(leaf, 0, t.feature[:n])
            self.threshold[k, :n] = t.threshold[:n]
            # The addend of sklearn's _parallel_compute_tree_depths, computed the same way.
            self.leaf_depth[k, :n] = (
                forest._decision_path_lengths[k] + forest._average_path_length_per_tree[k] - 1.0
            )
        self.levels = max(t.max_depth for t in trees)
        # A private sklearn name: if it moves, packed_forest falls back to sklearn's own walk.
        from sklearn.ensemble._iforest import _average_path_length

        self.denominator = len(trees) * _average_path_length([forest._max_samples])[0]

    def raw_anomaly(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)  # what sklearn's trees compare
        walk = forest_walk()
        if walk is None:
            depths = self._walk_numpy(X)
        else:  # compiled: the same arithmetic, per row and tree, without the level-wide arrays
            depths = walk(np.ascontiguousarray(X), self.left, self.right, self.feature,
                          self.threshold, self.leaf_depth, self.levels)
        return 2 ** -np.divide(depths, self.denominator, out=np.ones_like(depths),
                               where=self.denominator != 0)

    def _walk_numpy(self, X: np.ndarray) -> np.ndarray:
        n_trees = len(self.left)
        tree = np.arange(n_trees)[None, :]
        row = np.arange(len(X))[:, None]
        node = np.zeros((len(X), n_trees), dtype=np.intp)
        for _ in range(self.levels):
            go_left = X[row, self.feature[tree, node]] <= self.threshold[tree, node]
            node = np.where(go_left, self.left[tree, node], self.right[tree, node])
        addend = self.leaf_depth[tree, node]
        depths = np.zeros(len(X))
        for k in range(n_trees):
            depths += addend[:, k]
        return depths


# forest -> (the estimators_ list it was packed from, the packed form or None)
_PACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def packed_forest(forest) -> PackedForest | None:
    """The forest's packed form (built once per fitted forest); None where it does not apply:
    trees fitted on a subset of the columns (max_features < 1), or private sklearn names moved."""
    cached = _PACKED.get(forest)
    if cached is None or cached[0] is not forest.estimators_:  # new, or refitted since
        try:
            if forest._max_features != forest.n_features_in_:
                raise AttributeError("trees see a subset of the columns")
            packed = PackedForest(forest)
        except (AttributeError, ImportError):
            packed = None
        cached = _PACKED[forest] = (forest.estimators_, packed)
    return cached[1]


def raw_anomaly(pipeline, X: np.ndarray) -> np.ndarray:
    """The model's own score turned round: higher is more abnormal."""
    if "forest" in pipeline.named_steps:
        forest = pipeline.named_steps["forest"]
        # Only what sklearn would score the same way: one step, the forest's width, finite values.
        # Compiled, the walk beats sklearn's single-threaded one at every size (~40 vs 7 ms at
        # 500 rows, 100 vs 60 ms at 5,000); from PARALLEL_MIN_ROWS sklearn's threads take over.
        limit = PARALLEL_MIN_ROWS - 1 if forest_walk() is not None else PACKED_MAX_ROWS
        packed = (packed_forest(forest) if 0 < len(X) <= limit and len(pipeline.steps) == 1
                  and X.shape[1] == forest.n_features_in_ else None)
        if packed is not None and np.isfinite(X).all():
            raw = packed.raw_anomaly(X)
        else:
            n_jobs = N_JOBS if len(X) >= PARALLEL_MIN_ROWS else 1
            with joblib.parallel_backend("threading", n_jobs=n_jobs):
                raw = -pipeline.score_samples(X)
    elif "pyod" in pipeline.named_steps:
        raw = pipeline.decision_function(X)  # pyod: higher is more abnormal
    elif hasattr(pipeline.steps[-1][1], "anomaly_score"):
        raw = pipeline.steps[-1][1].anomaly_score(pipeline[:-1].transform(X)
                                                   if len(pipeline.steps) > 1 else X)
    else:
        raw = -pipeline.decision_function(X)
    # Threads sum tree depths in any order, so equal rows can differ in the last bits;
    # at tied calibration quantiles that would move the calibrated score visibly.
    return np.round(raw, RAW_DECIMALS)


