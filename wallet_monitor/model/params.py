"""The model tunables in one place; each keeps a one-line reason, the measurements behind it
are in docs/DECISIONS.md."""

from __future__ import annotations

# pyod's detectors fitted once on the training period: a row's score depends on the training
# data and that row alone. ECOD and COPOD are not offered: their decision_function refits on
# the training rows plus the batch being scored, so a row's score would depend on its batch.
# LODA is not either: it ranked planted outliers outside its top 20 (see DECISIONS.md).
PYOD_MODELS = ("hbos",)
MODEL_TYPES = ("iforest", "ocsvm", *PYOD_MODELS)
# About 2.25% of training-like traffic flagged on its own evidence; episode links add about
# half a point, keeping the scored period inside a 1-3% alert budget.
DEFAULT_CONTAMINATION = 0.0225
# sklearn's defaults: more rows per tree or more trees did not rank better and cost time.
IFOREST_PARAMS = {"n_estimators": 100, "max_samples": 256}
OCSVM_PARAMS = {"n_components": 200, "nu": 0.05, "max_fit_rows": 50_000}
# Detectors combine as "decay": every detector's evidence from the most out of line down, each
# counting COMBINE_DECAY times the one before (robust on every generator, see DECISIONS.md).
COMBINE = "decay"
COMBINE_SECOND_WEIGHT = 0.6  # "lead+second": from 0.75 a planted one-behaviour outlier no longer ranks first
COMBINE_DECAY = 0.55  # agreement counts more (worst case up); from 0.6 a planted outlier no longer ranks first
OCSVM_COMBINE_DECAY = 0.45  # from 0.5 the One-Class SVM no longer ranks a planted outlier first
# Detectors whose evidence on the training rows has a rank correlation of this or more count once
# in "decay": the same rows counted twice are not agreement (docs/QUALITY.md, ninth round).
CORRELATED_EVIDENCE = 0.6  # aml, sparse up at seeds 0, 1; 0.5 cost the independent data, 0.7 grouped nothing
# The detectors reading volume (families.is_volume_detector) take one place in "decay", each after
# the largest counting this times the one before: COMBINE_DECAY ** 2, as if two places further down
# (docs/QUALITY.md, tenth round).
VOLUME_DECAY = 0.3  # all four generators up at seeds 0, 1; 0.2 favoured aml alone, 0.55 the independent data
# What the forests see: "raw" features beat tail scores on both generators.
FOREST_INPUTS = "raw"
# Read one-sided (under the training median reads as the median): a login seconds before a
# transaction is the usual way in, not a sign of takeover.
ONE_SIDED_FEATURES: tuple[str, ...] = ("time_since_success_login_log",)
# "directional": every feature with a known suspicious side is read one-sided (ONE_SIDED_FEATURES
# alone otherwise).
ONE_SIDED = "directional"
# A detector's evidence counts from the median row up: a detector whose inputs all sit on their
# harmless side (no history, a column the data lacks) says nothing, however many there are.
EVIDENCE_FROM = 0.5
TAIL_GRID = 2048  # grid points kept per feature for its tail probabilities (exact when discrete)
CALIBRATION_POINTS = 4001  # quantiles kept for a score calibration, read by interpolation
CALIBRATION_MAX_ROWS = 200_000  # training rows scored to calibrate: 200k quantiles are as good as 1M
N_REASONS = 3  # reasons named per flagged row
# Threads sum tree depths in any order; rounding keeps equal rows equal at tied quantiles.
RAW_DECIMALS = 9
N_JOBS = -1
# Below this many rows the forests score on one thread: starting workers costs more than it saves.
PARALLEL_MIN_ROWS = 10_000
# Up to this many rows forests are walked in numpy (PackedForest); past it sklearn is faster.
# With the compiled walk (model/compiled.py) the packed walk is used up to PARALLEL_MIN_ROWS.
PACKED_MAX_ROWS = 500
