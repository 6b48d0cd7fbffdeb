"""A repository's ``[paths]``, read from ``.hg/hgrc`` without running Mercurial on it.

Any hg command that reads a repository's hgrc loads the extensions and runs
the hooks it names (``pre-<command>`` for every command, ``hg paths``
included) whenever the file is trusted, and hg always trusts files owned by
the user it runs as.  So the checkouts probe runs hg with the repository's
configuration switched off (``HGRCSKIPREPO``) and reads the one section it
needs here, with the grammar of mercurial/config.py: ``[section]`` headers,
``name = value`` items, indented continuation lines, ``#``/``;`` comments,
``%unset`` and ``%include`` (followed relative to the including file, at
most eight deep).

The locations are then resolved as ``hg paths`` does for ordinary entries:
sub-options (``default:pushurl``) and empty values are skipped, a relative
local path is joined to the repository root.  ``~`` and ``$VAR`` are left as
written: hg would expand them with the environment of whoever runs it, which
is not the repository owner's.  hg's own ``path://`` chaining and
``multi-urls`` are rare enough to be reported as written.

:func:`mask_hgrc` is the recording's view of such a file: only the ``[paths]``
section and the directives survive, URLs masked in place; an ``[auth]``
password never reaches a fixture.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from hostbook.capture.redact import mask_url

_SECTION = re.compile(r"\[([^\[]+)\]")
_ITEM = re.compile(r"([^=\s][^=]*?)\s*=\s*(.*\S|)")
_CONTINUATION = re.compile(r"\s+(\S|\S.*\S)\s*$")
_EMPTY = re.compile(r"(;|#|\s*$)")
_COMMENT = re.compile(r"(;|#)")
_UNSET = re.compile(r"%unset\s+(\S+)")
_INCLUDE = re.compile(r"%include\s+(\S|\S.*\S)\s*$")
_HAS_SCHEME = re.compile(r"^[a-zA-Z0-9+.\-]+:")
MAX_INCLUDE_DEPTH = 8

Reader = Callable[[str], str | None]


def _parse(text: str, source: str, read: Reader, paths: dict[str, str], depth: int) -> None:
    section = ""
    item: str | None = None
    continuing = False
    for number, raw in enumerate(text.splitlines()):
        line = raw.removeprefix("\ufeff") if number == 0 else raw
        if continuing:
            if _COMMENT.match(line):
                continue
            more = _CONTINUATION.match(line)
            if more:
                if section == "paths" and item is not None and item in paths:
                    paths[item] += "\n" + more.group(1)
                continue
            item, continuing = None, False
        include = _INCLUDE.match(line)
        if include:
            if depth < MAX_INCLUDE_DEPTH:
                target = os.path.join(os.path.dirname(source), include.group(1))
                included = read(os.path.normpath(target))
                if included is not None:
                    _parse(included, target, read, paths, depth + 1)
            continue
        if _EMPTY.match(line):
            continue
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
            continue
        entry = _ITEM.match(line)
        if entry:
            item, continuing = entry.group(1), True
            if section == "paths":
                paths.pop(item, None)  # a redefinition moves to the end, as in hg
                paths[item] = entry.group(2)
            continue
        unset = _UNSET.match(line)
        if unset and section == "paths":
            paths.pop(unset.group(1), None)


def hg_paths(repo: str, read: Reader) -> list[tuple[str, str]] | None:
    """``(name, location)`` of the repository's paths, or None without an hgrc."""
    source = f"{repo}/.hg/hgrc"
    text = read(source)
    if text is None:
        return None
    items: dict[str, str] = {}
    _parse(text, source, read, items, 0)
    result = []
    for name, value in items.items():
        if ":" in name or not value:
            continue
        location = value
        if not _HAS_SCHEME.match(location) and not os.path.isabs(location):
            location = os.path.normpath(os.path.join(repo, location))
        result.append((name, location))
    return result


def mask_hgrc(text: str) -> str:
    """An hgrc as it may be recorded: directives, headers and ``[paths]`` items only."""
    kept: list[str] = []
    section = ""
    in_paths_item = False
    for line in text.splitlines():
        if in_paths_item and _CONTINUATION.match(line) and not _COMMENT.match(line):
            kept.append(mask_url(line))
            continue
        in_paths_item = False
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
            kept.append(line)
        elif _INCLUDE.match(line) or _UNSET.match(line):
            kept.append(line)
        elif section == "paths" and not _EMPTY.match(line):
            entry = _ITEM.match(line)
            if entry:
                kept.append(f"{entry.group(1)} = {mask_url(entry.group(2))}")
                in_paths_item = True
    return "\n".join(kept) + ("\n" if kept else "")
