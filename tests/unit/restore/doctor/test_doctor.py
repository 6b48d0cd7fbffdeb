"""The doctor on recorded manifests, answered by what the build machine said.

``tests/fixtures/doctor/record.py`` recorded the answers on a Debian 12 booted
in BIOS mode with the storage and archive tools but no GRUB, bootctl or dracut.
"""

from __future__ import annotations

from hostbook.manifest.sections.storage import StorageDocument
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import read_document
from hostbook.process.recording import ReplayRunner
from hostbook.restore.boot.facts import recorded_loader
from hostbook.restore.doctor.check import diagnose
from hostbook.restore.doctor.host import read_jobs
from hostbook.restore.doctor.needs import all_needs
from tests.paths import FIXTURES

RECORDED = FIXTURES / "doctor"
JOBS = read_jobs(FIXTURES / "restore-data" / "jobs.yaml")


def storage(name: str) -> StorageDocument:
    path = FIXTURES / "golden-manifests" / name / "storage.yaml"
    return validate_as(StorageDocument, read_document(path), str(path))


def test_the_laptop_needs_its_layers_tools_archivers_and_uefi_grub() -> None:
    needs = {(n.program, n.where): n for n in all_needs(storage("storage-uefi"), JOBS)}
    for program in ("sfdisk", "cryptsetup", "lvm", "mke2fs", "mkfs.xfs", "mkfs.fat",
                    "mkswap", "restic", "borg", "tar", "zstd"):
        assert (program, "live") in needs, program
    assert "mdadm" not in {p for p, _ in needs}
    assert needs[("grub-install", "target")].packages == "grub2-common, grub-efi-amd64-bin"
    assert ("efibootmgr", "target") in needs
    assert needs[("borg", "live")].packages == "borgbackup"
    assert needs[("update-initramfs", "target")].programs == ("update-initramfs", "dracut")


def test_the_server_needs_mdadm_and_bios_grub_and_no_efibootmgr() -> None:
    needs = {n.program: n for n in all_needs(storage("storage-server"), None)}
    assert needs["mdadm"].packages == "mdadm"
    assert needs["grub-install"].packages == "grub2-common, grub-pc-bin"
    assert "efibootmgr" not in needs
    assert "restic" not in needs  # no jobs.yaml: no archiver


def test_recorded_loaders() -> None:
    uefi = recorded_loader(storage("storage-uefi").boot)
    assert (uefi.kind, uefi.bootloader_id, uefi.fallback) == ("grub-efi", "debian", False)
    assert [e.number for e in uefi.entries] == ["0002", "0001"]  # BootOrder, own ESP only
    assert recorded_loader(storage("storage-server").boot).kind == "grub-bios"
    assert recorded_loader(storage("storage-grubpc").boot).kind == "grub-bios"


def test_a_uefi_host_from_a_bios_live_system_is_refused_with_the_way_out() -> None:
    diagnosis = diagnose(ReplayRunner(RECORDED), storage("storage-uefi"), JOBS)
    assert diagnosis.firmware_live == "bios"
    assert len(diagnosis.problems) == 1
    assert "booted in BIOS mode" in diagnosis.problems[0]
    assert "--no-nvram" in diagnosis.problems[0]
    # the restored system's tools are not there to look at yet
    assert {f.need.program for f in diagnosis.findings if f.found == ""} >= {
        "grub-install", "efibootmgr"}
    assert diagnosis.notes


def test_no_nvram_lifts_the_firmware_refusal() -> None:
    diagnosis = diagnose(ReplayRunner(RECORDED), storage("storage-uefi"), JOBS, no_nvram=True)
    assert diagnosis.ok
    found = {f.need.program: f.found for f in diagnosis.findings}
    assert found["cryptsetup"] == "/usr/sbin/cryptsetup"
    assert found["borg"] == "/usr/bin/borg"


def test_a_restored_system_without_grub_is_named_with_its_packages() -> None:
    diagnosis = diagnose(ReplayRunner(RECORDED), storage("storage-server"), JOBS, target="/")
    assert diagnosis.problems == [
        "missing in the restored system: grub-install (package grub2-common, grub-pc-bin): "
        "GRUB for bios",
        "missing in the restored system: grub-mkconfig (package grub2-common): grub.cfg "
        "naming the root filesystem",
    ]
    found = {f.need.program: f.found for f in diagnosis.findings}
    assert found["update-initramfs"] == "/usr/sbin/update-initramfs"


def test_a_bios_host_needs_no_particular_firmware() -> None:
    assert diagnose(ReplayRunner(RECORDED), storage("storage-grubpc"), JOBS).ok
