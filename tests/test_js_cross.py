"""Python and JavaScript, both ways: a Python publisher with a JS replica, a JS publisher
with a Python replica, through random mutation sequences, strictly equal after every tick.

The JavaScript side is ``js/test/cross/peer.ts`` (built by this module's fixture
with the package's own TypeScript), a subprocess that takes one JSON command a
line on stdin and answers one a line on stdout; states travel in the
type-tagged form of ``vectors/`` (types and float bits included). Packets can be
lost on the way, so resync answers and snapshots cross the language border too.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flatsync
from flatsync._tree._records import _record_id
from flatsync.protocol import DELETED, Marker, record_schemas
from flatsync.testing import strict_equal

JS = Path(__file__).resolve().parent.parent / "js"


@flatsync.record(name="cross.Mob")
class Mob:
    """A record in the random states (its fields hold any value)."""

    kind: Any
    hp: Any


MOB_ID = next(rid for rid, (name, _) in record_schemas().items() if name == "cross.Mob")
MOB_SCHEMAS = [[MOB_ID, "cross.Mob", ["kind", "hp"]]]
PEER = JS / "build" / "test" / "cross" / "peer.js"


def tagged(tree: Any) -> Any:
    """The type-tagged form of a protocol tree (as ``vectors/generate.py`` writes it)."""
    if tree is None:
        return ["none"]
    if tree is DELETED:
        return ["deleted"]
    if isinstance(tree, flatsync.Record):
        return tagged(tree.snapshot())
    t = type(tree)
    simple = {bool: "bool", str: "str"}
    if t in simple:
        return [simple[t], tree]
    if t is int:
        return ["int", str(tree)]
    if t is float:
        return ["float", struct.pack(">d", tree).hex()]
    if t is bytes:
        return ["bytes", tree.hex()]
    if t is tuple or t is list:
        return ["tuple" if t is tuple else "list", [tagged(item) for item in tree]]
    if t is dict:
        return ["dict", [[tagged(k), tagged(v)] for k, v in tree.items()]]
    assert isinstance(tree, Marker), t
    return ["marker", tree.marker_id, tagged(tree.content())]


class Peer:
    """The JavaScript peer process."""

    def __init__(self) -> None:
        node = need_program("node", "nodejs")
        self.process = subprocess.Popen(
            [node, str(PEER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def __call__(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the JavaScript peer ended"
        answer: dict[str, Any] = json.loads(line)
        assert "crash" not in answer, answer["crash"]
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:  # pragma: no cover - only if it hangs
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()


def need_program(program: str, package: str) -> str:
    """The path of ``program``, installed from Debian's ``package`` by scripts/_system.sh if
    it is missing (which fails loudly when it cannot)."""
    found = shutil.which(program)
    if found is None:
        script = JS.parent / "scripts" / "_system.sh"
        subprocess.run(
            ["bash", "-c", f'source "{script}" && _flatsync_need_program {program} {package}'],
            check=True,
        )
        found = shutil.which(program)
    assert found is not None, f"{program} is missing (Debian: {package})"
    return found


def _build() -> None:
    need_program("node", "nodejs")
    npm = need_program("npm", "npm")
    if not (JS / "node_modules").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS, check=True
        )
    subprocess.run(
        [str(JS / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"], cwd=JS, check=True
    )


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    _build()
    process = Peer()
    try:
        yield process
    finally:
        process.close()


# -- random mutations, the same on both sides ------------------------------------------------

NAN_PAYLOAD = struct.unpack(">d", bytes.fromhex("7ff8000000000123"))[0]

keys = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([1.0, 2.5, -0.0, True, False, None, b"k", "k", "1", "~x", "__proto__"]),
    st.tuples(st.integers(0, 2), st.sampled_from([1.0, "a", None])),
)
scalars = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-300, 300),
    st.sampled_from(
        [0.5, -0.0, 0.0, 1.0, 1e16, 1e-7, float("inf"), float("nan"), NAN_PAYLOAD, 2.0**60]
    ),
    st.floats(allow_nan=False, width=64),
    st.text(max_size=4),
    st.binary(max_size=3),
    st.sampled_from([None, True, False]),
)
values = st.one_of(
    scalars,
    st.tuples(scalars, scalars),
    st.dictionaries(st.sampled_from(["x", "y", 7]), scalars, max_size=2),
)
ROOT_KEYS = st.one_of(keys, st.sampled_from(["hp", "pos"]))


def _initial() -> dict[str, Any]:
    return {
        "m": {"a": 1},
        "l": [1, "two"],
        "b": flatsync.ByteHandler("u16", (2, 3)),
        "f": flatsync.ByteHandler("f64", (3,)),
        "r": Mob("bat", 3),
    }


#: The root's keys that hold the containers the operations reach into.
FIXED = ("m", "l", "b", "f", "r")


KINDS = ("root", "root", "m", "m", "del", "list", "list", "board", "float", "record")


@st.composite
def tick_ops(
    draw: st.DrawFn, model: flatsync.DataHandler, kinds: tuple[str, ...] = KINDS, most: int = 4
) -> list[tuple[Any, ...]]:
    """A few operations on ``model`` (applied to it here), as ``(name, path, a, b)``."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(0, most))):
        kind = draw(st.sampled_from(kinds))
        if kind in ("root", "m"):
            path: tuple[Any, ...] = () if kind == "root" else ("m",)
            key = draw(ROOT_KEYS if kind == "root" else keys)
            if key in FIXED:
                continue
            value = draw(values)
            target = model if kind == "root" else model["m"]
            target[key] = value
            ops.append(("set", path, key, value))
        elif kind == "del":
            target = model["m"] if draw(st.booleans()) else model
            removable = [k for k in target if k not in FIXED]
            if removable:
                key = draw(st.sampled_from(removable))
                del target[key]
                ops.append(("del", () if target is model else ("m",), key, None))
        elif kind == "list":
            bag = model["l"]
            action = draw(st.sampled_from(["insert", "lset", "ldel", "splice", "push", "nested"]))
            inner = [i for i, item in enumerate(bag) if isinstance(item, flatsync.DataHandler)]
            if action == "splice":
                start = draw(st.integers(0, len(bag)))
                stop = draw(st.integers(start, len(bag)))
                new = draw(st.lists(values, max_size=3))
                bag[start:stop] = new
                ops.append(("splice", ("l",), [start, stop - start], new))
            elif action == "push":
                new = draw(st.lists(values, min_size=1, max_size=3))
                if len(new) == 1:
                    bag.append(new[0])
                else:
                    bag.extend(new)
                ops.append(("push", ("l",), None, new))
            elif action == "nested" and inner:
                index = draw(st.sampled_from(inner))
                field: Any = draw(st.sampled_from(["x", "y", 7]))
                scalar = draw(scalars)
                bag[index][field] = scalar
                ops.append(("set", ("l", index), field, scalar))
            elif action in ("insert", "nested") or not bag:
                index = draw(st.integers(0, len(bag)))
                value = draw(scalars)
                bag.insert(index, value)
                ops.append(("insert", ("l",), index, value))
            elif action == "lset":
                index = draw(st.integers(0, len(bag) - 1))
                value = draw(values)
                bag[index] = value
                ops.append(("lset", ("l",), index, value))
            else:
                index = draw(st.integers(0, len(bag) - 1))
                del bag[index]
                ops.append(("ldel", ("l",), index, None))
        elif kind == "record" and draw(st.booleans()):
            field = draw(st.sampled_from(["kind", "hp"]))
            value = draw(values)
            setattr(model["r"], field, value)
            ops.append(("rset", ("r",), field, value))
        elif kind == "record":
            key = draw(ROOT_KEYS)
            if key in FIXED:
                continue
            mob = Mob(draw(st.text(max_size=3)), draw(scalars))
            model[key] = mob
            ops.append(("set", (), key, mob))
        elif kind == "board":
            index = draw(st.integers(0, 5))
            value = draw(st.integers(0, 2**16 - 1))
            model["b"][divmod(index, 3)] = value
            ops.append(("board", ("b",), index, value))
        else:
            index = draw(st.integers(0, 2))
            value = draw(st.sampled_from([0.5, -0.0, 1.0, float("inf"), 1e300]))
            model["f"][index] = value
            ops.append(("board", ("f",), index, value))
    return ops


def _wire(op: tuple[Any, ...]) -> list[Any]:
    name, path, a, b = op
    if name in ("splice", "push"):
        return [name, [tagged(step) for step in path], a, [tagged(value) for value in b]]
    return [
        name,
        [tagged(step) for step in path],
        tagged(a) if name in ("set", "del") else a,
        None if b is None and name in ("del", "ldel") else tagged(b),
    ]


CODECS = {"cbor": flatsync.CborCodec(), "json": flatsync.JsonCodec(use_orjson=False)}
PROFILE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("codec_name", ["cbor", "json"])
@PROFILE
@given(data=st.data())
def test_python_publisher_js_replica(peer: Peer, codec_name: str, data: st.DataObject) -> None:
    """A JS replica of a Python publisher equals a Python replica fed the same packets."""
    codec = CODECS[codec_name]
    root = flatsync.DataHandler(_initial())
    publisher = flatsync.Publisher(root, codec=codec, session=bytes(range(8)))
    publisher.add_client("c")
    replica = flatsync.Replica(codec=codec)
    peer(cmd="replica", codec=codec_name)
    for _ in range(data.draw(st.integers(1, 12))):
        data.draw(tick_ops(root))
        publisher.tick()
        for packet in publisher.packets_for("c"):
            if data.draw(st.integers(0, 9)) == 0:
                continue  # lost on the way
            results = replica.receive(packet)
            answer = peer(cmd="receive", hex=packet.hex())
            assert answer["error"] is None
            last = results[-1]
            if isinstance(last, flatsync.FrameApplied):
                assert answer["outcome"] == {"applied": last.frame}
            else:
                assert isinstance(last, flatsync.FrameDropped)
                assert answer["outcome"] == {"dropped": last.reason}
            reply = replica.packet_to_send()
            assert answer["reply"] == (None if reply is None else reply.hex())
            assert answer["frame"] == replica.frame
            assert answer["state"] == tagged(replica.state.snapshot())
            if reply is not None:
                publisher.receive("c", reply)
        if replica.frame == publisher.frame:
            assert strict_equal(replica.state, root)


@pytest.mark.parametrize("codec_name", ["cbor", "json"])
@PROFILE
@given(data=st.data())
def test_js_publisher_python_replica(peer: Peer, codec_name: str, data: st.DataObject) -> None:
    """A Python replica of a JS publisher equals the Python model of the JS source."""
    codec = CODECS[codec_name]
    model = flatsync.DataHandler(_initial())
    peer(
        cmd="publisher",
        codec=codec_name,
        session="0102030405060708",
        state=tagged(model.snapshot()),
        schemas=MOB_SCHEMAS,
    )
    model.commit()
    replica = flatsync.Replica(codec=codec)
    for _ in range(data.draw(st.integers(1, 12))):
        ops = data.draw(tick_ops(model))
        model.commit()
        answer = peer(cmd="tick", ops=[_wire(op) for op in ops])
        assert answer["state"] == tagged(model.snapshot())
        for packet in answer["packets"]:
            if data.draw(st.integers(0, 9)) == 0:
                continue  # lost on the way
            replica.receive(bytes.fromhex(packet))
            reply = replica.packet_to_send()
            if reply is not None:
                peer(cmd="reply", hex=reply.hex())
            if replica.frame:  # the JS publisher sent the schema of the record it holds
                assert replica.schemas[MOB_ID] == ("cross.Mob", ("kind", "hp"))
        if replica.frame == answer["frame"]:
            assert strict_equal(replica.state, model)


def _compare_and_deliver(
    peer: Peer,
    python: flatsync.Publisher,
    replicas: dict[str, flatsync.Replica],
    answer: dict[str, Any],
    drain: list[str],
    data: st.DataObject,
) -> None:
    """Each drained client's packets: the JS publisher's (``answer``) must be Python's,
    byte for byte; each reaches its Python replica unless drawn lost, and the replica's
    reply goes back to both publishers."""
    for name in drain:
        expected = python.packets_for(name)
        assert answer["packets"][name] == [packet.hex() for packet in expected], name
        for packet in expected:
            if data.draw(st.integers(0, 9)) == 0:
                continue  # lost on the way
            replicas[name].receive(packet)
            reply = replicas[name].packet_to_send()
            if reply is not None:
                python.receive(name, reply)
                peer(cmd="reply", hex=reply.hex(), client=name)


@pytest.mark.parametrize("codec_name", ["cbor", "json"])
@PROFILE
@given(data=st.data())
def test_js_publisher_sends_python_publisher_bytes(
    peer: Peer, codec_name: str, data: st.DataObject
) -> None:
    """For the same history, a JS publisher's packets are a Python publisher's, byte for byte.

    Client "a" is drained every tick, client "c" only now and then, so it misses
    frames and gets their merge (or a snapshot, once the merge outgrows one);
    packets get lost, so both publishers answer the same resync and refresh
    requests. The Python replicas end equal to the source.
    """
    codec = CODECS[codec_name]
    model = flatsync.DataHandler(_initial())
    clients = ["a", "c"]
    peer(
        cmd="publisher",
        codec=codec_name,
        session="0102030405060708",
        state=tagged(model.snapshot()),
        schemas=MOB_SCHEMAS,
        clients=clients,
    )
    python = flatsync.Publisher(model, codec=codec, session=bytes.fromhex("0102030405060708"))
    replicas = {name: flatsync.Replica(codec=codec) for name in clients}
    for name in clients:
        python.add_client(name)
    for _ in range(data.draw(st.integers(1, 14))):
        ops = data.draw(tick_ops(model))
        drain = ["a"] + (["c"] if data.draw(st.integers(0, 3)) == 0 else [])
        python.tick()
        answer = peer(cmd="tick", ops=[_wire(op) for op in ops], drain=drain)
        _compare_and_deliver(peer, python, replicas, answer, drain, data)
    for name in clients:
        if replicas[name].frame == python.frame:
            assert strict_equal(replicas[name].state, model)


@pytest.mark.parametrize("codec_name", ["cbor", "json"])
@PROFILE
@given(data=st.data())
def test_js_list_deltas_are_python_bytes(peer: Peer, codec_name: str, data: st.DataObject) -> None:
    """Many list operations a tick (inserts, writes into them, deletes, slices, nested
    edits): a TrackedList's splices are a ListHandler's, byte for byte."""
    codec = CODECS[codec_name]
    model = flatsync.DataHandler(_initial())
    peer(
        cmd="publisher",
        codec=codec_name,
        session="0102030405060708",
        state=tagged(model.snapshot()),
        schemas=MOB_SCHEMAS,
        clients=["a"],
    )
    python = flatsync.Publisher(model, codec=codec, session=bytes.fromhex("0102030405060708"))
    python.add_client("a")
    for _ in range(data.draw(st.integers(1, 8))):
        ops = data.draw(tick_ops(model, ("list",), 12))
        python.tick()
        answer = peer(cmd="tick", ops=[_wire(op) for op in ops], drain=["a"])
        assert answer["packets"]["a"] == [packet.hex() for packet in python.packets_for("a")]


# -- views -------------------------------------------------------------------------------


def _even(key: Any) -> bool:
    return type(key) is int and key % 2 == 0


def _text(key: Any) -> bool:
    return type(key) is str


PREDICATES = {"even": _even, "text": _text}
ANY = flatsync.ANY

#: Rules of the random views, each with its wire form for the JS peer.
RULES: list[tuple[Any, ...]] = [
    ("m",),
    ("m", ANY),
    ("m", "a"),
    ("m", ANY, "x"),
    ("m", frozenset({1, "k", (0, "a"), b"k", None, "it's"})),
    ("m", frozenset({-1, 2, "1"})),
    (ANY, "x"),
    ("l",),
    ("r",),
    ("b",),
    ("hp",),
    (_even,),
    ("m", _text),
    (),
]


def _wire_item(item: Any) -> list[Any]:
    if item is ANY:
        return ["any"]
    if isinstance(item, frozenset):
        return ["set", [tagged(key) for key in item]]
    if callable(item):
        return ["pred", next(name for name, f in PREDICATES.items() if f is item)]
    return ["key", tagged(item)]


views_st = st.one_of(
    st.none(),
    st.lists(st.sampled_from(RULES), max_size=3).map(lambda rules: flatsync.View(*rules)),
)


def _wire_view(view: flatsync.View | None) -> Any:
    if view is None:
        return None
    return [[_wire_item(item) for item in rule] for rule in view._given]


@pytest.mark.parametrize("codec_name", ["cbor", "json"])
@PROFILE
@given(data=st.data())
def test_js_publisher_views_send_python_bytes(
    peer: Peer, codec_name: str, data: st.DataObject
) -> None:
    """Per-client views (keys, ANY, sets, predicates), changed on the way: a JS publisher
    sends every client the packets a Python publisher sends, byte for byte, transitions
    included, and the Python replicas hold their view of the source."""
    codec = CODECS[codec_name]
    model = flatsync.DataHandler(_initial())
    clients = ["a", "v", "w"]
    views: dict[str, flatsync.View | None] = {
        "a": None,
        "v": data.draw(views_st),
        "w": data.draw(views_st),
    }
    peer(
        cmd="publisher",
        codec=codec_name,
        session="0102030405060708",
        state=tagged(model.snapshot()),
        schemas=MOB_SCHEMAS,
        clients=clients,
        views={name: _wire_view(view) for name, view in views.items()},
    )
    python = flatsync.Publisher(model, codec=codec, session=bytes.fromhex("0102030405060708"))
    replicas = {name: flatsync.Replica(codec=codec) for name in clients}
    for name in clients:
        python.add_client(name, views[name])
    for _ in range(data.draw(st.integers(1, 12))):
        ops = data.draw(tick_ops(model))
        for name in ("v", "w"):
            if data.draw(st.integers(0, 2)) == 0:
                views[name] = data.draw(views_st)
                python.set_view(name, views[name])
                peer(cmd="view", client=name, view=_wire_view(views[name]))
        drain = ["a", "v"] + (["w"] if data.draw(st.booleans()) else [])
        python.tick()
        answer = peer(cmd="tick", ops=[_wire(op) for op in ops], drain=drain)
        _compare_and_deliver(peer, python, replicas, answer, drain, data)
    for name in clients:
        view = python.view(name)
        if replicas[name].frame == python.frame:
            seen = model.snapshot() if view is None else view.project(model.snapshot())
            assert strict_equal(replicas[name].state, seen)


# -- record ids ------------------------------------------------------------------------------

field_names = st.text(min_size=1, max_size=30)


@PROFILE
@given(
    records=st.lists(
        st.tuples(
            st.text(max_size=80),
            st.one_of(
                st.lists(st.text(min_size=1, max_size=2), min_size=1, max_size=2, unique=True),
                st.lists(field_names, min_size=1, max_size=30, unique=True),
            ),
            st.one_of(st.none(), st.integers(-5, 70_000), st.sampled_from([23, 24, 255, 256])),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_js_record_ids_are_python_ids(peer: Peer, records: list[Any]) -> None:
    """A JS record's id, computed from its name and fields (or given and checked), is the
    id Python's ``@flatsync.record`` gives it, or the same refusal."""
    expected: list[Any] = []
    for name, fields, given_id in records:
        try:
            expected.append(_record_id(name, tuple(fields), given_id))
        except ValueError:
            expected.append("RangeError")
    answer = peer(cmd="ids", records=[list(record) for record in records])
    assert answer["ids"] == expected
