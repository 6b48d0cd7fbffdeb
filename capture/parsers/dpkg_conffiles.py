"""Parsers for what dpkg and ucf know about configuration files.

``dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Conffiles}\\n'``
prints each package on one line with its first conffile after the second
tab, the others on continuation lines starting with a space: `` PATH MD5
[obsolete|remove-on-upgrade]``.  ucf(1) keeps the files it manages (generated
by maintainer scripts, not dpkg conffiles) in /var/lib/ucf/registry (``PACKAGE
PATH``) and their pristine MD5 in /var/lib/ucf/hashfile (``MD5  PATH``).
``md5sum`` prints ``MD5  PATH`` (a backslash first when the path was escaped).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Conffile:
    path: str
    package: str
    md5: str
    obsolete: bool = False


def parse_conffiles(text: str) -> list[Conffile]:
    """Conffiles of installed packages (state ``i``), in dpkg's order."""
    out: list[Conffile] = []
    package: str | None = None
    installed = False

    def add(item: str) -> None:
        fields = item.split()
        if package and installed and len(fields) >= 2 and fields[0].startswith("/"):
            flags = fields[2:]
            out.append(Conffile(fields[0], package, fields[1], "obsolete" in flags))

    for line in text.splitlines():
        if line.startswith(" "):
            add(line)
            continue
        parts = line.split("\t", 2)
        if len(parts) < 2:
            package = None
            continue
        abbrev, package = parts[0].strip(), parts[1]
        installed = len(abbrev) >= 2 and abbrev[1] == "i"
        if len(parts) == 3:
            add(parts[2])
    return out


def parse_ucf(registry: str, hashfile: str) -> dict[str, tuple[str, str | None]]:
    """ucf-managed path -> (package, pristine MD5 or None)."""
    sums: dict[str, str] = {}
    for line in hashfile.splitlines():
        fields = line.split()
        if len(fields) == 2:
            sums[fields[1]] = fields[0]
    managed: dict[str, tuple[str, str | None]] = {}
    for line in registry.splitlines():
        fields = line.split()
        if len(fields) == 2:
            managed[fields[1]] = (fields[0], sums.get(fields[1]))
    return managed


def parse_md5sum(text: str, strip: str = "") -> dict[str, str]:
    """Path -> MD5 from ``md5sum`` output; ``strip`` is a prefix taken off each path."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        escaped = line.startswith("\\")
        digest, sep, path = line.lstrip("\\").partition("  ")
        if not sep:
            continue
        if escaped:
            path = path.replace("\\n", "\n").replace("\\\\", "\\")
        if strip and path.startswith(strip):
            path = path[len(strip):]
        sums[path] = digest
    return sums
