"""The seed example end to end: server state -> bytes -> client replica.

Run it with ``bash scripts/demo.sh`` (which sets up a virtual environment), or
``python examples/seed_example.py`` where flatsync is installed. It prints every
packet as hex with its size, and checks after each tick that the client's
replica equals the server's state.
"""

from __future__ import annotations

from typing import Any

import flatsync


class Demo:
    """A server-side state, one client replica, and the codec between them."""

    def __init__(self, state: dict[Any, Any]) -> None:
        self.codec = flatsync.CborCodec()
        # The server owns the state and mutates it like plain Python data.
        self.players = flatsync.DataHandler(state)
        # A new client gets the full state once (the seed's "refresh").
        hello = self.codec.encode(self.players.snapshot())
        self.show("snapshot (refresh)", hello, self.players.snapshot())
        self.replica = flatsync.DataHandler.from_snapshot(self.codec.decode(hello))

    @staticmethod
    def show(label: str, packet: bytes, tree: Any) -> None:
        print(f"{label:<20} {len(packet):>3} bytes  {packet.hex(' ')}")
        print(f"{'':<20}            {tree!r}")

    def tick(self, label: str) -> None:
        delta = self.players.diff()  # only what changed (the seed's "update")
        packet = self.codec.encode(delta)
        self.players.commit()  # forget what was sent
        self.show(label, packet, delta)
        for event in self.replica.patch(self.codec.decode(packet)):
            print(f"{'':<20}            client sees {event}")
        assert self.replica == self.players, "the replica diverged"


def main() -> None:
    demo = Demo(
        {
            1: {"name": "notch", "pos": (2, 2), "hp": 8},
            2: {"name": "jeb", "pos": (2, 3), "hp": 1},
            3: {"name": "c418", "pos": (2, 4), "hp": 7},
        }
    )
    players = demo.players

    players[3]["hp"] -= 1
    demo.tick("c418 takes a hit")

    del players[2]
    demo.tick("jeb leaves")

    players[4] = {"name": "dinnerbone", "pos": (5, 5), "hp": 10}
    demo.tick("dinnerbone joins")

    demo.tick("nothing happens")

    players[1]["pos"] = (3, 2)
    players[1]["pos"] = (4, 2)  # many writes to one key: the last one is sent
    players[4]["hp"] = 10  # equal to the current value: not a change
    demo.tick("notch walks east")

    print()
    print("client replica:", demo.replica.to_python())
    print("in sync with the server:", demo.replica == players)


if __name__ == "__main__":
    main()
