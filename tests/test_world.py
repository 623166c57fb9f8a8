"""Tests for TiledWorld: world coordinates over chunk boards, chunk creation, per-chunk
deltas, replicas, and a state machine that ships every tick through the CBOR codec."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule

from flatsync import ByteHandler, CborCodec, CellsChanged, DataHandler, ReadOnlyError, TiledWorld
from flatsync.protocol import BoardDelta, BoardSnapshot
from flatsync.testing import ConvergenceMachine, assert_strict_equal

CODEC = CborCodec()


def wire(tree: Any) -> Any:
    return CODEC.decode(CODEC.encode(tree))


def test_world_coordinates_map_to_chunks() -> None:
    world = TiledWorld((16, 8))
    assert (world.chunk_shape, world.item, world.ndim) == ((16, 8), "u8", 2)
    assert world.locate(0, 0) == ((0, 0), (0, 0))
    assert world.locate(17, 9) == ((1, 1), (1, 1))
    assert world.locate(-1, -1) == ((-1, -1), (15, 7))
    assert world.locate((40, -9)) == ((2, -2), (8, 7))
    assert world.locate(True, 0) == ((0, 0), (1, 0))
    with pytest.raises(TypeError, match="2 ints"):
        world.locate(1, 2, 3)
    with pytest.raises(TypeError, match="ints, not float"):
        world[1.5, 2]
    with pytest.raises(TypeError, match="2 ints"):
        world[1]
    cube = TiledWorld(4, "i16")
    assert cube.locate(-5) == ((-2,), (3,))
    cube[-5] = -300
    assert cube.chunk((-2,)).tolist() == [0, 0, 0, -300]  # type: ignore[union-attr]


def test_absent_chunks_read_zero_and_writes_create_them() -> None:
    world = TiledWorld((4, 4), "f64")
    assert world[100, -100] == 0.0
    assert type(world[100, -100]) is float
    world[5, 5] = 0.0  # zero in a missing chunk: nothing to create
    assert len(world.chunks) == 0
    world[5, 5] = -0.0  # not zero, bit for bit
    assert list(world.chunks) == [(1, 1)]
    world[6, 5] = 2.5
    assert world[6, 5] == 2.5
    assert world.chunk((1, 1)).tolist()[1][1] == -0.0  # type: ignore[union-attr]
    assert math.copysign(1.0, world[5, 5]) == -1.0
    assert TiledWorld((2, 2))[0, 0] == 0


def test_bad_values_create_nothing() -> None:
    world = TiledWorld((4, 4))
    state = DataHandler({"w": world.chunks})
    for value, error in (
        (256, OverflowError),
        (-1, OverflowError),
        (1.5, TypeError),
        ("x", TypeError),
    ):
        with pytest.raises(error):
            world[0, 0] = value
    assert len(world.chunks) == 0
    assert state.diff() == {}
    world[0, 0] = 1
    with pytest.raises(OverflowError):
        world[1, 0] = 300
    assert world.chunk((0, 0)).tolist()[1][0] == 0  # type: ignore[union-attr]


def test_chunks_can_be_created_ahead_and_deleted() -> None:
    world = TiledWorld((2, 2))
    state = DataHandler({"w": world.chunks})
    board = world.chunk((3, 4), create=True)
    assert board is not None
    assert world.chunk((3, 4), create=True) is board
    assert world.chunk((0, 0)) is None
    assert_strict_equal(state.diff(), {"w": {(3, 4): BoardSnapshot("u8", (2, 2), bytes(4))}})
    state.commit()
    del world.chunks[(3, 4)]
    assert world[6, 8] == 0
    with pytest.raises(TypeError, match="tuple of 2 ints"):
        world.chunk((1,))
    with pytest.raises(TypeError, match="tuple of 2 ints"):
        world.chunk([1, 2])  # type: ignore[arg-type]


def test_a_change_in_one_chunk_never_ships_another() -> None:
    world = TiledWorld((16, 16))
    for key in ((0, 0), (1, 0), (0, 1), (5, 5)):
        world.chunk(key, create=True)
    state = DataHandler({"world": world, "tick": 0})
    assert state["world"] is world.chunks  # a TiledWorld in a handler: its chunk mapping
    replica = DataHandler.from_snapshot(wire(state.snapshot()))
    mirror = TiledWorld((16, 16), chunks=replica["world"])
    world[17, 3] = 9
    world[-1, -1] = 4
    state["tick"] = 1
    delta = state.diff()
    assert set(delta["world"]) == {(1, 0), (-1, -1)}
    assert type(delta["world"][(1, 0)]) is BoardDelta
    assert type(delta["world"][(-1, -1)]) is BoardSnapshot
    packet = CODEC.encode(delta)
    replica.patch(CODEC.decode(packet))
    state.commit()
    assert (mirror[17, 3], mirror[-1, -1], mirror[0, 0]) == (9, 4, 0)
    assert_strict_equal(replica, state)
    world[17, 4] = 1
    assert CODEC.encode(state.diff()).hex(" ") == (
        "a1 65 77 6f 72 6c 64 a1 82 01 00 ca 43 00 14 01"
    )


def test_a_replica_world_is_read_only() -> None:
    world = TiledWorld((2, 2))
    world[0, 0] = 1
    replica = DataHandler.from_snapshot(wire(DataHandler({"w": world}).snapshot()))
    mirror = TiledWorld((2, 2), chunks=replica["w"])
    assert mirror.readonly
    assert mirror[0, 0] == 1
    with pytest.raises(ReadOnlyError):
        mirror[0, 0] = 2
    with pytest.raises(ReadOnlyError):
        mirror[9, 9] = 2
    with pytest.raises(ReadOnlyError):
        mirror.chunk((5, 5), create=True)
    assert list(replica["w"]) == [(0, 0)]


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (((0, 4),), ValueError, "> 0"),
        (((4, 4), "u7"), ValueError, "unknown item type"),
        (((4, 4), "u8", {}), TypeError, "DataHandler"),
        (((4, 4), "u8", DataHandler({(0, 0): 1})), TypeError, "is a ByteHandler"),
        (((4, 4), "u8", DataHandler({"a": ByteHandler("u8", (4, 4))})), TypeError, "tuple of 2"),
        (((4, 4), "u8", DataHandler({(0, 0): ByteHandler("u8", (4, 5))})), ValueError, "shape"),
        (((4, 4), "u8", DataHandler({(0, 0): ByteHandler("i8", (4, 4))})), ValueError, "i8 items"),
    ],
)
def test_construction_errors(args: tuple[Any, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        TiledWorld(*args)


def test_repr() -> None:
    world = TiledWorld((2, 2), "i32")
    assert repr(world) == "TiledWorld((2, 2), 'i32', <0 chunks>)"
    world[0, 0] = 1
    assert repr(world) == "TiledWorld((2, 2), 'i32', <1 chunk>)"


# -- the state machine ---------------------------------------------------------------------

CHUNK = (4, 3)


class WorldMachine(ConvergenceMachine):
    """A world in a DataHandler; a model of its cells; three replicas read as worlds."""

    codec = CODEC

    @initialize(item=st.sampled_from(["u8", "i16", "f32"]))
    def setup(self, item: str) -> None:
        self.item = item
        self.world = TiledWorld(CHUNK, item)
        self.source = DataHandler({"world": self.world, "score": 0})
        #: The model: which chunks exist, and the value of every cell ever written.
        self.model_chunks: set[tuple[int, int]] = set()
        self.model_cells: dict[tuple[int, int], Any] = {}
        self.touched: set[tuple[int, int]] = set()
        self.start(self.source)

    def value(self, data: st.DataObject) -> Any:
        if self.item == "u8":
            return data.draw(st.integers(0, 255) | st.just(0), label="value")
        if self.item == "i16":
            return data.draw(st.integers(-(2**15), 2**15 - 1) | st.just(0), label="value")
        return data.draw(st.sampled_from([0.0, -0.0, 1.5, -2.0, math.inf]), label="value")

    def expected(self) -> dict[Any, Any]:
        """The snapshot of the world's chunks, built from the model alone."""
        size = {"u8": 1, "i16": 2, "f32": 4}[self.item]
        out = {}
        for key in self.model_chunks:
            board = ByteHandler(self.item, CHUNK)
            for (x, y), value in self.model_cells.items():
                if (x // CHUNK[0], y // CHUNK[1]) == key:
                    board[x % CHUNK[0], y % CHUNK[1]] = value
            out[key] = board.snapshot()
            assert len(out[key].data) == math.prod(CHUNK) * size
        return out

    def zero(self, value: Any) -> bool:
        return value == 0 and math.copysign(1.0, value) > 0 if type(value) is float else value == 0

    # -- the operations ------------------------------------------------------------------------

    @rule(data=st.data())
    def write_a_cell(self, data: st.DataObject) -> None:
        x = data.draw(st.integers(-12, 12), label="x")
        y = data.draw(st.integers(-9, 9), label="y")
        value = self.value(data)
        key = (x // CHUNK[0], y // CHUNK[1])
        self.world[x, y] = value
        if key in self.model_chunks or not self.zero(value):
            self.model_chunks.add(key)
            self.model_cells[x, y] = value
            self.touched.add(key)
        assert self.world[x, y] == value or value != value

    @rule(data=st.data())
    def create_a_chunk(self, data: st.DataObject) -> None:
        key = (data.draw(st.integers(-3, 3), label="cx"), data.draw(st.integers(-3, 3), label="cy"))
        if key not in self.model_chunks:
            self.touched.add(key)
        self.world.chunk(key, create=True)
        self.model_chunks.add(key)

    @precondition(lambda self: self.model_chunks)
    @rule(data=st.data())
    def fill_a_chunk(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model_chunks)), label="chunk")
        value = self.value(data)
        board = self.world.chunk(key)
        assert board is not None
        board.fill(value)
        for lx in range(CHUNK[0]):
            for ly in range(CHUNK[1]):
                self.model_cells[key[0] * CHUNK[0] + lx, key[1] * CHUNK[1] + ly] = value
        self.touched.add(key)

    @precondition(lambda self: self.model_chunks)
    @rule(data=st.data())
    def drop_a_chunk(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model_chunks)), label="chunk")
        del self.world.chunks[key]
        self.model_chunks.discard(key)
        self.model_cells = {
            cell: v
            for cell, v in self.model_cells.items()
            if (cell[0] // CHUNK[0], cell[1] // CHUNK[1]) != key
        }
        self.touched.add(key)

    @rule(score=st.integers(0, 9))
    def elsewhere(self, score: int) -> None:
        self.source["score"] = score

    # -- the checks (the ticks, the settling teardown and diff_explains_every_change: the base)

    def check_model(self) -> None:
        assert_strict_equal(self.source.snapshot()["world"], self.expected())

    def after_tick(self, delta: Any) -> None:
        assert set(delta.get("world", {})) <= self.touched  # no chunk ships another's change
        self.touched = set()
        for replica in self.sync.replicas:
            mirror = TiledWorld(CHUNK, self.item, replica["world"])
            for x, y in self.model_cells:
                assert_strict_equal(mirror[x, y], self.world[x, y])


WorldMachine.TestCase.settings = settings(stateful_step_count=30)
TestWorldSync = WorldMachine.TestCase


def test_chunk_events_in_world_coordinates() -> None:
    world = TiledWorld((4, 4))
    state = DataHandler({"world": world})
    world[5, -1] = 1
    world[6, -1] = 2
    world[-9, 0] = 3
    state.commit()
    replica = DataHandler.from_snapshot(CODEC.decode(CODEC.encode(state.snapshot())))
    mirror = TiledWorld((4, 4), chunks=replica["world"])
    world[5, -1] = 4
    world[6, -2] = 5
    world[-9, 0] = 0
    events = replica.patch(CODEC.decode(CODEC.encode(state.diff())))
    found = {}
    for event in events:
        assert isinstance(event, CellsChanged)
        for where, new in zip(mirror.coords(event), event.new, strict=True):
            found[where] = new
    assert found == {(5, -1): 4, (6, -2): 5, (-9, 0): 0}
    for where, value in found.items():
        assert mirror[where] == value
    line = TiledWorld(8)
    line_state = DataHandler({"w": line})
    line[-3] = 1
    line_state.commit()
    line_replica = DataHandler.from_snapshot(line_state.snapshot())
    line[-2] = 7
    (event,) = line_replica.patch(line_state.diff())
    assert isinstance(event, CellsChanged)
    assert TiledWorld(8, chunks=line_replica["w"]).coords(event) == [(-2,)]


def test_coords_refuses_other_events() -> None:
    world = TiledWorld((4, 4))
    state = DataHandler({"world": world, "board": ByteHandler("u8", (4, 4))})
    replica = DataHandler.from_snapshot(state.snapshot())
    mirror = TiledWorld((4, 4), chunks=replica["world"])
    state["board"][1, 1] = 1
    (event,) = replica.patch(state.diff())
    assert isinstance(event, CellsChanged)
    with pytest.raises(ValueError, match="not the CellsChanged of a chunk"):
        mirror.coords(event)
    wrong_shape = CellsChanged(path=("world", (0, 0)), shape=(2, 2), indices=(), old=(), new=())
    with pytest.raises(ValueError, match="not the CellsChanged"):
        mirror.coords(wrong_shape)
