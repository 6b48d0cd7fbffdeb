"""Parsed files kept while they are unchanged, for a long-running reader (``hostbook serve``).

Parsing a host's YAML files with comments kept (ruamel's round trip) costs
tens of milliseconds each; a dashboard answering a status request would
spend nearly all its time there, re-reading files that have not changed
since the last request.  With a cache enabled, what :func:`cached` produced
for a file is reused while the file keeps its device, inode, size, mtime and
ctime (a rewrite through a temporary file and a rename, as hostbook writes,
is a new inode; an edit in place moves mtime and ctime); a file that does
not exist is remembered as absent until it appears.  Commands never
enable it: a command reads each file once.  What is cached is shared: the
reader must not change it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

MAX_ENTRIES = 20000
"""Entries kept at most (a 1,000-host repository has about 6,000 files)."""

Signature = tuple[int, int, int, int, int]


def signature(path: Path | str) -> Signature | None:
    """What identifies a file's content without reading it (None: it does not exist)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class FileCache:
    """Values derived from files, each kept with the file's signature when it was read."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[Signature | None, Any]] = {}
        self._memos: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def memo(self, key: Hashable, produce: Callable[[], T]) -> T:
        """A value whose key says everything it depends on (a commit sha, say)."""
        with self._lock:
            if key in self._memos:
                self.hits += 1
                return self._memos[key]  # type: ignore[no-any-return]
        self.misses += 1
        value = produce()
        with self._lock:
            if len(self._memos) >= MAX_ENTRIES:
                self._memos.pop(next(iter(self._memos)))
            self._memos[key] = value
        return value

    def get(self, path: Path | str, kind: str, produce: Callable[[], T]) -> T:
        key = (str(path), kind)
        before = signature(path)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] == before:  # None == None: still absent
            self.hits += 1
            return entry[1]  # type: ignore[no-any-return]
        self.misses += 1
        value = produce()
        if signature(path) == before:  # unchanged (or still absent) while it was read
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = (before, value)
        return value


_active: FileCache | None = None


def enable() -> FileCache:
    """Turn the process-wide cache on (a server does, once) and return it."""
    global _active
    if _active is None:
        _active = FileCache()
    return _active


def cached(path: Path | str, kind: str, produce: Callable[[], T]) -> T:
    """``produce()``, or what it gave for this unchanged file, when the cache is on."""
    if _active is None:
        return produce()
    return _active.get(path, kind, produce)


def caching() -> bool:
    return _active is not None


def memo(key: Hashable, produce: Callable[[], T]) -> T:
    """``produce()``, or what it gave for the same key, when the cache is on."""
    if _active is None:
        return produce()
    return _active.memo(key, produce)
