"""A follower's intake from NATS JetStream: one shard's partitions of a wallet-partitioned stream.

Each partition p the shard owns is read by a durable pull consumer `wm-<p>` (filter
`STREAM.*.<p>`: its transactions and logins), and the shard has a watch: a consumer of every
partition's subjects, headers only, which shows in stream order what was stored. Every
consumer holds a standing pull request (`_Standing`): messages come as JetStream stores them,
received by the NATS thread while the follower scores, and a request that has delivered its
batch, or expired, is renewed. A poll takes no round trip: it hands over, in stream order,
every buffered message up to a bound B such that all of the shard's messages up to B are in
(the watch's entries up to B each have their message in; the rest wait for a later poll): the
shard reads its events in the order they were published. Messages are acknowledged in
`commit`, once the follower has written, alerted and checkpointed them. On start each consumer
is (re)created to begin after what was handled (its acknowledged floor, or the checkpoint
where that is further): what was delivered but never acknowledged comes again, in order, at
once, not after the acknowledgement wait; what was handled is replayed from the stream to
rebuild the state.

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
import heapq
import json
import logging
import threading
import time
from collections.abc import Iterator

import numpy as np
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError
from nats.js.errors import Error as JsError

from wallet_monitor.stream.nats_io import LoopThread, connect, ensure_streams
from wallet_monitor.stream.nats_messages import (
    consumer_of,
    consumer_seq,
    records_rows,
    seq_pending,
    stored_at,
    stream_seq,
    subject_partition,
)
from wallet_monitor.stream.parse import RawRows
from wallet_monitor.stream.partition import parse_nats_url, partition_of, shard_partitions
from wallet_monitor.stream.source import Polled, TransactionSource

logger = logging.getLogger(__name__)

MAX_ACK_PENDING = 50_000  # messages a partition may have delivered and unacknowledged
REPLAY_BATCH = 2000
MESSAGES_PER_ROW = 3  # a transaction, its logins, a transfer's copy: a poll's take per row
# Standing pull requests (`_Standing`): how many messages each asks for before it is renewed,
# how long the server holds it (it then answers 408 and it is renewed), and when it is
# replaced whatever became of it.
PARTITION_BATCH = 256  # a renewal per 256 messages of a partition: ~1 request in 250 messages
WATCH_BATCH = 5000  # watch entries (headers only, ~150 bytes)
SCORED_BATCH = 500  # scored batches (up to 1000 rows each)
PULL_EXPIRES_S = 5.0  # an idle partition's request renewed every 5 s: 13 requests/s at 64
# A request is replaced this long after it was sent, before it expires: under load the server
# was seen to let a request lapse at its expiry with no 408, which stalled what it served (a
# partition, or the watch and with it the whole shard); a request lost otherwise (with a
# connection) is replaced the same way. The two overlap for a second: the messages come in
# order either way.
PULL_RENEW_S = 0.8 * PULL_EXPIRES_S
# Delivered and not handed over: a partition whose request has delivered its batch is not
# renewed while the shard holds more than this (a backlog is read as it is handed over, not
# into memory), unless it holds the message the hand-over waits for.
BUFFER_MAX = 20_000
WATCH_AHEAD_MAX = 100_000  # watch entries ahead of the hand-over: the watch waits beyond it
OP_TIMEOUT_S = 30.0  # one call into the NATS loop
RETRY_WAIT_S = 0.5  # between tries while the server is unreachable
# A message the watch showed that its partition has not delivered for this long is looked up
# in the stream: gone (a purge, limits), it is passed over rather than holding the shard back;
# there, it is waited for (its consumer delivers it, or again after the acknowledgement wait).
SEEN_GRACE_S = 1.0
# A partition that has not delivered, this long after the watch showed it, the message the
# hand-over waits on is sent a second request: under load the server was seen to drop a
# standing request without answering it (no message, no 408), which stalled the shard until
# the request was replaced (PULL_RENEW_S). A spare request costs nothing.
NUDGE_S = 0.05


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
        self.pending = 0  # messages known to wait, not yet in, after the last poll (`_poll`)
        self.upto = 0  # every message of this shard up to this stream sequence is handed over
        self.linked_upto = 0  # a ShardFollower's linker: scored rows released up to here
        self._buffer: dict[int, object] = {}  # fetched, not yet handed over: seq -> message
        self._order: list[int] = []  # the buffer's sequences as a heap (`_ready`)
        self._unacked: dict[int, object] = {}  # handed over, not yet committed
        self._done: dict[int, int] = {}  # per partition: sequences at or below were handled
        # The watch: the highest sequence it delivered, and the shard's entries (sequence,
        # partition) not yet known to be in (`_bound`); the partitions' pending counts.
        self._watched = 0
        self._ahead: collections.deque = collections.deque()
        self._left: dict[int, int] = {}
        self._stuck: tuple | None = None  # the entry the bound waits on, since when, nudged
        self._standing: dict = {}  # key (a partition, "watch", "scored") -> its _Standing
        self._consumers: dict = {}  # consumer name -> its _Standing
        self._replies = None  # the subscription of every standing request's replies
        self._cut = False  # the connection was lost: the watch and scored consumers to remake
        # "watch" / "scored" -> the stream sequence its consumer, just (re)made, starts from,
        # until its first delivery comes (`_stale`).
        self._remade: dict = {}
        self._scored_seq = 0  # the last STREAM_SCORED sequence received
        self._raw: dict[int, bytes] = {}  # handed-over payloads, for dead-lettering
        self.published_at: dict[int, float] = {}  # own rows handed over: seq -> publish time
        self.scored: collections.deque = collections.deque()  # STREAM_SCORED payloads
        self._arrived = threading.Event()  # a message of this shard was delivered
        self._in_flight = None  # scored rows published, not yet acknowledged (publish_scored)
        self._loop = LoopThread(f"nats-{self.address.stream}-{shard}")
        self._loop.run(self._connect(partitions), OP_TIMEOUT_S)

    async def _connect(self, partitions):
        self.nc = await connect(self.address, f"wallet-monitor-shard-{self.shard}-of-{self.shards}",
                                statuses_only=True,  # no header of a message is read
                                disconnected=self._disconnected, reconnected=self._renew_all)
        self.js = self.nc.jetstream()
        self.partitions = await ensure_streams(self.js, self.address, partitions)
        self.mine = shard_partitions(self.shard, self.shards, self.partitions)
        self._mine = np.zeros(self.partitions, bool)
        self._mine[self.mine] = True
        self._inbox = self.nc.new_inbox()

    # ------------------------------------------------------------------------ the interface

    def owns(self, position: dict) -> bool:
        return (position["stream"] == self.address.stream
                and position["shard"] == [self.shard, self.shards]
                and position["partitions"] == self.partitions)

    def context(self) -> Iterator[RawRows]:
        if self._context_logins is not None and len(self._context_logins):
            frame = self._context_logins.astype(object)
            yield RawRows("logins (history)", frame, np.arange(1, len(frame) + 1))

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
                seen = stream_seq(msgs[-1])
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
        """Until a message of this shard's partitions is delivered (the standing requests bring
        them as they are stored), at most `timeout` seconds."""
        if self._arrived.wait(max(0.0, timeout)):
            self._arrived.clear()

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
        """Make sure the scored batches keep coming (they arrive by themselves; this renews a
        request that was lost, as a poll does)."""
        self._call(self._tend)

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
        p = subject_partition(msg.subject)
        return p is not None and self._mine[p] and stream_seq(msg) <= self._done[p]

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
        for p in self.mine:
            name = f"wm-{p}"
            await self._recreate(self.address.stream, ConsumerConfig(
                durable_name=name, filter_subject=f"{self.address.stream}.*.{p}",
                # ALL: one acknowledgement per partition per commit covers every message
                # before it; a shard hands a partition's messages over in order (see _ack).
                ack_policy=AckPolicy.ALL, ack_wait=self.ack_wait,
                max_ack_pending=MAX_ACK_PENDING, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=self._done[p] + 1))
        await self._open_watch()
        for p in self.mine:
            await self._stand(p, self.address.stream, f"wm-{p}", PARTITION_BATCH, self._keep)

    async def _open_watch(self):
        """The shard's watch: a durable consumer of every partition's subjects, headers only,
        from after `upto` (what the shard handled before: the partitions' floors are at or
        above it). It delivers every message of those subjects, in stream order, none skipped
        (AckPolicy.NONE: nothing to redeliver)."""
        self._watched = self.upto
        self._ahead.clear()
        self._stuck = None
        name = await self._watch_from(self.upto + 1)
        await self._stand("watch", self.address.stream, name, WATCH_BATCH, self._keep_watch)

    async def _watch_from(self, start: int) -> str:
        """(Re)create the watch consumer to deliver from stream sequence `start`."""
        name = f"wm-watch-{self.shard}-of-{self.shards}"
        await self._recreate(self.address.stream, ConsumerConfig(
            durable_name=name, filter_subject=f"{self.address.stream}.*.*",
            ack_policy=AckPolicy.NONE, headers_only=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start))
        self._remade["watch"] = start
        return name

    async def _recreate(self, stream: str, config: ConsumerConfig) -> None:
        """The durable consumer `config` names on `stream`, made anew (gone if it was there)."""
        try:
            await self.js.delete_consumer(stream, config.durable_name)
        except NotFoundError:
            pass
        await self.js.add_consumer(stream, config)

    async def _stand(self, key, stream: str, consumer: str, batch: int, keep) -> None:
        """Give `consumer` a standing pull request whose messages go to `keep` (on the NATS
        thread), renewed as `_Standing` says; replies come to `INBOX.key.n`, n the request."""
        self._standing[key] = self._consumers[consumer] = _Standing(key, stream, consumer, batch,
                                                                    keep)
        if self._replies is None:  # one subscription for every request's replies (`_reply`)
            self._replies = await self.nc.subscribe(f"{self._inbox}.*.*", cb=self._reply,
                                                    pending_msgs_limit=-1, pending_bytes_limit=-1)
        await self._renew(self._standing[key])

    async def _reply(self, m) -> None:
        """A reply to a standing request, handed to its `_Standing`; renew the request now or
        later as it says. One subscription for all: a burst of messages for many partitions is
        one task's work, not one task's each. A message names its consumer (in its reply
        subject); a status (408, ...) comes on the request's own subject, INBOX.key.n."""
        if m.reply:
            standing = self._consumers.get(consumer_of(m))
        else:
            standing = self._standing.get(_key(m.subject.rsplit(".", 2)[-2]))
        if standing is None:
            return
        delay = standing.take(m)
        if delay == 0.0:
            await self._renew(standing)
        elif delay is not None:
            asyncio.get_running_loop().call_later(
                delay, lambda: asyncio.ensure_future(self._renew(standing)))

    async def _renew(self, standing: _Standing) -> None:
        """Send `standing`'s next request, unless a backlog holds it (`_held`)."""
        if self._held(standing):
            standing.held = True
            return
        standing.held = False
        await self.nc.publish(standing.subject, _pull_body(standing.batch, PULL_EXPIRES_S),
                              reply=f"{self._inbox}.{standing.key}.{standing.next()}")

    def _held(self, standing: _Standing) -> bool:
        """Whether a backlog holds `standing`'s renewal: the buffer is full (but for the
        partition whose message the hand-over waits on), or the watch is far ahead."""
        if standing.key == "watch":
            return len(self._ahead) > WATCH_AHEAD_MAX
        if isinstance(standing.key, int) and len(self._buffer) > BUFFER_MAX:
            head = self._ahead[0] if self._ahead else None
            return not (head and head[1] == standing.key and head[0] not in self._buffer)
        return False

    async def _disconnected(self) -> None:
        """The connection is lost: what the watch and the scored rows' consumer sent on it may
        never have come (they acknowledge nothing, so nothing is sent again), and what the
        server sends them until `_renew_all` remakes them may follow such a gap: dropped."""
        self._cut = True

    async def _renew_all(self) -> None:
        """After a reconnect: the watch and the scored rows' consumer made anew from after the
        last entry received (`_disconnected`), then every standing request again (the server
        forgets a client's requests with its connection)."""
        if self._cut and "watch" in self._standing:
            await self._watch_from(self._watched + 1)
        if self._cut and "scored" in self._standing:
            await self._scored_from(self._scored_seq + 1)
        self._cut = False
        for standing in list(self._standing.values()):
            await self._renew(standing)

    async def _tend(self) -> None:
        """Remake what a reconnect left to remake; renew the requests a backlog held once it
        has gone, and those sent PULL_RENEW_S ago (a request lapsed or lost is replaced so); a
        consumer whose request the server ended is looked up (gone: NotFoundError, which
        `_call` raises: the shard's consumer deleted under it is not a matter of waiting)."""
        if self._cut and self.nc.is_connected:  # the remake after a reconnect failed: again
            await self._renew_all()
        now = time.monotonic()
        for standing in list(self._standing.values()):
            if standing.troubled and not self._cut:  # not while `_renew_all` remakes some
                standing.troubled = False
                await self.js.consumer_info(standing.stream, standing.consumer)
            if (standing.held and not self._held(standing)
                    or not standing.held and now - standing.sent_at > PULL_RENEW_S):
                await self._renew(standing)

    def _stale(self, key: str, m, seq: int) -> bool:
        """Whether `m` may come from the consumer `key` had before `_renew_all` remade it (the
        same name): its deliveries after a gap (entries lost with the connection) can still wait
        in the replies' queue when the remake is done; taken, they moved the watch past the gap
        (its messages then dropped as handed over) or lost scored rows. Until the new consumer's
        first delivery (its consumer sequence 1, at or after its start) none is taken."""
        start = self._remade.get(key)
        if start is None:
            return False
        if consumer_seq(m) != 1 or seq < start:
            return True
        del self._remade[key]
        return False

    def _keep_watch(self, m) -> None:
        seq = stream_seq(m)
        p = subject_partition(m.subject)
        if seq <= self._watched or self._cut or self._stale("watch", m, seq):
            return  # shown before; or it may follow entries lost with a connection
        self._watched = seq
        if p is not None and p < len(self._mine) and self._mine[p]:
            self._ahead.append((seq, p))
            self._wake()

    def _wake(self) -> None:
        """Wake the follower's `wait` (a set Event is not set again: ~5 us a message)."""
        if not self._arrived.is_set():
            self._arrived.set()

    def _keep(self, m) -> None:
        """Buffer a delivered message unless it was handed over (committed: acknowledge it again)."""
        p = subject_partition(m.subject)
        seq, self._left[p] = seq_pending(m)
        if seq in self._unacked:  # handed over, not committed: `commit` acknowledges it
            return
        if seq <= max(self._done.get(p, 0), self.upto):
            asyncio.ensure_future(m.ack())  # delivered again after its acknowledgement was lost
            return
        if seq not in self._buffer:
            self._buffer[seq] = m
            heapq.heappush(self._order, seq)
        self._wake()

    async def _bound(self) -> int:
        """The highest B such that every message of the shard up to B is in the buffer or was
        handled: the watch's entries are let go once their message is in."""
        ahead, buffer = self._ahead, self._buffer
        while ahead:
            seq, p = ahead[0]
            if seq in buffer or seq <= self._done[p]:
                ahead.popleft()
            elif await self._gone(seq, p):
                ahead.popleft()
            else:
                return seq - 1
        return self._watched

    async def _gone(self, seq: int, p: int) -> bool:
        """Whether the message `seq` of partition p, shown by the watch and not delivered, was
        removed from the stream (looked up once it has waited SEEN_GRACE_S, then again each
        SEEN_GRACE_S): then it is passed over instead of holding the shard back for good.
        Once it has waited NUDGE_S, p is sent a second request (again after each look-up)."""
        now = time.monotonic()
        if self._stuck is None or self._stuck[0] != seq:
            self._stuck = (seq, now, False)
        _, since, nudged = self._stuck
        if not nudged and now - since >= NUDGE_S:
            self._stuck = (seq, since, True)
            await self._renew(self._standing[p])
        if now - since < SEEN_GRACE_S:
            return False
        self._stuck = (seq, now, False)
        try:
            await self.js.get_msg(self.address.stream, seq)
        except NotFoundError:
            logger.warning("partition %d of %s: message %d shown by the watch is no longer in "
                           "the stream (a purge, limits?); passed over", p, self.address.stream,
                           seq)
            # It may have been counted in p's pending count (`_left`), which no delivery
            # would then correct: the follower would never be idle.
            self._left[p] = (await self.js.consumer_info(self.address.stream, f"wm-{p}")).num_pending
            return True
        return False

    async def _poll(self, max_rows):
        # max_rows counts transactions; a poll moves about MESSAGES_PER_ROW messages per row
        # (logins, transfer copies), spread over the partitions.
        want = MESSAGES_PER_ROW * max_rows
        bound = await self._bound()
        await self._tend()  # after the bound: the message it waits on is the watch's first
        # Waiting: what the watch showed and its partition has not delivered yet, and what the
        # held partitions said they still have (a standing request brings the rest by itself;
        # a count its last message gave would linger when no message follows to update it).
        held = [s.key for s in self._standing.values() if s.held and isinstance(s.key, int)]
        self.pending = len(self._ahead) + sum(self._left.get(p, 0) for p in held)
        ready, cut = self._ready(bound, want, max_rows)
        if cut:  # what is left waits: the shard has handed over up to the last one only
            bound = ready[-1]
        self.upto = max(self.upto, bound)
        out = [self._buffer.pop(s) for s in ready]
        for s, m in zip(ready, out, strict=True):
            self._unacked[s] = m
        return out

    def _ready(self, bound: int, want: int, max_rows: int) -> tuple[list[int], bool]:
        """The buffered sequences up to `bound` a poll hands over, in order, taken off
        `_order`: at most `want` messages and `max_rows` transactions (a partition may have
        delivered many while others were slower); and whether that cut the list short. A heap:
        a backlog holds up to BUFFER_MAX messages, which a sort every poll went through."""
        order, buffer, ready = self._order, self._buffer, []
        tx = f"{self.address.stream}.tx."
        n = 0
        while order and order[0] <= bound and len(ready) < want and n < max_rows:
            s = heapq.heappop(order)
            ready.append(s)
            n += buffer[s].subject.startswith(tx)
        return ready, bool(order) and order[0] <= bound

    async def _ack(self, msgs):
        # Acking a partition's highest message acknowledges the partition's others
        # (AckPolicy.ALL), all handed over too: one message per partition where there was one
        # per message (nats-py publishes each in Python).
        last = {}
        for m in msgs:
            p, seq = subject_partition(m.subject), stream_seq(m)
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
        one outlives a server restart), with its standing request."""
        name = await self._scored_from(1)
        await self._stand("scored", self.address.scored_stream, name, SCORED_BATCH,
                          self._keep_scored)

    async def _scored_from(self, start: int) -> str:
        """(Re)create the linker's consumer of STREAM_SCORED to deliver from sequence `start`."""
        name = f"wm-linker-{self.shard}-of-{self.shards}"
        await self._recreate(self.address.scored_stream, ConsumerConfig(
            durable_name=name, ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start))
        self._remade["scored"] = start
        return name

    def _keep_scored(self, m) -> None:
        if self._cut:
            return  # comes again once the consumer is remade (`_renew_all`)
        seq = stream_seq(m)
        if seq <= self._scored_seq or self._stale("scored", m, seq):
            return
        self._scored_seq = seq
        self.scored.append(json.loads(m.data))
        self._wake()  # rows to link (a rise is alerted then)

    # ------------------------------------------------------------------------------ parsing

    def _split(self, msgs, ack_bad: bool = True) -> Polled:
        """Messages -> Polled: own transactions, logins, and transfer copies as context."""
        own, copies, logins, bad = [], [], [], []
        for m in msgs:
            seq = stream_seq(m)
            p = subject_partition(m.subject)
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
                    self.published_at[seq] = stored_at(m)
            elif not self._mine[sender]:
                copies.append((seq, rec))
            # else: a copy of a transfer this shard also reads on its sender's partition
        tx = self._rows(own, self.tx_columns, bad)
        context = self._rows(copies, self.tx_columns)
        lg = self._rows(logins, self.login_columns)
        return Polled(tx, lg, bool(msgs), context=context)

    def _rows(self, items, columns, bad=None) -> RawRows:
        """(sequence, record) pairs as RawRows: lists, parsed without a frame while few."""
        header, rows = records_rows(items, columns)
        return RawRows(self.address.stream, None, np.asarray([s for s, _ in items], dtype=np.int64),
                       bad, header=header, rows=rows)


class _Standing:
    """A consumer's standing pull request: renewed when it has delivered the batch it asked for,
    when the server ends it (408 at its expiry, 409), or, by `_tend`, PULL_RENEW_S after it was
    sent (one lapsed or lost is replaced so). Each request has its own reply subject (ending
    in its number), so an earlier request's end is not taken for the current one's."""

    def __init__(self, key, stream: str, consumer: str, batch: int, keep):
        self.key, self.stream, self.consumer = key, stream, consumer
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.batch, self.keep = batch, keep
        self.sent = 0  # requests sent: the current one's reply subject ends with this number
        self.got = 0  # messages delivered since it was sent
        self.sent_at = time.monotonic()  # when the current request was sent
        self.held = False  # not renewed: a backlog holds it (`NatsSource._held`)
        self.troubled = False  # ended by the server (not 408): `_tend` checks the consumer

    def next(self) -> str:
        """Count a new request; the token ending its reply subject."""
        self.sent += 1
        self.got = 0
        self.sent_at = time.monotonic()
        return str(self.sent)

    def take(self, m) -> float | None:
        """A reply: a message for `keep`, or a status. Returns in how many seconds to renew the
        request (0: now), or None while it stands."""
        status = None if m.headers is None else m.headers.get("Status")
        if not status:
            self.keep(m)
            self.got += 1
            return 0.0 if self.got >= self.batch else None
        if m.subject.rsplit(".", 1)[-1] != str(self.sent) or status == "100":
            return None  # an earlier request's end (its number), or a heartbeat
        # 408: expired, renewed at once; any other end (409 from the server, 503 while a
        # consumer is gone) after a pause, not in a loop, and the consumer is checked.
        if status == "408":
            return 0.0
        self.troubled = True
        return RETRY_WAIT_S


def _key(token: str):
    """A standing request's key from its reply subject's token: a partition, or a name."""
    return int(token) if token.isdigit() else token


@functools.lru_cache(maxsize=64)
def _pull_body(n: int, expires: float) -> bytes:
    """A standing pull request's body: n messages, held by the server `expires` seconds."""
    return json.dumps({"batch": n, "expires": int(expires * 1e9)}).encode()
