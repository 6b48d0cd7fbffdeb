"""Semantic differences between two versions of a section.

A byte diff of YAML says which lines moved; people reviewing a host want to
know which *things* changed ("+lv vg0/data", "fs /home label changed").  The
same list of changes feeds commit messages, `hostbook diff` and the restore
verifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hostbook.manifest.merge import record_key

ChangeKind = Literal["added", "removed", "changed"]

# Keys that never describe the thing itself, only bookkeeping.
_IGNORED_KEYS = frozenset({"schema"})
# Sections whose changes read best as counts (hundreds of package names).
_COUNTED_SECTIONS = frozenset({"packages"})
_MAX_LISTED = 4


@dataclass(frozen=True)
class Change:
    """One semantic change: what kind, to which thing, and which of its fields."""

    kind: ChangeKind
    label: str
    fields: tuple[str, ...] = ()
    old: Any = None
    new: Any = None

    def describe(self) -> str:
        if self.kind == "added":
            return f"+{self.label}"
        if self.kind == "removed":
            return f"-{self.label}"
        if self.fields:
            return f"{self.label} {', '.join(self.fields)} changed"
        return f"{self.label} changed"


@dataclass
class SectionDiff:
    """All changes of one section."""

    section: str
    changes: list[Change] = field(default_factory=list)

    def summary(self) -> str:
        """A short phrase for a commit subject line."""
        if not self.changes:
            return ""
        whole_file = f"{self.section} file"
        if any(c.label == whole_file for c in self.changes):  # a new (or removed) file
            return f"{self.section}: {', '.join(c.describe() for c in self.changes)}"
        if self.section in _COUNTED_SECTIONS or len(self.changes) > _MAX_LISTED:
            counts = {
                kind: sum(1 for c in self.changes if c.kind == kind)
                for kind in ("added", "removed", "changed")
            }
            parts = [
                f"{sign}{counts[kind]}"
                for sign, kind in (("+", "added"), ("-", "removed"), ("~", "changed"))
                if counts[kind]
            ]
            return f"{self.section}: {' '.join(parts)}"
        return f"{self.section}: {', '.join(c.describe() for c in self.changes)}"


def record_label(item: Mapping[str, Any], container: str) -> str:
    """How to name a record in a change: its kind and its most readable identity."""
    kind = item.get("type") or item.get("kind") or _singular(container)
    for key in ("name", "path", "mountpoint", "target", "id", "uuid", "key", "package"):
        value = item.get(key)
        if isinstance(value, str | int) and value != "":
            return f"{kind} {value}"
    return str(kind)


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def diff_sections(
    section: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]
) -> SectionDiff:
    """Compare two plain documents of one section."""
    result = SectionDiff(section)
    if old is None:
        if any(k not in _IGNORED_KEYS for k in new):
            result.changes.append(Change("added", f"{section} file"))
        return result
    _diff_mapping(old, new, (), result.changes)
    return result


def _diff_mapping(
    old: Mapping[str, Any], new: Mapping[str, Any], path: tuple[str, ...], out: list[Change]
) -> None:
    for key in list(old) + [k for k in new if k not in old]:
        if key in _IGNORED_KEYS and not path:
            continue
        where = (*path, str(key))
        if key not in new:
            out.append(Change("removed", ".".join(where), old=old[key]))
        elif key not in old:
            out.append(Change("added", ".".join(where), new=new[key]))
        else:
            _diff_value(old[key], new[key], where, out)


def _diff_value(old: Any, new: Any, path: tuple[str, ...], out: list[Change]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        _diff_mapping(old, new, path, out)
    elif isinstance(old, list) and isinstance(new, list):
        _diff_list(old, new, path, out)
    elif old != new:
        out.append(Change("changed", ".".join(path), old=old, new=new))


def _diff_list(old: list[Any], new: list[Any], path: tuple[str, ...], out: list[Change]) -> None:
    container = path[-1] if path else ""
    old_keys = [record_key(x) for x in old]
    new_keys = [record_key(x) for x in new]
    if all(k is not None for k in old_keys + new_keys):
        old_by = dict(zip(old_keys, old, strict=True))
        new_by = dict(zip(new_keys, new, strict=True))
        for key, item in old_by.items():
            if key not in new_by:
                out.append(Change("removed", record_label(item, container), old=item))
        for key, item in new_by.items():
            if key not in old_by:
                out.append(Change("added", record_label(item, container), new=item))
                continue
            inner: list[Change] = []
            _diff_mapping(old_by[key], item, (), inner)
            if inner:
                fields = tuple(dict.fromkeys(c.label.split(".")[0] for c in inner))
                out.append(
                    Change("changed", record_label(item, container), fields, old_by[key], item)
                )
        return
    if all(not isinstance(x, Mapping | list) for x in old + new):
        old_set, new_set = set(map(str, old)), set(map(str, new))
        for value in sorted(old_set - new_set):
            out.append(Change("removed", f"{_singular(container)} {value}".strip()))
        for value in sorted(new_set - old_set):
            out.append(Change("added", f"{_singular(container)} {value}".strip()))
        return
    if old != new:
        out.append(Change("changed", ".".join(path), old=old, new=new))


def commit_message(diffs: list[SectionDiff]) -> str:
    """Subject line listing what changed per section, then one line per change."""
    subject = "; ".join(d.summary() for d in diffs if d.changes)
    lines = [subject or "no semantic change"]
    details = [f"{d.section}: {c.describe()}" for d in diffs for c in d.changes]
    if details and (len(details) > 1 or details[0] != subject):
        lines.append("")
        lines.extend(details[:200])
        if len(details) > 200:
            lines.append(f"... and {len(details) - 200} more")
    return "\n".join(lines)
