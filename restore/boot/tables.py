"""fstab and crypttab of the rebuilt host: checked against the manifest, regenerated from it.

The restored files normally equal what the manifest recorded (the archive and
the capture saw the same host).  They must not stay when the rebuild changed
what a line names: a filesystem that got a new UUID (``--new-identities``), or
a filesystem the policy skipped (its line would hold the boot until the
device times out).  Then the file is written again from the manifest's parsed
entries, each spec carrying the rebuilt identity, never by editing the
restored text in place (a pattern edit of UUIDs in fstab broke systems in
ReaR #2509).  Comparison is by parsed fields, so whitespace and comments do
not count as differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hostbook.manifest.sections.storage import CrypttabLine, FstabLine, StorageDocument

HEADER = ("# {name}: written by hostbook rebuild from the manifest (storage.yaml),\n"
          "# because {why}.\n")

IDENTITY_PREFIXES = ("UUID=", "PARTUUID=")


@dataclass
class TableCheck:
    """One file's verdict: the text to write (None: keep the restored file) and why."""

    path: str
    text: str | None
    changes: list[str] = field(default_factory=list)


def changed_identities(recorded: StorageDocument, planned: StorageDocument) -> dict[str, str]:
    """Recorded UUID -> the UUID the rebuild gives it, for every entry whose UUID changed."""
    before = {e.id: getattr(e, "uuid", None) for e in recorded.entries}
    changes: dict[str, str] = {}
    for entry in planned.entries:
        old, new = before.get(entry.id), getattr(entry, "uuid", None)
        if old and new and old != new:
            changes[old] = new
    return changes


def _spec(spec: str, changes: Mapping[str, str]) -> str:
    for prefix in IDENTITY_PREFIXES:
        if spec.startswith(prefix):
            value = spec[len(prefix):]
            for old, new in changes.items():
                if value.lower() == old.lower():
                    return prefix + new
    return spec


def _fields(text: str | None, width: int) -> list[tuple[str, ...]]:
    """A table file's entries as field tuples (comments and blank lines dropped)."""
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        rows.append(tuple(parts + [""] * (width - len(parts)))[:width])
    return rows


def fstab_rows(lines: Sequence[FstabLine], changes: Mapping[str, str],
               kept: set[str] | None) -> tuple[list[tuple[str, ...]], list[str]]:
    rows: list[tuple[str, ...]] = []
    dropped: list[str] = []
    for line in lines:
        if kept is not None and line.target is not None and line.target not in kept:
            dropped.append(f"{line.mountpoint} ({line.target} is not restored)")
            continue
        rows.append((_spec(line.spec, changes), line.mountpoint, line.fstype,
                     line.options or "defaults", str(line.dump), str(line.passno)))
    return rows, dropped


def crypttab_rows(lines: Sequence[CrypttabLine], changes: Mapping[str, str],
                  kept: set[str] | None) -> tuple[list[tuple[str, ...]], list[str]]:
    rows: list[tuple[str, ...]] = []
    dropped: list[str] = []
    for line in lines:
        if kept is not None and line.target is not None and line.target not in kept:
            dropped.append(f"{line.name} ({line.target} is not restored)")
            continue
        rows.append(tuple(x for x in (line.name, _spec(line.source, changes),
                                      line.key_file or "none", line.options or "") if x))
    return rows, dropped


def _render(rows: list[tuple[str, ...]]) -> str:
    return "".join("\t".join(r).rstrip() + "\n" for r in rows)


def check_table(path: str, restored: str | None, rows: list[tuple[str, ...]],
                dropped: list[str], identities_changed: bool, width: int) -> TableCheck:
    """Keep the restored file when it says what the rebuilt host needs; else the new text."""
    normal = [tuple(x for x in r if x) for r in _fields(restored, width)]
    wanted = [tuple(x for x in r if x) for r in rows]
    if restored is not None and normal == wanted and not dropped:
        return TableCheck(path, None)
    changes = [f"{path}: -{' '.join(r)}" for r in normal if r not in wanted]
    changes += [f"{path}: +{' '.join(r)}" for r in wanted if r not in normal]
    changes += [f"{path}: dropped {d}" for d in dropped]
    if restored is None:
        why = "the restored tree had none"
    elif dropped:
        why = "the rebuild leaves out what some lines named"
    elif identities_changed:
        why = "the rebuild gave a device a new identity"
    else:
        why = "the restored file did not match the manifest"
    name = path.rsplit("/", 1)[-1]
    return TableCheck(path, HEADER.format(name=name, why=why) + _render(rows), changes)


def check_fstab(storage: StorageDocument, planned: StorageDocument, restored: str | None,
                kept: set[str] | None) -> TableCheck | None:
    if not storage.fstab.entries and storage.fstab.raw is None:
        return None
    changes = changed_identities(storage, planned)
    rows, dropped = fstab_rows(storage.fstab.entries, changes, kept)
    return check_table("/etc/fstab", restored, rows, dropped, bool(changes), 6)


def check_crypttab(storage: StorageDocument, planned: StorageDocument, restored: str | None,
                   kept: set[str] | None) -> TableCheck | None:
    if not storage.crypttab.entries and storage.crypttab.raw is None:
        return None
    changes = changed_identities(storage, planned)
    rows, dropped = crypttab_rows(storage.crypttab.entries, changes, kept)
    return check_table("/etc/crypttab", restored, rows, dropped, bool(changes), 4)
