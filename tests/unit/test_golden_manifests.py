"""Manifests captured from the recordings are byte-identical to the golden ones.

tests/fixtures/golden-manifests/ holds what the code from before the folders
were reorganised (and before every command went through one process layer)
wrote for each capture recording in tests/fixtures: the section file, the
files written, the partial flag, the warnings and the commit message.  Today's
code captures the same recordings with the same function
(tests/fixtures/golden-manifests/make.py) and must write the same bytes; a
change to a manifest's bytes is a change of behaviour, made on purpose and
re-recorded as that folder's README says, never a side effect.
"""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.paths import FIXTURES

GOLDEN = FIXTURES / "golden-manifests"


def _load_maker() -> ModuleType:
    """make.py lives in a folder whose name is no module name; load it by path."""
    spec = importlib.util.spec_from_file_location("golden_make", GOLDEN / "make.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _load_maker()
RECORDINGS: dict[str, str] = MAKE.capture_recordings()


def test_every_capture_recording_has_golden_files_and_nothing_else() -> None:
    kept = MAKE.golden_folders()
    assert kept == set(RECORDINGS)
    assert {"storage-server", "packages-apt", "system-debian12", "restore-lab/laptop"} <= kept
    assert len(kept) >= 20


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_capture_writes_the_golden_bytes(name: str, tmp_path: Path) -> None:
    expected = MAKE.golden_files(name)
    got = MAKE.capture_fixture(name, RECORDINGS[name], tmp_path / "repo")
    assert sorted(got) == sorted(expected)
    for filename, data in expected.items():
        if got[filename] != data:
            diff = difflib.unified_diff(
                data.decode().splitlines(), got[filename].decode().splitlines(),
                f"golden/{name}/{filename}", f"today/{name}/{filename}", lineterm="", n=2,
            )
            pytest.fail("\n".join(list(diff)[:60]), pytrace=False)
