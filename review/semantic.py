"""The semantic difference between two captures of one section, keyed on identity.

Records in lists are matched by their stable key (``id``, ``uuid``, ``path``,
``name``, ...: :func:`hostbook.manifest.merge.record_key`), never by position,
and every difference is sorted into rebuild-relevant or cosmetic by
:mod:`hostbook.review.relevance`.  A disk the kernel now calls vdb instead of
vda keeps its ``id`` (from its by-id link), so it is one record whose ``name``
changed: a cosmetic rename, not a removed and an added disk.  A list or
mapping whose members are unchanged but reordered is one cosmetic
"reordered" difference.

This is the reviewer's diff; :mod:`hostbook.manifest.diff` stays the short
one that commit subjects are made of.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hostbook.manifest.diff import record_label
from hostbook.manifest.merge import record_key
from hostbook.review.relevance import Relevance, field_relevance, order_relevance

DifferenceKind = Literal["added", "removed", "changed", "renamed", "reordered"]
IGNORED_KEYS = frozenset({"schema"})
"""Top-level keys that say which file this is, not what the host has."""


@dataclass(frozen=True)
class FieldChange:
    """One field of a record that differs between the two captures."""

    field: str
    """Dotted path inside the record (``ext.features``, ``name``)."""
    old: Any
    new: Any
    relevance: Relevance
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new,
                "relevance": self.relevance, "reason": self.reason}


@dataclass(frozen=True)
class Difference:
    """One thing that differs: a record, a value or the order of a list."""

    section: str
    kind: DifferenceKind
    thing: str
    """What a person calls it: ``lv laptopvg/extra``, ``apt.manual bc``."""
    identity: str
    """What it was matched on: ``id=disk:virtio-laptop0``, or its path in the file."""
    relevance: Relevance
    reason: str
    fields: tuple[FieldChange, ...] = ()
    old: Any = None
    new: Any = None

    @property
    def rebuild_relevant(self) -> bool:
        return self.relevance == "rebuild"

    def describe(self) -> str:
        """One line: ``+lv laptopvg/extra``, ``disk vda renamed vda -> vdb``."""
        if self.kind == "added":
            return f"+{self.thing}"
        if self.kind == "removed":
            return f"-{self.thing}"
        if self.kind == "renamed":
            also = [f.field for f in self.fields if f.field != "name"]
            extra = f" ({', '.join(also)} changed too)" if also else ""
            return f"{self.thing} renamed {self.old} -> {self.new}{extra}"
        if self.kind == "reordered":
            return f"{self.thing} reordered"
        if self.fields:
            return f"{self.thing}: {', '.join(f.field for f in self.fields)} changed"
        return f"{self.thing} changed: {self.old!r} -> {self.new!r}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "section": self.section, "kind": self.kind, "thing": self.thing,
            "identity": self.identity, "relevance": self.relevance, "reason": self.reason,
            "summary": self.describe(),
        }
        if self.fields:
            out["fields"] = [f.to_json() for f in self.fields]
        elif self.kind in ("changed", "renamed"):
            out["old"], out["new"] = self.old, self.new
        return out


@dataclass
class _Walk:
    """The state of one comparison: the section and the differences found so far."""

    section: str
    out: list[Difference] = field(default_factory=list)

    def add(self, kind: DifferenceKind, thing: str, identity: str,
            judged: tuple[Relevance, str], **extra: Any) -> None:
        self.out.append(Difference(self.section, kind, thing, identity, *judged, **extra))


def compare_section(
    section: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[Difference]:
    """Every difference between two plain documents of ``section`` (None: no file)."""
    walk = _Walk(section)
    if old is None or new is None:
        if old is not None or new is not None:
            kind: DifferenceKind = "added" if old is None else "removed"
            walk.add(kind, f"{section} file", f"{section}.yaml",
                     ("rebuild", f"the {section} section was {kind}"))
        return walk.out
    _mapping(walk, old, new, ())
    return walk.out


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(top level)"


def _mapping(walk: _Walk, old: Mapping[str, Any], new: Mapping[str, Any],
             path: tuple[str, ...]) -> None:
    if _key_order(old, new):
        walk.add("reordered", f"keys of {_dotted(path)}", _dotted(path), order_relevance(()))
    for key in [*old, *(k for k in new if k not in old)]:
        if key in IGNORED_KEYS and not path:
            continue
        where = (*path, str(key))
        if key not in new:
            walk.add("removed", _dotted(where), _dotted(where),
                     field_relevance(walk.section, None, str(key), where), old=old[key])
        elif key not in old:
            walk.add("added", _dotted(where), _dotted(where),
                     field_relevance(walk.section, None, str(key), where), new=new[key])
        else:
            _value(walk, old[key], new[key], where)


def _value(walk: _Walk, old: Any, new: Any, path: tuple[str, ...]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        _mapping(walk, old, new, path)
    elif isinstance(old, list) and isinstance(new, list) and _keyed(old + new):
        _records(walk, old, new, path)
    elif isinstance(old, list) and isinstance(new, list) and _flat(old + new):
        _scalars(walk, old, new, path)
    elif old != new:
        walk.add("changed", _dotted(path), _dotted(path),
                 field_relevance(walk.section, None, path[-1], path), old=old, new=new)


def _keyed(items: list[Any]) -> bool:
    return bool(items) and all(record_key(item) is not None for item in items)


def _flat(items: list[Any]) -> bool:
    return all(not isinstance(item, Mapping | list) for item in items)


def _key_order(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether the keys both have come in another order."""
    return [k for k in old if k in new] != [k for k in new if k in old]


def _identity(item: Mapping[str, Any]) -> str:
    key = record_key(item)
    assert key is not None
    return f"{key[0]}={key[1]}"


def _records(walk: _Walk, old: list[Any], new: list[Any], path: tuple[str, ...]) -> None:
    container = path[-1] if path else ""
    old_by = {record_key(item): item for item in old}
    new_by = {record_key(item): item for item in new}
    for key, item in old_by.items():
        if key not in new_by:
            walk.add("removed", record_label(item, container), _identity(item),
                     field_relevance(walk.section, item, "", path), old=item)
    for key, item in new_by.items():
        if key not in old_by:
            walk.add("added", record_label(item, container), _identity(item),
                     field_relevance(walk.section, item, "", path), new=item)
        else:
            _record(walk, old_by[key], item, container, path)
    common_old = [k for k in old_by if k in new_by]
    common_new = [k for k in new_by if k in old_by]
    if common_old != common_new:
        walk.add("reordered", _dotted(path), _dotted(path), order_relevance(path))


def _scalars(walk: _Walk, old: list[Any], new: list[Any], path: tuple[str, ...]) -> None:
    """A list of plain values (package names, roots): members compared as a set."""
    if old == new:
        return
    where = _dotted(path)
    gone = [x for x in old if x not in new]
    came = [x for x in new if x not in old]
    for value in gone:
        walk.add("removed", f"{where} {value}", f"{where}[{value}]",
                 field_relevance(walk.section, None, path[-1], path), old=value)
    for value in came:
        walk.add("added", f"{where} {value}", f"{where}[{value}]",
                 field_relevance(walk.section, None, path[-1], path), new=value)
    if not gone and not came:
        walk.add("reordered", where, where, order_relevance(path), old=old, new=new)


def _record(walk: _Walk, old: Mapping[str, Any], new: Mapping[str, Any], container: str,
            path: tuple[str, ...]) -> None:
    fields = record_fields(walk.section, new, old, new, path, ())
    if not fields:
        return
    relevant = [f for f in fields if f.relevance == "rebuild"]
    label = record_label(old, container)
    renamed = next((f for f in fields if f.field == "name"), None)
    if renamed is not None and not relevant:
        walk.add("renamed", label, _identity(new), ("cosmetic", renamed.reason),
                 fields=fields, old=renamed.old, new=renamed.new)
        return
    judged: tuple[Relevance, str] = (
        ("rebuild", relevant[0].reason) if relevant else ("cosmetic", fields[0].reason))
    walk.add("changed", label, _identity(new), judged, fields=fields)


def record_fields(section: str, record: Mapping[str, Any], old: Any, new: Any,
                  path: tuple[str, ...], inner: tuple[str, ...]) -> tuple[FieldChange, ...]:
    """The fields of one matched record that differ, at any depth inside it."""
    name = ".".join(inner)
    top = inner[0] if inner else ""

    def judged(of: str) -> tuple[Relevance, str]:
        return field_relevance(section, record, of, (*path, *inner))

    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found: list[FieldChange] = []
        if inner and _key_order(old, new):
            found.append(FieldChange(f"{name} (key order)", None, None,
                                     *order_relevance(())))
        for key in [*old, *(k for k in new if k not in old)]:
            found += record_fields(section, record, old.get(key), new.get(key), path,
                                   (*inner, str(key)))
        return tuple(found)
    if isinstance(old, list) and isinstance(new, list) and _flat(old + new):
        if old == new:
            return ()
        if sorted(map(str, old)) == sorted(map(str, new)):
            return (FieldChange(f"{name} (order)", old, new, *order_relevance((*path, *inner))),)
        gone = [x for x in old if x not in new]
        came = [x for x in new if x not in old]
        return (FieldChange(name, gone, came, *judged(top)),)
    if old != new:
        return (FieldChange(name, old, new, *judged(top)),)
    return ()
