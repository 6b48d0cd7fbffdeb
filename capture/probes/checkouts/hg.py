"""Inspect one Mercurial repository: paths, changeset, local changes, unpushed work.

Two processes: ``hg status`` and one ``hg log`` over the working directory's
parent plus every changeset not in the public phase.  Changesets become
public when pushed to a publishing repository, so ``not public()`` is exactly
the work a re-clone would lose, found without contacting the remote.

hg runs with no configuration at all: ``HGRCPATH`` empty (no system or user
hgrc), ``HGRCSKIPREPO`` (not the repository's either, so none of its hooks,
extensions or aliases exist) and ``HGPLAIN``; as the repository's owner when
capture is root (see confine.py).  Nothing is marked trusted.  The paths come
from reading ``.hg/hgrc`` in-process (see hgrc.py).  A repository that needs
an extension to be read at all (largefiles, lfs) fails with hg's own message
and is marked incomplete.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.probe import ProbeContext
from hostbook.capture.probes.checkouts.hgrc import hg_paths, mask_hgrc
from hostbook.capture.redact import redact_url
from hostbook.process.confine import Confinement

_NULL = "0" * 40
_LOG_TEMPLATE = '{node}\t{phase}\t{branch}\t{ifcontains(rev, revset("."), "parent")}\n'
ENVIRONMENT = {"HGRCPATH": "", "HGRCSKIPREPO": "1", "HGPLAIN": "1"}


def hg(path: str, *args: str) -> list[str]:
    """argv for hg on ``path`` (its hardening is in the environment, see ENVIRONMENT)."""
    return ["hg", "-R", path, *args]


def confinement(path: str) -> Confinement:
    """Run as the owner of the repository, with no hg configuration read."""
    return Confinement(
        owner_of=(path, f"{path}/.hg", f"{path}/.hg/hgrc", f"{path}/.hg/requires"),
        env=ENVIRONMENT,
    )


def remotes_from(paths: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Remote records from ``(name, location)`` pairs, sorted, credentials removed."""
    remotes = []
    for name, url in paths:
        clean, hidden = redact_url(url.strip())
        remote: dict[str, Any] = {"name": name.strip(), "url": clean}
        if hidden:
            remote["credentials_redacted"] = True
        remotes.append(remote)
    return sorted(remotes, key=lambda r: r["name"])


def parse_status(text: str) -> tuple[int, int]:
    """(modified, unknown) counts from ``hg status``."""
    modified = unknown = 0
    for line in text.splitlines():
        if line.startswith("? "):
            unknown += 1
        elif line[:2] in ("M ", "A ", "R ", "! "):
            modified += 1
    return modified, unknown


def parse_log(text: str) -> tuple[str | None, str | None, int]:
    """(parent changeset, its branch, number of non-public changesets)."""
    head = branch = None
    draft = 0
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 4:
            continue
        node, phase, name, parent = fields[:4]
        if parent == "parent" and node != _NULL:
            head, branch = node, name
        if phase != "public" and node != _NULL:
            draft += 1
    return head, branch, draft


def inspect_hg(ctx: ProbeContext, found: dict[str, Any]) -> dict[str, Any]:
    """Fill a checkout record for one hg repository."""
    path = str(found["path"])
    part = f"checkout {path}"
    record: dict[str, Any] = {"path": path, "vcs": "hg"}
    problems: list[str] = []
    confine = confinement(path)
    found_paths = hg_paths(
        path, lambda name: ctx.runner.read_file(name, confine=confine, mask=mask_hgrc)
    )
    record["remotes"] = remotes_from(found_paths or [])
    status = ctx.run_ok(hg(path, "status"), part, confine=confine)
    if status is None:
        problems.append("hg status failed")
    else:
        record["modified"], record["untracked"] = parse_status(status.stdout)
    log = ctx.run_ok(hg(path, "log", "-r", "not public() or .", "-T", _LOG_TEMPLATE), part,
                     confine=confine)
    if log is None:
        problems.append("hg log failed")
    else:
        record["head"], record["branch"], record["unpushed"] = parse_log(log.stdout)
    reasons = problems
    if not record["remotes"]:
        reasons.append("no remote")
    if record.get("unpushed"):
        count = record["unpushed"]
        reasons.append(f"{count} changeset{'' if count == 1 else 's'} not pushed (draft)")
    if record.get("modified"):
        count = record["modified"]
        reasons.append(f"{count} uncommitted change{'' if count == 1 else 's'}")
    if record.get("untracked"):
        count = record["untracked"]
        reasons.append(f"{count} untracked path{'' if count == 1 else 's'}")
    record["restorable"] = not reasons
    record["reason"] = "; ".join(reasons) or "clean; every changeset is public (pushed)"
    return record
