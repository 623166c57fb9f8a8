"""The origin's game: players walk a small field and pick up gems.

It knows nothing of brokers or sockets. The origin calls :meth:`Field.take`
with every input a gateway forwards (with the client's id) and
:meth:`Field.step` before every tick; everything it changes lands in
:attr:`Field.state`, which the origin publishes. The state's shape::

    {
        "tick": int,
        "players": {client id: {"name": str, "x": int, "y": int, "score": int}},
        "gems": {gem id: {"x": int, "y": int}},
    }

A client joins by sending ``{"join": name}`` and steers with ``{"step": d}``
(``d`` one of :data:`STEPS`): its player walks one cell at the next tick.
Walking onto a gem scores a point and the gem jumps to a random cell.
"""

from __future__ import annotations

import random
from typing import Any, Final

import flatsync

__all__ = ["SIZE", "STEPS", "Field", "toward"]

#: The field is SIZE x SIZE cells.
SIZE: Final = 12

#: A step's name and its (x, y) move.
STEPS: Final[dict[str, tuple[int, int]]] = {"N": (0, -1), "S": (0, 1), "W": (-1, 0), "E": (1, 0)}


class Field:
    """The game: its state, the inputs waiting for the next tick, and its dice.

    Args:
        gems: How many gems lie on the field.
        seed: The seed of its dice.
    """

    def __init__(self, *, gems: int = 6, seed: int = 1) -> None:
        self._rng = random.Random(seed)
        self.state = flatsync.DataHandler({"tick": 0, "players": {}, "gems": {}})
        for gem in range(gems):
            self.state["gems"][gem] = self._somewhere()
        self._steps: dict[int, tuple[int, int]] = {}
        #: Inputs that were not understood (dropped).
        self.dropped = 0

    def _somewhere(self) -> dict[str, int]:
        return {"x": self._rng.randrange(SIZE), "y": self._rng.randrange(SIZE)}

    def take(self, client: int, message: Any) -> None:
        """An input of ``client`` (its id on its gateway, unique across the gateways)."""
        if not isinstance(message, dict) or len(message) != 1:
            self.dropped += 1
            return
        players = self.state["players"]
        if "join" in message and isinstance(message["join"], str):
            if client not in players:
                players[client] = {"name": message["join"][:16], **self._somewhere(), "score": 0}
        elif message.get("step") in STEPS and client in players:
            self._steps[client] = STEPS[message["step"]]
        else:
            self.dropped += 1

    def step(self) -> None:
        """One tick of the game: the steered players walk, and pick up the gems they reach."""
        state = self.state
        state["tick"] += 1
        players = state["players"]
        gems = state["gems"]
        where = {(gem["x"], gem["y"]): key for key, gem in gems.items()}
        for client, (dx, dy) in self._steps.items():
            player = players[client]
            x = min(SIZE - 1, max(0, player["x"] + dx))
            y = min(SIZE - 1, max(0, player["y"] + dy))
            player["x"], player["y"] = x, y
            gem = where.pop((x, y), None)
            if gem is not None:
                player["score"] += 1
                gems[gem] = moved = self._somewhere()
                where[moved["x"], moved["y"]] = gem
        self._steps.clear()


def toward(state: Any, client: int) -> str | None:
    """The step that takes ``client``'s player toward the nearest gem (``None``: not on the field).

    ``state`` is a replica's state (or the origin's).
    """
    me = state.get("players", {}).get(client)
    if me is None:  # not joined yet (or the replica has had no snapshot yet)
        return None
    x, y = me["x"], me["y"]
    gems = [
        (abs(g["x"] - x) + abs(g["y"] - y), g["x"], g["y"]) for g in state.get("gems", {}).values()
    ]
    if not gems:
        return None
    _, gx, gy = min(gems)
    if gx != x:
        return "E" if gx > x else "W"
    if gy != y:
        return "S" if gy > y else "N"
    return None
