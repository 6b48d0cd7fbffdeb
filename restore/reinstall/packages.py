"""Packages on a reinstall: the manual set mapped onto the new release, third-party sources back.

Only what a person chose (``manual``) is installed; dependencies come as the
new release's dependencies (replaying the whole installed list is how
apt-clone ends at "held broken packages").  A name the new archives do not
know is mapped when it can be: the t64 rename (``libfoo1`` -> ``libfoo1t64``,
the 64-bit time_t transition of Debian 13), a package that now provides it;
otherwise it is reported with the reason.  The package manager's simulation
has the last word (``resolve``): a name it refuses moves to the report.

Third-party sources (signed by a key no distribution package installs, or on
a host that is not the distribution's) are written back with their keys;
the distribution's own sources are the new system's business and are left
alone.  A third-party suite named after the old release is renamed to the
new one and reported as adapted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from hostbook.capture.parsers.apt_simulation import Simulation
from hostbook.manifest.sections.packages import AptPackages, AptSourceEntry
from hostbook.restore.reinstall.facts import NewSystem
from hostbook.restore.reinstall.report import Item

SECTION = "packages"
DISTRIBUTION_HOSTS = ("debian.org", "ubuntu.com")
T64 = "t64"


@dataclass
class PackageMapping:
    install: dict[str, str] = field(default_factory=dict)
    """new name -> the old name it stands for."""
    items: list[Item] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)
    mark_manual: list[str] = field(default_factory=list)
    """installed here as a dependency, chosen on the old host: marked manual."""
    foreign_architectures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FileToWrite:
    path: str
    content: str
    mode: str = "0644"


@dataclass
class SourcesPlan:
    files: list[FileToWrite] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)


def map_packages(old: AptPackages, new: NewSystem) -> PackageMapping:
    """Each old manual package: kept, renamed, provided by another, or not mappable."""
    mapping = PackageMapping(foreign_architectures=list(old.foreign_architectures))
    release = new.codename or "the new release"
    for name in old.manual:
        base, _, arch = name.partition(":")
        suffix = f":{arch}" if arch else ""
        if base in new.installed and not arch:
            if base in new.manual:
                mapping.items.append(Item(SECTION, name, "carried", "already installed"))
            else:
                mapping.mark_manual.append(name)
                mapping.items.append(Item(SECTION, name, "carried",
                                          "already installed; marked manual"))
        elif base in new.known:
            mapping.install[name] = name
        elif base + T64 in new.known or base + T64 in new.providers.get(base, []):
            mapping.install[base + T64 + suffix] = name
            mapping.items.append(Item(SECTION, name, "adapted",
                                      f"renamed to {base}{T64} in {release} (64-bit time_t)"))
        elif len(new.providers.get(base, [])) == 1:
            provider = new.providers[base][0]
            mapping.install[provider + suffix] = name
            mapping.items.append(Item(SECTION, name, "adapted",
                                      f"gone from {release}; {provider} provides it"))
        elif base in new.providers:
            mapping.items.append(Item(
                SECTION, name, "unmapped",
                f"gone from {release}; provided by {', '.join(new.providers[base])}",
                "install the one you want"))
        else:
            mapping.items.append(Item(SECTION, name, "unmapped",
                                      f"gone from {release}: no package has or provides it",
                                      "find its replacement or drop it"))
    mapping.holds = [h for h in old.held if h in mapping.install]
    return mapping


def resolve(mapping: PackageMapping, sim: Simulation) -> list[str]:
    """Take out what the simulation refused (reported); return the names taken out."""
    refused = [n for n in [*sim.missing, *sim.broken] if n in mapping.install]
    if not sim.ok and not refused:
        return []
    for name in refused:
        old_name = mapping.install.pop(name)
        mapping.items = [i for i in mapping.items if i.subject != old_name]
        why = ("apt cannot resolve its dependencies" if name in sim.broken
               else "apt has no installation candidate")
        mapping.items.append(Item(SECTION, old_name, "unmapped",
                                  f"{why}: {'; '.join(sim.errors[:2])}".rstrip(": "),
                                  f"try 'apt-get install {name}' and read apt's reason"))
    return refused


def settle(mapping: PackageMapping, sim: Simulation) -> None:
    """After a simulation that succeeded: every name still to install is carried or adapted."""
    adapted = {i.subject for i in mapping.items}
    for name, old_name in sorted(mapping.install.items()):
        if old_name not in adapted:
            version = sim.installs.get(name.split(":", 1)[0])
            detail = f"installed ({version})" if version else "installed"
            mapping.items.append(Item(SECTION, old_name, "carried", detail))


def _third_party(entry: AptSourceEntry, packaged_keys: set[str]) -> bool:
    if entry.signed_by and entry.signed_by != "inline":
        return not set(entry.signed_by.replace(",", " ").split()) <= packaged_keys
    hosts = {urlparse(u).hostname or "" for u in entry.uris}
    return not all(h.endswith(DISTRIBUTION_HOSTS) for h in hosts if h)


def _render(entries: list[AptSourceEntry], deb822: bool) -> str:
    if deb822:
        stanzas = []
        for e in entries:
            lines = [f"Types: {' '.join(e.types)}", f"URIs: {' '.join(e.uris)}",
                     f"Suites: {' '.join(e.suites)}"]
            if e.components:
                lines.append(f"Components: {' '.join(e.components)}")
            if e.signed_by:
                lines.append(f"Signed-By: {e.signed_by}")
            if e.architectures:
                lines.append(f"Architectures: {' '.join(e.architectures)}")
            stanzas.append("\n".join(lines))
        return "\n\n".join(stanzas) + "\n"
    out = []
    for e in entries:
        opts = []
        if e.signed_by:
            opts.append(f"signed-by={e.signed_by}")
        if e.architectures:
            opts.append(f"arch={','.join(e.architectures)}")
        head = f"{e.types[0]} [{' '.join(opts)}]" if opts else e.types[0]
        out.append(" ".join([head, e.uris[0], e.suites[0], *e.components]))
    return "\n".join(out) + "\n"


def plan_sources(old: AptPackages, old_codename: str | None, new: NewSystem) -> SourcesPlan:
    """Third-party source files and the keys they need."""
    plan = SourcesPlan()
    keys = {k.path: k for k in old.keys}
    packaged = {k.path for k in old.keys if k.package}
    written: set[str] = set()
    for source in old.sources:
        entries = [e for e in source.entries if e.enabled is not False
                   and _third_party(e, packaged)]
        if not entries:
            continue
        renamed = []
        for entry in entries:
            suites = [new.codename + s[len(old_codename):]
                      if old_codename and new.codename and s.startswith(old_codename) else s
                      for s in entry.suites]
            if suites != entry.suites:
                renamed.append(f"{' '.join(entry.suites)} -> {' '.join(suites)}")
                entries[entries.index(entry)] = entry.model_copy(update={"suites": suites})
        plan.files.append(FileToWrite(source.path, _render(entries, source.format == "deb822")))
        uris = ", ".join(u for e in entries for u in e.uris)
        if renamed:
            plan.items.append(Item(SECTION, f"source {source.path}", "adapted",
                                   f"{uris}: suite {'; '.join(renamed)} (check that the "
                                   "vendor publishes it)"))
        else:
            plan.items.append(Item(SECTION, f"source {source.path}", "carried", uris))
        for entry in entries:
            for path in (entry.signed_by or "").replace(",", " ").split():
                key = keys.get(path)
                if path in written or not path.startswith("/"):
                    continue
                written.add(path)
                if key is not None and key.material:
                    plan.files.append(FileToWrite(path, key.material))
                    plan.items.append(Item(SECTION, f"key {path}", "carried",
                                           f"public key {', '.join(key.fingerprints)}"))
                else:
                    why = (f"installed by package {key.package}" if key and key.package
                           else "its material was not captured")
                    plan.items.append(Item(SECTION, f"key {path}", "unmapped", why,
                                           f"fetch the key of {uris} and put it at {path}"))
    for key in old.keys:  # keys trusted globally (trusted.gpg.d) that no package installs
        if key.material and key.path not in written and "/trusted.gpg.d/" in key.path:
            plan.files.append(FileToWrite(key.path, key.material))
            plan.items.append(Item(SECTION, f"key {key.path}", "carried",
                                   f"public key {', '.join(key.fingerprints)}"))
    return plan
