"""pacman probe: explicit vs dependency, native vs foreign (AUR and local builds).

Three light queries (``-Q``, ``-Qqe``, ``-Qqm``) instead of parsing ``-Qi``:
foreign means "in no sync database", which only pacman itself can tell.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.probe import Probe, ProbeContext


def _names(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip()}


def parse_versions(text: str) -> dict[str, str]:
    """``name version`` lines of ``pacman -Q``."""
    versions = {}
    for line in text.splitlines():
        name, _, version = line.strip().partition(" ")
        if name and version:
            versions[name] = version.strip()
    return dict(sorted(versions.items()))


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    listing = ctx.runner.query(["pacman", "-Q"])
    if listing.missing or (not listing.stdout.strip() and listing.returncode in (0, 1)):
        return  # not installed, or installed without a package database (Debian)
    if not listing.ok:
        ctx.mark_incomplete("pacman", listing.failure())
        return
    versions = parse_versions(listing.stdout)
    pacman: dict[str, Any] = {}
    explicit = ctx.run_ok(["pacman", "-Qqe"], "pacman.manual", ok_codes=(0, 1))
    manual = _names(explicit.stdout) & set(versions) if explicit else set()
    pacman["manual"] = sorted(manual)
    pacman["auto"] = sorted(set(versions) - manual) if explicit else []
    # -Qqm exits 1 when no package is foreign.
    foreign = ctx.run_ok(["pacman", "-Qqm"], "pacman.foreign", ok_codes=(0, 1))
    pacman["foreign"] = sorted(_names(foreign.stdout)) if foreign else []
    pacman["versions"] = versions
    repos = ctx.runner.query(["pacman-conf", "--repo-list"])
    if repos.ok:
        pacman["repositories"] = [line.strip() for line in repos.stdout.splitlines()
                                  if line.strip()]
    doc["pacman"] = pacman


PROBE = Probe(
    name="packages.pacman",
    section="packages",
    commands=("pacman", "pacman-conf"),
    collect=collect,
    description="pacman packages: explicit/dependency, foreign, versions, repositories",
)
