"""The fraud injector: eight variants of four scenarios, each registered by a decorator.

A variant is a function ``(injector, lo, hi) -> (wallet, ledger transaction indices)`` that
writes one episode's transactions and logins to the injector's ledger, starting in ``[lo, hi)``,
or returns None when no wallet or time is eligible; `inject_fraud` then records the episode
under the variant's registered names. ``@scenario(name, variant)`` adds it to `REGISTRY` in
definition order; `SCENARIOS` (scenario -> its variants) is derived from the registry, and
`inject_fraud` draws from it. The registration order is part of the seed's meaning: the
injector picks variants by their index in it, so reordering the definitions changes the output.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wallet_monitor.synth.geo import COUNTRIES, TRAVEL_HOURS, ip_country, random_devices
from wallet_monitor.synth.injector import Injector, Ledger
from wallet_monitor.synth.world import DEPOSIT, REDEEM, TRANSFER, World

logger = logging.getLogger(__name__)

STRUCTURING_THRESHOLD = 10_000.0   # USD reporting threshold that structuring stays under
# A run gives up on further episodes after this many draws found no eligible wallet or time.
MAX_FAILED_DRAWS = 200

Found = tuple[int, list[int]] | None


@dataclass(frozen=True)
class Variant:
    """One registered fraud variant: its scenario (the label), its name and its injector."""

    scenario: str
    variant: str
    inject: Callable[[Injector, int, int], Found]


REGISTRY: dict[str, Variant] = {}


def scenario(name: str, variant: str) -> Callable:
    """Register the decorated function as `variant` of scenario `name`."""
    def register(fn: Callable[[Injector, int, int], Found]) -> Callable[[Injector, int, int], Found]:
        if variant in REGISTRY:
            raise ValueError(f"fraud variant {variant!r} is registered twice")
        REGISTRY[variant] = Variant(name, variant, fn)
        return fn
    return register


def variants_by_scenario() -> dict[str, tuple[str, ...]]:
    """Scenario -> its variants, scenarios in order of first registration."""
    out: dict[str, tuple[str, ...]] = {}
    for v in REGISTRY.values():
        out[v.scenario] = (*out.get(v.scenario, ()), v.variant)
    return out


# --- the variants ----------------------------------------------------------------------------


@scenario("rapid_transfers", "mule_chain")
def mule_chain(inj: Injector, lo: int, hi: int) -> Found:
    """A deposit hops through 2-4 other wallets (often unverified) within minutes, most of
    the amount forwarded at each hop; half the chains end in a redemption."""
    rng, led = inj.rng, inj.ledger
    a = inj.pick_wallet(lo, hi)
    t = None if a is None else inj.pick_time(lo, hi, 3 * 3600, a)
    if t is None:
        return None
    hops = int(rng.integers(2, 5))
    unverified = inj.world.kyc == 0
    mules: list[int] = []
    for _ in range(hops):
        mask = unverified if rng.random() < 0.6 else None
        m = inj.pick_wallet(lo, t, mask=mask, exclude=[a, *mules])
        if m is None:
            m = inj.pick_wallet(lo, t, exclude=[a, *mules])
        if m is None:
            return None
        mules.append(m)
    usd = min(max(inj.amount(a, rng.uniform(1.5, 5.0)), 150.0), 60_000.0)
    ip, dev = inj.usual(a, t)
    inj.login(a, t, ip, dev)
    txs = [led.add_tx(a, t, DEPOSIT, usd, ip, dev)]
    chain = [a, *mules]
    for sender, receiver in zip(chain[:-1], chain[1:], strict=True):
        t += int(rng.integers(60, 720))
        usd *= rng.uniform(0.85, 0.98)
        ip, dev = inj.usual(sender, t)
        if sender != a:
            inj.login(sender, t, ip, dev)
        txs.append(led.add_tx(sender, t, TRANSFER, usd, ip, dev, receiver))
        inj.extra_cp.setdefault(sender, set()).add(receiver)
    if rng.random() < 0.5:
        last = chain[-1]
        t += int(rng.integers(60, 720))
        ip, dev = inj.usual(last, t)
        inj.login(last, t, ip, dev)
        txs.append(led.add_tx(last, t, REDEEM, usd * rng.uniform(0.85, 0.98), ip, dev))
    return a, txs


@scenario("rapid_transfers", "fan_out")
def fan_out(inj: Injector, lo: int, hi: int) -> Found:
    """Transfers to 6-20 counterparties the wallet never paid, all within an hour; half
    the time right after a deposit that funds them."""
    rng, led = inj.rng, inj.ledger
    a = inj.pick_wallet(lo, hi, min_tx=1)
    t = None if a is None else inj.pick_time(lo, hi, 2 * 3600, a)
    if t is None:
        return None
    cps = inj.fresh_cp(a, int(rng.integers(8, 21)), t)
    if len(cps) < 6:
        return None
    ip, dev = inj.usual(a, t)
    if rng.random() < 0.3:
        dev = int(random_devices(rng, 1)[0])
    inj.login(a, t, ip, dev)
    txs = []
    offsets = np.sort(rng.integers(60, 3300, len(cps)))
    if rng.random() < 0.5:
        total = min(max(inj.amount(a, rng.uniform(2.0, 8.0)), 300.0), 80_000.0)
        txs.append(led.add_tx(a, t, DEPOSIT, total, ip, dev))
        shares = rng.dirichlet(np.full(len(cps), 4.0)) * total * rng.uniform(0.9, 0.98)
    else:
        shares = [inj.amount(a) for _ in cps]
    for off, cp, usd in zip(offsets, cps, shares, strict=True):
        txs.append(led.add_tx(a, t + int(off), TRANSFER, usd, ip, dev, cp))
    return a, txs


@scenario("redemption_burst", "burst")
def burst(inj: Injector, lo: int, hi: int) -> Found:
    """6-15 redemptions within a few hours, sometimes from a new device."""
    rng, led = inj.rng, inj.ledger
    dur = int(rng.integers(3600, 4 * 3600))
    w = inj.pick_wallet(lo, hi, min_tx=1)
    t = None if w is None else inj.pick_time(lo, hi, dur, w)
    if t is None:
        return None
    ip, dev = inj.usual(w, t)
    if rng.random() < 0.4:
        dev = int(random_devices(rng, 1)[0])
    inj.login(w, t, ip, dev)
    k = int(rng.integers(6, 16))
    times = t + np.sort(rng.integers(0, dur, k))
    txs = [led.add_tx(w, int(tt), REDEEM, inj.median[w] * rng.lognormal(0.3, 0.5), ip, dev)
           for tt in times]
    return w, txs


@scenario("redemption_burst", "large")
def large(inj: Injector, lo: int, hi: int) -> Found:
    """One or two redemptions 15-60 times the wallet's median amount."""
    rng, led = inj.rng, inj.ledger
    w = inj.pick_wallet(lo, hi, min_tx=5)
    t = None if w is None else inj.pick_time(lo, hi, 3600, w)
    if t is None:
        return None
    ip, dev = inj.usual(w, t)
    if rng.random() < 0.5:
        dev = int(random_devices(rng, 1)[0])
    inj.login(w, t, ip, dev)
    txs = []
    for _ in range(int(rng.integers(1, 3))):
        usd = min(inj.median[w] * rng.uniform(15.0, 60.0), 250_000.0)
        if rng.random() < 0.3:
            usd = max(round(usd, -2), 100.0)
        txs.append(led.add_tx(w, t, REDEEM, usd, ip, dev))
        t += int(rng.integers(120, 1500))
    return w, txs


def _drain(inj: Injector, w: int, t: int, ip: int, dev: int, lo: int, hi: int) -> list[int]:
    """After a takeover: 1-4 outflows within the hour, to new counterparties or redeemed."""
    rng, led = inj.rng, inj.ledger
    txs = []
    k = int(rng.integers(1, 5))
    usd = inj.median[w] * rng.uniform(3.0, 20.0)
    for off in np.sort(rng.integers(120, 3000, k)):
        cps = inj.fresh_cp(w, 1, hi) if rng.random() < 0.7 else []
        typ, cp = (TRANSFER, cps[0]) if cps else (REDEEM, -1)
        txs.append(led.add_tx(w, t + int(off), typ, usd, ip, dev, cp))
        usd *= rng.uniform(0.4, 1.0)
    return txs


def _attacker_country(inj: Injector, w: int, exclude_from: int | None, min_hours: float) -> int:
    """A country that is neither home nor the trip's; farther than `min_hours` of flight from
    `exclude_from` when given."""
    wd = inj.world
    bad = {int(wd.home[w]), int(wd.trip_dest[w])}
    ok = np.array([c not in bad for c in range(len(COUNTRIES))])
    if exclude_from is not None:
        ok &= TRAVEL_HOURS[exclude_from] > min_hours
    cand = np.flatnonzero(ok)
    return int(inj.rng.choice(cand))


@scenario("account_takeover", "failed_logins")
def failed_logins(inj: Injector, lo: int, hi: int) -> Found:
    """Takeover: a burst of failed logins from a new IP and device abroad, then a
    successful one and a drain."""
    rng, led = inj.rng, inj.ledger
    w = inj.pick_wallet(lo, hi, min_tx=3)
    t = None if w is None else inj.pick_time(lo, hi, 2 * 3600, w)
    if t is None:
        return None
    c = _attacker_country(inj, w, None, 0.0)
    ip, dev = inj.new_ip(w, c), int(random_devices(rng, 1)[0])
    n_fail = int(rng.integers(3, 16))
    for off in np.sort(rng.integers(0, int(rng.integers(60, 900)), n_fail)):
        led.add_login(w, t + int(off), ip, dev, 0)
    t = t + 900 + int(rng.integers(10, 120))
    led.add_login(w, t, ip, dev, 1)
    return w, _drain(inj, w, t, ip, dev, lo, hi)


@scenario("account_takeover", "new_location")
def new_location(inj: Injector, lo: int, hi: int) -> Found:
    """Takeover: a login shortly after the owner was last seen, from a country no
    flight reaches in the time between, then a drain."""
    rng, led = inj.rng, inj.ledger
    w = inj.pick_wallet(lo, hi, min_tx=3)
    if w is None:
        return None
    # Strike shortly after the owner was last seen, farther away than any flight allows.
    a, b = inj.login_off[w], inj.login_off[w + 1]
    lt = inj.login_t[a:b]
    anchors = np.flatnonzero((lt > lo + 900) & (lt < hi - 4 * 3600))
    if anchors.size == 0:
        return None
    t = int(lt[rng.choice(anchors)]) + int(rng.integers(600, 5400))
    last = a + np.searchsorted(lt, t, side="right") - 1
    seen_t = int(inj.login_t[last])
    txw = inj.tx["t"][inj.tx_off[w]:inj.tx_off[w + 1]]
    before = txw[txw <= t]
    seen_t = max(seen_t, int(before.max()) if before.size else seen_t)
    last_c = int(ip_country(inj.login_ip[last]))
    c = _attacker_country(inj, w, last_c, (t - seen_t) / 3600 + 2.0)
    ip, dev = inj.new_ip(w, c), int(random_devices(rng, 1)[0])
    led.add_login(w, t, ip, dev, 1)
    return w, _drain(inj, w, t, ip, dev, lo, hi)


@scenario("suspicious_deposit", "structuring")
def structuring(inj: Injector, lo: int, hi: int) -> Found:
    """5-12 deposits just under the reporting threshold within two days."""
    rng, led = inj.rng, inj.ledger
    span = int(min(rng.integers(6 * 3600, 48 * 3600), max(hi - lo - 3 * 3600, 3600)))
    w = inj.pick_wallet(lo, hi)
    t = None if w is None else inj.pick_time(lo, hi, span, w)
    if t is None:
        return None
    txs = []
    for off in np.sort(rng.integers(0, span, int(rng.integers(5, 13)))):
        usd = rng.uniform(8000.0, STRUCTURING_THRESHOLD - 10.0)
        if rng.random() < 0.3:
            usd = np.floor(usd / 50.0) * 50.0
        tt = t + int(off)
        ip, dev = inj.usual(w, tt)
        inj.login(w, tt, ip, dev)
        txs.append(led.add_tx(w, tt, DEPOSIT, usd, ip, dev))
    return w, txs


@scenario("suspicious_deposit", "pass_through")
def pass_through(inj: Injector, lo: int, hi: int) -> Found:
    """A large deposit into a young or unverified wallet that leaves again within the
    hour, to new counterparties or redeemed."""
    rng, led = inj.rng, inj.ledger
    wd = inj.world
    t = inj.pick_time(lo, hi, 2 * 3600)
    if t is None:
        return None
    young = (wd.reg_s <= t - 3600) & (wd.reg_s >= t - 14 * 86400)
    mask = young if rng.random() < 0.5 and young.any() else (wd.kyc == 0)
    w = inj.pick_wallet(lo, t, mask=mask & (wd.active_from <= t - 3600))
    if w is None:
        return None
    ip, dev = inj.usual(w, t)
    inj.login(w, t, ip, dev)
    usd = float(np.exp(rng.uniform(np.log(3000.0), np.log(60_000.0))))
    txs = [led.add_tx(w, t, DEPOSIT, usd, ip, dev)]
    k = int(rng.integers(1, 4))
    shares = rng.dirichlet(np.full(k, 3.0)) * usd * rng.uniform(0.9, 0.99)
    for off, part in zip(np.sort(rng.integers(180, 3300, k)), shares, strict=True):
        cps = inj.fresh_cp(w, 1, hi) if rng.random() < 0.7 else []
        typ, cp = (TRANSFER, cps[0]) if cps else (REDEEM, -1)
        txs.append(led.add_tx(w, t + int(off), typ, part, ip, dev, cp))
    return w, txs


SCENARIOS: dict[str, tuple[str, ...]] = variants_by_scenario()


def inject_fraud(rng: np.random.Generator, world: World, tx: dict, logins: dict,
                 fraud_rate: float) -> Ledger:
    """Inject episodes until fraud is `fraud_rate` of all transactions; returns the ledger."""
    inj = Injector(rng, world, tx, logins)
    n_normal = tx["w"].size
    target = int(round(fraud_rate / (1 - fraud_rate) * n_normal)) if fraud_rate > 0 else 0
    variants = [REGISTRY[v] for vs in variants_by_scenario().values() for v in vs]
    periods = [(world.start_s, world.holdout_s), (world.holdout_s, world.end_s)]
    train_share = (world.holdout_s - world.start_s) / (world.end_s - world.start_s)
    # Every variant in both periods first, then a random mix until the budget is spent.
    plan = [(v, p) for p in (0, 1) for v in range(len(variants))]
    failures, i = 0, 0
    while inj.ledger.n_tx < target and failures < MAX_FAILED_DRAWS:
        if i < len(plan):
            v, p = plan[i]
        else:
            v = int(rng.integers(len(variants)))
            p = int(rng.random() >= train_share)
        i += 1
        lo, hi = periods[p]
        found = variants[v].inject(inj, lo, hi)
        if found is None:
            failures += 1
        else:
            inj.ledger.add_episode(variants[v].scenario, variants[v].variant, *found)
    if failures:
        logger.info("fraud: %d episode draws found no eligible wallet or time", failures)
    return inj.ledger
