"""The NATS JetStream backend: one stream per world bounded to H messages, a KV bucket of snapshots.

Frames are published to the subject ``<prefix>.<world>.frames`` through
JetStream, which keeps the newest H of them in the world's stream (named
``<prefix>_<world>``) and acknowledges each. Gateways take them live through a
plain (core NATS) subscription on the same subject, the lowest latency NATS
has, and read the stream only to catch up after a gap. Each frame carries a
``Nats-Msg-Id`` (session and frame number), so that a publish retried after a
lost acknowledgement is stored once. Snapshots live in the KV bucket
``<prefix>_snapshots`` under the world's name; inputs travel on
``<prefix>.<world>.input`` (core NATS, best effort).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from ._broker import Broker, BrokerError, Feed

__all__ = ["NatsBroker"]

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"a {kind} name is letters, digits, '_' and '-', not {name!r}")
    return name


async def _within(seconds: float, connecting: Coroutine[Any, Any, Any]) -> Any:
    """The client ``connecting`` gives, or :exc:`TimeoutError` after ``seconds``.

    A plain ``asyncio.timeout`` is not enough here: it cancels once, and nats-py's
    first-connection loop retries after an ``asyncio.wait_for`` that, on Python
    3.11, can turn that cancellation into the connection error it raced with, so
    the loop runs on for ever. This cancels until the attempt has ended, and closes
    a connection that was made in the meantime.
    """
    task = asyncio.ensure_future(connecting)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if done:
            return task.result()
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.05)
    except BaseException:
        task.cancel()  # this call was cancelled: so is the attempt
        raise
    if not task.cancelled() and task.exception() is None:
        with contextlib.suppress(Exception):
            await task.result().close()
    raise TimeoutError(f"no connection within {seconds} s")


class NatsBroker(Broker):
    """A :class:`~flatsync.relay.Broker` on NATS JetStream (``pip install flatsync[relay]``).

    Args:
        url: The NATS server, ``nats://host:port``.
        history: H, the frames each world's stream keeps.
        prefix: The start of every stream, bucket and subject name.
        timeout: Seconds a request (a publish's acknowledgement, a read) may take.
    """

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        history: int = 256,
        prefix: str = "flatsync",
        timeout: float = 2.0,
    ) -> None:
        super().__init__(history=history, prefix=_check_name("prefix", prefix))
        self.url = url
        self.timeout = timeout
        self._nc: Any = None
        self._js: Any = None
        self._kv: Any = None
        self._streams: set[str] = set()
        self._subs: list[tuple[Any, Feed]] = []

    async def connect(self) -> None:
        import nats  # noqa: PLC0415 - nats-py is optional (flatsync[relay])

        async def quiet(error: Exception) -> None:
            return None  # reconnection is the client's job; a failed call raises BrokerError

        try:
            # Reconnections never end (max_reconnect_attempts=-1), which nats-py also
            # applies to the first connection: that one is bounded here.
            self._nc = await _within(
                self.timeout,
                nats.connect(
                    self.url,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.1,
                    connect_timeout=max(1, int(self.timeout)),
                    error_cb=quiet,
                ),
            )
        except (TimeoutError, nats.errors.Error, OSError) as error:
            raise BrokerError(f"NATS at {self.url}: {error!r}") from error
        self._js = self._nc.jetstream(timeout=self.timeout)

    async def close(self) -> None:
        for _, feed in self._subs:
            feed.close()
        self._subs.clear()
        if self._nc is not None:
            nc, self._nc = self._nc, None
            with contextlib.suppress(Exception):  # closing a connection that failed already
                await nc.close()

    # -- names --

    def _stream(self, world: str) -> str:
        return f"{self.prefix}_{_check_name('world', world)}"

    def _subject(self, world: str, kind: str) -> str:
        return f"{self.prefix}.{_check_name('world', world)}.{kind}"

    async def _call(self, what: str, awaitable: Any) -> Any:
        import nats  # noqa: PLC0415 - nats-py is optional (flatsync[relay])

        if self._nc is None:
            raise BrokerError("not connected (call connect())")
        try:
            return await awaitable
        except (TimeoutError, nats.errors.Error, OSError) as error:
            raise BrokerError(f"NATS {what}: {error!r}") from error

    async def _ensure_stream(self, world: str) -> str:
        stream = self._stream(world)
        if stream not in self._streams:
            await self._call(
                f"creating the stream {stream}",
                self._js.add_stream(
                    name=stream,
                    subjects=[self._subject(world, "frames")],
                    max_msgs=self.history,
                ),
            )
            self._streams.add(stream)
        return stream

    async def _bucket(self) -> Any:
        if self._kv is None:
            self._kv = await self._call(
                "creating the snapshot bucket",
                self._js.create_key_value(bucket=f"{self.prefix}_snapshots"),
            )
        return self._kv

    # -- frames and snapshots --

    async def publish(self, world: str, frame: int, record: bytes) -> None:
        await self._ensure_stream(world)
        msg_id = f"{record[:8].hex()}-{frame}"
        try:
            await self._call(
                f"publishing frame {frame}",
                self._js.publish(
                    self._subject(world, "frames"), record, headers={"Nats-Msg-Id": msg_id}
                ),
            )
        except BrokerError:
            self._streams.discard(self._stream(world))  # a restarted server may have lost it
            raise

    async def store(self, world: str, record: bytes) -> None:
        kv = await self._bucket()
        await self._call("storing a snapshot", kv.put(_check_name("world", world), record))

    async def load(self, world: str) -> bytes | None:
        import nats.js.errors  # noqa: PLC0415 - nats-py is optional (flatsync[relay])

        kv = await self._bucket()
        try:
            entry = await self._call("loading a snapshot", kv.get(_check_name("world", world)))
        except BrokerError as error:
            if isinstance(error.__cause__, nats.js.errors.NotFoundError):
                return None
            raise
        value = entry.value
        return None if value is None else bytes(value)

    async def history_of(self, world: str) -> AsyncIterator[bytes]:
        import nats.js.errors  # noqa: PLC0415 - nats-py is optional (flatsync[relay])

        stream = self._stream(world)
        try:
            info = await self._call("reading a stream", self._js.stream_info(stream))
        except BrokerError as error:
            if isinstance(error.__cause__, nats.js.errors.NotFoundError):
                return
            raise
        first, last = info.state.first_seq, info.state.last_seq
        for seq in range(last, first - 1, -1):
            try:
                msg = await self._call("reading a stream", self._js.get_msg(stream, seq))
            except BrokerError as error:
                if isinstance(error.__cause__, nats.js.errors.NotFoundError):
                    continue  # dropped meanwhile
                raise
            if msg.data is not None:
                yield bytes(msg.data)

    async def _subscribe(self, subject: str, feed: Feed) -> None:
        async def deliver(msg: Any) -> None:
            feed.put(bytes(msg.data))

        sub = await self._call(f"subscribing to {subject}", self._nc.subscribe(subject, cb=deliver))
        self._subs.append((sub, feed))

    async def subscribe(self, world: str, feed: Feed) -> None:
        await self._subscribe(self._subject(world, "frames"), feed)

    # -- inputs --

    async def send_input(self, world: str, record: bytes) -> None:
        await self._call(
            "sending an input", self._nc.publish(self._subject(world, "input"), record)
        )

    async def subscribe_inputs(self, world: str, feed: Feed) -> None:
        await self._subscribe(self._subject(world, "input"), feed)

    def __repr__(self) -> str:
        return f"<NatsBroker {self.url} history={self.history}>"
