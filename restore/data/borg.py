"""borg as a source: ``info --json --glob-archives`` to list, ``extract`` to extract.

Archives are named ``<host>-<job>-<volume key>-<stamp>`` and carry the run's
labels as their JSON comment; one ``borg info`` gives every archive of the
job and volume with its size and file count.  borg ran inside the volume
root, so paths in an archive are relative: extraction runs in the volume's
directory.  ``--numeric-ids`` keeps owners by number (the rebuilt system's
names may map to other ids), ``--sparse`` punches the holes back.
"""

from __future__ import annotations

import json
from typing import Any

from hostbook.manifest.sections.jobs import BorgArchive
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner
from hostbook.restore.data.archive import STAMP, Archive, Where, stamp_time
from hostbook.restore.data.source import Extraction, Source, Unreachable, env_for, failure_words

WRONG_PASSWORD = ("is incorrect", "passphrase supplied", "PassphraseWrong")
MISSING = ("does not exist", "is not a valid repository")


def _comment(text: Any) -> dict[str, Any]:
    try:
        data = json.loads(str(text or ""))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def list_archives(runner: Runner, where: Where, spec: BorgArchive) -> list[Archive]:
    result = runner.query(
        ["borg", "info", "--json", "--glob-archives", f"{where.name_prefix}*", spec.repository],
        env=env_for("borg", spec), timeout=600.0)
    if not result.ok:
        raise Unreachable(failure_words(result, WRONG_PASSWORD, MISSING, spec.repository))
    try:
        document = json.loads(result.stdout)
    except ValueError:
        raise Unreachable(f"{spec.repository}: borg printed no JSON archive list") from None
    found = []
    for info in document.get("archives", []):
        name = str(info.get("name", ""))
        stamp = name[len(where.name_prefix):]
        if not name.startswith(where.name_prefix) or not STAMP.fullmatch(stamp):
            continue  # another job whose name starts like this one's
        stats = info.get("stats") or {}
        labels = {"stamp": stamp, **_comment(info.get("comment"))}
        found.append(Archive(
            tool="borg", target=spec.label, id=name, short_id=str(info.get("id", ""))[:8],
            time=stamp_time(stamp), size=stats.get("original_size"), files=stats.get("nfiles"),
            labels=labels,
        ))
    return found


def extract_argv(spec: BorgArchive, archive: Archive, extraction: Extraction) -> list[str]:
    return ["borg", "extract", "--numeric-ids", "--sparse",
            f"{spec.repository}::{archive.id}", *extraction.paths]


def extract(runner: Runner, spec: BorgArchive, archive: Archive,
            extraction: Extraction) -> CommandResult:
    return runner.command(extract_argv(spec, archive, extraction), env=env_for("borg", spec),
                          cwd=str(extraction.volume_dir), timeout=spec.timeout_seconds())


SOURCE: Source[BorgArchive] = Source("borg", ("borg",), list_archives, extract)
