"""LAN discovery on 127.0.0.1 and ::1: probes, announcements, and datagrams that are not."""

from __future__ import annotations

import asyncio
import socket

import pytest
from _net_helpers import run, serving

from flatsync.net import (
    PROTOCOL_VERSION,
    Announcement,
    Announcer,
    DatagramError,
    ServerInfo,
    decode_datagram,
    discover,
)


def test_an_announcement_byte_for_byte() -> None:
    announcement = Announcement(
        name="Arena",
        tcp_port=4000,
        websocket_port=4001,
        clients=2,
        max_clients=8,
        instance_id=0x0123456789ABCDEF,
    )
    data = announcement.encode()
    assert data.hex(" ") == (
        "46 53 59 4e 43 31 41 0f a0 0f a1 00 01 00 02 00 08 "
        "01 23 45 67 89 ab cd ef 05 41 72 65 6e 61"
    )
    assert decode_datagram(data) == announcement
    assert decode_datagram(b"FSYNC1Q" + bytes(83)) is None
    for bad in [
        b"",
        b"FSYNC1",
        b"FSYNC1Q" + bytes(82),
        b"FSYNC1Q" + bytes(82) + b"\x01",
        data + b"x",
        data[:-1],
        data[:25] + b"\x00",
        b"ARENA1A" + data[7:],
        data[:6] + b"Z" + data[7:],
        data[:25] + b"\x02\xff\xfe",
        data[:25] + b"\x01\x07",
    ]:
        with pytest.raises(DatagramError):
            decode_datagram(bad)
    with pytest.raises(DatagramError, match="a TCP port, a WebSocket port"):
        Announcement(name="x")
    with pytest.raises(DatagramError, match="1 to 64"):
        Announcement(name="x" * 65, tcp_port=1)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_discover_finds_a_server_by_probe(host: str) -> None:
    async def main() -> list[ServerInfo]:
        async with (
            serving({}) as server,
            Announcer.for_server(server, port=0, bind_host=host, target=None) as announcer,
        ):
            # Garbage first: it is ignored, the announcer keeps answering.
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as noise:
                noise.sendto(b"FSYNC1Q" + bytes(10), (host, announcer.port))
                noise.sendto(bytes(2000), (host, announcer.port))
            found = await discover(
                30.0, port=announcer.port, probe_address=host, listen_port=None, limit=1
            )
            assert found[0].tcp_port == server.tcp_address[1]
            assert found[0].websocket_port == server.websocket_address[1]
            assert found[0].instance_id == int.from_bytes(server.session[:8], "big")
            return found

    (info,) = run(main)
    assert info.host == host
    assert info.protocol == PROTOCOL_VERSION
    assert info.url("tcp").startswith("tcp://[::1]:" if host == "::1" else "tcp://127.0.0.1:")
    assert info.url("websocket").startswith("ws://")


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_discover_hears_periodic_announcements(host: str) -> None:
    async def main() -> list[ServerInfo]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
            listen_port = probe.getsockname()[1]
        announcement = Announcement(name="pretend", tcp_port=9, clients=1)
        async with Announcer(
            announcement, port=0, bind_host=host, target=(host, listen_port), interval=0.05
        ) as announcer:
            announcer.update(clients=3)
            return await discover(
                30.0, probe_address=None, listen_port=listen_port, listen_host=host, limit=1
            )

    (info,) = run(main)
    assert (info.name, info.host, info.tcp_port, info.websocket_port) == ("pretend", host, 9, 0)
    assert info.clients in (1, 3)
    with pytest.raises(ValueError, match="does not listen on websocket"):
        info.url("websocket")


def test_discover_returns_empty_after_its_timeout() -> None:
    async def main() -> list[ServerInfo]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quiet:
            quiet.bind(("127.0.0.1", 0))
            port = quiet.getsockname()[1]
            return await discover(0.2, port=port, probe_address="127.0.0.1", listen_port=None)

    assert asyncio.run(main()) == []
