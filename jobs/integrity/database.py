"""The integrity database file: one gzip-compressed line per filesystem entry, in tree order.

Why a line format and not SQLite: a database is written once per run and read
whole (to reuse hashes, or to check a restored tree), never queried; sorted
text compresses to a few bytes per entry, diffs with ``zdiff``, and is read
and written at the speed of ``gzip`` and ``str.split``.

Format (version 1)::

    #hostbook-sure v1
    #root /run/hostbook/volumes/lv-vg0-home
    #created 2024-05-01T12:00:00Z
    <path>\\t<kind>\\t<mode>\\t<uid>\\t<gid>\\t<size>\\t<mtime_ns>\\t<ctime_ns>\\t<ino>\\t<value>

``path`` is relative to the root (``.`` is the root itself); ``kind`` is one
of ``f d l c b p s``; ``mode`` is the permission bits in octal; ``value`` is
the SHA-256 of a file's content, a symlink's target, or a device's
``major:minor``.  Paths and targets are escaped (backslash, tab, newline,
carriage return, and bytes that are not UTF-8 as ``\\xNN``) so that every
name round-trips byte for byte.  ``ctime`` and ``ino`` only serve the fast
update (a file whose inode, size and ctime are unchanged keeps its hash);
``check`` ignores them because a restore changes both.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import queue
import re
import threading
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hostbook.jobs.private_files import create_private, private_dir, replace_private
from hostbook.manifest.errors import BadInputError

MAGIC = "#hostbook-sure v1"
SUFFIX = ".sure.gz"
KINDS = frozenset("fdlcbps")
_COMPRESS_THREADS = max(1, min(4, os.cpu_count() or 1))
_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\x00-\x1f\x7f\udc80-\udcff]")
_UNESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[\\tnr])")


@dataclass(frozen=True, slots=True)
class Entry:
    """One filesystem entry as the database records it."""

    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    value: str

    def line(self) -> str:
        """The entry's line in the file (without newline)."""
        return (
            f"{escape(self.path)}\t{self.kind}\t{self.mode:o}\t{self.uid}\t{self.gid}\t"
            f"{self.size}\t{self.mtime_ns}\t{self.ctime_ns}\t{self.ino}\t"
            f"{escape(self.value) if self.kind == 'l' else self.value}"
        )


@dataclass
class Database:
    """A whole database: where it was taken and its entries, in tree order."""

    root: str
    created: str
    entries: list[Entry]

    def by_path(self) -> dict[str, Entry]:
        return {e.path: e for e in self.entries}


def escape(text: str) -> str:
    """Make a (surrogate-escaped) file name safe for one tab-separated field."""
    if not _NEEDS_ESCAPE.search(text):
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _unescape_one(match: re.Match[str]) -> str:
    token = match.group(1)
    if token == "\\":
        return "\\"
    if token == "t":
        return "\t"
    if token == "n":
        return "\n"
    if token == "r":
        return "\r"
    byte = int(token[1:], 16)
    return chr(byte) if byte < 0x80 else chr(0xDC00 + byte)


def unescape(text: str) -> str:
    """Inverse of :func:`escape`."""
    if "\\" not in text:
        return text
    return _UNESCAPE.sub(_unescape_one, text)


def tree_key(path: str) -> tuple[str, ...]:
    """Tree order: depth first, names in code point order; the root (``.``) first.

    It is the order a scan produces without a global sort, and the same on
    every machine.
    """
    return () if path == "." else tuple(path.split("/"))


def _parse_line(line: str, where: str) -> Entry:
    fields = line.split("\t")
    if len(fields) != 10 or fields[1] not in KINDS:
        raise BadInputError(f"{where}: not a sure entry: {line[:80]!r}")
    try:
        return Entry(
            path=unescape(fields[0]),
            kind=fields[1],
            mode=int(fields[2], 8),
            uid=int(fields[3]),
            gid=int(fields[4]),
            size=int(fields[5]),
            mtime_ns=int(fields[6]),
            ctime_ns=int(fields[7]),
            ino=int(fields[8]),
            value=unescape(fields[9]) if fields[1] == "l" else fields[9],
        )
    except ValueError:
        raise BadInputError(f"{where}: bad number in {line[:80]!r}") from None


def _text(path: Path) -> str:
    try:
        data = gzip.decompress(path.read_bytes())  # one call: faster than a stream
    except FileNotFoundError:
        raise BadInputError(f"{path}: no such integrity database") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise BadInputError(f"{path}: not a readable gzip file ({exc})") from None
    text = data.decode("utf-8", errors="surrogateescape")
    if not text.startswith(MAGIC + "\n"):
        raise BadInputError(f"{path}:1:1: not a hostbook integrity database (no {MAGIC!r})")
    return text


def _lines(path: Path) -> list[str]:
    return _text(path).split("\n")


def read(path: Path) -> Database:
    """Load a whole database; a damaged file is a one-line error naming the line."""
    lines = _lines(path)
    root, created = "", ""
    entries: list[Entry] = []
    for number, line in enumerate(lines[1:], 2):
        if not line:
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition(" ")
            if key == "root":
                root = unescape(value)
            elif key == "created":
                created = value
            continue
        entries.append(_parse_line(line, f"{path}:{number}"))
    return Database(root=root, created=created, entries=entries)


def read_lines_by_path(path: Path) -> dict[str, str]:
    """Only what the fast update needs: each regular file's raw line, by path.

    The update compares the stored line's size, mtime, ctime and inode with a
    fresh ``lstat`` and keeps the line (hash included) when they match, so
    nothing is parsed beyond finding each file's path.
    """
    lines = _text(path).split("\n")
    out = {
        line[:cut]: line
        for line in lines
        if (cut := line.find("\t")) > 0 and line.startswith("f\t", cut + 1)
    }
    for name in [n for n in out if "\\" in n]:  # escaped names are rare: fix them after
        out[unescape(name)] = out.pop(name)
    return out


def render(db: Database) -> bytes:
    """The uncompressed file content, entries in tree order."""
    buffer = io.StringIO()
    buffer.write(f"{MAGIC}\n#root {escape(db.root)}\n#created {db.created}\n")
    ordered = sorted(db.entries, key=lambda e: tree_key(e.path))
    buffer.write("\n".join(e.line() for e in ordered))
    if ordered:
        buffer.write("\n")
    return buffer.getvalue().encode("utf-8", errors="surrogateescape")


def write(db: Database, path: Path, level: int = 1) -> Path:
    """Write a database atomically (temp file, fsync, rename); returns ``path``."""
    return _write_bytes(render(db), path, level)


def write_lines(lines: list[str], path: Path, root: str, created: str, level: int = 1) -> Path:
    """Write entry lines as produced by a scan (already in tree order)."""
    head = f"{MAGIC}\n#root {escape(root)}\n#created {created}\n"
    body = "\n".join(lines) + ("\n" if lines else "")
    return _write_bytes((head + body).encode("utf-8", errors="surrogateescape"), path, level)


def _write_bytes(data: bytes, path: Path, level: int) -> Path:
    """Compress and write atomically (temp file, fsync, rename).

    gzip level 1: the file is mostly hex digests, which compress about the same
    at any level, and level 1 is several times faster than the default.  Large
    files are compressed as independent gzip members in parallel threads (zlib
    releases the GIL); concatenated members are one valid gzip stream.  The
    file is 0600 (every path, owner and hash of a volume is root's business).
    """
    private_dir(path.parent)
    chunk = max(1 << 22, -(-len(data) // _COMPRESS_THREADS))
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    if len(pieces) == 1:
        members = [_gzip_member(pieces[0], level)]
    else:
        with ThreadPoolExecutor(max_workers=_COMPRESS_THREADS) as pool:
            members = list(pool.map(lambda piece: _gzip_member(piece, level), pieces))
    return replace_private(path, members)


class StreamWriter:
    """Writes a database while it is being scanned: chunks of lines go to a thread
    that compresses them (zlib releases the GIL) and appends them to a temporary
    file; ``close`` fsyncs and renames it into place.

    Compression then overlaps the walk instead of following it, and the lines
    need not all be kept in memory.  Each chunk is one gzip member; a file of
    several members is one valid gzip stream.
    """

    def __init__(self, path: Path, root: str, created: str, level: int = 1) -> None:
        private_dir(path.parent)
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.level = level
        self.lines = 0
        self._raw = os.fdopen(create_private(self.tmp), "wb")
        self._queue: queue.Queue[list[str] | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="sure-writer", daemon=True)
        self._thread.start()
        self._queue.put([f"{MAGIC}", f"#root {escape(root)}", f"#created {created}"])

    def _drain(self) -> None:
        try:
            while (chunk := self._queue.get()) is not None:
                data = ("\n".join(chunk) + "\n").encode("utf-8", errors="surrogateescape")
                self._raw.write(_gzip_member(data, self.level))
        except BaseException as exc:  # reported by close()
            self._error = exc
            while self._queue.get() is not None:  # keep the producer from blocking
                pass

    def add(self, lines: list[str]) -> None:
        """Queue lines (in tree order) for writing."""
        if lines:
            self.lines += len(lines)
            self._queue.put(lines)

    def close(self) -> Path:
        """Finish: wait for the writer, fsync, rename into place."""
        self._queue.put(None)
        self._thread.join()
        try:
            if self._error is not None:
                raise self._error
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the partial file (after an error in the scan)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        with contextlib.suppress(OSError):
            self._raw.close()
        self.tmp.unlink(missing_ok=True)


def _gzip_member(data: bytes, level: int) -> bytes:
    """One complete gzip member (header with mtime 0, deflate data, CRC and size)."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def iter_databases(directory: Path) -> Iterator[Path]:
    """The databases in a store folder, oldest first (names start with a UTC stamp)."""
    if not directory.is_dir():
        return iter(())
    return iter(sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX)))


def latest(directory: Path) -> Path | None:
    """The newest database in a store folder, or None."""
    found = list(iter_databases(directory))
    return found[-1] if found else None


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` databases; return what was deleted."""
    found = list(iter_databases(directory))
    doomed = found[: max(0, len(found) - keep)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def entries_from(lines: Iterable[str], where: str = "<lines>") -> list[Entry]:
    """Parse entry lines (used by tests and tools that stream a database)."""
    return [_parse_line(line, where) for line in lines if line and not line.startswith("#")]
