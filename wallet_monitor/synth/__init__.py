"""Realistic wallet activity with labelled, injected fraud; stands alone in the chain.

`generate` returns the frames, `write` writes ``wallets.csv``, ``transactions.csv`` (training
period), ``new_transactions.csv`` (the last holdout days), ``logins.csv`` and ``labels.csv``.

Normal traffic is drawn vectorized, wallet by wallet parameters first and then every
session and transaction at once. Fraud is injected afterwards, episode by episode, and
each injected transaction is recorded in ``labels.csv`` as it is written; labels never
appear in the transaction files. The seed alone decides every byte of the output.

    geo        countries, time zones, flight times, the IP plan, device ids
    world      each wallet's parameters (the `World`)
    activity   legitimate sessions, logins and transactions
    injector   the fraud `Ledger` and the `Injector` helpers scenarios are built with
    scenarios  the eight fraud variants, registered with ``@scenario(name, variant)``
    output     frames in time order, ISO timestamps and amounts, the CSV files
    generator  `generate`: the seeded run, draws in one fixed order
"""

from wallet_monitor.synth.generator import (
    DEFAULT_DAYS,
    DEFAULT_FRAUD_RATE,
    DEFAULT_HOLDOUT_DAYS,
    DEFAULT_SEED,
    DEFAULT_START,
    DEFAULT_WALLETS,
    MAX_FRAUD_RATE,
    generate,
    generate_chunks,
)
from wallet_monitor.synth.geo import COUNTRIES, TRAVEL_HOURS, ip_country
from wallet_monitor.synth.output import (
    FILES,
    LABEL_COLUMNS,
    LOGIN_COLUMNS,
    TRANSACTION_COLUMNS,
    WALLET_COLUMNS,
    write,
    write_parquet_chunks,
)
from wallet_monitor.synth.scenarios import REGISTRY, SCENARIOS, STRUCTURING_THRESHOLD, scenario
from wallet_monitor.synth.world import TOKENS

__all__ = [
    "COUNTRIES", "DEFAULT_DAYS", "DEFAULT_FRAUD_RATE", "DEFAULT_HOLDOUT_DAYS", "DEFAULT_SEED",
    "DEFAULT_START", "DEFAULT_WALLETS", "FILES", "LABEL_COLUMNS", "LOGIN_COLUMNS",
    "MAX_FRAUD_RATE", "REGISTRY", "SCENARIOS", "STRUCTURING_THRESHOLD", "TOKENS",
    "TRANSACTION_COLUMNS", "TRAVEL_HOURS", "WALLET_COLUMNS", "generate", "generate_chunks",
    "ip_country", "scenario", "write", "write_parquet_chunks",
]
