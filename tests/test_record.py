"""Tests for records: declaration with attrs, tracked field writes, wire sizes, typed and
mapping replicas, patch errors, merge, and a state machine through the CBOR codec."""

from __future__ import annotations

import copy
import inspect
import math
import pickle
import struct
from collections.abc import Mapping
from typing import Any, cast

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

import flatsync
import flatsync.protocol
from flatsync import (
    DELETED,
    ByteHandler,
    CborCodec,
    Changed,
    DataHandler,
    DecodeError,
    ListHandler,
    PatchError,
    ReadOnlyError,
    Record,
    RecordView,
    merge,
)
from flatsync._handlers._record import _RESERVED
from flatsync._tree._records import _name_hash
from flatsync.protocol import (
    BoardSnapshot,
    ListDelta,
    RecordDelta,
    RecordSnapshot,
    Replace,
    apply_delta,
)
from flatsync.testing import (
    ConvergenceMachine,
    assert_strict_equal,
    forget_records,
    record_registry,
    strict_equal,
    values,
)

CODEC = CborCodec()


def wire(tree: Any) -> Any:
    return CODEC.decode(CODEC.encode(tree))


@flatsync.record
class Player(Record):
    name: str
    pos: tuple[int, int]
    hp: int = attrs.field(default=10, validator=attrs.validators.ge(0))

    def hurt(self, amount: int) -> None:
        self.hp = max(0, self.hp - amount)

    @property
    def alive(self) -> bool:
        return self.hp > 0


@flatsync.record(name="Ent")
class Entity(Record):
    kind: str = attrs.field(converter=str)
    stats: dict[str, Any] = attrs.field(factory=dict)
    bag: list[Any] = attrs.field(factory=list)
    speed: float = 1.0
    board: Any = None
    pet: Any = None


@flatsync.record
class Boss(Player):
    phase: int = 1

    def __repr__(self) -> str:
        return "Boss:" + super().__repr__()


@flatsync.record(name="Locked")
class Locked(Record):
    id: int = attrs.field(on_setattr=attrs.setters.frozen)
    note: str = ""


def rid(cls: Any) -> int:
    """A record class's id."""
    return int(cls.__flatsync_record__.id)


# -- declaration ----------------------------------------------------------------------------


def test_a_record_is_an_attrs_class_and_a_handler() -> None:
    player = Player("notch", (2, 2), 8)
    assert isinstance(player, Record)
    assert attrs.has(cast(Any, Player))
    assert [field.name for field in attrs.fields(cast(Any, Player))] == ["name", "pos", "hp"]
    assert player == Player("notch", (2, 2), 8)
    assert player != Player("notch", (2, 2), 7)
    assert repr(player) == "Player(name='notch', pos=(2, 2), hp=8)"
    assert player.alive
    player.hurt(20)
    assert (player.hp, player.alive) == (0, False)
    assert attrs.asdict(cast(Any, player)) == {"name": "notch", "pos": (2, 2), "hp": 0}
    signature = inspect.signature(Player)
    assert list(signature.parameters) == ["name", "pos", "hp"]
    assert signature.parameters["hp"].default == 10
    assert not hasattr(player, "__dict__")  # slotted
    with pytest.raises(TypeError):
        hash(player)
    with pytest.raises(AttributeError):
        player.mana = 1  # type: ignore[attr-defined]


def test_inheritance_and_super() -> None:
    boss = Boss("wither", (0, 0), 300, phase=2)
    assert isinstance(boss, Player)
    assert [field.name for field in attrs.fields(cast(Any, Boss))] == ["name", "pos", "hp", "phase"]
    assert repr(boss).startswith("Boss:Boss(name='wither'")
    boss.phase = 3
    boss.hp = 5
    assert boss.diff() == RecordDelta({2: 5, 3: 3})
    assert Boss.__flatsync_record__.name == "Boss"


def test_explicit_base_class_and_keyword_only(records: Mapping[str, type[Record]]) -> None:
    @flatsync.record(kw_only=True, name="Cfg")
    class Config(flatsync.Record):
        width: int
        height: int

    config = Config(width=3, height=4)
    config.width = 5
    assert config.diff() == RecordDelta({0: 5})
    with pytest.raises(TypeError):
        Config(3, 4)  # type: ignore[call-arg]


def test_validators_and_converters_on_init_and_on_write() -> None:
    with pytest.raises(ValueError, match="'hp' must be >= 0"):
        Player("x", (0, 0), -1)
    holder = DataHandler({"p": Player("x", (0, 0), 5)})
    player = holder["p"]
    with pytest.raises(ValueError, match="'hp' must be >= 0"):
        player.hp = -1
    assert player.hp == 5
    assert holder.diff() == {}
    entity = Entity(kind=7)  # type: ignore[arg-type]
    assert entity.kind == "7"
    entity.commit()
    entity.kind = 8  # type: ignore[assignment]
    assert entity.kind == "8"
    assert entity.diff() == RecordDelta({0: "8"})
    locked = Locked(1)
    with pytest.raises(attrs.exceptions.FrozenAttributeError):
        locked.id = 2
    locked.note = "ok"
    assert locked.diff() == RecordDelta({1: "ok"})


def test_post_init_and_no_op_on_setattr(records: Mapping[str, type[Record]]) -> None:
    @flatsync.record(name="Counter", on_setattr=attrs.setters.NO_OP)
    class Counter(Record):
        count: int = attrs.field(default=0, validator=attrs.validators.ge(0))
        log: list[Any] = attrs.field(factory=list)

        def __attrs_post_init__(self) -> None:
            self.count += 1
            self.log = ["made"]

    counter = Counter()
    assert (counter.count, counter.log) == (1, ["made"])
    assert type(counter.log) is ListHandler
    assert counter.log.parent is counter
    assert counter.diff() == RecordDelta()
    counter.count = -5  # NO_OP: no validator on write, as attrs does
    assert counter.diff() == RecordDelta({0: -5})


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        ({"path": int}, TypeError, "taken by the handler API"),
        ({"diff": int}, TypeError, "taken by the handler API"),
        ({}, TypeError, "has no fields"),
    ],
)
def test_declaration_errors(
    records: Mapping[str, type[Record]], body: dict[str, Any], error: type[Exception], match: str
) -> None:
    cls = type("Position", (), {"__annotations__": body})
    with pytest.raises(error, match=match):
        flatsync.record(cls)


@pytest.mark.parametrize(
    ("body", "given", "error", "match"),
    [
        ({"x": int, "y": int}, "7", TypeError, "an id is an int"),
        ({"x": int, "y": int}, True, TypeError, "an id is an int"),
        ({"x": int, "y": int}, 65536, ValueError, "from 0 to 65535"),
        ({"x": int, "y": int}, -1, ValueError, "from 0 to 65535"),
        ({"x": int}, 24, ValueError, "larger than the equivalent mapping's; give an id below 24"),
        ({"hp": int}, 256, ValueError, "give an id below 256"),
    ],
)
def test_explicit_ids_are_checked(
    records: Mapping[str, type[Record]],
    body: dict[str, Any],
    given: Any,
    error: type[Exception],
    match: str,
) -> None:
    cls = type("BadId", (), {"__annotations__": body})
    with pytest.raises(error, match=match):
        flatsync.record(id=given)(cls)
    assert "BadId" not in records


def mapping_of(record: Record) -> dict[str, Any]:
    names = type(record).__flatsync_record__.fields
    return {name: getattr(record, name) for name in names}


def test_any_name_is_as_compact_as_the_mapping(records: Mapping[str, type[Record]]) -> None:
    @flatsync.record
    class Position(Record):
        x: int
        y: int

    @flatsync.record
    class PlayerPositionComponent(Record):
        x: int
        y: int

    @flatsync.record
    class Health(Record):
        hp: int

    @flatsync.record
    class Tag(Record):
        v: int

    # The ids: a hash of the name, below 65,536, 256 or 24 (the budget of the record).
    assert rid(PlayerPositionComponent) == _name_hash("PlayerPositionComponent") % 65536 == 43750
    assert rid(Position) == 6897
    assert (rid(Health), rid(Tag)) == (73, 2)
    cases = [
        (Position(1, 2), "cb 83 19 1a f1 01 02", "a2 61 78 01 61 79 02"),
        (PlayerPositionComponent(1, 2), "cb 83 19 aa e6 01 02", "a2 61 78 01 61 79 02"),
        (Health(5), "cb 82 18 49 05", "a1 62 68 70 05"),
        (Tag(5), "cb 82 02 05", "a1 61 76 05"),
    ]
    for record, as_record, as_mapping in cases:
        assert CODEC.encode(record.snapshot()).hex(" ") == as_record
        assert CODEC.encode(mapping_of(record)).hex(" ") == as_mapping
    with pytest.raises(TypeError, match="non-empty str"):
        flatsync.record(name="")(type("Z", (), {"__annotations__": {"abc": int}}))


FIELD_NAMES = st.lists(
    st.text("abcxyzé_", min_size=1, max_size=30).filter(lambda name: name[0] != "_"),
    min_size=1,
    max_size=30,
    unique=True,
).filter(lambda names: not _RESERVED.intersection(names))


@given(name=st.text(min_size=1, max_size=80), fields=FIELD_NAMES)
@settings(max_examples=60, deadline=None)
def test_a_record_is_never_larger_than_the_mapping_whatever_its_name(
    name: str, fields: list[str]
) -> None:
    body = {"__annotations__": dict.fromkeys(fields, int)}
    with record_registry() as classes:  # the class is forgotten afterwards
        try:
            cls = flatsync.record(name=name)(type("Anything", (), body))
        except ValueError as error:  # an id or a name that another record has
            message = str(error)
            taken = "taken by" in message or "already known" in message
            assert taken, message
            return
        instance = cls(*range(len(fields)))
        as_record = len(CODEC.encode(instance.snapshot()))
        as_mapping = len(CODEC.encode(dict(zip(fields, range(len(fields)), strict=True))))
        assert as_record <= as_mapping
        assert classes[name] is cls
        assert rid(cls) in flatsync.protocol.record_schemas()


def test_ids_that_collide_are_refused_with_a_way_out(records: Mapping[str, type[Record]]) -> None:
    @flatsync.record(id=4000)
    class First(Record):
        a: int
        b: int

    with pytest.raises(ValueError, match=r"its id 4000 is taken by record 'First'.*id=4001"):

        @flatsync.record(id=4000, name="Second")
        class Clash(Record):
            a: int
            b: int

    assert "Second" not in records

    @flatsync.record(id=4001)
    class Second(Record):  # the way out the error gives
        a: int
        b: int

    assert (rid(First), rid(Second)) == (4000, 4001)
    assert Record.from_snapshot(RecordSnapshot(4001, (1, 2))) == Second(1, 2)


def test_names_are_unique(records: Mapping[str, type[Record]]) -> None:
    with pytest.raises(ValueError, match="taken by"):

        @flatsync.record(name="Player")
        class Other(Record):
            name: str
            pos: tuple[int, int]
            hp: int

    with pytest.raises(TypeError, match="non-empty str"):
        flatsync.record(name="")(type("Z", (), {"__annotations__": {"abc": int}}))


def test_redefining_the_same_class_replaces_it(records: Mapping[str, type[Record]]) -> None:
    def make() -> type:
        @flatsync.record(name="Again")
        class Again(Record):
            amount: int

        return Again

    first = make()
    second = make()
    assert records["Again"] is second
    assert type(Record.from_snapshot(first(1).snapshot())) is second


def test_schemas(records: Mapping[str, type[Record]]) -> None:
    schemas = flatsync.protocol.record_schemas()
    assert schemas[rid(Player)] == ("Player", ("name", "pos", "hp"))
    assert schemas[rid(Entity)] == ("Ent", ("kind", "stats", "bag", "speed", "board", "pet"))
    assert list(schemas) == sorted(schemas)
    flatsync.protocol.add_record_schemas({61000: ("Remote", ["alpha", "beta"])})
    flatsync.protocol.add_record_schemas(
        {61000: ("Remote", ("alpha", "beta"))}
    )  # again, the same: fine
    with pytest.raises(ValueError, match="already known"):
        flatsync.protocol.add_record_schemas(
            {61001: ("Other1", ("z",)), 61000: ("Remote", ("alpha",))}
        )
    assert 61001 not in flatsync.protocol.record_schemas()
    for bad, match in (
        ({61002: ("Rep", ("a", "a"))}, "repeats"),
        ({-1: ("Neg", ("a",))}, "from 0 to 65535"),
        ({65536: ("Big", ("a",))}, "from 0 to 65535"),
        ({"Name": ("a",)}, "an int"),
        ({61003: ("Bad", (1,))}, "non-empty str"),
        ({61003: ("Bad", ())}, "at least one"),
        ({61003: ("", ("a",))}, "non-empty str"),
        ({61003: ("Bad", "ab")}, "sequence of str"),
        ({61003: "Bad"}, "a pair"),
        ({61003: ("Player", ("name", "hp"))}, "registered here has"),
    ):
        with pytest.raises(ValueError, match=match):
            flatsync.protocol.add_record_schemas(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a mapping"):
        flatsync.protocol.add_record_schemas([(1, ("a", ("b",)))])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already known"):

        @flatsync.record(name="Remote")
        class Remote(Record):
            alpha: int
            gamma: int


# -- tracking ---------------------------------------------------------------------------------


def test_field_writes_register_in_the_parent_like_keys() -> None:
    players = DataHandler({1: Player("notch", (2, 2), 8), 2: {"hp": 1}})
    assert players.diff() == {}
    players[1].hp -= 1
    players[2]["hp"] = 0
    assert_strict_equal(players.diff(), {1: RecordDelta({2: 7}), 2: {"hp": 0}})
    assert players[1].path == (1,)
    players.commit()
    assert players.diff() == {}
    assert players[1].diff() == RecordDelta()


def test_change_rules() -> None:
    player = Player("a", (1, 1), 5)
    player.hp = 5
    player.pos = (1, 1)
    player.name = "".join(["a"])
    assert player.diff() == RecordDelta()
    player.hp = 6
    player.hp = 7
    player.hp = 5  # back to the original
    assert player.diff() == RecordDelta()
    player.hp = 9
    player.pos = (1, 2)
    assert player.diff() == RecordDelta({1: (1, 2), 2: 9})
    entity = Entity("x", speed=0.0)
    entity.speed = -0.0  # another float by bits
    entity.speed = math.nan
    assert entity.diff().changes[3] != entity.diff().changes[3]  # a NaN
    entity.commit()
    entity.speed = math.nan
    entity.speed = True
    assert entity.diff() == RecordDelta({3: True})


def test_fields_hold_handlers() -> None:
    entity = Entity("zombie", {"str": 3}, ["bone"], board=bytearray(2), pet=Player("p", (0, 0)))
    assert type(entity.stats) is DataHandler
    assert type(entity.bag) is ListHandler
    assert type(entity.board) is ByteHandler
    assert entity.stats.path == ("stats",)
    assert entity.pet.parent is entity
    assert entity.diff() == RecordDelta()
    entity.stats["str"] = 4
    entity.bag.append("rotten flesh")
    entity.board[1] = 9
    entity.pet.hp = 3
    assert_strict_equal(
        entity.diff(),
        RecordDelta(
            {
                1: {"str": 4},
                2: ListDelta(((1, 1, "rotten flesh"),)),
                4: flatsync.protocol.BoardDelta(bytes((0, 1, 9))),
                5: RecordDelta({2: 3}),
            }
        ),
    )
    entity.commit()
    old = entity.stats
    entity.stats = {"dex": 1}
    assert old.parent is None
    entity.pet = None
    assert_strict_equal(entity.diff(), RecordDelta({1: Replace({"dex": 1}), 5: None}))
    entity.commit()
    entity.board = ByteHandler("u8", 1)
    assert_strict_equal(entity.diff(), RecordDelta({4: BoardSnapshot("u8", (1,), b"\x00")}))


def test_bad_values_raise_and_change_nothing() -> None:
    holder = DataHandler({"e": Entity("x")})
    entity = holder["e"]
    attached = DataHandler({"k": {"a": 1}})
    for value, error in (
        (object(), TypeError),
        ((1, [2]), TypeError),
        ({1: object()}, TypeError),
        (attached["k"], ValueError),
    ):
        with pytest.raises(error):
            entity.pet = value
        assert entity.pet is None
    with pytest.raises(TypeError):
        Entity("x", stats=cast(Any, {1: object()}))
    assert holder.diff() == {}


def test_writes_to_a_detached_record_go_nowhere_until_attached() -> None:
    holder = DataHandler({"p": Player("a", (0, 0))})
    player = holder.pop("p")
    holder.commit()
    player.hp = 1
    assert holder.diff() == {}
    holder["q"] = player
    assert_strict_equal(holder.diff(), {"q": RecordSnapshot("Player", ("a", (0, 0), 1))})


def test_copies_and_pickling() -> None:
    entity = DataHandler({"e": Entity("z", {"a": [1]}, board=bytearray(b"\x01"))})["e"]
    for clone in (entity.copy(), copy.copy(entity), copy.deepcopy(entity), entity.to_python()):
        assert type(clone) is Entity
        assert clone == entity
        assert clone.parent is None
        assert clone.stats is not entity.stats
        assert cast(Any, clone.stats).parent is clone
        clone.stats["a"].append(2)
        assert entity.stats["a"] == [1]
    restored = pickle.loads(pickle.dumps(entity))
    assert_strict_equal(restored, entity)
    tree = DataHandler({"p": Player("a", (0, 0))}).copy()
    assert type(tree["p"]) is Player


# -- the wire -------------------------------------------------------------------------------


def test_a_record_is_smaller_than_the_equivalent_mapping() -> None:
    player = Player("notch", (2, 2), 8)
    as_record = CODEC.encode(player.snapshot())
    as_mapping = CODEC.encode({"name": "notch", "pos": (2, 2), "hp": 8})
    # cb: tag 11; 84: [id, 3 values]; 19 e8 c6: id 59590, the hash of "Player".
    assert rid(Player) == 59590
    assert as_record.hex(" ") == "cb 84 19 e8 c6 65 6e 6f 74 63 68 82 02 02 08"
    assert (len(as_record), len(as_mapping)) == (15, 23)
    players = DataHandler({1: player})
    mapping = DataHandler({1: {"name": "notch", "pos": (2, 2), "hp": 8}})
    player.hp = 7
    mapping[1]["hp"] = 7
    assert CODEC.encode(players.diff()).hex(" ") == "a1 01 cc a1 02 07"  # 6 bytes
    assert CODEC.encode(mapping.diff()).hex(" ") == "a1 01 a1 62 68 70 07"  # 7 bytes
    players.commit()
    mapping.commit()
    players[4] = Player("dinnerbone", (5, 5), 10)
    mapping[4] = {"name": "dinnerbone", "pos": (5, 5), "hp": 10}
    assert len(CODEC.encode(players.diff())) == 22
    assert len(CODEC.encode(mapping.diff())) == 31


def test_the_codec_refuses_malformed_record_markers() -> None:
    assert CODEC.decode(bytes.fromhex("cb 81 01")) == RecordSnapshot(1, ())  # fits no record
    for packet, match in (
        ("cb 80", "array"),
        ("cb 61 78", "array"),
        ("cb 82 61 78 01", "id is an int from 0 to 65535"),
        ("cb 82 20 01", "id is an int"),
        ("cb 82 f5 01", "id is an int"),
        ("cb 82 1a 00 01 00 00 01", "id is an int"),
        ("cb 82 01 81 a0", "tuple"),
        ("cc 80", "map"),
        ("cc a1 61 78 01", "field indexes"),
        ("cc a1 20 01", "field indexes"),
        ("cc a1 00 f7", "cannot delete"),
    ):
        with pytest.raises(DecodeError, match=match):
            CODEC.decode(bytes.fromhex(packet))


# -- replicas ---------------------------------------------------------------------------------


def test_a_replica_of_a_registered_class_is_typed_and_read_only() -> None:
    source = DataHandler({1: Player("notch", (2, 2), 8), "e": Entity("z", {"a": 1})})
    replica = DataHandler.from_snapshot(wire(source.snapshot()))
    assert type(replica[1]) is Player
    assert replica[1].readonly
    assert replica[1].path == (1,)
    assert replica["e"].stats.readonly
    assert_strict_equal(replica, source)
    with pytest.raises(ReadOnlyError, match=r"root\[1\]: this Player is a read-only replica"):
        replica[1].hp = 3
    source[1].hp = 7
    source["e"].stats["a"] = 2
    events = replica.patch(wire(source.diff()))
    assert events == [
        Changed(path=(1, "hp"), old=8, new=7),
        Changed(path=("e", "stats", "a"), old=1, new=2),
    ]
    assert replica[1] == source[1]
    assert type(Player.from_snapshot(source[1].snapshot())) is Player
    with pytest.raises(PatchError, match="is not a Player"):
        Player.from_snapshot(source["e"].snapshot())


def test_a_replica_of_an_unregistered_class_is_a_read_only_mapping() -> None:
    source = DataHandler({1: Player("notch", (2, 2), 8)})
    packet = CODEC.encode(source.snapshot())
    with forget_records(Player):  # a process that knows nothing of Player: refused, not guessed
        with pytest.raises(PatchError, match=r"root\[1\]: record id 59590 is unknown here"):
            DataHandler.from_snapshot(CODEC.decode(packet))
        # What the server's record_schemas() gives, added on the client: mappings by name.
        flatsync.protocol.add_record_schemas({59590: ("Player", ("name", "pos", "hp"))})
        replica = DataHandler.from_snapshot(CODEC.decode(packet))
    with forget_records(Player, keep_schemas=True):
        view = replica[1]
        assert type(view) is RecordView
        assert view.readonly
        assert (view.record_name, view.record_id) == ("Player", 59590)
        assert dict(view) == {"name": "notch", "pos": (2, 2), "hp": 8}
        assert view == {"name": "notch", "pos": (2, 2), "hp": 8}
        assert (view["hp"], view.hp, len(view), "hp" in view, view.get("x")) == (
            8,
            8,
            3,
            True,
            None,
        )
        assert next(iter(view.items())) == ("name", "notch")
        assert repr(view) == "RecordView('Player', {'name': 'notch', 'pos': (2, 2), 'hp': 8})"
        with pytest.raises(AttributeError, match="no field 'mana'"):
            view.mana  # noqa: B018
        with pytest.raises(TypeError):
            view["hp"] = 1
        with pytest.raises(TypeError):
            hash(view)
        source[1].hp = 7
        source[2] = Player("jeb", (2, 3), 1)
        events = replica.patch(wire(source.diff()))
        assert Changed(path=(1, "hp"), old=8, new=7) in events
        assert type(replica[2]) is RecordView
        assert_strict_equal(replica, source)
        copied = view.copy()
        assert type(copied) is RecordView
        assert not copied.readonly
        assert_strict_equal(copied, view)
        assert_strict_equal(pickle.loads(pickle.dumps(view)), view)
        assert_strict_equal(RecordView.from_snapshot(source[1].snapshot()), source[1])


def test_a_view_tracks_its_children_in_a_writable_tree() -> None:
    source = DataHandler({"e": Entity("z", {"a": 1})})
    with forget_records(Entity, keep_schemas=True):
        writable = DataHandler()
        writable.patch(wire({"e": source["e"].snapshot()}))
    writable.commit()
    view = writable["e"]
    assert type(view) is RecordView
    view["stats"]["a"] = 5
    assert_strict_equal(writable.diff(), {"e": RecordDelta({1: {"a": 5}})})
    assert view.diff() == RecordDelta({1: {"a": 5}})
    writable.commit()
    assert view.diff() == RecordDelta()


def test_strict_equality_of_records() -> None:
    player = Player("a", (0, 0), 1)
    assert strict_equal(player, RecordSnapshot("Player", ("a", (0, 0), 1)))
    assert not strict_equal(player, RecordSnapshot("Player", ("a", (0, 0), True)))
    assert not strict_equal(player, {"name": "a", "pos": (0, 0), "hp": 1})


# -- deltas that do not fit ----------------------------------------------------------------


def assert_rejected(target: Any, delta: Any, match: str) -> None:
    before = CODEC.encode(target.snapshot())
    with pytest.raises(PatchError, match=match):
        target.patch(delta)
    assert CODEC.encode(target.snapshot()) == before


@pytest.mark.parametrize("readonly", [True, False])
def test_misfit_deltas_are_rejected_atomically(readonly: bool) -> None:
    source = DataHandler({"p": Player("a", (0, 0)), "e": Entity("z"), "x": 1})
    target = DataHandler.from_snapshot(source.snapshot()) if readonly else source.copy()
    target.commit()
    assert_rejected(target, {"x": 2, "p": RecordDelta({3: 1})}, r"root\['p'\]: field index 3")
    assert_rejected(target, {"p": RecordDelta({0: DELETED})}, "cannot be deleted")
    assert_rejected(target, {"p": RecordDelta({-1: 1})}, "field indexes")
    assert_rejected(target, {"p": RecordDelta({"hp": 1})}, "field indexes")  # type: ignore[dict-item]
    assert_rejected(target, {"p": RecordDelta([1])}, "dict of changes")  # type: ignore[arg-type]
    assert_rejected(target, {"p": RecordDelta({2: {"a": 1}})}, r"root\['p'\]\['hp'\]: a mapping")
    assert_rejected(target, {"e": RecordDelta({1: ListDelta(())})}, "ListDelta delta needs")
    assert_rejected(target, {"e": RecordDelta({1: {"a": object()}})}, "not a valid snapshot")
    assert_rejected(target, {"p": {"hp": 1}}, "mapping delta needs")
    assert_rejected(target, {"x": RecordDelta({0: 1})}, "RecordDelta delta needs")
    assert_rejected(target, {"n": RecordSnapshot("Player", ("a",))}, "has 3 fields")
    assert_rejected(target, {"n": RecordSnapshot("Player", [1, 2, 3])}, "malformed")  # type: ignore[arg-type]
    assert_rejected(target, {"n": RecordSnapshot(1.5, ())}, "malformed")  # type: ignore[arg-type]
    assert_rejected(target, {"n": RecordSnapshot(1, ())}, r"root\['n'\]: record id 1 is unknown")
    assert_rejected(
        target,
        {"n": Replace(RecordSnapshot("Ent", ("z", {}, [], 1.0, None, object())))},
        "not a valid",
    )
    assert_rejected(target["p"], {2: 1}, "expected a record delta")


def test_from_snapshot_checks_the_tree() -> None:
    with pytest.raises(PatchError, match="expected a record snapshot"):
        Record.from_snapshot({"a": 1})
    with pytest.raises(PatchError, match="has 3 fields"):
        Record.from_snapshot(RecordSnapshot("Player", ()))


# -- merge --------------------------------------------------------------------------------


def test_merge_equals_sequential_application() -> None:
    source = DataHandler({"e": Entity("z", {"a": 1}), "p": Player("a", (0, 0))})
    base = source.snapshot()
    source.commit()
    source["e"].stats["a"] = 2
    source["e"].speed = 2.5
    source["p"].hp = 3
    first = source.diff()
    source.commit()
    source["e"].stats = {"b": 1}
    source["e"].stats["c"] = 2
    source["e"].speed = 3.5
    source["n"] = Player("n", (1, 1))
    second = source.diff()
    source.commit()
    source["n"].hp = 1
    third = source.diff()
    merged = merge(merge(first, second), third)
    assert_strict_equal(apply_delta(base, wire(merged)), source.snapshot())
    replica = DataHandler.from_snapshot(base)
    replica.patch(wire(merged))
    assert_strict_equal(replica, source)


def test_merge_and_apply_errors() -> None:
    with pytest.raises(PatchError, match="cannot merge a RecordDelta delta with a dict"):
        merge({"p": RecordDelta({0: 1})}, {"p": {"a": 1}})
    with pytest.raises(PatchError, match="cannot be deleted"):
        merge({"p": RecordDelta({0: 1})}, {"p": RecordDelta({0: DELETED})})
    with pytest.raises(PatchError, match="needs a record"):
        apply_delta({"p": 1}, {"p": RecordDelta({0: 1})})
    with pytest.raises(PatchError, match="field index 5"):
        apply_delta({"p": RecordSnapshot("X", (1,))}, {"p": RecordDelta({5: 1})})
    with pytest.raises(PatchError, match="cannot merge"):
        RecordDelta({}).merged(ListDelta(()), ())


# -- the state machine ----------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A model of a source value: records as RecordSnapshot-like tuples of plain values."""
    if isinstance(value, Record):
        spec = type(value).__flatsync_record__
        return ModelRecord(spec.name, spec.id, [plain(v) for v in value._values()])
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class ModelRecord:
    """A record in the model: its name, its id and its fields' values, by index."""

    def __init__(self, name: str, record_id: int, fields: list[Any]) -> None:
        self.name = name
        self.id = record_id
        self.fields = fields

    def _strict_form(self) -> Any:
        return ("record", self.id, tuple(self.fields))


FIELDS = {"Player": ("name", "pos", "hp"), "Ent": ("kind", "stats", "bag", "speed", "board", "pet")}


@st.composite
def field_writes(draw: st.DrawFn, name: str) -> tuple[int, Any]:
    """A field index and a value that passes the class's validators and converters."""
    fields = FIELDS[name]
    index = draw(st.integers(0, len(fields) - 1))
    field = fields[index]
    if field == "hp":
        return index, draw(st.integers(0, 100))
    if field in ("name", "kind"):
        return index, draw(st.text(max_size=4))
    if field == "pos":
        return index, draw(st.tuples(st.integers(-5, 5), st.integers(-5, 5)))
    if field == "speed":
        return index, draw(st.floats() | st.just(-0.0) | st.integers(0, 3))
    if field == "stats":
        return index, draw(st.dictionaries(st.text(max_size=2), values(), max_size=2))
    if field == "bag":
        return index, draw(st.lists(values(), max_size=2))
    if field == "board":
        return index, draw(st.none() | st.binary(max_size=3).map(bytearray))
    return index, draw(st.none() | st.builds(Player, st.text(max_size=3), st.just((0, 0))))


def model_value(value: Any) -> Any:
    if isinstance(value, bytearray):
        return BoardSnapshot("u8", (len(value),), bytes(value))
    if isinstance(value, Record):
        return plain(value)
    return value


#: A new record to put into the tree (built once: building it costs milliseconds).
NEW_RECORDS = st.one_of(
    st.builds(Player, st.text(max_size=3), st.just((1, 1)), st.integers(0, 9)),
    st.builds(
        Entity,
        st.text(max_size=3),
        st.dictionaries(st.text(max_size=1), values(), max_size=2),
    ),
)


class RecordMachine(ConvergenceMachine):
    """Records nested in a DataHandler and a ListHandler; a typed replica, a late joiner,
    a merged replica, and a replica that does not know the class ``Ent`` (RecordViews)."""

    codec = CODEC

    @initialize()
    def setup(self) -> None:
        self.source = DataHandler(
            {"p": Player("notch", (2, 2), 8), "l": [Entity("z", {"a": 1})], "n": {"e": Entity("y")}}
        )
        self.model = plain(self.source)
        snapshot = self.source.snapshot()
        with forget_records(Entity, keep_schemas=True):
            self.viewer = DataHandler.from_snapshot(wire(snapshot))
        self.start(self.source)

    def records(self) -> list[tuple[Any, Any]]:
        """Every record in the source, with its model."""
        out = []

        def walk(node: Any, model: Any) -> None:
            if isinstance(node, Record):
                out.append((node, model))
                for i, value in enumerate(node._values()):
                    walk(value, model.fields[i])
            elif isinstance(node, dict):
                for key, value in node.items():
                    walk(value, model[key])
            elif isinstance(node, list):
                for i, value in enumerate(node):
                    walk(value, model[i])

        walk(self.source, self.model)
        return out

    @rule(data=st.data())
    def write_a_field(self, data: st.DataObject) -> None:
        found = self.records()
        record, model = found[data.draw(st.integers(0, len(found) - 1), label="record")]
        index, value = data.draw(field_writes(model.name), label="write")
        field = FIELDS[model.name][index]
        setattr(record, field, value)
        model.fields[index] = model_value(value) if field != "kind" else str(value)
        if field == "speed" and type(value) is int:
            model.fields[index] = value

    def pick_entity(self, data: st.DataObject) -> tuple[Any, ModelRecord] | None:
        entities = [(r, m) for r, m in self.records() if m.name == "Ent"]
        if not entities:
            return None
        entity, model = entities[data.draw(st.integers(0, len(entities) - 1), label="entity")]
        return entity, model

    @rule(data=st.data())
    def edit_inside_the_stats_field(self, data: st.DataObject) -> None:
        found = self.pick_entity(data)
        if found is None:
            return
        entity, model = found
        value = data.draw(values(), label="value")
        key = data.draw(st.text(max_size=2), label="key")
        entity.stats[key] = value
        model.fields[1][key] = value

    @rule(data=st.data())
    def append_to_the_bag_field(self, data: st.DataObject) -> None:
        found = self.pick_entity(data)
        if found is None:
            return
        entity, model = found
        value = data.draw(values(), label="value")
        entity.bag.append(value)
        model.fields[2].append(value)

    @rule(data=st.data())
    def write_a_cell_of_the_board_field(self, data: st.DataObject) -> None:
        found = self.pick_entity(data)
        if found is None:
            return
        entity, model = found
        if entity.board is None or not entity.board.size:
            return
        cell = data.draw(st.integers(0, entity.board.size - 1), label="cell")
        byte = data.draw(st.integers(0, 255), label="byte")
        entity.board[cell] = byte
        data_ = bytearray(model.fields[4].data)
        data_[cell] = byte
        model.fields[4] = BoardSnapshot("u8", model.fields[4].shape, bytes(data_))

    @rule(data=st.data())
    def write_a_field_of_the_pet_record(self, data: st.DataObject) -> None:
        found = self.pick_entity(data)
        if found is None:
            return
        entity, model = found
        if entity.pet is None:
            return
        hp = data.draw(st.integers(0, 9), label="hp")
        entity.pet.hp = hp
        model.fields[5].fields[2] = hp

    def new_record(self, data: st.DataObject) -> Record:
        record: Record = data.draw(NEW_RECORDS, label="record")
        return record

    @rule(data=st.data())
    def replace_a_record(self, data: st.DataObject) -> None:
        record = self.new_record(data)
        if data.draw(st.booleans(), label="nested"):
            self.source["n"]["e"] = record
            self.model["n"]["e"] = plain(record)
        else:
            self.source["p"] = record
            self.model["p"] = plain(record)

    @rule(data=st.data())
    def put_a_record_under_a_new_key(self, data: st.DataObject) -> None:
        record = self.new_record(data)
        self.source["new"] = record
        self.model["new"] = plain(record)

    @rule(data=st.data())
    def append_a_record_to_a_list(self, data: st.DataObject) -> None:
        record = self.new_record(data)
        self.source["l"].append(record)
        self.model["l"].append(plain(record))

    @rule()
    def write_the_same_values(self) -> None:
        before = self.source.diff()
        for record, _ in self.records():
            for field in attrs.fields(type(record)):
                if field.on_setattr is not attrs.setters.frozen:
                    value = getattr(record, field.name)
                    setattr(record, field.name, value)
        assert_strict_equal(self.source.diff(), before)

    # -- the checks (the ticks, the settling teardown and diff_explains_every_change: the base)

    def check_model(self) -> None:
        assert_strict_equal(self.source, self.model)

    def after_tick(self, delta: Any) -> None:
        """The snapshot is the model; the viewer, which lacks the class ``Ent``, follows too."""
        assert_strict_equal(self.sync.previous, self.model)
        with forget_records(Entity, keep_schemas=True):
            self.viewer.patch(delta)
        assert_strict_equal(self.viewer, self.source)


RecordMachine.TestCase.settings = settings(stateful_step_count=30)
TestRecordSync = RecordMachine.TestCase


def test_float_bits_survive_in_records() -> None:
    nan: float = struct.unpack("<d", struct.pack("<Q", 0x7FF4_0000_0000_0001))[0]
    entity = Entity("x", speed=nan)
    assert_strict_equal(Record.from_snapshot(wire(entity.snapshot())), entity)


def test_redeclaring_a_record_with_other_fields_is_refused(
    records: Mapping[str, type[Record]],
) -> None:
    """Issue 14: a record class declared again in the same module with other fields (a
    notebook cell run again) was accepted, and instances made before arrived with their
    fields renamed by position. The same fields (a cell run again as it was) still
    replace the class; other fields or another id are refused, and nothing changes."""

    def make(*fields: str, rid: int | None = None) -> type:
        cls = type("Cell", (), {"__annotations__": dict.fromkeys(fields, int)})
        cls.__module__ = __name__
        cls.__qualname__ = "Cell"
        built: type = flatsync.record(cls) if rid is None else flatsync.record(id=rid)(cls)
        return built

    first = make("hp", "mana")
    old = first(1, 2)
    again = make("hp", "mana")  # the same cell, run again: fine
    assert records["Cell"] is again
    for fields, rid, match in (
        (("mana", "hp"), None, r"with the fields \('hp', 'mana'\), not \('mana', 'hp'\)"),
        (("hp",), None, "fields and id cannot change"),
        (("hp", "mana", "xp"), None, "restart the process"),
        (("hp", "mana"), 40000, "with the id"),
    ):
        with pytest.raises(ValueError, match=match):
            make(*fields, rid=rid)
        assert records["Cell"] is again
    replica = Record.from_snapshot(old.snapshot())
    assert type(replica) is again
    assert replica == again(1, 2)  # type: ignore[call-arg]
