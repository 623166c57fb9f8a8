"""An in-process broker: the relay without a broker server, for tests, examples and one machine."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

from ._broker import Broker, Feed

__all__ = ["MemoryBroker"]


class MemoryBroker(Broker):
    """A :class:`~flatsync.relay.Broker` that lives in this process (an origin and gateways in one asyncio loop).

    It keeps what a real backend keeps (a stream of the newest ``history``
    frames per world, a snapshot per world) and delivers live records and
    inputs at once. Nothing survives the process.
    """

    def __init__(self, *, history: int = 256, prefix: str = "flatsync") -> None:
        super().__init__(history=history, prefix=prefix)
        self._streams: dict[str, deque[bytes]] = {}
        self._snapshots: dict[str, bytes] = {}
        self._live: dict[str, list[Feed]] = {}
        self._inputs: dict[str, list[Feed]] = {}

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        for feeds in (*self._live.values(), *self._inputs.values()):
            for feed in feeds:
                feed.close()
        self._live.clear()
        self._inputs.clear()

    async def publish(self, world: str, frame: int, record: bytes) -> None:
        stream = self._streams.get(world)
        if stream is None:
            stream = self._streams[world] = deque(maxlen=self.history)
        stream.append(record)
        for feed in self._live.get(world, ()):
            feed.put(record)

    async def store(self, world: str, record: bytes) -> None:
        self._snapshots[world] = record

    async def load(self, world: str) -> bytes | None:
        return self._snapshots.get(world)

    async def history_of(self, world: str) -> AsyncIterator[bytes]:
        for record in reversed(list(self._streams.get(world, ()))):
            yield record

    async def subscribe(self, world: str, feed: Feed) -> None:
        self._live.setdefault(world, []).append(feed)

    async def send_input(self, world: str, record: bytes) -> None:
        for feed in self._inputs.get(world, ()):
            feed.put(record)

    async def subscribe_inputs(self, world: str, feed: Feed) -> None:
        self._inputs.setdefault(world, []).append(feed)

    def __repr__(self) -> str:
        return f"<MemoryBroker worlds={len(self._streams)} history={self.history}>"
