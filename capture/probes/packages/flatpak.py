"""flatpak probe: installed applications with origin, branch and installation.

``flatpak list`` prints tab-separated columns (no header) when its output is
not a terminal; asking for the columns by name keeps the parsing independent
of flatpak's default column set.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.probe import Probe, ProbeContext

COLUMNS = ("application", "arch", "branch", "origin", "installation", "version")
FLATPAK_LIST = ["flatpak", "list", "--app", f"--columns={','.join(COLUMNS)}"]


def parse_list(text: str) -> list[dict[str, Any]]:
    """Apps from ``flatpak list --app --columns=...``, sorted by id."""
    apps = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < len(COLUMNS) - 1 or not fields[0].strip():
            continue
        values = dict(zip(COLUMNS, (f.strip() for f in fields), strict=False))
        if values["application"].lower() == "application id":
            continue  # a header, should a terminal have been attached
        app: dict[str, Any] = {
            "id": "/".join(
                values.get(k, "") for k in ("installation", "application", "arch", "branch")
            ),
            "name": values["application"],
        }
        for key in ("arch", "branch", "origin", "installation", "version"):
            if values.get(key):
                app[key] = values[key]
        apps.append(app)
    return sorted(apps, key=lambda a: a["id"])


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    result = ctx.runner.query(FLATPAK_LIST)
    if result.missing:
        return
    if not result.ok:
        ctx.mark_incomplete("flatpak", result.failure())
        return
    apps = parse_list(result.stdout)
    if apps:
        doc["flatpak"] = {"apps": apps}


PROBE = Probe(
    name="packages.flatpak",
    section="packages",
    commands=("flatpak",),
    collect=collect,
    description="flatpak applications: id, arch, branch, origin remote, installation, version",
)
