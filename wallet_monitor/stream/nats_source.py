"""A follower's intake from NATS JetStream: one shard's partitions of a wallet-partitioned stream.

Each partition p the shard owns is read by a durable pull consumer `wm-<p>` (filter
`STREAM.*.<p>`: its transactions and logins). A poll reads the shard's watch (a consumer of
every partition's subjects, headers only: which partitions hold new messages), fetches from
those partitions at once and hands over, in stream order, every message up to a bound B such
that all of the shard's messages up to B are in (the rest wait in a buffer for the next
poll): the shard reads its events in the order they were published. Messages are acknowledged in `commit`, once the
follower has written, alerted and checkpointed them. On start each consumer is (re)created to
begin after what was handled (its acknowledged floor, or the checkpoint where that is further):
what was delivered but never acknowledged comes again, in order, at once, not after the
acknowledgement wait; what was handled is replayed from the stream to rebuild the state.

Transactions are messages on `STREAM.tx.<p>` whose sender's partition is p; the copy of a
transfer on its receiver's partition is context (history for the receiver's features) unless
the sender's partition is also this shard's. A message that is not a JSON object is bad (logged
with its sequence number, counted, dead-lettered to STREAM.invalid, acknowledged). Scored rows of
every shard arrive from STREAM_SCORED (`scored`), for the cross-shard episode links.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError
from nats.js.errors import Error as JsError

from wallet_monitor.stream.nats_io import LoopThread, connect, ensure_streams
from wallet_monitor.stream.parse import RawRows
from wallet_monitor.stream.partition import parse_nats_url, partition_of, shard_partitions
from wallet_monitor.stream.source import Polled, TransactionSource

logger = logging.getLogger(__name__)

PULL_TIMEOUT_S = 5.0  # a no-wait pull request is answered at once; this is for a lost answer
MAX_ACK_PENDING = 50_000  # messages a partition may have delivered and unacknowledged
REPLAY_BATCH = 2000
MESSAGES_PER_ROW = 3  # a transaction, its logins, a transfer's copy: a poll's fetch per row
SCORED_BATCH = 500  # scored batches (up to 1000 rows each) per pull request
WATCH_BATCH = 5000  # watch entries (headers only, ~150 bytes) per pull request
OP_TIMEOUT_S = 30.0  # one call into the NATS loop
RETRY_WAIT_S = 0.5  # between tries while the server is unreachable
# After a wake-up, a moment for JetStream to store the message it has just passed on to its
# plain subscribers (the two happen side by side in the server); see `wait`. Counted from the
# wake-up: one that came while the follower was busy has had it already.
WAKE_SETTLE_S = 0.001
# A partition that answers "no messages" below what its watch saw there is held for at most
# this long: its consumer lags the watch by milliseconds; past it the messages were removed from
# the stream (a purge, limits) and are passed over rather than holding the shard back.
SEEN_GRACE_S = 1.0


class NatsSource(TransactionSource):
    """Shard `shard` of `shards` of the stream at `url` (nats://HOST:PORT/STREAM)."""

    def __init__(self, url: str, shard: int = 0, shards: int = 1, *, partitions: int | None = None,
                 ack_wait: float = 10.0, tx_columns=(), login_columns=(), context_logins=None):
        self.address = parse_nats_url(url)
        self.shard, self.shards, self.ack_wait = shard, shards, ack_wait
        self.name = f"{self.address.stream} shard {shard}/{shards}"
        self.has_logins, self.resumable = True, True
        self.tx_columns, self.login_columns = list(tx_columns), list(login_columns)
        self._context_logins = context_logins
        self.invalid = 0  # messages that were no JSON object
        self.pending = 0  # messages waiting in the consumers after the last poll
        self.upto = 0  # every message of this shard up to this stream sequence is handed over
        self.linked_upto = 0  # a ShardFollower's linker: scored rows released up to here
        self._buffer: dict[int, object] = {}  # fetched, not yet handed over: seq -> message
        self._unacked: dict[int, object] = {}  # handed over, not yet committed
        self._done: dict[int, int] = {}  # per partition: sequences at or below were handled
        # The watch (see `_watch`): the highest sequence it delivered, and per partition the
        # highest it showed there and the highest that partition's consumer delivered.
        self._watched = 0
        self._seen: dict[int, int] = {}
        self._fetched: dict[int, int] = {}
        self._short_since: dict[int, float] = {}  # per partition: "no messages" below seen since
        self._raw: dict[int, bytes] = {}  # handed-over payloads, for dead-lettering
        self.published_at: dict[int, float] = {}  # own rows handed over: seq -> publish time
        self.scored: collections.deque = collections.deque()  # STREAM_SCORED payloads
        self._arrived = threading.Event()  # a transaction of this shard was published
        self._woken_at = 0.0  # time.monotonic() of the latest such publish's wake-up
        self._in_flight = None  # scored rows published, not yet acknowledged (publish_scored)
        self._loop = LoopThread(f"nats-{self.address.stream}-{shard}")
        self._loop.run(self._connect(partitions), OP_TIMEOUT_S)

    async def _connect(self, partitions):
        self.nc = await connect(self.address, f"wallet-monitor-shard-{self.shard}-of-{self.shards}",
                                statuses_only=True)  # no header of a message is read
        self.js = self.nc.jetstream()
        self.partitions = await ensure_streams(self.js, self.address, partitions)
        self.mine = shard_partitions(self.shard, self.shards, self.partitions)
        self._mine = np.zeros(self.partitions, bool)
        self._mine[self.mine] = True
        self._subs: dict[int, str] = {}
        self._queues: dict = {}

    # ------------------------------------------------------------------------ the interface

    def owns(self, position: dict) -> bool:
        return (position["stream"] == self.address.stream
                and position["shard"] == [self.shard, self.shards]
                and position["partitions"] == self.partitions)

    def context(self) -> Iterator[RawRows]:
        if self._context_logins is not None and len(self._context_logins):
            frame = self._context_logins.astype(object)
            yield self._rows("logins (history)", frame, np.arange(1, len(frame) + 1))

    def replay(self, position: dict | None) -> Iterator[Polled]:
        """What this shard handled before (each partition's acknowledged floor, or the checkpoint
        `position` where that is further), as Polled chunks; then open the consumers after it."""
        self._call(lambda: self._floors(position))
        last = self._call(self._last_seq)
        top = min(max(self._done.values(), default=0), last)
        # Every partition is handled up to its own floor: the least is what the shard can claim
        # (a poll moves it on once the partitions answer).
        handled = min(min(self._done.values(), default=0), last)
        if top > 0:
            self._call(self._open_replay)
            seen = 0
            while seen < top:
                msgs = self._call(self._replay_fetch)
                if not msgs:
                    break
                seen = _seq(msgs[-1])
                keep = [m for m in msgs if self._handled(m)]
                yield self._split(keep, ack_bad=False)
            self._call(self._replay_sub.unsubscribe)
        self.upto = handled
        self._call(self._open_consumers)

    def poll(self, max_rows: int) -> Polled:
        msgs = self._call(lambda: self._poll(max_rows))
        return self._split(msgs)

    def position(self) -> dict:
        """Where the shard is: its stream sequence; and how far its linker released the
        scored rows of every shard (`linked_upto`, set by the ShardFollower), once it has."""
        out = {"stream": self.address.stream, "shard": [self.shard, self.shards],
               "partitions": self.partitions, "upto": self.upto}
        if self.linked_upto:
            out["linked_upto"] = self.linked_upto
        return out

    def wait(self, timeout: float) -> None:
        """Until a transaction is published on one of this shard's partitions (a plain NATS
        subscription to their transaction subjects, opened with the consumers), at most
        `timeout` seconds: the broker's push wakes the follower instead of a poll interval.
        Returns WAKE_SETTLE_S after the latest wake-up at the earliest: at once when it came
        before (a row published while the last batch was scored), not a sleep each poll."""
        if self._arrived.wait(max(0.0, timeout)):
            self._arrived.clear()
            left = self._woken_at + WAKE_SETTLE_S - time.monotonic()
            if left > 0:
                time.sleep(left)

    def commit(self) -> None:
        self.scored_sent()  # a partition's messages are acknowledged after their scored rows
        if self._unacked:
            done, self._unacked = list(self._unacked.values()), {}
            self._call(lambda: self._ack(done))
        self._raw.clear()

    def close(self) -> None:
        # Best effort, each step on its own: a failed last publish (no retry here; nothing was
        # acknowledged after it) still lets the connection close.
        steps = [lambda: self._loop.run(self.nc.close(), 10)]
        if self._in_flight is not None:
            steps.insert(0, lambda: self._in_flight[2].result(10))
        for step in steps:
            try:
                step()
            except Exception as exc:  # closing is best effort
                logger.debug("closing NATS: %s", exc)
        self._loop.stop()

    # ---------------------------------------------------------------------- cross-shard use

    def publish_scored(self, rows: list[dict], upto: int) -> None:
        """This shard's scored rows (and that it has handled everything up to `upto`) for the
        episode links of every shard; in chunks that stay under the message size limit.

        Sent now, acknowledged later: the follower links, writes and polls meanwhile (the
        acknowledgement's round trip was in every poll). The next publish, a `commit`, a
        checkpoint (`scored_sent`) and `close` wait for it first, publishing again what was not
        acknowledged: batches stay in order, and no message is acknowledged or checkpointed
        before its scored rows are in STREAM_SCORED."""
        self.scored_sent()
        chunks = [rows[i:i + 1000] for i in range(0, len(rows), 1000)] or [[]]
        self._in_flight = chunks, upto, self._loop.submit(self._publish_scored(chunks, upto))

    def scored_sent(self) -> None:
        """Wait until the scored rows sent last are acknowledged; publish them again (waiting
        for the server as `_call` does) if they were not."""
        if self._in_flight is None:
            return
        chunks, upto, future = self._in_flight
        self._in_flight = None
        try:
            future.result(OP_TIMEOUT_S)
        except (NotFoundError, BadRequestError):
            raise
        except (NatsError, JsError, TimeoutError) as exc:
            future.cancel()
            logger.warning("scored rows not acknowledged (%s: %s); publishing them again",
                           type(exc).__name__, exc)
            self._call(lambda: self._publish_scored(chunks, upto))

    def dead_letter(self, bad: list) -> None:
        """Publish the messages behind `bad` [(name, seq, reason)] to STREAM.invalid."""
        items = [(seq, reason, self._raw.get(seq, b"")) for _, seq, reason in bad]
        if items:
            self._call(lambda: self._dead_letter(items))

    def start_scored(self) -> None:
        """Start receiving every shard's scored rows, from the beginning of STREAM_SCORED."""
        self._call(self._subscribe_scored)

    def fetch_scored(self) -> None:
        """Fetch the scored batches published since the last fetch (a poll also does)."""
        self._call(self._poll_scored)

    def consumer_pending(self) -> int:
        return self.pending + len(self._buffer)

    def _call(self, make):
        """Run the coroutine `make()` makes on the NATS loop; while the server is unreachable
        (restarting), wait and try again: the detector pauses, and goes on once it is back."""
        warned = False
        while True:
            try:
                return self._loop.run(make(), OP_TIMEOUT_S)
            except (NotFoundError, BadRequestError):
                raise  # the stream or a consumer is gone: not a matter of waiting
            except (NatsError, JsError, TimeoutError) as exc:
                if not warned:
                    logger.warning("NATS unavailable (%s: %s); waiting for it",
                                   type(exc).__name__, exc)
                    warned = True
                time.sleep(RETRY_WAIT_S)

    # -------------------------------------------------------------------------------- async

    async def _last_seq(self) -> int:
        return (await self.js.stream_info(self.address.stream)).state.last_seq

    async def _floors(self, position):
        ckpt = position["upto"] if position else 0
        for p in self.mine:
            try:
                info = await self.js.consumer_info(self.address.stream, f"wm-{p}")
                floor = info.ack_floor.stream_seq or 0
            except NotFoundError:
                floor = 0
            self._done[p] = max(floor, ckpt)

    def _handled(self, msg) -> bool:
        p = _partition(msg.subject)
        return p is not None and self._mine[p] and _seq(msg) <= self._done[p]

    async def _open_replay(self):
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                                inactive_threshold=60.0)
        self._replay_sub = await self.js.pull_subscribe(f"{self.address.stream}.>",
                                                        stream=self.address.stream, config=config)

    async def _replay_fetch(self):
        try:
            return await self._replay_sub.fetch(REPLAY_BATCH, timeout=1.0)
        except TimeoutError:
            return []

    async def _open_consumers(self):
        self._inbox = self.nc.new_inbox()

        async def wake(_msg):
            self._woken_at = time.monotonic()
            self._arrived.set()
        for p in self.mine:
            await self._replies(p)
            await self.nc.subscribe(self.address.tx_subject(p), cb=wake, pending_msgs_limit=-1,
                                    pending_bytes_limit=-1)
            name = f"wm-{p}"
            await self._recreate(self.address.stream, ConsumerConfig(
                durable_name=name, filter_subject=f"{self.address.stream}.*.{p}",
                # ALL: one acknowledgement per partition per commit covers every message
                # before it; a shard hands a partition's messages over in order (see _ack).
                ack_policy=AckPolicy.ALL, ack_wait=self.ack_wait,
                max_ack_pending=MAX_ACK_PENDING, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self._done[p] + 1))
            self._subs[p] = name
        await self._open_watch()

    async def _open_watch(self):
        """The shard's watch: a durable consumer of every partition's subjects, headers only,
        from after `upto` (what the shard handled before: the partitions' floors are at or
        above it)."""
        self._watch_name = f"wm-watch-{self.shard}-of-{self.shards}"
        await self._recreate(self.address.stream, ConsumerConfig(
            durable_name=self._watch_name, filter_subject=f"{self.address.stream}.*.*",
            ack_policy=AckPolicy.NONE, headers_only=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.upto + 1))
        await self._replies("watch")
        self._watched = self.upto
        self._fetched = {p: self._done[p] for p in self.mine}
        self._seen = dict(self._fetched)
        self._short_since = {}

    async def _recreate(self, stream: str, config: ConsumerConfig) -> None:
        """The durable consumer `config` names on `stream`, made anew (gone if it was there)."""
        try:
            await self.js.delete_consumer(stream, config.durable_name)
        except NotFoundError:
            pass
        await self.js.add_consumer(stream, config)

    async def _replies(self, key) -> None:
        """A queue for the replies to `key`'s pull requests (a partition, or the linker's).
        Delivered messages carry their own subject, so each key has its reply subjects: one per
        request (`INBOX.key.n`), so that a request's 404/408 is told from an earlier one's."""
        queue = self._queues[key] = _Replies()

        async def put(m):
            queue.put(m)

        await self.nc.subscribe(f"{self._inbox}.{key}.*", cb=put, pending_msgs_limit=-1,
                                pending_bytes_limit=-1)

    async def _request(self, p, n, stream=None, consumer=None, keep=None) -> None:
        """Send partition p's no-wait pull request for up to n messages (replies to its queue)."""
        queue, keep = self._queues[p], keep or self._keep
        while queue.items:  # left over from a request that timed out: still delivered
            m = queue.items.popleft()
            if not (m.headers or {}).get("Status"):
                keep(m)
        await self.nc.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{stream or self.address.stream}.{consumer or self._subs[p]}",
            _pull_body(n), reply=f"{self._inbox}.{p}.{queue.request()}")

    async def _collect(self, p, n, deadline: float):
        """The replies to p's request: up to n messages; `drained`: the server said there are
        no more (a no-wait pull request ends with 404 when it runs out). A timer only when the
        queue is empty, shared by the poll's requests (`deadline`, loop time): no task each."""
        queue = self._queues[p]
        got, drained = [], False
        while len(got) < n:
            if queue.items:  # the common case while a batch streams in: no timer
                m = queue.items.popleft()
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        m = await queue.get()
                except TimeoutError:
                    break
            status = (m.headers or {}).get("Status")
            if status and not queue.answers(m):
                # An earlier request's end, come after its reader stopped waiting (its deadline
                # passed): taken for this one's, it would say p drained with messages left.
                continue
            if status:
                drained = status in ("404", "408")  # none left; 408: fewer than asked
                break
            got.append(m)
        return p, got, drained

    async def _fetch(self, p, n, stream=None, consumer=None, keep=None):
        """Up to n messages of p that are there now, and whether p is drained (see _collect)."""
        await self._request(p, n, stream, consumer, keep)
        return await self._collect(p, n, asyncio.get_running_loop().time() + PULL_TIMEOUT_S)

    async def _fetch_some(self, parts, n):
        """`_fetch` on partitions `parts` at once: all requests are sent first, then the
        replies read in turn (they are all in flight, so the wait is the slowest one's)."""
        for p in parts:
            await self._request(p, n)
        deadline = asyncio.get_running_loop().time() + PULL_TIMEOUT_S
        return [await self._collect(p, n, deadline) for p in parts]

    async def _watch(self, want: int) -> int:
        """Read the watch up to now (or `want` entries): which of the shard's partitions hold messages their
        consumers have not delivered yet. Returns how many entries wait after it (0: drained).

        The watch delivers every message of the partitions' subjects, in stream order, none
        skipped (AckPolicy.NONE: nothing to redeliver), so every message at or below
        `_watched` was seen: a partition whose highest seen message its consumer delivered
        already holds nothing undelivered at or below `_watched` (its consumer delivers in
        order too), and a poll need not ask it. What is beyond `_watched` waits for the next
        poll, so the watch read need not be drained: a poll reads at most what it hands over."""
        seen = 0
        while seen < want:
            _, got, drained = await self._fetch("watch", WATCH_BATCH, consumer=self._watch_name,
                                                keep=self._keep_watch)
            for m in got:
                self._keep_watch(m)
            seen += len(got)
            if drained:
                return 0
            if not got:  # the answer was lost: try again next poll
                break
        return 1

    def _keep_watch(self, m) -> None:
        seq = _seq(m)
        p = _partition(m.subject)
        if p is not None and p < len(self._mine) and self._mine[p]:
            self._seen[p] = max(self._seen[p], seq)
        self._watched = max(self._watched, seq)

    def _keep(self, m) -> bool:
        """Buffer a delivered message unless it was handed over already (then acknowledge it)."""
        seq = _seq(m)
        p = _partition(m.subject)
        self._fetched[p] = max(self._fetched.get(p, 0), seq)  # a consumer delivers in order
        if seq <= max(self._done.get(p, 0), self.upto):
            asyncio.ensure_future(m.ack())  # delivered again after its acknowledgement was lost
            return False
        if seq not in self._unacked:
            self._buffer.setdefault(seq, m)
        return True

    async def _poll(self, max_rows):
        # Every shard's scored rows are fetched alongside (they bear on no bound below).
        scored = (asyncio.ensure_future(self._poll_scored()) if "scored" in self._queues
                  else None)
        try:
            # max_rows counts transactions; a poll moves about MESSAGES_PER_ROW messages per
            # row (logins, transfer copies), spread over the partitions.
            want = MESSAGES_PER_ROW * max_rows
            waiting = await self._watch(want)
            # Only the partitions the watch shows messages on are asked (see `_watch`); every
            # message of the others at or below `_watched` was delivered before.
            ask = [p for p in self.mine if self._seen[p] > self._fetched[p]]
            per = max(1, want // max(len(ask), 1))
            bound, pending = self._watched, waiting
            for p, msgs, drained in await self._fetch_some(ask, per):
                for m in msgs:
                    self._keep(m)  # buffered only: a retried poll hands them over
                if msgs:
                    pending += _pending(msgs[-1])
                # More may wait: nothing after what came can be handed over. So too when p
                # says it has none (404) but delivered less than the watch saw there: a
                # consumer learns of a stored message a moment after the watch may deliver
                # it, and a no-wait request in that moment is answered "no messages".
                short = drained and self._fetched[p] < self._seen[p] and not self._gone(p)
                if not short:
                    self._short_since.pop(p, None)
                if not drained or short:
                    bound = min(bound, _seq(msgs[-1]) if msgs else self.upto)
            # Before anything is handed over: a failed fetch of the scored rows retries the
            # whole poll (`_call`) with nothing taken out of the buffer or past `upto`.
            if scored is not None:
                await scored
        except BaseException:
            if scored is not None:
                scored.cancel()  # no second reader of the scored queue beside the retry's
            raise
        self.pending = pending
        ready, cut = self._ready(bound, want, max_rows)
        if cut:  # what is left waits: the shard has handed over up to the last one only
            bound = ready[-1]
        self.upto = max(self.upto, bound)
        out = [self._buffer.pop(s) for s in ready]
        for s, m in zip(ready, out, strict=True):
            self._unacked[s] = m
        return out

    def _gone(self, p: int) -> bool:
        """Whether partition p has answered "no messages" below what its watch saw there for
        SEEN_GRACE_S: then the messages between were removed from the stream, not late, and
        are passed over (logged) instead of bounding every poll of the shard from now on."""
        now = time.monotonic()
        if now - self._short_since.setdefault(p, now) < SEEN_GRACE_S:
            return False
        logger.warning("partition %d of %s: messages %d-%d shown by the watch were never "
                       "delivered (removed from the stream?); passed over", p,
                       self.address.stream, self._fetched[p] + 1, self._seen[p])
        self._fetched[p] = self._seen[p]
        del self._short_since[p]
        return True

    def _ready(self, bound: int, want: int, max_rows: int) -> tuple[list[int], bool]:
        """The buffered sequences up to `bound` a poll hands over, in order: at most `want`
        messages and `max_rows` transactions (a poll that asks few partitions may fetch many
        messages from one); and whether that cut the list short."""
        ready = sorted(s for s in self._buffer if s <= bound)
        cut = len(ready) > want
        ready = ready[:want]
        tx = f"{self.address.stream}.tx."
        n = 0
        for i, s in enumerate(ready):
            n += self._buffer[s].subject.startswith(tx)
            if n == max_rows and i + 1 < len(ready):
                return ready[:i + 1], True
        return ready, cut

    async def _ack(self, msgs):
        # Acking a partition's highest message acknowledges the partition's others
        # (AckPolicy.ALL), all handed over too: one message per partition where there was one
        # per message (nats-py publishes each in Python).
        last = {}
        for m in msgs:
            p, seq = _partition(m.subject), _seq(m)
            if p not in last or seq > last[p][0]:
                last[p] = seq, m
        for _, m in last.values():
            await m.ack()
        await self.nc.flush(timeout=OP_TIMEOUT_S)  # the server has the acknowledgements

    async def _publish_scored(self, chunks, upto):
        subject = self.address.scored_subject(self.shard)
        for i, chunk in enumerate(chunks):
            body = {"shard": self.shard, "shards": self.shards,
                    "upto": upto if i == len(chunks) - 1 else 0, "rows": chunk}
            await self.js.publish(subject, json.dumps(body).encode(),
                                  stream=self.address.scored_stream)

    async def _dead_letter(self, items):
        for seq, reason, raw in items:
            await self.js.publish(self.address.invalid_subject, raw, headers={
                "Wm-Seq": str(seq), "Wm-Reason": reason[:500],
                "Nats-Msg-Id": f"invalid/{seq}"})

    async def _subscribe_scored(self):
        """A durable consumer of STREAM_SCORED for this shard's linker, from the start (a durable
        one, read with the same no-wait pulls, outlives a server restart)."""
        self._linker_name = f"wm-linker-{self.shard}-of-{self.shards}"
        await self._recreate(self.address.scored_stream, ConsumerConfig(
            durable_name=self._linker_name, ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL))
        await self._replies("scored")

    def _keep_scored(self, m) -> None:
        self.scored.append(json.loads(m.data))

    async def _poll_scored(self):
        """Every shard's scored batches published since the last poll."""
        while True:
            _, got, drained = await self._fetch(
                "scored", SCORED_BATCH, self.address.scored_stream, self._linker_name,
                self._keep_scored)
            for m in got:
                self._keep_scored(m)
            if drained or not got:
                return

    # ------------------------------------------------------------------------------ parsing

    def _split(self, msgs, ack_bad: bool = True) -> Polled:
        """Messages -> Polled: own transactions, logins, and transfer copies as context."""
        own, copies, logins, bad = [], [], [], []
        for m in msgs:
            seq = _seq(m)
            p = _partition(m.subject)
            self._raw[seq] = m.data
            try:
                rec = json.loads(m.data)
                if not isinstance(rec, dict):
                    raise ValueError(f"a JSON {type(rec).__name__}, not an object")
            except ValueError as exc:
                bad.append((self.address.stream, seq, f"not a JSON object: {exc}"))
                self.invalid += 1
                continue
            if m.subject.startswith(f"{self.address.stream}.login."):
                logins.append((seq, rec))
                continue
            sender = partition_of(rec.get("wallet_id", ""), self.partitions)
            if sender == p:
                own.append((seq, rec))
                if ack_bad:
                    self.published_at[seq] = _stored_at(m)
            elif not self._mine[sender]:
                copies.append((seq, rec))
            # else: a copy of a transfer this shard also reads on its sender's partition
        tx = self._rows(self.address.stream, _frame(own, self.tx_columns), [s for s, _ in own],
                        bad)
        context = self._rows(self.address.stream, _frame(copies, self.tx_columns),
                             [s for s, _ in copies])
        lg = self._rows(self.address.stream, _frame(logins, self.login_columns),
                        [s for s, _ in logins])
        return Polled(tx, lg, bool(msgs), context=context)

    @staticmethod
    def _rows(name, frame, where, bad=None) -> RawRows:
        return RawRows(name, frame, np.asarray(where, dtype=np.int64), bad or [])


class _Replies:
    """The replies to one key's pull requests, as they come (a deque and the one reader's
    waiter: an asyncio.Queue's put and get cost ~6 µs a message of the NATS thread)."""

    def __init__(self):
        self.items: collections.deque = collections.deque()
        self._waiter: asyncio.Future | None = None
        self._sent = 0  # requests sent: the last one's reply subject ends with this number

    def request(self) -> str:
        """The token ending the reply subject of a new request."""
        self._sent += 1
        return str(self._sent)

    def answers(self, status_msg) -> bool:
        """Whether a status (sent to a request's own reply subject) ends the last request."""
        return status_msg.subject.rsplit(".", 1)[-1] == str(self._sent)

    def put(self, m) -> None:
        self.items.append(m)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self):
        """The next reply, once there is one (a single reader at a time)."""
        while not self.items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.items.popleft()


def _partition(subject: str) -> int | None:
    tail = subject.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else None


@functools.lru_cache(maxsize=64)
def _pull_body(n: int) -> bytes:
    """A no-wait pull request's body for n messages (a poll asks the same n of each)."""
    return json.dumps({"batch": n, "no_wait": True}).encode()


def _ack_fields(m) -> list[str] | None:
    """A JetStream message's reply subject, split: $JS.ACK.<stream>.<consumer>.<delivered>.
    <stream seq>.<consumer seq>.<timestamp ns>.<pending> (stream and consumer names hold no
    dot); None for another form (a domain's), read through nats-py's `metadata` instead. Read
    here: `metadata` builds a Metadata with a datetime for each message, ~12 µs of the NATS
    thread a message."""
    fields = m.reply.split(".")
    return fields if len(fields) == 9 else None


def _seq(m) -> int:
    """A delivered message's stream sequence."""
    f = _ack_fields(m)
    return int(f[5]) if f else m.metadata.sequence.stream


def _pending(m) -> int:
    """How many messages its consumer holds after a delivered message."""
    f = _ack_fields(m)
    return int(f[8]) if f else m.metadata.num_pending


def _stored_at(m) -> float:
    """When the stream stored a delivered message (epoch seconds)."""
    f = _ack_fields(m)
    return int(f[7]) / 1e9 if f else m.metadata.timestamp.timestamp()


def _frame(items, columns) -> pd.DataFrame:
    """Records as a text-valued frame with at least `columns` (None where absent): the columns
    in the order the records first name them, then the rest of `columns`; None for a missing,
    null, NaN or empty value. One 2-D block of objects: what `pd.DataFrame(records)` and its
    clean-up gave, without their cost per call (~1-1.5 ms a frame, three frames a poll)."""
    names = dict.fromkeys(itertools.chain.from_iterable(r.keys() for _, r in items))
    names.update(dict.fromkeys(c for c in columns if c not in names))
    values = np.empty((len(items), len(names)), dtype=object)
    if items:
        # Missing: absent, null, NaN (a JSON NaN: v != v), the empty text (JSON holds no other
        # value equal to ""). A JSON array or object becomes its JSON text, as a CSV field
        # would hold it: checked as any text (a list as an id had crashed every poll).
        values[:] = [[None if (v := r.get(c)) is None or v == "" or v != v
                      else json.dumps(v) if type(v) in (list, dict) else v
                      for c in names] for _, r in items]
    return pd.DataFrame(values, columns=list(names), dtype=object, copy=False)
