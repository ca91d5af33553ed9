"""What the wallets do normally: every legitimate session, login and transaction at once.

Sessions follow each wallet's rate and the daily rhythm of its home zone; each session has
one successful login (sometimes after a typo) and zero or more transactions. Legitimate
traffic deliberately shows the signals fraud shows too: trips abroad, VPNs, new phones,
failed logins, large deposits and bursts of transfers to known contacts.
"""

from __future__ import annotations

import numpy as np

from wallet_monitor.synth.geo import UTC_OFFSET_S, VPN_POOL_SIZE, random_devices
from wallet_monitor.synth.world import (
    DEPOSIT,
    RHYTHM,
    TRANSFER,
    TYPE_AMOUNT_SHIFT,
    World,
    draw_tokens,
)

# --- tunables --------------------------------------------------------------------------
LEGIT_LARGE_P = 0.004              # legitimate big deposits/redemptions, 5-30x the norm
EXTRA_TX_PER_SESSION = 0.6         # session size is 1 + Poisson(this)
LOGIN_ONLY_SHARE = 0.3             # sessions without a transaction, per transaction session
BURST_SESSION_P = 0.008            # legitimate bursts of transfers to known contacts
FAILED_LOGIN_P = 0.035             # typo before a successful login
KNOWN_CONTACT_P = 0.92             # transfers to the wallet's own contact list
VPN_USER_SESSION_P, VPN_OTHER_SESSION_P = 0.3, 0.003
NEW_DEVICE_SESSION_P = 0.008


def _pick_weighted_slot(rng: np.random.Generator, n_slots: np.ndarray) -> np.ndarray:
    # Skewed towards slot 0: most activity comes from the main phone / home network.
    return np.minimum((n_slots * rng.random(n_slots.shape) ** 1.8).astype(np.int64), n_slots - 1)


def draw_amount_cents(rng: np.random.Generator, world: World, w: np.ndarray,
                      typ: np.ndarray) -> np.ndarray:
    """Legitimate amounts in integer cents for wallets `w` and type indices `typ`."""
    log_amt = world.mu[w] + TYPE_AMOUNT_SHIFT[typ] + world.sigma[w] * rng.standard_normal(w.size)
    large = (typ != TRANSFER) & (rng.random(w.size) < LEGIT_LARGE_P)
    log_amt += np.where(large, np.log(rng.uniform(5.0, 30.0, w.size)), 0.0)
    amt = np.exp(log_amt)
    # People like round numbers; some wallets much more than others.
    step = np.where(amt >= 2000, 100.0, np.where(amt >= 100, 10.0, 1.0))
    rounded = rng.random(w.size) < world.round_p[w]
    amt = np.where(rounded, np.maximum(np.round(amt / step), 1) * step, amt)
    return np.maximum(np.round(amt * 100), 100).astype(np.int64)


def _session_times(rng: np.random.Generator, world: World):
    """Session wallets, start times and whether the wallet is abroad, sorted by wallet, time."""
    n = world.n
    lo = world.active_from + 300
    hi = np.full(n, world.end_s - 7200)
    span = np.maximum(hi - lo, 0)
    mean_session = 1 + EXTRA_TX_PER_SESSION
    n_sess = rng.poisson(world.rate * span / 86400 / mean_session * (1 + LOGIN_ONLY_SHARE))
    sw = np.repeat(np.arange(n), n_sess)
    t = lo[sw] + (rng.random(sw.size) * span[sw]).astype(np.int64)
    # Re-time each session on its local day following the daily rhythm of the home zone.
    off = UTC_OFFSET_S[world.home[sw]]
    day0 = (t + off) // 86400 * 86400
    tod = rng.choice(24, sw.size, p=RHYTHM) * 3600 + rng.integers(0, 3600, sw.size)
    tod = (tod + world.rhythm_shift[sw]) % 86400
    t = day0 + tod - off
    keep = (t >= lo[sw]) & (t < hi[sw])
    # Sessions while in the air do not happen; on arrival the trip's local IPs take over.
    tt = world.trip_t[sw]
    on_trip = world.trip_dest[sw] >= 0
    in_air = on_trip & (((t >= tt[:, 0]) & (t < tt[:, 1])) | ((t >= tt[:, 2]) & (t < tt[:, 3])))
    keep &= ~in_air
    sw, t = sw[keep], t[keep]
    abroad = (world.trip_dest[sw] >= 0) & (t >= world.trip_t[sw, 1]) & (t < world.trip_t[sw, 2])
    order = np.lexsort((t, sw))
    return sw[order], t[order], abroad[order]


def _session_places(rng: np.random.Generator, world: World, sw: np.ndarray, t: np.ndarray,
                    abroad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IP and device of each session: home network or trip, sometimes a VPN or a new phone."""
    s = sw.size
    ip = world.ips[sw, _pick_weighted_slot(rng, world.n_ip[sw])]
    ip = np.where(abroad, world.trip_ips[sw, rng.integers(0, 2, s)], ip)
    vpn = rng.random(s) < np.where(world.vpn_user[sw], VPN_USER_SESSION_P, VPN_OTHER_SESSION_P)
    ip = np.where(vpn & ~abroad, world.vpn_pool[rng.integers(0, VPN_POOL_SIZE, s)], ip)
    dev = world.devices[sw, _pick_weighted_slot(rng, world.n_dev[sw])]
    dev = np.where(t >= world.switch_s[sw], world.switch_dev[sw], dev)
    dev = np.where(rng.random(s) < NEW_DEVICE_SESSION_P, random_devices(rng, s), dev)
    return ip, dev


def _session_logins(rng: np.random.Generator, sw: np.ndarray, t: np.ndarray, ip: np.ndarray,
                    dev: np.ndarray) -> dict:
    """One login per session, sometimes after a typo or two from the same place."""
    s = sw.size
    n_fail = np.where(rng.random(s) < FAILED_LOGIN_P, 1 + (rng.random(s) < 0.3), 0)
    fs = np.repeat(np.arange(s), n_fail)
    fail_rank = np.arange(fs.size) - np.repeat(np.cumsum(n_fail) - n_fail, n_fail)
    fail_t = t[fs] - (fail_rank + 1) * rng.integers(5, 40, fs.size)
    return {
        "w": np.concatenate([sw, sw[fs]]), "t": np.concatenate([t, fail_t]),
        "ip": np.concatenate([ip, ip[fs]]), "dev": np.concatenate([dev, dev[fs]]),
        "success": np.concatenate([np.ones(s, np.int8), np.zeros(fs.size, np.int8)]),
    }


def _session_transactions(rng: np.random.Generator, world: World, sw: np.ndarray,
                          t: np.ndarray, ip: np.ndarray, dev: np.ndarray) -> dict:
    """Sessions of 1 + Poisson transactions, a few bursts, some logins with no transaction."""
    n, s = world.n, sw.size
    login_only = rng.random(s) < LOGIN_ONLY_SHARE / (1 + LOGIN_ONLY_SHARE)
    burst = ~login_only & (rng.random(s) < BURST_SESSION_P) & (n > 1)
    n_tx = np.where(login_only, 0, 1 + rng.poisson(EXTRA_TX_PER_SESSION, s))
    n_tx = np.where(burst, rng.integers(5, 16, s), n_tx)
    ts_idx = np.repeat(np.arange(s), n_tx)
    first = np.cumsum(n_tx) - n_tx
    first = first[n_tx > 0]
    gap = rng.exponential(np.where(burst[ts_idx], 150.0, 240.0))
    gap[first] = rng.integers(15, 180, first.size)
    csum = np.cumsum(gap)
    within = csum - np.repeat(csum[first] - gap[first], n_tx[n_tx > 0])
    w = sw[ts_idx]
    tx_t = t[ts_idx] + within.astype(np.int64)
    u = rng.random(w.size)
    typ = (u > world.type_cum[w, 0]).astype(np.int8) + (u > world.type_cum[w, 1])
    typ = np.where(burst[ts_idx], TRANSFER, typ).astype(np.int8)
    # A new wallet starts by funding itself.
    wallet_first = np.r_[True, w[1:] != w[:-1]] if w.size else np.zeros(0, bool)
    typ[wallet_first & world.young[w]] = DEPOSIT

    is_tr = typ == TRANSFER
    known = burst[ts_idx] | (rng.random(w.size) < KNOWN_CONTACT_P)
    slot = np.minimum((world.n_contacts[w] * rng.random(w.size) ** 2).astype(np.int64),
                      world.n_contacts[w] - 1)
    stranger = (w + 1 + rng.integers(0, max(n - 1, 1), w.size)) % n
    cp = np.where(known, world.contacts[w, slot], stranger)
    cp = np.where(is_tr, cp, -1)

    keep = tx_t < world.end_s
    # Dict items are evaluated in order: amounts are drawn before tokens.
    tx = {"w": w, "t": tx_t, "type": typ, "cents": draw_amount_cents(rng, world, w, typ),
          "ip": ip[ts_idx], "dev": dev[ts_idx], "cp": cp, "token": draw_tokens(rng, world, w)}
    return {k: v[keep] for k, v in tx.items()}


def normal_activity(rng: np.random.Generator, world: World) -> tuple[dict, dict]:
    """All legitimate sessions, logins and transactions, drawn at once.

    Returns ``(tx, logins)``: dicts of equally long integer arrays (wallet index ``w``, epoch
    seconds ``t``, integer ``ip``, ``dev``, ...); transactions come grouped by wallet, which
    the fraud injector's per-wallet offsets rely on.
    """
    sw, t, abroad = _session_times(rng, world)
    ip, dev = _session_places(rng, world, sw, t, abroad)
    logins = _session_logins(rng, sw, t, ip, dev)
    tx = _session_transactions(rng, world, sw, t, ip, dev)
    return tx, logins
