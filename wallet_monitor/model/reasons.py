"""Reasons: the features behind a flagged row's score, in words, with value and typical value.

A feature's tail score is -log of the share of training traffic at least as extreme on its
suspicious side (3 = 1 in 20, 7 = 1 in 1000). Only features of the detector that scored
highest, or of another detector that fired on its own, are named; the detector that fired most
comes first, and within it the rarest values. Log-scaled features are shown back in counts,
USD, minutes, hours or days.
"""

from __future__ import annotations

import numpy as np

from wallet_monitor.model.bundle import ModelBundle
from wallet_monitor.model.params import N_REASONS

# Units of log1p features once shown in natural units, by a part of the feature's name.
_UNITS = (("minutes_", " min"), ("time_since", " s"), ("_days", " d"), ("speed", " km/h"))


def _fmt(v: float) -> str:
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def shown(name: str, value: float) -> str:
    """`name=value` as a person reads it: log1p features back in counts, USD, seconds or days."""
    if not name.endswith("_log"):
        return f"{name}={_fmt(value)}"
    unit = next((u for part, u in _UNITS if part in name), "")
    v = float(np.expm1(min(value, 700.0)))  # a value past e^700 is shown as huge, not inf
    if unit == " s" and v >= 2 * 3600:
        v, unit = (v / 86400, " d") if v >= 2 * 86400 else (v / 3600, " h")
    return f"{name[:-4]}={_fmt(round(v, 2))}{unit}"


def reasons(bundle: ModelBundle, X: np.ndarray, T: np.ndarray,
            fam_scores: np.ndarray) -> list[str]:
    """`"; "`-joined reasons of each row of X (features), T (tail scores), fam_scores
    (calibrated detector scores)."""
    order, key = _ranked(bundle, T, fam_scores)
    stats, names = bundle.reason_stats, bundle.feature_names
    top = fam_scores.argmax(axis=1)
    out = []
    for i in range(len(X)):
        # A value shown as its own typical value explains nothing: never named.
        parts = [
            f"{stats.labels[j]}: {value} (typical {typical})"
            for j in order[i]
            if key[i, j] > 0
            for value, typical in [(shown(names[j], X[i, j]),
                                    shown(names[j], stats.median[j]).split("=", 1)[1])]
            if value.split("=", 1)[1] != typical
        ]
        if not parts:  # no single feature stands out: the behaviour that fired does
            parts = [f"unusual combination of {bundle.detectors[top[i]].family} features"]
        out.append("; ".join(parts))
    return out


def _ranked(bundle: ModelBundle, T: np.ndarray, fam_scores: np.ndarray):
    """The N_REASONS feature columns to name per row, and the ranking key they were chosen by
    (> 0: rare in a detector that fired)."""
    names = bundle.feature_names
    col = {c: j for j, c in enumerate(names)}
    n = len(T)
    # Features no detector uses (UNMODELLED_FEATURES) point at an extra, never-eligible column.
    n_det = len(bundle.detectors)
    fam_of = np.full(len(names), n_det, dtype=int)
    for k, d in enumerate(bundle.detectors):
        # A feature's family is the first behaviour naming it, never the global detector: when
        # only that one fires, the rarest values anywhere are named (below).
        idx = np.array([col[c] for c in d.features], dtype=int)
        idx = idx[fam_of[idx] == n_det]
        fam_of[idx] = k
    T = np.where(fam_of < n_det, T, 0.0)
    top_fam = fam_scores.argmax(axis=1)
    eligible = fam_scores >= bundle.threshold
    eligible[np.arange(n), top_fam] = True
    eligible = np.column_stack([eligible, np.zeros(n, dtype=bool)])
    fam_scores = np.column_stack([fam_scores, np.full(n, -np.inf)])
    fam_rank = np.argsort(np.argsort(-fam_scores, axis=1, kind="stable"), axis=1)
    # A typical value (tail score under log 2: the common half) is never a reason.
    named = eligible[:, fam_of] & (T > np.log(2.0))
    key = n_det - fam_rank[:, fam_of] + np.minimum(T, 1e5) / 1e6
    key = np.where(named, key, -1.0)
    # Nothing rare in the families that fired: the rarest value anywhere stands in, if it is
    # rarer than the common half at all.
    none = ~named.any(axis=1)
    key[none] = np.where(T[none] > np.log(2.0), T[none], -1.0)
    order = np.argsort(-key, axis=1, kind="stable")[:, :N_REASONS]
    return order, key
