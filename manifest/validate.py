"""Validate a loaded document against its section model, with positions.

pydantic reports where an error is as a path of keys and indexes; the
round-trip YAML nodes know the line and column of every key and item, so each
error is reported as ``FILE:LINE:COL: message`` pointing at the offending text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from hostbook.manifest.errors import BadInputError, ManifestError
from hostbook.manifest.merge import to_plain
from hostbook.manifest.model import SectionDocument
from hostbook.manifest.registry import migrate, parse_schema_tag, section_model

DocT = TypeVar("DocT", bound=SectionDocument)

# An error line quotes keys and values from the file, which may be huge.
MESSAGE_CHARS = 240


def locate(node: Any, loc: Sequence[int | str]) -> tuple[int, int]:
    """Best (line, column), 1-based, for an error path inside a round-trip node.

    Path parts that name no key (pydantic adds union tags such as ``disk``)
    are skipped; a missing key points at the mapping that lacks it.
    """
    line, col = 0, 0
    if isinstance(node, CommentedMap | CommentedSeq):
        line, col = node.lc.line, node.lc.col
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            with contextlib.suppress(KeyError, TypeError):
                line, col = node.lc.key(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            with contextlib.suppress(KeyError, TypeError):
                line, col = node.lc.item(part)
            node = node[part]
        elif isinstance(node, CommentedMap | CommentedSeq):
            continue
        else:
            break
    return line + 1, col + 1


def _shorten(text: str) -> str:
    """One line of at most MESSAGE_CHARS characters."""
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"


def _message(error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return _shorten(f"unknown key {error['loc'][-1]!r}" + (f" (at {loc})" if loc else ""))
    text = str(error["msg"]).removeprefix("Value error, ")  # pydantic's prefix for ValueError
    return _shorten(f"{loc}: {text}" if loc else text)


def located(data: Any, filename: str, problems: Sequence[tuple[Sequence[int | str], str]]
            ) -> ManifestError:
    """``FILE:LINE:COL: message`` for problems found outside the schema (across files).

    Each problem is a path of keys and indexes into ``data`` (the round-trip
    document) and a message, like the errors pydantic reports.
    """
    lines = []
    for loc, message in problems:
        line, col = locate(data, loc)
        lines.append(f"{filename}:{line}:{col}: {_shorten(message)}")
    return ManifestError(lines)


def validate_document(
    data: Any, filename: str, expected_section: str | None = None
) -> SectionDocument:
    """Check a loaded document, migrate older versions, return the typed model.

    Every problem is collected before raising, so a person fixing a file sees
    all its errors at once.  Every error is one line: messages quoting long
    keys or values are shortened.
    """
    if not isinstance(data, dict):
        line, col = locate(data, ())
        raise ManifestError([f"{filename}:{line}:{col}: expected a mapping at the top level"])
    tag = parse_schema_tag(data.get("schema"))
    if tag is None:
        line, col = locate(data, ("schema",))
        raise ManifestError(
            [f"{filename}:{line}:{col}: missing or malformed 'schema:' "
             "(expected hostbook/<section>/v<N>)"]
        )
    section, version = tag
    if expected_section is not None and section != expected_section:
        line, col = locate(data, ("schema",))
        raise ManifestError(
            [f"{filename}:{line}:{col}: schema names section {section!r}, "
             f"expected {expected_section!r}"]
        )
    try:
        model = section_model(section)
        plain = migrate(section, to_plain(data), version)
    except (ValueError, BadInputError) as exc:
        line, col = locate(data, ("schema",))
        raise ManifestError([f"{filename}:{line}:{col}: {exc}"]) from None
    try:
        # Strict: a value must have the type the schema names, as YAML wrote
        # it: `keep: true` is not 1, `size: "10"` is not 10, `enabled: yes` is
        # not true (YAML 1.2 reads yes as a string).
        return model.model_validate(plain, strict=True)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            line, col = locate(data, error["loc"])
            errors.append(f"{filename}:{line}:{col}: {_message(dict(error))}")
        raise ManifestError(errors) from None


def validate_as(model: type[DocT], data: Any, filename: str) -> DocT:
    """Validate and narrow to a specific section model."""
    doc = validate_document(data, filename, model.SECTION)
    assert isinstance(doc, model)
    return doc
