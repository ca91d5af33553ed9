"""The follower's memory: the events of the last look-back, per wallet, bounded.

Features at t depend only on the wallets table and a bounded look-back of the wallet's events
(see `horizon`), so keeping that look-back is enough: memory stays bounded and the streaming
features equal the batch ones for rows that arrive in (timestamp, transaction_id) order, a
transaction's logins no later than the transaction.

Each event is kept twice: as it arrived (for the episode links' restore) and as the features
read it (`prepare_transactions` / `prepare_logins`: parsed times, stripped text, countries
located), so a batch's look-back is prepared once, when its events arrive, not again with
every batch that reads it. Both steps work row by row, so the features are those of
`build_features` on the same events (tests/stream/test_state.py).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from wallet_monitor.episodes import EPISODE_TX_COLUMNS
from wallet_monitor.features import LOOKBACK, WINDOWS, Locator
from wallet_monitor.features.arrays import frame
from wallet_monitor.features.compute import (
    features_of_context,
    features_of_prepared,
    matrix_of_context,
    prepare_logins,
    prepare_transactions,
)
from wallet_monitor.features.context import Columns
from wallet_monitor.features.ledger import WalletLedger
from wallet_monitor.features.vocab import Vocabulary
from wallet_monitor.model.bundle import ModelBundle
from wallet_monitor.schema import LOGIN_REQUIRED, TX_REQUIRED
from wallet_monitor.scoring import ScoredBatch, detect_features, detect_matrix

logger = logging.getLogger(__name__)

# The columns of each retained transaction kept as it arrived: what the episodes' restore reads.
_EPISODE_RAW = tuple(c for c in EPISODE_TX_COLUMNS if c not in ("transaction_id", "timestamp"))

# Events are kept a little longer than needed so a slightly late row still finds its context.
EVICT_SLACK = pd.Timedelta(hours=1)
COMPACT_CHUNKS = 8  # merge the per-poll chunks (and evict) once this many piled up
REBUILD_SHARE = 0.25  # see Retained.compact
# Recent events merged into chunks of at most about this many (see Retained.compact): a merge
# copies ~0.3 ms of them; one growing chunk of them cost a merge ~4-8 ms late in a 20 s run at
# 1,000 rows/s (~20,000 events).
SEGMENT_EVENTS = 4096
# The vocabulary is compacted (codes no retained event uses forgotten) once it holds this many
# times the codes kept at the last compaction: bounded memory, a compaction every few minutes.
VOCAB_GROWTH = 2
VOCAB_MIN = 10_000  # codes below which the vocabulary is not compacted
# A poll that merges no chunks evicts the expired events of one ledger wallet (oldest first) per
# this many events arrived since the last: ~25 us a wallet, and the ledger keeps up with the
# arrivals (~1,000 x this many expired events left in it), where all of the bench's 2,000 wallets
# took ~20-40 ms every COMPACT_CHUNKS polls (docs/DECISIONS.md).
LEDGER_EVENTS_PER_WALLET = 8


def horizon() -> pd.Timedelta:
    """How far back retained events must reach. Besides LOOKBACK, a window count of "new" pairs
    (new_counterparties_24h_log, new_ips_24h_log) asks, for each event in the window, whether the
    pair was seen in the LOOKBACK before *that* event: LOOKBACK + the longest window."""
    return LOOKBACK + max(WINDOWS.values()) + EVICT_SLACK


class Retained:
    """Events of the last LOOKBACK as time-ordered chunks, with wallet codes for fast selection.

    A chunk is (ids, the events prepared and coded, the columns they arrived with, owner wallet
    codes, counterparty codes, `raw_columns` as they arrived, times in ns). A poll's chunk holds
    its frames as they came (wallet codes None: read from the prepared frame when selected);
    merged chunks hold plain arrays (`_arrays`) and the raw columns alone, so merging and
    evicting copy arrays, not frames. What reads them: the look-back path (`select_prepared`,
    once an id has repeated), the vocabulary's compaction, and the episodes' restore
    (`select_all`); the wallet ledger holds the same events for the features."""

    def __init__(self, id_col: str, vocab: Vocabulary, columns, prepare, on_add=None,
                 raw_columns: tuple[str, ...] = ()):
        self.id_col = id_col
        self.vocab = vocab  # shared by the transactions and logins kept
        self._prepare = prepare  # raw frame -> prepared frame, coded (row by row)
        self._on_add = on_add  # called with each prepared frame added (the wallet ledger)
        self._raw_columns = raw_columns
        self.chunks: list[tuple] = []
        self.ids: set[str] = set()
        self.columns: list[str] = list(columns)
        self.unique = True  # no id was ever added twice (the follower refuses repeats)

    def add(self, df: pd.DataFrame, prepared: pd.DataFrame | None = None,
            ledgered: bool = False) -> np.ndarray:
        """Keep `df` (with `prepared`, its prepared frame, if the caller has it; `ledgered`:
        the ledger has its events already). Returns their times (UTC ns)."""
        # Columns count even without rows: which features can be computed is decided by the
        # files' columns (an empty logins.csv with device_id still has that column), as in batch.
        names = df.columns.tolist()  # one conversion (iterating a str Index is per element)
        self.columns += [c for c in names if c not in self.columns]
        if not len(df):
            return np.zeros(0, np.int64)
        if prepared is None:
            prepared = self._prepare(df)
        ts = np.asarray(prepared["ts"])  # the times the ledger keeps (UTC ns)
        ids = df[self.id_col].tolist()
        # The frames as they are: their columns are read when the chunk is merged (or selected).
        self.chunks.append((np.asarray(ids, dtype=object), prepared, frozenset(names),
                            None, None, df if self._raw_columns else {}, ts))
        self.unique = self.unique and self.fresh(ids)
        self.ids.update(ids)
        if self._on_add is not None and not ledgered:
            self._on_add(prepared)
        return ts

    def fresh(self, ids: list) -> bool:
        """Whether `ids` repeat neither each other nor a retained id."""
        return len(set(ids)) == len(ids) and not any(i in self.ids for i in ids)

    def __len__(self):
        return sum(len(c[0]) for c in self.chunks)

    def select_all(self) -> pd.DataFrame:
        """Every event's id and `raw_columns` as they arrived (a column no event came with is
        left out)."""
        cols = [c for c in self._raw_columns if any(c in ch[5] for ch in self.chunks)]
        out = {self.id_col: pd.Series(_concat([ch[0] for ch in self.chunks], np.zeros(0, object)))}
        for c in cols:
            out[c] = _series([_raw(ch[5], c, len(ch[0])) for ch in self.chunks])
        return pd.DataFrame(out)

    def select_prepared(self, wanted: np.ndarray) -> tuple[pd.DataFrame | None, set[str] | None]:
        """The prepared events where a wanted wallet is the owner or the counterparty, and the
        columns they arrived with; (None, None) when no event is selected."""
        matches = self._matches(wanted)
        if not matches:
            return None, None
        parts = [{c: a[m] for c, a in _arrays(c[1]).items()} for c, m in matches]
        prepared = frame({c: _concat([p[c] for p in parts]) for c in parts[0]},
                         pd.RangeIndex(sum(int(m.sum()) for _, m in matches)))
        return prepared, set().union(*(c[2] for c, _ in matches))

    def prepared_empty(self) -> pd.DataFrame:
        """No events, prepared: the frame a selection of nothing gives, with every column."""
        prepared = self._prepare(pd.DataFrame({c: pd.Series(dtype=object) for c in self.columns}))
        return prepared if isinstance(prepared, pd.DataFrame) else frame(prepared,
                                                                          pd.RangeIndex(0))

    def _matches(self, wanted: np.ndarray) -> list:
        lut = np.zeros(self.vocab.size("wallet") + 1, bool)
        lut[wanted] = True
        out = []
        for chunk in self.chunks:
            w, cp = _wallet_codes(chunk[1]) if chunk[3] is None else chunk[3:5]
            m = lut[w] | lut[cp]  # code -1 hits the spare last slot (False)
            if m.any():
                out.append((chunk, m))
        return out

    def compact(self, cutoff_ns: int, force: bool = False) -> None:
        """Merge the per-poll chunks after the first, dropping events before `cutoff_ns`.

        The first chunk (the bulk of the look-back) is rebuilt only with `force` or once the
        events it has expired or the recent ones reach REBUILD_SHARE of it: a copy of it every
        few minutes at 200 rows/s rather than every few seconds. Expired events left in it
        meanwhile are outside every feature's look-back, so they change no feature. The recent
        events after it are merged chunks of about SEGMENT_EVENTS each and the polls' chunks;
        a merge takes the polls' chunks into the last merged chunk that is not full.
        """
        if not self.chunks:
            return
        base = self.chunks[0]
        expired = int((base[-1] < cutoff_ns).sum())
        recent = sum(len(c[0]) for c in self.chunks[1:])
        if force or max(expired, recent) > REBUILD_SHARE * len(base[0]):
            self.chunks = self._merged(self.chunks, cutoff_ns)
            return
        # The recent events are kept as merged chunks of up to SEGMENT_EVENTS, a full one left
        # as it is: a merge copies at most one such chunk and the polls', not all of them.
        first = self._open()
        if len(self.chunks) - first > 1:
            self.chunks = [*self.chunks[:first], *self._merged(self.chunks[first:], cutoff_ns)]

    def _open(self) -> int:
        """The first chunk after the bulk that is not a full merged chunk of recent events."""
        first = 1
        while (first < len(self.chunks) - 1 and isinstance(self.chunks[first][1], dict)
               and len(self.chunks[first][0]) >= SEGMENT_EVENTS):
            first += 1
        return first

    def due(self) -> bool:
        """Whether COMPACT_CHUNKS chunks piled up, the full merged chunks of recent events not
        counted (merges come every COMPACT_CHUNKS polls however many of those there are)."""
        return len(self.chunks) - self._open() + 1 >= COMPACT_CHUNKS

    def _merged(self, chunks, cutoff_ns):
        """`chunks` as one chunk without the events before `cutoff_ns` (whose ids are forgotten),
        its prepared events as arrays."""
        kept = []
        for ids, prep, columns, _, _, raw, ts in chunks:
            keep = ts >= cutoff_ns
            prep = _arrays(prep)
            if not keep.all():
                self.ids.difference_update(ids[~keep].tolist())
                ids, ts = ids[keep], ts[keep]
                prep = {c: a[keep] for c, a in prep.items()}
                raw = {c: raw[c][keep] for c in self._raw_columns if c in raw}  # by position
            if len(ids):
                kept.append((ids, prep, columns, raw, ts))
        if not kept:
            return []
        prep = {c: _concat([k[1][c] for k in kept]) for c in kept[0][1]}
        raw_cols = [c for c in self._raw_columns if any(c in k[3] for k in kept)]
        raw = {c: _series([_raw(k[3], c, len(k[0])) for k in kept]) for c in raw_cols}
        return [(_concat([k[0] for k in kept]), prep, frozenset().union(*(k[2] for k in kept)),
                 *_wallet_codes(prep), raw, _concat([k[4] for k in kept]))]

    def recode(self, recoded: list[dict]) -> None:
        """Take the chunks' prepared events back from `Vocabulary.compact`, in chunk order."""
        self.chunks = [(ids, prep, columns, *_wallet_codes(prep), raw, ts)
                       for (ids, _, columns, _, _, raw, ts), prep in zip(self.chunks, recoded,
                                                                         strict=True)]


def _arrays(prepared) -> dict:
    """A chunk's prepared events as {column: array} (a poll's frame, or arrays already)."""
    if isinstance(prepared, dict):
        return prepared
    return {c: v.array if isinstance(v.dtype, pd.StringDtype) else v.to_numpy()
            for c, v in prepared.items()}


def _raw(raw: dict, column: str, n: int) -> pd.Series:
    """A chunk's raw `column`; NaN where its events came without it (as a concat of frames)."""
    return raw[column] if column in raw else pd.Series(np.nan, index=range(n), dtype=object)


def _series(parts: list[pd.Series]) -> pd.Series:
    """Columns as they arrived, end to end, with the dtype a concat of their frames gives."""
    if len(parts) == 1:
        return parts[0].reset_index(drop=True)
    dtype = parts[0].dtype
    if isinstance(dtype, np.dtype) and all(p.dtype == dtype for p in parts):
        # One numpy dtype (a poll's objects and floats): what concat gives, without its cost
        # per part (~1 ms a column for a merge of eight polls into the recent events).
        return pd.Series(np.concatenate([p.to_numpy() for p in parts]), dtype=dtype, copy=False)
    return pd.concat(parts, ignore_index=True)


def _concat(arrays: list, empty=None):
    """numpy arrays or pandas extension arrays (the ids' arrow strings) end to end."""
    if not arrays:
        return empty
    if len(arrays) == 1:
        return arrays[0]
    if isinstance(arrays[0], np.ndarray):
        return np.concatenate(arrays)
    return type(arrays[0])._concat_same_type(arrays)


def _wallet_codes(prepared) -> tuple[np.ndarray, np.ndarray]:
    """Owner and counterparty wallet codes of coded events (-1: no counterparty)."""
    w = np.asarray(prepared["wallet_id"], dtype=np.int64)
    if "counterparty_wallet_id" not in prepared:
        return w, np.full(len(w), -1, np.int64)
    return w, np.asarray(prepared["counterparty_wallet_id"], dtype=np.int64)


class StreamState:
    """Retained transactions and logins, and scoring of micro-batches against them."""

    def __init__(self, bundle: ModelBundle, wallets=None, with_logins=True,
                 geo: Locator | None = None):
        self.bundle, self.wallets = bundle, wallets
        # Retained rows are located again with every batch that reads them (the same answer:
        # the database caches it); the per-batch summary would repeat, so it is DEBUG here.
        self.geo = Locator(summary_level=logging.DEBUG) if geo is None else geo
        self.vocab = Vocabulary(wallets, wallets is not None and "home_country" in wallets)
        # The retained events again, per wallet in context order; None once an id repeated
        # (the batch path deduplicates such ids, the follower refuses them).
        self.ledger: WalletLedger | None = WalletLedger()
        self.tx = Retained("transaction_id", self.vocab, TX_REQUIRED,
                           lambda df: prepare_transactions(df, self.geo, vocab=self.vocab,
                                                           arrays=True),
                           self._ledger_transactions, _EPISODE_RAW)
        self.logins = (Retained("login_id", self.vocab, LOGIN_REQUIRED,
                                lambda df: prepare_logins(df, self.geo, self.vocab, arrays=True),
                                self._ledger_logins)
                       if with_logins else None)
        self.watermark = np.iinfo(np.int64).min  # latest transaction time seen (ns)
        self._keep = horizon().value
        self._vocab_kept = VOCAB_MIN  # codes after the last Vocabulary.compact
        self._arrived = 0  # events added since the ledger's last eviction

    def add_logins(self, df: pd.DataFrame) -> None:
        if self.logins is not None:
            self.logins.add(df)
            self._arrived += len(df)

    def add_history(self, df: pd.DataFrame, prepared: pd.DataFrame | None = None,
                    ledgered: bool = False) -> None:
        ts = self.tx.add(df, prepared, ledgered)
        self._arrived += len(df)
        if len(ts):  # the prepared times: the timestamps in UTC ns
            self.watermark = max(self.watermark, int(ts.max()))

    def _ledger_transactions(self, prepared: pd.DataFrame) -> None:
        if self.ledger is not None and not self.tx.unique:
            self.ledger = None
        if self.ledger is not None:
            self.ledger.add_transactions(prepared)

    def _ledger_logins(self, prepared: pd.DataFrame) -> None:
        if self.ledger is not None:
            self.ledger.add_logins(prepared)

    def _features(self, targets: pd.DataFrame, matrix: bool = False
                  ) -> tuple[pd.DataFrame | np.ndarray, pd.DataFrame, bool]:
        """The batch's features against the retained events (what `build_features` gives with
        the wanted wallets' events as history and logins), the batch prepared, and whether the
        ledger has taken the batch in already. `matrix`: on the ledger's path, the features'
        matrix without the frame (`matrix_of_context`)."""
        tgt = prepare_transactions(targets, self.geo, vocab=self.vocab, arrays=True)
        wanted = np.unique(tgt["wallet_id"])
        ids = targets["transaction_id"].tolist()
        if self.ledger is not None and len(ids) and self.tx.unique and self.tx.fresh(ids):
            seq = self.ledger.add_transactions(tgt)
            tx_columns = set(targets.columns).union(*(c[2] for c in self.tx.chunks))
            cols = Columns.of(tx_columns, None if self.logins is None else set(self.logins.columns),
                              self.wallets)
            ctx = self.ledger.context(wanted, seq, self.vocab.wallet_facts(), cols,
                                      self.vocab.names("country"), self.logins is not None)
            if matrix:
                return matrix_of_context(ctx), tgt, True
            return features_of_context(ctx, tgt["transaction_id"], targets.index), tgt, True
        history, hist_columns = self.tx.select_prepared(wanted)
        tx_columns = set(targets.columns) | (hist_columns or set())
        logins = login_columns = None
        if self.logins is not None:
            logins, login_columns = self.logins.select_prepared(wanted)
            if logins is None:  # no login selected: all the columns logins ever came with
                logins, login_columns = self.logins.prepared_empty(), set(self.logins.columns)
        cols = Columns.of(tx_columns, login_columns, self.wallets)
        unique = self.tx.unique and self.tx.fresh(ids)
        return features_of_prepared(frame(tgt, pd.RangeIndex(len(ids))), history, logins,
                                    self.wallets, cols, targets.index, unique, self.vocab), tgt, False

    def features(self, targets: pd.DataFrame) -> pd.DataFrame:
        """build_features of a micro-batch against the retained events; then retains it."""
        out, prepared, ledgered = self._features(targets)
        self.add_history(targets, prepared, ledgered)
        return out

    def detect(self, targets: pd.DataFrame, scored=None) -> ScoredBatch:
        """`detect` of a micro-batch against the retained events, as arrays; then retains it.
        `scored`, if given, is called with the detections before the batch is retained (the
        follower hands its alerts over there: retaining takes ~2 ms of a small batch)."""
        late = int((pd.DatetimeIndex(targets["timestamp"]).as_unit("ns").asi8 < self.watermark).sum())
        if late:
            logger.warning("%d rows are older than events already scored; batch order may differ", late)
        features, prepared, ledgered = self._features(targets, matrix=True)
        out = (detect_matrix(self.bundle, targets, features) if isinstance(features, np.ndarray)
               else ScoredBatch.of(detect_features(self.bundle, targets, features, link=False)))
        if scored is not None:
            scored(out)
        self.add_history(targets, prepared, ledgered)
        return out

    def evict(self, force: bool = False) -> None:
        """Drop events older than the watermark minus LOOKBACK (and slack). Called after every
        poll; its work is spread so that no poll pays for all of it: one part's chunks merged
        per poll (the parts take turns), the ledger's eviction of a few wallets in a poll that
        merged nothing, of a wallet per LEDGER_EVENTS_PER_WALLET events arrived since its last
        (`force`: everything at once)."""
        cutoff = self.watermark - self._keep
        parts = [p for p in (self.tx, self.logins) if p is not None]
        recode = force or self.vocab.size() > VOCAB_GROWTH * self._vocab_kept
        due = [part for part in parts if force or part.due()]
        if not recode:
            due = due[:1]
        for part in due:
            part.compact(cutoff, force)
        if self.ledger is not None and recode:
            # Before the vocabulary's compaction, every wallet: the ledger keeps no event the
            # chunks dropped (codes only they used are forgotten).
            self.ledger.evict(cutoff)
            self._arrived = 0
        elif self.ledger is not None and not due and self._arrived:
            self.ledger.evict(cutoff, -(-self._arrived // LEDGER_EVENTS_PER_WALLET))
            self._arrived = 0
        if recode:
            recoded, remaps = self.vocab.compact([_arrays(c[1]) for p in parts for c in p.chunks])
            for part in parts:
                part.recode(recoded[:len(part.chunks)])
                recoded = recoded[len(part.chunks):]
            if self.ledger is not None:
                self.ledger.recode(remaps)
            self._vocab_kept = max(self.vocab.size(), VOCAB_MIN)


