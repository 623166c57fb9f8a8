"""The Redis backend: pub/sub for live frames, a capped Stream for replay, a key for the snapshot.

Each frame goes, in one pipelined transaction, into the Stream
``<prefix>:<world>:frames`` (``XADD ... MAXLEN H``: the newest H stay) and to
the pub/sub channel of the same name, from which gateways take it live; they
read the Stream (newest first, ``XREVRANGE``) only to catch up after a gap.
The snapshot is the string key ``<prefix>:<world>:snapshot``; inputs travel
on the channel ``<prefix>:<world>:input`` (best effort, as pub/sub is).
A subscription whose connection breaks is made again until the broker is back
(what was published meanwhile is a gap that the stream fills).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ._broker import Broker, BrokerError, Feed

__all__ = ["RedisBroker"]


class RedisBroker(Broker):
    """A :class:`~flatsync.relay.Broker` on Redis (``pip install flatsync[relay]``).

    Args:
        url: The Redis server, ``redis://host:port/db``.
        history: H, the frames each world's Stream keeps.
        prefix: The start of every key and channel name.
        timeout: Seconds a command may take.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        history: int = 256,
        prefix: str = "flatsync",
        timeout: float = 2.0,
    ) -> None:
        super().__init__(history=history, prefix=prefix)
        self.url = url
        self.timeout = timeout
        self._redis: Any = None
        self._tasks: list[tuple[asyncio.Task[None], Feed]] = []

    async def connect(self) -> None:
        import redis.asyncio  # noqa: PLC0415 - redis is optional (flatsync[relay])

        self._redis = redis.asyncio.Redis.from_url(
            self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        await self._call("connecting", self._redis.ping())

    async def close(self) -> None:
        for task, feed in self._tasks:
            task.cancel()
            feed.close()
        for task, _ in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        if self._redis is not None:
            client, self._redis = self._redis, None
            with contextlib.suppress(Exception):
                await client.aclose()

    def _key(self, world: str, kind: str) -> str:
        return f"{self.prefix}:{world}:{kind}"

    async def _call(self, what: str, awaitable: Any) -> Any:
        import redis  # noqa: PLC0415 - redis is optional (flatsync[relay])

        try:
            return await awaitable
        except (TimeoutError, redis.RedisError, OSError) as error:
            raise BrokerError(f"Redis {what}: {error!r}") from error

    # -- frames and snapshots --

    async def publish(self, world: str, frame: int, record: bytes) -> None:
        if self._redis is None:
            raise BrokerError("not connected (call connect())")
        key = self._key(world, "frames")
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(key, {"r": record}, maxlen=self.history, approximate=False)
        pipe.publish(key, record)
        await self._call(f"publishing frame {frame}", pipe.execute())

    async def store(self, world: str, record: bytes) -> None:
        if self._redis is None:
            raise BrokerError("not connected (call connect())")
        await self._call(
            "storing a snapshot", self._redis.set(self._key(world, "snapshot"), record)
        )

    async def load(self, world: str) -> bytes | None:
        if self._redis is None:
            raise BrokerError("not connected (call connect())")
        value = await self._call(
            "loading a snapshot", self._redis.get(self._key(world, "snapshot"))
        )
        return None if value is None else bytes(value)

    async def history_of(self, world: str) -> AsyncIterator[bytes]:
        if self._redis is None:
            raise BrokerError("not connected (call connect())")
        key = self._key(world, "frames")
        top = "+"
        batch = 32
        while True:
            entries = await self._call(
                "reading a stream", self._redis.xrevrange(key, max=top, min="-", count=batch)
            )
            if not entries:
                return
            for entry_id, fields in entries:
                if entry_id == top:
                    continue
                yield bytes(fields[b"r"])
            last = entries[-1][0]
            if len(entries) < batch or last == top:
                return
            top = last

    async def _listen(self, channel: str, feed: Feed, ready: asyncio.Future[None]) -> None:
        import redis  # noqa: PLC0415 - redis is optional (flatsync[relay])

        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                if not ready.done():
                    ready.set_result(None)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "message":
                        feed.put(bytes(message["data"]))
            except (TimeoutError, redis.RedisError, OSError) as error:
                if not ready.done():
                    ready.set_exception(BrokerError(f"Redis subscribing to {channel}: {error!r}"))
                    return
                await asyncio.sleep(0.1)  # the broker is away: subscribe again
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def _subscribe(self, channel: str, feed: Feed) -> None:
        if self._redis is None:
            raise BrokerError("not connected (call connect())")
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._listen(channel, feed, ready), name=f"redis-{channel}")
        self._tasks.append((task, feed))
        await ready

    async def subscribe(self, world: str, feed: Feed) -> None:
        await self._subscribe(self._key(world, "frames"), feed)

    # -- inputs --

    async def send_input(self, world: str, record: bytes) -> None:
        if self._redis is None:
            raise BrokerError("not connected (call connect())")
        await self._call("sending an input", self._redis.publish(self._key(world, "input"), record))

    async def subscribe_inputs(self, world: str, feed: Feed) -> None:
        await self._subscribe(self._key(world, "input"), feed)

    def __repr__(self) -> str:
        return f"<RedisBroker {self.url} history={self.history}>"
