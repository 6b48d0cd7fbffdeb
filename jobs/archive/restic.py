"""restic: ``backup --json`` of the stable snapshot path, tagged with host, job and volume.

restic picks the parent snapshot (whose files it need not re-read) by host
and paths, which is why the snapshot is always mounted at the same path.
Exit codes (restic 0.14+): 0 success; 3 "snapshot created but some source
files could not be read" (partial: a warning, the snapshot exists); 1 and
anything else fatal (10 repository missing, 11 locked, 12 wrong password on
newer releases).  The summary line of ``--json`` gives the snapshot id and
the byte counts.

A restic killed mid-backup (SIGKILL, or the SIGTERM a dying hostbook sends:
restic 0.14 cleans up only on SIGINT) leaves its lock in the repository, and
``restic check`` refuses to run from then on.  The backup is journaled as a
``restic-lock`` resource, and undoing it is ``restic unlock``, which removes
only stale locks (this host's dead processes, or locks not refreshed for 30
minutes): a live backup's lock, or another host's, stays.  In a local
repository the locks are files under ``locks/``: when there are none, nothing
is asked of restic, so a run killed before restic read its password (a
password command that hung, a FIFO nobody wrote) costs the next run nothing.
"""

from __future__ import annotations

import os
from typing import Any

from hostbook.jobs.archive.base import Archiver, ArchiveRequest, ArchiveResult
from hostbook.jobs.archive.repository import env_of, guarded, json_line, open_repository
from hostbook.jobs.run.context import FAILED, OK, WARNING
from hostbook.jobs.run.progress import Transfer, TransferMeter
from hostbook.jobs.run.resource_kind import ResourceKind, Undone
from hostbook.jobs.run.run_journal import Resource
from hostbook.manifest.errors import HostbookError
from hostbook.manifest.sections.jobs import ResticArchive
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner

EXIT_PARTIAL = 3
EXIT_NO_REPOSITORY = 10
LOCK = "restic-lock"
_NO_REPOSITORY = "Is there a repository at the following location?"


def tags(request: ArchiveRequest, spec: ResticArchive) -> list[str]:
    """``NAME=VALUE`` for each of the run's labels (host, volume key, run, manifest ...)."""
    return [f"{name}={value}" for name, value in request.labels().items()] + spec.tags


def backup_argv(request: ArchiveRequest, spec: ResticArchive) -> list[str]:
    argv = ["restic", "--repo", spec.repository, "backup", "--json", "--host", request.host]
    for tag in tags(request, spec):
        argv += ["--tag", tag]
    for rel in request.excludes:
        argv += ["--exclude", os.path.join(request.source, rel)]
    for pattern in spec.exclude:
        argv += ["--exclude", pattern]
    argv += spec.extra_args
    argv.append(request.source)
    return argv


def missing_repository(probe: CommandResult) -> bool:
    """Whether a failed ``restic cat config`` says there is no repository at all.

    restic 0.14 exits 1 for a missing repository and a wrong password alike,
    and says which: "Is there a repository at the following location?" only
    when the config file cannot be opened; 0.17+ also exits 10.  Anything else
    (a wrong password, an unreachable server) is an existing repository that
    cannot be opened, and ``init`` would only fail with "config file already
    exists" and hide the cause.
    """
    return probe.returncode == EXIT_NO_REPOSITORY or _NO_REPOSITORY in probe.stderr


def ensure_repository(request: ArchiveRequest, spec: ResticArchive,
                      env: dict[str, str]) -> CommandResult | None:
    """``restic init`` when the repository does not exist and ``init`` is set.

    A repository that exists but cannot be opened is returned as the probe's
    failure (its own message, e.g. "wrong password or no key found").
    """
    runner = request.ctx.runner
    probe = runner.query(
        ["restic", "--repo", spec.repository, "cat", "config"], env=env, timeout=300.0)
    if probe.ok:
        return None
    if not missing_repository(probe) and not runner.dry_run:
        return probe
    return runner.command(["restic", "--repo", spec.repository, "init"], env=env, timeout=300.0)


def status_reading(meter: TransferMeter, status: dict[str, Any]) -> Transfer:
    """A ``--json`` status line as bytes and files done, of the totals, and time left."""
    def count(key: str) -> int | None:
        value = status.get(key)
        return int(value) if isinstance(value, int | float) else None

    left = status.get("seconds_remaining")
    return meter.reading(count("bytes_done") or 0, count("files_done") or 0,
                         count("total_bytes"), count("total_files"),
                         float(left) if isinstance(left, int | float) else None)


def parse_summary(stdout: str) -> dict[str, Any] | None:
    """The ``message_type: summary`` object of ``backup --json`` output."""
    summary = None
    for line in stdout.splitlines():
        message = json_line(line)
        if message is not None and message.get("message_type") == "summary":
            summary = message
    return summary


def errors_in(stdout: str, stderr: str) -> list[str]:
    """Per-file errors restic reported (JSON ``error`` messages or stderr lines)."""
    found = []
    for line in (stdout + "\n" + stderr).splitlines():
        if line.startswith("{"):
            message = json_line(line)
            if message is not None and message.get("message_type") == "error":
                err = message.get("error")
                text = err.get("message") if isinstance(err, dict) else err
                found.append(f"{message.get('item', '')}: {text}")
        elif line.strip():
            found.append(line.strip())
    return found


def archive(request: ArchiveRequest, spec: ResticArchive) -> ArchiveResult:
    """Back up ``request.source`` into the repository."""
    env, result_of, usable = open_repository(request, spec, "restic", ensure_repository)
    if not usable:
        return result_of
    runner = request.ctx.runner
    meter = TransferMeter()

    def on_line(stream: str, line: str) -> None:
        if stream != "stdout" or not line.startswith('{"message_type":"status"'):
            return
        status = json_line(line)
        if status is None:
            return
        done = status.get("percent_done")
        transfer = status_reading(meter, status)
        request.report(float(done) if done is not None else transfer.fraction,
                       transfer.text(), transfer)

    result = guarded(request, LOCK_RESOURCE, spec.repository, spec, lambda: runner.command(
        backup_argv(request, spec), env=env, timeout=spec.timeout_seconds(), on_line=on_line
    ))
    if runner.dry_run:
        result_of.status = OK
        result_of.message = "dry run"
        return result_of
    summary = parse_summary(result.stdout)
    if summary is not None:
        result_of.archive_id = summary.get("snapshot_id")
        result_of.bytes = summary.get("total_bytes_processed")
        result_of.added = summary.get("data_added")
        result_of.extra = {
            "files_new": summary.get("files_new"),
            "files_changed": summary.get("files_changed"),
            "files_unmodified": summary.get("files_unmodified"),
        }
    if result.ok and summary is not None:
        result_of.status = OK
    elif result.returncode == EXIT_PARTIAL and not result.timed_out:
        result_of.status = WARNING
        problems = errors_in(result.stdout, result.stderr)
        result_of.message = (
            f"snapshot is incomplete: {len(problems)} file(s) could not be read"
            + (f" ({problems[0]})" if problems else "")
        )
    else:
        result_of.status = FAILED
        result_of.message = result.failure() if not result.ok else "no summary in restic output"
    return result_of


def _locks(runner: Runner, repository: str, env: dict[str, str]) -> list[str] | str:
    """The repository's lock ids, or why they could not be listed."""
    listed = runner.query(["restic", "--repo", repository, "list", "locks", "--no-lock"],
                          env=env, timeout=300.0)
    if not listed.ok:
        return listed.failure()
    return sorted(line.strip() for line in listed.stdout.splitlines() if line.strip())


def local_path(repository: str) -> str | None:
    """The folder of a local repository (``/srv/repo``, ``local:/srv/repo``), else None."""
    if repository.startswith("local:"):
        return repository[len("local:"):]
    return repository if repository.startswith("/") else None


def _nothing_to_unlock(runner: Runner, repository: str) -> Undone | None:
    """Said from the folder alone: a local repository with no lock files, or none at all."""
    folder = local_path(repository)
    if folder is None:
        return None
    if runner.list_dir(f"{folder}/locks") == []:
        return Undone(f"no restic lock left in {repository}")
    if runner.list_dir(folder) is None:
        return Undone(f"no restic repository at {repository}: no lock to remove")
    return None


def unlock(runner: Runner, resource: Resource) -> str | Undone | None:
    """``restic unlock`` after a killed backup; says how many locks went and stayed."""
    repository = str(resource.details["target"])
    said = _nothing_to_unlock(runner, repository)
    if said is not None:
        return said
    try:
        env = env_of("restic", resource.details)
    except HostbookError as exc:
        return str(exc)
    before = _locks(runner, repository, env)
    if isinstance(before, str):
        if _NO_REPOSITORY in before:
            return Undone(f"no restic repository at {repository}: no lock to remove")
        return before
    if not before:
        return Undone(f"no restic lock left in {repository}")
    done = runner.command(["restic", "--repo", repository, "unlock"], env=env, timeout=300.0)
    if not done.ok:
        return done.failure()
    if runner.dry_run:
        return None
    after = _locks(runner, repository, env)
    if isinstance(after, str):
        return after
    removed = len(set(before) - set(after))
    note = f"restic unlock removed {removed} stale lock(s) in {repository}"
    if after:
        note += f"; {len(after)} lock(s) of live processes or other hosts left alone"
    return Undone(note)


LOCK_RESOURCE = ResourceKind(LOCK, unlock, deferred=True)
ARCHIVER: Archiver[ResticArchive] = Archiver("restic", archive, resources=(LOCK_RESOURCE,))
