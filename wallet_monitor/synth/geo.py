"""Where the simulated people are: countries, time zones, flight times and their addresses.

Every IP address is a real one of its country: drawn from the address blocks the registries
assigned to that country, as the bundled database (`iptocc`) has them, and checked against it,
so a lookup of any generated address (home, trip, VPN exit or attacker) gives the country the
generator meant, and fraud draws its IPs from exactly the same ranges as everyone else. The
generator reads the database through that library, never through the feature code. Devices are
random 48-bit ids.
"""

from __future__ import annotations

import functools

import iptocc
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# code, UTC offset (minutes), latitude, longitude, share of users
COUNTRY_TABLE = [
    ("US", -300, 39.8, -98.6, 14), ("CA", -300, 56.0, -96.0, 3), ("MX", -360, 23.6, -102.5, 3),
    ("BR", -180, -14.2, -51.9, 5), ("AR", -180, -38.4, -63.6, 2), ("CO", -300, 4.6, -74.3, 2),
    ("GB", 0, 54.0, -2.0, 5), ("IE", 0, 53.4, -8.2, 1), ("FR", 60, 46.2, 2.2, 4),
    ("DE", 60, 51.2, 10.4, 5), ("NL", 60, 52.1, 5.3, 2), ("BE", 60, 50.5, 4.5, 1),
    ("ES", 60, 40.5, -3.7, 3), ("IT", 60, 41.9, 12.6, 3), ("PT", 0, 39.4, -8.2, 1),
    ("PL", 60, 51.9, 19.1, 2), ("SE", 60, 60.1, 18.6, 1), ("NO", 60, 60.5, 8.5, 1),
    ("CH", 60, 46.8, 8.2, 1), ("AT", 60, 47.5, 14.6, 1), ("TR", 180, 39.0, 35.0, 3),
    ("RU", 180, 55.8, 37.6, 3), ("UA", 120, 48.4, 31.2, 2), ("RO", 120, 45.9, 24.9, 1),
    ("NG", 60, 9.1, 8.7, 3), ("ZA", 120, -30.6, 22.9, 2), ("EG", 120, 26.8, 30.8, 2),
    ("KE", 180, -0.02, 37.9, 1), ("MA", 60, 31.8, -7.1, 1), ("AE", 240, 23.4, 53.8, 2),
    ("SA", 180, 23.9, 45.1, 2), ("IL", 120, 31.0, 34.9, 1), ("IN", 330, 20.6, 79.0, 8),
    ("PK", 300, 30.4, 69.3, 2), ("BD", 360, 23.7, 90.4, 2), ("SG", 480, 1.35, 103.8, 2),
    ("MY", 480, 4.2, 102.0, 2), ("TH", 420, 15.9, 101.0, 2), ("VN", 420, 14.1, 108.3, 3),
    ("ID", 420, -0.8, 113.9, 4), ("PH", 480, 12.9, 121.8, 3), ("CN", 480, 35.9, 104.2, 4),
    ("HK", 480, 22.3, 114.2, 1), ("TW", 480, 23.7, 121.0, 1), ("JP", 540, 36.2, 138.3, 3),
    ("KR", 540, 35.9, 127.8, 3), ("AU", 600, -25.3, 133.8, 2), ("NZ", 720, -40.9, 174.9, 1),
]
COUNTRIES = np.array([c[0] for c in COUNTRY_TABLE], dtype=object)
UTC_OFFSET_S = np.array([c[1] * 60 for c in COUNTRY_TABLE], dtype=np.int64)
COUNTRY_P = np.array([c[4] for c in COUNTRY_TABLE], dtype=float)
COUNTRY_P /= COUNTRY_P.sum()
VPN_COUNTRIES = np.flatnonzero(np.isin(COUNTRIES, ["US", "NL", "DE", "GB", "SG", "CH", "SE", "CA"]))
VPN_POOL_SIZE = 64


def _travel_hours_matrix() -> np.ndarray:
    lat = np.radians([c[2] for c in COUNTRY_TABLE])
    lon = np.radians([c[3] for c in COUNTRY_TABLE])
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    km = 2 * 6371.0 * np.arcsin(np.sqrt(a))
    # Airliner speed plus airport time; staying in the same country costs nothing.
    hours = km / 800.0 + 2.0
    np.fill_diagonal(hours, 0.0)
    return hours


# Fastest plausible trip between two countries, in hours: the bar "impossible travel" beats.
TRAVEL_HOURS = _travel_hours_matrix()

# The address plan comes from the real Internet: the database the `iptocc` wheel ships (the
# registries' delegation files, pinned in requirements.txt, so the seed still fixes the bytes).
_BLOCK_BITS = 12  # /20 blocks: one probe each maps the unicast space in about half a second
_UNICAST = (1 << 24, 224 << 24)  # 1.0.0.0 up to the multicast range
_MAX_DRAW_ROUNDS = 64  # a draw that lands in another country is redrawn; 64 misses in a row never happen
_COUNTRY_INDEX = {c: i for i, c in enumerate(COUNTRIES)}


def _dotted(ip: np.ndarray) -> list[str]:
    parts = [pc.cast(pa.array((ip >> shift) & 255), pa.string()) for shift in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*parts, ".").to_pylist()


def ip_country(ip: np.ndarray) -> np.ndarray:
    """Country index (into COUNTRIES; -1 for any other country or none) of integer IPv4
    addresses, as the bundled database places them."""
    ip = np.asarray(ip, dtype=np.int64)
    uniq, inv = np.unique(ip.ravel(), return_inverse=True)
    found = iptocc.country_code(_dotted(uniq)) if uniq.size else []
    idx = np.fromiter((_COUNTRY_INDEX.get(c, -1) for c in found), np.int64, uniq.size)
    return idx[inv].reshape(ip.shape)


@functools.cache
def _blocks() -> tuple[np.ndarray, np.ndarray]:
    """The /20 blocks whose first address and the next block's are in the same one of
    COUNTRIES, grouped by country: (block starts, offsets[country] .. offsets[country + 1])."""
    starts = np.arange(*_UNICAST, 1 << _BLOCK_BITS, dtype=np.int64)
    first = ip_country(starts + 1)
    whole = np.flatnonzero((first[:-1] >= 0) & (first[:-1] == first[1:]))
    order = whole[np.argsort(first[whole], kind="stable")]
    counts = np.bincount(first[whole], minlength=len(COUNTRIES))
    if (counts == 0).any():
        raise RuntimeError(f"no address block found for {list(COUNTRIES[counts == 0])}")
    return starts[order], np.concatenate([[0], np.cumsum(counts)])


def random_ips(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """Integer IPv4 addresses inside the real ranges of `country` (indices), one per element:
    a random host of a random block of the country, drawn again until the database agrees."""
    country = np.asarray(country, dtype=np.int64)
    flat = country.ravel()
    starts, offsets = _blocks()
    out = np.empty(flat.size, dtype=np.int64)
    todo = np.arange(flat.size)
    for _ in range(_MAX_DRAW_ROUNDS):
        if todo.size == 0:
            return out.reshape(country.shape)
        c = flat[todo]
        block = offsets[c] + (rng.random(todo.size) * (offsets[c + 1] - offsets[c])).astype(np.int64)
        host = rng.integers(0, 1 << (_BLOCK_BITS - 8), todo.size) << 8 | rng.integers(1, 255, todo.size)
        out[todo] = starts[block] + host
        todo = todo[ip_country(out[todo]) != c]
    raise RuntimeError(f"could not draw addresses in {sorted(set(COUNTRIES[flat[todo]]))}")


def random_devices(rng: np.random.Generator, shape) -> np.ndarray:
    """Random 48-bit device ids (written as ``dev-`` and 12 hex digits)."""
    return rng.integers(1 << 40, 1 << 48, shape, dtype=np.int64)
