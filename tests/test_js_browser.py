"""The browser demo in real Chromium: a page (``js/demo/index.html``) that joins a Python
``flatsync.net`` server (``js/demo/serve.py``'s arena) over WebSocket with the JavaScript
package, draws the board, the players and the scores, and moves its player with the
arrow keys.

Debian's ``chromium`` drives it through ``playwright-core`` (``js/test/browser/drive.mjs``),
which never downloads a browser. The page's replica must equal the server's state, and
an arrow key must move the page's player on the server and back on the page.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from flatsync.net import Server
from test_js_cross import JS, need_program
from test_js_cross import _build as build_js


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flatsync_js_demo", JS / "demo" / "serve.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


demo = _demo()


@pytest.fixture(scope="module")
def static_site() -> Iterator[str]:
    """js/ over HTTP on 127.0.0.1 (the page and the built package), with dist/ built."""
    build_js()
    npm = shutil.which("npm")
    assert npm is not None
    subprocess.run([npm, "run", "--silent", "build"], cwd=JS, check=True)
    httpd = demo.static_server()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/demo/index.html"
    finally:
        httpd.shutdown()
        httpd.server_close()


WAIT = 60.0


class Driver:
    """The node process that drives Chromium."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        line = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
        assert line, "the browser driver ended"
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def until(self, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while True:
            state = await self.ask(cmd="state")
            assert not state["errors"], state["errors"]
            if condition(state):
                return state
            if loop.time() > deadline:
                raise TimeoutError(f"the page did not get there: {state}")
            await asyncio.sleep(0.05)


def test_browser_demo_joins_shows_opponents_and_moves(static_site: str) -> None:
    chromium = need_program("chromium", "chromium")
    node = need_program("node", "nodejs")

    async def main() -> None:
        arena = demo.Arena()
        server = Server(
            arena.root,
            tick_rate=30,
            on_join=arena.join,
            on_leave=arena.leave,
            on_message=arena.message,
        )
        await server.start(websocket=("127.0.0.1", 0))
        runner = asyncio.create_task(server.run())
        host, port = server.websocket_address
        process = await asyncio.create_subprocess_exec(
            node,
            str(JS / "test" / "browser" / "drive.mjs"),
            f"{static_site}?ws=ws://{host}:{port}/",
            chromium,
            cwd=str(JS),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        driver = Driver(process)
        try:
            assert process.stdout is not None
            ready = await asyncio.wait_for(process.stdout.readline(), WAIT * 2)
            assert json.loads(ready) == {"ready": True}
            # Joined: the page shows its player and both opponents, as the server has them.
            state = await driver.until(lambda s: s["players"] == arena.players())
            me = str(state["me"])
            assert set(state["players"]) == {"100", "101", me}
            # An arrow key moves the player on the server, and the page follows.
            await driver.ask(cmd="key", key="ArrowRight")
            await driver.until(lambda s: s["players"][me]["x"] == 3)
            assert arena.root["players"][int(me)]["pos"] == (3, 2)
            state = await driver.until(lambda s: s["players"] == arena.players())
            assert state["players"][me] == {"name": "browser", "x": 3, "y": 2, "score": 1}
        finally:
            if process.returncode is None:
                assert process.stdin is not None
                process.stdin.write(b'{"cmd": "close"}\n')
                process.stdin.close()
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:  # pragma: no cover - only if it hangs
                    process.kill()
                    await process.wait()
            server.stop()
            await runner
            await server.close()

    asyncio.run(asyncio.wait_for(main(), 240))
