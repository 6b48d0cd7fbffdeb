"""Which probes fill which captured section, in the order they run."""

from __future__ import annotations

from hostbook.capture.probe import Probe
from hostbook.capture.probes import (
    checkouts,
    packages_apt,
    packages_flatpak,
    packages_pacman,
    packages_pip,
    packages_pipx,
    packages_rpm,
    packages_snap,
    storage_assemble,
    storage_blockdevs,
    storage_boot,
    storage_filesystems,
    storage_luks,
    storage_lvm,
    storage_md,
    storage_mounts,
    storage_partitions,
    system,
)

SECTION_PROBES: dict[str, tuple[Probe, ...]] = {
    "system": (system.PROBE,),
    "storage": (
        storage_blockdevs.PROBE, storage_partitions.PROBE, storage_md.PROBE, storage_luks.PROBE,
        storage_lvm.PROBE, storage_mounts.PROBE, storage_filesystems.PROBE, storage_boot.PROBE,
        storage_assemble.PROBE,
    ),
    "packages": (
        packages_apt.PROBE, packages_rpm.PROBE, packages_pacman.PROBE, packages_pip.PROBE,
        packages_pipx.PROBE, packages_flatpak.PROBE, packages_snap.PROBE,
    ),
    "checkouts": (checkouts.PROBE,),
}


def all_probes() -> list[Probe]:
    """Every probe, for documentation and `hostbook capture --list-probes`."""
    return [probe for probes in SECTION_PROBES.values() for probe in probes]
