"""The device guard: restore writes only to what the disk map names.

Built once from the map and the plan; every command is checked against it
before it runs.  A device path in a command that is neither a mapped disk nor
something the plan itself creates on a mapped disk stops the restore.  This is
the "by construction" half of restore safety; refusing busy or boot disks
(``safety.py``) is the other half.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hostbook.manifest.errors import RuntimeFailure
from hostbook.restore.plan.steps import Step

# Devices that are sources of bytes, never storage: a keyfile is read from
# /dev/urandom, and naming them is no write to a disk.
PSEUDO_DEVICES = frozenset({"/dev/urandom", "/dev/random", "/dev/zero", "/dev/null"})


@dataclass
class DeviceGuard:
    """The set of device paths a restore may write."""

    disks: frozenset[str]
    derived: set[str] = field(default_factory=set)

    def allow_derived(self, paths: Iterable[str]) -> None:
        """Add paths that planned steps create on mapped disks (partitions, md, dm, LVs)."""
        self.derived.update(paths)

    def allowed(self, path: str) -> bool:
        return path in self.disks or path in self.derived or path in PSEUDO_DEVICES

    def check_step(self, step: Step) -> None:
        """Refuse a step that names or touches any device outside the guard."""
        named = set(step.devices)
        for command in step.commands:
            named.update(arg for arg in command.argv if arg.startswith("/dev/"))
            named.update(
                value
                for arg in command.argv
                if "=/dev/" in arg
                for value in [arg.split("=", 1)[1]]
            )
            if command.stdin:
                named.update(w for w in command.stdin.split() if w.startswith("/dev/"))
        outside = sorted(p for p in named if not self.allowed(p))
        if outside:
            raise RuntimeFailure(
                f"step {step.id} would write {', '.join(outside)}, which the disk map does "
                "not name; refusing"
            )
