"""One function per feature family (features/catalog.py says which feature is in which).

Window conventions: a window W of a transaction at t covers [t - W, t]. Counts and sums of
the wallet's own transactions *include the transaction itself* (three transactions within 40
minutes give a 1 h count of 3 on the third); inflow, incoming transfers and logins are those
strictly before it. Baselines (mean, max, rate) look at the LOOKBACK strictly before the
transaction, "new" and "known for" at PAIR_LOOKBACK. `_vs_rate` features compare a window
with what the wallet's own earlier rate predicts, so a busy trader's normal hour is not a
burst while a quiet wallet's burst stands out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wallet_monitor.features.arrays import (
    NS_PER_DAY,
    NS_PER_H,
    NS_PER_S,
    csum,
)
from wallet_monitor.features.context import (
    ACCESS,
    AMOUNT_SCALE,
    LOG_SCALE,
    Context,
    FeatureMatrix,
)
from wallet_monitor.features.events import (
    KIND_IN,
    KIND_LOGIN,
    KIND_OWN,
    Events,
    access_pairs,
    pair_stats,
)
from wallet_monitor.features.geo import travel
from wallet_monitor.features.params import (
    AMOUNT_PRIOR_LOG_SD,
    AMOUNT_SHRINK_K,
    AMOUNT_Z_CLIP,
    BUSIEST_LOOKBACK,
    LOOKBACK,
    NEAR_THRESHOLD_FRACTION,
    NEW_ACCESS_SPAN,
    REDEEM_SHARE_PRIOR_K,
    REPORTING_THRESHOLDS,
    WINDOWS,
)
from wallet_monitor.schema import TX_TYPES


@dataclass
class Totals:
    """Counts and sums of the wallet's own transactions per window, shared by the amount,
    velocity and flow families."""

    x: np.ndarray  # log1p(amount) of each target
    cnt1: np.ndarray
    cnt24: np.ndarray
    cntL: np.ndarray  # strictly before the target, within LOOKBACK
    sum1: np.ndarray
    sum24: np.ndarray
    sumL: np.ndarray
    by_type: dict[str, dict[str, np.ndarray]]  # c1, c24, cL, a1, a24 per transaction type


def window_totals(ctx: Context) -> Totals:
    windows = [(ctx.s1, True), (ctx.s24, True), (ctx.sL, False)]  # 1 h, 24 h, LOOKBACK
    # Row 0: every own transaction; row 1 + i: those of type TX_TYPES[i].
    (c1, a1), (c24, a24), (cL, aL) = ctx.type_sums(ctx.amt_fx, windows)
    by_type = {name: {"c1": c1[i + 1], "c24": c24[i + 1], "cL": cL[i + 1],
                      "a1": a1[i + 1] / AMOUNT_SCALE, "a24": a24[i + 1] / AMOUNT_SCALE}
               for i, name in enumerate(TX_TYPES)}
    return Totals(
        x=np.log1p(ctx.amount[ctx.P]), cnt1=c1[0], cnt24=c24[0], cntL=cL[0],
        sum1=a1[0] / AMOUNT_SCALE, sum24=a24[0] / AMOUNT_SCALE, sumL=aL[0] / AMOUNT_SCALE,
        by_type=by_type,
    )


def amount_family(ctx: Context, tot: Totals, f: FeatureMatrix) -> np.ndarray:
    """The amount against the wallet's own history; returns each target's largest earlier
    amount in the LOOKBACK (-inf when none), which the velocity family reads too."""
    P, sL, x, amount = ctx.P, ctx.sL, tot.x, ctx.amount
    log_amount = np.log1p(amount)  # read where own only
    logs = np.round(log_amount * LOG_SCALE).astype(np.int64)
    logs2 = np.round(log_amount**2 * LOG_SCALE).astype(np.int64)
    del log_amount
    n_l = tot.cntL.astype(np.float64)
    # The LOOKBACK's sums of the own transactions' logs and squared logs: row 0 all, 1 + i type i.
    [(_, s_log)] = ctx.type_sums(logs, [(sL, False)], counts=False)
    [(_, s_log2)] = ctx.type_sums(logs2, [(sL, False)], counts=False)
    f["amount_log"] = x
    f["amount_z"], mean_log = _shrunk_z(x, n_l, s_log[0] / LOG_SCALE, s_log2[0] / LOG_SCALE)
    f["amount_vs_typical"] = np.where(n_l > 0, (x - mean_log) * n_l / (n_l + AMOUNT_SHRINK_K), 0.0)
    z_same = np.zeros(ctx.n_out)
    for i, name in enumerate(TX_TYPES):
        n_t = tot.by_type[name]["cL"].astype(np.float64)
        st = s_log[i + 1] / LOG_SCALE
        st2 = s_log2[i + 1] / LOG_SCALE
        z_t, _ = _shrunk_z(x, n_t, st, st2)
        sel = ctx.type_e[P] == i
        z_same[sel] = z_t[sel]
    f["amount_z_same_type"] = z_same
    del logs, logs2
    prev_max = ctx.wmax(amount, ctx.own, sL)
    f["amount_vs_max"] = np.where(tot.cntL > 0, x - np.log1p(np.maximum(prev_max, 0.0)), 0.0)
    for i, name in enumerate(TX_TYPES):
        f[f"type_{name}"] = (ctx.type_e[P] == i).astype(np.float64)
    f["amount_unverified_log"] = x * (1.0 - ctx.kyc_w)
    age_days = np.maximum(ctx.age_ns, 0) / NS_PER_DAY
    f["amount_vs_age"] = x - np.log1p(age_days) if ctx.cols.wallets else np.zeros(ctx.n_out)
    return prev_max


def velocity_family(ctx: Context, tot: Totals, prev_max: np.ndarray, f: FeatureMatrix) -> None:
    """Counts and sums in windows, against the wallet's own usual rate."""
    P, t, span_h, bt = ctx.P, ctx.t, ctx.span_h, tot.by_type
    f["tx_count_1h_log"] = np.log1p(tot.cnt1)
    f["amount_sum_1h_log"] = np.log1p(tot.sum1)
    f["amount_sum_24h_log"] = np.log1p(tot.sum24)
    for name in TX_TYPES:
        f[f"{name}_count_1h_log"] = np.log1p(bt[name]["c1"])
        f[f"{name}_sum_1h_log"] = np.log1p(bt[name]["a1"])
    for name in ("redeem", "deposit"):
        f[f"{name}_count_24h_log"] = np.log1p(bt[name]["c24"])
        f[f"{name}_sum_24h_log"] = np.log1p(bt[name]["a24"])
    hours24 = WINDOWS["24h"].value / NS_PER_H
    deposits = np.flatnonzero(ctx.is_type["deposit"])  # only deposits can be near a threshold
    amount_d = ctx.amount[deposits]
    near_d = np.zeros(len(deposits), bool)
    for limit in REPORTING_THRESHOLDS:
        near_d |= (amount_d >= limit * (1 - NEAR_THRESHOLD_FRACTION)) & (amount_d < limit)
    near = np.zeros(ctx.ev.n, bool)
    near[deposits] = near_d
    del deposits, amount_d, near_d
    near24, nearL = ctx.wsums(near, [(ctx.s24, True), (ctx.sL, False)])
    f["near_threshold_deposits_24h_log"] = np.log1p(near24)
    # A wallet that always deposits near a threshold (its usual amounts sit there) is not
    # structuring; one that starts to is.
    f["near_threshold_24h_vs_rate"] = np.log1p(near24) - np.log1p(nearL / span_h * hours24)
    del near, near24, nearL
    # Time of day from the UTC timestamp alone (fractional hours on the circle, so 23:59 and
    # 00:01 are neighbours); a local hour would need home_country and break on travel.
    day_angle = (t % NS_PER_DAY) * (2 * np.pi / NS_PER_DAY)
    f["hour_sin"] = np.sin(day_angle)
    f["hour_cos"] = np.cos(day_angle)
    prev_own = ctx.last_before(ctx.own)
    f["time_since_prev_tx_log"] = _since_log(prev_own, ctx.ev, P, t)
    gap_ns = np.where(prev_own >= 0, t - ctx.ev.ts[np.maximum(prev_own, 0)], LOOKBACK.value)
    typical = np.where(tot.cntL > 0, tot.sumL / np.maximum(tot.cntL, 1), ctx.amount[P])
    for wname, cnt, total in (("1h", tot.cnt1, tot.sum1), ("24h", tot.cnt24, tot.sum24)):
        hours = WINDOWS[wname].value / NS_PER_H
        f[f"tx_count_{wname}_vs_rate"] = np.log(cnt) - np.log1p(tot.cntL / span_h * hours)
        f[f"amount_sum_{wname}_vs_rate"] = np.log1p(total) - np.log1p(
            tot.sumL / span_h * hours + typical
        )
    for name in ("transfer", "redeem", "deposit"):
        f[f"{name}_count_24h_vs_rate"] = (np.log1p(bt[name]["c24"])
                                          - np.log1p(bt[name]["cL"] / span_h * hours24))
    red = bt["redeem"]
    f["redeem_count_1h_vs_rate"] = np.log1p(red["c1"]) - np.log1p(red["cL"] / span_h)
    f["redeem_sum_24h_vs_typical"] = np.log1p(red["a24"] / typical)
    _redemption_share(ctx, tot, f)
    # Redeemed this hour against the largest earlier redemption (or earlier amount of any kind).
    red_max = ctx.wmax(ctx.amount, ctx.is_type["redeem"], ctx.sL)
    base = np.where(np.isfinite(red_max), red_max, np.where(tot.cntL > 0, prev_max, np.nan))
    f["redeem_sum_1h_vs_max"] = np.where(
        (ctx.type_e[P] == 2) & np.isfinite(base),
        np.log1p(red["a1"]) - np.log1p(np.maximum(base, 0.0)), 0.0,
    )
    # Idle time, but never longer than the wallet has existed: a dormant wallet waking up with a
    # large amount scores high, a brand-new wallet's first transaction does not.
    idle_ns = np.minimum(gap_ns, np.maximum(ctx.age_ns, 0)) if ctx.cols.wallets else gap_ns
    f["dormant_amount"] = np.minimum(idle_ns / LOOKBACK.value, 1.0) * tot.x
    f["redeem_count_24h_vs_busiest"] = _vs_busiest(ctx, ctx.is_type["redeem"], red["c24"], "24h")
    # Issue 18h: the same against the wallet's busiest earlier hour and day of any type. A wallet
    # that has had such an hour before (a trader's busy hour, a payout run) is not bursting;
    # one that never had is (docs/QUALITY.md, eighth round).
    f["tx_count_1h_vs_busiest"] = _vs_busiest(ctx, ctx.own, tot.cnt1, "1h")
    f["tx_count_24h_vs_busiest"] = _vs_busiest(ctx, ctx.own, tot.cnt24, "24h")


def _vs_busiest(ctx: Context, mask: np.ndarray, count: np.ndarray, window: str,
                amounts: np.ndarray | None = None) -> np.ndarray:
    """The window's events of `mask` (`count`, the target included) against the wallet's
    busiest earlier window, log1p(count) - log1p(busiest): the largest count in the `window`
    ending at any of its `mask` events before the target's own window, back to
    BUSIEST_LOOKBACK (LOOKBACK - `window`, so each earlier window lies in the LOOKBACK); 0
    without one. A wallet that has had such a day before is not bursting, however far above
    its average rate the day is. With `amounts` (per event, fixed point), totals of them
    instead of counts: `count` is then the window's total in USD."""
    span = WINDOWS[window]
    pos = np.flatnonzero(mask)
    count_e = np.zeros(ctx.ev.n)
    if len(pos):  # each event's own window count (or total), itself included
        cs = csum(mask.astype(np.int64) if amounts is None else np.where(mask, amounts, 0))
        count_e[pos] = cs[pos + 1] - cs[ctx.ev.start(pos, span)]
    end = {"1h": ctx.s1, "24h": ctx.s24}[window]
    busiest = ctx.wmax(count_e, mask, ctx.window_start(BUSIEST_LOOKBACK[window]), end)
    busiest = np.where(np.isfinite(busiest), busiest, 0.0)
    return np.log1p(count) - np.log1p(busiest if amounts is None else busiest / AMOUNT_SCALE)


def _redemption_share(ctx: Context, tot: Totals, f: FeatureMatrix) -> None:
    """Redemptions crowding out the wallet's other activity (a cash-out spread over a day)."""
    red, span_h = tot.by_type["redeem"], ctx.span_h
    hours24 = WINDOWS["24h"].value / NS_PER_H
    usual_share = (red["cL"] / span_h * hours24 + 0.1) / (tot.cntL / span_h * hours24 + 0.3)
    share_now = (red["c24"] + REDEEM_SHARE_PRIOR_K * usual_share) / (
        tot.cnt24 + REDEEM_SHARE_PRIOR_K
    )
    f["redeem_share_24h_vs_usual"] = np.where(
        ctx.type_e[ctx.P] == 2, np.log(share_now / usual_share), 0.0
    )


def flow_family(ctx: Context, tot: Totals, f: FeatureMatrix) -> None:
    """Money in and out: inflow sent on within minutes, new counterparties, wallet age, KYC."""
    P, t, k, s1 = ctx.P, ctx.t, ctx.kind, ctx.s1
    inflow = (k == KIND_IN) | ctx.is_type["deposit"]
    amt = ctx.amt_fx
    in1, in24, in24_row = ctx.wsums(amt, [(s1, False), (ctx.s24, False), (ctx.s24, True)], inflow)
    in1 = in1 / AMOUNT_SCALE
    f["inflow_1h_log"] = np.log1p(in1)
    f["inflow_24h_log"] = np.log1p(in24 / AMOUNT_SCALE)
    # Issue 18m: the day's inflow (the row itself included when it is a deposit) against the
    # wallet's largest earlier day of it: smurfing and mule pass-throughs receive far more in a
    # day than the wallet ever has; a busy wallet's busy day is at its habit (docs/QUALITY.md,
    # thirteenth candidate).
    f["inflow_24h_vs_busiest"] = _vs_busiest(ctx, inflow, in24_row / AMOUNT_SCALE, "24h", amt)
    del in24_row
    incoming = k == KIND_IN
    f["incoming_transfers_1h_log"] = np.log1p(ctx.wsum(incoming, s1, False))
    outgoing = ctx.type_e[P] != 0
    a = ctx.amount[P]
    f["forward_share"] = np.where(outgoing & (in1 > 0),
                                  np.minimum(a, in1) / np.where(in1 > 0, in1, 1), 0.0)
    last_in = ctx.last_before(inflow)
    since_in = np.where(last_in >= 0, t - ctx.ev.ts[np.maximum(last_in, 0)], LOOKBACK.value)
    since_in = np.where(outgoing, np.minimum(since_in, LOOKBACK.value), LOOKBACK.value)
    f["minutes_since_inflow_log"] = np.log1p(since_in / (60 * NS_PER_S))
    s30 = ctx.window_start(WINDOWS["30m"])
    in30 = ctx.wsum(amt, s30, False, inflow) / AMOUNT_SCALE
    out30 = ctx.wsum(amt, s30, True, ctx.own & (ctx.type_e != 0)) / AMOUNT_SCALE
    f["forwarded_30m_log"] = np.where(outgoing, np.log1p(np.minimum(out30, in30)), 0.0)
    del in30, out30, s30
    # A mule forwards most of what another wallet just sent it: outflow and incoming transfers of
    # the last hour of about the same size (min/max of the two), 0 without incoming transfers.
    inc1 = ctx.wsum(amt, s1, False, incoming) / AMOUNT_SCALE
    f["incoming_forward_ratio_1h"] = np.where(
        outgoing & (inc1 > 0), np.minimum(a, inc1) / np.maximum(np.maximum(a, inc1), 1e-9), 0.0
    )
    _counterparties(ctx, tot, f)
    f["wallet_age_days_log"] = (
        np.log1p(np.maximum(ctx.age_ns, 0) / NS_PER_DAY) if ctx.cols.wallets
        else np.zeros(ctx.n_out)
    )
    f["kyc_verified"] = ctx.kyc_w


def _counterparties(ctx: Context, tot: Totals, f: FeatureMatrix) -> None:
    """New counterparties: a transfer to a wallet not paid, nor paid by, in the PAIR_LOOKBACK."""
    P, k = ctx.P, ctx.kind
    other = ctx.other()
    cp_new_e, _, _ = pair_stats(ctx.ev, (other >= 0) & ((k == KIND_IN) | ctx.is_type["transfer"]),
                                other, read=np.zeros(ctx.ev.n, bool))  # only "new" is read
    cp_new_out = cp_new_e & ctx.own & ctx.is_type["transfer"]
    f["counterparty_new"] = cp_new_out[P].astype(np.float64)
    new24, new1 = ctx.wsums(cp_new_out, [(ctx.s24, True), (ctx.s1, True)])
    f["new_counterparties_24h_log"] = np.log1p(new24)
    # Against the wallet's usual transfer rate (a count of earlier *new* counterparties over the
    # LOOKBACK would read flags that themselves look a further PAIR_LOOKBACK back).
    f["new_counterparties_1h_vs_rate"] = np.log1p(new1) - np.log1p(
        tot.by_type["transfer"]["cL"] / ctx.span_h
    )
    if not ctx.cols.counterparty:
        # Without counterparties the count is 0 and only the rate term would remain: a
        # wallet-activity measure that drifts with the history length, not a neutral value.
        f["new_counterparties_1h_vs_rate"] = np.zeros(ctx.n_out)


def access_family(ctx: Context, f: FeatureMatrix) -> None:
    """Where and how the wallet is used: new IPs, countries and devices, travel, logins."""
    P, k = ctx.P, ctx.kind
    access = (k == KIND_OWN) | (k == KIND_LOGIN)
    is_login = k == KIND_LOGIN
    success = ctx.success()
    success_e = np.zeros(ctx.ev.n, bool) if success is None else success
    # How long a wallet or place is known is read at the targets and in their last hour only.
    read = ctx.in_windows(ctx.s1)
    wallet_known_e, pairs = access_pairs(ctx.ev, access, tuple(ACCESS), ctx.access,
                                         ctx.values.access_block(), success_e, read)
    # A follower's context (the kernels: few targets) reads few of its events; a batch reads
    # most, where whole arrays cost less than taking the read ones out.
    read_at = np.flatnonzero(read) if ctx.ev.compiled is not None else slice(None)
    new_e, val_e = _known_places(ctx, f, access, pairs, wallet_known_e, read_at)
    new_at = {name: e[P] for name, e in new_e.items()}
    new_place = np.add(new_at["ip"], new_at["country"], dtype=np.float64)
    f["access_new_count"] = new_place + new_at["device"]
    # Device continuity: a traveller or a VPN user brings a known device to a new place; a
    # takeover arrives on a new device, and its cash-out leaves from it. Without device_id
    # every device is unknown, and a new place counts as it is.
    f["new_place_new_device"] = new_place * new_at["device"] if ctx.cols.device else new_place
    outgoing = ctx.type_e[P] != 0
    f["amount_out_new_device_log"] = np.where(
        outgoing & new_at["device"], f.get("amount_log"), 0.0
    )
    del new_place, new_at
    f["country_changed"], f["travel_speed_log"] = travel(
        ctx.ev, P, val_e["country"], access, ctx.country_vocab
    )
    c_now = val_e["country"][P]
    f["country_not_home"] = (
        (ctx.home_w >= 0) & (c_now >= 0) & (ctx.home_w != c_now)
    ).astype(np.float64)
    _login_failures(ctx, f, is_login, success_e, success is not None, wallet_known_e, new_e,
                    val_e["device"])


def _known_places(ctx: Context, f: FeatureMatrix, access, pairs, wallet_known_e, read_at):
    """Per access event, for IP, country and device: is it new to the wallet, since when is it
    known, was it ever used to log in (`pairs`: `events.access_pairs`' statistics of each, read
    at the events `read_at`, positions or every event); fills the *_new, *_known_days_log, login_unseen and
    new_ips_24h_log features and returns the per-event new flags (False but where read) and
    value codes."""
    P = ctx.P
    new_out, val_out = {}, {}
    login_unseen = np.zeros(ctx.n_out)
    wallet_known_r = wallet_known_e[read_at]  # 0 where not read: nothing is new there
    for name in ACCESS:
        val = ctx.access(name)
        first_e, known_e, seen_e = pairs(name)
        known_r = known_e[read_at]
        new_e = np.zeros(ctx.ev.n, bool)
        new_e[read_at] = (access[read_at] & (val[read_at] >= 0) & (known_r < NEW_ACCESS_SPAN.value)
                          & (wallet_known_r > known_r))
        f[f"{name}_new"] = new_e[P]
        f[f"{name}_known_days_log"] = np.log1p(known_e[P] / NS_PER_DAY)
        # A transaction from an IP or device the wallet never logged in from (session hijack);
        # decided by the files' columns, never by which rows happen to be loaded.
        login_col = {"ip": "ip_address", "device": "device_id"}.get(name)
        if ctx.cols.logins and login_col in ctx.cols.login_columns:
            login_unseen = np.maximum(login_unseen, ((val[P] >= 0) & ~seen_e[P]).astype(np.float64))
        if name == "ip":
            f["new_ips_24h_log"] = np.log1p(ctx.wsum(first_e, ctx.s24, True))
        new_out[name], val_out[name] = new_e, val
    f["login_unseen"] = login_unseen
    return new_out, val_out


def _login_failures(ctx: Context, f: FeatureMatrix, is_login, success_e, logged: bool,
                    wallet_known_e, new_e: dict, device_e) -> None:
    s1 = ctx.s1
    failed_e = is_login & ~success_e
    failed1, failed24 = ctx.wsums(failed_e, [(s1, False), (ctx.s24, False)])
    success1 = ctx.wsum(success_e, s1, False)
    f["failed_logins_1h_log"] = np.log1p(failed1)
    f["failed_logins_24h_log"] = np.log1p(failed24)
    f["success_logins_1h_log"] = np.log1p(success1)
    # Failures as a share of the hour's logins (one pseudo-login keeps a lone typo at 1/2): a
    # busy wallet's occasional typos add up to counts that only a password guesser reaches
    # when they are the share of its logins.
    f["failed_login_share_1h"] = failed1 / (failed1 + success1 + 1.0)
    f["failed_logins_new_ip_1h_log"] = np.log1p(
        ctx.wsum(failed_e, s1, False, new_e["ip"]))
    # A password guesser fails from a device the wallet does not know; its owner's typos come
    # from the owner's own device. A login without a device is judged by its IP. A wallet seen
    # for less than NEW_ACCESS_SPAN (new, or silent for the whole look-back: a dormant account)
    # has no device to know, so its failures all count.
    unfamiliar = np.where(device_e >= 0, new_e["device"], new_e["ip"]) | (
        wallet_known_e < NEW_ACCESS_SPAN.value
    )
    f["failed_logins_new_device_1h_log"] = np.log1p(
        ctx.wsum(failed_e, s1, False, unfamiliar)
    )
    if logged:  # a logins input was given
        f["time_since_success_login_log"] = _since_log(
            ctx.last_before(success_e), ctx.ev, ctx.P, ctx.t)
    else:
        f["time_since_success_login_log"] = np.zeros(ctx.n_out)


def _shrunk_z(x, n, s, s2):
    """Deviation of x from the mean of n earlier log amounts, shrunk toward 0 for small n."""
    safe_n = np.maximum(n, 1.0)
    mean = s / safe_n
    var = np.maximum(s2 / safe_n - mean**2, 0.0)
    blended = (n * var + AMOUNT_SHRINK_K * AMOUNT_PRIOR_LOG_SD**2) / (n + AMOUNT_SHRINK_K)
    z = (n / (n + AMOUNT_SHRINK_K)) * (x - mean) / np.sqrt(blended)
    return np.where(n > 0, np.clip(z, -AMOUNT_Z_CLIP, AMOUNT_Z_CLIP), 0.0), mean


def _since_log(prev: np.ndarray, ev: Events, P: np.ndarray, t: np.ndarray) -> np.ndarray:
    """log1p(seconds since the event at `prev`), capped at LOOKBACK (also when there is none)."""
    dt = np.where(prev >= 0, t - ev.ts[np.maximum(prev, 0)], LOOKBACK.value)
    return np.log1p(np.minimum(dt, LOOKBACK.value) / NS_PER_S)
