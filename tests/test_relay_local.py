"""flatsync.relay.local: broker servers, gateway processes and forwarders on 127.0.0.1.

The relay's end-to-end tests (``test_relay.py``) use them throughout; these
tests pin down what those do not reach: the errors (a missing program, a
server that exits before it listens, a port nobody opens, misuse), a
restart on the same port, and the forwarder's stall, cut and redirection.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flatsync.relay import NatsBroker, RedisBroker
from flatsync.relay.local import (
    BrokerServer,
    Forwarder,
    GatewayProcess,
    ProcessFailed,
    ProgramMissing,
    find_program,
    free_port,
    wait_for_port,
)


def run(main: Any) -> Any:
    return asyncio.run(asyncio.wait_for(main(), 60))


def test_a_missing_program_says_how_to_install_it() -> None:
    with pytest.raises(ProgramMissing, match=r"not on PATH\): install no-such-server-flatsync"):
        find_program("no-such-server-flatsync")
    assert isinstance(ProgramMissing("x"), FileNotFoundError)
    assert find_program("nats-server").endswith("nats-server")
    with pytest.raises(ValueError, match='"nats" or "redis"'):
        BrokerServer("kafka")


def test_waiting_for_a_port_is_bounded() -> None:
    port = free_port()
    with pytest.raises(TimeoutError, match=f"127.0.0.1:{port}"):
        wait_for_port(port, timeout=0.1)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait(10)
    with pytest.raises(ProcessFailed, match="exited"):
        wait_for_port(port, timeout=10, process=ended)


@pytest.mark.parametrize("kind", ["nats", "redis"])
def test_a_broker_server_restarts_on_its_port_and_fails_clearly(kind: str, tmp_path: Path) -> None:
    with BrokerServer(kind, tmp_path / "data") as server:
        assert server.running
        assert f"127.0.0.1:{server.port}" in server.url
        assert "running" in repr(server)
        broker = server.broker(history=4)
        assert isinstance(broker, NatsBroker if kind == "nats" else RedisBroker)
        assert broker.history == 4
        server.stop()
        assert not server.running
        assert "stopped" in repr(server)
        server.start()
        server.start()  # running already: nothing happens
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass
        # A server that exits before it listens: its log says why.
        failing = BrokerServer(kind, tmp_path / "second")
        failing.args[0] = sys.executable  # a program that exits at once, with output
        failing.args[1:] = ["-c", "print('bad configuration')"]
        with pytest.raises(ProcessFailed, match="bad configuration"):
            failing.start()
        assert not failing.running
        failing.close()
    assert not server.running
    assert (tmp_path / "data").exists()  # a folder it did not make is kept


def test_a_temporary_folder_is_removed_and_a_failed_start_cleans_up() -> None:
    server = BrokerServer("redis", timeout=0.3)
    folder = server.folder
    assert folder.exists()
    server.args[0] = sys.executable  # something that runs, but never listens
    server.args[1:] = ["-c", "import time; time.sleep(30)"]
    with pytest.raises(TimeoutError), server:
        pass
    assert not server.running
    assert not folder.exists()


def test_gateway_process_misuse_and_a_gateway_that_does_not_start() -> None:
    gateway = GatewayProcess("nats://127.0.0.1:1", "w", bytes(32), timeout=0.5)
    assert "not ready" in repr(gateway)
    for call in (gateway.wait_ready, gateway.kill, lambda: gateway.signal(0), lambda: gateway.pid):
        with pytest.raises(RuntimeError, match="launch"):
            call()
    gateway.stop()  # never launched: nothing to do
    # No broker there: the gateway process fails and ends without a "listening" line.
    with pytest.raises((ProcessFailed, TimeoutError)):
        gateway.start()
    assert gateway.process is not None
    assert gateway.process.poll() is not None
    gateway.close()


def test_a_forwarder_redirects_stalls_and_cuts() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(name + data)
            await writer.drain()
        writer.close()

    name = b"a:"

    async def main() -> None:
        nonlocal name
        servers = [await asyncio.start_server(echo, "127.0.0.1", 0) for _ in range(2)]
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        link = Forwarder(ports[0])
        with pytest.raises(RuntimeError, match="start"):
            link.url  # noqa: B018 - the property raises before start()
        assert "not started" in repr(link)
        async with link:
            assert link.url.startswith("tcp://127.0.0.1:")
            reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
            writer.write(b"1")
            assert await reader.readexactly(3) == b"a:1"
            assert link.connections == 1
            # Stalled: the bytes wait; released: they arrive.
            link.stall()
            assert link.stalled
            writer.write(b"2")
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await reader.readexactly(3)
            link.release()
            assert await reader.readexactly(3) == b"a:2"
            # New connections go to the new target; the open one stays where it is.
            link.target = ports[1]
            name = b"b:"
            reader2, writer2 = await asyncio.open_connection("127.0.0.1", link.port)
            writer2.write(b"3")
            assert await reader2.readexactly(3) == b"b:3"
            # Cut: every connection through it is reset, even a stalled one.
            link.stall()
            link.cut()
            for r in (reader, reader2):
                with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                    await r.readexactly(1)
            link.release()
            await asyncio.sleep(0)
            assert link.connections == 0
            writer.close()
            writer2.close()
            # A target that nothing listens on: the connection is refused (reset) at once.
            link.target = free_port()
            reader3, writer3 = await asyncio.open_connection("127.0.0.1", link.port)
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await reader3.readexactly(1)
            writer3.close()
        for server in servers:
            server.close()
            await server.wait_closed()

    run(main)
