"""The relay example (``python -m relay`` in examples/): a broker, an origin, two gateways, bots.

It runs briefly on each backend, starting its own broker server and gateway
processes on 127.0.0.1, and must end with every bot's replica strictly equal
to the origin's state.
"""

from __future__ import annotations

import asyncio

import pytest

from relay.game import Field, toward
from relay.run import main, run


@pytest.mark.parametrize("backend", ["nats", "redis"])
def test_bots_end_strictly_equal_to_the_origin(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    converged = asyncio.run(run(duration=1.5, bots=3, backend=backend, settle=15.0))
    out = capsys.readouterr().out
    assert converged, out
    assert f"broker: {backend} at" in out
    assert "players 3" in out  # every bot joined through a gateway, its input reached the origin
    assert "converged: 3 bots strictly equal to the origin" in out


def test_the_command_line_says_whether_it_converged(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--duration", "0.5", "--bots", "2", "--redis"]) == 0
    assert "converged: 2 bots" in capsys.readouterr().out


def test_the_game_moves_players_toward_gems_and_drops_what_it_does_not_understand() -> None:
    field = Field(gems=1, seed=3)
    field.take(7, {"join": "ann"})
    field.take(7, {"join": "again"})  # joined already: nothing changes
    field.take(7, ["not", "a", "mapping"])
    field.take(8, {"step": "N"})  # not joined
    assert field.dropped == 2
    assert toward(field.state, 8) is None
    for _ in range(2 * 12):  # a Manhattan walk across the field at most
        step = toward(field.state, 7)
        assert step is not None
        field.take(7, {"step": step})
        field.step()
        if field.state["players"][7]["score"] == 1:
            break
    else:
        pytest.fail("the player never reached the gem")
    assert toward({}, 7) is None
