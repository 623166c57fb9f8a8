"""What the relay asks of a broker: a bounded stream of frames per world, a snapshot, live delivery.

A broker moves opaque *records* (bytes). The origin's records are its session
identity (8 bytes) followed by one session packet: a delta packet per frame in
the world's stream, a snapshot packet under the world's key. Input records go
the other way, from the gateways to the origin. The backends
(:class:`~flatsync.relay.NatsBroker`, :class:`~flatsync.relay.RedisBroker`)
differ only in how they keep and deliver them.
"""

from __future__ import annotations

import abc
import asyncio
from collections import deque
from collections.abc import AsyncIterator

__all__ = ["Broker", "BrokerError", "Feed"]


class BrokerError(ConnectionError):
    """The broker could not be reached, or refused a request (the call may be tried again)."""


class Feed:
    """Records delivered live, waiting to be read: a bounded queue that drops its oldest.

    A reader that falls more than ``limit`` records behind loses the oldest
    ones: the relay sees a gap in the frame numbers and catches up from the
    world's stream (or its snapshot), so a slow reader never grows memory.
    """

    def __init__(self, limit: int = 1024) -> None:
        self._items: deque[bytes] = deque(maxlen=limit)
        self._ready = asyncio.Event()
        self._closed = False
        #: How many records were dropped because the reader fell behind.
        self.dropped = 0

    def put(self, record: bytes) -> None:
        """Deliver a record (the oldest waiting one is dropped when the queue is full)."""
        items = self._items
        if len(items) == items.maxlen:
            self.dropped += 1
        items.append(record)
        self._ready.set()

    def close(self) -> None:
        """End the feed: a reader waiting in :meth:`get` gets ``None``."""
        self._closed = True
        self._ready.set()

    async def get(self) -> bytes | None:
        """The next record, waiting for one; ``None`` once the feed is closed."""
        while not self._items:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)


class Broker(abc.ABC):
    """A broker backend: per world, a stream bounded to ``history`` records, a snapshot, inputs.

    Every method may raise :exc:`BrokerError` when the broker cannot be
    reached; a backend reconnects by itself, and a later call may succeed.

    Args:
        history: H, the records a world's stream keeps (older ones are dropped).
        prefix: Names of streams, keys and subjects start with it.
    """

    def __init__(self, *, history: int = 256, prefix: str = "flatsync") -> None:
        if history < 1:
            raise ValueError(f"history must be at least 1, not {history}")
        self.history = history
        self.prefix = prefix

    @abc.abstractmethod
    async def connect(self) -> None:
        """Connect to the broker server.

        Raises:
            BrokerError: it cannot be reached.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect; every feed it made ends."""

    @abc.abstractmethod
    async def publish(self, world: str, frame: int, record: bytes) -> None:
        """Append ``record`` (frame ``frame`` of ``world``) to its stream and deliver it live."""

    @abc.abstractmethod
    async def store(self, world: str, record: bytes) -> None:
        """Keep ``record`` as ``world``'s snapshot (replacing the one before)."""

    @abc.abstractmethod
    async def load(self, world: str) -> bytes | None:
        """``world``'s snapshot record, or ``None`` when none was stored."""

    @abc.abstractmethod
    def history_of(self, world: str) -> AsyncIterator[bytes]:
        """The records in ``world``'s stream, newest first (stop reading when you have enough)."""

    @abc.abstractmethod
    async def subscribe(self, world: str, feed: Feed) -> None:
        """Deliver ``world``'s records into ``feed`` as they are published, from now on."""

    @abc.abstractmethod
    async def send_input(self, world: str, record: bytes) -> None:
        """Send an input record to ``world``'s origin (best effort, like a live frame)."""

    @abc.abstractmethod
    async def subscribe_inputs(self, world: str, feed: Feed) -> None:
        """Deliver the input records sent to ``world`` into ``feed``, from now on."""

    async def __aenter__(self) -> Broker:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
