"""What restic and borg share: secrets for the tool, creating the repository, its lock.

Passwords reach the tools only through their own environment variables
(RESTIC_PASSWORD_COMMAND / RESTIC_PASSWORD_FILE, BORG_PASSCOMMAND): never on
argv (visible in ps), never in the manifest, never in the log (commands are
logged with environment variable names only).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hostbook.jobs.archive.base import ArchiveRequest, ArchiveResult
from hostbook.jobs.private_files import readable_by_others
from hostbook.jobs.run.context import FAILED, StepContext, StepFailed
from hostbook.jobs.run.resource_kind import ResourceKind
from hostbook.manifest.sections.jobs import RepositoryArchive
from hostbook.process.result import CommandResult

Spec = TypeVar("Spec", bound=RepositoryArchive)
EnsureFn = Callable[[ArchiveRequest, Spec, dict[str, str]], CommandResult | None]
"""Create the repository if it is missing; the command's result, None when it was there."""


def json_line(line: str) -> dict[str, Any] | None:
    """A line of the tools' JSON output (restic --json, borg --log-json) as an object;
    None for any other line (progress text, a line cut short)."""
    if not line.startswith("{"):
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def read_env_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines (``export`` and quotes allowed, ``#`` comments) from a root-only file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise StepFailed(f"{path}: cannot read env_file ({exc.strerror})") from None
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip().replace("_", "").isalnum():
            raise StepFailed(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def password_env(
    tool: str, password_command: str | None, password_file: str | None,
    env_file: str | None,
) -> dict[str, str]:
    """The environment that tells ``tool`` how to get its password (and other settings)."""
    env = read_env_file(env_file) if env_file else {}
    if tool == "restic":
        if password_command:
            env["RESTIC_PASSWORD_COMMAND"] = password_command
        elif password_file:
            env["RESTIC_PASSWORD_FILE"] = password_file
    elif tool == "borg":
        if password_command:
            env["BORG_PASSCOMMAND"] = password_command
        elif password_file:
            env["BORG_PASSCOMMAND"] = f"cat -- {shlex.quote(password_file)}"
    return env


def warn_readable_secrets(ctx: StepContext, spec: RepositoryArchive) -> None:
    """Warn (once per file and run) about a password or env file others may read."""
    for what, path in (("password_file", spec.password_file), ("env_file", spec.env_file)):
        if path is None:
            continue
        mode = readable_by_others(path)
        if mode is not None:
            ctx.warn_once(path, f"{path} ({what}) is readable by group or others "
                          f"(mode {mode:04o}): chmod 600 {path}")


def secrets_of(spec: RepositoryArchive) -> dict[str, str | None]:
    """Where the tool's password and settings come from (never the secrets themselves).

    Journaled with a lock resource, so the next run can open the repository
    to clean up even if jobs.yaml changed meanwhile.
    """
    return {"password_command": spec.password_command, "password_file": spec.password_file,
            "env_file": spec.env_file}


def env_of(tool: str, details: dict[str, Any]) -> dict[str, str]:
    """The tool's environment rebuilt from :func:`secrets_of` as journaled."""
    return password_env(tool, details.get("password_command"), details.get("password_file"),
                        details.get("env_file"))


def guarded(request: ArchiveRequest, lock: ResourceKind, repository: str,
            spec: RepositoryArchive, run: Callable[[], CommandResult]) -> CommandResult:
    """Run a tool that holds ``repository``'s lock, journaled as a ``lock`` resource.

    A tool that exits by itself releases its lock; one killed (a signal, the
    timeout) leaves it, so it is cleaned up at once; and when hostbook itself
    is killed the journal hands the job to the next run.
    """
    ctx = request.ctx
    resource = ctx.journal.intend(lock.name, request.volume_key, target=repository,
                                  **secrets_of(spec))
    result = run()
    if not ctx.dry_run and (result.returncode < 0 or result.timed_out):
        outcome = lock.undo(ctx.runner, resource)
        if isinstance(outcome, str):
            ctx.log(f"warning: {resource.describe()}: {outcome} (the next run tries again)")
            return result
        if outcome is not None:
            ctx.log(f"{result.argv[0]} was killed: {outcome.note}")
    ctx.journal.removed(resource)
    return result


def open_repository(
    request: ArchiveRequest, spec: Spec, tool: str, ensure: EnsureFn[Spec],
) -> tuple[dict[str, str], ArchiveResult, bool]:
    """The tool's environment, a result to fill in, and whether the repository is usable.

    With ``init`` the repository is created when missing; when that fails the
    result already says why (status failed) and the archiver stops there.
    """
    warn_readable_secrets(request.ctx, spec)
    env = password_env(tool, spec.password_command, spec.password_file, spec.env_file)
    result = ArchiveResult(spec.label, tool, FAILED, spec.repository)
    if spec.init:
        created = ensure(request, spec, env)
        if created is not None and not created.ok:
            result.message = created.failure()
            return env, result, False
    return env, result, True
