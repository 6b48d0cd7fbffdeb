"""Parsers of apt's answers a reinstall plans with.

``apt-get -s install ...`` (the simulation) prints ``Inst NAME [OLD] (VERSION
ORIGIN [ARCH])`` per package it would unpack, ``Conf ...`` per one it would
configure, and on failure ``E: ...`` lines (``Unable to locate package X``,
``Package X has no installation candidate``, ``held broken packages``) after
the ``The following packages have unmet dependencies:`` block.  ``apt-cache
showpkg NAME`` ends with ``Reverse Provides:`` and one ``PROVIDER VERSION``
line per package providing NAME.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_INST = re.compile(r"^Inst (?P<name>\S+)(?: \[(?P<old>[^\]]*)\])? \((?P<version>\S+)")
_MISSING = re.compile(
    r"^E: (?:Unable to locate package (?P<a>\S+)|Package '?(?P<b>[^' ]+)'? has no "
    r"installation candidate|Couldn't find any package by glob '(?P<c>[^']+)')")
_UNMET = re.compile(r"^\s*(?P<name>[a-z0-9][a-z0-9+.-]*) : (?:Depends|PreDepends|Conflicts|Breaks)")


@dataclass
class Simulation:
    """What a simulated install would do, or why it cannot."""

    ok: bool
    installs: dict[str, str] = field(default_factory=dict)
    """name -> version apt would install (its ``Inst`` lines)."""
    missing: list[str] = field(default_factory=list)
    """names apt does not know or cannot install."""
    broken: list[str] = field(default_factory=list)
    """packages named in the unmet-dependencies block."""
    errors: list[str] = field(default_factory=list)


def parse_simulation(stdout: str, stderr: str, returncode: int) -> Simulation:
    sim = Simulation(ok=returncode == 0)
    for line in stdout.splitlines():
        match = _INST.match(line)
        if match:
            sim.installs[match["name"]] = match["version"]
            continue
        unmet = _UNMET.match(line)
        if unmet and unmet["name"] not in sim.broken:
            sim.broken.append(unmet["name"])
    for line in (stdout + "\n" + stderr).splitlines():
        if line.startswith("E: "):
            sim.errors.append(line[3:].strip())
            match = _MISSING.match(line)
            if match:
                name = match["a"] or match["b"] or match["c"]
                if name not in sim.missing:
                    sim.missing.append(name)
    return sim


def parse_reverse_provides(text: str) -> list[str]:
    """Packages providing a name, from ``apt-cache showpkg NAME`` (sorted, unique)."""
    _, sep, tail = text.partition("Reverse Provides:")
    if not sep:
        return []
    return sorted({line.split()[0] for line in tail.splitlines() if line.strip()})
