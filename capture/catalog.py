"""Which probes fill which captured section, in the order they run."""

from __future__ import annotations

from hostbook.capture.probe import Probe
from hostbook.capture.probes import system

SECTION_PROBES: dict[str, tuple[Probe, ...]] = {
    "system": (system.PROBE,),
    "storage": (),
    "packages": (),
    "checkouts": (),
}


def all_probes() -> list[Probe]:
    """Every probe, for documentation and `hostbook capture --list-probes`."""
    return [probe for probes in SECTION_PROBES.values() for probe in probes]
