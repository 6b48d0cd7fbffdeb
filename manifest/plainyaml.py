"""Reading manifest files as plain data, fast, within the same limits.

The round-trip loader (:mod:`hostbook.manifest.yamlio`) keeps comments and
positions, which a re-capture's merge and located errors need, and costs
75-110 µs per value in pure Python: some 0.1 s for a packages.yaml.  A fleet
report reads thousands of files and needs neither, so here the scanning and
parsing are done by ruamel.yaml.clib's C parser (libyaml), and the events are
composed by the same :class:`BoundedComposer` (so every limit of
:mod:`hostbook.manifest.bounds` holds, refused at the same event) and built
by a safe constructor with the same integer rule.  A file that fails
validation is read again by the round-trip loader, so its errors name their
line and column exactly as everywhere else.  Without the C parser the
round-trip loader is used throughout.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from hostbook.manifest.bounds import (
    _CORE,
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_NODES,
    PlacedValues,
)
from hostbook.manifest.errors import ManifestError
from hostbook.manifest.merge import to_plain
from hostbook.manifest.model import SectionDocument
from hostbook.manifest.validate import validate_document
from hostbook.manifest.yamlio import parse_text

try:
    from _ruamel_yaml import CParser
except ImportError:  # pragma: no cover - ruamel.yaml.clib is a dependency
    CParser = None



class BoundedSafeConstructor(PlacedValues, SafeConstructor):
    """The safe constructor with the bounds' integer rule and every failure placed."""


BoundedSafeConstructor.add_constructor(_CORE + "int", BoundedSafeConstructor.construct_yaml_int)


def fast() -> bool:
    """Whether the C parser is there (ruamel.yaml.clib)."""
    return CParser is not None


class _Refused(Exception):
    """Something the quick builder does not take: the round-trip loader decides."""


_SIMPLE_TAGS = frozenset(_CORE + n for n in ("int", "float", "bool", "null"))
_STR = _CORE + "str"
_INT = _CORE + "int"
_BOOL = _CORE + "bool"
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)")
"""Integers written the plain way (sizes, counts): int() gives what the constructor gives."""
_BOOLS = {"true": True, "false": False, "True": True, "False": False, "TRUE": True,
          "FALSE": False}


def _plain_resolver(resolver: Any) -> Any:
    """The tag of a plain scalar, as ``resolver.resolve`` finds it (the same YAML 1.2
    patterns, tried in the same order), with the pattern lists looked up once."""
    table = resolver.versioned_resolver
    anywhere = list(dict.fromkeys(table.get(None, [])))
    by_first: dict[str, list[tuple[str, Any]]] = {}

    def resolve(value: str) -> str:
        first = value[:1]
        patterns = by_first.get(first)
        if patterns is None:
            patterns = by_first[first] = list(dict.fromkeys([*table.get(first, []),
                                                             *anywhere]))
        for tag, pattern in patterns:
            if pattern.match(value):
                return str(tag)
        return _STR

    return resolve


def _build(parser: Any, resolver: Any, constructor: Any) -> Any:
    """Plain data straight from the C parser's events, within the bounds of
    :mod:`hostbook.manifest.bounds`, iteratively (no recursion per level).

    It is never more lenient than the round-trip loader: whatever it does not
    handle the way that loader would (explicit tags, a %YAML directive, merge
    keys, duplicate keys, undefined or open aliases, anything near a limit)
    raises :class:`_Refused`, and the round-trip loader reads the file instead.
    """
    get = parser.get_event
    resolve = _plain_resolver(resolver)
    get()  # stream start
    event = get()
    if isinstance(event, StreamEndEvent):
        return None
    if getattr(event, "version", None) is not None or getattr(event, "tags", None):
        raise _Refused
    nodes = chars = 0
    anchors: dict[str, tuple[Any, int, int]] = {}
    stack: list[list[Any]] = []  # [container, is_map, key, has_key, anchor, nodes0, chars0]
    root: list[Any] = []

    def attach(value: Any) -> None:
        if not stack:
            root.append(value)
            return
        frame = stack[-1]
        if not frame[1]:
            frame[0].append(value)
        elif not frame[3]:
            if not isinstance(value, str | int | float | bool) or value == "<<":
                raise _Refused
            frame[2], frame[3] = value, True
        else:
            if frame[2] in frame[0]:
                raise _Refused
            frame[0][frame[2]] = value
            frame[3] = False

    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent:
            value = event.value
            nodes += 1
            chars += len(value)
            if nodes > MAX_NODES or chars > MAX_DOCUMENT_BYTES or "\x00" in value:
                raise _Refused
            if event.tag not in (None, "!"):
                raise _Refused
            tag = resolve(value) if event.implicit[0] else _STR
            if tag == _STR:
                built: Any = value
            elif tag == _INT and _DECIMAL.fullmatch(value) and len(value) < 21:
                built = int(value)
                if not INT_MIN <= built <= INT_MAX:
                    raise _Refused
            elif tag == _BOOL and value in _BOOLS:
                built = _BOOLS[value]
            elif tag in _SIMPLE_TAGS or tag == _CORE + "timestamp":
                built = constructor.construct_object(ScalarNode(Tag(suffix=tag), value))
            else:
                raise _Refused
            if event.anchor is not None:
                if event.anchor in anchors:
                    raise _Refused
                anchors[event.anchor] = (built, 1, len(value))
            attach(built)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if len(stack) >= MAX_DEPTH - 1 or event.tag not in (None, "!"):
                raise _Refused
            if event.anchor is not None and event.anchor in anchors:
                raise _Refused
            nodes += 1
            if nodes > MAX_NODES:
                raise _Refused
            is_map = kind is MappingStartEvent
            stack.append([{} if is_map else [], is_map, None, False, event.anchor, nodes - 1,
                          chars])
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            container, _, _, has_key, anchor, nodes0, chars0 = stack.pop()
            if has_key:
                raise _Refused
            if anchor is not None:
                anchors[anchor] = (container, nodes - nodes0, chars - chars0)
            attach(container)
        elif kind is AliasEvent:
            if event.anchor not in anchors:
                raise _Refused  # undefined, or the node that holds it is still open
            value, weight, text = anchors[event.anchor]
            nodes += weight
            chars += text
            if nodes > MAX_NODES or chars > MAX_DOCUMENT_BYTES:
                raise _Refused
            attach(value)
        elif kind is DocumentEndEvent:
            break
        else:
            raise _Refused
    if not isinstance(get(), StreamEndEvent):
        raise _Refused  # more than one document
    return root[0] if root else None


def parse_plain(text: str, filename: str) -> Any:
    """Parse YAML text to plain dicts and lists within the manifest limits.

    Whatever the quick path refuses (see :func:`_build`) is read by the
    round-trip loader, which gives its usual error or its data.
    """
    if CParser is None or len(text) > MAX_DOCUMENT_BYTES:
        return to_plain(parse_text(text, filename))
    loader = SimpleNamespace(max_depth=None, comment_handling=None)
    try:
        loader._parser = CParser(text)
        loader._resolver = VersionedResolver(loader=loader)
        loader._constructor = BoundedSafeConstructor(loader=loader)
        data = _build(loader._parser, loader._resolver, loader._constructor)
    except Exception:  # refused, a limit, a syntax or reader error: the round-trip loader
        return to_plain(parse_text(text, filename))  # says where, in its usual words
    finally:
        dispose = getattr(getattr(loader, "_parser", None), "dispose", None)
        if dispose is not None:
            dispose()
    if data is None:
        raise ManifestError([f"{filename}:1:1: the file is empty or null (a section file is "
                             "a mapping that starts with its schema: line)"])
    return data


def load_section(text: str, filename: str, section: str) -> tuple[SectionDocument, Any]:
    """A section file validated, and its plain data (in the file's own order).

    On any problem the round-trip loader reads the text again, so errors carry
    exact positions.
    """
    try:
        data = parse_plain(text, filename)
        return validate_document(data, filename, section), data
    except ManifestError:
        data = parse_text(text, filename)  # raises the located error
        return validate_document(data, filename, section), to_plain(data)
