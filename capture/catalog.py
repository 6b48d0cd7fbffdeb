"""Which probes fill which captured section, in the order they run."""

from __future__ import annotations

from hostbook.capture.probe import Probe
from hostbook.capture.probes import system
from hostbook.capture.probes.checkouts import working_copies as checkouts
from hostbook.capture.probes.packages import apt as packages_apt
from hostbook.capture.probes.packages import flatpak as packages_flatpak
from hostbook.capture.probes.packages import pacman as packages_pacman
from hostbook.capture.probes.packages import pip as packages_pip
from hostbook.capture.probes.packages import pipx as packages_pipx
from hostbook.capture.probes.packages import rpm as packages_rpm
from hostbook.capture.probes.packages import snap as packages_snap
from hostbook.capture.probes.storage import assemble as storage_assemble
from hostbook.capture.probes.storage import blockdevs as storage_blockdevs
from hostbook.capture.probes.storage import boot as storage_boot
from hostbook.capture.probes.storage import filesystems as storage_filesystems
from hostbook.capture.probes.storage import luks as storage_luks
from hostbook.capture.probes.storage import lvm as storage_lvm
from hostbook.capture.probes.storage import md as storage_md
from hostbook.capture.probes.storage import mounts as storage_mounts
from hostbook.capture.probes.storage import partitions as storage_partitions

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
