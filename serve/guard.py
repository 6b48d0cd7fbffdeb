"""The server's front door: every request passes here before any route runs.

* Changes need the bearer token in the ``Authorization`` header.  A token in
  the query string is refused even when it is right (URLs end up in logs,
  histories and Referer headers), and so is a cookie: a browser attaches a
  cookie to a forged cross-site request by itself, never a header, so a
  header token is what makes a change CSRF-proof.  The comparison takes the
  same time whatever the guess.
* No CORS: no ``Access-Control-*`` header is ever sent, and a preflight
  (``OPTIONS``) is refused, so another origin's script can neither read an
  answer nor send the header a change needs.
* The Host header must name this server (a DNS-rebinding page is refused).
* A body larger than :attr:`Limits.max_body` is refused (413) before it is
  read whole; requests beyond a client's rate get 429 with ``Retry-After``.
* Every answer carries a strict Content-Security-Policy (scripts only from
  this server) and ``X-Frame-Options: DENY``.
* Every refusal and every error is JSON, ``{"error": ..., "status": ...}``.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from hostbook.serve.config import Limits

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

READ_METHODS = frozenset({"GET", "HEAD"})
TOKEN_PARAMETERS = frozenset({"token", "access_token", "auth", "bearer"})
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; "
     b"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
MAX_CLIENTS = 4096
"""Rate buckets kept at most (the oldest go first): bounded memory whoever calls."""


def json_error(status: int, message: str) -> bytes:
    return json.dumps({"error": message, "status": status}).encode()


async def send_error(send: Send, status: int, message: str,
                     extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json_error(status, message)
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS, *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """A token bucket per client address and kind (read or write)."""

    rate: float
    burst: int
    now: Callable[[], float] = time.monotonic
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def allow(self, client: str) -> float | None:
        """None when the request may go; else the seconds until it may."""
        moment = self.now()
        bucket = self.buckets.pop(client, None) or Bucket(float(self.burst), moment)
        bucket.tokens = min(float(self.burst), bucket.tokens + (moment - bucket.stamp) * self.rate)
        bucket.stamp = moment
        self.buckets[client] = bucket  # re-inserted: the dict's order is recency
        while len(self.buckets) > MAX_CLIENTS:
            self.buckets.pop(next(iter(self.buckets)))
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.rate


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def bearer(scope: Scope) -> str | None:
    value = _header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def host_allowed(scope: Scope, allowed: frozenset[str]) -> bool:
    host = _header(scope, b"host")
    if host is None:
        return False
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in allowed


DRAIN_FACTOR = 16
"""A body up to this many times the limit is read and dropped before the 413 is sent."""


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


class Guard:
    """ASGI middleware applying the rules in the module docstring."""

    def __init__(self, app: App, token: str, limits: Limits, allowed_hosts: list[str]) -> None:
        self.app = app
        self.token = token.encode()
        self.limits = limits
        self.allowed = frozenset(h.lower() for h in allowed_hosts)
        self.reads = RateLimiter(limits.read_rate, limits.read_burst)
        self.writes = RateLimiter(limits.write_rate, limits.write_burst)

    def authorized(self, scope: Scope) -> str | None:
        """None when the request may change things; else why not."""
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if TOKEN_PARAMETERS & set(query):
            return ("a token in the query string is not accepted (it ends up in logs): "
                    "send 'Authorization: Bearer TOKEN'")
        token = bearer(scope)
        if token is None:
            return "this request changes something: send 'Authorization: Bearer TOKEN'"
        if not hmac.compare_digest(token.encode(), self.token):
            return "wrong token"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if not host_allowed(scope, self.allowed):
            await send_error(send, 421, "this server does not answer for that Host header")
            return
        if method == "OPTIONS":
            await send_error(send, 405, "no cross-origin requests (CORS) here")
            return
        client = (scope.get("client") or ("?", 0))[0]
        wait = (self.reads if method in READ_METHODS else self.writes).allow(client)
        if wait is not None:
            await send_error(send, 429, "too many requests; slow down",
                             [(b"retry-after", str(max(1, round(wait))).encode())])
            return
        if method not in READ_METHODS:
            refusal = self.authorized(scope)
            if refusal is not None:
                await send_error(send, 401, refusal, [(b"www-authenticate", b"Bearer")])
                return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limits.max_body):
            if length.isdigit() and int(length) <= DRAIN_FACTOR * self.limits.max_body:
                await _drain(receive)  # the client reads the answer, not a reset
            await send_error(send, 413, f"request body over {self.limits.max_body} bytes")
            return
        await self.app(scope, self._bounded(receive), self._secured(send))

    def _bounded(self, receive: Receive) -> Receive:
        """A chunked body is counted as it arrives and cut off past the limit."""
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limits.max_body:
                    raise BodyTooLarge()
            return message
        return bounded

    @staticmethod
    def _secured(send: Send) -> Send:
        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", [])
                           if not bytes(h[0]).lower().startswith(b"access-control-")]
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)
        return secured


class BodyTooLarge(Exception):
    """A request body grew past the limit while it was read."""
