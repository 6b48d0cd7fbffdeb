"""What ``hostbook serve`` listens on and how it knows who may change things.

Refused at start, before anything listens (exit 2, one line):

* an address that is not loopback without TLS (a certificate and key): the
  bearer token would cross the network in clear text;
* a token file that another user could read or write, or that is not a file.

The token is generated on first start (``secrets.token_urlsafe``, 256 bits)
into a new 0600 file, created exclusively so that a file planted at the name
is never written through, and never printed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from hostbook.manifest.errors import BadInputError

DEFAULT_LISTEN = "127.0.0.1:8765"
DEFAULT_TOKEN_FILE = Path("/etc/hostbook/serve.token")
TOKEN_BYTES = 32


@dataclass(frozen=True)
class Limits:
    """Request size and rate limits (per client address, token buckets)."""

    max_body: int = 64 * 1024
    """Bytes a request body may have (the API takes parameters, not uploads)."""
    read_rate: float = 500.0
    """Reads per second, per client address, sustained ..."""
    read_burst: int = 1000
    """... and at once."""
    write_rate: float = 1.0
    """Changes (POST) per second, per client address, sustained ..."""
    write_burst: int = 20
    """... and at once."""


@dataclass(frozen=True)
class ServeConfig:
    """Everything the server needs, checked."""

    host: str
    port: int
    repository: Path
    token: str
    state_dir: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    limits: Limits = field(default_factory=Limits)
    allowed_hosts: tuple[str, ...] = ()
    """Host header values accepted besides the listen address and localhost names
    (a DNS-rebinding page gets no answer)."""

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def trusted_hosts(self) -> list[str]:
        names = {self.host, f"[{self.host}]", "localhost", "127.0.0.1", "[::1]",
                 *self.allowed_hosts}
        return sorted(names)


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:8765``, ``[::1]:8765`` or ``localhost:8765`` -> (host, port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise BadInputError(f"--listen {text!r}: expected ADDRESS:PORT (e.g. 127.0.0.1:8765)")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise BadInputError(f"--listen {text!r}: port out of range")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, tls_cert: Path | None, tls_key: Path | None) -> None:
    """Refuse a non-loopback address without TLS; TLS needs both certificate and key."""
    if (tls_cert is None) != (tls_key is None):
        raise BadInputError("--tls-cert and --tls-key go together")
    if not is_loopback(host) and tls_cert is None:
        raise BadInputError(
            f"--listen {host}: not a loopback address, and no TLS: the bearer token would "
            "cross the network in clear text (give --tls-cert and --tls-key, or listen on "
            "127.0.0.1)")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise BadInputError(f"{path}: no such file")


def _check_private(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise BadInputError(f"{path}: the token file is not a regular file")
    if info.st_uid != os.geteuid():
        raise BadInputError(f"{path}: the token file belongs to uid {info.st_uid}, "
                            f"not to this user ({os.geteuid()})")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise BadInputError(f"{path}: the token file is readable or writable by others "
                            f"(mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 it")


def load_token(path: Path) -> str:
    """The bearer token in ``path``, made on first start; refused when others can read it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return _create_token(path)
    except OSError as exc:
        raise BadInputError(f"{path}: {exc.strerror}") from None
    try:
        _check_private(path, os.fstat(fd))
        data = os.read(fd, 4096).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    if len(data) < 32 or not data.isprintable() or " " in data:
        raise BadInputError(f"{path}: not a token (at least 32 printable characters, one line)")
    return data


def _create_token(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot create the token file: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode("ascii"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)
    return token
