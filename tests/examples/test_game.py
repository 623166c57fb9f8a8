"""The demo game's rules, and replicas of its state through the session layer (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import flatsync
from arena.bot import next_step
from arena.game import DIRECTIONS, FLOOR, GEM, LOG_LINES, WALL, Game, GameFull, view_for
from flatsync.testing import assert_strict_equal


def cells(game: Game, value: int) -> set[tuple[int, int]]:
    board = game.state["board"]
    return {
        (row, col)
        for row in range(game.rows)
        for col in range(game.cols)
        if board[row, col] == value
    }


def test_a_new_game_is_walled_and_holds_its_gems() -> None:
    game = Game(8, 12, gems=5, seed=7)
    walls = cells(game, WALL)
    border = {(r, c) for r in range(8) for c in range(12) if r in (0, 7) or c in (0, 11)}
    assert border <= walls
    assert len(cells(game, GEM)) == 5
    assert game.state["players"] == {}
    assert game.state["private"] == {}


def test_the_same_seed_makes_the_same_game() -> None:
    one, two = Game(seed=3), Game(seed=3)
    assert one.state["board"] == two.state["board"]
    assert one.join("a") == two.join("a") == 1
    assert one.state == two.state


@pytest.mark.parametrize(("rows", "cols", "gems"), [(4, 10, 1), (10, 4, 1), (5, 5, 9), (5, 5, -1)])
def test_impossible_games_are_refused(rows: int, cols: int, gems: int) -> None:
    with pytest.raises(ValueError, match=r"board|gems"):
        Game(rows, cols, gems=gems)


def test_a_player_walks_until_a_wall_stops_it() -> None:
    game = Game(5, 8, gems=0, seed=1)
    pid = game.join("ada")
    game.state["players"][pid].pos = (2, 3)
    for row in range(1, 4):  # clear the middle rows
        for col in range(1, 7):
            game.state["board"][row, col] = FLOOR
    game.steer(pid, "E")
    for _ in range(10):
        game.step()
    assert game.state["players"][pid].pos == (2, 6)
    assert game.state["private"][pid]["steps"] == 3


def test_walking_onto_a_gem_scores_and_drops_a_new_one() -> None:
    game = Game(5, 8, gems=1, seed=1)
    pid = game.join("ada")
    (gem,) = cells(game, GEM)
    game.state["players"][pid].pos = (gem[0], gem[1] - 1)
    game.state["board"][gem[0], gem[1] - 1] = FLOOR
    game.steer(pid, "E")
    game.step()
    assert game.state["players"][pid].score == 1
    assert game.state["players"][pid].pos == gem
    assert len(cells(game, GEM)) == 1
    assert cells(game, GEM) != {gem}
    assert game.state["private"][pid]["log"][-1] == f"gem at {gem[0]},{gem[1]}: 1 points"


def test_players_block_each_other_and_the_log_keeps_the_last_lines() -> None:
    game = Game(5, 8, gems=0, seed=1)
    ada, bob = game.join("ada"), game.join("bob")
    for col in range(1, 7):
        game.state["board"][2, col] = FLOOR
    game.state["players"][ada].pos = (2, 2)
    game.state["players"][bob].pos = (2, 3)
    game.steer(ada, "E")
    for _ in range(LOG_LINES + 2):
        game.step()
    assert game.state["players"][ada].pos == (2, 2)
    assert game.state["private"][ada]["log"] == ["bumped into bob"] * LOG_LINES


def test_join_names_glyphs_and_a_full_arena() -> None:
    game = Game(seed=2)
    first = game.join("\x1b[31mevil\x07 name that is far too long")
    assert game.state["players"][first].name == "[31mevil name th"
    assert game.state["players"][first].glyph == "A"
    assert game.state["players"][game.join("")].name == "player2"
    for n in range(24):
        game.join(f"p{n}")
    with pytest.raises(GameFull):
        game.join("one too many")
    game.leave(first)
    assert game.state["players"][game.join("late")].glyph == "A"


def test_steer_checks_its_arguments() -> None:
    game = Game(seed=2)
    pid = game.join("ada")
    with pytest.raises(ValueError, match="unknown direction"):
        game.steer(pid, "up")
    with pytest.raises(KeyError):
        game.steer(99, "N")
    game.leave(pid)
    game.leave(pid)  # twice is fine
    with pytest.raises(KeyError):
        game.steer(pid, "N")


def test_a_view_shows_the_board_every_player_and_only_its_own_private_part() -> None:
    game = Game(seed=2)
    ada, bob = game.join("ada"), game.join("bob")
    seen = view_for(ada).project(game.state.snapshot())
    assert set(seen) == {"board", "players", "private"}
    assert set(seen["players"]) == {ada, bob}
    assert set(seen["private"]) == {ada}


def test_the_bot_walks_towards_the_nearest_gem() -> None:
    game = Game(5, 9, gems=0, seed=1)
    for row in range(1, 4):
        for col in range(1, 8):
            game.state["board"][row, col] = FLOOR
    pid = game.join("bot")
    game.state["players"][pid].pos = (2, 4)
    game.state["board"][2, 1] = GEM
    assert next_step(game.state, pid) == "W"
    game.state["board"][1, 4] = GEM
    assert next_step(game.state, pid) == "N"
    game.state["board"][1, 3] = WALL  # does not block the direct step north
    assert next_step(game.state, pid) == "N"
    assert next_step(game.state, 99) == "."


class GameReplication(RuleBasedStateMachine):
    """Random joins, leaves, steering and ticks; every player's replica follows through the session layer."""

    def __init__(self) -> None:
        super().__init__()
        self.game = Game(7, 11, gems=4, seed=5)
        self.publisher = flatsync.Publisher(self.game.state)
        self.replicas: dict[int, flatsync.Replica] = {}
        self.committed = self.game.state.snapshot()  # the state as of the last frame

    @precondition(lambda self: len(self.replicas) < 6)
    @rule(name=st.text(max_size=20))
    def join(self, name: str) -> None:
        pid = self.game.join(name)
        self.publisher.add_client(pid, view_for(pid))
        self.replicas[pid] = flatsync.Replica()

    @precondition(lambda self: bool(self.replicas))
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        pid = data.draw(st.sampled_from(sorted(self.replicas)))
        self.game.leave(pid)
        self.publisher.remove_client(pid)
        del self.replicas[pid]

    @precondition(lambda self: bool(self.replicas))
    @rule(data=st.data(), direction=st.sampled_from(sorted(DIRECTIONS)))
    def steer(self, data: st.DataObject, direction: str) -> None:
        self.game.steer(data.draw(st.sampled_from(sorted(self.replicas))), direction)

    @rule(lossy=st.booleans())
    def tick(self, lossy: bool) -> None:
        self.game.step()
        self.publisher.tick()
        self.committed = self.game.state.snapshot()
        for pid, replica in self.replicas.items():
            packets = self.publisher.packets_for(pid)
            for packet in packets[:-1] if lossy else packets:
                replica.receive(packet)
            reply = replica.packet_to_send()
            if reply is not None:
                self.publisher.receive(pid, reply)

    @invariant()
    def rules_hold(self) -> None:
        board = self.game.state["board"]
        positions = [tuple(p.pos) for p in self.game.state["players"].values()]
        assert len(set(positions)) == len(positions)
        assert all(board[pos] != WALL for pos in positions)
        assert len(cells(self.game, GEM)) == 4
        assert all(len(p["log"]) <= LOG_LINES for p in self.game.state["private"].values())

    @invariant()
    def replicas_follow(self) -> None:
        frame = self.publisher.frame
        for pid, replica in self.replicas.items():
            if replica.frame == frame:
                assert_strict_equal(replica.state, view_for(pid).project(self.committed))

    def teardown(self) -> None:
        # Without loss, one more tick brings every replica to the latest frame.
        self.publisher.tick()
        for _ in range(2):
            for pid, replica in self.replicas.items():
                for packet in self.publisher.packets_for(pid):
                    replica.receive(packet)
                reply = replica.packet_to_send()
                if reply is not None:
                    self.publisher.receive(pid, reply)
            self.publisher.tick()
        for pid, replica in self.replicas.items():
            for packet in self.publisher.packets_for(pid):
                replica.receive(packet)
            assert replica.frame == self.publisher.frame
            assert_strict_equal(replica.state, view_for(pid).project(self.game.state.snapshot()))


TestGameReplication = GameReplication.TestCase
TestGameReplication.settings = settings(max_examples=30, stateful_step_count=30, deadline=None)


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=20, deadline=None)
def test_any_seed_makes_a_playable_board(seed: int) -> None:
    game = Game(seed=seed)
    pids = [game.join(f"p{n}") for n in range(26)]
    positions: Any = {tuple(game.state["players"][pid].pos) for pid in pids}
    assert len(positions) == 26
    assert len(cells(game, GEM)) == 12
