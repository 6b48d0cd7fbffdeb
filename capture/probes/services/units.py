"""Services probe: units switched against their presets, timers, default target, crontabs.

``systemctl list-unit-files`` and ``systemctl get-default`` (with ``--root``
for an image tree: systemd reads the unit files, no manager is asked), the
crontab directories listed, each crontab read for its entry count and summed
with one ``md5sum``.  Disabled and masked units are kept when they depart
from the preset, enabled ones always (see ``_departure``).
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.parsers.dpkg_conffiles import parse_md5sum
from hostbook.capture.parsers.systemctl import cron_entries, parse_unit_files
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.host_root import host_root, on_host, root_args

USER_CRONTABS = "/var/spool/cron/crontabs"
SYSTEM_CRONTAB = "/etc/crontab"
CRON_DIR = "/etc/cron.d"


def _departure(state: str, preset: str | None) -> str | None:
    """The state to keep for a unit, or None when it is the package's business.

    Every enabled unit is kept, not only those against a ``disabled`` preset:
    Debian's preset enables everything, so a unit of one's own in
    /etc/systemd/system, enabled by hand, has an ``enabled`` preset too.
    """
    if state == "masked":
        return "masked"
    if state == "enabled":
        return "enabled"
    if state == "disabled" and preset == "enabled":
        return "disabled"
    return None


def collect_crontabs(ctx: ProbeContext, root: str) -> list[dict[str, Any]]:
    paths: list[tuple[str, str | None]] = []
    for name in sorted(ctx.runner.list_dir(on_host(root, USER_CRONTABS)) or []):
        paths.append((f"{USER_CRONTABS}/{name}", name))
    if ctx.runner.read_file(on_host(root, SYSTEM_CRONTAB)) is not None:
        paths.append((SYSTEM_CRONTAB, None))
    for name in sorted(ctx.runner.list_dir(on_host(root, CRON_DIR)) or []):
        if not name.startswith(".") and "." not in name:  # run-parts' rule for cron.d
            paths.append((f"{CRON_DIR}/{name}", None))
    if not paths:
        return []
    result = ctx.run_ok(["md5sum", "--", *(on_host(root, p) for p, _ in paths)],
                        "services.crontabs", ok_codes=(0, 1))
    sums = parse_md5sum(result.stdout, root) if result else {}
    tabs = []
    for path, user in sorted(paths):
        text = ctx.runner.read_file(on_host(root, path))
        if text is None:
            continue
        record: dict[str, Any] = {"path": path}
        if user:
            record["user"] = user
        record["md5"] = sums.get(path)
        record["entries"] = cron_entries(text)
        tabs.append(record)
    return tabs


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    root = host_root(ctx)
    base = ["systemctl", *root_args(root, "--root"), "--no-pager"]
    listing = ctx.runner.query([*base, "--no-legend", "list-unit-files"])
    if listing.missing:
        doc["crontabs"] = collect_crontabs(ctx, root)
        return
    if not listing.ok:
        ctx.mark_incomplete("services.units", listing.failure())
    else:
        doc["manager"] = "systemd"
        units = parse_unit_files(listing.stdout)
        kept = []
        for unit in units:
            state = _departure(unit.state, unit.preset)
            if state:
                kept.append({"unit": unit.unit, "state": state, "preset": unit.preset})
        doc["units"] = sorted(kept, key=lambda u: u["unit"])
        doc["timers"] = sorted(u.unit for u in units
                               if u.unit.endswith(".timer") and u.state == "enabled")
        target = ctx.run_ok([*base, "get-default"], "services.default_target")
        doc["default_target"] = target.stdout.strip() or None if target else None
    doc["crontabs"] = collect_crontabs(ctx, root)


PROBE = Probe(
    name="services.units",
    section="services",
    commands=("systemctl", "md5sum"),
    collect=collect,
    description="units enabled, disabled or masked against their presets, enabled timers, "
    "the default target, crontabs present",
)
