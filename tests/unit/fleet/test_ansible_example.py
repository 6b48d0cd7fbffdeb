"""examples/fleet/: the playbook parses, and what it writes for hosts is valid.

``ansible-playbook --syntax-check`` (Debian's ansible-core) reads the playbook
with the example inventory; the example jobs.yaml validates against the jobs
schema, and the playbook enables the units through ``hostbook install-units``.
"""

from __future__ import annotations

import shutil
import subprocess

from hostbook.manifest.sections.jobs import JobsDocument
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import read_document
from tests.paths import EXAMPLES
from tests.tiers import require_tools

FLEET = EXAMPLES / "fleet"


def test_the_playbook_passes_ansibles_syntax_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    require_tools("fleet playbook check", ["ansible-playbook"])
    inventory = tmp_path / "inventory.ini"
    shutil.copyfile(FLEET / "inventory.example.ini", inventory)
    checked = subprocess.run(
        ["ansible-playbook", "--syntax-check", "-i", str(inventory),
         str(FLEET / "playbook.yml")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path),
             "ANSIBLE_NOCOLOR": "1"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "playbook: " in checked.stdout


def test_the_example_jobs_validate_and_the_units_are_installed_by_hostbook() -> None:
    for path in sorted((FLEET / "files" / "jobs").glob("*.yaml")):
        validate_as(JobsDocument, read_document(path), str(path))
    playbook = (FLEET / "playbook.yml").read_text()
    assert "install-units, --now" in playbook
    assert "hostbook, report" in playbook
