"""Episode linking: a flagged row raises the rows of its episode.

A fraud episode shows itself only part way through: the first transfers of a fan-out, the
deposit that opens a mule chain and the first redemptions of a cash-out look ordinary when
they happen. Once a row is flagged, `link_episodes` raises with it:
- the same wallet's earlier rows of the same type within EPISODE_WINDOW;
- the inflow a flagged outflow sent on (the wallet's latest deposit or incoming transfer
  before it, if within EPISODE_FUNDING), and, forward, the outflows that sent on a flagged
  inflow (a pass-through's transfers out of a flagged deposit, a chain's next hop);
- where the outflow of such a funding link passes on most of its inflow (EPISODE_FOLLOW_SHARE
  to all of it) within EPISODE_FOLLOW_WITHIN, the two rows are one movement of the same money
  and the link counts EPISODE_FOLLOW_WEIGHT of the flagged row's evidence (needs amounts);
- the other transfers into the wallet a flagged transfer paid, within EPISODE_WINDOW either side
  of it, where that wallet sends money on within EPISODE_WINDOW of the flagged transfer
  (several wallets feeding one that moves the money: a fan-in's collector, a layering mesh's
  hop; evidence no single wallet's features see, and a merchant paid by many is not one);
- last, a flagged deposit's series: the same wallet's deposits of a similar amount (within a
  factor EPISODE_SERIES_BAND) in the EPISODE_SERIES_WINDOW before it. Rows raised there raise
  nothing in turn.
A linked row's evidence -log(1 - score) becomes a weight of the flagged row's plus the rest of
its own; rows that looked entirely ordinary themselves (under EPISODE_MIN_SCORE, or
EPISODE_FOLLOW_MIN_SCORE where the money is followed) are never raised. EPISODE_PASSES passes
let a raised row raise its own predecessors (a chain's opening deposit). Rows at the same time
are not "before" each other, and ties are broken by (time, transaction_id), so the answer does
not depend on row order. This is the one step where a row's score depends on later rows: at
most EPISODE_REACH later, or EPISODE_SERIES_WINDOW + EPISODE_REACH for a deposit of a series.
The measurements behind each constant are in docs/DECISIONS.md.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

EPISODE_WINDOW = pd.Timedelta(hours=1)  # same-type predecessors: 1.5-2 h measured no better
EPISODE_FUNDING = pd.Timedelta(hours=1)  # how recent a funding inflow is (30 min before)
EPISODE_MIN_SCORE = 0.5  # a raised row was at least median-odd on its own
EPISODE_WEIGHT = 0.6  # share of the flagged row's evidence a plain link takes
EPISODE_FOLLOW_SHARE = 0.7  # "most of the money": 70-100% of the inflow passed on
EPISODE_FOLLOW_WITHIN = pd.Timedelta(minutes=30)
EPISODE_FOLLOW_WEIGHT = 0.9  # the same money: a mule chain's first hop rises with the next
EPISODE_FOLLOW_MIN_SCORE = 0.3
EPISODE_SERIES_WINDOW = pd.Timedelta(hours=24)  # structuring's deposits lie hours apart
EPISODE_SERIES_BAND = 1.25  # "a similar amount": within a factor 1.25
EPISODE_SERIES_WEIGHT = 0.9  # 0.6 left seed 1 short of the recall goal
EPISODE_PASSES = 2
# The latest a later row can still raise an earlier one in the passes (the follower keeps this
# much of every row; a deposit a series may raise up to EPISODE_SERIES_WINDOW before that): a
# link per pass, and the paid wallet's outflow a sibling link reads up to EPISODE_WINDOW after.
EPISODE_REACH = EPISODE_PASSES * max(EPISODE_WINDOW, EPISODE_FUNDING) + EPISODE_WINDOW

# The transaction columns link_episodes reads beside the scores (the last two optional).
EPISODE_TX_COLUMNS = ("transaction_id", "wallet_id", "timestamp", "type", "counterparty_wallet_id",
                      "amount")


# How a raised row is linked to the flagged row, in its reasons.
_LINK_WORDS = ("came before flagged", "funded flagged", "sent on funds of flagged",
               "funds sent on within minutes by flagged", "sent on within minutes funds of flagged",
               "one of a series of similar deposits before flagged",
               "paid the same wallet within the hour as flagged")


_FOLLOW_WORDS = 2  # a money-followed link's words: its plain link's index + this


_SERIES_WORDS = 5


_SIBLING_WORDS = 6


# Keys (group, time offset) stay under this, clear of int64's limit either side.
_KEY_LIMIT = 2**62


def _cat(*arrays) -> np.ndarray:
    """np.r_ of arrays (what it gives for them, at a fifth of its cost per call)."""
    return np.concatenate(arrays)


def _evidence(p: np.ndarray) -> np.ndarray:
    return -np.log(np.maximum(1.0 - p, 1e-12))


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (k, i) for every i in range(lo[k], hi[k])."""
    n = np.maximum(hi - lo, 0)
    k = np.repeat(np.arange(len(lo)), n)
    return k, np.repeat(lo - np.cumsum(n) + n, n) + np.arange(n.sum())


def _search_pairs(groups, times, g, t, side: str) -> np.ndarray:
    """np.searchsorted for (group, time) pairs in rows sorted by (groups, times)."""
    if not len(t):
        return np.zeros(0, dtype=np.int64)
    both = np.concatenate([times, t])
    lo, hi = int(both.min()), int(both.max())
    span = max(int(np.abs(groups).max(initial=0)), int(np.abs(g).max())) + 1
    return _searcher(groups, times, span, lo, hi)(g, t, side)


def _rank_search(groups, times, g, t, side: str) -> np.ndarray:
    """`_search_pairs` with the times' ranks in the keys: for bands that would overflow int64."""
    both = np.concatenate([times, t])
    _, rank = np.unique(both, return_inverse=True)
    width = np.int64(rank.max() + 1) if len(rank) else np.int64(1)
    rows = groups.astype(np.int64) * width + rank[: len(times)]
    return np.searchsorted(rows, np.asarray(g, np.int64) * width + rank[len(times):], side)


def _searcher(groups, times, span: int, lo: int, hi: int):
    """`_search_pairs` over rows sorted by (groups, times), for searches of groups within
    (-span, span) and times within [lo, hi]: (group, time) as one int64 key in the same order,
    the time's offset from `lo` within the group's band (no sort to rank the times: ~20 us a
    search on small sets), the rows' keys built once for all searches. A search outside those
    bounds is bounded anew (`_search_pairs`); bands that would overflow int64 (a long period
    over many groups) rank the times instead."""
    width = np.int64(hi - lo + 1)
    if span * (hi - lo + 1) >= _KEY_LIMIT:
        return functools.partial(_rank_search, groups, times)
    rows = groups.astype(np.int64) * width + (times - lo)

    def search(g, t, side: str) -> np.ndarray:
        if not len(t):
            return np.zeros(0, dtype=np.int64)
        if t.min() < lo or t.max() > hi:
            return _search_pairs(groups, times, g, t, side)
        return np.searchsorted(rows, np.asarray(g, np.int64) * width + (t - lo), side)
    return search


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """`pd.factorize(values)`'s codes and how many distinct values; a dict's codes when every
    value is a string (the same codes: first seen, first numbered; ~10x cheaper on 100 rows)."""
    seen: dict = {}
    listed = values.tolist()
    if not all(type(v) is str for v in listed):
        codes, uniques = pd.factorize(values)
        return codes, len(uniques)
    codes = np.fromiter((seen.setdefault(v, len(seen)) for v in listed), np.int64, len(listed))
    return codes, len(seen)


def _episode_passes(owner, receiver, kinds, ts, canon, amount, own, threshold):
    """The EPISODE_PASSES passes of link_episodes over one set of rows (arrays on the same
    positions); returns the linked score, the raising row's position (-1: none) and how."""
    n = len(own)
    score = own.copy()
    via = np.full(n, -1)
    link_how = np.zeros(n, dtype=np.int8)  # an index into _LINK_WORDS
    kind, n_kinds = _codes(kinds)
    # Same-type predecessors: rows sorted by (wallet, type, time).
    group = owner.astype(np.int64) * max(n_kinds, 1) + kind
    by_type = np.lexsort((canon, group))
    # Every search of the passes asks for times within EPISODE_WINDOW of the rows'.
    lo, hi = (int(ts.min()) - EPISODE_WINDOW.value, int(ts.max()) + EPISODE_WINDOW.value) if n \
        else (0, 0)
    wallets = int(max(np.abs(owner).max(initial=0), np.abs(receiver).max(initial=0))) + 1
    type_search = _searcher(group[by_type], ts[by_type],
                            int(np.abs(group).max(initial=0)) + 1, lo, hi)
    # Inflows: a deposit lands in its own wallet, a transfer in another wallet's.
    deposit = kinds == "deposit"
    dest = np.where(deposit, owner, receiver)
    xfer = (kinds == "transfer") & (receiver >= 0) & (receiver != owner)
    inflow = np.flatnonzero(deposit | xfer)
    inflow = inflow[np.lexsort((canon[inflow], dest[inflow]))]
    outflow = (kinds == "transfer") | (kinds == "redeem")
    # The inflow each outflow sent on: the wallet's latest inflow strictly before it (a row
    # that arrives later with the same time never changes which one that is), if recent.
    fund = np.full(n, -1, dtype=np.int64)
    outs = np.flatnonzero(outflow)
    if len(outs) and len(inflow):
        at = _searcher(dest[inflow], ts[inflow], wallets, lo, hi)(owner[outs], ts[outs],
                                                                  "left") - 1
        latest = inflow[np.maximum(at, 0)]
        ok = ((at >= 0) & (dest[latest] == owner[outs])
              & (ts[latest] >= ts[outs] - EPISODE_FUNDING.value))
        fund[outs[ok]] = latest[ok]
    spent = np.flatnonzero(fund >= 0)  # the outflows with a funding inflow
    # Transfers into another wallet, by (receiver, time): the siblings of a flagged one.
    into = inflow[~deposit[inflow]]
    sends = outs[np.lexsort((canon[outs], owner[outs]))]
    siblings = (into, _searcher(dest[into], ts[into], wallets, lo, hi),
                _searcher(owner[sends], ts[sends], wallets, lo, hi))
    for _ in range(EPISODE_PASSES):
        flagged_now = score >= threshold
        trig = np.flatnonzero(flagged_now)
        # Both ends of each trigger's window [t - W, t) in one search.
        ends = type_search(_cat(group[trig], group[trig]),
                           _cat(ts[trig] - EPISODE_WINDOW.value, ts[trig]), "left")
        k1, j = _expand(ends[: len(trig)], ends[len(trig):])
        # (flagged row, raised row, how linked): same-type predecessors, the inflow a flagged
        # outflow sent on, and the outflows that sent on a flagged inflow.
        up = spent[flagged_now[spent]]
        down = spent[flagged_now[fund[spent]]]
        src = np.concatenate([trig[k1], up, fund[down]])
        i = np.concatenate([by_type[j], fund[up], down])
        how = np.repeat(np.arange(3), [len(k1), len(up), len(down)])
        # Money followed: the outflow of a funding link (the flagged row when it funded, the
        # raised one when it sent on) passes on most of the inflow, soon after.
        out_row, in_row = np.where(how == 1, src, i), np.where(how == 1, i, src)
        follow = ((how > 0) & (amount[in_row] > 0) & np.isfinite(amount[in_row])
                  & (amount[out_row] <= amount[in_row])
                  & (amount[out_row] >= EPISODE_FOLLOW_SHARE * amount[in_row])
                  & (ts[out_row] - ts[in_row] <= EPISODE_FOLLOW_WITHIN.value))
        keep = own[i] >= np.where(follow, EPISODE_FOLLOW_MIN_SCORE, EPISODE_MIN_SCORE)
        src, i, how, follow = src[keep], i[keep], how[keep], follow[keep]
        weight = np.where(follow, EPISODE_FOLLOW_WEIGHT, EPISODE_WEIGHT)
        s_src, s_i = _siblings(*siblings, dest, ts, trig[xfer[trig]], own)
        src, i = _cat(src, s_src), _cat(i, s_i)
        _raise(score, via, link_how, canon, src, i,
               _cat(how + _FOLLOW_WORDS * follow, np.full(len(s_i), _SIBLING_WORDS)),
               _blend(_cat(weight, np.full(len(s_i), EPISODE_WEIGHT)), score[src], own[i]))
    return score, via, link_how


def _siblings(into, into_search, send_search, dest, ts, flagged, own):
    """(flagged transfer, raised transfer) for the other transfers into the wallet a flagged
    transfer paid, within EPISODE_WINDOW either side of it (edges included), that were at least
    median-odd on their own. `into`: the transfers into another wallet, by (receiver, time),
    searched by `into_search`; `send_search` searches the outflows by (owner, time)."""
    if not len(flagged):
        return flagged, flagged
    w = EPISODE_WINDOW.value
    lo = into_search(dest[flagged], ts[flagged] - w, "left")
    hi = into_search(dest[flagged], ts[flagged] + w, "right")
    # Only where the wallet paid moves money on within EPISODE_WINDOW of the flagged transfer:
    # a collector sends on what it collects, a merchant paid by many customers does not.
    s_lo = send_search(dest[flagged], ts[flagged] - w, "left")
    s_hi = send_search(dest[flagged], ts[flagged] + w, "right")
    moves = s_hi > s_lo
    k, j = _expand(np.where(moves, lo, 0), np.where(moves, hi, 0))
    src, i = flagged[k], into[j]
    ok = (i != src) & (own[i] >= EPISODE_MIN_SCORE)
    return src[ok], i[ok]


def _blend(weight, trigger: np.ndarray, own: np.ndarray) -> np.ndarray:
    """A linked row's score: `weight` of the flagged row's evidence plus the rest of its own."""
    return -np.expm1(-(weight * _evidence(trigger) + (1 - weight) * _evidence(own)))


def _raise(score, via, link_how, canon, src, i, how, value, earlier_ties=False) -> None:
    """Each raised row i keeps its strongest link (the earliest such src among equals), where
    it beats the row's score so far (with `earlier_ties`, also where it equals it by way of an
    earlier row than the link so far); in place. Reads `score` before writing it."""
    order = np.lexsort((canon[src], -value, i))
    best = order[_cat([True], i[order][1:] != i[order][:-1])] if len(order) else order
    wins = value[best] > score[i[best]]
    if earlier_ties:
        was = via[i[best]]
        wins |= ((value[best] == score[i[best]]) & (was >= 0)
                 & (canon[src[best]] < canon[np.maximum(was, 0)]))
    best = best[wins]
    score[i[best]] = value[best]
    via[i[best]] = src[best]
    link_how[i[best]] = how[best]


def _series_links(owner, kinds, ts, canon, amount, own, score, threshold):
    """The last step of link_episodes: (flagged deposit, earlier deposit of the series, value)
    for the same wallet's deposits of a similar amount in the EPISODE_SERIES_WINDOW before a
    flagged deposit. Triggers are read at their score after the passes (the follower's
    series_only rows at their own score: their stronger raises were made while they were
    recent)."""
    dep = np.flatnonzero((kinds == "deposit") & (amount > 0) & np.isfinite(amount))
    dep = dep[np.lexsort((canon[dep], owner[dep]))]
    trig = dep[score[dep] >= threshold]
    ends = _search_pairs(owner[dep], ts[dep], _cat(owner[trig], owner[trig]),
                         _cat(ts[trig] - EPISODE_SERIES_WINDOW.value, ts[trig]), "left")
    k, j = _expand(ends[: len(trig)], ends[len(trig):])
    src, i = trig[k], dep[j]
    ok = ((own[i] >= EPISODE_MIN_SCORE) & (amount[i] <= EPISODE_SERIES_BAND * amount[src])
          & (amount[src] <= EPISODE_SERIES_BAND * amount[i]))
    src, i = src[ok], i[ok]
    return src, i, _blend(EPISODE_SERIES_WEIGHT, score[src], own[i])


def link_episodes(rows: pd.DataFrame, threshold: float, series_only=None) -> pd.DataFrame:
    """Raise the rows that led up to a flagged row, and those that sent its funds on (see
    EPISODE_* above).

    `rows`: transaction_id, wallet_id, timestamp, type, fraud_score, reasons and optionally
    counterparty_wallet_id and amount (without it, no link counts as money followed and no
    deposit series is linked): the scored rows of one period, in any order. `series_only`
    (boolean per row) marks earlier deposits that take part only in the series step (the
    follower's older rows). Returns, on the same index, fraud_score, is_anomaly, reasons (a
    raised row names the row it is linked to) and linked_to (that row's transaction_id, "" if
    not raised).
    """
    n = len(rows)
    own = rows["fraud_score"].to_numpy(dtype=float)
    kinds = rows["type"].astype(str).to_numpy()
    amount = (pd.to_numeric(rows["amount"], errors="coerce").to_numpy(dtype=float)
              if "amount" in rows else np.full(n, np.nan))
    ids = rows["transaction_id"].astype(str).to_numpy()
    owner = receiver = ts = np.zeros(0, dtype=np.int64)
    if n:
        ts = pd.DatetimeIndex(rows["timestamp"]).as_unit("ns").asi8
        cp = (rows["counterparty_wallet_id"] if "counterparty_wallet_id" in rows
              else pd.Series(pd.NA, index=rows.index))
        codes, _ = pd.factorize(pd.concat([rows["wallet_id"], cp], ignore_index=True))
        owner, receiver = codes[:n], codes[n:]
    score, via, link_how = link_arrays(ids, owner, receiver, kinds, ts, amount, own, threshold,
                                       series_only)
    reasons = rows["reasons"].fillna("").astype(str).to_numpy(dtype=object)
    why, linked = episode_reasons(np.arange(n), ids, kinds, reasons, own, score, via, link_how,
                                  threshold)
    out = pd.DataFrame(index=rows.index)
    out["fraud_score"] = score
    out["is_anomaly"] = score >= threshold
    out["reasons"] = why
    out["linked_to"] = linked
    return out


def link_arrays(ids, owner, receiver, kinds, ts, amount, own, threshold, series_only=None):
    """`link_episodes` on arrays of the same rows: transaction ids (str), owner and receiving
    wallet codes (ints, -1: none), types, times (ns), amounts, own scores. Returns the linked
    score, the raising row's position (-1: not raised) and how it is linked (see
    `episode_reasons`). A row's answer depends only on rows that share a wallet with it, in
    chains: linking a set of rows closed under sharing an owner or receiving wallet gives each
    of them what linking all rows gives it."""
    n = len(own)
    score = own.copy()
    via = np.full(n, -1)
    link_how = np.zeros(n, dtype=np.int8)  # an index into _LINK_WORDS
    # Every link starts at a flagged row (the passes' triggers, the series' flagged deposit):
    # without one, nothing is raised (most of a follower's small batches).
    if n and (own >= threshold).any():
        # Rows in (time, transaction_id) order: ties are broken the same in any input order.
        canon = np.empty(n, dtype=np.int64)
        canon[np.lexsort((ids, ts))] = np.arange(n)
        p = (np.arange(n) if series_only is None
             else np.flatnonzero(~np.asarray(series_only, dtype=bool)))
        sp, sv, sh = _episode_passes(owner[p], receiver[p], kinds[p], ts[p], canon[p],
                                     amount[p], own[p], threshold)
        score[p], link_how[p] = sp, sh
        via[p[sv >= 0]] = p[sv[sv >= 0]]
        src, i, value = _series_links(owner, kinds, ts, canon, amount, own, score, threshold)
        # At an equal score the earlier row is named, as the follower names it (it may have
        # written this link before the one from the passes arrived).
        _raise(score, via, link_how, canon, src, i, np.full(len(i), _SERIES_WORDS), value,
               earlier_ties=True)
    return score, via, link_how


def episode_reasons(at, ids, kinds, reasons, own, score, via, link_how, threshold):
    """The reasons (own reasons first where flagged on its own, then the episode's; "" where
    not flagged) and linked_to ("" where not raised) of rows `at`, from `link_arrays`'s answer
    over rows with these ids, types and own reasons (strings)."""
    why = reasons[at].astype(object)
    linked = np.full(len(at), "", dtype=object)
    raised = np.flatnonzero(via[at] >= 0)
    if len(raised):
        rows = at[raised]
        src = via[rows]
        first = [r.split("; ")[0] for r in reasons[src]]  # its own first reason, if it had one
        words = np.asarray(_LINK_WORDS)[link_how[rows]]
        episode = [f"part of an episode: {w} {kinds[t]} {ids[t]}" + (f" ({y})" if y else "")
                   for w, t, y in zip(words, src, first, strict=True)]
        # A row flagged on its own keeps its own reasons first.
        why[raised] = [f"{r}; {e}" if o >= threshold and r else e
                       for r, e, o in zip(why[raised], episode, own[rows], strict=True)]
        linked[raised] = ids[src]
    return np.where(score[at] >= threshold, why, ""), linked
