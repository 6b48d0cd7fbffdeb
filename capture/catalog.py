"""Which probes fill which captured section, in the order they run.

The table names probe modules rather than importing them: a capture imports
the probes of the sections it captures and no others, so ``hostbook capture
--only storage`` never loads the package managers' or the checkout scanner's
code (start-up is most of a capture's cost on a slow machine, see
benchmarks/storage.md).  Every name is a module under
``hostbook.capture.probes`` with a module-level ``PROBE``.
"""

from __future__ import annotations

from importlib import import_module

from hostbook.capture.probe import Probe

SECTION_PROBES: dict[str, tuple[str, ...]] = {
    "system": ("system",),
    "storage": (
        "storage.blockdevs", "storage.partitions", "storage.md", "storage.luks", "storage.lvm",
        "storage.mounts", "storage.filesystems", "storage.boot", "storage.assemble",
    ),
    "packages": (
        "packages.apt", "packages.rpm", "packages.pacman", "packages.pip", "packages.pipx",
        "packages.flatpak", "packages.snap",
    ),
    "checkouts": ("checkouts.working_copies",),
    "accounts": ("accounts.users",),
    "etc": ("etc.changed",),
    "services": ("services.units",),
}
"""Section -> its probe modules (relative to ``hostbook.capture.probes``), in run order."""

PROBES_PACKAGE = "hostbook.capture.probes"


def section_probes(section: str) -> tuple[Probe, ...]:
    """The probes of one section, their modules imported now (once per process)."""
    return tuple(
        import_module(f"{PROBES_PACKAGE}.{name}").PROBE for name in SECTION_PROBES[section]
    )


def all_probes() -> list[Probe]:
    """Every probe, for documentation and `hostbook capture --list-probes`."""
    return [probe for section in SECTION_PROBES for probe in section_probes(section)]
