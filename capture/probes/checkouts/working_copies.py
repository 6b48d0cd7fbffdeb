"""Checkouts probe: versioned directories below the scanned roots, and their verdicts.

Roots come from, in order of precedence, ``--checkout-root`` (options),
``$HOSTBOOK_CHECKOUT_ROOTS`` (colon-separated) and the configuration.  The
effective roots and each root's directory walk are recorded as values, so a
replay sees the same tree; every git/svn/hg command goes through the runner
and is recorded as usual.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.checkouts.git import inspect_git
from hostbook.capture.probes.checkouts.hg import inspect_hg
from hostbook.capture.probes.checkouts.scan import ScanRules, network_mounts, scan
from hostbook.capture.probes.checkouts.svn import inspect_svn

ROOTS_ENV = "HOSTBOOK_CHECKOUT_ROOTS"
_INSPECTORS: dict[str, Callable[[ProbeContext, dict[str, Any]], dict[str, Any]]] = {
    "git": inspect_git,
    "svn": inspect_svn,
    "hg": inspect_hg,
}


def choose_roots(options: dict[str, Any], config_roots: list[str],
                 environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    """The roots to scan and where they came from: options, environment, configuration."""
    given = [str(r) for r in options.get("checkout_roots") or [] if str(r)]
    if given:
        roots, source = given, "option"
    elif environ.get(ROOTS_ENV, "").strip():
        roots = [r for r in environ[ROOTS_ENV].split(":") if r.strip()]
        source = "environment"
    else:
        roots, source = list(config_roots), "config"
    normalized = sorted({os.path.normpath(os.path.abspath(r)) for r in roots})
    return {"roots": _outermost(normalized), "source": source}


def _outermost(roots: list[str]) -> list[str]:
    """Drop roots that lie inside another root: the outer walk covers them."""
    kept: list[str] = []
    for root in roots:  # sorted, so a parent comes before its children
        if not any(root == k or root.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(root)
    return kept


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    runner = ctx.runner
    settings = ctx.config.checkouts
    chosen = runner.value(
        "checkouts.roots",
        lambda: choose_roots(ctx.options, list(settings.roots), os.environ),
    )
    if not isinstance(chosen, dict) or not isinstance(chosen.get("roots"), list):
        ctx.mark_incomplete("roots", "the effective checkout roots are not known")
        doc["roots"], doc["checkouts"] = [], []
        return
    roots = [str(r) for r in chosen["roots"]]
    doc["roots"] = roots
    skipped = network_mounts(runner.read_file("/proc/self/mountinfo"))
    rules = ScanRules.build(settings.excludes, settings.max_depth, skipped)

    found: dict[str, dict[str, Any]] = {}
    for root in roots:
        result = runner.value(f"checkouts.scan:{root}", lambda root=root: scan(root, rules))
        if not isinstance(result, dict):
            ctx.mark_incomplete(f"scan {root}", "no scan result for this root")
            continue
        for item in result.get("checkouts", []):
            found.setdefault(str(item["path"]), item)
        unreadable = result.get("unreadable") or []
        if unreadable:
            shown = ", ".join(unreadable[:3]) + (" ..." if len(unreadable) > 3 else "")
            ctx.mark_incomplete(f"scan {root}", f"{len(unreadable)} unreadable: {shown}")

    records = []
    for path in sorted(found):
        item = found[path]
        record = _INSPECTORS[str(item["vcs"])](ctx, item)
        for key in ("owner", "group", "mode"):
            if item.get(key) is not None:
                record[key] = item[key]
        records.append(record)
        if not record["restorable"]:
            # Loud on purpose: this is data a re-clone would lose.
            ctx.warnings.append(f"checkouts: {path} is not restorable: {record['reason']}")
    doc["checkouts"] = records


PROBE = Probe(
    name="checkouts",
    section="checkouts",
    commands=("git", "svn", "hg"),
    collect=collect,
    description="git (incl. bare and worktrees), svn and hg working copies below the roots, "
    "with remotes, HEAD, upstream, local changes and a restorable verdict",
)
