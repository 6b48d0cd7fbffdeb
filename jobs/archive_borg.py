"""borg: ``create --json --log-json`` from inside the stable snapshot path.

borg runs with the snapshot's stable mount as its working directory and
archives ``.``, so the paths inside the archive are relative to the volume
root (a restore puts them wherever it is run) and the files cache, keyed by
path, hits every run.  Archives are named ``<host>-<job>-<volume key>-<time>``.
Exit codes: 0 success, 1 warning (e.g. a file vanished or could not be
read; the archive exists), 2 error; borg 1.4's modern codes put warnings at
100-127 and errors at 3-99.  Log lines arrive on stderr as JSON.
"""

from __future__ import annotations

import json

from hostbook.jobs.archive import (
    FAILED,
    OK,
    WARNING,
    ArchiveRequest,
    ArchiveResult,
    open_repository,
)
from hostbook.jobs.commands import CommandResult
from hostbook.manifest.sections.jobs import BorgArchive


def is_warning(code: int) -> bool:
    """borg's warning exit codes: 1, and 100-127 with modern exit codes (1.4+)."""
    return code == 1 or 100 <= code <= 127


def create_argv(request: ArchiveRequest, spec: BorgArchive) -> list[str]:
    argv = ["borg", "create", "--json", "--log-json", "--compression", spec.compression]
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
    commands = request.ctx.commands
    probe = commands.run(["borg", "info", "--json", spec.repository], env=env, timeout=300.0,
                         mutates=False)
    if probe.ok:
        return None
    if "does not exist" not in probe.stderr and not commands.dry_run:
        return probe  # it exists but cannot be opened: do not paper over that with init
    return commands.run(
        ["borg", "init", f"--encryption={spec.encryption}", spec.repository],
        env=env, timeout=300.0,
    )


def log_messages(stderr: str, levels: tuple[str, ...] = ("WARNING", "ERROR", "CRITICAL")
                 ) -> list[str]:
    """Messages of the given levels from ``--log-json`` output."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict):
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
    commands = request.ctx.commands

    def on_line(stream: str, line: str) -> None:
        if stream == "stderr" and line.startswith('{"type": "archive_progress"'):
            try:
                info = json.loads(line)
            except ValueError:
                return
            request.report(None, f"{info.get('nfiles', 0)} files")

    result = commands.run(
        create_argv(request, spec), env=env, cwd=request.source,
        timeout=spec.timeout_seconds(), on_line=on_line,
    )
    name = request.archive_name()
    if commands.dry_run:
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
