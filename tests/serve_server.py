"""A real ``hostbook serve`` for tests: the command started on a free loopback port.

The server is the installed command (``python -m hostbook serve``), so a test
talks to exactly what a person starts, through a real HTTP client; it is
stopped with SIGTERM (then SIGKILL) by its pid when the test ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, timeout: float = 30.0, **kw: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout, **kw)  # type: ignore[arg-type]

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@contextlib.contextmanager
def running_server(repo: Path, work: Path, *extra: str,
                   env: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    token_file = work / "serve.token"
    log = work / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hostbook", "serve", "--repo", str(repo), "--listen",
             f"127.0.0.1:{port}", "--token-file", str(token_file), *extra],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                # the cheapest route: a large repository's first /api/hosts parses every file
                httpx.get(url + "/static/serve-live.js", timeout=5).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield Server(url, token_file.read_text().strip(), process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
