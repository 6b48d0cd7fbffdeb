"""`pip install .` installs one import package, `hostbook`, and nothing generic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

SOURCE_TO_INSTALLED = {
    "hostbook": "hostbook",
    "manifest": "hostbook/manifest",
    "capture": "hostbook/capture",
    "jobs": "hostbook/jobs",
    "restore": "hostbook/restore",
    "templates": "hostbook/templates",
}


@pytest.mark.slow
def test_install_places_only_the_hostbook_package(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO_ROOT)],
        check=True, capture_output=True,
    )
    top = sorted(p.name for p in target.iterdir() if p.name != "bin")
    assert [n for n in top if not n.endswith(".dist-info")] == ["hostbook"]
    # Every source package is installed under hostbook/ (a package missing from
    # pyproject.toml would only fail at run time).
    for top, installed in SOURCE_TO_INSTALLED.items():
        for init in (REPO_ROOT / top).rglob("__init__.py"):
            relative = init.relative_to(REPO_ROOT / top)
            assert (target / installed / relative).exists(), f"{top}/{relative} not installed"
    assert not (target / "hostbook" / "tests").exists()
    # -S skips .pth files, so the development (editable) install cannot answer;
    # the dependencies still come from this environment's site-packages.
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    check = subprocess.run(
        [sys.executable, "-S", "-c",
         "import hostbook.process.runner as r, hostbook.manifest.store; print(r.__file__)"],
        env={"PYTHONPATH": f"{target}:{deps}"}, cwd=tmp_path,
        capture_output=True, text=True, check=False,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == str(target / "hostbook" / "process" / "runner.py")
