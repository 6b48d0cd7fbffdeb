"""The fast plain reader agrees with the round-trip loader on every real and every bad file.

Real files: every golden manifest (each capture recording's output) must give
the same plain data, types included.  Bad files: every case of the
adversarial corpus (alias bombs, deep nesting, huge integers, tags, control
characters, wrong types ...) must be refused by ``load_section`` with the very
message the round-trip loader and validation give, position included.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import pytest

from hostbook.manifest.errors import ManifestError
from hostbook.manifest.merge import to_plain
from hostbook.manifest.plainyaml import fast, load_section, parse_plain
from hostbook.manifest.validate import validate_document
from hostbook.manifest.yamlio import parse_text
from tests.paths import FIXTURES

GOLDEN = sorted((FIXTURES / "golden-manifests").rglob("*.yaml"))


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def test_the_c_parser_is_there() -> None:
    assert fast()


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_real_files_read_the_same(path) -> None:  # type: ignore[no-untyped-def]
    text = path.read_text()
    slow = to_plain(parse_text(text, str(path)))
    quick = parse_plain(text, str(path))
    assert quick == slow
    assert _types(quick) == _types(slow)
    assert list(quick) == list(slow)  # the file's own key order


def _corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "adversarial_generate_plain", FIXTURES / "adversarial" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _refusal(read: Any) -> list[str] | str:
    try:
        read()
    except ManifestError as exc:
        return exc.errors
    return "accepted"


def test_every_adversarial_file_is_refused_alike() -> None:
    corpus = _corpus()
    # Every case that attacks the reader; every fourth of those that only break the
    # schema (after parsing, both take the same validation path).
    cases = [*corpus.yaml_cases(), *list(corpus.type_cases())[::4],
             *list(corpus.edit_cases())[::4]]
    compared = 0
    for case in cases:
        try:
            text = case.content.decode("utf-8")
        except UnicodeDecodeError:
            continue  # decoding happens before either parser
        name = f"{case.section}.yaml"

        def slow(text: str = text, name: str = name, section: str = case.section) -> None:
            validate_document(parse_text(text, name), name, section)

        def quick(text: str = text, name: str = name, section: str = case.section) -> None:
            load_section(text, name, section)

        assert _refusal(quick) == _refusal(slow), case.name
        compared += 1
    assert compared > 250
