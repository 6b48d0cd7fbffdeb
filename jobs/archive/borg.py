"""borg: ``create --json --log-json`` from inside the stable snapshot path.

borg runs with the snapshot's stable mount as its working directory and
archives ``.``, so the paths inside the archive are relative to the volume
root (a restore puts them wherever it is run) and the files cache, keyed by
path, hits every run.  Archives are named ``<host>-<job>-<volume key>-<time>``.
Exit codes: 0 success, 1 warning (e.g. a file vanished or could not be
read; the archive exists), 2 error; borg 1.4's modern codes put warnings at
100-127 and errors at 3-99.  Log lines arrive on stderr as JSON.

A borg killed mid-create leaves ``lock.exclusive`` and ``lock.roster`` in
the repository; borg 1.2 removes a dead process's lock of its own host
itself, but the command that does so then fails ("Failed to create/acquire
the lock ... (timeout)"), so the next archive or ``borg check`` after a kill
fails.  ``borg break-lock`` removes every lock, live or not, so the undo of a
``borg-lock`` resource runs it only when each holder of a local repository's
lock has this host's borg host id and a pid that is no longer running;
anything else is left alone and named.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path

from hostbook.jobs.archive.base import Archiver, ArchiveRequest, ArchiveResult
from hostbook.jobs.archive.repository import env_of, guarded, json_line, open_repository
from hostbook.jobs.run.context import FAILED, OK, WARNING
from hostbook.jobs.run.progress import Transfer, TransferMeter
from hostbook.jobs.run.resource_kind import ResourceKind, Undone
from hostbook.jobs.run.run_journal import Resource
from hostbook.manifest.errors import HostbookError
from hostbook.manifest.sections.jobs import BorgArchive
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner

LOCK = "borg-lock"


def is_warning(code: int) -> bool:
    """borg's warning exit codes: 1, and 100-127 with modern exit codes (1.4+)."""
    return code == 1 or 100 <= code <= 127


def comment(request: ArchiveRequest) -> str:
    """The archive's comment: the run's labels as JSON (the name holds host, job, key, time).

    borg expands ``{placeholders}`` in comments, so every brace is doubled;
    the stored comment is the plain JSON.
    """
    text = json.dumps(request.labels(), sort_keys=True, separators=(",", ":"))
    return text.replace("{", "{{").replace("}", "}}")


def create_argv(request: ArchiveRequest, spec: BorgArchive) -> list[str]:
    argv = ["borg", "create", "--json", "--log-json", "--progress", "--compression",
            spec.compression, "--comment", comment(request)]
    for rel in request.excludes:
        argv += ["--exclude", f"pp:{rel}"]
    for pattern in spec.exclude:
        argv += ["--exclude", pattern]
    argv += spec.extra_args
    argv += [f"{spec.repository}::{request.archive_name()}", "."]
    return argv


def ensure_repository(request: ArchiveRequest, spec: BorgArchive,
                      env: dict[str, str]) -> CommandResult | None:
    """``borg init`` when the repository does not exist and ``init`` is set."""
    runner = request.ctx.runner
    probe = runner.query(["borg", "info", "--json", spec.repository], env=env, timeout=300.0)
    if probe.ok:
        return None
    if "does not exist" not in probe.stderr and not runner.dry_run:
        return probe  # it exists but cannot be opened: do not paper over that with init
    return runner.command(
        ["borg", "init", f"--encryption={spec.encryption}", spec.repository],
        env=env, timeout=300.0,
    )


def progress_reading(meter: TransferMeter, info: dict[str, object]) -> Transfer:
    """An ``archive_progress`` line (``--progress --log-json``): bytes read, files.

    borg does not know the total before it has read everything: no ETA.
    """
    size, files = info.get("original_size"), info.get("nfiles")
    return meter.reading(size if isinstance(size, int) else 0,
                         files if isinstance(files, int) else 0)


def log_messages(stderr: str, levels: tuple[str, ...] = ("WARNING", "ERROR", "CRITICAL")
                 ) -> list[str]:
    """Messages of the given levels from ``--log-json`` output."""
    found = []
    for line in stderr.splitlines():
        message = json_line(line)
        if message is None:
            continue
        if message.get("type") == "log_message" and message.get("levelname") in levels:
            found.append(str(message.get("message", "")))
        elif message.get("type") == "file_status" and message.get("status") == "E":
            found.append(f"{message.get('path')}: error")
    return found


def archive(request: ArchiveRequest, spec: BorgArchive) -> ArchiveResult:
    """Create an archive of ``request.source``."""
    env, result_of, usable = open_repository(request, spec, "borg", ensure_repository)
    if not usable:
        return result_of
    runner = request.ctx.runner
    meter = TransferMeter()

    def on_line(stream: str, line: str) -> None:
        # borg 1.2 writes the keys of archive_progress with "type" near the end
        if stream == "stderr" and '"type": "archive_progress"' in line:
            info = json_line(line)
            if info is not None and not info.get("finished"):
                transfer = progress_reading(meter, info)
                request.report(None, transfer.text(), transfer)

    result = guarded(request, LOCK_RESOURCE, spec.repository, spec, lambda: runner.command(
        create_argv(request, spec), env=env, cwd=request.source,
        timeout=spec.timeout_seconds(), on_line=on_line,
    ))
    name = request.archive_name()
    if runner.dry_run:
        result_of.status = OK
        result_of.archive_id = name
        result_of.message = "dry run"
        return result_of
    stats: dict[str, object] = {}
    try:
        document = json.loads(result.stdout) if result.stdout.strip() else {}
        archive_info = document.get("archive", {})
        stats = archive_info.get("stats", {})
        result_of.extra = {"borg_id": archive_info.get("id")}
    except (ValueError, AttributeError):
        document = {}
    result_of.archive_id = name if document else None
    size = stats.get("original_size")
    added = stats.get("deduplicated_size")
    result_of.bytes = size if isinstance(size, int) else None
    result_of.added = added if isinstance(added, int) else None
    if result.ok and document:
        result_of.status = OK
    elif is_warning(result.returncode) and document and not result.timed_out:
        result_of.status = WARNING
        problems = log_messages(result.stderr)
        result_of.message = "borg warning" + (f": {problems[0]}" if problems else "")
    else:
        result_of.status = FAILED
        problems = log_messages(result.stderr, ("ERROR", "CRITICAL"))
        result_of.message = problems[-1] if problems else result.failure()
    return result_of


def host_id(env: dict[str, str]) -> str:
    """The id borg 1.2 writes into its locks for this host (``borg/platform/base.py``).

    ``BORG_HOST_ID`` when set, else ``<fqdn>@<uuid.getnode()>`` with the fqdn
    taken the way borg takes it (getaddrinfo's canonical name).
    """
    given = env.get("BORG_HOST_ID") or os.environ.get("BORG_HOST_ID")
    if given:
        return given
    name = socket.gethostname()
    try:
        found = socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME)
    except OSError:
        found = []
    fqdn = next((entry[3] for entry in found if entry[3]), name)
    return f"{fqdn}@{uuid.getnode()}"


def lock_holders(repository: Path) -> set[tuple[str, int]]:
    """(host id, pid) of everyone holding a local repository's lock."""
    holders: set[tuple[str, int]] = set()
    try:
        names = os.listdir(repository / "lock.exclusive")
    except OSError:
        names = []
    for name in names:  # <host id>.<pid>-<thread in hex>
        host_pid, _, _thread = name.rpartition("-")
        host, _, pid = host_pid.rpartition(".")
        if host and pid.isdigit():
            holders.add((host, int(pid)))
    try:
        roster = json.loads((repository / "lock.roster").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        roster = {}
    for kind in ("exclusive", "shared"):
        for entry in roster.get(kind, []) if isinstance(roster, dict) else []:
            if isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[1], int):
                holders.add((str(entry[0]), entry[1]))
    return holders


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (killed, not yet reaped) holds nothing and counts dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :][:1] not in ("Z", "X")


def break_lock(runner: Runner, resource: Resource) -> str | Undone | None:
    """``borg break-lock`` when every holder is this host's and dead; else leave it."""
    repository = str(resource.details["target"])
    if not repository.startswith("/"):
        return Undone(f"{repository} is not a local path: its lock is not inspected here "
                      "(borg removes this host's dead locks on its next access)")
    holders = lock_holders(Path(repository))
    if not holders:
        return Undone(f"no borg lock left in {repository}")
    try:
        env = env_of("borg", resource.details)
    except HostbookError as exc:
        return str(exc)
    ours = host_id(env)
    others = sorted(f"pid {pid} on {host}" for host, pid in holders
                    if host != ours or _alive(pid))
    if others:
        return Undone(f"borg lock in {repository} held by {', '.join(others)}: left alone")
    done = runner.command(["borg", "break-lock", repository], env=env, timeout=300.0)
    if not done.ok:
        return done.failure()
    if runner.dry_run:
        return None
    pids = ", ".join(str(pid) for _, pid in sorted(holders))
    return Undone(f"borg break-lock removed the lock of dead pid {pids} in {repository}")


LOCK_RESOURCE = ResourceKind(LOCK, break_lock, deferred=True)
ARCHIVER: Archiver[BorgArchive] = Archiver("borg", archive, resources=(LOCK_RESOURCE,))
