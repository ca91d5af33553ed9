"""`generate`: one seeded run of the whole simulation, from wallets to the returned frames.

The draws happen in one fixed order on one random generator: the wallets' parameters, the
legitimate traffic, the fraud episodes, then the tokens of the injected transactions. That
order, and nothing else, is what makes the seed decide every byte of the output.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from wallet_monitor.synth.activity import normal_activity
from wallet_monitor.synth.output import assemble
from wallet_monitor.synth.scenarios import inject_fraud
from wallet_monitor.synth.world import draw_tokens, make_world

logger = logging.getLogger(__name__)

DEFAULT_WALLETS = 2000
DEFAULT_DAYS = 60
DEFAULT_HOLDOUT_DAYS = 14
DEFAULT_SEED = 42
DEFAULT_FRAUD_RATE = 0.015
MAX_FRAUD_RATE = 0.2
# A fixed start keeps the output a function of the seed alone.
DEFAULT_START = "2026-01-01T00:00:00Z"


def _parse_start(start) -> int:
    ts = pd.Timestamp(DEFAULT_START if start is None else start)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000_000)


def generate(n_wallets: int = DEFAULT_WALLETS, days: int = DEFAULT_DAYS,
             holdout_days: int = DEFAULT_HOLDOUT_DAYS, seed: int = DEFAULT_SEED,
             fraud_rate: float = DEFAULT_FRAUD_RATE, start=None) -> dict[str, pd.DataFrame]:
    """Simulate wallets, logins and transactions with injected, labelled fraud.

    Returns frames ``wallets``, ``transactions`` (before the holdout), ``new_transactions``
    (the last ``holdout_days``), ``logins`` (both periods), ``labels`` (fraudulent
    transactions only) and ``episodes`` (one row per injected episode with its scenario,
    variant, wallet and transaction ids; for tests and analysis, never written).
    """
    if n_wallets < 1:
        raise ValueError(f"n_wallets must be >= 1, got {n_wallets!r}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days!r}")
    if not 1 <= holdout_days < days:
        raise ValueError(f"holdout_days must be in [1, days), got {holdout_days!r}")
    if not 0.0 <= fraud_rate <= MAX_FRAUD_RATE:
        raise ValueError(f"fraud_rate must be in [0, {MAX_FRAUD_RATE}], got {fraud_rate!r}")
    t0 = time.perf_counter()
    start_s = _parse_start(start)
    end_s = start_s + days * 86400
    holdout_s = end_s - holdout_days * 86400
    rng = np.random.default_rng(seed)
    world = make_world(rng, n_wallets, start_s, holdout_s, end_s)
    tx, logins = normal_activity(rng, world)
    logger.info("normal traffic: %d transactions, %d logins (%.1fs)", tx["w"].size,
                logins["w"].size, time.perf_counter() - t0)
    ledger = inject_fraud(rng, world, tx, logins, fraud_rate)
    logger.info("fraud: %d episodes, %d transactions (%.1fs)", len(ledger.episodes),
                ledger.n_tx, time.perf_counter() - t0)
    fraud_tokens = draw_tokens(rng, world, np.array(ledger.tx["w"], dtype=np.int64))
    frames = assemble(world, tx, logins, ledger, fraud_tokens)
    logger.info("assembled frames (%.1fs)", time.perf_counter() - t0)
    return frames
