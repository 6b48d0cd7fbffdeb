"""The test suite's shared files are named once, in tests/paths.py.

Tests sit at different depths of a tree that mirrors the package; a test that
computes the repository or the fixtures folder from its own ``__file__``
breaks when it moves.  So no test module builds those paths itself.  The
exceptions compute them before ``tests`` is importable: the conftests that
put the repository on sys.path, the loop-device guardian's own script path,
the lab harness's own folder, and the recording scripts under tests/fixtures/
that run on their own.
"""

from __future__ import annotations

import re

from tests.paths import EXAMPLES, FAKES, FIXTURES, REPO_ROOT, TESTS

SELF_LOCATED = re.compile(r"Path\(__file__\)")
"""A path found from the module's own location."""
SHARED_BY_NAME = re.compile(r"""(ROOT|REPO) / ["']tests["']|/ ["'](fixtures|fakes|examples)["']""")
"""A shared folder spelled out again (the repository root, then tests and fixtures)."""
MAY_LOCATE_THEMSELVES = {
    "tests/paths.py",
    "tests/loopdev.py",  # starts itself as the guardian script
    "tests/lab/vm.py",  # its guest scripts and builders sit beside it
    "tests/loop/conftest.py",
    "tests/lab/conftest.py",
}


def test_the_shared_folders_exist() -> None:
    assert (REPO_ROOT / "pyproject.toml").is_file()
    assert TESTS.parent == REPO_ROOT and TESTS.name == "tests"
    assert (FIXTURES / "storage-server" / "recording.json").is_file()
    assert (FAKES / "zfs").is_file()
    assert (EXAMPLES / "jobs" / "server.yaml").is_file()


def test_no_test_module_finds_them_on_its_own() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        if relative.startswith("tests/fixtures/") or relative in MAY_LOCATE_THEMSELVES:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if SELF_LOCATED.search(code) or SHARED_BY_NAME.search(code):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def _indexed_names(readme: str) -> set[str]:
    """Folder names the README's index table gives, with ``-suffix`` shorthands expanded.

    A row may say ``storage-laptop``, ``-server`` (the stem of the name before it)
    or ``restore-lab/laptop``; every backquoted word of its first cell counts.
    """
    names: set[str] = set()
    for line in readme.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        stem = ""
        for word in re.findall(r"`([^`]+)`", first_cell):
            if word.startswith("-"):
                word = stem + word
            else:
                stem = word.rsplit("-", 1)[0]
            names.add(word.split()[0])
    return names


def test_every_fixture_folder_is_in_the_fixture_index() -> None:
    """tests/fixtures/README.md says, for each folder, its tier, recorder and re-record."""
    indexed = _indexed_names((FIXTURES / "README.md").read_text())
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    folders |= {f"{p.parent.name}/{p.name}" for group in ("jobs", "restore-lab", "zfs")
                for p in (FIXTURES / group).iterdir() if p.is_dir()}
    assert sorted(folders - indexed - {"jobs", "restore-lab"}) == []
    assert sorted(n for n in indexed - folders if "<" not in n) == []
