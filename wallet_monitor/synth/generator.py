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
# Wallet-days per chunk of a streamed data set (`generate_chunks`): at ~3.5 transactions and 3
# logins per wallet and day, ~1M transactions, one part file and ~0.7 GB of frames per chunk.
CHUNK_WALLET_DAYS = 280_000


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
    _check(n_wallets, days, holdout_days, fraud_rate)
    return _generate(n_wallets, days, holdout_days, seed, fraud_rate, start)


def generate_chunks(n_wallets: int = DEFAULT_WALLETS, days: int = DEFAULT_DAYS,
                    holdout_days: int = DEFAULT_HOLDOUT_DAYS, seed: int = DEFAULT_SEED,
                    fraud_rate: float = DEFAULT_FRAUD_RATE, start=None,
                    chunk_wallets: int | None = None):
    """`generate`'s frames for consecutive chunks of `chunk_wallets` wallets (default:
    CHUNK_WALLET_DAYS / days), yielded one chunk at a time, so a data set of any size is
    written without holding it in memory.

    Each chunk is a world of its own (its wallets transact, and fraud links them, among
    themselves), drawn from its own generator: the first from `seed`, so a set of one chunk is
    exactly `generate`'s, chunk k from `(seed, k)`. Wallet, transaction and login ids continue
    from one chunk to the next; the same arguments give the same chunks, byte for byte.
    """
    _check(n_wallets, days, holdout_days, fraud_rate)
    size = chunk_wallets or max(1, CHUNK_WALLET_DAYS // days)
    first = {"wallets": 0, "transactions": 0, "logins": 0}
    for k, lo in enumerate(range(0, n_wallets, size)):
        frames = _generate(min(size, n_wallets - lo), days, holdout_days,
                           seed if k == 0 else [seed, k], fraud_rate, start, first)
        first = {"wallets": first["wallets"] + len(frames["wallets"]),
                 "transactions": first["transactions"] + len(frames["transactions"])
                 + len(frames["new_transactions"]),
                 "logins": first["logins"] + len(frames["logins"])}
        yield frames


def _check(n_wallets: int, days: int, holdout_days: int, fraud_rate: float) -> None:
    if n_wallets < 1:
        raise ValueError(f"n_wallets must be >= 1, got {n_wallets!r}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days!r}")
    if not 1 <= holdout_days < days:
        raise ValueError(f"holdout_days must be in [1, days), got {holdout_days!r}")
    if not 0.0 <= fraud_rate <= MAX_FRAUD_RATE:
        raise ValueError(f"fraud_rate must be in [0, {MAX_FRAUD_RATE}], got {fraud_rate!r}")


def _generate(n_wallets, days, holdout_days, seed, fraud_rate, start,
              first: dict | None = None) -> dict[str, pd.DataFrame]:
    """One seeded world; `first`: the wallets, transactions and logins numbered before it."""
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
    frames = assemble(world, tx, logins, ledger, fraud_tokens, first)
    logger.info("assembled frames (%.1fs)", time.perf_counter() - t0)
    return frames
