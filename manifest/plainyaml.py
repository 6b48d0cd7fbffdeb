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

from types import SimpleNamespace
from typing import Any

from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.resolver import VersionedResolver

from hostbook.manifest.bounds import (
    _CORE,
    INT_MAX,
    INT_MIN,
    MAX_DOCUMENT_BYTES,
    BoundedComposer,
    LimitError,
    mib,
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

_MAX_INT_TEXT = 160


class BoundedSafeConstructor(SafeConstructor):
    """The safe constructor with the bounds' integer rule and every failure placed."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except YAMLError:
            raise
        except Exception as exc:  # the boundary of untrusted input: nothing escapes
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LimitError(f"cannot read this value: {reason}", node.start_mark) from None

    def construct_yaml_int(self, node: Any) -> Any:
        if len(str(node.value)) > _MAX_INT_TEXT:
            raise LimitError("integer too large (at most 64 bits)", node.start_mark)
        value = super().construct_yaml_int(node)
        if not INT_MIN <= value <= INT_MAX:
            raise LimitError("integer too large (at most 64 bits)", node.start_mark)
        return value


BoundedSafeConstructor.add_constructor(_CORE + "int", BoundedSafeConstructor.construct_yaml_int)


def fast() -> bool:
    """Whether the C parser is there (ruamel.yaml.clib)."""
    return CParser is not None


def _error(filename: str, exc: Exception) -> ManifestError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    text = " ".join(str(problem).split())[:200] or "invalid YAML"
    if mark is None:
        return ManifestError([f"{filename}:1:1: {text}"])
    return ManifestError([f"{filename}:{mark.line + 1}:{mark.column + 1}: {text}"])


def parse_plain(text: str, filename: str) -> Any:
    """Parse YAML text to plain dicts and lists within the manifest limits."""
    if CParser is None:
        return to_plain(parse_text(text, filename))
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ManifestError([f"{filename}:1:1: larger than {mib(MAX_DOCUMENT_BYTES)}, "
                             "the most a manifest file may be"])
    loader = SimpleNamespace(max_depth=None, comment_handling=None)
    try:
        loader._parser = CParser(text)
        loader._resolver = VersionedResolver(loader=loader)
        node = BoundedComposer(loader=loader).get_single_node()
        loader._constructor = BoundedSafeConstructor(loader=loader)
        data = None if node is None else loader._constructor.construct_document(node)
    except LimitError as exc:
        raise _error(filename, exc) from None
    except Exception:  # a syntax or reader error: the round-trip loader says where, in the
        return to_plain(parse_text(text, filename))  # words every other command uses
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
