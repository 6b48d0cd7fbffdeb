"""Refusing busy, boot and unknown target disks, on recorded ``lsblk -J -b -O`` output.

Recordings: the VM lab with all five layouts built and mounted (busy), the same
disks wiped (free), and this build machine, whose /dev/vda holds its own root.
A second test here plans the laptop layout as captured with a crypttab key
file, on the lab's wiped disks, through the same present-device path apply uses.
"""

from __future__ import annotations

import json

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import LuksEntry, StorageDocument
from hostbook.process.recording import ReplayRunner
from hostbook.restore.plan.planner import PlanInput, make_plan
from hostbook.restore.target.diskmap import build_map, recorded_identities
from hostbook.restore.target.probing import present_devices
from hostbook.restore.target.safety import Allowance, busy_reasons, check_targets
from tests.paths import FIXTURES

LAB = FIXTURES / "restore-lab"


def lab_devices(state: str) -> dict:  # type: ignore[type-arg]
    return present_devices(ReplayRunner(LAB / f"lsblk-{state}"))


def by_serial(devices: dict, serial: str) -> str:  # type: ignore[type-arg]
    return next(name for name, d in devices.items() if d.serial == serial)


def test_mounted_and_stacked_layouts_are_refused() -> None:
    devices = lab_devices("busy")
    laptop = by_serial(devices, "laptop0")
    reasons = busy_reasons(devices[laptop])
    assert any("is mounted on /mnt/lab/laptop/boot" in r for r in reasons)
    assert any("(crypt laptop_crypt) is active on it" in r for r in reasons)
    assert any("is active swap" in r for r in reasons)
    server = by_serial(devices, "server0")
    assert any("(raid1) is active on it" in r for r in busy_reasons(devices[server]))
    with pytest.raises(BadInputError, match=r"refusing to restore: .*mounted on /mnt/lab/thin"):
        check_targets([by_serial(devices, "thin0")], devices)


def test_wiped_disks_are_free() -> None:
    devices = lab_devices("wiped")
    names = sorted(devices)
    assert len(names) == 6
    check_targets(names, devices)
    for name in names:
        assert busy_reasons(devices[name]) == []


def test_this_machines_root_disk_is_refused() -> None:
    devices = present_devices(ReplayRunner(FIXTURES / "restore-host-lsblk"))
    root = next(name for name, d in devices.items() if "/" in d.mountpoints)
    with pytest.raises(BadInputError, match=f"/dev/{root} holds the running system's /"):
        check_targets([root], devices)
    with pytest.raises(BadInputError, match="no such disk"):
        check_targets(["sdq"], devices)
    empty = [name for name, d in devices.items() if d.size == 0]
    for name in empty:  # e.g. an unconfigured zram device
        with pytest.raises(BadInputError, match="has no medium"):
            check_targets([name], devices)


def test_a_resumed_restore_accepts_only_its_own_devices() -> None:
    devices = lab_devices("busy")
    laptop = devices[by_serial(devices, "laptop0")]
    own = Allowance(frozenset({"laptop_crypt"}), md_allowed=True,
                    mount_root="/mnt/lab/laptop", vg_names=frozenset({"laptopvg"}))
    reasons = busy_reasons(laptop, own)
    assert reasons == [r for r in reasons if "active swap" in r]  # swap is never ours
    assert reasons
    stranger = Allowance(frozenset({"other_crypt"}), mount_root="/mnt/target",
                         vg_names=frozenset({"othervg"}))
    assert any("(crypt laptop_crypt) is active on it" in r
               for r in busy_reasons(laptop, stranger))
    assert any("(lvm laptopvg-home) is active on it" in r
               for r in busy_reasons(laptop, stranger))
    assert any("is mounted on /mnt/lab/laptop" in r for r in busy_reasons(laptop, stranger))


def test_laptop_with_a_crypttab_key_file_plans_on_the_wiped_lab_disks() -> None:
    options = json.loads((LAB / "laptop" / "capture.json").read_text())["options"]
    config = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
    collected = collect_sections(ReplayRunner(LAB / "laptop"), config, ["storage"], options)
    storage = StorageDocument.model_validate(collected.documents["storage"])
    assert not storage.incomplete
    devices = lab_devices("wiped")
    present = [d.identity() for d in devices.values()]
    mapping = build_map(recorded_identities(storage), present, None)
    assert [(e.target.serial, e.rule) for e in mapping] == [("laptop0", "serial")]
    check_targets([e.target.name for e in mapping], devices)
    policy = RestoreDocument.model_validate({"schema": "hostbook/restore/v1"})
    plan = make_plan(PlanInput("laptop", storage, policy, mapping, "/mnt/target"))
    assert plan.refusals == []
    luks = next(e for e in storage.entries if isinstance(e, LuksEntry))
    assert luks.keyslots_in_use == 2
    line = next(c for c in storage.crypttab.entries if c.target == luks.id)
    assert line.key_file == "/etc/keys/laptop.key"
    ids = [s.id for s in plan.steps]
    key, slot = ids.index("keyfile:laptop_crypt"), ids.index("keyslot:laptop_crypt")
    assert ids.index("mount:/") < key < slot  # the key file lives on the restored root
    add = plan.steps[slot].commands[0]
    second = max(luks.keyslots, key=lambda k: k.slot)
    assert add.argv[add.argv.index("--key-slot") + 1] == str(second.slot)
    assert add.argv[-1] == "/mnt/target/etc/keys/laptop.key" and add.secret == luks.id
    assert plan.keyfiles == [
        "/etc/keys/laptop.key: regenerated as /mnt/target/etc/keys/laptop.key (new random "
        f"key, enrolled in LUKS {luks.uuid}); the old key file no longer opens it"]
