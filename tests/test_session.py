"""Sessions: the frame header byte for byte, the publisher and the replica, and the proof.

The proof is a hypothesis state machine that drives the game's mutations and a
simulated network together: per-client loss, duplication, reordering and delay
(a packet waits in its link until a rule delivers it, possibly after later
ones), disconnects and reconnects (with a fresh or a stale replica), late
joins, view changes, refresh requests, and slow clients whose transport cannot
take packets for a while. After every step each replica must strictly equal the
frame it claims to hold, as its view showed that frame: it never silently
diverges. At the end, the faults stop: what is in flight arrives, then one
recovery round trip (a tick whose packets reveal any gap, the replicas'
requests, a tick whose packets answer them), and every replica must strictly
equal the source as its view shows it.
"""

from __future__ import annotations

import ast
import gc
import pathlib
import re
import tracemalloc
from collections.abc import Iterable
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import flatsync
import flatsync._session._state
import flatsync.protocol
from flatsync import (
    ANY,
    Added,
    CborCodec,
    Changed,
    DataHandler,
    DecodeError,
    FrameApplied,
    FrameDropped,
    FrameError,
    PatchError,
    Publisher,
    Record,
    RecordView,
    Removed,
    Replica,
    View,
)
from flatsync._codecs._varint import VarintError, read_uvarint, uvarint
from flatsync._session._frames import Kind, parse
from flatsync._session._state import (
    TRANSITIONS,
    Client,
    Mode,
    Outboxes,
    TransitionError,
    Trigger,
    next_mode,
)
from flatsync._session._views import ViewCompiler
from flatsync.testing import assert_strict_equal, forget_records
from session_helpers import pump

#: A fixed session identity, for tests that assert a snapshot's bytes.
SESSION = bytes(range(8))

SRC = pathlib.Path(flatsync.__file__).parent


class CountingCodec(CborCodec):
    """A CborCodec that counts what it encodes."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded = 0

    def encode(self, tree: Any) -> bytes:
        self.encoded += 1
        return super().encode(tree)


def expected(pub: Publisher, client: Any) -> dict[Any, Any]:
    view = pub.view(client)
    snapshot = pub.root.snapshot()
    return snapshot if view is None else view.project(snapshot)


# -- the frame header, byte for byte ------------------------------------------------------------


def test_header_bytes() -> None:
    root = DataHandler({3: {"hp": 7}})
    pub = Publisher(root, session=SESSION)
    pub.add_client("a")
    assert pub.tick() == 1
    [snapshot] = pub.packets_for("a")
    # 0x11: version 1, kind 1 (snapshot); 01: frame 1; the session (8 bytes); the CBOR snapshot.
    assert snapshot.hex(" ") == "11 01 00 01 02 03 04 05 06 07 a1 03 a1 62 68 70 07"
    root[3]["hp"] -= 1
    pub.tick()
    [delta] = pub.packets_for("a")
    # 0x10: version 1, kind 0 (delta); 02: frame 2; 01: base = 2 - 1; the seed's 7 bytes.
    assert delta.hex(" ") == "10 02 01 a1 03 a1 62 68 70 06"
    for _ in range(299):
        pub.tick()
    [merged] = pub.packets_for("a")
    # frame 301 = ac 02 (LEB128: 0x2d | 0x80, 0x02), distance 299 = ab 02; nothing changed.
    assert merged.hex(" ") == "10 ad 02 ab 02 a0"
    replica = Replica()
    replica.receive(snapshot)
    assert replica.packet_to_send() == bytes.fromhex("12 01")  # ack: holds frame 1
    assert replica.receive(merged) == [FrameDropped(frame=301, base=2, reason="gap")]
    assert replica.packet_to_send() == bytes.fromhex("13 01 02")  # resync: holds 1, base 2
    replica.request_refresh()
    assert replica.packet_to_send() == bytes.fromhex("14 00")  # refresh, asked explicitly
    fresh = Replica()
    fresh.receive(delta)
    assert fresh.packet_to_send() == bytes.fromhex("14 02")  # refresh: rejected base 1 (+ 1)


@pytest.mark.parametrize(
    ("hex_bytes", "kind", "frame", "base", "size"),
    [
        ("10 02 01 a0", Kind.DELTA, 2, 1, 3),
        ("10 ad 02 ab 02", Kind.DELTA, 301, 2, 5),
        ("11 00 00 01 02 03 04 05 06 07 a0", Kind.SNAPSHOT, 0, None, 10),
        ("12 7f", Kind.ACK, 127, None, 2),
        ("12 80 01", Kind.ACK, 128, None, 3),
        ("13 05 09", Kind.RESYNC, 5, 9, 3),
        ("14 00", Kind.REFRESH, 0, None, 2),
        ("14 0a", Kind.REFRESH, 0, 9, 2),
        ("18 02 01 01 05 01 41 01 01 61 a0", Kind.DELTA, 2, 1, 10),
        ("19 07 00 01 02 03 04 05 06 07 01 7f 01 42 02 01 61 01 62", Kind.SNAPSHOT, 7, None, 19),
    ],
)
def test_parse(hex_bytes: str, kind: Kind, frame: int, base: int | None, size: int) -> None:
    header = parse(bytes.fromhex(hex_bytes))
    assert (header.kind, header.frame, header.base, header.size) == (kind, frame, base, size)
    assert header.schemas == (() if hex_bytes[1] in "01234" else header.schemas)


@given(st.integers(0, 2**63 - 1))
def test_varints_round_trip_in_their_shortest_form(value: int) -> None:
    data = uvarint(value)
    assert len(data) == max(1, (value.bit_length() + 6) // 7)
    assert data[-1] < 0x80
    assert read_uvarint(b"\x00" + data + b"\x00", 1, 9) == (value, 1 + len(data))
    with pytest.raises(VarintError) as cut:
        read_uvarint(data[:-1], 0, 9)
    assert cut.value.reason == "cut"
    if len(data) > 1:
        with pytest.raises(VarintError) as long:
            read_uvarint(data, 0, len(data) - 1)
        assert long.value.reason == "long"
    padded = data[:-1] + bytes((data[-1] | 0x80, 0))
    assert read_uvarint(padded, 0, 10) == (value, len(padded))
    with pytest.raises(VarintError) as shortest:
        read_uvarint(padded, 0, 10, True)
    assert shortest.value.reason == "padded"


def test_a_varint_is_never_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        uvarint(-1)


def test_parse_a_schema_table() -> None:
    header = parse(
        bytes.fromhex(
            "19 07 00 01 02 03 04 05 06 07 02 05 01 41 01 01 61 96 a4 01 01 42 02 01 61 01 62"
        )
    )
    assert header.schemas == ((5, "A", ("a",)), (21014, "B", ("a", "b")))


@pytest.mark.parametrize(
    ("hex_bytes", "message"),
    [
        ("", "empty"),
        ("20 01", "version 2"),
        ("00 01", "version 0"),
        ("16 00", "unknown packet kind 6"),
        ("15 02 01 00 01 02", "cut short in its session"),
        ("11 02 00 01", "cut short in its session"),
        ("6b 68 70", "not a flatsync packet"),
        ("10", "cut short"),
        ("10 05", "cut short"),
        ("12 80", "cut short"),
        ("12 80 00", "shortest form"),
        ("12 ff ff ff ff ff ff ff ff ff 01", "longer than 9 bytes"),
        ("10 05 00", "itself as its base"),
        ("10 05 06", "6 frames earlier"),
        ("1a 01 01", "unknown packet kind 10"),
        ("1c 01", "unknown packet kind 12"),
        ("19 01 00 01 02 03 04 05 06 07", "cut short in its schema count"),
        ("19 01 00 01 02 03 04 05 06 07 00 a0", "cannot hold 0 records"),
        ("19 01 00 01 02 03 04 05 06 07 09 05 01 41 01 01 61", "cannot hold 9 records"),
        ("19 01 00 01 02 03 04 05 06 07 02 05 01 41 01 01 61 05 01 42 01 01 61", "must increase"),
        ("19 01 00 01 02 03 04 05 06 07 02 06 01 41 01 01 61 05 01 42 01 01 61", "must increase"),
        ("19 01 00 01 02 03 04 05 06 07 01 80 80 04 01 41 01 01 61", "not below 65536"),
        ("19 01 00 01 02 03 04 05 06 07 01 05 00 01 01 61", "the name of record 5 is empty"),
        ("19 01 00 01 02 03 04 05 06 07 01 05 01 ff 01 01 61", "not UTF-8"),
        ("19 01 00 01 02 03 04 05 06 07 01 05 05 41 42", "cut short in the name"),
        ("19 01 00 01 02 03 04 05 06 07 01 05 01 41 00 a0", "cannot have 0 fields"),
        ("19 01 00 01 02 03 04 05 06 07 01 05 01 41 09 01 61", "cannot have 9 fields"),
        ("19 01 00 01 02 03 04 05 06 07 01 05 01 41 02 01 61 01 61 a0", "repeats a field name"),
        ("19 01 00 01 02 03 04 05 06 07 01 05 01 41 01 00", "field 0 of record 'A' is empty"),
        ("19 01 00 01 02 03 04 05 06 07 01 05 01 41", "cut short in its field count"),
    ],
)
def test_malformed_headers_raise_frame_error(hex_bytes: str, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        parse(bytes.fromhex(hex_bytes))


def test_frame_error_is_a_flatsync_error_and_a_value_error() -> None:
    assert issubclass(FrameError, flatsync.FlatsyncError)
    assert issubclass(FrameError, ValueError)


def test_no_io_in_the_session_layer() -> None:
    modules = sorted((SRC / "_session").glob("*.py"))
    assert {path.name for path in modules} >= {"_publisher.py", "_replica.py", "_state.py"}
    for path in modules:
        tree = ast.parse(path.read_text())
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert not imported & {"socket", "asyncio", "threading", "time", "select", "selectors"}


# -- the client state machine --------------------------------------------------------------------

#: The client state machine as ``_session/_state.py`` documents it: (mode, trigger) -> mode.
#: Any pair not here is illegal.
DOCUMENTED_TRANSITIONS = {
    (Mode.NEW, Trigger.WANT_SNAPSHOT): Mode.NEW,
    (Mode.NEW, Trigger.SNAPSHOT_TAKEN): Mode.SNAPSHOT,
    (Mode.SNAPSHOT, Trigger.WANT_SNAPSHOT): Mode.NEW,
    (Mode.SNAPSHOT, Trigger.DRAINED): Mode.SHARED,
    (Mode.PRIVATE, Trigger.WANT_SNAPSHOT): Mode.NEW,
    (Mode.PRIVATE, Trigger.DRAINED): Mode.SHARED,
    (Mode.PRIVATE, Trigger.VIEW_CHANGED): Mode.PRIVATE,
    (Mode.SHARED, Trigger.WANT_SNAPSHOT): Mode.NEW,
    (Mode.SHARED, Trigger.DRAINED): Mode.SHARED,
    (Mode.SHARED, Trigger.VIEW_CHANGED): Mode.PRIVATE,
    (Mode.SHARED, Trigger.RING_LEFT): Mode.PRIVATE,
    (Mode.NEW, Trigger.PAUSED): Mode.PAUSED,
    (Mode.SNAPSHOT, Trigger.PAUSED): Mode.PAUSED,
    (Mode.PRIVATE, Trigger.PAUSED): Mode.PAUSED,
    (Mode.SHARED, Trigger.PAUSED): Mode.PAUSED,
    (Mode.PAUSED, Trigger.PAUSED): Mode.PAUSED,
    (Mode.PAUSED, Trigger.WANT_SNAPSHOT): Mode.NEW,
    (Mode.PAUSED, Trigger.RESUMED): Mode.SHARED,
}


def test_the_state_module_documents_the_same_table() -> None:
    doc = flatsync._session._state.__doc__
    assert doc is not None
    lines = doc.split("The moves")[1].splitlines()
    header = next(line for line in lines if "trigger" in line)
    triggers = [Trigger(name) for name in re.split(r"\s{2,}", header.strip())[1:]]
    table = {}
    for line in lines[lines.index(header) + 1 :]:
        cells = line.split()
        if not cells or cells[0] not in Mode.__members__:
            break
        for trigger, cell in zip(triggers, cells[1:], strict=True):
            if cell != "-":
                table[Mode[cells[0]], trigger] = Mode[cell]
    assert table == DOCUMENTED_TRANSITIONS


def assert_indexed(out: Outboxes, clients: Iterable[Client]) -> None:
    """Each client is in exactly the indexes its mode puts it in."""
    for c in clients:
        assert (c in out.want) == (c.mode is Mode.NEW)
        assert (c in out.holding) == (c.mode in {Mode.SNAPSHOT, Mode.PRIVATE})
        waits = [sent for sent, waiting in out.waiting.items() if c in waiting]
        assert waits == ([c.sent] if c.mode is Mode.SHARED else [])
        assert (c in out.resyncs) == (c.resync is not None)
        if c.mode is Mode.NEW or c.mode is Mode.SHARED:
            assert c.private is None
            assert c.snap is None
    assert all(out.waiting.values())


def client_in(mode: Mode) -> tuple[Outboxes, Client]:
    """A client brought to ``mode`` through legal moves only."""
    out = Outboxes()
    c = Client("c", None, ViewCompiler().everything)
    out.join(c)
    if mode is not Mode.NEW:
        out.snapshot_taken(c, {"hp": 8}, 1)
    if mode in {Mode.SHARED, Mode.PRIVATE}:
        out.drained(c, 1)
    if mode is Mode.PRIVATE:
        out.diverged(c, {"hp": 7}, Trigger.VIEW_CHANGED)
    if mode is Mode.PAUSED:
        out.drained(c, 1)
        out.pause(c)
    assert c.mode is mode
    assert_indexed(out, [c])
    return out, c


def fire(out: Outboxes, c: Client, trigger: Trigger) -> None:
    """Fire ``trigger`` on ``c`` through the method of ``out`` the publisher calls for it."""
    if trigger is Trigger.WANT_SNAPSHOT:
        out.want_snapshot(c)
    elif trigger is Trigger.SNAPSHOT_TAKEN:
        out.snapshot_taken(c, {"hp": 6}, 2)
    elif trigger is Trigger.DRAINED:
        out.drained(c, 2)
    elif trigger is Trigger.PAUSED:
        out.pause(c)
    elif trigger is Trigger.RESUMED:
        out.resumed(c, 1)
    else:
        out.diverged(c, {"hp": 5}, trigger)


@pytest.mark.parametrize("trigger", list(Trigger))
@pytest.mark.parametrize("mode", list(Mode))
def test_the_client_state_machine_is_the_documented_table(mode: Mode, trigger: Trigger) -> None:
    assert set(TRANSITIONS) == set(Mode)
    expected = DOCUMENTED_TRANSITIONS.get((mode, trigger))
    out, c = client_in(mode)
    if expected is None:
        with pytest.raises(TransitionError, match=f"mode {mode.value} cannot take"):
            next_mode(mode, trigger)
        held = (set(out.want), set(out.holding), dict(out.waiting), c.private, c.snap, c.sent)
        with pytest.raises(TransitionError):
            fire(out, c, trigger)
        assert c.mode is mode  # refused before anything changed
        assert held == (
            set(out.want),
            set(out.holding),
            dict(out.waiting),
            c.private,
            c.snap,
            c.sent,
        )
    else:
        assert next_mode(mode, trigger) is expected
        fire(out, c, trigger)
        assert c.mode is expected
    assert_indexed(out, [c])


PUBLISHER_STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "join",
                "leave",
                "tick",
                "drain",
                "lose",
                "answer",
                "snapshot",
                "view",
                "refresh",
                "pause",
                "resume",
            ]
        ),
        st.integers(0, 2),
    ),
    min_size=30,
    max_size=100,
)


def test_only_the_state_module_changes_a_client_mode() -> None:
    for path in sorted((SRC / "_session").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for item in ast.walk(target):
                        if isinstance(item, ast.Attribute) and item.attr == "mode":
                            assert path.name == "_state.py", f"{path.name}:{node.lineno}"


@given(PUBLISHER_STEPS)
@settings(max_examples=200)
def test_every_client_stays_in_the_indexes_of_its_mode(steps: list[tuple[str, int]]) -> None:
    pub = Publisher(DataHandler({"hp": 0, "zone": {"a": 1}}), history=2)
    views = [None, View(("zone",)), View(("hp",))]
    replicas: dict[int, Replica] = {}
    for who in range(3):
        replicas[who] = Replica()
        pub.add_client(who, views[who])
    for op, who in steps:
        if op == "join":
            if who not in replicas:
                replicas[who] = Replica()
                pub.add_client(who, views[who])
        elif op == "tick":
            pub.root["hp"] += 1
            pub.root["zone"]["a"] += who
            pub.tick()
        elif who not in replicas:
            pass
        elif op == "leave":
            pub.remove_client(who)
            del replicas[who]
        elif op in {"drain", "lose"}:
            for packet in pub.packets_for(who):
                if op == "drain":
                    replicas[who].receive(packet)
        elif op == "answer":
            answer = replicas[who].packet_to_send()
            if answer is not None:
                pub.receive(who, answer)
        elif op == "snapshot":
            pub.request_snapshot(who)
        elif op == "view":
            pub.set_view(who, views[(who + pub.frame) % 3])
        elif op == "pause":
            pub.pause(who)
        elif op == "resume":
            pub.resume(who, replicas[who].frame)
        else:
            replicas[who].request_refresh()
        assert_indexed(pub._out, pub._clients.values())


# -- the publisher --------------------------------------------------------------------------------


def test_a_client_gets_a_snapshot_at_the_next_tick_then_deltas() -> None:
    pub = Publisher(DataHandler({"hp": 8}))
    pub.add_client("a")
    assert pub.packets_for("a") == []
    assert not pub.pending("a")
    pub.tick()
    assert pub.pending("a")
    replica = Replica()
    assert pump(pub, "a", replica) == [Added(path=("hp",), new=8), FrameApplied(frame=1, base=None)]
    assert not pub.pending("a")
    assert pub.packets_for("a") == []
    assert pub.acked("a") == 1
    pub.root["hp"] = 7
    pub.tick()
    assert pump(pub, "a", replica) == [
        Changed(path=("hp",), old=8, new=7),
        FrameApplied(frame=2, base=1),
    ]
    assert pub.acked("a") == 2
    assert pub.clients == ("a",)


def test_every_tick_sends_a_packet_even_an_empty_one() -> None:
    pub = Publisher(DataHandler({"hp": 8}))
    pub.add_client("a")
    pub.tick()
    pub.packets_for("a")
    pub.tick()
    assert pub.packets_for("a") == [bytes.fromhex("10 02 01 a0")]


def test_clients_with_the_same_view_share_the_bytes_encoded_once() -> None:
    codec = CountingCodec()
    root = DataHandler({"players": {i: {"pos": (i, i), "inv": [i]} for i in range(4)}})
    pub = Publisher(root, codec=codec)
    public = View(("players", ANY, "pos"))
    for i in range(6):
        pub.add_client(i, public if i % 2 else None)
    pub.tick()
    for i in range(6):
        pub.packets_for(i)
    assert codec.encoded == 2  # one snapshot per view
    root["players"][1]["pos"] = (5, 5)
    root["players"][1]["inv"].append(9)
    pub.tick()
    packets = [pub.packets_for(i)[0] for i in range(6)]
    assert codec.encoded == 4  # one delta per view
    assert all(p is packets[0] for p in packets[::2])
    assert all(p is packets[1] for p in packets[1::2])
    assert (
        packets[1].hex(" ") == "10 02 01 a1 67 70 6c 61 79 65 72 73 a1 01 a1 63 70 6f 73 82 05 05"
    )


def test_a_late_client_gets_one_merged_packet() -> None:
    root = DataHandler({"x": 0, "gone": 1})
    pub = Publisher(root)
    pub.add_client("slow")
    pub.tick()
    replica = Replica()
    pump(pub, "slow", replica)
    for x in range(1, 20):
        root["x"] = x
        if x == 5:
            del root["gone"]
        if x == 7:
            root["new"] = {"a": 1}
        pub.tick()
    [packet] = pub.packets_for("slow")
    assert packet[:3] == bytes.fromhex("10 14 13")  # frame 20, base 1
    replica.receive(packet)
    assert_strict_equal(replica.state, root)


def test_a_client_behind_the_ring_still_gets_one_packet() -> None:
    root = DataHandler({"x": 0, "list": [1]})
    pub = Publisher(root, history=3)
    pub.add_client("slow")
    pub.add_client("fast")
    pub.tick()
    slow, fast = Replica(), Replica()
    pump(pub, "slow", slow)
    for x in range(10):
        root["x"] = x
        root["list"].append(x)
        pub.tick()
        pump(pub, "fast", fast)
        assert_strict_equal(fast.state, root)
    packets = pub.packets_for("slow")
    assert len(packets) == 1
    slow.receive(packets[0])
    assert_strict_equal(slow.state, root)
    root["x"] = 99
    pub.tick()
    pump(pub, "slow", slow)
    assert_strict_equal(slow.state, root)


def a_packet_after_a_loss() -> tuple[DataHandler, Publisher, Replica, bytes]:
    """Client "a" holds frame 1; frame 2's packet is lost; return frame 3's packet, built on 2."""
    root = DataHandler({"x": 0})
    pub = Publisher(root)
    pub.add_client("a")
    pub.tick()
    replica = Replica()
    pump(pub, "a", replica)
    root["x"] = 1
    pub.tick()
    pub.packets_for("a")  # lost
    root["x"] = 2
    pub.tick()
    [later] = pub.packets_for("a")
    return root, pub, replica, later


def test_a_lost_packet_is_resent_as_a_merge_after_one_round_trip() -> None:
    root, pub, replica, later = a_packet_after_a_loss()
    assert replica.receive(later) == [FrameDropped(frame=3, base=2, reason="gap")]
    assert replica.state == {"x": 0}
    request = replica.packet_to_send()
    assert request == bytes.fromhex("13 01 02")
    pub.receive("a", request)
    pub.receive("a", request)  # a duplicate changes nothing
    assert pub.pending("a")
    packets = pub.packets_for("a")
    # The catch-up from 1 to 3: an answer (kind 5), which carries the session.
    assert [p[:11] for p in packets] == [bytes.fromhex("15 03 02") + pub.session]
    events: list[Any] = []
    for packet in packets:
        events.extend(replica.receive(packet))
    assert events[-1] == FrameApplied(frame=3, base=1)
    assert_strict_equal(replica.state, root)
    # The same request arriving late (it crossed the answer) is ignored.
    pub.receive("a", request)
    assert not pub.pending("a")


def test_a_catch_up_comes_before_the_pending_delta() -> None:
    root, pub, replica, later = a_packet_after_a_loss()
    replica.receive(later)
    pub.receive("a", replica.packet_to_send() or b"")
    root["x"] = 3
    pub.tick()
    packets = pub.packets_for("a")
    assert [p[:3].hex(" ") for p in packets] == ["15 03 02", "10 04 01"]
    for packet in packets:
        replica.receive(packet)
    assert_strict_equal(replica.state, root)


def test_a_request_for_frames_that_left_the_ring_gets_a_snapshot() -> None:
    root = DataHandler({"x": 0})
    pub = Publisher(root, history=2, session=SESSION)
    pub.add_client("a")
    pub.tick()
    replica = Replica()
    pump(pub, "a", replica)
    for x in range(1, 6):
        root["x"] = x
        pub.tick()
        pub.packets_for("a")  # all lost
    root["x"] = 6
    pub.tick()
    replica.receive(pub.packets_for("a")[0])
    pub.receive("a", replica.packet_to_send() or b"")
    assert pub.packets_for("a") == []  # the snapshot is taken at the next tick
    pub.tick()
    [snapshot] = pub.packets_for("a")
    assert snapshot[:10] == bytes.fromhex("11 08 00 01 02 03 04 05 06 07")
    assert replica.receive(snapshot) == [
        Changed(path=("x",), old=0, new=6),
        FrameApplied(frame=8, base=None),
    ]


def test_request_snapshot_and_refresh() -> None:
    root = DataHandler({"x": 0})
    pub = Publisher(root)
    pub.add_client("a")
    pub.tick()
    replica = Replica()
    pump(pub, "a", replica)
    replica.request_refresh()
    pub.receive("a", replica.packet_to_send() or b"")
    pub.tick()
    [packet] = pub.packets_for("a")
    assert packet[0] == 0x11
    assert replica.receive(packet) == [FrameApplied(frame=2, base=None)]  # nothing changed
    pub.request_snapshot("a")
    pub.tick()
    assert pub.packets_for("a")[0][0] == 0x11


def test_remove_and_rejoin_with_the_old_replica() -> None:
    root = DataHandler({"x": 0})
    pub = Publisher(root)
    pub.add_client("a")
    pub.tick()
    replica = Replica()
    pump(pub, "a", replica)
    pub.remove_client("a")
    root["x"] = 1
    pub.tick()
    pub.add_client("a")
    pub.receive("a", bytes.fromhex("12 01"))  # an old acknowledgement: ignored
    pub.tick()
    pump(pub, "a", replica)
    assert_strict_equal(replica.state, root)
    with pytest.raises(KeyError):
        pub.remove_client("b")
    with pytest.raises(ValueError, match="already joined"):
        pub.add_client("a")


@pytest.mark.parametrize(
    ("hex_bytes", "message"),
    [
        ("10 02 01 a0", "sent a delta frame"),
        ("11 01 00 01 02 03 04 05 06 07 a0", "sent a snapshot frame"),
        ("15 02 01 00 01 02 03 04 05 06 07 a0", "sent a resync answer"),
        ("12 01 00", "1 bytes after"),
        ("30 01", "version 3"),
    ],
)
def test_publisher_receive_refuses_bad_packets(hex_bytes: str, message: str) -> None:
    root = DataHandler({"x": 0})
    pub = Publisher(root)
    pub.add_client("a")
    pub.tick()
    pub.packets_for("a")
    pub.tick()
    with pytest.raises(FrameError, match=message):
        pub.receive("a", bytes.fromhex(hex_bytes))
    assert pub.acked("a") is None
    assert pub.pending("a")


def test_publisher_arguments() -> None:
    with pytest.raises(TypeError):
        Publisher({"x": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="read-only"):
        Publisher(DataHandler.from_snapshot({}))
    with pytest.raises(ValueError, match="sits inside"):
        Publisher(DataHandler({"a": {}})["a"])
    with pytest.raises(ValueError, match="history"):
        Publisher(DataHandler(), history=0)
    pub = Publisher(DataHandler())
    with pytest.raises(TypeError):
        pub.add_client("a", {"x"})  # type: ignore[arg-type]
    pub.add_client("a")
    with pytest.raises(TypeError):
        pub.set_view("a", ("x",))  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        pub.packets_for("nobody")
    assert repr(pub) == "<Publisher frame=0 clients=1 history=64 codec=cbor>"


def test_the_root_is_committed_at_construction() -> None:
    root = DataHandler({"x": 1})
    root["y"] = 2
    pub = Publisher(root)
    assert root.diff() == {}
    assert pub.frame == 0


# -- the replica ----------------------------------------------------------------------------------


def test_replica_drops_duplicates_and_stale_packets_silently() -> None:
    root = DataHandler({"x": 0})
    pub = Publisher(root)
    pub.add_client("a")
    pub.tick()
    [snapshot] = pub.packets_for("a")
    replica = Replica()
    replica.receive(snapshot)
    replica.packet_to_send()
    root["x"] = 1
    pub.tick()
    [one] = pub.packets_for("a")
    root["x"] = 2
    pub.tick()
    [two] = pub.packets_for("a")
    replica.receive(one)
    replica.receive(two)
    assert replica.packet_to_send() == bytes.fromhex("12 03")
    assert replica.receive(two) == [FrameDropped(frame=3, base=2, reason="duplicate")]
    assert replica.receive(one) == [FrameDropped(frame=2, base=1, reason="stale")]
    assert replica.receive(snapshot) == [FrameDropped(frame=1, base=None, reason="stale")]
    assert replica.packet_to_send() is None
    assert replica.frame == 3
    assert_strict_equal(replica.state, root)


def test_replica_reports_a_packet_built_on_an_older_frame_and_asks() -> None:
    replica = Replica()
    replica.receive(bytes.fromhex("11 05 00 01 02 03 04 05 06 07 a1 61 78 00"))
    replica.packet_to_send()
    # A catch-up from frame 3 to 7: the replica is at 5, so it cannot use it.
    assert replica.receive(bytes.fromhex("10 07 04 a1 61 78 07")) == [
        FrameDropped(frame=7, base=3, reason="stale")
    ]
    assert replica.packet_to_send() == bytes.fromhex("13 05 03")


def test_replica_state_is_one_object_refreshed_in_place() -> None:
    replica = Replica()
    state = replica.state
    assert state == {}
    assert state.readonly
    assert replica.frame is None
    replica.receive(
        bytes.fromhex("11 01 00 01 02 03 04 05 06 07")
        + CborCodec().encode({1: {"a": 1, "b": 2}, 2: 0})
    )
    events = replica.receive(
        bytes.fromhex("11 02 00 01 02 03 04 05 06 07")
        + CborCodec().encode({1.0: {"a": 1, "b": 3}, 3: [1]})
    )
    assert replica.state is state
    assert_strict_equal(state, {1.0: {"a": 1, "b": 3}, 3: [1]})
    assert events[-1] == FrameApplied(frame=2, base=None)
    assert Removed(path=(2,), old=0) in events
    assert Added(path=(3,), new=[1]) in events


def test_replica_errors_leave_the_state_as_it_was() -> None:
    replica = Replica()
    replica.receive(bytes.fromhex("11 01 00 01 02 03 04 05 06 07 a1 61 78 00"))
    replica.packet_to_send()
    with pytest.raises(FrameError):
        replica.receive(bytes.fromhex("12 01"))
    with pytest.raises(FrameError):
        replica.receive(bytes.fromhex("21 02 a0"))
    with pytest.raises(DecodeError):
        replica.receive(bytes.fromhex("10 02 01 a1 61"))
    assert replica.packet_to_send() == bytes.fromhex("13 01 01")  # counted as lost
    with pytest.raises(PatchError):
        replica.receive(bytes.fromhex("10 02 01 a1 61 78 a1 61 79 01"))  # {"x": {"y": 1}}
    assert replica.packet_to_send() == bytes.fromhex("14 00")  # the sides disagree
    with pytest.raises(PatchError):
        replica.receive(
            bytes.fromhex("11 02 00 01 02 03 04 05 06 07 81 01")
        )  # a snapshot that is not a mapping
    with pytest.raises(TypeError):
        replica.receive("11 02")  # type: ignore[arg-type]
    assert replica.frame == 1
    assert_strict_equal(replica.state, {"x": 0})
    assert repr(replica) == "<Replica frame=1 entries=1>"


def test_replica_before_its_snapshot_asks_for_one() -> None:
    replica = Replica()
    assert replica.receive(bytes.fromhex("10 09 01 a0")) == [
        FrameDropped(frame=9, base=8, reason="gap")
    ]
    assert replica.packet_to_send() == bytes.fromhex("14 09")
    assert replica.packet_to_send() is None


# -- views through the publisher ------------------------------------------------------------------


def near(x: int) -> View:
    """The chunks in column ``x`` and its neighbours, and everyone's position."""
    columns = {x - 1, x, x + 1}
    return View(
        ("chunks", frozenset((cx, cy) for cx in columns for cy in range(3))),
        ("players", ANY, "pos"),
    )


def test_moving_brings_chunks_in_as_snapshots_and_out_as_deletes() -> None:
    codec = CborCodec()
    root = DataHandler(
        {
            "chunks": {(x, y): {"tiles": bytes([x, y])} for x in range(6) for y in range(3)},
            "players": {1: {"pos": (0, 0), "hp": 3}},
        }
    )
    pub = Publisher(root, codec=codec)
    pub.add_client(1, near(0))
    pub.tick()
    replica = Replica()
    pump(pub, 1, replica)
    assert sorted(replica.state["chunks"]) == [(x, y) for x in (0, 1) for y in range(3)]
    root["players"][1]["pos"] = (1, 0)
    pub.set_view(1, near(2))
    pub.tick()
    [packet] = pub.packets_for(1)
    delta = codec.decode(packet[3:])
    assert delta["chunks"][(0, 0)] is flatsync.DELETED
    assert delta["chunks"][(3, 0)] == flatsync.protocol.Replace({"tiles": b"\x03\x00"})
    assert delta["players"] == {1: {"pos": (1, 0)}}
    replica.receive(packet)
    assert_strict_equal(replica.state, expected(pub, 1))


def test_a_late_joiner_under_a_view_equals_a_client_that_replayed_every_frame() -> None:
    root = DataHandler({"players": {i: {"pos": (i, 0), "inv": [], "hp": 9} for i in range(5)}})
    view = View(("players", ANY, "pos"), ("players", 2, "inv"))
    pub = Publisher(root, history=4)
    pub.add_client("old", view)
    pub.tick()
    old = Replica()
    pump(pub, "old", old)
    for t in range(30):
        player = root["players"].get(t % 7)
        if player is None:
            root["players"][t % 7] = {"pos": (t, t), "inv": [t], "hp": t}
        elif t % 3 == 0:
            del root["players"][t % 7]
        else:
            player["pos"] = (t, -t)
            player["inv"].append(t)
        pub.tick()
        pump(pub, "old", old)
    pub.add_client("new", view)
    pub.tick()
    pump(pub, "old", old)
    new = Replica()
    pump(pub, "new", new)
    assert_strict_equal(new.state, old.state)
    assert_strict_equal(old.state, expected(pub, "old"))


@pytest.mark.parametrize(
    "codec", [CborCodec(), flatsync.JsonCodec(), flatsync.MsgpackCodec()], ids=lambda c: c.name
)
def test_sessions_work_over_every_codec(codec: flatsync.Codec) -> None:
    root = DataHandler({"players": {1: {"pos": (1, 2), "bag": ["a"]}, 2: {"pos": (0.5, -0.0)}}})
    pub = Publisher(root, codec=codec)
    pub.add_client("a", View(("players", ANY, "pos")))
    replica = Replica(codec)
    pub.tick()
    pump(pub, "a", replica)
    root["players"][1]["pos"] = (3, 4)
    pub.tick()
    pub.packets_for("a")  # lost
    root["players"][2] = {"pos": (9, 9), "bag": []}
    root["players"][1]["bag"].append("b")
    pub.tick()
    pump(pub, "a", replica)  # a gap: the replica asks to resync
    assert replica.frame == 1
    pump(pub, "a", replica)  # the catch-up, at once
    assert replica.frame == 3
    pub.set_view("a", None)
    pub.tick()
    events = pump(pub, "a", replica)  # the view's transition: the bags enter
    assert events[-1] == FrameApplied(frame=4, base=3)
    assert_strict_equal(replica.state, root)


# -- memory -----------------------------------------------------------------------------------------


def test_a_client_that_never_drains_nor_acknowledges_costs_one_merged_packet() -> None:
    root = DataHandler({i: {"x": 0, "tag": "t"} for i in range(40)})
    pub = Publisher(root, history=8)
    pub.add_client("stuck")
    pub.add_client("never")  # joins and never takes a single packet
    pub.add_client("ok")
    pub.tick()
    stuck, ok = Replica(), Replica()
    stuck.receive(pub.packets_for("stuck")[0])  # its acknowledgements never arrive
    pump(pub, "ok", ok)

    def run(ticks: int, start: int) -> None:
        for t in range(start, start + ticks):
            root[t % 40]["x"] = t
            root[f"k{t % 5}"] = t
            pub.tick()
            pump(pub, "ok", ok)

    run(300, 0)
    gc.collect()
    tracemalloc.start()
    try:
        run(200, 300)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        run(1500, 500)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 32 * 1024, after - before
    assert len(pub._ring) == 8
    held = pub._clients["stuck"]
    assert held.private is not None
    assert held.snap is None
    assert len(held.private) <= len(root)
    packets = pub.packets_for("stuck")
    assert len(packets) == 1
    assert len(packets[0]) <= len(CborCodec().encode(root.snapshot())) + 8
    stuck.receive(packets[0])
    assert_strict_equal(stuck.state, root)
    [snapshot] = pub.packets_for("never")
    assert snapshot[0] == 0x11
    never = Replica()
    never.receive(snapshot)
    assert_strict_equal(never.state, root)
    assert_strict_equal(ok.state, root)


# -- the proof: a simulated network ---------------------------------------------------------------


def is_even(key: Any) -> bool:
    return type(key) is int and key % 2 == 0


PUBLIC = View(("players", ANY, "pos"), ("players", ANY, "hp"), ("meta",))
PALETTE: list[View | None] = [
    None,
    View(),
    PUBLIC,
    PUBLIC | View(("players", 0, "inv"), ("players", 0, "secret")),
    PUBLIC | View(("players", 1, "inv"), ("players", 1, "secret")),
    near(0),
    near(3),
    View(("players", is_even), ("chunks", ANY, "b")),
]
VIEWS = st.sampled_from(PALETTE)
CLIENTS = st.integers(0, 2)
PLAYERS = st.integers(0, 3)
CHUNKS = st.tuples(st.integers(0, 4), st.integers(0, 2))
SMALL = st.one_of(st.integers(-2, 2), st.sampled_from([0.5, -0.0, "s", b"b", None, True]))
#: What the network does to one packet: deliver it, lose it, deliver it twice, or hold it back.
FAULTS = st.sampled_from(["ok", "ok", "ok", "drop", "dup", "later"])
MOVES = st.sampled_from(
    ["move", "hit", "loot", "take", "secret", "spawn", "despawn", "scalar", "respawn", "chunk",
     "unchunk", "round"]
)  # fmt: skip


def new_player(n: int) -> dict[str, Any]:
    return {"pos": (n, n), "hp": 10, "inv": [n], "secret": {"code": n}}


class Network(RuleBasedStateMachine):
    """A publisher, up to three clients, and the links between them."""

    def __init__(self) -> None:
        super().__init__()
        self.root = DataHandler(
            {
                "players": {0: new_player(0), 1: new_player(1)},
                "chunks": {(x, y): {"b": bytes([x, y])} for x in range(3) for y in range(2)},
                "meta": {"round": 0},
            }
        )
        self.pub = Publisher(self.root, history=2)
        #: The source's snapshot at every frame, and each client's view at every frame.
        self.frames: dict[int, dict[Any, Any]] = {0: self.root.snapshot()}
        self.views: dict[tuple[int, int], View | None] = {}
        self.replicas: dict[int, Replica] = {}
        self.connected: set[int] = set()
        self.blocked: set[int] = set()
        self.down: dict[int, list[bytes]] = {}
        self.up: dict[int, list[bytes]] = {}

    @initialize(views=st.lists(VIEWS, min_size=1, max_size=3))
    def start(self, views: list[View | None]) -> None:
        for client, view in enumerate(views):
            self.connect(client, view, fresh=True)

    # -- clients --

    @rule(client=CLIENTS, view=VIEWS, fresh=st.booleans())
    def connect(self, client: int, view: View | None, fresh: bool) -> None:
        """A client joins, late; or comes back, with its old replica or a new one."""
        if client in self.connected:
            return
        if fresh or client not in self.replicas:
            self.replicas[client] = Replica()
        self.pub.add_client(client, view)
        self.connected.add(client)
        self.down[client] = []
        self.up[client] = []

    @rule(client=CLIENTS)
    def disconnect(self, client: int) -> None:
        if client in self.connected:
            self.pub.remove_client(client)
            self.connected.discard(client)
            self.blocked.discard(client)
            self.down[client] = []
            self.up[client] = []

    @rule(client=CLIENTS, view=VIEWS)
    def change_view(self, client: int, view: View | None) -> None:
        if client in self.connected:
            self.pub.set_view(client, view)

    @rule(client=CLIENTS, slow=st.booleans())
    def slow_down(self, client: int, slow: bool) -> None:
        """The client's transport cannot take packets (or can again)."""
        if slow:
            self.blocked.add(client)
        else:
            self.blocked.discard(client)

    @rule(client=CLIENTS)
    def ask_refresh(self, client: int) -> None:
        if client in self.connected:
            replica = self.replicas[client]
            replica.request_refresh()
            self._reply(client)

    # -- the game --

    @rule(
        moves=st.lists(st.tuples(MOVES, PLAYERS, SMALL, CHUNKS), min_size=1, max_size=4),
        data=st.data(),
    )
    def play(self, moves: list[tuple[str, int, Any, tuple[int, int]]], data: st.DataObject) -> None:
        """One game tick: a few moves, then the publisher's tick."""
        players = self.root["players"]
        chunks = self.root["chunks"]
        for move, player, value, chunk in moves:
            entity = players.get(player)
            alive = isinstance(entity, DataHandler)
            if move == "move" and alive:
                entity["pos"] = (entity["pos"][0] + 1, value)
            elif move == "hit" and alive:
                entity["hp"] = value
            elif move == "loot" and alive:
                entity["inv"].append(value)
            elif move == "take" and alive and entity["inv"]:
                entity["inv"].pop(0)
            elif move == "secret" and alive:
                entity["secret"] = {"code": value}
            elif move == "spawn" and player not in players:
                players[player] = new_player(player)
            elif move == "despawn":
                players.pop(player, None)
            elif move == "scalar":
                players[player] = value  # not a mapping, where views look deeper
            elif move == "respawn":
                players.pop(player, None)
                players[player] = new_player(player + 10)
            elif move == "chunk":
                if isinstance(chunks.get(chunk), DataHandler):
                    chunks[chunk]["b"] = value
                else:
                    chunks[chunk] = {"b": value}
            elif move == "unchunk":
                chunks.pop(chunk, None)
            elif move == "round":
                self.root["meta"]["round"] += 1
        self.tick(data)

    # -- the network --

    @rule(data=st.data())
    def tick(self, data: st.DataObject) -> None:
        frame = self.pub.tick()
        self.frames[frame] = self.root.snapshot()
        for client in sorted(self.connected):
            self.views[client, frame] = self.pub.view(client)
            if client not in self.blocked:
                self.down[client].extend(self.pub.packets_for(client))
        if data.draw(st.booleans(), label="deliver now"):
            self.deliver(data)

    @rule(client=CLIENTS)
    def drain(self, client: int) -> None:
        if client in self.connected and client not in self.blocked:
            self.down[client].extend(self.pub.packets_for(client))

    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        """Every packet in flight meets its fate, in an order the network chooses."""
        for client in sorted(self.connected):
            for queue, send in ((self.down, True), (self.up, False)):
                packets = queue[client]
                queue[client] = []
                order = data.draw(st.permutations(range(len(packets))), label="order")
                for index in order:
                    fault = data.draw(FAULTS, label="fault")
                    if fault == "later":
                        queue[client].append(packets[index])
                    elif fault != "drop":
                        self._arrive(client, packets[index], send)
                        if fault == "dup":
                            self._arrive(client, packets[index], send)
                        if send and data.draw(st.booleans(), label="reply now"):
                            self._reply(client)

    @rule(client=CLIENTS, index=st.integers(0, 3), down=st.booleans())
    def deliver_one(self, client: int, index: int, down: bool) -> None:
        """One packet overtakes the others."""
        queue = (self.down if down else self.up).get(client)
        if queue:
            self._arrive(client, queue.pop(index % len(queue)), down)
            self._reply(client)

    def _arrive(self, client: int, packet: bytes, down: bool) -> None:
        if client not in self.connected:
            return
        if down:
            self.replicas[client].receive(packet)
        else:
            self.pub.receive(client, packet)

    @rule(client=CLIENTS)
    def reply(self, client: int) -> None:
        """The replica sends what it has to say (its requests and acks coalesce until then)."""
        if client in self.replicas:
            self._reply(client)

    def _reply(self, client: int) -> None:
        reply = self.replicas[client].packet_to_send()
        if reply is not None and client in self.connected:
            self.up[client].append(reply)

    # -- what must hold --

    @invariant()
    def replicas_hold_the_frame_they_claim(self) -> None:
        for client, replica in self.replicas.items():
            frame = replica.frame
            if frame is None:
                assert replica.state == {}
                continue
            view = self.views[client, frame]
            snapshot = self.frames[frame]
            assert_strict_equal(replica.state, snapshot if view is None else view.project(snapshot))

    def _flush(self) -> None:
        for client in sorted(self.connected):
            while self.down[client]:
                self._arrive(client, self.down[client].pop(0), True)
                self._reply(client)
        for client in sorted(self.connected):
            while self.up[client]:
                self._arrive(client, self.up[client].pop(0), False)

    def _round(self) -> None:
        frame = self.pub.tick()
        self.frames[frame] = self.root.snapshot()
        for client in sorted(self.connected):
            self.views[client, frame] = self.pub.view(client)
            self.down[client].extend(self.pub.packets_for(client))
        self._flush()

    def teardown(self) -> None:
        # The faults stop: the slow clients catch up, whatever is in flight arrives in order.
        self.blocked.clear()
        self._flush()
        # One recovery round trip: a frame whose packets reveal any gap, the replicas'
        # requests going up, a frame whose packets answer them.
        self._round()
        self._round()
        self.replicas_hold_the_frame_they_claim()
        snapshot = self.root.snapshot()
        for client in self.connected:
            view = self.pub.view(client)
            replica = self.replicas[client]
            assert replica.frame == self.pub.frame
            assert_strict_equal(replica.state, snapshot if view is None else view.project(snapshot))


Network.TestCase.settings = settings(Network.TestCase.settings, stateful_step_count=100)
test_network = Network.TestCase


# -- records: their schemas travel with the packets that need them -------------------------------


@flatsync.record(name="SMob")
class Mob(Record):
    kind: str
    hp: int


@flatsync.record(name="SImp")
class Imp(Record):
    name: str
    pos: tuple[int, int]
    loot: list[Any] = attrs.field(factory=list)


def reply_of(replica: Replica) -> bytes:
    packet = replica.packet_to_send()
    assert packet is not None
    return packet


def deliver(packets: list[bytes], replica: Replica, *lacking: str) -> list[Any]:
    """Hand ``packets`` to ``replica``, in a process that lacks the classes ``lacking``."""
    events: list[Any] = []
    with forget_records(*lacking):
        for packet in packets:
            events.extend(replica.receive(packet))
    return events


#: The schema table of SMob (id 21014, varint 96 a4 01) and of SImp (41770, aa c6 02).
MOB_TABLE = "01 96 a4 01 04 53 4d 6f 62 02 04 6b 69 6e 64 02 68 70"
IMP_TABLE = "01 aa c6 02 04 53 49 6d 70 03 04 6e 61 6d 65 03 70 6f 73 04 6c 6f 6f 74"


def test_a_replica_without_the_class_gets_mappings_with_the_field_names() -> None:
    root = DataHandler({1: Mob("zombie", 20)})
    pub = Publisher(root, session=SESSION)
    pub.add_client("lacks")
    pub.add_client("has")
    pub.tick()
    lacks, has = Replica(), Replica()
    [snapshot] = pub.packets_for("lacks")
    # 19: a snapshot with a schema table; frame 1; the session; SMob's schema; then the payload,
    # where the record is tag 11 around [21014 (19 52 16), "zombie", 20].
    payload = "a1 01 cb 83 19 52 16 66 7a 6f 6d 62 69 65 14"
    assert snapshot.hex(" ") == f"19 01 00 01 02 03 04 05 06 07 {MOB_TABLE} {payload}"
    assert pub.packets_for("has") == [snapshot]
    deliver([snapshot], lacks, "SMob")
    deliver([snapshot], has)
    view = lacks.state[1]
    assert type(view) is RecordView
    assert (view.record_name, dict(view), view.readonly) == (
        "SMob",
        {"kind": "zombie", "hp": 20},
        True,
    )
    assert lacks.schemas == {21014: ("SMob", ("kind", "hp"))}
    assert type(has.state[1]) is Mob
    assert has.state[1] == Mob("zombie", 20)
    assert has.state[1].readonly

    # A client that has the schemas: the delta does not grow by a byte, and is shared.
    root[1].hp = 19
    pub.tick()
    [delta] = pub.packets_for("lacks")
    assert delta.hex(" ") == "10 02 01 a1 01 cc a1 01 13"
    assert pub.packets_for("has")[0] is delta
    assert deliver([delta], lacks, "SMob")[0] == Changed(path=(1, "hp"), old=20, new=19)
    deliver([delta], has)

    # A record of another class appears: its schema comes along, and only its.
    root[2] = Imp("imp", (1, 2), ["gem"])
    pub.tick()
    [delta] = pub.packets_for("lacks")
    assert delta.hex(" ") == (
        f"18 03 01 {IMP_TABLE} a1 02 cb 84 19 a3 2a 63 69 6d 70 82 01 02 c8 81 63 67 65 6d"
    )
    deliver([delta], lacks, "SMob", "SImp")
    deliver(pub.packets_for("has"), has)
    imp = lacks.state[2]
    assert type(imp) is RecordView
    assert dict(imp) == {"name": "imp", "pos": (1, 2), "loot": ["gem"]}
    assert type(has.state[2]) is Imp

    # Edits deep inside: no schema, views follow.
    root[2].loot.append("bone")
    root[3] = Mob("spider", 5)
    pub.tick()
    [delta] = pub.packets_for("lacks")
    assert delta[0] == 0x10
    deliver([delta], lacks, "SMob", "SImp")
    deliver(pub.packets_for("has"), has)
    assert lacks.state[2]["loot"] == ["gem", "bone"]
    assert dict(lacks.state[3]) == {"kind": "spider", "hp": 5}
    for replica in (lacks, has):
        assert_strict_equal(replica.state, root)


def test_a_schema_whose_packet_was_lost_comes_again() -> None:
    root = DataHandler({"x": 0})
    pub = Publisher(root, session=SESSION)
    pub.add_client("a")
    pub.tick()
    replica = Replica()
    deliver(pub.packets_for("a"), replica)
    replica.packet_to_send()
    root["m"] = Mob("bat", 3)
    pub.tick()
    [lost] = pub.packets_for("a")
    assert lost[0] == 0x18
    root["x"] = 1
    pub.tick()
    [gap] = pub.packets_for("a")
    assert gap.hex(" ") == "10 03 01 a1 61 78 01"  # built on frame 2: no schema
    assert deliver([gap], replica, "SMob") == [FrameDropped(frame=3, base=2, reason="gap")]
    pub.receive("a", reply_of(replica))
    [answer] = pub.packets_for("a")  # from frame 1, which the schema's packet left behind
    assert answer.hex(" ").startswith(f"1d 03 02 {SESSION.hex(' ')} {MOB_TABLE} ")
    deliver([answer], replica, "SMob")
    assert dict(replica.state["m"]) == {"kind": "bat", "hp": 3}
    assert_strict_equal(replica.state, root)
    # A new replica for the same client gets the schema in its snapshot.
    fresh = Replica()
    pub.request_snapshot("a")
    pub.tick()
    [snapshot] = pub.packets_for("a")
    assert snapshot.hex(" ").startswith(f"19 04 00 01 02 03 04 05 06 07 {MOB_TABLE} ")
    deliver([snapshot], fresh, "SMob")
    assert dict(fresh.state["m"]) == {"kind": "bat", "hp": 3}


def test_only_packets_built_before_the_schema_was_sent_carry_it_again() -> None:
    root = DataHandler({"x": 0})
    pub = Publisher(root, session=SESSION)
    pub.add_client("a")
    pub.tick()
    replica = Replica()
    deliver(pub.packets_for("a"), replica)
    root["x"] = 1
    pub.tick()
    [first] = pub.packets_for("a")  # frame 2: no record yet
    root["m"] = Mob("bat", 3)
    pub.tick()
    [lost] = pub.packets_for("a")  # frame 3, with the schema: lost
    assert lost[0] == 0x18
    deliver([first], replica)
    pub.receive("a", reply_of(replica))  # it holds 2
    root["x"] = 2
    pub.tick()
    [built_on_3] = pub.packets_for("a")  # whoever holds frame 3 has the schema
    assert built_on_3.hex(" ") == "10 04 01 a1 61 78 02"
    assert deliver([built_on_3], replica, "SMob") == [FrameDropped(frame=4, base=3, reason="gap")]
    pub.receive("a", reply_of(replica))
    [answer] = pub.packets_for("a")  # 2 -> 4: it crosses frame 3, so it carries the schema
    assert answer.hex(" ").startswith(f"1d 04 02 {SESSION.hex(' ')} {MOB_TABLE} ")
    deliver([answer], replica, "SMob")
    assert dict(replica.state["m"]) == {"kind": "bat", "hp": 3}
    root["m"].hp = 2
    root["n"] = Mob("rat", 1)
    pub.tick()
    [after] = pub.packets_for("a")  # built on 4: every way to frame 4 brought the schema
    assert after[0] == 0x10
    deliver([after], replica, "SMob")
    assert dict(replica.state["n"]) == {"kind": "rat", "hp": 1}
    assert_strict_equal(replica.state, root)


def test_a_schema_that_contradicts_a_registered_class_is_refused() -> None:
    replica = Replica()
    replica.receive(bytes.fromhex("11 01 00 01 02 03 04 05 06 07 a1 61 78 01"))
    before = replica.packet_to_send()
    # The publisher's SMob has one field, "kind"; this process's has two.
    table = "01 96 a4 01 04 53 4d 6f 62 01 04 6b 69 6e 64"
    packet = bytes.fromhex(f"18 02 01 {table} a1 61 6d cb 82 19 52 16 63 62 61 74")
    with pytest.raises(PatchError, match=r"record 'SMob' \(id 21014\) has the fields \('kind',\)"):
        replica.receive(packet)
    assert (replica.frame, replica.schemas, replica.packet_to_send()) == (1, {}, None)
    assert replica.state == {"x": 1}
    assert before == bytes.fromhex("12 01")


def test_a_packet_that_does_not_fit_teaches_no_schema() -> None:
    replica = Replica()
    replica.receive(bytes.fromhex("11 01 00 01 02 03 04 05 06 07 a1 61 78 01"))
    # A schema of a record this process lacks, with one field; the snapshot holds two values.
    table = "01 05 01 41 01 01 61"
    with pytest.raises(
        PatchError, match=r"root\['m'\]: record 'A' has 1 fields, the snapshot holds 2"
    ):
        replica.receive(bytes.fromhex(f"18 02 01 {table} a1 61 6d cb 83 05 01 02"))
    assert (replica.frame, replica.schemas, replica.state) == (1, {}, {"x": 1})
    assert replica.packet_to_send() == bytes.fromhex("14 00")  # a refresh, please
    with pytest.raises(PatchError, match="has 1 fields"):  # the same in a snapshot
        replica.receive(
            bytes.fromhex(f"19 03 00 01 02 03 04 05 06 07 {table} a1 61 6d cb 83 05 01 02")
        )
    assert (replica.frame, replica.schemas, replica.state) == (1, {}, {"x": 1})
    with pytest.raises(PatchError, match="record id 5 is unknown here"):
        replica.receive(bytes.fromhex("10 02 01 a1 61 6d cb 82 05 01"))
    replica.receive(bytes.fromhex(f"18 02 01 {table} a1 61 6d cb 82 05 01"))
    assert dict(replica.state["m"]) == {"a": 1}
    assert replica.schemas == {5: ("A", ("a",))}


@given(st.binary(max_size=40))
@settings(max_examples=300)
def test_hostile_schema_tables_raise_frame_error_or_parse(table: bytes) -> None:
    replica = Replica()
    replica.receive(bytes.fromhex("11 01 00 01 02 03 04 05 06 07 a1 61 78 01"))
    try:
        replica.receive(bytes.fromhex("18 02 01") + table + bytes.fromhex("a0"))
    except flatsync.FlatsyncError:
        assert (replica.frame, replica.schemas, replica.state) == (1, {}, {"x": 1})
    else:
        assert replica.frame == 2


RECORD_MOVES = st.sampled_from(["mob", "imp", "hit", "loot", "gone", "player imp", "player mob"])
RECORD_VIEWS = st.sampled_from(
    [None, View(("mobs",)), View(("mobs", is_even), ("players", ANY, "pos")), PUBLIC]
)


class RecordNetwork(Network):
    """The network machine, with records in the state, and clients that lack their classes.

    Client 0's process has both record classes, client 1's lacks SImp, client 2's
    lacks both (their schemas too): what they learn of records comes from the
    publisher's schema tables, through the same loss, duplication, reordering,
    reconnections and view changes. Besides the base machine's checks, every
    record of a replica must be an instance of its class where the client has it,
    and a read-only mapping with the class's field names where it does not.
    """

    LACKS: ClassVar[dict[int, tuple[str, ...]]] = {0: (), 1: ("SImp",), 2: ("SMob", "SImp")}

    def __init__(self) -> None:
        super().__init__()
        # No record yet: a record class first shows in a delta, whose loss matters.
        self.root["mobs"] = {}
        # A longer ring than the base machine's: lost packets are answered by catch-up
        # deltas more often than by snapshots.
        self.pub = Publisher(self.root, history=8)
        self.frames[0] = self.root.snapshot()

    # Views that show records more often than the base machine's palette does.

    @initialize(views=st.lists(RECORD_VIEWS, min_size=1, max_size=3))
    def start(self, views: list[View | None]) -> None:
        super().start(views)

    @rule(client=CLIENTS, view=RECORD_VIEWS, fresh=st.booleans())
    def connect(self, client: int, view: View | None, fresh: bool) -> None:
        super().connect(client, view, fresh)

    @rule(client=CLIENTS, view=RECORD_VIEWS)
    def change_view(self, client: int, view: View | None) -> None:
        super().change_view(client, view)

    @rule(data=st.data())
    def tick(self, data: st.DataObject) -> None:
        """Every tick changes records too, so that schema tables meet every fault."""
        moves = data.draw(st.lists(st.tuples(RECORD_MOVES, st.integers(0, 4), st.integers(0, 9)), max_size=3), label="records")  # fmt: skip
        for move in moves:
            self.records(*move)
        super().tick(data)

    @rule(move=RECORD_MOVES, key=st.integers(0, 4), value=st.integers(0, 9))
    def records(self, move: str, key: int, value: int) -> None:
        mobs = self.root["mobs"]
        current = mobs.get(key)
        if move == "mob":
            mobs[key] = Mob(f"m{value}", value)
        elif move == "imp":
            mobs[key] = Imp(f"i{value}", (key, value))
        elif move == "hit" and isinstance(current, Mob):
            current.hp = value
        elif move == "loot" and isinstance(current, Imp):
            current.loot.append(value)
        elif move == "gone":
            mobs.pop(key, None)
        elif move == "player imp":
            self.root["players"][key] = Imp("p", (key, value))
        elif move == "player mob":
            self.root["players"][key] = Mob("p", value)

    def _arrive(self, client: int, packet: bytes, down: bool) -> None:
        if down:
            with forget_records(*self.LACKS[client]):
                super()._arrive(client, packet, down)
        else:
            super()._arrive(client, packet, down)

    @invariant()
    def records_are_typed_or_named_mappings(self) -> None:
        classes: dict[str, Any] = {"SMob": Mob, "SImp": Imp}
        for client, replica in self.replicas.items():
            stack: list[Any] = [replica.state]
            while stack:
                node = stack.pop()
                if isinstance(node, Record):
                    name = node._name()
                    cls = classes[name]
                    if name in self.LACKS[client]:
                        assert type(node) is RecordView
                        assert tuple(node) == cls.__flatsync_record__.fields
                    else:
                        assert type(node) is cls
                    assert node.readonly
                    stack.extend(node._values())
                elif isinstance(node, dict):
                    stack.extend(node.values())


RecordNetwork.TestCase.settings = settings(Network.TestCase.settings, stateful_step_count=60)
test_record_network = RecordNetwork.TestCase
