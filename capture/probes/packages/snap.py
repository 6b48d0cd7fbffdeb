"""snap probe: installed snaps with channel, revision and confinement.

``snap list`` columns: Name, Version, Rev, Tracking, Publisher, Notes.  The
confinement shows in Notes (``classic``, ``devmode``, ``jailmode``); a snap
without such a note is strictly confined.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.probe import Probe, ProbeContext

_CONFINEMENTS = ("classic", "devmode", "jailmode")


def parse_list(text: str) -> list[dict[str, Any]]:
    """Snaps from ``snap list``, sorted by name."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].split() or lines[0].split()[0] != "Name":
        return []
    header = lines[0].split()
    snaps = []
    for line in lines[1:]:
        values = dict(zip(header, line.split(), strict=False))
        if "Name" not in values:
            continue
        notes = values.get("Notes", "-").split(",")
        snap: dict[str, Any] = {"name": values["Name"]}
        tracking = values.get("Tracking", "-")
        if tracking != "-":
            snap["channel"] = tracking
        if values.get("Rev"):
            snap["revision"] = values["Rev"]
        if values.get("Version"):
            snap["version"] = values["Version"]
        snap["confinement"] = next((c for c in _CONFINEMENTS if c in notes), "strict")
        snaps.append(snap)
    return sorted(snaps, key=lambda s: s["name"])


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    result = ctx.runner.query(["snap", "list"])
    if result.missing:
        return
    if not result.ok:
        ctx.mark_incomplete("snap", result.failure())
        return
    snaps = parse_list(result.stdout)
    if snaps:
        doc["snap"] = {"snaps": snaps}


PROBE = Probe(
    name="packages.snap",
    section="packages",
    commands=("snap",),
    collect=collect,
    description="snaps: tracked channel, revision, version and confinement",
)
