"""Monitoring pings: start, success and fail with the log's tail; a failure is a reason."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from hostbook.jobs.run import monitor


class _Recorder(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, bytes]]] = []
    status = 200

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).requests.append((self.command, self.path, body))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"OK")

    do_GET = _handle
    do_POST = _handle

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Recorder]]]:
    class Handler(_Recorder):
        requests: ClassVar[list[tuple[str, str, bytes]]] = []
        status = 200

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/ping/abc", Handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_pings_start_success_and_fail_with_the_log_tail(
    server: tuple[str, type[_Recorder]],
) -> None:
    url, handler = server
    assert monitor.ping(url, "start", run_id="11111111-2222-3333-4444-555555555555") is None
    assert monitor.ping(url, "success", "line 1\nline 2\n") is None
    assert monitor.ping(url, "fail", "x" * (monitor.MAX_BODY + 500)) is None
    rid = "rid=11111111-2222-3333-4444-555555555555"
    assert handler.requests[0] == ("GET", f"/ping/abc/start?{rid}", b"")
    assert handler.requests[1] == ("POST", "/ping/abc", b"line 1\nline 2\n")
    method, path, body = handler.requests[2]
    assert (method, path, len(body)) == ("POST", "/ping/abc/fail", monitor.MAX_BODY)


def test_ping_failures_are_reasons_not_exceptions(server: tuple[str, type[_Recorder]]) -> None:
    url, handler = server
    handler.status = 500
    assert monitor.ping(url, "success") == "monitor ping success: HTTP 500"
    started = time.monotonic()
    reason = monitor.ping("http://127.0.0.1:9/x", "start", timeout=2)
    assert reason is not None and reason.startswith("monitor ping start:")
    assert time.monotonic() - started < 5
    assert os.environ.get("http_proxy") is None or reason
