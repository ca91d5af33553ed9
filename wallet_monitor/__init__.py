"""Wallet activity monitor: the cores behind the five top-level scripts.

One job per module; the chain flows forward only:

    synth (stands alone)          -> the generator's world, scenarios and files
    schema, io, cli, paths        -> shared contract, atomic writes, the one-line error contract
    features                      -> imports no other stage
    model                         -> imports features
    episodes, scoring, evaluation, figures, delivery, stream -> import model (and features)
    api                           -> imports no pipeline code

Nothing heavy happens at import time: no file I/O, no model load, no directories made.
"""

__version__ = "0.2.0"
