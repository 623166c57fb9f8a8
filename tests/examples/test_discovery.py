"""The arena's LAN discovery: the datagrams byte by byte, announcers and discover() on loopback.

Everything runs on 127.0.0.1 with ports the kernel picks (or a free one found by
binding to port 0), so the tests need no network and can run in parallel. A
timeout is only reached when a test fails: the calls return as soon as they
have what they wait for (``limit``). Only the tests that show what is *not*
found collect for a fixed time (a few tenths of a second); no test measures time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import sys
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from arena import discovery
from arena.discovery import (
    MAGIC,
    MAX_ANNOUNCEMENT_SIZE,
    PROBE_SIZE,
    Announcement,
    Announcer,
    DatagramError,
    Probe,
    ServerInfo,
    decode_datagram,
    discover,
    discover_first,
)

LOOPBACK = "127.0.0.1"
#: Generous: reached only when something is broken.
TIMEOUT = 10.0
LOGGER = "arena.discovery"


def free_udp_port() -> int:
    """A UDP port that nobody on loopback uses right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def loopback_announcer(
    name: str = "Arena",
    tcp_port: int = 4000,
    *,
    target: tuple[str, int] | None = None,
    interval: float = 3600.0,
    **fields: int,
) -> Announcer:
    """An announcer on a free loopback port; by default it only answers probes."""
    return Announcer(
        name,
        tcp_port,
        port=0,
        bind_host=LOOPBACK,
        target=target,
        interval=interval,
        **fields,
    )


def run(test: Callable[[], Awaitable[None]]) -> None:
    """Run ``test`` in a new event loop; fail if any callback raised (asyncio only logs it)."""
    errors: list[dict[str, object]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: errors.append(context))
        await asyncio.wait_for(test(), 4 * TIMEOUT)

    asyncio.run(main())
    assert errors == []


def ignored_count(caplog: pytest.LogCaptureFixture) -> int:
    return sum(
        record.name == LOGGER and record.getMessage().startswith("ignored a datagram")
        for record in caplog.records
    )


# --- the datagrams ------------------------------------------------------------------------

EXAMPLE = Announcement(
    "Arena", 4000, protocol=1, players=2, max_players=8, instance_id=0x0123456789ABCDEF
)
EXAMPLE_BYTES = bytes.fromhex(
    "41 52 45 4e 41 31  41  0f a0  00 01  00 02  00 08 01 23 45 67 89 ab cd ef  05  41 72 65 6e 61"
)


def test_the_announcement_byte_by_byte() -> None:
    assert EXAMPLE.encode() == EXAMPLE_BYTES
    assert len(EXAMPLE_BYTES) == 24 + len("Arena")
    assert decode_datagram(EXAMPLE_BYTES) == EXAMPLE
    assert Announcement.decode(EXAMPLE_BYTES) == EXAMPLE


def test_the_probe_byte_by_byte() -> None:
    probe = Probe().encode()
    assert probe == b"ARENA1Q" + bytes(81)
    # No amplification: a reply is never larger than the probe that asked for it.
    assert len(probe) == PROBE_SIZE == MAX_ANNOUNCEMENT_SIZE == 88
    assert decode_datagram(probe) == Probe()
    with pytest.raises(DatagramError, match="probe, not an announcement"):
        Announcement.decode(probe)


def test_the_longest_announcement() -> None:
    name = "é" * 32  # 64 UTF-8 bytes
    datagram = Announcement(name, 65535, 65535, 65535, 65535, 2**64 - 1).encode()
    assert len(datagram) == MAX_ANNOUNCEMENT_SIZE
    assert decode_datagram(datagram).name == name  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"", "truncated"),
        (b"ARENA", "truncated"),
        (b"ARENA1", "truncated"),
        (b"ARENA2A" + EXAMPLE_BYTES[7:], "not an arena datagram"),
        (b"arena1A" + EXAMPLE_BYTES[7:], "not an arena datagram"),
        (b"ARENA1X" + EXAMPLE_BYTES[7:], "unknown kind"),
        (b"ARENA1Q", "malformed probe"),
        (Probe().encode()[:-1], "malformed probe"),
        (Probe().encode() + b"\0", "malformed probe"),
        (Probe().encode()[:-1] + b"\1", "malformed probe"),
        (EXAMPLE_BYTES[:23], "truncated announcement"),
        (EXAMPLE_BYTES[:-1], "the name is 5 bytes"),
        (EXAMPLE_BYTES + b"!", "the name is 5 bytes"),
        (EXAMPLE_BYTES + bytes(100), "oversized"),
        (bytes(60_000), "not an arena datagram"),
        (EXAMPLE_BYTES[:23] + b"\0", "name must be 1 to 64"),
        (EXAMPLE_BYTES[:23] + b"\x41" + b"x" * 65, "oversized"),
        (EXAMPLE_BYTES[:23] + b"\x41" + b"x" * 64, "the name is 65 bytes"),
        (EXAMPLE_BYTES[:23] + b"\x02\xc3\x28", "not UTF-8"),
        (EXAMPLE_BYTES[:23] + b"\x03\x1b[H", "non-printable"),
        (EXAMPLE_BYTES[:23] + b"\x01\n", "non-printable"),
        (EXAMPLE_BYTES[:7] + b"\0\0" + EXAMPLE_BYTES[9:], "tcp_port"),
    ],
)
def test_malformed_datagrams_are_rejected(datagram: bytes, reason: str) -> None:
    with pytest.raises(DatagramError, match=reason):
        decode_datagram(datagram)


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"name": "x" * 65},
        {"name": "é" * 33},
        {"name": "tab\there"},
        {"name": "\ud800"},
        {"tcp_port": 0},
        {"tcp_port": 65536},
        {"tcp_port": True},
        {"players": -1},
        {"max_players": 1 << 16},
        {"protocol": 1.0},
        {"instance_id": 1 << 64},
    ],
)
def test_announcements_that_do_not_fit_are_refused(fields: dict[str, object]) -> None:
    arguments: dict[str, object] = {"name": "Arena", "tcp_port": 4000, **fields}
    with pytest.raises(ValueError, match=r"name|must be"):
        Announcement(**arguments)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"name|must be"):
        Announcer(**arguments)  # type: ignore[arg-type]


u16 = st.integers(0, 0xFFFF)
names = st.text(
    st.characters(codec="utf-8").filter(str.isprintable), min_size=1, max_size=MAX_ANNOUNCEMENT_SIZE
).filter(lambda name: len(name.encode()) <= 64)
announcements = st.builds(
    Announcement,
    name=names,
    tcp_port=st.integers(1, 0xFFFF),
    protocol=u16,
    players=u16,
    max_players=u16,
    instance_id=st.integers(0, 2**64 - 1),
)


@given(announcements)
def test_every_announcement_round_trips(announcement: Announcement) -> None:
    datagram = announcement.encode()
    assert len(datagram) <= MAX_ANNOUNCEMENT_SIZE
    assert decode_datagram(datagram) == announcement
    host = "192.0.2.7"
    info = ServerInfo.from_announcement(announcement, host)
    assert info.address == (host, announcement.tcp_port)
    assert (info.name, info.players, info.instance_id) == (
        announcement.name,
        announcement.players,
        announcement.instance_id,
    )


def check_any_bytes(data: bytes) -> None:
    """Any bytes decode to a valid message, canonically, or raise DatagramError: nothing else."""
    try:
        message = decode_datagram(data)
    except DatagramError:
        return
    # A datagram is accepted only in its one encoding.
    assert message.encode() == data


prefixes = st.sampled_from([b"", MAGIC[:3], MAGIC, MAGIC + b"Q", MAGIC + b"A", MAGIC + b"Z"])


@given(prefixes, st.binary(max_size=2 * MAX_ANNOUNCEMENT_SIZE))
def test_random_bytes_decode_or_are_rejected(prefix: bytes, data: bytes) -> None:
    check_any_bytes(prefix + data)


@given(announcements, st.data())
def test_damaged_announcements_decode_or_are_rejected(
    announcement: Announcement, data: st.DataObject
) -> None:
    datagram = bytearray(announcement.encode())
    cut = data.draw(st.integers(0, len(datagram)), label="cut")
    tail = data.draw(st.binary(max_size=4), label="tail")
    for _ in range(data.draw(st.integers(0, 3), label="flips")):
        where = data.draw(st.integers(0, len(datagram) - 1), label="where")
        datagram[where] ^= data.draw(st.integers(1, 255), label="xor")
    damaged = bytes(datagram[:cut]) + tail
    assume(damaged != announcement.encode())
    check_any_bytes(damaged)


# --- announcers and discover() ------------------------------------------------------------


def test_discover_finds_an_announcer_by_its_probe_reply() -> None:
    async def test() -> None:
        async with loopback_announcer(players=2, max_players=8, instance_id=7) as announcer:
            assert announcer.running
            found = await discover(
                TIMEOUT,
                port=announcer.port,
                probe_address=LOOPBACK,
                listen_port=None,
                bind_host=LOOPBACK,
                limit=1,
            )
            # It returns with the first answer: an hour's timeout would be noticed.
            first = await discover_first(
                3600, port=announcer.port, probe_address=LOOPBACK, listen_port=None
            )
        expected = ServerInfo("Arena", LOOPBACK, 4000, 2, 8, 1, 7)
        assert found == [expected]
        assert first == expected
        assert not announcer.running

    run(test)


def test_discover_finds_two_announcers() -> None:
    async def test() -> None:
        listen_port = free_udp_port()
        target = (LOOPBACK, listen_port)
        async with (
            loopback_announcer("Zeta", 4001, target=target, interval=0.02) as zeta,
            loopback_announcer("Alpha", 4002, target=target, interval=0.02) as alpha,
        ):
            found = await discover(
                TIMEOUT, probe_address=None, listen_port=listen_port, bind_host=LOOPBACK, limit=2
            )
        assert found == [
            ServerInfo("Alpha", LOOPBACK, 4002, instance_id=alpha.announcement.instance_id),
            ServerInfo("Zeta", LOOPBACK, 4001, instance_id=zeta.announcement.instance_id),
        ]

    run(test)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="broadcast on loopback (127.255.255.255)"
)
def test_one_broadcast_probe_reaches_every_announcer_on_a_shared_port() -> None:
    # The default set-up on one host: every server binds the same discovery port
    # (SO_REUSEADDR/SO_REUSEPORT) and a broadcast probe reaches them all. Linux
    # routes 127.255.255.255 to loopback, so this needs no network either.
    async def test() -> None:
        first = Announcer("One", 4001, port=0, target=None)
        async with first, Announcer("Two", 4002, port=first.port, target=None) as second:
            assert second.port == first.port
            found = await discover(
                TIMEOUT,
                port=first.port,
                probe_address="127.255.255.255",
                listen_port=None,
                limit=2,
            )
        assert [(info.name, info.port) for info in found] == [("One", 4001), ("Two", 4002)]

    run(test)


def test_a_periodic_announcement_alone_is_heard() -> None:
    async def test() -> None:
        listen_port = free_udp_port()
        # A probe port where nobody listens: only the periodic announcement can tell.
        async with loopback_announcer(target=(LOOPBACK, listen_port), interval=0.02) as announcer:
            found = await discover(
                TIMEOUT, probe_address=None, listen_port=listen_port, bind_host=LOOPBACK, limit=1
            )
        assert found == [
            ServerInfo("Arena", LOOPBACK, 4000, instance_id=announcer.announcement.instance_id)
        ]

    run(test)


def test_updates_reach_replies_and_announce_now() -> None:
    async def test() -> None:
        listen_port = free_udp_port()
        # An hour between announcements: only announce=True can send one in time.
        async with loopback_announcer(target=(LOOPBACK, listen_port)) as announcer:
            announcer.update(players=3, max_players=4)
            [replied] = await discover(
                TIMEOUT, port=announcer.port, probe_address=LOOPBACK, listen_port=None, limit=1
            )
            assert (replied.players, replied.max_players) == (3, 4)

            listening = asyncio.create_task(
                discover(TIMEOUT, probe_address=None, listen_port=listen_port, limit=1)
            )
            # The first announcement may go out before the listener is bound: repeat.
            players = 4
            while not listening.done():
                announcer.update(players=players, name="Renamed", announce=True)
                await asyncio.sleep(0.01)
            [heard] = await listening
            assert heard.name == "Renamed"
            assert heard.players >= 4

            with pytest.raises(ValueError, match="players"):
                announcer.update(players=-1)
            assert announcer.announcement.name == "Renamed"

    run(test)


def test_discover_keeps_one_entry_per_server_instance() -> None:
    async def test() -> None:
        listen_port = free_udp_port()
        target = (LOOPBACK, listen_port)
        # The same name and TCP port, but another instance (a restarted server).
        async with (
            loopback_announcer(target=target, interval=0.01, instance_id=2) as later,
            loopback_announcer(target=target, interval=0.01, instance_id=1),
        ):
            # Replies to repeated probes and many announcements: still one entry each.
            found = await discover(
                0.4, port=later.port, probe_address=LOOPBACK, listen_port=listen_port
            )
        assert found == [
            ServerInfo("Arena", LOOPBACK, 4000, instance_id=1),
            ServerInfo("Arena", LOOPBACK, 4000, instance_id=2),
        ]

    run(test)


GARBAGE = [
    b"",
    b"hello?",
    MAGIC,
    b"ARENA1Q",
    Probe().encode() + b"\0",
    EXAMPLE_BYTES[:-1],
    EXAMPLE_BYTES + b"!",
    EXAMPLE_BYTES[:23] + b"\x03\x1b[H",
    EXAMPLE_BYTES[:23] + b"\x02\xc3\x28",
    bytes(range(256)) * 200,
]


def test_garbage_does_not_break_an_announcer(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    async def test() -> None:
        loop = asyncio.get_running_loop()
        async with loopback_announcer(instance_id=5) as announcer:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hostile:
                hostile.setblocking(False)
                hostile.bind((LOOPBACK, 0))
                address = (LOOPBACK, announcer.port)
                for datagram in GARBAGE:
                    await loop.sock_sendto(hostile, datagram, address)
                # Another server's announcement: no garbage, but no reply either.
                await loop.sock_sendto(hostile, EXAMPLE_BYTES, address)
                await loop.sock_sendto(hostile, Probe().encode(), address)
                # Datagrams on loopback keep their order: had anything before the
                # probe been answered, that answer would come first.
                reply, _ = await asyncio.wait_for(loop.sock_recvfrom(hostile, 65536), TIMEOUT)
                assert reply == announcer.announcement.encode()
            assert announcer.running
            # And it still serves discover().
            found = await discover(
                TIMEOUT, port=announcer.port, probe_address=LOOPBACK, listen_port=None, limit=1
            )
            assert [info.instance_id for info in found] == [5]

    run(test)
    assert ignored_count(caplog) == len(GARBAGE)


def test_garbage_does_not_break_discover(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    async def test() -> None:
        loop = asyncio.get_running_loop()
        listen_port = free_udp_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hostile:
            hostile.setblocking(False)
            hostile.bind((LOOPBACK, 0))
            # discover() probes the hostile socket: once the probe arrives, both of
            # its sockets (the listener, then the prober) are bound.
            searching = asyncio.create_task(
                discover(
                    TIMEOUT,
                    port=hostile.getsockname()[1],
                    probe_address=LOOPBACK,
                    listen_port=listen_port,
                    bind_host=LOOPBACK,
                    limit=3,
                )
            )
            probe, prober = await asyncio.wait_for(loop.sock_recvfrom(hostile, 65536), TIMEOUT)
            assert probe == Probe().encode()
            for address in [(LOOPBACK, listen_port), prober]:
                for datagram in GARBAGE:
                    await loop.sock_sendto(hostile, datagram, address)
            # Other clients' probes: not garbage, but nothing to answer either.
            await loop.sock_sendto(hostile, Probe().encode(), (LOOPBACK, listen_port))
            await loop.sock_sendto(hostile, Probe().encode(), prober)
            # The same server twice: the newer news wins.
            older = dataclasses.replace(EXAMPLE, players=1)
            await loop.sock_sendto(hostile, older.encode(), prober)
            await loop.sock_sendto(hostile, EXAMPLE_BYTES, prober)
            late = Announcement("Late", 4001, instance_id=9)
            await loop.sock_sendto(hostile, late.encode(), prober)
            listened = Announcement("Listened", 4002, instance_id=10)
            await loop.sock_sendto(hostile, listened.encode(), (LOOPBACK, listen_port))
            found = await searching
        assert found == [
            ServerInfo.from_announcement(EXAMPLE, LOOPBACK),
            ServerInfo.from_announcement(late, LOOPBACK),
            ServerInfo.from_announcement(listened, LOOPBACK),
        ]

    run(test)
    assert ignored_count(caplog) == 2 * len(GARBAGE)


def test_a_closed_announcer_is_no_longer_found() -> None:
    async def test() -> None:
        announcer = await loopback_announcer().start()
        port = announcer.port
        try:
            assert (
                len(
                    await discover(
                        TIMEOUT, port=port, probe_address=LOOPBACK, listen_port=None, limit=1
                    )
                )
                == 1
            )
        finally:
            await announcer.aclose()
        assert not announcer.running
        await announcer.aclose()  # twice is harmless
        assert await discover(0.3, port=port, probe_address=LOOPBACK, listen_port=None) == []
        with pytest.raises(RuntimeError, match="started already"):
            await announcer.start()

    run(test)


def test_an_announcement_that_cannot_be_sent_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As on a host without a network, where every broadcast fails: the kernel
    # refuses each send (here to port 0), the announcer says so once and keeps
    # answering probes.
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    async def test() -> None:
        async with loopback_announcer(target=("0.0.0.0", 0), interval=0.01) as announcer:
            await asyncio.sleep(0.05)  # a few refused announcements
            assert announcer.running
            found = await discover(
                TIMEOUT, port=announcer.port, probe_address=LOOPBACK, listen_port=None, limit=1
            )
            assert len(found) == 1

    run(test)
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [record.getMessage()[:38] for record in warnings] == [
        "cannot send announcements to 0.0.0.0:0"
    ]


def test_a_busy_listen_port_falls_back_to_the_probe(caplog: pytest.LogCaptureFixture) -> None:
    async def test() -> None:
        # A socket without SO_REUSEADDR holds the port: discover cannot share it.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
            holder.bind((LOOPBACK, 0))
            async with loopback_announcer() as announcer:
                found = await discover(
                    TIMEOUT,
                    port=announcer.port,
                    probe_address=LOOPBACK,
                    listen_port=holder.getsockname()[1],
                    bind_host=LOOPBACK,
                    limit=1,
                )
        assert len(found) == 1

    run(test)
    assert "probing only" in caplog.text


def test_bad_arguments() -> None:
    async def test() -> None:
        with pytest.raises(ValueError, match="timeout"):
            await discover(-1)
        with pytest.raises(ValueError, match="limit"):
            await discover(limit=0)

    run(test)
    with pytest.raises(ValueError, match="interval"):
        loopback_announcer(interval=0)


# --- the command line ---------------------------------------------------------------------


def test_the_command_line_lists_servers(capsys: pytest.CaptureFixture[str]) -> None:
    async def test() -> None:
        async with loopback_announcer("Arena CLI", 4321, max_players=8) as announcer:
            argv = ["--probe", LOOPBACK, "--port", str(announcer.port), "--listen-port", "0"]
            # main() runs its own event loop: give it a thread.
            status = await asyncio.to_thread(discovery.main, [*argv, "--first", "--timeout", "10"])
            assert status == 0

    run(test)
    out = capsys.readouterr().out
    assert out.startswith(f"Arena CLI  {LOOPBACK}:4321  players 0/8  protocol 1  id ")


def test_the_command_line_says_when_it_finds_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--probe", "none", "--listen-port", str(free_udp_port()), "--timeout", "0.05"]
    assert discovery.main(argv) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "no servers found\n")
