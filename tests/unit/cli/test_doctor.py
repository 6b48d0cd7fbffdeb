"""`hostbook doctor HOST` lists what a rebuild needs, each program with its package."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from hostbook.cli import cli
from tests.paths import FIXTURES


def repository(tmp_path: Path, golden: str, host: str = "laptop") -> Path:
    folder = tmp_path / "m" / "hosts" / host
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "golden-manifests" / golden / "storage.yaml", folder)
    shutil.copy(FIXTURES / "restore-data" / "jobs.yaml", folder)
    return tmp_path / "m"


def test_doctor_lists_each_program_with_its_package(tmp_path: Path) -> None:
    repo = repository(tmp_path, "storage-uefi")
    result = CliRunner().invoke(cli, ["doctor", "laptop", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(
        line.startswith("live system: cryptsetup (package cryptsetup-bin): LUKS container")
        for line in lines)
    assert "live system: borg (package borgbackup): job data's borg archives" in lines
    assert ("restored system: grub-install (package grub2-common, grub-efi-amd64-bin): "
            "GRUB for uefi") in lines


def test_doctor_of_an_unknown_host_is_bad_input(tmp_path: Path) -> None:
    repo = repository(tmp_path, "storage-uefi")
    result = CliRunner().invoke(cli, ["doctor", "nohost", "--repo", str(repo)])
    assert result.exit_code == 2
    assert "no storage.yaml for host 'nohost'" in result.output
