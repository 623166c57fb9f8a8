"""Views: the rules, the projections, and the two laws that the sessions rely on.

* filter: ``apply_delta(project(old), filter(delta)) == project(new)``, for any
  mutation of any tree, so that a client under a view that replays every frame
  holds exactly the projection of the state (and a late joiner's snapshot is
  that projection too);
* transition: ``apply_delta(project(state, V), transition(V, W)) == project(state, W)``.

A naive model of the rules (``model_project``), written independently of the
compiled views, decides what each view should show.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flatsync import ANY, DELETED, DataHandler, ListHandler, View
from flatsync._session._views import (
    ViewCompiler,
    filter_delta,
    project_snapshot,
    project_state,
    transition,
)
from flatsync.protocol import apply_delta
from flatsync.testing import assert_strict_equal

Rule = tuple[Any, ...]


def is_even(key: Any) -> bool:
    return type(key) is int and key % 2 == 0


def is_text(key: Any) -> bool:
    return type(key) is str


# -- the model ------------------------------------------------------------------------------


def matches(item: Any, key: Any) -> bool:
    if item is ANY:
        return True
    if type(item) is frozenset:
        return key in item
    if callable(item):
        return bool(item(key))
    return key in {item}  # dict-key semantics: 1, 1.0 and True are one key


def model_project(tree: dict[Any, Any], rules: frozenset[Rule]) -> dict[Any, Any]:
    """What ``rules`` show of ``tree``, straight from the definition."""

    def walk(node: dict[Any, Any], path: tuple[Any, ...]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, value in node.items():
            here = (*path, key)
            covered = any(
                len(rule) <= len(here) and all(map(matches, rule, here)) for rule in rules
            )
            deeper = any(
                len(rule) > len(here) and all(map(matches, rule[: len(here)], here))
                for rule in rules
            )
            if covered:
                out[key] = value
            elif deeper and type(value) is dict:
                out[key] = walk(value, here)
        return out

    if () in rules:
        return tree
    return walk(tree, ())


# -- strategies ------------------------------------------------------------------------------

#: A small key pool, so that rules and trees meet (with the 1 / 1.0 / True trap).
KEYS: list[Any] = ["a", "b", "pos", 1, 2, 1.0, True, (0, 1)]
RULE_ITEMS = st.one_of(
    st.sampled_from(KEYS),
    st.just(ANY),
    st.sets(st.sampled_from(KEYS), min_size=1, max_size=3).map(frozenset),
    st.sampled_from([is_even, is_text]),
)
RULES = st.lists(st.lists(RULE_ITEMS, max_size=3).map(tuple), max_size=4)
VIEWS = RULES.map(lambda rules: View(*rules))

SCALARS = st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y", 0.5, -0.0, None, b"z"]))
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
        st.lists(inner, max_size=2),
        st.lists(SCALARS, max_size=2).map(tuple),
    ),
    max_leaves=12,
)
ROOTS = st.dictionaries(st.sampled_from(KEYS), TREES, max_size=5)


def mappings(handler: DataHandler) -> list[DataHandler]:
    """Every mapping in the tree, the root first."""
    found = [handler]
    for value in dict.values(handler):
        if isinstance(value, DataHandler):
            found.extend(mappings(value))
    return found


@st.composite
def mutate(draw: st.DrawFn, handler: DataHandler) -> None:
    """A few random writes anywhere in ``handler`` (sets, deletes, new subtrees, list edits)."""
    for _ in range(draw(st.integers(1, 6))):
        target = draw(st.sampled_from(mappings(handler)))
        key = draw(st.sampled_from(KEYS))
        action = draw(st.sampled_from(["set", "tree", "delete", "append", "readd"]))
        if action == "set":
            target[key] = draw(SCALARS)
        elif action == "tree":
            target[key] = draw(TREES)
        elif action == "delete":
            target.pop(key, None)
        elif action == "append":
            value = target.get(key)
            if isinstance(value, ListHandler):
                value.append(draw(SCALARS))
        else:
            old = target.pop(key, None)
            target[key] = old.copy() if isinstance(old, DataHandler | ListHandler) else old


# -- View itself -----------------------------------------------------------------------------


def test_equal_rules_make_equal_views_in_any_order() -> None:
    one = View(("players", ANY, "pos"), ("chunks", {(0, 0), (0, 1)}))
    two = View(("chunks", frozenset({(0, 1), (0, 0)})), ("players", ANY, "pos"))
    assert one == two
    assert hash(one) == hash(two)
    assert one | View(("players", ANY, "pos")) == one
    assert View(("a",), ("a",)) == View(("a",))
    assert View(("a",)) != View(("b",))


def test_repr_keeps_the_order_given() -> None:
    assert (
        repr(View(("players", ANY, "pos"), ("me",)))
        == "View(('players', flatsync.ANY, 'pos'), ('me',))"
    )


@pytest.mark.parametrize(
    "rule",
    [["players"], "players", ("players", [1]), ("players", {1: 2}), ("a", {float("nan")})],
)
def test_bad_rules_raise_type_error(rule: Any) -> None:
    with pytest.raises(TypeError):
        View(rule)


def test_project_takes_only_a_mapping() -> None:
    with pytest.raises(TypeError):
        View(()).project([1])  # type: ignore[arg-type]


STATE: dict[Any, Any] = {
    "players": {
        7: {"name": "a", "pos": (1, 2), "inventory": ["axe"]},
        8: {"name": "b", "pos": (3, 4), "inventory": []},
        "count": 2,
    },
    "chunks": {(0, 0): b"\x00", (0, 1): b"\x01", (5, 5): b"\x05"},
    "bag": [{"pos": 1}],
}


def test_everything_and_nothing() -> None:
    assert View(()).project(STATE) is STATE
    assert View().project(STATE) == {}


def test_a_rule_shows_the_mappings_on_the_way_with_only_what_it_shows() -> None:
    view = View(("players", ANY, "pos"))
    assert view.project(STATE) == {"players": {7: {"pos": (1, 2)}, 8: {"pos": (3, 4)}}}


def test_owner_rule_and_sets_of_keys() -> None:
    view = View(("players", 7, "inventory"), ("chunks", {(0, 0), (0, 1), (9, 9)}))
    assert view.project(STATE) == {
        "players": {7: {"inventory": ["axe"]}},
        "chunks": {(0, 0): b"\x00", (0, 1): b"\x01"},
    }


def test_predicates_match_keys() -> None:
    view = View(("players", is_even, "name"))
    assert view.project(STATE) == {"players": {8: {"name": "b"}}}


def test_views_do_not_descend_into_lists_or_values() -> None:
    assert View(("bag", 0, "pos")).project(STATE) == {}
    assert View(("players", "count", "x")).project(STATE) == {"players": {}}
    assert View(("bag",)).project(STATE) == {"bag": [{"pos": 1}]}


def test_a_large_mapping_is_looked_up_in_rule_order() -> None:
    chunks = {(x, y): bytes((x, y)) for x in range(10) for y in range(10)}
    view = View(("chunks", {(1, 1), (1, 2), (3, 3)}))
    projected = view.project({"chunks": chunks})["chunks"]
    assert list(projected) == sorted(projected, key=repr)
    assert projected == {key: chunks[key] for key in [(1, 1), (1, 2), (3, 3)]}


def test_projection_keeps_the_key_objects_of_the_state() -> None:
    projected = View((1,), ((0, 1),)).project({True: "t", (0, 1.0): "f"})
    assert_strict_equal(projected, {True: "t", (0, 1.0): "f"})
    big = {float(i): i for i in range(100)}
    assert_strict_equal(View(({1, 2},)).project(big), {1.0: 1, 2.0: 2})


def test_compiled_nodes_are_shared_between_views() -> None:
    compiler = ViewCompiler()
    one = compiler.root(View(("players", ANY, "pos"), ("players", 7, "inventory")))
    two = compiler.root(View(("players", ANY, "pos"), ("players", 8, "inventory")))
    assert one is not two
    assert one.child("players") is not two.child("players")
    players_one, players_two = one.child("players"), two.child("players")
    assert players_one is not None
    assert players_two is not None
    assert players_one.child(3) is players_two.child(3)
    assert compiler.root(View(())) is compiler.everything
    assert compiler.root(None) is compiler.everything


# -- the laws --------------------------------------------------------------------------------


@given(tree=ROOTS, rules=RULES)
def test_compiled_projection_equals_the_model(tree: dict[Any, Any], rules: list[Rule]) -> None:
    view = View(*rules)
    assert_strict_equal(view.project(tree), model_project(tree, view.rules))
    state = DataHandler(tree)
    compiler = ViewCompiler()
    assert_strict_equal(project_state(state, compiler.root(view)), view.project(tree))


@given(tree=ROOTS, view=VIEWS, data=st.data())
def test_filtered_delta_takes_the_old_projection_to_the_new(
    tree: dict[Any, Any], view: View, data: st.DataObject
) -> None:
    state = DataHandler(tree)
    node = ViewCompiler().root(view)
    before = project_snapshot(state.snapshot(), node)
    data.draw(mutate(state))
    delta = state.diff()
    after = apply_delta(before, filter_delta(delta, node))
    assert_strict_equal(after, model_project(state.snapshot(), view.rules))


@given(tree=ROOTS, old=VIEWS, new=VIEWS)
def test_transition_takes_one_view_to_the_other(tree: dict[Any, Any], old: View, new: View) -> None:
    state = DataHandler(tree)
    compiler = ViewCompiler()
    snapshot = state.snapshot()
    step = transition(state, compiler.root(old), compiler.root(new))
    result = apply_delta(model_project(snapshot, old.rules), step)
    assert_strict_equal(result, model_project(snapshot, new.rules))


def test_transition_visits_only_what_differs() -> None:
    calls: list[Any] = []

    def spy(key: Any) -> bool:
        calls.append(key)
        return False

    state = DataHandler(
        {"chunks": {(x, 0): x for x in range(100)}, "other": {i: i for i in range(50)}}
    )
    compiler = ViewCompiler()
    old = compiler.root(View(("chunks", {(1, 0), (2, 0)}), ("other", spy)))
    new = compiler.root(View(("chunks", {(2, 0), (3, 0)}), ("other", spy)))
    assert transition(state, old, new) == {"chunks": {(1, 0): DELETED, (3, 0): 3}}
    assert calls == []  # "other" shows the same under both views: not visited
