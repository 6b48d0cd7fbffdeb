"""Merge freshly captured data into the document a person may have annotated.

The captured data is the truth for values; the existing document is the truth
for presentation: comments, blank lines and the order of keys a person chose.
Records in lists are matched by a stable key (id, uuid, name, path, ...),
never by position, so a new disk appearing does not move a comment that was
written about another one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarstring import LiteralScalarString
from ruamel.yaml.tokens import CommentToken

# Keys that identify a record inside a list, most specific first.
STABLE_KEYS: tuple[str, ...] = ("id", "uuid", "path", "name", "key", "package")


def record_key(item: Any) -> tuple[str, Any] | None:
    """The stable identity of a list item, or None for plain values."""
    if isinstance(item, Mapping):
        for key in STABLE_KEYS:
            value = item.get(key)
            if isinstance(value, str | int):
                return key, value
    return None


def _block_safe(text: str) -> bool:
    """Whether ``text`` reads back unchanged from a literal block (``|``).

    Carriage returns would come back as line breaks, and YAML allows no control
    characters or byte-order mark there; such text stays a quoted scalar.
    """
    return "\n" in text and all(
        ch in "\n\t" or (ch.isprintable() and ch != "\ufeff") for ch in text
    )


def to_commented(value: Any) -> Any:
    """Convert plain data to round-trip nodes so it can carry comments later.

    Multi-line text (a copy of /etc/fstab, say) becomes a literal block, so a
    review shows the file line by line and a diff names the line that changed.
    """
    if isinstance(value, str) and _block_safe(value):
        return LiteralScalarString(value)
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = to_commented(item)
        return node
    if isinstance(value, list | tuple):
        seq = CommentedSeq()
        seq.extend(to_commented(item) for item in value)
        return seq
    return value


def merge_value(old: Any, new: Any) -> Any:
    """Return ``new``'s content laid onto ``old``'s nodes wherever they match."""
    if isinstance(old, CommentedMap) and isinstance(new, Mapping):
        return _merge_mapping(old, new)
    if isinstance(old, CommentedSeq) and isinstance(new, Sequence) and not isinstance(new, str):
        return _merge_sequence(old, list(new))
    if _same_scalar(old, new):
        return old  # keep the original node (and its quoting style)
    return to_commented(new)


def _same_scalar(old: Any, new: Any) -> bool:
    if isinstance(old, CommentedMap | CommentedSeq):
        return False
    return (type(old) is type(new) and old == new) or (
        isinstance(old, str) and isinstance(new, str) and str(old) == new
    )


def _last_entry(node: Any) -> tuple[Any, Any] | None:
    """The (container, key) holding the comment that follows ``node``'s text."""
    holder: tuple[Any, Any] | None = None
    while isinstance(node, CommentedMap | CommentedSeq) and len(node):
        key = list(node.keys())[-1] if isinstance(node, CommentedMap) else len(node) - 1
        holder = (node, key)
        node = node[key]
    return holder


def _trailing_token(container: Any, key: Any) -> Any:
    entry = container.ca.items.get(key)
    return entry[2] if entry and len(entry) > 2 else None


def _carry_comment(container: Any, source: Any, target: Any) -> None:
    """Hand the comment lines that follow entry ``source`` to entry ``target``.

    ruamel stores a comment written above an entry as the trailing comment of
    the entry before it.  When that entry is removed, or a new entry is put
    between them, the comment must move so it stays above the entry the person
    wrote it about.
    """
    if source is None or target is None:
        return
    holder = _last_entry(container[source]) or (container, source)
    token = _trailing_token(*holder)
    if token is None or "\n" not in token.value:
        return
    first, rest = token.value.split("\n", 1)
    if not rest.strip():
        return
    token.value = first + "\n"
    target_container, target_key = _last_entry(container[target]) or (container, target)
    existing = _trailing_token(target_container, target_key)
    if existing is not None:
        existing.value = existing.value.rstrip("\n") + "\n" + rest
    else:
        entry = target_container.ca.items.setdefault(target_key, [None, None, None, None])
        entry[2] = CommentToken("\n" + rest, CommentMark(0), None)


def _merge_mapping(old: CommentedMap, new: Mapping[str, Any]) -> CommentedMap:
    keys = list(old.keys())
    for position in range(len(keys) - 1, -1, -1):
        key = keys[position]
        if key not in new:
            _carry_comment(old, key, keys[position - 1] if position else None)
            del old[key]
    previous: str | None = None
    for key, value in new.items():
        if key in old:
            merged = merge_value(old[key], value)
            if merged is not old[key]:
                old[key] = merged
        else:
            position = 0 if previous is None else list(old.keys()).index(previous) + 1
            old.insert(position, key, to_commented(value))
            _carry_comment(old, previous, key)
        previous = key
    return old


def _merge_sequence(old: CommentedSeq, new: list[Any]) -> CommentedSeq:
    """Edit ``old`` in place into ``new``'s order, reusing matched records.

    In-place edits (delete, insert) let ruamel shift the comments attached to
    each item along with it.
    """
    new_keys = [record_key(item) for item in new]
    keyed = all(k is not None for k in new_keys) and len(set(new_keys)) == len(new_keys)
    if not keyed:
        # Plain values (or unkeyed records): match equal values, else replace.
        if [_plain(x) for x in old] == [_plain(x) for x in new]:
            return old
        return _rebuild_by_value(old, new)
    wanted = set(new_keys)
    for index in range(len(old) - 1, -1, -1):
        if record_key(old[index]) not in wanted:
            _carry_comment(old, index, index - 1 if index else None)
            del old[index]
    for position, (key, item) in enumerate(zip(new_keys, new, strict=True)):
        current = next(
            (i for i in range(position, len(old)) if record_key(old[i]) == key), None
        )
        if current is None:
            old.insert(position, to_commented(item))
            _carry_comment(old, position - 1 if position else None, position)
            continue
        if current != position:
            node = old[current]
            del old[current]
            old.insert(position, node)
        merged = merge_value(old[position], item)
        if merged is not old[position]:
            old[position] = merged
    return old


def _rebuild_by_value(old: CommentedSeq, new: list[Any]) -> CommentedSeq:
    remaining = [_plain(x) for x in old]
    for index in range(len(old) - 1, -1, -1):
        if remaining[index] not in [_plain(x) for x in new]:
            del old[index]
            del remaining[index]
    for position, item in enumerate(new):
        plain_item = _plain(item)
        if position < len(old) and remaining[position] == plain_item:
            continue
        if plain_item in remaining[position:]:
            current = remaining.index(plain_item, position)
            node = old[current]
            del old[current]
            del remaining[current]
            old.insert(position, node)
            remaining.insert(position, plain_item)
        else:
            old.insert(position, to_commented(item))
            remaining.insert(position, plain_item)
    while len(old) > len(new):
        del old[len(old) - 1]
    return old


def _plain(value: Any) -> Any:
    """Plain dicts, lists and builtin scalars.

    ruamel gives str, int and float subclasses that carry quoting and
    formatting, and an anchored boolean is an int subclass: validation needs
    the plain types so that ``true`` is never read as 1.
    """
    if isinstance(value, Mapping):
        return {_scalar(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, ScalarBoolean):
        return bool(value)
    for kind in (bool, str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value  # None, and complex keys (tuples) as ruamel builds them


def merge_document(old: Any, new: Mapping[str, Any]) -> CommentedMap:
    """Merge a captured document into an existing one (or start a fresh one)."""
    if isinstance(old, CommentedMap):
        return _merge_mapping(old, new)
    return to_commented(new)


def to_plain(value: Any) -> Any:
    """Round-trip nodes back to plain dicts and lists (for validation and diffs)."""
    return _plain(value)
