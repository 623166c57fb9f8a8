"""The origin: the one authority, publishing each frame once into a broker.

The origin runs the game on an ordinary :class:`~flatsync.Publisher`, whose
broker is one more client: drained at every tick, it gets each frame's shared
delta, which goes into the world's stream as it is, byte for byte. At start,
and every K frames, a snapshot of the whole state is stored under the world's
key. The broker is written by one task, through a bounded queue: when the
broker is slow or away, the queue fills, the origin stops draining the broker
client, and the frames it misses merge in the publisher as a slow client's do
(memory stays bounded); once the queue has room again, the broker gets a
fresh snapshot in place of the merged delta, and the gateways, which see a gap,
re-seed from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from .._codecs._cbor import CborCodec
from .._codecs._codec import Codec
from .._handlers._base import build_value
from .._handlers._data import DataHandler
from .._session._frames import Kind, parse, schema_table, snapshot_header
from .._session._publisher import Publisher
from .._session._records import has_records, record_ids, schema_of
from .._tree._errors import FlatsyncError
from ..net._ticking import tick_at
from ._broker import Broker, BrokerError, Feed

__all__ = ["BROKER_CLIENT", "Origin"]

log = logging.getLogger("flatsync.relay")

#: The broker's client id in the origin's publisher.
BROKER_CLIENT = "flatsync.relay:broker"


def snapshot_record(publisher: Publisher) -> bytes:
    """The record of a snapshot of ``publisher``'s root now: session, snapshot header, payload."""
    tree = publisher.root.snapshot()
    table = b""
    if has_records():
        entries = []
        for rid in record_ids(tree):
            schema = schema_of(rid)
            if schema is not None:
                entries.append((rid, schema[0], schema[1]))
        if entries:
            table = schema_table(entries)
    session = publisher.session
    return session + snapshot_header(publisher.frame, session, table) + publisher.codec.encode(tree)


class Origin:
    """The authority of one world: a :class:`~flatsync.Publisher` that publishes into a broker.

    Mutate :attr:`root` and call :meth:`tick` (or let :meth:`run` do both at
    ``tick_rate``), between :meth:`start` and :meth:`close`.

    Args:
        state: The world's state (the origin owns it from now on).
        broker: Where frames go (connected by the caller).
        world: The world's name in the broker (letters, digits, ``_``, ``-``).
        codec: The session's codec (the gateways and the clients use the same).
        history: The publisher's ring.
        snapshot_every: K: a snapshot is stored every K frames (and at start).
        max_queue: Records that may wait for the broker before the origin
            stops draining the broker client (its frames then merge).
        on_input: ``on_input(client, message)`` for each input that a
            gateway forwards (``client`` is the client's id on its gateway,
            unique across the gateways of a world).
        on_tick: ``on_tick()``, called by :meth:`run` before each tick.
        tick_rate: Ticks per second of :meth:`run`.
        session: The publisher's session (random by default).
    """

    def __init__(
        self,
        state: DataHandler,
        broker: Broker,
        *,
        world: str = "world",
        codec: Codec | None = None,
        history: int = 64,
        snapshot_every: int = 32,
        max_queue: int = 64,
        on_input: Callable[[int, Any], Any] | None = None,
        on_tick: Callable[[], Any] | None = None,
        tick_rate: float = 10.0,
        session: bytes | None = None,
    ) -> None:
        if snapshot_every < 1:
            raise ValueError(f"snapshot_every must be at least 1, not {snapshot_every}")
        self.publisher = Publisher(state, codec=codec, history=history, session=session)
        self.publisher.adopt(BROKER_CLIENT, held=0)  # frame 0 is the stored snapshot
        self.broker = broker
        self.world = world
        self.snapshot_every = snapshot_every
        self.max_queue = max_queue
        self.on_input = on_input
        self.on_tick = on_tick
        self.tick_rate = tick_rate
        #: Ticks at which the queue was full (the broker client's frames merged).
        self.stalls = 0
        #: Broker calls that failed (each was tried again).
        self.failures = 0
        self._queue: deque[tuple[Kind, int, bytes]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_snapshot = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @classmethod
    async def restore(cls, broker: Broker, *, world: str = "world", **options: Any) -> Origin:
        """An origin whose state is the snapshot stored for ``world`` (a restart after a crash).

        It has a new session: the gateways start their clients afresh on it.

        Raises:
            LookupError: no snapshot is stored for ``world``.
            BrokerError: the broker cannot be reached.
        """
        record = await broker.load(world)
        if record is None:
            raise LookupError(f"no snapshot is stored for world {world!r}")
        packet = record[8:]
        header = parse(packet)
        codec = options.get("codec")
        if codec is None:
            codec = CborCodec()
        tree = codec.decode(memoryview(packet)[header.size :])
        root = build_value(tree, False)
        if not isinstance(root, DataHandler):
            raise FlatsyncError(f"the stored snapshot of {world!r} is not a mapping")
        return cls(root, broker, world=world, **options)

    @property
    def root(self) -> DataHandler:
        """The state, to mutate between ticks."""
        return self.publisher.root

    @property
    def session(self) -> bytes:
        """The publisher's session, which the gateways' welcomes carry."""
        return self.publisher.session

    @property
    def frame(self) -> int:
        """The latest frame."""
        return self.publisher.frame

    async def start(self) -> None:
        """Store the first snapshot, start the task that writes to the broker and the input reader.

        Raises:
            BrokerError: the broker cannot be reached.
        """
        await self.broker.store(self.world, snapshot_record(self.publisher))
        inputs = Feed()
        await self.broker.subscribe_inputs(self.world, inputs)
        self._tasks.append(asyncio.create_task(self._pump(), name="flatsync-relay-origin-pump"))
        self._tasks.append(
            asyncio.create_task(self._read_inputs(inputs), name="flatsync-relay-origin-inputs")
        )

    async def close(self) -> None:
        """Stop writing to the broker (what waits in the queue is dropped)."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()

    async def __aenter__(self) -> Origin:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- ticking --

    def tick(self) -> int:
        """Commit the next frame and queue it (and, every K frames, a snapshot) for the broker."""
        publisher = self.publisher
        frame = publisher.tick()
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.stalls += 1  # the broker client is not drained: its frames merge
            return frame
        session = publisher.session
        for packet in publisher.packets_for(BROKER_CLIENT):
            header = parse(packet)
            if header.kind is Kind.DELTA and header.base == frame - 1:
                queue.append((Kind.DELTA, frame, session + packet))
            else:  # after a stall: the gateways re-seed from a snapshot of this frame
                self._snapshot()
        if frame - self._last_snapshot >= self.snapshot_every:
            self._snapshot()
        self._idle.clear()
        self._wake.set()
        return frame

    def _snapshot(self) -> None:
        publisher = self.publisher
        if self._last_snapshot == publisher.frame:
            return
        self._queue.append((Kind.SNAPSHOT, publisher.frame, snapshot_record(publisher)))
        self._last_snapshot = publisher.frame

    async def run(self, *, ticks: int | None = None) -> None:
        """Tick at ``tick_rate`` until :meth:`stop` (or ``ticks`` ticks): ``on_tick()``, then :meth:`tick`."""
        self._stopping = False
        await tick_at(self.tick_rate, self._step, lambda: self._stopping, ticks)

    def _step(self) -> None:
        if self.on_tick is not None:
            self.on_tick()
        self.tick()

    def stop(self) -> None:
        """Make :meth:`run` return after the current tick."""
        self._stopping = True

    async def flushed(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is in the broker.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    # -- the broker's side --

    async def _pump(self) -> None:
        queue = self._queue
        broker = self.broker
        delay = 0.05
        while True:
            if not queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            kind, frame, record = queue[0]
            try:
                if kind is Kind.DELTA:
                    await broker.publish(self.world, frame, record)
                else:
                    await broker.store(self.world, record)
            except BrokerError as error:
                self.failures += 1
                log.info("the broker failed (%s); trying again in %g s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05
            queue.popleft()

    async def _read_inputs(self, feed: Feed) -> None:
        codec = self.publisher.codec
        while True:
            record = await feed.get()
            if record is None:
                return
            try:
                decoded = codec.decode(record)
            except FlatsyncError:
                decoded = None
            if type(decoded) is not list or len(decoded) != 2 or type(decoded[0]) is not int:
                log.warning("dropped a malformed input record (%d bytes)", len(record))
                continue
            if self.on_input is not None:
                self.on_input(decoded[0], decoded[1])

    def __repr__(self) -> str:
        return (
            f"<Origin world={self.world!r} session={self.session.hex()[:8]} frame={self.frame} "
            f"queue={len(self._queue)}>"
        )
