"""The compiled feature kernels (numba) give exactly what their numpy paths give, which stay the
fallback: each kernel on random events, and every feature of a generated data set."""

from __future__ import annotations

import types
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from wallet_monitor.features import (
    arrays,
    build_features,
    context,
    events,
    geo,
    kernels,
    load_transactions,
)
from wallet_monitor.features.events import Events, pair_stats
from wallet_monitor.features.params import PAIR_LOOKBACK
from wallet_monitor.schema import TX_TYPES

DAY = 86_400 * 10**9


@pytest.fixture
def numpy_paths(monkeypatch):
    """Within the test: the numpy paths, as without numba."""
    def use_numpy():
        monkeypatch.setattr(kernels, "_KERNELS", [None])
    return use_numpy


def _compiled(ev: Events, on: bool) -> Events:
    ev.compiled = kernels.kernels() if on else None
    return ev


def _events(seed: int, n: int, n_wallets: int, days: float, grid: int = DAY // 144):
    """Events of a few wallets sorted by (wallet, time), times over `days` on a `grid` (ties,
    and gaps of exactly a window or PAIR_LOOKBACK)."""
    rng = np.random.default_rng(seed)
    wallet = np.sort(rng.integers(0, n_wallets, n))
    ts = rng.integers(0, int(days * DAY), n) // grid * grid
    ts = np.concatenate([np.sort(ts[wallet == w]) for w in np.unique(wallet)])
    return rng, Events(wallet, ts, None, np.zeros(n, np.int8))


def test_the_kernels_are_compiled_where_numba_is_installed():
    assert kernels.kernels() is not None  # numba is in requirements.txt


def test_the_switch_turns_the_kernels_off(monkeypatch):
    monkeypatch.setattr(kernels, "_KERNELS", [])
    monkeypatch.setenv(kernels.DISABLE_ENV, "1")
    assert kernels.kernels() is None


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_values", [1, 3, 40])
def test_pair_statistics_compiled_equal_numpy(seed, n_values):
    # 80 days: pairs fall out of the 29-day PAIR_LOOKBACK and come back new.
    rng, ev = _events(seed, 600, 4, 80, grid=DAY)
    value = rng.integers(0, n_values, ev.n) * 7919  # sparse codes: hash collisions, probing
    valid = rng.random(ev.n) < 0.8
    marked, read = rng.random(ev.n) < 0.3, rng.random(ev.n) < 0.5
    cases = [(marked, read), (None, None), (None, np.zeros(ev.n, bool))]
    compiled = [pair_stats(_compiled(ev, True), valid, value, m, r) for m, r in cases]
    for got, (m, r) in zip(compiled, cases, strict=True):
        for a, b in zip(got, pair_stats(_compiled(ev, False), valid, value, m, r), strict=True):
            np.testing.assert_array_equal(a, b)
    new, known, _ = compiled[1]
    assert new[valid].any() and (~new[valid]).any() and (known > PAIR_LOOKBACK.value / 2).any()


@pytest.mark.parametrize("seed", range(4))
def test_window_starts_sums_maxima_and_last_before_compiled_equal_numpy(seed):
    rng, ev = _events(seed, 800, 5, 40)
    k = kernels.kernels()
    at = np.sort(rng.choice(ev.n, 25 if seed % 2 else ev.n, replace=False))
    values = rng.integers(0, 10**9, ev.n)
    mask = rng.random(ev.n) < 0.4
    amount = rng.lognormal(3, 2, ev.n)
    amount[rng.choice(ev.n, 3)] = np.nan  # maxima keep NaN as np.maximum does
    # Few targets scan their windows; every event a target takes the cumulative pass.
    compiled_starts = [_compiled(ev, True).start(at, pd.Timedelta(days=d))
                       for d in (1 / 24, 1, 30)]
    sums = [k.window_sums(values, mask, s, at + 1) for s in compiled_starts]
    counts = [k.window_sums(mask, mask, s, at) for s in compiled_starts]
    maxima = [k.window_max(amount, mask, s, at) for s in compiled_starts]
    last = k.last_before(mask, ev.wallet, at)
    starts = [_compiled(ev, False).start(at, pd.Timedelta(days=d)) for d in (1 / 24, 1, 30)]
    for s, s_np, got_sum, got_count, got_max in zip(compiled_starts, starts, sums, counts, maxima,
                                                    strict=True):
        np.testing.assert_array_equal(s, s_np)
        cs = arrays.csum(np.where(mask, values, 0))
        np.testing.assert_array_equal(got_sum, cs[at + 1] - cs[s])
        cs = arrays.csum(mask.astype(np.int64))
        np.testing.assert_array_equal(got_count, cs[at] - cs[s])
        pos = np.flatnonzero(mask)
        np.testing.assert_array_equal(got_max, arrays.window_max(
            amount[pos], np.searchsorted(pos, s), np.searchsorted(pos, at)))
    np.testing.assert_array_equal(last, arrays.last_before(mask, ev.wallet, at))
    assert (compiled_starts[0] < at).any() and (last >= 0).any() and (last < 0).any()
    # Positions out of order (a search each) and in order with repeats (a start carried on).
    for where in (rng.permutation(at), np.sort(np.r_[at, at[::3]])):
        for d in (1 / 24, 1, 30):
            np.testing.assert_array_equal(_compiled(ev, True).start(where, pd.Timedelta(days=d)),
                                          _compiled(ev, False).start(where, pd.Timedelta(days=d)))


def _generated(data_dir):
    tx = load_transactions(data_dir / "transactions.csv")
    return tx, pd.read_csv(data_dir / "logins.csv"), pd.read_csv(data_dir / "wallets.csv")


def test_every_feature_compiled_equals_numpy(small_data_dir, numpy_paths, monkeypatch):
    tx, logins, wallets = _generated(small_data_dir)
    targets, history = tx.iloc[-400:], tx.iloc[:-400]
    used = []
    assemble = context.assemble

    def watched(ev, *args):
        out = assemble(ev, *args)
        used.append(ev.compiled is not None)
        return out

    monkeypatch.setattr(context, "assemble", watched)
    compiled = build_features(targets, history, wallets, logins)
    numpy_paths()
    assert used == [True]
    pd.testing.assert_frame_equal(compiled, build_features(targets, history, wallets, logins))
    assert used == [True, False]


def test_a_batch_whose_events_are_mostly_targets_runs_the_numpy_paths(small_data_dir,
                                                                      monkeypatch):
    tx, logins, wallets = _generated(small_data_dir)
    shares = []
    assemble = context.assemble

    def watched(ev, P_target, *args):
        shares.append((len(P_target) / ev.n, ev.compiled))
        out = assemble(ev, P_target, *args)
        shares[-1] += (out.ev.compiled,)
        return out

    monkeypatch.setattr(context, "assemble", watched)
    build_features(tx, None, wallets, logins)
    build_features(tx.iloc[-50:], tx.iloc[:-50], wallets, logins)
    (batch, _, batch_kernels), (few, _, few_kernels) = shares
    assert batch > context.COMPILED_MAX_SHARE and batch_kernels is None
    assert few < context.COMPILED_MAX_SHARE and few_kernels is kernels.kernels() is not None


def test_a_numba_that_cannot_set_up_its_cache_falls_back_to_numpy(monkeypatch, caplog):
    # numba picks its cache folder when a function is decorated and raises where none is
    # writable: the features then run their numpy paths instead of failing.
    import numba

    from wallet_monitor.features import kernels as kernels_module

    def no_cache(*args, **kw):
        raise RuntimeError("cannot cache function: no locator available")
    monkeypatch.setattr(numba, "njit", no_cache)
    monkeypatch.setattr(kernels_module, "_KERNELS", [])
    with caplog.at_level("WARNING"):
        assert kernels_module.kernels() is None
    assert "no locator available" in caplog.text


@pytest.mark.parametrize("seed", range(4))
def test_access_pairs_compiled_equal_each_values_pair_statistics(seed):
    # The access family's four pair statistics in one call: each row of values as
    # `pair_stats` gives it (numpy), and the wallet's own "known" as `pair_stats` of the access
    # events with one value; missing values (-1) and events that are not access events left out.
    rng, ev = _events(seed, 700, 4, 80, grid=DAY // 4)
    values = rng.integers(0, [[3], [40], [2]], (3, ev.n)) * 7919
    values[rng.random((3, ev.n)) < 0.15] = -1
    access = rng.random(ev.n) < 0.8
    marked, read = rng.random(ev.n) < 0.3, rng.random(ev.n) < 0.5
    names = ("ip", "country", "device")
    got_known, got = events.access_pairs(_compiled(ev, True), access, names,
                                         lambda name: values[names.index(name)], values,
                                         marked, read)
    want_known, want = events.access_pairs(_compiled(ev, False), access, names,
                                           lambda name: values[names.index(name)], None,
                                           marked, read)
    np.testing.assert_array_equal(got_known, want_known)
    for name in names:
        for a, b in zip(got(name), want(name), strict=True):
            np.testing.assert_array_equal(a, b)
    new, known, seen = got("country")
    assert new.any() and (known > PAIR_LOOKBACK.value / 2).any() and seen.any()
    assert (got_known > 0).any() and (got_known[~read] == 0).all()


def _owned(rng, ev):
    own = rng.random(ev.n) < 0.6
    type_e = np.where(own, rng.integers(-1, 3, ev.n), -1).astype(np.int8)  # -1: unknown type
    return own, type_e


@pytest.mark.parametrize("seed", range(4))
def test_type_sums_compiled_equal_numpy(seed):
    # Counts and sums of the own transactions per type, one scan per window: what `wsums` gives
    # with own and each type's mask; few targets scan (sliding on), every event a target takes
    # the cumulative pass.
    rng, ev = _events(seed, 800, 5, 40)
    own, type_e = _owned(rng, ev)
    values = rng.integers(0, 10**9, ev.n)
    at = np.sort(rng.choice(ev.n, 25 if seed % 2 else ev.n, replace=False))
    sums = {}
    for on in (True, False):
        _compiled(ev, on)
        ctx = SimpleNamespace(ev=ev, P=at, own=own, type_e=type_e,
                              is_type={name: own & (type_e == i)
                                       for i, name in enumerate(TX_TYPES)})
        windows = [(ev.start(at, pd.Timedelta(days=d)), inclusive)
                   for d, inclusive in ((1 / 24, True), (1, False), (30, False))]
        ctx.wsums = types.MethodType(context.Context.wsums, ctx)
        sums[on] = context.Context.type_sums(ctx, values, windows)
    for (c_got, s_got), (c_want, s_want) in zip(sums[True], sums[False], strict=True):
        np.testing.assert_array_equal(c_got, c_want)
        np.testing.assert_array_equal(s_got, s_want)
        assert c_got.shape == (len(TX_TYPES) + 1, len(at))
    counts = sums[True][2][0]
    assert (counts[0] > counts[1:].sum(axis=0)).any()  # own transactions of no known type


@pytest.mark.parametrize("seed", range(4))
def test_located_steps_compiled_equal_numpy(seed):
    # travel's steps: the wallet's last located event before a located target, and the last
    # one before the run of its country that the target ends.
    rng, ev = _events(seed, 600, 4, 20)
    access = rng.random(ev.n) < 0.7
    country = rng.integers(-1, 3, ev.n)
    at = np.sort(rng.choice(ev.n, 60 if seed % 2 else ev.n, replace=False))
    got = kernels.kernels().located_steps(access, country, ev.wallet, at)
    want = geo._located_steps(ev, at, country, access)
    located = access[at] & (country[at] >= 0)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a[located], b[located])
    prev, before = got
    assert (prev[located] >= 0).any() and (before[located] >= 0).any()
    assert (before[located] < prev[located]).any() and (before[located] == prev[located]).any()


def test_window_maxima_slide_while_the_maximum_stays_in_the_window():
    # Windows sliding on: the maximum leaves the window (a rescan), stays in it (kept), a NaN
    # stays the maximum while it is in the window, and a window of no counted events is -inf.
    values = np.array([5.0, 1.0, 2.0, 9.0, 3.0, np.nan, 4.0, 1.0, 2.0, 0.5])
    where = np.ones(len(values), bool)
    where[[7, 8]] = False
    start = np.array([0, 1, 2, 4, 5, 6, 7, 7])
    end = np.array([2, 3, 5, 5, 7, 7, 9, 9])
    got = kernels.kernels().window_max(values, where, start, end)
    pos = np.flatnonzero(where)
    want = arrays.window_max(values[pos], np.searchsorted(pos, start), np.searchsorted(pos, end))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, [5.0, 2.0, 9.0, 3.0, np.nan, 4.0, -np.inf, -np.inf])
