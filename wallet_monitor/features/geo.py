"""Where a country is on the map, and how fast a wallet would have had to travel."""

from __future__ import annotations

import numpy as np

from wallet_monitor.features.arrays import NS_PER_H
from wallet_monitor.features.events import Events
from wallet_monitor.features.params import LOOKBACK, MAX_TRAVEL_KMH, MIN_TRAVEL_TIME

# Approximate country centroids (lat, lon) for implied travel speed; unknown codes give no speed.
CENTROIDS: dict[str, tuple[float, float]] = {
    "US": (39.8, -98.6), "CA": (56.1, -106.3), "MX": (23.6, -102.5), "BR": (-14.2, -51.9),
    "AR": (-38.4, -63.6), "CO": (4.6, -74.3), "CL": (-35.7, -71.5), "PE": (-9.2, -75.0),
    "VE": (6.4, -66.6), "EC": (-1.8, -78.2), "BO": (-16.3, -63.6), "PY": (-23.4, -58.4),
    "UY": (-32.5, -55.8), "CR": (9.7, -83.8), "PA": (8.5, -80.8), "GT": (15.8, -90.2),
    "HN": (15.2, -86.2), "SV": (13.8, -88.9), "NI": (12.9, -85.2), "DO": (18.7, -70.2),
    "CU": (21.5, -77.8), "JM": (18.1, -77.3), "PR": (18.2, -66.6), "TT": (10.7, -61.2),
    "BS": (25.0, -77.4), "HT": (19.0, -72.3), "GB": (55.4, -3.4), "IE": (53.4, -8.2),
    "FR": (46.2, 2.2), "DE": (51.2, 10.5), "NL": (52.1, 5.3), "BE": (50.5, 4.5),
    "LU": (49.8, 6.1), "ES": (40.5, -3.7), "PT": (39.4, -8.2), "IT": (41.9, 12.6),
    "MT": (35.9, 14.4), "CH": (46.8, 8.2), "AT": (47.5, 14.6), "PL": (51.9, 19.1),
    "CZ": (49.8, 15.5), "SK": (48.7, 19.7), "HU": (47.2, 19.5), "SI": (46.2, 15.0),
    "HR": (45.1, 15.2), "BA": (43.9, 17.7), "RS": (44.0, 21.0), "ME": (42.7, 19.4),
    "AL": (41.2, 20.2), "MK": (41.6, 21.7), "GR": (39.1, 21.8), "BG": (42.7, 25.5),
    "RO": (45.9, 25.0), "MD": (47.4, 28.4), "UA": (48.4, 31.2), "BY": (53.7, 28.0),
    "LT": (55.2, 23.9), "LV": (56.9, 24.6), "EE": (58.6, 25.0), "FI": (61.9, 25.7),
    "SE": (60.1, 18.6), "NO": (60.5, 8.5), "DK": (56.3, 9.5), "IS": (64.9, -19.0),
    "CY": (35.1, 33.4), "TR": (39.0, 35.2), "RU": (61.5, 105.3), "GE": (42.3, 43.4),
    "AM": (40.1, 45.0), "AZ": (40.1, 47.6), "KZ": (48.0, 66.9), "UZ": (41.4, 64.6),
    "IR": (32.4, 53.7), "IQ": (33.2, 43.7), "SY": (34.8, 39.0), "LB": (33.9, 35.9),
    "IL": (31.0, 34.9), "JO": (30.6, 36.2), "SA": (23.9, 45.1), "AE": (23.4, 53.8),
    "QA": (25.4, 51.2), "BH": (26.0, 50.6), "KW": (29.3, 47.5), "OM": (21.5, 55.9),
    "YE": (15.6, 48.5), "AF": (33.9, 67.7), "PK": (30.4, 69.3), "IN": (20.6, 79.0),
    "LK": (7.9, 80.8), "NP": (28.4, 84.1), "BD": (23.7, 90.4), "MM": (21.9, 95.9),
    "TH": (15.9, 101.0), "KH": (12.6, 104.9), "LA": (19.9, 102.5), "VN": (14.1, 108.3),
    "MY": (4.2, 102.0), "SG": (1.35, 103.8), "ID": (-0.8, 113.9), "PH": (12.9, 121.8),
    "CN": (35.9, 104.2), "HK": (22.3, 114.2), "MO": (22.2, 113.5), "TW": (23.7, 121.0),
    "MN": (46.9, 103.8), "JP": (36.2, 138.3), "KR": (35.9, 127.8), "AU": (-25.3, 133.8),
    "NZ": (-40.9, 174.9), "EG": (26.8, 30.8), "MA": (31.8, -7.1), "DZ": (28.0, 1.7),
    "TN": (33.9, 9.5), "LY": (26.3, 17.2), "SD": (12.9, 30.2), "ET": (9.1, 40.5),
    "KE": (-0.02, 37.9), "TZ": (-6.4, 34.9), "UG": (1.4, 32.3), "RW": (-1.9, 29.9),
    "NG": (9.1, 8.7), "GH": (7.9, -1.0), "CI": (7.5, -5.5), "SN": (14.5, -14.5),
    "CM": (7.4, 12.4), "CD": (-4.0, 21.8), "AO": (-11.2, 17.9), "ZM": (-13.1, 27.8),
    "ZW": (-19.0, 29.2), "MZ": (-18.7, 35.5), "BW": (-22.3, 24.7), "NA": (-22.9, 18.5),
    "ZA": (-30.6, 22.9), "MG": (-18.8, 46.9), "MU": (-20.3, 57.6),
}  # fmt: skip


def haversine_km(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def travel(ev: Events, P, country_e, access, vocab):
    """Country change vs the previous access event, and km/h implied since the wallet was last
    seen in another country (both within LOOKBACK)."""
    n_out = len(P)
    changed = np.zeros(n_out)
    speed = np.zeros(n_out)
    if ev.compiled is not None:  # one pass up to the last target (a follower's few targets)
        prev, before = ev.compiled.located_steps(access, country_e, ev.wallet, P)
    else:
        steps = _located_steps(ev, P, country_e, access)
        if steps is None:
            return changed, speed
        prev, before = steps
    has = access[P] & (country_e[P] >= 0)
    if not has.any():
        return changed, speed
    at, prev, before = P[has], prev[has], before[has]
    t, cb = ev.ts[at], country_e[at]
    ok_prev = (prev >= 0) & (ev.ts[np.maximum(prev, 0)] >= t - LOOKBACK.value)
    changed[has] = (ok_prev & (country_e[np.maximum(prev, 0)] != cb)).astype(np.float64)
    tj = ev.ts[np.maximum(before, 0)]
    ok = (before >= 0) & (tj >= t - LOOKBACK.value)
    ca = np.where(ok, country_e[np.maximum(before, 0)], cb)  # where not ok, any country will do
    at_code = _centroids(vocab)
    km = haversine_km(at_code[ca, 0], at_code[ca, 1], at_code[cb, 0], at_code[cb, 1])
    hours = np.maximum(t - tj, MIN_TRAVEL_TIME.value) / NS_PER_H
    kmh = np.where(ok & np.isfinite(km), np.minimum(km / hours, MAX_TRAVEL_KMH), 0.0)
    speed[has] = np.log1p(kmh)
    return changed, speed


def _located_steps(ev: Events, P, country_e, access):
    """Per target: the event position of its wallet's last located event (an access event with a
    country) before it, and of the last one before the run of located events in the target's
    country that the target ends; -1 where none (None: no event is located). What the kernel
    `located_steps` gives, for a located target."""
    rows = np.flatnonzero(access & (country_e >= 0))
    if len(rows) == 0:
        return None
    c = country_e[rows]
    wr = ev.wallet[rows]
    boundary = np.ones(len(rows), bool)
    boundary[1:] = (wr[1:] != wr[:-1]) | (c[1:] != c[:-1])
    run_start = np.maximum.accumulate(np.where(boundary, np.arange(len(rows)), 0))
    where_c = np.full(ev.n, -1, np.int64)
    where_c[rows] = np.arange(len(rows))
    i = np.maximum(where_c[P], 0)  # a target not located: any row (its steps are not read)
    out = []
    for j in (i - 1, run_start[i] - 1):
        same = (j >= 0) & (wr[np.maximum(j, 0)] == wr[i])
        out.append(np.where(same, rows[np.maximum(j, 0)], -1))
    return out


def _centroids(vocab) -> np.ndarray:
    """Latitude and longitude of each country code (an index into `vocab`; NaN unknown, and
    for code -1)."""
    unknown = (np.nan, np.nan)
    return np.array([CENTROIDS.get(str(code), unknown) for code in vocab] + [unknown],
                    np.float64).reshape(len(vocab) + 1, 2)
