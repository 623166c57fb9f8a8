"""``flatsync types``: TypeScript declarations for record classes, checked by the js package's tsc.

A sample module of records is written to a temporary directory, the command
writes its ``.d.ts``, and a small TypeScript client reads a state through those
declarations: every right read type-checks, and every wrong read (a missing
field, an int read as a plain ``number``, a float read as a ``number``, a
string read as a number, a write) is an error, each marked ``@ts-expect-error``
so that tsc fails if it is not one. A copy of the client without one of those
marks must fail to type-check, which proves the check sees the errors.
"""

from __future__ import annotations

import collections.abc
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Optional

import pytest

import flatsync
from flatsync._debug._cli import main
from flatsync._debug._dts import _Writer, declarations
from flatsync._tree import _types
from test_js_cross import JS, _build

RECORDS = """
from __future__ import annotations

from typing import Annotated, Any, Literal, NewType, Optional

import attrs
import flatsync

Score = NewType("Score", int)


@flatsync.record(name="game.Player")
class Player:
    name: str
    pos: tuple[int, int]
    hp: int = 10
    speed: float = 1.0
    alive: bool = True
    tags: list[str] = attrs.field(factory=list)
    inventory: dict[str, int] = attrs.field(factory=dict)
    pet: Optional[Pet] = None
    skin: bytes = b""
    team: Literal["red", "blue", 3, None] = "red"
    tiles: flatsync.ByteHandler | None = None
    route: tuple[int, ...] = ()
    score: Annotated[Score, "points"] = Score(0)
    notes: Any = None
    misc: dict = attrs.field(factory=dict)
    items: list = attrs.field(factory=list)
    pair: tuple = ()
    nothing: tuple[()] = ()
    friend: flatsync.Record | None = None
    unknown: NotDeclaredAnywhere = None  # noqa: F821
    Float: int = 0


@flatsync.record
class Pet:
    kind: str
    owner: Player | None = None
"""

CLIENT = """
import type { Float, MapOf, PyMap } from "flatsync";
import type { GamePlayer, Pet } from "./state.js";

export function read(state: PyMap): void {
  const players = state.get("players") as MapOf<number, GamePlayer>;
  const player = players.get(1);
  if (player === undefined) return;
  const name: string = player.get("name");
  const pos: readonly [number | bigint, number | bigint] = player.get("pos");
  const hp: number | bigint = player.get("hp");
  const speed: number | Float = player.get("speed");
  const alive: boolean = player.get("alive");
  const tags: readonly string[] = player.get("tags").items;
  const sword: number | bigint | undefined = player.get("inventory").get("sword");
  const pet = player.get("pet");
  const kind: string | undefined = pet?.get("kind");
  const owner: GamePlayer | null | undefined = pet?.get("owner");
  const skin: Uint8Array = player.get("skin");
  const team: "red" | "blue" | 3 | null = player.get("team");
  const tiles = player.get("tiles");
  const cell: number | bigint | undefined = tiles?.at(0);
  const route: readonly (number | bigint)[] = player.get("route");
  const score: number | bigint = player.get("score");
  const fields: readonly string[] = player.fields;
  const id: 54018 = player.id;
  const named: "game.Player" = player.name;
  const whole = player.toObject();
  const sameName: string = whole.name;
  const pets: Pet[] = [];
  for (const [number, other] of players) {
    const n: number = number;
    const otherName: string = other.get("name");
    void n, otherName;
  }
  // @ts-expect-error - no such field
  player.get("mana");
  // @ts-expect-error - an int may be a bigint
  const wrongHp: number = player.get("hp");
  // @ts-expect-error - a float may be a Float
  const wrongSpeed: number = player.get("speed");
  // @ts-expect-error - a name is a string
  const wrongName: number = player.get("name");
  // @ts-expect-error - a tuple of two
  const wrongPos: readonly [number, number, number] = player.get("pos");
  // @ts-expect-error - the pet may be null
  const wrongKind: string = player.get("pet").get("kind");
  // @ts-expect-error - a string key in this map
  player.get("inventory").get(1);
  // @ts-expect-error - not one of the literals
  const wrongTeam: "green" = player.get("team");
  // @ts-expect-error - a record's object is read-only
  whole.hp = 3;
  // @ts-expect-error - the wrong record
  const wrongPet: Pet = player;
  void name, pos, hp, speed, alive, tags, sword, kind, owner, skin, team, cell, route, score;
  void fields, id, named, sameName, pets, wrongHp, wrongSpeed, wrongName, wrongPos, wrongKind;
  void wrongTeam, wrongPet;
}
"""


@pytest.fixture
def sample(tmp_path: Path, records: object) -> Iterator[Path]:
    """A directory with the module ``js_types_sample`` of records (unimported afterwards)."""
    (tmp_path / "js_types_sample.py").write_text(RECORDS, encoding="utf-8")
    try:
        yield tmp_path
    finally:
        sys.modules.pop("js_types_sample", None)


def _declarations(sample: Path, *extra: str) -> str:
    out = sample / "state.d.ts"
    assert main(["types", "js_types_sample", "--path", str(sample), "-o", str(out), *extra]) == 0
    return out.read_text(encoding="utf-8")


def test_the_declarations_name_each_field_as_the_js_package_reads_it(sample: Path) -> None:
    """Every kind of annotation gives the JavaScript package's type for that value."""
    text = _declarations(sample)
    fields = {
        line.strip().removeprefix("readonly ").split(": ", 1)[0]: line.split(": ", 1)[1][:-1]
        for line in text.splitlines()
        if line.startswith("  readonly ") and ": " in line and "id: " not in line
    }
    assert fields == {
        "name": "string",
        "pos": "readonly [number | bigint, number | bigint]",
        "hp": "number | bigint",
        "speed": "number | Float",
        "alive": "boolean",
        "tags": "ListOf<string>",
        "inventory": "MapOf<string, number | bigint>",
        "pet": "Pet | null",
        "skin": "Uint8Array",
        "team": '"red" | "blue" | 3 | null',
        "tiles": "Board | null",
        "route": "readonly (number | bigint)[]",
        "score": "number | bigint",
        "notes": "Tree",
        "misc": "PyMap",
        "items": "List",
        "pair": "readonly Tree[]",
        "nothing": "readonly []",
        "friend": "Record | null",
        "unknown": "Tree",
        "Float": "number | bigint",
        "kind": "string",
        "owner": "GamePlayer | null",
    }
    assert 'export interface GamePlayer extends RecordOf<"game.Player", GamePlayerFields>' in text
    assert "readonly id: 54018;" in text
    assert (
        'import type { Board, Float, List, ListOf, MapOf, PyMap, Record, RecordOf, Tree } from "flatsync";'
        in text
    )
    small = _declarations(sample, "--small-ints")
    assert "  readonly hp: number;\n" in small
    assert "readonly [number, number]" in small


def test_a_record_named_like_an_import_gets_another_name(records: object) -> None:
    """A record named ``Float`` or ``Tree`` is declared under a name that does not hide the import."""

    @flatsync.record(name="Tree")
    class Tree(flatsync.Record):
        size: float

    @flatsync.record(name="9lives")
    class Cat(flatsync.Record):
        lives: int

    text = declarations([Tree, Cat], title="here")
    assert 'export interface Tree2 extends RecordOf<"Tree", Tree2Fields>' in text
    assert "export interface _9lives extends" in text


def test_the_command_says_what_is_wrong(
    sample: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A module without records or one that does not import is an error; - prints."""
    (tmp_path / "js_types_empty.py").write_text("X = 1\n", encoding="utf-8")
    try:
        assert main(["types", "js_types_empty", "--path", str(tmp_path)]) == 1
    finally:
        sys.modules.pop("js_types_empty", None)
    assert "declares no record class" in capsys.readouterr().err
    assert main(["types", "js_types_nowhere_to_be_found"]) == 1
    assert "js_types_nowhere_to_be_found" in capsys.readouterr().err
    assert main(["types", "js_types_sample", "--path", str(sample)]) == 0
    assert capsys.readouterr().out.startswith("// Written by `flatsync types` from js_types_sample")


def _typecheck(folder: Path) -> subprocess.CompletedProcess[str]:
    config = {
        "compilerOptions": {
            "target": "ES2022",
            "module": "ESNext",
            "moduleResolution": "Bundler",
            "strict": True,
            "noEmit": True,
            "skipLibCheck": False,
            "types": [],
            "lib": ["ES2022", "DOM"],
            "paths": {"flatsync": [str(JS / "src" / "index.ts")]},
        },
        "files": ["client.ts"],
    }
    (folder / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    return subprocess.run(
        [str(JS / "node_modules" / ".bin" / "tsc"), "-p", str(folder / "tsconfig.json")],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_typescript_client_type_checks_its_reads(sample: Path) -> None:
    """Right reads pass tsc; each wrong one is an error (an unneeded mark would fail)."""
    _build()
    _declarations(sample)
    (sample / "client.ts").write_text(textwrap.dedent(CLIENT), encoding="utf-8")
    result = _typecheck(sample)
    assert result.returncode == 0, result.stdout + result.stderr
    # Without its mark, a wrong read fails the check.
    wrong = CLIENT.replace("  // @ts-expect-error - an int may be a bigint\n", "")
    (sample / "client.ts").write_text(wrong, encoding="utf-8")
    result = _typecheck(sample)
    assert result.returncode != 0
    assert "Type 'number | bigint' is not assignable to type 'number'" in result.stdout


def test_other_annotations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Value types, abstract containers, other generics and literals beyond JSON numbers."""

    class Vec:
        pass

    monkeypatch.setitem(
        _types.TYPES_BY_CLASS, Vec, _types.ValueType(Vec, "vec", lambda v: v, lambda t: t)
    )
    writer = _Writer(small_ints=False)
    assert writer.type(Vec) == 'TypedValueOf<"vec">'
    assert writer.type(collections.abc.Mapping[int, str]) == "MapOf<number | bigint, string>"
    assert writer.type(collections.abc.Sequence[bytes]) == "ListOf<Uint8Array>"
    assert writer.type(dict[str, Any]) == "MapOf<string, Tree>"
    assert writer.type(set[int]) == "Tree"
    assert writer.type(Literal[2**60, 1.5, True, None]) == "Tree | true | null"
    assert writer.type(Optional[int]) == "number | bigint | null"  # noqa: UP045 - the old spelling
    assert writer.type(None) == "null"
    assert writer.type(object) == "Tree"
    assert writer.type(Vec()) == "Tree"
    assert writer.type(complex) == "Tree"
    assert "import" not in declarations([], title="nothing")
