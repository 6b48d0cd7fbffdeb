"""The boot phase planned for recorded hosts (golden manifests of real captures).

storage-uefi is the lab laptop (GPT: ESP, /boot, LUKS2 -> LVM) captured
booted with OVMF, storage-server the lab server (two disks, md raid1 /boot
and md raid1 -> LVM, BIOS boot partitions), storage-grubpc the legacy
layout with grub-pc installed.  The layout plan is made for fresh disks
sda, sdb; nothing is read from this machine.
"""

from __future__ import annotations

from functools import cache

from hostbook.manifest.sections.storage import StorageDocument
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import read_document
from hostbook.restore.boot.planner import BootInput, BootPlan, plan_boot
from hostbook.restore.boot.system_files import RestoredFiles
from hostbook.restore.plan.planner import Plan, PlanInput, make_plan
from hostbook.restore.plan.script import render_steps
from tests.paths import FIXTURES
from tests.unit.restore.plan.lab_plans import policy, same_disks

TARGET = "/mnt/target"


@cache
def storage(name: str) -> StorageDocument:
    path = FIXTURES / "golden-manifests" / name / "storage.yaml"
    return validate_as(StorageDocument, read_document(path), str(path))


def layout(name: str, **extra: object) -> Plan:
    doc = storage(name)
    return make_plan(PlanInput(host=name, storage=doc, policy=extra.pop("rules", policy()),
                               mapping=same_disks(doc), target_root=TARGET,
                               **extra))  # type: ignore[arg-type]


def boot(name: str, restored: RestoredFiles | None = None, plan: Plan | None = None,
         **extra: object) -> BootPlan:
    plan = plan or layout(name)
    files = restored or RestoredFiles(fstab=storage(name).fstab.raw,
                                      crypttab=storage(name).crypttab.raw)
    return plan_boot(BootInput(host=name, storage=storage(name), planned=plan.storage
                               or storage(name), paths=plan.paths, target=TARGET,
                               restored=files, kept=plan.restored,
                               **extra))  # type: ignore[arg-type]


def argv(plan: BootPlan, ident: str) -> list[str]:
    return list(next(s for s in plan.steps if s.id == ident).commands[0].argv)


def ids(plan: BootPlan) -> list[str]:
    return [s.id for s in plan.steps]


def test_laptop_uefi_grub_and_its_nvram_entries_on_the_new_disk() -> None:
    plan = boot("storage-uefi")
    assert not plan.refusals
    assert argv(plan, "bootloader:grub-efi") == [
        "chroot", TARGET, "grub-install", "--target=x86_64-efi", "--efi-directory=/boot/efi",
        "--bootloader-id=debian", "--no-nvram"]
    entry = argv(plan, "nvram:0002")
    assert entry[:3] == ["chroot", TARGET, "sh"]
    assert entry[-5:] == ["0002", "/dev/sda", "1", "debian", "\\EFI\\debian\\grubx64.efi"]
    assert "efibootmgr -q -b \"$1\" -A" not in entry[4]  # debian was active
    assert "-A" in argv(plan, "nvram:0001")[4]  # 'hostbook spare' was inactive
    assert argv(plan, "nvram:order") == ["chroot", TARGET, "efibootmgr", "-q", "-o",
                                         "0002,0001"]
    assert argv(plan, "check:loader:\\EFI\\debian\\grubx64.efi")[-1] == \
        "/mnt/target/boot/efi/EFI/debian/grubx64.efi"
    cfg = next(s for s in plan.steps if s.id == "check:grub-cfg")
    assert "UUID=4ce01da0-a5c1-46cb-bc0d-441011014a6e" in cfg.summary
    assert "/dev/mapper/laptopvg-root" in cfg.summary
    content = argv(plan, "check:initramfs")[-1]
    assert "for program in lvm cryptsetup" in content and "cryptroot/crypttab" in content
    # binds first, checks after the install, binds undone last
    order = ids(plan)
    assert order[:4] == ["bind:dev", "bind:proc", "bind:sys", "bind:run"]
    assert order.index("initramfs:rebuild") < order.index("bootloader:grub-efi") < order.index(
        "nvram:0002") < order.index("check:nvram")
    assert order[-1] == "unbind:dev"
    # fstab and crypttab as restored equal the manifest: no rewrite
    assert not [i for i in order if i.startswith("system:/etc/")]


def test_a_uefi_host_from_a_bios_live_system_is_refused() -> None:
    plan = boot("storage-uefi", live_firmware="bios")
    assert any("booted in BIOS mode" in r and "--no-nvram" in r for r in plan.refusals)


def test_no_nvram_writes_and_checks_only_the_fallback() -> None:
    plan = boot("storage-uefi", live_firmware="bios", no_nvram=True)
    assert not plan.refusals
    assert "--force-extra-removable" in argv(plan, "bootloader:grub-efi")
    assert not [i for i in ids(plan) if i.startswith("nvram:")]
    assert argv(plan, "check:loader:\\EFI\\BOOT\\BOOTX64.EFI")[-1] == \
        "/mnt/target/boot/efi/EFI/BOOT/BOOTX64.EFI"


def test_server_bios_grub_on_every_disk_of_the_mirror() -> None:
    plan = boot("storage-server")
    assert not plan.refusals
    assert argv(plan, "bootloader:grub-pc:/dev/sda") == [
        "chroot", TARGET, "grub-install", "--target=i386-pc", "/dev/sda"]
    assert "bootloader:grub-pc:/dev/sdb" in ids(plan)
    assert {"check:mbr:/dev/sda", "check:mbr:/dev/sdb"} <= set(ids(plan))
    assert "for program in lvm mdadm" in argv(plan, "check:initramfs")[-1]
    assert not [i for i in ids(plan) if i.startswith("nvram")]


def test_mdadm_conf_is_written_only_when_it_lacks_a_recorded_array() -> None:
    doc = storage("storage-server")
    arrays = [e for e in doc.entries if e.type == "md"]
    listed = "".join(f"ARRAY /dev/md/{i} metadata=1.2 UUID={md.uuid}\n"
                     for i, md in enumerate(arrays))
    kept = boot("storage-server", RestoredFiles(mdadm_conf="MAILADDR root\n" + listed))
    assert "system:/etc/mdadm/mdadm.conf" not in ids(kept)
    one = boot("storage-server", RestoredFiles(mdadm_conf="MAILADDR root\n"
                                               + listed.splitlines()[0] + "\n"))
    step = next(s for s in one.steps if s.id == "system:/etc/mdadm/mdadm.conf")
    text = step.commands[1].stdin or ""
    assert "MAILADDR root" in text
    assert all(f"UUID={md.uuid}" in text for md in arrays)


def test_new_identities_rewrite_fstab_from_the_manifest_and_show_the_change() -> None:
    doc = storage("storage-uefi")
    boot_fs = next(e for e in doc.entries if e.id == "fs:disk:virtio-laptop0-part2")
    plan = layout("storage-uefi", new_identities=True,
                  foreign={str(boot_fs.uuid): "/dev/vdz2"})
    assert plan.storage is not None
    new = next(e for e in plan.storage.entries if e.id == boot_fs.id).uuid  # type: ignore
    assert new != boot_fs.uuid
    bplan = boot("storage-uefi", plan=plan)
    step = next(s for s in bplan.steps if s.id == "system:/etc/fstab")
    text = step.commands[0].stdin or ""
    assert f"UUID={new}\t/boot\text4" in text and str(boot_fs.uuid) not in text
    assert "written by hostbook rebuild" in text
    assert f"/etc/fstab: +UUID={new} /boot ext4 defaults 0 2" in step.notes
    assert any(n.startswith(f"/etc/fstab: -UUID={boot_fs.uuid}") for n in step.notes)
    assert step.commands[0].argv[-1] == "/mnt/target/etc/fstab"


def test_a_skipped_mount_leaves_fstab() -> None:
    plan = layout("storage-uefi", rules=policy(skip=["/home"]))
    bplan = boot("storage-uefi", plan=plan)
    step = next(s for s in bplan.steps if s.id == "system:/etc/fstab")
    assert "\t/home\t" not in (step.commands[0].stdin or "")
    assert any("dropped /home" in n for n in step.notes)


def test_a_missing_fstab_is_written() -> None:
    plan = boot("storage-uefi", RestoredFiles(fstab=None, crypttab=None))
    written = {s.id for s in plan.steps if s.layer == "system"}
    assert {"system:/etc/fstab", "system:/etc/crypttab"} <= written


def test_the_boot_phase_renders_as_the_restore_script_does() -> None:
    plan = boot("storage-uefi", RestoredFiles(fstab=None))
    script = render_steps(plan.host, plan.target, plan.steps)
    assert script.startswith("#!/bin/bash\n")
    assert "chroot /mnt/target grub-install --target=x86_64-efi" in script
    assert "<<'HOSTBOOK_EOF'" in script  # fstab written from the manifest, as a heredoc
    assert "if findmnt --mountpoint /mnt/target/dev >/dev/null; then" in script
