"""The single-file build runs on a python3 that has no virtualenv and none of hostbook's packages.

Built offline from this interpreter's installation (``--installed``: the
published build downloads the same packages for three CPython versions),
then run by /usr/bin/python3 in isolated mode with an empty environment,
from another directory: the version, a doctor of a recorded host, and a
one-line refusal of bad input.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import FIXTURES, REPO_ROOT

SYSTEM_PYTHON = Path("/usr/bin/python3")


def system_python_ok() -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    out = subprocess.run([str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info >= "
                          "(3, 11))"], capture_output=True, text=True, check=False)
    return out.stdout.strip() == "True"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not system_python_ok():
        pytest.skip("no /usr/bin/python3 >= 3.11 to run the build on")
    output = tmp_path_factory.mktemp("single") / "hostbook-test-x86_64"
    subprocess.run([sys.executable, str(REPO_ROOT / "packaging" / "single_file.py"),
                    "--installed", "--output", str(output)], check=True, capture_output=True)
    return output


def run(built: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LC_ALL": "C",
           "HOSTBOOK_SINGLE_CACHE": str(tmp_path / "cache")}
    return subprocess.run([str(SYSTEM_PYTHON), "-I", str(built), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, check=False)


def test_it_starts_without_the_virtualenv(built: Path, tmp_path: Path) -> None:
    version = run(built, tmp_path, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("hostbook, version ")
    cache = list((tmp_path / "cache").iterdir())
    assert len(cache) == 1 and (cache[0] / "cp311" / ".complete").exists()
    folder = cache[0] / "cp311"
    assert (folder / "pydantic_core").is_dir() and (folder / "hostbook" / "templates").is_dir()


def test_it_runs_a_command_on_a_recorded_host(built: Path, tmp_path: Path) -> None:
    hosts = tmp_path / "repo" / "hosts" / "laptop"
    hosts.mkdir(parents=True)
    shutil.copy(FIXTURES / "golden-manifests" / "storage-uefi" / "storage.yaml", hosts)
    doctor = run(built, tmp_path, "doctor", "laptop", "--repo", str(tmp_path / "repo"))
    assert doctor.returncode == 0, doctor.stderr
    assert "restored system: grub-install (package grub2-common, grub-efi-amd64-bin): " \
        "GRUB for uefi" in doctor.stdout.splitlines()
    missing = run(built, tmp_path, "doctor", "nohost", "--repo", str(tmp_path / "repo"))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"hostbook: {tmp_path}/repo/hosts/nohost/storage.yaml: no storage.yaml for host "
        "'nohost' (hosts: laptop)"]  # one line, no traceback
