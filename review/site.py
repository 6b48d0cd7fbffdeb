"""``hostbook report``: a static HTML site, an index of hosts and a page per host.

Rendered from Jinja2 templates in templates/ (``report-*.html.j2``) with
autoescaping; the style sheet is inline, nothing is loaded from the network
and no script is needed to read any page.  Every page is written through a
temporary file and a rename.  A page stays small whatever the host holds:
the timeline shows the last commits (``HISTORY_LIMIT``) and at most
``MAX_LISTED`` differences per commit, long lists are cut with a count.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from hostbook.jobs.run.history import Outcome
from hostbook.jobs.run.status import human_age
from hostbook.manifest.sections.storage import StorageDocument
from hostbook.manifest.store import ManifestRepository
from hostbook.manifest.yamlio import atomic_write_text
from hostbook.review.fleet import HostView, load_fleet
from hostbook.review.metrics import latest_per_target
from hostbook.review.readiness import DEFAULT_CAPTURE_MAX_AGE
from hostbook.review.storage_tree import storage_tree

MAX_LISTED = 60
"""Differences listed per commit in the timeline, and items per package list."""


@dataclass(frozen=True)
class Site:
    """What a build wrote."""

    directory: Path
    pages: list[Path]
    hosts: int


def environment() -> jinja2.Environment:
    """The report's templates and filters (``hostbook serve`` renders its pages with them)."""
    source = resources.files("hostbook.templates")
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: source.joinpath(name).read_text("utf-8")),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["size"] = human_size
    env.filters["age"] = lambda seconds: "never" if seconds is None else f"{human_age(seconds)} ago"
    env.filters["when"] = lambda stamp: (
        "never" if stamp is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(stamp)))
    return env


def human_size(value: int | None) -> str:
    """Bytes in binary units, as lsblk prints them."""
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def page_name(host: str) -> str:
    """A host's page, relative to the site root (host names are checked: no slash)."""
    return f"hosts/{host}.html"


def _packages(view: HostView) -> list[dict[str, Any]]:
    managers = []
    for name, block in (view.plain.get("packages") or {}).items():
        if not isinstance(block, dict):
            continue
        manual = block.get("manual") or block.get("explicit") or block.get("packages") or []
        names = [m if isinstance(m, str) else str(m.get("name", m)) for m in manual]
        sources = [f"{s.get('path')}: " + "; ".join(
            " ".join([*e.get("uris", []), *e.get("suites", [])]) for e in s.get("entries", []))
            for s in block.get("sources", []) if isinstance(s, dict)]
        managers.append({"name": name, "manual": names[:MAX_LISTED * 50],
                         "manual_count": len(names), "held": block.get("held", []),
                         "auto_count": len(block.get("auto", [])), "sources": sources})
    return managers


def _jobs(view: HostView) -> list[dict[str, Any]]:
    """One row per volume and target: the last success, its age and the last run's status."""
    latest = latest_per_target(view.outcomes)
    rows = []
    for status in view.readiness.volumes:
        targets = {t: slot for (volume, t), slot in latest.items() if volume == status.volume}
        if not targets:
            rows.append({"volume": status.volume, "jobs": ", ".join(status.jobs),
                         "target": "-", "last": None, "age": None, "status": "never archived",
                         "stale": True, "size": None})
        for target, slot in sorted(targets.items()):
            success: Outcome | None = slot.get("success")
            rows.append({
                "volume": status.volume, "jobs": ", ".join(status.jobs), "target": target,
                "last": success.finished if success else None,
                "age": view.readiness.now - success.finished if success else None,
                "status": slot["attempt"].status, "stale": status.stale,
                "size": success.bytes if success else None})
    return rows


def _timeline(view: HostView) -> list[dict[str, Any]]:
    entries = []
    for commit, diff in view.timeline:
        entries.append({
            "sha": commit.sha[:12], "date": commit.date, "subject": commit.subject,
            "rebuild": [f"{d.section}: {d.describe()}" for d in diff.rebuild][:MAX_LISTED],
            "rebuild_count": len(diff.rebuild),
            "cosmetic": [f"{d.section}: {d.describe()}" for d in diff.cosmetic][:MAX_LISTED],
            "cosmetic_count": len(diff.cosmetic)})
    return entries


def _system(view: HostView) -> dict[str, str]:
    system = view.plain.get("system") or {}
    return {"os": str((system.get("os") or {}).get("pretty_name") or ""),
            "architecture": str(system.get("architecture") or ""),
            "boot_mode": str(system.get("boot_mode") or "unknown")}


def jobs_rows(view: HostView) -> list[dict[str, Any]]:
    """The jobs table of a host's page (the report's and the dashboard's)."""
    return _jobs(view)


def index_row(view: HostView) -> dict[str, Any]:
    """A host's row in the index of hosts."""
    return {"name": view.host, "page": page_name(view.host), "readiness": view.readiness,
            "system": _system(view)}


def host_context(view: HostView) -> dict[str, Any]:
    storage = view.documents.get("storage")
    checkouts = (view.plain.get("checkouts") or {}).get("checkouts", [])
    return {
        "host": view.host, "readiness": view.readiness,
        "system": _system(view),
        "tree": storage_tree(storage) if isinstance(storage, StorageDocument) else [],
        "packages": _packages(view), "checkouts": checkouts, "jobs": _jobs(view),
        "timeline": _timeline(view),
    }


def build_site(
    repo: ManifestRepository, out: Path, hosts: Iterable[str] | None = None, *,
    state_dir: Path | None = None, now: float | None = None,
    capture_max_age: str = DEFAULT_CAPTURE_MAX_AGE,
) -> Site:
    """Write ``out/index.html`` and ``out/hosts/<host>.html`` for every host (or those named)."""
    views = load_fleet(repo, list(hosts) if hosts else None, state_dir=state_dir, now=now,
                       capture_max_age=capture_max_age)
    env = environment()
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now))
    pages = []
    host_template = env.get_template("report-host.html.j2")
    for view in views:
        path = out / page_name(view.host)
        atomic_write_text(path, host_template.render(generated=generated, root="../",
                                                     **host_context(view)))
        pages.append(path)
    index = out / "index.html"
    atomic_write_text(index, env.get_template("report-index.html.j2").render(
        generated=generated, root="", hosts=[index_row(v) for v in views]))
    pages.append(index)
    return Site(out, pages, len(views))
