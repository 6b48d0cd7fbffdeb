"""YAML round-trip I/O: comment-preserving load, deterministic dump, atomic write.

ruamel.yaml's round-trip mode keeps the comments, blank lines and key order a
person added, which is what lets a re-capture merge into a reviewed file.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from hostbook.manifest.bounds import (
    MAX_DOCUMENT_BYTES,
    MAX_NODES,
    BoundedComposer,
    BoundedConstructor,
    document_size,
    mib,
)
from hostbook.manifest.errors import ManifestError, RuntimeFailure

# How much of a message from the parser is shown: a duplicate key's message
# quotes its value, which may be a whole file.
_MESSAGE_CHARS = 200


def make_yaml() -> YAML:
    """A round-trip YAML instance with the project's fixed layout settings."""
    yaml = YAML(typ="rt")
    yaml.Composer = BoundedComposer  # limits on loading: see hostbook.manifest.bounds
    yaml.Constructor = BoundedConstructor
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold long values: folding would make diffs noisy
    yaml.preserve_quotes = True
    yaml.allow_unicode = True
    return yaml


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _MESSAGE_CHARS else line[: _MESSAGE_CHARS - 1] + "…"


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset into ``text``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def parse_text(text: str, filename: str) -> Any:
    """Parse YAML text within the limits of :mod:`hostbook.manifest.bounds`.

    A syntax error, a broken limit or a value that cannot be built becomes
    ``FILE:LINE:COL: message`` (one line); nothing else escapes.  An empty
    document (no content, or only comments) is an error too: every section
    file starts with its ``schema:`` line, and an empty file read as "no
    file" would silently drop a section.
    """
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ManifestError([f"{filename}:1:1: larger than {mib(MAX_DOCUMENT_BYTES)}, "
                             "the most a manifest file may be"])
    try:
        data = make_yaml().load(text)
    except ReaderError as exc:
        line, col = _position(text, exc.position)
        raise ManifestError(
            [f"{filename}:{line}:{col}: character #x{exc.character:04x} is not allowed in "
             "YAML (control characters must be written as escapes in double quotes)"]
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = _one_line(exc.problem or exc.context or "invalid YAML")
        if mark is None:
            raise ManifestError([f"{filename}:1:1: {problem}"]) from None
        raise ManifestError(
            [f"{filename}:{mark.line + 1}:{mark.column + 1}: {problem}"]
        ) from None
    except YAMLError as exc:
        raise ManifestError([f"{filename}:1:1: {_one_line(str(exc))}"]) from None
    if data is None:
        raise ManifestError([f"{filename}:1:1: the file is empty or null (a section file is "
                             "a mapping that starts with its schema: line)"])
    return data


def read_document(path: Path) -> Any:
    """Load a YAML file, or None when it does not exist.

    At most one byte more than the size limit is read, so a huge file (or a
    device or FIFO in its place) costs no memory.
    """
    try:
        # Opened without blocking and checked to be a regular file: a FIFO in
        # its place would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = "is a directory, not a YAML file" if stat.S_ISDIR(mode) else (
                "is not a regular file")
            raise ManifestError([f"{path}: {kind}"])
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RuntimeFailure(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ManifestError([f"{path}:1:1: larger than {mib(MAX_DOCUMENT_BYTES)}, the most a "
                             "manifest file may be"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        line, col = _position(good, len(good))
        raise ManifestError(
            [f"{path}:{line}:{col}: not UTF-8 text (byte 0x{data[exc.start]:02x}: {exc.reason})"]
        ) from None
    return parse_text(text, str(path))


def dump_text(document: Any) -> str:
    """Serialise a document to text with the fixed layout.

    A document the loader would refuse (beyond the limits of
    :mod:`hostbook.manifest.bounds`) is refused here, so no file is written
    that the next command could not read.
    """
    nodes, chars = document_size(document)
    text = ""
    if nodes <= MAX_NODES:
        buffer = io.StringIO()
        make_yaml().dump(document, buffer)
        text = buffer.getvalue()
    if nodes > MAX_NODES or len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise RuntimeFailure(
            f"the document has {nodes:,} values and {max(chars, len(text)):,} characters: "
            f"more than a manifest file may hold ({MAX_NODES:,} values, "
            f"{mib(MAX_DOCUMENT_BYTES)}); nothing was written"
        )
    return text


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> bool:
    """Write ``text`` via a temp file and rename; return False if bytes are unchanged.

    Nothing half-written is ever visible under ``path``: a crash leaves either
    the old file or the new one.  Without ``mode`` the file gets what any new
    file in that place would (0666 less the umask, or the directory's default
    ACL), as git itself does for a checkout; ``mode`` forces one.
    """
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path, 0o666 if mode is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _create_temp(path: Path, mode: int) -> tuple[int, str]:
    """A new, exclusive temp file beside ``path``, created with ``mode`` (umask applies)."""
    while True:
        tmp = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode), tmp
        except FileExistsError:
            continue
