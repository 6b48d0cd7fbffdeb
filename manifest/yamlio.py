"""YAML round-trip I/O: comment-preserving load, deterministic dump, atomic write.

ruamel.yaml's round-trip mode keeps the comments, blank lines and key order a
person added, which is what lets a re-capture merge into a reviewed file.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from hostbook.manifest.errors import ManifestError


def make_yaml() -> YAML:
    """A round-trip YAML instance with the project's fixed layout settings."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold long values: folding would make diffs noisy
    yaml.preserve_quotes = True
    yaml.allow_unicode = True
    return yaml


def parse_text(text: str, filename: str) -> Any:
    """Parse YAML text; a syntax error becomes ``FILE:LINE:COL: message``."""
    try:
        return make_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is None:
            raise ManifestError([f"{filename}: {problem}"]) from None
        raise ManifestError(
            [f"{filename}:{mark.line + 1}:{mark.column + 1}: {problem}"]
        ) from None
    except YAMLError as exc:
        raise ManifestError([f"{filename}: {str(exc).splitlines()[0]}"]) from None


def read_document(path: Path) -> Any:
    """Load a YAML file, or None when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ManifestError([f"{path}:1:1: not UTF-8 text ({exc.reason})"]) from None
    return parse_text(text, str(path))


def dump_text(document: Any) -> str:
    """Serialise a document to text with the fixed layout."""
    buffer = io.StringIO()
    make_yaml().dump(document, buffer)
    return buffer.getvalue()


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write ``text`` via a temp file and rename; return False if bytes are unchanged.

    Nothing half-written is ever visible under ``path``: a crash leaves either
    the old file or the new one.
    """
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True
