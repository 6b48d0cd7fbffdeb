"""The probe catalogue, and what a capture of one section imports.

Start-up is most of a capture's cost on a slow machine (benchmarks/storage.md):
a ``hostbook capture --only storage`` must load the storage probes and the
storage model, and neither the other sections' probes and models nor the code
of the other commands, jobs and restore.  The import check runs the real
command in a fresh interpreter over a recording from the VM lab.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hostbook.capture.catalog import SECTION_PROBES, all_probes, section_probes
from hostbook.manifest.registry import CAPTURED_SECTIONS
from tests.paths import FIXTURES

SHOW_MODULES = """
import json, sys
from hostbook.cli import main
try:
    main()
finally:
    sys.__stdout__.write(json.dumps(sorted(m for m in sys.modules if m.startswith(("hostbook",
        "git", "jinja2", "pyudev", "rich")))))
"""


def modules_after(tmp_path: Path, *argv: str) -> tuple[int, set[str]]:
    """Run ``hostbook ARGV`` in a new interpreter; its exit code and loaded modules."""
    done = subprocess.run(
        [sys.executable, "-c", SHOW_MODULES, *argv],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    return done.returncode, set(json.loads(done.stdout.splitlines()[-1]))


def test_every_captured_section_has_its_probes_in_order() -> None:
    assert tuple(SECTION_PROBES) == CAPTURED_SECTIONS
    for section in SECTION_PROBES:
        probes = section_probes(section)
        assert probes and {p.section for p in probes} == {section}
    assert section_probes("storage")[0].name == "storage_blockdevs"
    assert len(all_probes()) == sum(len(names) for names in SECTION_PROBES.values())


@pytest.mark.parametrize("section", ["storage", "system"])
def test_a_one_section_capture_loads_only_that_section(tmp_path: Path, section: str) -> None:
    recording = FIXTURES / ("storage-server" if section == "storage" else "system-debian12")
    code, loaded = modules_after(
        tmp_path, "capture", "--only", section, "--replay", str(recording),
        "--repo", str(tmp_path / "repo"), "--host", "h", "--no-commit",
    )
    assert code in (0, 1)
    assert (tmp_path / "repo" / "hosts" / "h" / f"{section}.yaml").is_file()
    assert f"hostbook.manifest.sections.{section}" in loaded
    others = [s for s in ("storage", "packages", "checkouts") if s != section]
    for other in others:
        assert not any(m.startswith(f"hostbook.capture.probes.{other}") for m in loaded), other
        assert f"hostbook.manifest.sections.{other}" not in loaded
    unwanted = {"hostbook.manifest.sections.jobs", "hostbook.manifest.sections.restore",
                "hostbook.commands.restore", "hostbook.commands.run", "hostbook.commands.plan"}
    assert not loaded & unwanted
    assert not any(m.startswith(("hostbook.jobs", "hostbook.restore", "jinja2")) for m in loaded)


def test_help_lists_every_command_and_loads_them(tmp_path: Path) -> None:
    code, loaded = modules_after(tmp_path, "--help")
    assert code == 0
    assert {"hostbook.commands.restore", "hostbook.commands.run", "hostbook.commands.sure",
            "hostbook.commands.plan"} <= loaded
    assert not any(m.startswith(("hostbook.restore.", "hostbook.capture.probes")) for m in loaded)
