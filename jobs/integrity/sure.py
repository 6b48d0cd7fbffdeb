"""The integrity database ("sure"): record a tree, update it fast, check a restore.

``update`` walks a tree once (one ``lstat`` per entry), takes the SHA-256 of
every regular file whose inode, size and ctime differ from the previous
database, and reuses the stored hash for the rest: on a snapshot of a
volume that changed by 1%, that is the cost of a directory walk plus hashing
the 1%.  ``check`` compares a restored tree with a database field by field,
ignoring ctime and inode numbers (a restore changes both), directory sizes
(they depend on the filesystem) and the mtime of the root itself (it is the
directory restored into, whose time borg, for one, leaves alone), and lists
every difference.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import pickle
import stat
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from hostbook.jobs.integrity import database as sure_db
from hostbook.jobs.integrity.database import Database, Entry
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.units import human, iso_ns

# The folder a database is written to inside a writable snapshot; never recorded.
IN_TREE_DIR = ".hostbook-sure"
UNREADABLE = "-"
CHECK_FIELDS = ("kind", "mode", "uid", "gid", "size", "mtime", "value")
_HASH_WORKERS = max(2, os.cpu_count() or 2)
_SMALL = 1 << 20  # read in one go below this size
_LARGE = 4 << 20  # hashed in worker threads from this size on
_CHUNK = 8192  # lines per chunk handed to the database writer

Progress = Callable[[int, int, int], None]
"""Called with (entries walked, files to hash, files hashed so far)."""


@dataclass
class ScanStats:
    """What an update did: how much it walked, hashed and reused."""

    entries: int = 0
    files: int = 0
    hashed: int = 0
    reused: int = 0
    hashed_bytes: int = 0
    unreadable: list[str] = field(default_factory=list)
    seconds: float = 0.0
    previous_error: str | None = None
    """Why the previous database could not be used (every file was hashed then)."""


@dataclass(frozen=True)
class Difference:
    """One way a tree differs from its database."""

    path: str
    status: str  # "missing" (in the database, not in the tree), "extra", "changed"
    changes: tuple[tuple[str, str, str], ...] = ()  # (field, recorded, found)

    def describe(self) -> str:
        shown = sure_db.escape(self.path)
        if self.status != "changed":
            return f"{self.status}: {shown}"
        parts = ", ".join(f"{name} {_readable(name, old)} -> {_readable(name, new)}"
                          for name, old, new in self.changes)
        return f"changed: {shown}: {parts}"


def _readable(name: str, value: str) -> str:
    """A change's value as a person reads it: mtimes as ISO dates, sizes with units.

    ``--json`` keeps the raw values (nanoseconds, bytes) for programs.
    """
    if name == "mtime" and value.lstrip("-").isdigit():
        return iso_ns(int(value))
    if name == "size" and value.isdigit() and int(value) >= 1024:
        return f"{human(int(value))} ({value} bytes)"
    if name == "size" and value.isdigit():
        return f"{value} bytes"
    return value


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "f"
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISLNK(mode):
        return "l"
    if stat.S_ISCHR(mode):
        return "c"
    if stat.S_ISBLK(mode):
        return "b"
    if stat.S_ISFIFO(mode):
        return "p"
    return "s"


class _Excluder:
    """Exact relative paths and fnmatch patterns; the in-tree database is always out."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.exact = {IN_TREE_DIR}
        self.globs: list[str] = []
        for pattern in patterns:
            clean = pattern.strip().strip("/")
            if not clean:
                continue
            if any(ch in clean for ch in "*?["):
                self.globs.append(clean)
            else:
                self.exact.add(clean)

    def __call__(self, rel: str) -> bool:
        if rel in self.exact:
            return True
        return any(fnmatch.fnmatchcase(rel, g) for g in self.globs)


_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


def hash_file(path: str, size_hint: int = 0) -> str:
    """SHA-256 of a file's content, hex; ``-`` when it cannot be read.

    Opened without following links and without blocking, and checked to be a
    regular file: on a live filesystem (provider ``none``) a file can become a
    FIFO or a symlink between the walk and the read, and must not hang the run
    or be read through.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return UNREADABLE
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return UNREADABLE
        with os.fdopen(fd, "rb") as handle:
            if size_hint < _SMALL:
                return hashlib.sha256(handle.read()).hexdigest()
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return UNREADABLE


def _hash_many(root: str, todo: list[tuple[str, int]], progress: Progress | None,
               walked: int) -> list[str]:
    """Hash files; small ones inline (threads only add lock traffic for them), large
    ones in a thread pool, where hashlib releases the GIL while it works."""
    out = [""] * len(todo)
    large = [i for i, (_rel, size) in enumerate(todo) if size >= _LARGE]
    done = 0
    pool = ThreadPoolExecutor(max_workers=_HASH_WORKERS) if large else None
    try:
        futures = (
            {i: pool.submit(hash_file, os.path.join(root, todo[i][0]), todo[i][1]) for i in large}
            if pool is not None
            else {}
        )
        for index, (rel, size) in enumerate(todo):
            if index in futures:
                continue
            out[index] = hash_file(os.path.join(root, rel), size)
            done += 1
            if progress is not None and done % 512 == 0:
                progress(walked, len(todo), done)
        for index, future in futures.items():
            out[index] = future.result()
            done += 1
            if progress is not None:
                progress(walked, len(todo), done)
    finally:
        if pool is not None:
            pool.shutdown()
    return out


@dataclass
class _Part:
    """The lines of one walked subtree, and what in it still needs hashing."""

    lines: list[str] = field(default_factory=list)
    todo: list[tuple[str, int]] = field(default_factory=list)
    todo_at: list[int] = field(default_factory=list)
    units: list[tuple[int, str]] = field(default_factory=list)
    reused: int = 0
    hashed: int = 0
    emitted: int = 0
    hashed_bytes: int = 0
    unreadable: list[str] = field(default_factory=list)


def _walk(
    base: str,
    stack: list[tuple[str, list[os.DirEntry[str]]]],
    prior: dict[str, str],
    excluded: _Excluder,
    progress: Progress | None,
    stop_at_dirs: bool = False,
    sink: Callable[[list[str]], None] | None = None,
) -> _Part:
    """Walk depth first from ``stack`` and format every entry's line.

    A regular file whose stored line has the same size, mtime, ctime and inode
    keeps that line, hash included.  With ``stop_at_dirs`` directories are not
    entered: their line is written and they are returned as units (position,
    path) for a worker to walk.  With a ``sink`` changed files are hashed as
    they are met (large ones in a thread pool) and finished lines are handed
    to the sink in chunks, so writing the database overlaps the walk.
    """
    part = _Part()
    lines = part.lines
    exact, globs = excluded.exact, excluded.globs
    escape = sure_db.escape
    is_dir, is_reg, is_lnk = stat.S_ISDIR, stat.S_ISREG, stat.S_ISLNK
    join = os.path.join
    reused = hashed = 0
    pending: list[tuple[int, str, Future[str]]] = []
    pool: ThreadPoolExecutor | None = None

    def flush() -> None:
        nonlocal lines
        for at, rel, future in pending:
            digest = future.result()
            lines[at] += digest
            if digest == UNREADABLE:
                part.unreadable.append(rel)
        pending.clear()
        assert sink is not None
        sink(lines)
        part.emitted += len(lines)
        lines = []

    try:
        while stack:
            rel, items = stack[-1]
            prefix = f"{rel}/" if rel else ""
            while items:
                item = items.pop()
                path = prefix + item.name
                if path in exact or (globs and excluded(path)):
                    continue
                try:
                    info = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                mode = info.st_mode
                if is_reg(mode):
                    old = prior.get(path)
                    # Same inode, size and ctime (and mtime): the stored line, hash
                    # included, is still true; no formatting, no reading.
                    if old is not None and old.endswith(
                        f"\t{info.st_size}\t{info.st_mtime_ns}\t{info.st_ctime_ns}\t"
                        f"{info.st_ino}\t",
                        0,
                        len(old) - 64,
                    ):
                        lines.append(old)
                        reused += 1
                        continue
                    part.hashed_bytes += info.st_size
                    if sink is None:
                        part.todo.append((path, info.st_size))
                        part.todo_at.append(len(lines))
                        lines.append(_line(path, info, "f", ""))
                    elif info.st_size < _LARGE:
                        digest = hash_file(join(base, path), info.st_size)
                        if digest == UNREADABLE:
                            part.unreadable.append(path)
                        lines.append(_line(path, info, "f", digest))
                        hashed += 1
                    else:
                        pool = pool or ThreadPoolExecutor(max_workers=_HASH_WORKERS)
                        pending.append((len(lines), path, pool.submit(
                            hash_file, join(base, path), info.st_size)))
                        lines.append(_line(path, info, "f", ""))
                        hashed += 1
                elif is_dir(mode):
                    lines.append(_line(path, info, "d", ""))
                    if stop_at_dirs:
                        part.units.append((len(lines), path))
                        continue
                    stack.append((path, _listing(item.path)))
                    break  # descend now: the subtree follows its directory's line
                elif is_lnk(mode):
                    try:
                        target = os.readlink(item.path)
                    except OSError:
                        target = UNREADABLE
                    lines.append(_line(path, info, "l", escape(target)))
                else:
                    kind = _kind(mode)
                    value = (
                        f"{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}"
                        if kind in "cb" else ""
                    )
                    lines.append(_line(path, info, kind, value))
            else:
                stack.pop()
            if sink is not None and len(lines) >= _CHUNK:
                flush()
            if progress is not None:
                progress(part.emitted + len(lines), 0, hashed)
        if sink is not None:
            flush()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    part.lines = lines
    part.reused = reused
    part.hashed = hashed + len(part.todo)
    part.emitted += len(lines)
    return part


def _hash_part(base: str, part: _Part, progress: Progress | None) -> None:
    """Fill in the hashes a walk left open."""
    digests = _hash_many(base, part.todo, progress, len(part.lines))
    for at, digest, (rel, _size) in zip(part.todo_at, digests, part.todo, strict=True):
        part.lines[at] += digest
        if digest == UNREADABLE:
            part.unreadable.append(rel)


def default_workers() -> int:
    """Walker processes ($HOSTBOOK_SURE_WORKERS, else half the usable CPUs, 1 to 4).

    One process streams the database to its writer while it walks; several
    pay for forking and for sending their lines back, which on a two-CPU
    machine cost more than the second walker saves (benchmarks/sure.md).
    """
    env = os.environ.get("HOSTBOOK_SURE_WORKERS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus // 2)) if cpus >= 4 else 1


def _walk_units(
    base: str, units: list[str], prior: dict[str, str], excluded: _Excluder
) -> list[_Part]:
    parts = []
    for unit in units:
        part = _walk(base, [(unit, _listing(os.path.join(base, unit)))], prior, excluded, None)
        _hash_part(base, part, None)
        part.todo_at = []  # filled in already: nothing to send back
        parts.append(part)
    return parts


def _in_workers(
    base: str, units: list[str], prior: dict[str, str], excluded: _Excluder, workers: int
) -> list[_Part]:
    """Walk (and hash) the units in forked workers, round robin; results in unit order.

    Forked children share the previous database copy-on-write and send back
    their lines pickled through a pipe; a child never returns into the
    caller's code (``os._exit``).
    """
    assigned = [list(range(i, len(units), workers)) for i in range(workers)]
    children: list[tuple[int, int, list[int]]] = []
    try:
        for indexes in assigned:
            if not indexes:
                continue
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                code = 0
                try:
                    os.close(read_fd)
                    payload: object = _walk_units(base, [units[i] for i in indexes], prior,
                                                  excluded)
                except BaseException as exc:  # reported to the parent, raised there
                    payload, code = exc, 1
                try:
                    with os.fdopen(write_fd, "wb") as out:
                        pickle.dump(payload, out, protocol=pickle.HIGHEST_PROTOCOL)
                finally:
                    os._exit(code)
            os.close(write_fd)
            children.append((pid, read_fd, indexes))
        results: dict[int, _Part] = {}
        while children:
            pid, read_fd, indexes = children.pop(0)
            with os.fdopen(read_fd, "rb") as stream:
                received = pickle.load(stream)
            os.waitpid(pid, 0)
            if isinstance(received, BaseException):
                raise received
            parts: list[_Part] = received
            for index, part in zip(indexes, parts, strict=True):
                results[index] = part
        return [results[i] for i in range(len(units))]
    finally:
        for pid, read_fd, _indexes in children:  # an error above: reap what is left
            with contextlib.suppress(OSError):
                os.close(read_fd)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def scan_lines(
    root: str | Path,
    previous: dict[str, str] | None = None,
    exclude: Iterable[str] = (),
    progress: Progress | None = None,
    workers: int | None = None,
    sink: Callable[[list[str]], None] | None = None,
) -> tuple[list[str], ScanStats]:
    """Walk ``root`` once and return the database lines in tree order, with stats.

    The walk is depth first with each directory's names sorted, so the file is
    deterministic without a global sort.  A regular file whose size, mtime,
    ctime and inode equal the previous database's keeps that line and its
    hash: an unchanged ctime on the same inode means neither content nor
    metadata was touched.

    With more than one worker the top-level directories are walked (and
    their changed files hashed) in parallel processes: a walk is mostly
    Python bytecode per entry, so threads would only take turns.  With a
    ``sink`` (one walker only) the lines go to it in chunks as they are
    finished and none are returned.  The lines are the same every way.
    """
    started = time.perf_counter()
    base = str(root)
    try:
        top = os.lstat(base)
    except OSError as exc:
        raise BadInputError(f"{base}: {exc.strerror}") from None
    if not stat.S_ISDIR(top.st_mode):
        raise BadInputError(f"{base}: not a directory")
    excluded = _Excluder(exclude)
    prior = previous or {}
    count = default_workers() if workers is None else max(1, workers)
    stats = ScanStats()
    if sink is not None:
        sink([_line(".", top, "d", "")])
        part = _walk(base, [("", _listing(base))], prior, excluded, progress, sink=sink)
        stats.reused, stats.hashed = part.reused, part.hashed
        stats.hashed_bytes, stats.unreadable = part.hashed_bytes, part.unreadable
        stats.files = stats.reused + stats.hashed
        stats.entries = part.emitted + 1
        stats.seconds = time.perf_counter() - started
        return [], stats
    head = _walk(base, [("", _listing(base))], prior, excluded, progress,
                 stop_at_dirs=count > 1)
    _hash_part(base, head, progress)
    parts = [head]
    if head.units:
        units = [path for _at, path in head.units]
        subs = (
            _in_workers(base, units, prior, excluded, min(count, len(units)))
            if len(units) > 1
            else _walk_units(base, units, prior, excluded)
        )
        parts += subs
        lines = [_line(".", top, "d", "")]
        cut = 0
        for (at, _path), sub in zip(head.units, subs, strict=True):
            lines += head.lines[cut:at]
            lines += sub.lines
            cut = at
        lines += head.lines[cut:]
    else:
        lines = [_line(".", top, "d", ""), *head.lines]
    for each in parts:
        stats.reused += each.reused
        stats.hashed += each.hashed
        stats.hashed_bytes += each.hashed_bytes
        stats.unreadable += each.unreadable
    stats.files = stats.reused + stats.hashed
    stats.entries = len(lines)
    stats.seconds = time.perf_counter() - started
    if progress is not None:
        progress(len(lines), stats.hashed, stats.hashed)
    return lines, stats


def _listing(path: str) -> list[os.DirEntry[str]]:
    """A directory's entries, sorted in reverse so that ``pop()`` yields name order."""
    try:
        with os.scandir(path) as iterator:
            items = list(iterator)
    except OSError:
        return []  # vanished or unreadable: its own entry stays, its contents do not
    items.sort(key=lambda e: e.name, reverse=True)
    return items


def _line(path: str, info: os.stat_result, kind: str, value: str) -> str:
    return (
        f"{sure_db.escape(path)}\t{kind}\t{stat.S_IMODE(info.st_mode):o}\t{info.st_uid}\t"
        f"{info.st_gid}\t{info.st_size}\t{info.st_mtime_ns}\t{info.st_ctime_ns}\t"
        f"{info.st_ino}\t{value}"
    )


def scan(
    root: str | Path,
    previous: dict[str, str] | None = None,
    exclude: Iterable[str] = (),
    progress: Progress | None = None,
    label: str | None = None,
) -> tuple[Database, ScanStats]:
    """Record ``root`` as a :class:`Database` (see :func:`scan_lines`)."""
    lines, stats = scan_lines(root, previous, exclude, progress)
    return Database(label or str(root), _now(), sure_db.entries_from(lines)), stats


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def update(
    root: str | Path,
    output: Path,
    previous: Path | None = None,
    exclude: Iterable[str] = (),
    progress: Progress | None = None,
    label: str | None = None,
    workers: int | None = None,
) -> ScanStats:
    """Scan ``root`` reusing ``previous`` (if it exists) and write the result to ``output``.

    A previous database that cannot be read (damaged, truncated) only costs
    speed: every file is hashed, and the reason is in ``stats.previous_error``.
    """
    prior: dict[str, str] | None = None
    problem = None
    if previous is not None and previous.exists():
        try:
            prior = sure_db.read_lines_by_path(previous)
        except BadInputError as exc:
            problem = str(exc)
    count = default_workers() if workers is None else max(1, workers)
    if count == 1:
        writer = sure_db.StreamWriter(output, label or str(root), _now())
        try:
            _lines, stats = scan_lines(root, prior, exclude, progress, 1, sink=writer.add)
        except BaseException:
            writer.abort()
            raise
        writer.close()
        stats.previous_error = problem
        return stats
    lines, stats = scan_lines(root, prior, exclude, progress, count)
    stats.previous_error = problem
    sure_db.write_lines(lines, output, label or str(root), _now())
    return stats


def _fmt(name: str, entry: Entry) -> str:
    if name == "mode":
        return f"{entry.mode:o}"
    if name == "mtime":
        return str(entry.mtime_ns)
    if name == "value" and entry.kind == "l":
        return sure_db.escape(entry.value)
    return str(getattr(entry, name))


def _label(name: str, entry: Entry) -> str:
    if name == "value":
        return {"f": "sha256", "l": "target", "c": "device", "b": "device"}.get(entry.kind, name)
    return name


def compare(
    recorded: Database,
    found: Database,
    ignore: Iterable[str] = (),
) -> list[Difference]:
    """Every difference between a database and a scan of a tree, sorted by path."""
    skip = set(ignore)
    unknown = skip - set(CHECK_FIELDS) - {"owner", "times"}
    if unknown:
        raise BadInputError(
            f"cannot ignore {', '.join(sorted(unknown))} (fields: {', '.join(CHECK_FIELDS)}, "
            "owner, times)"
        )
    if "owner" in skip:
        skip |= {"uid", "gid"}
    if "times" in skip:
        skip.add("mtime")
    fields = [f for f in CHECK_FIELDS if f not in skip]
    want = recorded.by_path()
    have = found.by_path()
    out: list[Difference] = []
    for path in sorted(set(want) | set(have), key=sure_db.tree_key):
        old, new = want.get(path), have.get(path)
        if new is None:
            out.append(Difference(path, "missing"))
            continue
        if old is None:
            out.append(Difference(path, "extra"))
            continue
        changes: list[tuple[str, str, str]] = []
        for name in fields:
            if name == "size" and old.kind == "d" and new.kind == "d":
                continue  # a directory's size is the filesystem's business
            if name == "mtime" and path == ".":
                continue  # the root is the restore target: not every tool sets its time
            if name == "mtime" and old.mtime_ns != new.mtime_ns:
                changes.append(("mtime", str(old.mtime_ns), str(new.mtime_ns)))
            elif name == "kind" and old.kind != new.kind:
                changes.append(("kind", old.kind, new.kind))
                break
            elif name not in ("mtime", "kind") and getattr(old, name) != getattr(new, name):
                changes.append((_label(name, old), _fmt(name, old), _fmt(name, new)))
        if changes:
            out.append(Difference(path, "changed", tuple(changes)))
    return out


def check(
    root: str | Path,
    database: Path,
    ignore: Iterable[str] = (),
    exclude: Iterable[str] = (),
    progress: Progress | None = None,
) -> list[Difference]:
    """Compare the tree at ``root`` with ``database`` and list every difference.

    Every file is hashed (nothing is trusted from the tree's own metadata):
    this is the check that a restore brought back the bytes that were recorded.
    """
    recorded = sure_db.read(database)
    found, _stats = scan(root, None, exclude, progress)
    return compare(recorded, found, ignore)
