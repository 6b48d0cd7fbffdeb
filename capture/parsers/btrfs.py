"""Parse btrfs-progs output: superblock dump, subvolume listings, tree dumps.

Mounted filesystems are read through ``btrfs subvolume list`` (the kernel
resolves paths); unmounted ones through ``btrfs inspect-internal dump-tree``
of the root tree (subvolumes, default) and chunk tree (profiles), which only
reads the device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PROFILES = ("single", "dup", "raid0", "raid1", "raid10", "raid5", "raid6", "raid1c3", "raid1c4")
FS_TREE = 5
_SUBVOL_DIR = 256  # inode number of a subvolume's root directory
_NO_UUID = ("-", "00000000-0000-0000-0000-000000000000")

_LIST = re.compile(
    r"^ID (?P<id>\d+) gen \d+(?: cgen \d+)? parent (?P<parent>\d+) top level \d+"
    r"(?: parent_uuid (?P<puuid>\S+))?\s*(?: received_uuid \S+)?\s*(?: uuid (?P<uuid>\S+))?"
    r" path (?P<path>.*)$"
)
_ID = re.compile(r"^ID (?P<id>\d+)\b")
_KEY = re.compile(r"^\s*item \d+ key \((?P<obj>\S+) (?P<type>[A-Z_]+) (?P<off>\S+)\)")


def parse_super(text: str) -> dict[str, str | list[str]]:
    """``btrfs inspect-internal dump-super``: key -> value; ``*_flags`` -> flag names."""
    fields: dict[str, str | list[str]] = {}
    flags_key: str | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith(("superblock:", "---")):
            continue
        if line[0] in " \t":
            if flags_key is not None:
                names = re.findall(r"[A-Z][A-Z0-9_]+", line)
                current = fields.setdefault(flags_key, [])
                if isinstance(current, list):
                    current.extend(n.lower() for n in names)
                if ")" in line:
                    flags_key = None
            continue
        parts = re.split(r"\t+| {2,}", line.strip(), maxsplit=1)
        key = parts[0].strip()
        value = parts[1].strip() if len(parts) > 1 else ""
        fields[key] = value
        flags_key = None
        if key.endswith("_flags") and value.startswith("0x") and value != "0x0":
            flags_key = key + "_names"
            fields[flags_key] = []
            names = re.findall(r"[A-Z][A-Z0-9_]+", line.split(value, 1)[1])
            if names:
                fields[flags_key] = [n.lower() for n in names]
    return fields


def super_int(fields: dict[str, str | list[str]], key: str) -> int | None:
    value = fields.get(key)
    if isinstance(value, str):
        word = value.split(" ")[0]
        if word.isdigit():
            return int(word)
    return None


def super_str(fields: dict[str, str | list[str]], key: str) -> str | None:
    value = fields.get(key)
    if isinstance(value, str) and value:
        return value.split(" [")[0]
    return None


def super_features(fields: dict[str, str | list[str]]) -> list[str]:
    """Incompat and compat_ro feature names, sorted (mkfs.btrfs -O material)."""
    names: set[str] = set()
    for key in ("incompat_flags_names", "compat_ro_flags_names"):
        value = fields.get(key)
        if isinstance(value, list):
            names.update(value)
    return sorted(names)


@dataclass
class Subvolume:
    """A subvolume as listed or dumped."""

    id: int
    parent: int | None
    path: str | None
    uuid: str | None = None
    parent_uuid: str | None = None
    readonly: bool = False


def parse_subvolume_list(text: str) -> list[Subvolume]:
    """``btrfs subvolume list -p -u -q MOUNT``."""
    result = []
    for line in text.splitlines():
        match = _LIST.match(line.strip())
        if match is None:
            continue
        puuid = match["puuid"]
        uuid = match["uuid"]
        result.append(
            Subvolume(
                id=int(match["id"]),
                parent=int(match["parent"]),
                path=match["path"].removeprefix("<FS_TREE>/"),
                uuid=None if uuid in (None, *_NO_UUID) else uuid,
                parent_uuid=None if puuid in (None, *_NO_UUID) else puuid,
            )
        )
    return result


def parse_ids(text: str) -> set[int]:
    """Subvolume ids of a ``btrfs subvolume list -r`` run (the read-only ones)."""
    ids = set()
    for line in text.splitlines():
        match = _ID.match(line.strip())
        if match:
            ids.add(int(match["id"]))
    return ids


def parse_default(text: str) -> int | None:
    """``btrfs subvolume get-default``: ``ID 256 gen ...`` or ``ID 5 (FS_TREE)``."""
    match = _ID.match(text.strip())
    return int(match["id"]) if match else None


@dataclass
class RootTree:
    """What the root tree says about subvolumes."""

    subvolumes: list[Subvolume] = field(default_factory=list)
    default: int | None = None
    quota: bool = False


def _objectid(value: str) -> int | None:
    if value.isdigit():
        return int(value)
    return FS_TREE if value == "FS_TREE" else None


def parse_root_tree(text: str) -> RootTree:
    """``btrfs inspect-internal dump-tree -t root DEV``: subvolumes, names, default."""
    items: dict[int, dict[str, str]] = {}
    refs: dict[int, tuple[int, int, str]] = {}  # child -> (parent, dirid, name)
    default: int | None = None
    quota = False
    key: tuple[str, str, str] | None = None
    for line in text.splitlines():
        match = _KEY.match(line)
        if match:
            key = (match["obj"], match["type"], match["off"])
            continue
        if key is None:
            continue
        body = line.strip()
        obj, kind, off = key
        if kind == "ROOT_ITEM" and obj == "QUOTA_TREE":
            quota = True
        if kind == "ROOT_ITEM":
            ident = _objectid(obj)
            if ident is None or (ident != FS_TREE and ident < _SUBVOL_DIR):
                continue
            record = items.setdefault(ident, {})
            if body.startswith("last_snapshot") and "RDONLY" in body:
                record["readonly"] = "1"
            for name in ("uuid", "parent_uuid"):
                if body.startswith(name + " "):
                    record[name] = body.split(" ", 1)[1].strip()
        elif kind == "ROOT_REF" and body.startswith("root ref key"):
            parts = body.split()
            parent = _objectid(obj)
            child = int(off) if off.isdigit() else None
            if parent is not None and child is not None:
                name = body.split(" name ", 1)[1] if " name " in body else ""
                refs[child] = (parent, int(parts[4]), name)
        elif kind == "DIR_ITEM" and obj == "ROOT_TREE_DIR" and body.startswith("location key"):
            target = body.split("(", 1)[1].split(" ", 1)[0]
            default = _objectid(target)
    paths: dict[int, str | None] = {FS_TREE: ""}

    def path_of(ident: int, depth: int = 0) -> str | None:
        if ident in paths:
            return paths[ident]
        ref = refs.get(ident)
        if ref is None or depth > 256:
            return None
        parent, dirid, name = ref
        base = path_of(parent, depth + 1)
        # A subvolume created inside a plain directory needs the parent's
        # directory tree to name that directory: not resolvable from here.
        paths[ident] = None if base is None or dirid != _SUBVOL_DIR else (
            f"{base}/{name}" if base else name
        )
        return paths[ident]

    tree = RootTree(default=default, quota=quota)
    for ident in sorted(items):
        if ident == FS_TREE:
            continue
        record = items[ident]
        uuid = record.get("uuid")
        puuid = record.get("parent_uuid")
        tree.subvolumes.append(
            Subvolume(
                id=ident,
                parent=refs[ident][0] if ident in refs else None,
                path=path_of(ident),
                uuid=None if uuid in (None, *_NO_UUID) else uuid,
                parent_uuid=None if puuid in (None, *_NO_UUID) else puuid,
                readonly=record.get("readonly") == "1",
            )
        )
    return tree


def parse_chunk_profiles(text: str) -> dict[str, list[str]]:
    """``dump-tree -t chunk``: block group kind (data, metadata, system) -> profiles."""
    profiles: dict[str, set[str]] = {}
    for match in re.finditer(r"\btype ((?:DATA|METADATA|SYSTEM)(?:\|[A-Za-z0-9]+)+)", text):
        parts = match.group(1).lower().split("|")
        kinds = [p for p in parts if p in ("data", "metadata", "system")]
        found = [p for p in parts if p in PROFILES] or ["single"]
        for kind in kinds:
            profiles.setdefault(kind, set()).update(found)
    return {kind: sorted(values) for kind, values in profiles.items()}
