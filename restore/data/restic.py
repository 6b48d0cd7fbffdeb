"""restic as a source: ``snapshots --json`` to list, ``restore --include`` to extract.

A run backs up the volume's stable snapshot mount, so every file of a
snapshot sits under ``/run/hostbook/volumes/<key>``.  Snapshots are matched
by the run's ``key=`` tag, or, for snapshots made before runs tagged them,
by host and that path.  An archive's time is its run's (the ``stamp=`` tag,
as borg and tar archives are named), else restic's own.  Listing passes
``--no-lock``: it reads only, and works on a repository this host may not
lock (read-only media).  restic 0.14's snapshot list carries no size or file
count: the run history adds them where it has the snapshot.  Ownership is
restored by number, the default for restic running as root.
"""

from __future__ import annotations

import json
from datetime import datetime

from hostbook.manifest.sections.jobs import ResticArchive
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner
from hostbook.restore.data.archive import Archive, Where, labels_of, stamp_time
from hostbook.restore.data.source import Extraction, Source, Unreachable, env_for, failure_words

WRONG_PASSWORD = ("wrong password or no key found",)
MISSING = ("Is there a repository at the following location?",)


def _time(text: str) -> datetime:
    """restic's RFC 3339 time with nanoseconds (Python reads microseconds)."""
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def list_archives(runner: Runner, where: Where, spec: ResticArchive) -> list[Archive]:
    result = runner.query(
        ["restic", "--repo", spec.repository, "--no-lock", "snapshots", "--json",
         "--host", where.host], env=env_for("restic", spec), timeout=300.0)
    if not result.ok:
        raise Unreachable(failure_words(result, WRONG_PASSWORD, MISSING, spec.repository))
    try:
        snapshots = json.loads(result.stdout or "[]")
    except ValueError:
        raise Unreachable(f"{spec.repository}: restic printed no JSON snapshot list") from None
    found = []
    for snapshot in snapshots if isinstance(snapshots, list) else []:
        labels = labels_of(list(snapshot.get("tags") or []))
        if "key" in labels:
            if labels["key"] != where.volume_key or labels.get("job", where.job) != where.job:
                continue
        elif snapshot.get("paths") != [where.stable_path]:
            continue
        found.append(Archive(
            tool="restic", target=spec.label, id=str(snapshot["id"]),
            short_id=snapshot.get("short_id"),
            time=stamp_time(labels["stamp"]) if "stamp" in labels else _time(str(snapshot["time"])),
            labels=labels,
        ))
    return found


def restore_argv(spec: ResticArchive, archive: Archive, extraction: Extraction) -> list[str]:
    """Everything under the stable path (or the chosen paths), into the extraction root."""
    prefix = extraction.where.stable_path
    includes = [f"{prefix}/{path}" for path in extraction.paths] or [prefix]
    argv = ["restic", "--repo", spec.repository, "restore", archive.id,
            "--target", str(extraction.root)]
    for include in includes:
        argv += ["--include", include]
    return argv


def extract(runner: Runner, spec: ResticArchive, archive: Archive,
            extraction: Extraction) -> CommandResult:
    return runner.command(restore_argv(spec, archive, extraction),
                          env=env_for("restic", spec), timeout=spec.timeout_seconds())


SOURCE: Source[ResticArchive] = Source("restic", ("restic",), list_archives, extract)
