"""The gateway: a :class:`flatsync.net.Server` whose publisher is fed from the broker.

A gateway holds a :class:`~flatsync.relay.FedPublisher`: seeded from the
world's stored snapshot, then fed the frames it takes live from the broker,
it serves its own clients in the origin's frame numbers and with the origin's
session. Frames go in strictly in order: a frame that does not follow the one
held (a gap: the gateway was paused, the broker restarted, a live message was
lost) makes the gateway read the world's stream for the frames it misses, and,
when they have left it, re-seed from the stored snapshot, as a client
refreshes. A snapshot of another session means the origin restarted: the
clients are let go, reconnect, and start afresh on the new session.

Clients move between the gateways of one origin: a client's id is drawn at
random over a wide range, and its resume key is derived from a secret that the
gateways share, so any of them can check a resuming client and take it on from
the frame its replica holds (a delta when that frame is still in its ring).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from typing import Any

from .._codecs._codec import Codec
from .._session._fed import FedPublisher
from .._session._frames import SESSION_SIZE, Header, Kind, parse
from .._session._records import Schema, merge_schemas, schemas_in_use
from .._tree._errors import FlatsyncError
from ..net._links import Link
from ..net._messages import ID_SIZE, Hello
from ..net._server import Peer, Refused, Server, _Conn
from ._broker import Broker, BrokerError, Feed

__all__ = ["Gateway"]

log = logging.getLogger("flatsync.relay")


class Gateway(Server):
    """A :class:`flatsync.net.Server` that serves an origin's world, fed from a broker.

    Use it as the server: :meth:`start` (which first seeds from the broker),
    then :meth:`close`. It does not tick: frames come from the origin.

    Args:
        broker: The broker (connected by the caller).
        world: The world's name in the broker.
        secret: Bytes that every gateway of the world shares: a client's
            resume key is derived from it, so that a client may resume on any
            of them. Keep it secret.
        codec: The origin's codec.
        history: The fed publisher's ring: a client that moves here resumes
            with a delta when the frame it holds is among the last ``history``.
        max_feed: Live records that may wait to be fed (past it the oldest
            are dropped, and the gateway catches up from the stream).
        resume_wait: Seconds a client that moves here from another gateway
            may wait for this one to be fed the frame it holds: the gateways
            of a world take the frames at their own pace, so a client of a
            quicker one arrives a few frames ahead. Within that time it
            continues with a delta; past it, it gets a snapshot.
        options: The other :class:`flatsync.net.Server` arguments (``name``,
            ``on_join``, ``on_leave``, ``max_in_flight``, ...). Messages
            from clients (``on_message``) go to the origin as inputs.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        world: str = "world",
        secret: bytes,
        codec: Codec | None = None,
        history: int = 64,
        max_feed: int = 1024,
        resume_wait: float = 1.0,
        **options: Any,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the gateways' secret must be at least 16 bytes")
        if "on_message" in options:
            raise TypeError("a gateway forwards its clients' messages to the origin")
        unseeded = FedPublisher({}, frame=0, session=bytes(SESSION_SIZE), codec=codec)
        super().__init__(unseeded, history=history, on_message=self._forward, **options)
        self.broker = broker
        self.world = world
        self._secret = secret
        self._codec_option = codec
        self._history = history
        self.resume_wait = resume_wait
        self._progress = asyncio.Event()  # set whenever frames were fed
        self._schemas: dict[int, Schema] = {}
        self._feed = Feed(max_feed)
        self._inputs = Feed(max_feed)
        self._relay_tasks: list[asyncio.Task[None]] = []
        self._next_id = secrets.randbits(40) << 12
        #: Frames fed, re-seeds from a snapshot, catch-ups from the stream, and
        #: origin restarts (new sessions) seen.
        self.fed_frames = 0
        self.reseeds = 0
        self.catch_ups = 0
        self.restarts = 0

    @property
    def fed(self) -> FedPublisher:
        """The fed publisher (replaced when the origin restarts)."""
        publisher = self.publisher
        assert isinstance(publisher, FedPublisher)
        return publisher

    async def start(
        self,
        *,
        tcp: tuple[str, int] | None = None,
        websocket: tuple[str, int] | None = None,
        seed_timeout: float = 10.0,
    ) -> None:
        """Seed from the world's stored snapshot and its stream, then follow it and listen.

        Raises:
            TimeoutError: no snapshot was stored within ``seed_timeout`` seconds.
            BrokerError: the broker cannot be reached.
            OSError: an address could not be bound.
        """
        await self.broker.subscribe(self.world, self._feed)  # first: nothing is missed
        async with asyncio.timeout(seed_timeout):
            while not await self._seed():
                await asyncio.sleep(0.05)
        await self._catch_up()
        self._relay_tasks.append(asyncio.create_task(self._follow(), name="flatsync-relay-follow"))
        self._relay_tasks.append(asyncio.create_task(self._send_inputs(), name="flatsync-relay-in"))
        await super().start(tcp=tcp, websocket=websocket)

    async def close(self, reason: str = "the server is shutting down") -> None:
        for task in self._relay_tasks:
            task.cancel()
        for task in self._relay_tasks:
            with contextlib.suppress(BaseException):
                await task
        self._relay_tasks.clear()
        await super().close(reason)

    def tick(self) -> int:
        """A gateway does not tick (its frames come from the origin).

        Raises:
            TypeError: always.
        """
        raise TypeError("a Gateway is fed by its origin: it does not tick")

    # -- the origin's frames --

    async def _follow(self) -> None:
        feed = self._feed
        while True:
            record = await feed.get()
            if record is None:
                return
            try:
                await self._take(record)
            except BrokerError as error:
                log.info("gateway %s: the broker failed (%s)", self.name, error)
                await asyncio.sleep(0.1)
            except FlatsyncError as error:
                log.warning("gateway %s: a record it cannot use (%s); re-seeding", self.name, error)
                with contextlib.suppress(BrokerError, FlatsyncError):
                    await self._seed()

    async def _take(self, record: bytes) -> None:
        session = record[:SESSION_SIZE]
        packet = record[SESSION_SIZE:]
        if session != self.session:
            await self._seed()
            if session != self.session:
                return
        header = parse(packet)
        if header.kind is not Kind.DELTA:
            return
        fed = self.fed
        if header.frame <= fed.frame:
            return  # a duplicate
        if header.base == fed.frame and header.frame == fed.frame + 1:
            self._feed_one(header, packet)
            self._wake_writers()
            return
        await self._catch_up()

    def _feed_one(self, header: Header, packet: bytes) -> None:
        if header.schemas:
            self._schemas = merge_schemas(
                self._schemas, ((rid, (name, fields)) for rid, name, fields in header.schemas)
            )
        payload = packet[header.size :]
        fed = self.fed
        delta = fed.codec.decode(payload)
        with schemas_in_use(self._schemas):
            fed.feed(header.frame, delta, payload=payload)
        self.fed_frames += 1

    async def _catch_up(self) -> None:
        """Feed the frames after the one held from the stream; re-seed when they have left it."""
        self.catch_ups += 1
        for _ in range(3):
            fed = self.fed
            missing: list[tuple[Header, bytes]] = []
            async for record in self.broker.history_of(self.world):
                if record[:SESSION_SIZE] != self.session:
                    break
                packet = record[SESSION_SIZE:]
                header = parse(packet)
                if header.kind is not Kind.DELTA:
                    continue
                if header.frame <= fed.frame:
                    break
                missing.append((header, packet))
            missing.reverse()
            if not missing:
                return
            if missing[0][0].base == fed.frame:
                for header, packet in missing:
                    if header.frame == self.fed.frame + 1 and header.base == self.fed.frame:
                        self._feed_one(header, packet)
                self._wake_writers()
                return
            if not await self._seed():
                return

    async def _seed(self) -> bool:
        """Load the stored snapshot; re-seed (or start afresh on a new session) when it is newer.

        Returns whether a snapshot was there.
        """
        record = await self.broker.load(self.world)
        if record is None:
            return False
        session = record[:SESSION_SIZE]
        packet = record[SESSION_SIZE:]
        header = parse(packet)
        if header.kind is not Kind.SNAPSHOT or header.session != session:
            raise FlatsyncError(f"the stored snapshot of world {self.world!r} is not a snapshot")
        schemas = merge_schemas(
            {} if session != self.session else self._schemas,
            ((rid, (name, fields)) for rid, name, fields in header.schemas),
        )
        tree = self.fed.codec.decode(memoryview(packet)[header.size :])
        if session != self.session:
            self._restart(session, header.frame, tree, schemas)
        elif header.frame > self.fed.frame:
            with schemas_in_use(schemas):
                self.fed.reseed(header.frame, tree)
            self._schemas = schemas
            self.reseeds += 1
            self._wake_writers()
        return True

    def _restart(
        self, session: bytes, frame: int, tree: dict[Any, Any], schemas: dict[int, Schema]
    ) -> None:
        """The origin (re)started: a fed publisher of its session; the clients start afresh."""
        for conn in list(self._conns.values()):
            # No goodbye: the client reconnects, and joins afresh on the new session.
            self._leave(conn, "the origin restarted", goodbye=False)
        with schemas_in_use(schemas):
            fed = FedPublisher(
                tree, frame=frame, session=session, codec=self._codec_option, history=self._history
            )
        if self.session != bytes(SESSION_SIZE):
            self.restarts += 1
        self.publisher = fed
        self.session = session
        self._schemas = schemas

    def _wake_writers(self) -> None:
        self._progress.set()
        for conn in self._conns.values():
            if conn.link is not None:
                conn.wake.set()

    # -- clients that move between gateways --

    def _new_key(self, client: int) -> bytes:
        message = self.session + client.to_bytes(8, "big")
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:ID_SIZE]

    async def _before_resume(self, hello: Hello) -> None:
        """A client of another gateway that holds a frame this one has not been fed yet: wait for it.

        Only for a client whose key checks (a stranger makes nothing wait), and
        at most :attr:`resume_wait` seconds; then the hello is taken as it is.
        """
        resume = hello.resume
        if (
            resume is None
            or resume.frame is None
            or resume.session != self.session
            or resume.frame <= self.fed.frame
            or resume.client in self._conns
            or resume.client >= 1 << 64
            or not hmac.compare_digest(self._new_key(resume.client), resume.key)
        ):
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.resume_wait):
                while self.fed.frame < resume.frame and resume.session == self.session:
                    self._progress.clear()
                    await self._progress.wait()

    def _adopt(self, hello: Hello, link: Link) -> _Conn | None:
        resume = hello.resume
        assert resume is not None
        cid = resume.client
        if cid >= 1 << 64 or not hmac.compare_digest(self._new_key(cid), resume.key):
            return None
        if len(self._conns) >= self.max_clients:
            return None  # joining afresh says why
        peer = Peer(
            id=cid, name=hello.name, token=hello.token, address=link.peer, transport=link.transport
        )
        conn = _Conn(peer, resume.key)
        conn.link = link
        self._conns[cid] = conn
        try:
            view = self.on_join(peer) if self.on_join is not None else None
            self.fed.adopt(cid, view, held=resume.frame)
        except Refused:
            del self._conns[cid]
            return None  # joining afresh asks on_join again, and says why
        except BaseException:
            del self._conns[cid]
            raise
        return conn

    # -- inputs, to the origin --

    def _forward(self, peer: Peer, message: Any) -> None:
        # A list, not a tuple: a tuple holds only scalars, and a message may be a mapping.
        try:
            record = self.fed.codec.encode([peer.id, message])
        except FlatsyncError as error:  # over the codec's limits with the id: dropped
            log.warning("gateway %s: dropped an input of client %d (%s)", self.name, peer.id, error)
            return
        self._inputs.put(record)

    async def _send_inputs(self) -> None:
        while True:
            record = await self._inputs.get()
            if record is None:
                return
            try:
                await self.broker.send_input(self.world, record)
            except BrokerError as error:
                log.info("gateway %s: an input was lost (%s)", self.name, error)

    def __repr__(self) -> str:
        return (
            f"<Gateway {self.name!r} world={self.world!r} session={self.session.hex()[:8]} "
            f"frame={self.fed.frame} clients={len(self._conns)}>"
        )
