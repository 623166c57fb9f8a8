"""The browser demo's server: ``python js/demo/serve.py``, then open the printed address.

An 8×8 arena with walls and two bots, served by :class:`flatsync.net.Server` over
WebSocket, and ``js/`` over HTTP for the page (``js/demo/index.html``, which
imports the built package: run ``npm run build`` in ``js/`` first). Each arrow
key the page sends moves its player and scores a point.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
from pathlib import Path
from typing import Any

import flatsync
from flatsync.net import Peer, Server

JS = Path(__file__).resolve().parent.parent
MOVES = {"N": (0, -1), "S": (0, 1), "W": (-1, 0), "E": (1, 0)}


class Arena:
    """The game: an 8×8 board of walls, two bots and the players who join."""

    def __init__(self) -> None:
        board = flatsync.ByteHandler("u8", (8, 8))
        for i in range(8):
            board[0, i] = board[7, i] = board[i, 0] = board[i, 7] = 1
        self.root = flatsync.DataHandler(
            {
                "board": board,
                "players": {
                    100: {"name": "bot-a", "pos": (5, 5), "score": 3},
                    101: {"name": "bot-b", "pos": (6, 2), "score": 1},
                },
            }
        )

    def join(self, peer: Peer) -> None:
        self.root["players"][peer.id] = {"name": peer.name, "pos": (2, 2), "score": 0}

    def leave(self, peer: Peer, reason: str) -> None:
        self.root["players"].pop(peer.id, None)

    def message(self, peer: Peer, message: Any) -> None:
        if type(message) is not tuple or len(message) != 2 or message[1] not in MOVES:
            return
        player = self.root["players"][peer.id]
        dx, dy = MOVES[message[1]]
        x, y = player["pos"]
        if not self.root["board"][y + dy, x + dx]:
            player["pos"] = (x + dx, y + dy)
            player["score"] += 1

    def players(self) -> dict[str, Any]:
        """The players as the page shows them (ids as JSON object keys)."""
        return {
            str(pid): {"name": p["name"], "x": p["pos"][0], "y": p["pos"][1], "score": p["score"]}
            for pid, p in self.root["players"].items()
        }


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def static_server() -> http.server.ThreadingHTTPServer:
    """``js/`` over HTTP on 127.0.0.1 (any free port), served from a thread."""
    handler = functools.partial(_QuietHandler, directory=str(JS))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


async def main() -> None:
    """Serve the arena until interrupted."""
    arena = Arena()
    server = Server(
        arena.root, tick_rate=30, on_join=arena.join, on_leave=arena.leave, on_message=arena.message
    )
    await server.start(websocket=("127.0.0.1", 0))
    httpd = static_server()
    host, port = server.websocket_address
    print(f"open http://127.0.0.1:{httpd.server_address[1]}/demo/index.html?ws=ws://{host}:{port}/")
    try:
        await server.run()
    finally:
        httpd.shutdown()
        await server.close()


if __name__ == "__main__":
    asyncio.run(main())
