"""Inspect one Subversion working copy: URL, revision, local modifications.

Two processes: ``svn info --xml`` and ``svn status --xml``.  Subversion has no
local commits, so a working copy is restorable exactly when it has no local
modifications and no unversioned files.

A working copy itself cannot make svn run anything: programs (editors, diff
and merge tools, ssh tunnels, password stores) come only from configuration
files, and neither command uses them (no network: ``status`` without ``-u``
and with ``--ignore-externals``).  svn still runs confined (see confine.py):
as the working copy's owner when capture is root, with ``HOME`` pointing
nowhere so no one's ``~/.subversion`` is read (only root's /etc/subversion),
and the editor, merge and ssh variables set to ``false``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from hostbook.capture.probe import ProbeContext
from hostbook.capture.redact import mask_url, redact_url
from hostbook.process.confine import Confinement

# wc-status items that mean nothing local would be lost.
_UNCHANGED = frozenset({"normal", "none", "external", "ignored"})
ENVIRONMENT = {"SVN_EDITOR": "false", "SVN_MERGE": "false", "SVN_SSH": "false"}
_URL_ELEMENT = re.compile(r"(<(url|root)>)([^<]*)(</\2>)")


def confinement(path: str) -> Confinement:
    """Run as the owner of the working copy, with no one's user configuration."""
    return Confinement(owner_of=(path, f"{path}/.svn", f"{path}/.svn/wc.db"), env=ENVIRONMENT)


def mask_info(text: str) -> str:
    """``svn info --xml`` as it may be recorded: URL and repository root masked in place."""
    return _URL_ELEMENT.sub(lambda m: m.group(1) + mask_url(m.group(3)) + m.group(4), text)


def parse_info(text: str) -> dict[str, Any]:
    """URL, repository root and revision from ``svn info --xml``."""
    entry = ET.fromstring(text).find("entry")
    if entry is None:
        return {}
    result: dict[str, Any] = {"head": entry.get("revision")}
    url = entry.findtext("url")
    root = entry.findtext("repository/root")
    hidden = False
    if url:
        result["url"], hidden = redact_url(url)
    if root:
        result["repository_root"], root_hidden = redact_url(root)
        hidden = hidden or root_hidden
    if hidden:
        result["credentials_redacted"] = True
    return result


def parse_status(text: str) -> tuple[int, int]:
    """(modified, unversioned) counts from ``svn status --xml``."""
    modified = unversioned = 0
    for status in ET.fromstring(text).iter("wc-status"):
        item = status.get("item", "normal")
        if item == "unversioned":
            unversioned += 1
        elif item not in _UNCHANGED or status.get("props") in ("modified", "conflicted"):
            modified += 1
    return modified, unversioned


def inspect_svn(ctx: ProbeContext, found: dict[str, Any]) -> dict[str, Any]:
    """Fill a checkout record for one svn working copy."""
    path = str(found["path"])
    part = f"checkout {path}"
    record: dict[str, Any] = {"path": path, "vcs": "svn"}
    reasons: list[str] = []
    confine = confinement(path)
    info = ctx.run_ok(["svn", "info", "--xml", "--non-interactive", path], part,
                      confine=confine, mask=mask_info)
    if info is None:
        reasons.append("svn info failed")
    else:
        details = parse_info(info.stdout)
        details.pop("credentials_redacted", None)  # the URL is already clean
        record.update(details)
    status = ctx.run_ok(
        ["svn", "status", "--xml", "--non-interactive", "--ignore-externals", path], part,
        confine=confine,
    )
    if status is None:
        reasons.append("svn status failed")
    else:
        record["modified"], record["untracked"] = parse_status(status.stdout)
    if info is not None and not record.get("url"):
        reasons.append("no repository URL")
    if record.get("modified"):
        reasons.append(f"{record['modified']} uncommitted change" +
                       ("" if record["modified"] == 1 else "s"))
    if record.get("untracked"):
        reasons.append(f"{record['untracked']} unversioned path" +
                       ("" if record["untracked"] == 1 else "s"))
    record["restorable"] = not reasons
    record["reason"] = "; ".join(reasons) or "no local modifications"
    return record
