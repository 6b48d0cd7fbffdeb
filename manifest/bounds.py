"""Limits on what a manifest file can make the loader build, enforced while it loads.

A manifest repository can hold files nobody reviewed (a fleet's hosts push
their own), so reading one must cost bounded memory and time whatever it
contains.  ruamel.yaml by itself does not bound either: its composer hands
an alias back as the anchored node, so the document stays small in memory
while every consumer that walks it (validation, ``show --json``) expands
it; one 1 MiB anchor referenced 2,000 times became 2 GB.  Its composer and
constructor also recurse once per nesting level, so deep nesting ends in
RecursionError, and ``int()`` refuses more than 4,300 digits with a
ValueError.

So the composer counts what the document would be with every alias
expanded and stops at the first event past a limit, before anything
downstream sees the document; the constructor turns any value it cannot
build into an error at that value's line and column.  The limits:

- ``MAX_DOCUMENT_BYTES`` (2 MiB): the size of the file, and also the text
  (scalar characters) the document may hold once its aliases are expanded.
  A host with 800 packages writes 44 KiB of packages.yaml, a three-disk
  md/LVM server 13 KiB of storage.yaml.
- ``MAX_NODES`` (30,000): keys, values and collections after expanding
  aliases.  That packages.yaml has 2,700 (about 3.3 per package, so the
  limit is some 9,000 packages); storage.yaml about 80 per disk.  Loading
  costs some 75-110 µs per node here (the pure-Python round-trip parser),
  and this limit is what bounds the time: a file at it is refused or read
  in about 3 s and 40 MB, where the real manifests above take 0.1-0.2 s.
- ``MAX_DEPTH`` (32): nesting levels; the deepest section schema has 8.
- Integers must fit in 64 bits (``-2**63`` to ``2**64 - 1``): every count,
  size and offset a tool prints does.
- Only the core tags (``!!str``, ``!!int``, ``!!float``, ``!!bool``,
  ``!!null``, ``!!seq``, ``!!map``): no ``!!binary``, ``!!timestamp``,
  ``!!set``, ``!!omap`` or application tags, which no section uses.
- No NUL character in any value (written as ``"\\0"``): no tool argument,
  path or name can hold one.
- An anchor is defined once, and an alias may not point into the node that
  contains it (a recursive document).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, ScalarEvent

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
MAX_NODES = 30_000
MAX_DEPTH = 32
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
# Longer than any 64-bit integer can be written (binary digits, sign and
# underscores included); checked before ``int()`` so no huge text is converted.
_MAX_INT_TEXT = 160

_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "seq", "map")
) | {"!"}


class LimitError(MarkedYAMLError):
    """A document breaks one of the limits above; carries the mark where it did."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def mib(count: int) -> str:
    """``2097152`` -> ``2 MiB``: how the limits are named in messages."""
    return f"{count / 1048576:g} MiB"


class BoundedComposer(Composer):
    """ruamel's composer with the depth, size, tag and anchor rules enforced.

    ``nodes`` and ``chars`` are the running totals of the document as if
    every alias were replaced by a copy of its anchored node: each composed
    node adds itself, each alias adds the whole weight of its anchor, so the
    totals grow exactly as the expanded document would, and the first event
    that takes them past a limit is refused where it stands.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.nodes = 0
        self.chars = 0
        # anchor -> (nodes, chars) of its node, expanded; absent while it is open.
        self.weights: dict[Any, tuple[int, int]] = {}

    def compose_document(self: Any) -> Any:
        self.nodes = self.chars = 0
        self.weights = {}
        return super().compose_document()

    def _add(self, nodes: int, chars: int, mark: Any) -> None:
        self.nodes += nodes
        self.chars += chars
        if self.nodes > MAX_NODES:
            raise LimitError(
                f"more than {MAX_NODES:,} values (aliases counted as the values they "
                "repeat): a manifest file may hold no more", mark)
        if self.chars > MAX_DOCUMENT_BYTES:
            raise LimitError(
                f"more than {mib(MAX_DOCUMENT_BYTES)} of text (aliases counted as the text "
                "they repeat): a manifest file may hold no more", mark)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            if event.anchor in self.anchors:
                weight = self.weights.get(event.anchor)
                if weight is None:
                    raise LimitError(
                        f"alias *{event.anchor} refers to a node that contains it "
                        "(a recursive document)", event.start_mark)
                self._add(*weight, event.start_mark)
            return super().compose_node(parent, index)
        if self.depth >= MAX_DEPTH:
            raise LimitError(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        tag = event.tag
        if tag is not None and tag not in ALLOWED_TAGS:
            raise LimitError(f"tag {tag} is not used in manifest files", event.start_mark)
        anchor = event.anchor
        if anchor is not None and anchor in self.anchors:
            first = self.anchors[anchor].start_mark
            raise LimitError(
                f"anchor &{anchor} is defined again (first at line {first.line + 1})",
                event.start_mark)
        chars = 0
        if isinstance(event, ScalarEvent):
            chars = len(event.value)
            if "\x00" in event.value:
                raise LimitError("a NUL character cannot be passed to any tool or be part of "
                                 "a path or name", event.start_mark)
        before = (self.nodes, self.chars)
        self._add(1, chars, event.start_mark)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self.weights[anchor] = (self.nodes - before[0], self.chars - before[1])
        return node


class PlacedValues:
    """What both bounded constructors do to a value, whichever they build on.

    A value the constructor cannot build (``!!int x``, a date such as
    2024-13-45, an over-long integer) raises whatever Python raises; here it
    becomes an error at that node, so the reader sees FILE:LINE:COL; and an
    integer past 64 bits is refused before Python builds it.
    """

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)  # type: ignore[misc]
        except YAMLError:
            raise
        except Exception as exc:  # the boundary of untrusted input: nothing escapes
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LimitError(f"cannot read this value: {reason}", node.start_mark) from None

    def construct_yaml_int(self, node: Any) -> Any:
        if len(str(node.value)) > _MAX_INT_TEXT:
            raise LimitError("integer too large (at most 64 bits)", node.start_mark)
        value = super().construct_yaml_int(node)  # type: ignore[misc]
        if not INT_MIN <= value <= INT_MAX:
            raise LimitError("integer too large (at most 64 bits)", node.start_mark)
        return value


class BoundedConstructor(PlacedValues, RoundTripConstructor):
    """The round-trip constructor, with every failure placed at its value."""


# ruamel registers constructors as functions, so the override is registered again.
BoundedConstructor.add_constructor(_CORE + "int", BoundedConstructor.construct_yaml_int)


def document_size(value: Any) -> tuple[int, int]:
    """(nodes, characters) of plain data, counted as the composer counts a file.

    Used before writing, so no file is written that the loader would refuse.
    """
    nodes, chars = 1, 0
    if isinstance(value, Mapping):
        for key, item in value.items():
            for part in (key, item):
                n, c = document_size(part)
                nodes, chars = nodes + n, chars + c
    elif isinstance(value, list | tuple):
        for item in value:
            n, c = document_size(item)
            nodes, chars = nodes + n, chars + c
    elif value is not None:
        chars = len(str(value))
    return nodes, chars
