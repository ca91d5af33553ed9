"""Where an IP address is: its country, offline, before any feature is computed.

The default database ships inside the `iptocc` wheel: the five Regional Internet Registries'
delegation files (which country each block of addresses is assigned to), IPv4 and IPv6, no
network and no account; its pinned version fixes the data. `--geoip-db FILE.mmdb` uses a
MaxMind GeoIP2 / GeoLite2 Country or City database instead, through MaxMind's own reader.

`Locator.fill` gives every row its country: the one given in the data where there is one, else
the lookup of its `ip_address`. Each distinct address is looked up once (the column is
factorized; a database keeps what it looked up). Private, reserved and unallocated addresses
have no country; so do malformed ones (`999.1.1.1`, `abc`, empty), which are also counted and
named in one warning line. Nothing here ever stops a run but an unreadable database file.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import iptocc
import maxminddb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from wallet_monitor.cli import UserError

logger = logging.getLogger(__name__)

BUNDLED_PACKAGE = "iptocc"
# Addresses a database remembers: a follower looks its retained rows' addresses up again every
# batch; 2M entries (~300 MB) cover a month of a large exchange's distinct addresses.
CACHE_MAX = 2_000_000
# Malformed rows remembered as reported, so a follower's retained rows are not reported again
# every batch; past this many the memory is cleared (and a few may be named twice).
REPORTED_MAX = 10_000
SHOWN_ROWS = 3  # offending rows named in the warning, as the loaders name theirs
# MaxMind DB types whose records carry a country (GeoIP2/GeoLite2 Country, City, Enterprise,
# and DB-IP's or IPinfo's Country files); ASN, ISP or anonymous-IP databases have none.
COUNTRY_DATABASE_TYPES = ("country", "city", "enterprise")

LOCATED, UNKNOWN, MALFORMED = 0, 1, 2  # per row: a country, a valid address without one, not an address
_MISS = object()


class GeoDatabaseError(UserError):
    """A --geoip-db file that is missing, unreadable or has no countries; names the file."""


class CountryDatabase:
    """ISO 3166-1 alpha-2 country codes of IP addresses; `info` says which data it is (the
    model bundle keeps it)."""

    info: dict[str, str]

    def __init__(self) -> None:
        self._cache: dict[str, str | None] = {}

    def countries(self, addresses: list[str]) -> list[str | None]:
        """The country of each (distinct) address; None where it has none or is no address."""
        cache = self._cache
        out = [cache.get(a, _MISS) for a in addresses]
        todo = [i for i, v in enumerate(out) if v is _MISS]
        if todo:
            found = self._lookup([addresses[i] for i in todo])
            if len(cache) + len(todo) > CACHE_MAX:
                cache.clear()
            for i, code in zip(todo, found, strict=True):
                out[i] = cache[addresses[i]] = code
        return out

    def describe(self) -> str:
        return f"{self.info['database']} {self.info['version']}"

    def _lookup(self, addresses: list[str]) -> list[str | None]:
        raise NotImplementedError


class BundledDatabase(CountryDatabase):
    """The registries' assignments as the pinned `iptocc` wheel carries them."""

    def __init__(self) -> None:
        super().__init__()
        self.info = {"database": BUNDLED_PACKAGE, "version": metadata.version(BUNDLED_PACKAGE),
                     "source": "Regional Internet Registries' delegation files (bundled)"}

    def _lookup(self, addresses: list[str]) -> list[str | None]:
        return iptocc.country_code(addresses)  # one call for the whole batch, in Rust


class MaxMindDatabase(CountryDatabase):
    """A MaxMind DB file (GeoIP2/GeoLite2 Country or City) read with MaxMind's reader. A record
    without `country` (an anycast network) falls back to `registered_country`, what the
    registries' data would say too."""

    def __init__(self, path) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.exists():
            raise GeoDatabaseError(f"{self.path}: GeoIP database not found")
        if not self.path.is_file():
            raise GeoDatabaseError(f"{self.path}: not a file; --geoip-db takes a .mmdb file")
        try:
            self._reader = maxminddb.open_database(str(self.path))
            meta = self._reader.metadata()
        except (maxminddb.InvalidDatabaseError, ValueError, OSError, RuntimeError) as exc:
            raise GeoDatabaseError(f"{self.path}: not a readable MaxMind database "
                                   f"({_first_line(exc)})") from exc
        kind = str(meta.database_type)
        if not any(k in kind.lower() for k in COUNTRY_DATABASE_TYPES):
            self._reader.close()
            raise GeoDatabaseError(f"{self.path}: a {kind} database has no countries; use a "
                                   "GeoIP2 or GeoLite2 Country or City database")
        built = datetime.fromtimestamp(meta.build_epoch, UTC).strftime("%Y-%m-%d")
        self.info = {"database": kind, "version": built, "source": self.path.name}

    def _lookup(self, addresses: list[str]) -> list[str | None]:
        get, out = self._reader.get, []
        try:
            for a in addresses:
                try:
                    record = get(a)
                except ValueError:  # not an address, or IPv6 in an IPv4-only database
                    record = None
                out.append(_iso_code(record))
        except maxminddb.InvalidDatabaseError as exc:
            raise GeoDatabaseError(f"{self.path}: corrupt MaxMind database "
                                   f"({_first_line(exc)})") from exc
        return out


def _iso_code(record) -> str | None:
    if not isinstance(record, dict):
        return None
    place = record.get("country") or record.get("registered_country") or {}
    code = place.get("iso_code") if isinstance(place, dict) else None
    return str(code).upper() if code else None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


@functools.cache
def default_database() -> BundledDatabase:
    """The bundled database, one per process (its cache is shared: lookups are pure)."""
    return BundledDatabase()


def open_database(path=None) -> CountryDatabase:
    """The MaxMind database at `path`, or the bundled one when `path` is None."""
    return default_database() if path is None else MaxMindDatabase(path)


def open_matching(path, trained: dict | None) -> CountryDatabase:
    """`open_database(path)`, with a warning when the model's features were located with
    another database (`trained`: what the bundle recorded): its country features then come
    from other data."""
    database = open_database(path)
    keys = ("database", "version")
    if trained is not None and [trained.get(k) for k in keys] != [database.info[k] for k in keys]:
        logger.warning("the model's features located addresses with %s %s, this run with %s: "
                       "country features may differ; retrain or pass the same --geoip-db",
                       trained.get("database"), trained.get("version"), database.describe())
    return database


def _unmapped(text: str) -> str:
    """An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, as dual-stack servers log IPv4) as the
    IPv4 address it carries; any other text as it is."""
    if text[:7].lower() == "::ffff:" and "." in text:
        return text[7:]
    return text


def _status(uniq: list[str], found: list) -> np.ndarray:
    """LOCATED, UNKNOWN or MALFORMED per address looked up, and MALFORMED in a last slot (for
    empty addresses)."""
    status = np.full(len(uniq) + 1, MALFORMED, np.int8)
    for i, code in enumerate(found):
        status[i] = LOCATED if code is not None else UNKNOWN if _is_address(uniq[i]) else MALFORMED
    return status


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Locator:
    """Countries for the rows of one run. `summary_level` is the level of the per-call summary
    (the follower, which calls once per micro-batch, logs it at DEBUG)."""

    def __init__(self, database: CountryDatabase | None = None,
                 summary_level: int = logging.INFO) -> None:
        self.database = database if database is not None else default_database()
        self.summary_level = summary_level
        self._reported: set[str] = set()

    def lookup(self, ip: pd.Series) -> tuple[pd.Series, np.ndarray]:
        """The looked-up country of each row of `ip` (string dtype, NA where none) and its
        status (LOCATED, UNKNOWN or MALFORMED; an empty address is malformed)."""
        codes, uniques = pd.factorize(ip, use_na_sentinel=True)
        uniq = [_unmapped(str(u)) for u in uniques]
        found = self.database.countries(uniq)
        status = _status(uniq, found)
        pick = np.where(codes < 0, len(uniq), codes)
        values = pa.array([*found, None], type=pa.string()).take(pa.array(pick))
        return pd.Series(pd.array(values, dtype="string[pyarrow]")), status[pick]

    def fill_arrow(self, ip: pa.Array | None, given: pa.Array, ids: pa.Array, id_name: str,
                   what: str) -> pa.Array:
        """`fill` on pyarrow string arrays (`ids`: the rows' ids, named `id_name` in a warning):
        the same countries and the same log lines, without pandas' cost per call, which a
        follower's small batches pay for each batch of logins."""
        if ip is None or len(ip) == 0:
            return given
        ip = ip.combine_chunks() if isinstance(ip, pa.ChunkedArray) else ip
        enc = pc.dictionary_encode(ip)  # pd.factorize's groups: one lookup per address
        uniq = [_unmapped(str(u)) for u in enc.dictionary.to_pylist()]
        found = self.database.countries(uniq)
        status = _status(uniq, found)
        pick = pc.fill_null(enc.indices, len(uniq)).to_numpy()
        looked = pa.array([*found, None], type=pa.string()).take(pa.array(pick))
        status = status[pick]
        has = pc.is_valid(given).to_numpy(zero_copy_only=False)
        if logger.isEnabledFor(self.summary_level) or (status == MALFORMED).any():
            series = [pd.Series(pd.arrays.ArrowStringArray(a)) for a in (ip, given, looked)]
            if logger.isEnabledFor(self.summary_level):
                self._summary(series[1], series[2], has, status, what)
            if (status == MALFORMED).any():
                self._warn_malformed(series[0], pd.Series(ids.to_pylist(), name=id_name),
                                     status == MALFORMED, what)
        return given if has.all() else pc.if_else(pa.array(has), given, looked.cast(given.type))

    def fill_list(self, ip: list | None, given: list) -> list | None:
        """`fill_arrow` on lists of strings and None, in Python (a follower's few rows), where
        it has nothing to log: None (the caller takes `fill_arrow`) when the per-call summary
        is logged or an address is missing or malformed (both are warned about)."""
        if ip is None or not ip:
            return given
        if logger.isEnabledFor(self.summary_level):
            return None
        addresses = list(dict.fromkeys(ip))  # one lookup per address, as `fill_arrow`
        if None in addresses:
            return None
        uniq = [_unmapped(a) for a in addresses]
        found = self.database.countries(uniq)
        if (_status(uniq, found)[:-1] == MALFORMED).any():
            return None
        country = dict(zip(addresses, found, strict=True))
        return [g if g is not None else country[a] for g, a in zip(given, ip, strict=True)]

    def fill(self, ip: pd.Series | None, given: pd.Series, ids: pd.Series, what: str) -> pd.Series:
        """The country of each row: `given` where present, else the lookup of `ip` (None: the
        data has no ip_address column, nothing to look up). All three are aligned by position."""
        if ip is None or len(ip) == 0:
            return given
        ip, given = ip.reset_index(drop=True), given.reset_index(drop=True)
        looked, status = self.lookup(ip)
        has = given.notna().to_numpy()
        malformed = status == MALFORMED
        if logger.isEnabledFor(self.summary_level):
            self._summary(given, looked, has, status, what)
        if malformed.any():
            self._warn_malformed(ip, ids.reset_index(drop=True), malformed, what)
        return given if has.all() else given.where(has, looked)

    def _summary(self, given: pd.Series, looked: pd.Series, has: np.ndarray, status: np.ndarray,
                 what: str) -> None:
        located, malformed = status == LOCATED, status == MALFORMED
        disagree = has & located & given.ne(looked).fillna(False).to_numpy(dtype=bool)
        logger.log(
            self.summary_level,
            "%s: ip_address located to a country for %d of %d rows (%d rows without a given "
            "country filled from it), %d not located (private, reserved or unallocated: "
            "country unknown), %d malformed; %d given countries disagree with the lookup and "
            "are kept (%s)", what, located.sum(), len(status), (located & ~has).sum(),
            (status == UNKNOWN).sum(), malformed.sum(), disagree.sum(), self.database.describe())

    def _warn_malformed(self, ip: pd.Series, ids: pd.Series, malformed: np.ndarray,
                        what: str) -> None:
        rows = np.flatnonzero(malformed)
        row_ids = [str(v) for v in ids.iloc[rows]]
        new = [(r, i) for r, i in zip(rows, row_ids, strict=True) if i not in self._reported]
        if not new:
            return
        if len(self._reported) + len(new) > REPORTED_MAX:
            self._reported.clear()
        self._reported.update(i for _, i in new)
        shown = ", ".join(
            f"{ids.name or 'row'} {i!r} ({'empty' if pd.isna(ip.iloc[r]) else repr(str(ip.iloc[r]))})"
            for r, i in new[:SHOWN_ROWS])
        more = f" and {len(new) - SHOWN_ROWS} more" if len(new) > SHOWN_ROWS else ""
        logger.warning("%s: %d rows have an ip_address that is no IP address (country unknown): "
                       "%s%s", what, len(new), shown, more)
