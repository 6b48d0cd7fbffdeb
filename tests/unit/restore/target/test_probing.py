"""What a restore asks the live system, replayed from loop devices of this machine.

tests/fixtures/restore-probing/record.py made the recording: four loop
devices, in kernel-name order one blank, one ext4, one GPT disk with an ext4
partition, and the target (GPT, ext4 and swap); this machine's own disk,
which blkid may not open here, is in it too.  scenario.json says which device
plays which part and what blkid said of each, one device at a time.
"""

from __future__ import annotations

import json

import pytest

from hostbook.manifest.errors import BadInputError
from hostbook.process.recording import ReplayRunner
from hostbook.restore.target.probing import (
    existing_partitions,
    foreign_identities,
    list_signatures,
    present_devices,
    present_identities,
    resolve_device,
)
from tests.paths import FIXTURES

RECORDING = FIXTURES / "restore-probing"
SCENARIO = json.loads((RECORDING / "scenario.json").read_text())


def name(path: str) -> str:
    return path.removeprefix("/dev/")


def recorded(argv: list[str]) -> str:
    data = json.loads((RECORDING / "recording.json").read_text())
    return next(c["stdout"] for c in data["commands"] if c["argv"] == argv)


def test_present_disks_and_the_targets_partitions() -> None:
    runner = ReplayRunner(RECORDING)
    devices = present_devices(runner)
    target = devices[name(SCENARIO["target"])]
    assert existing_partitions(target) == SCENARIO["target_partitions"]
    identities = {i.name: i for i in present_identities(runner, devices)}
    for role in ("blank", "filesystem", "partitioned", "target"):
        assert identities[name(SCENARIO[role])].size == 64 << 20
        assert identities[name(SCENARIO[role])].by_path is None  # no udev links here
    assert all(i.size > 0 for i in identities.values())  # an empty zram0 is no disk


def test_a_device_link_names_its_kernel_device_or_is_refused() -> None:
    runner = ReplayRunner(RECORDING)
    assert resolve_device(runner, "/dev/sdb") == "sdb"
    assert resolve_device(runner, "sdb") == "sdb"
    with pytest.raises(BadInputError, match="virtio-no-such-disk: no such device link"):
        resolve_device(runner, SCENARIO["missing_link"])


def test_every_signature_wipefs_listed_on_the_target_is_shown() -> None:
    runner = ReplayRunner(RECORDING)
    target = present_devices(runner)[name(SCENARIO["target"])]
    lines = list_signatures(runner, target)[SCENARIO["target"]]
    for node in [SCENARIO["target"], *SCENARIO["target_partitions"]]:
        listed = json.loads(recorded(["wipefs", "--json", node]))["signatures"]
        for sig in listed:
            assert any(line.startswith(f"{node}: {sig['type']}")
                       and line.endswith(f"at offset {sig['offset']}") for line in lines)
    assert any("label 'old-swap'" in line for line in lines)
    assert len(lines) == sum(len(json.loads(recorded(["wipefs", "--json", n]))["signatures"])
                             for n in [SCENARIO["target"], *SCENARIO["target_partitions"]])


def test_identities_on_other_disks_are_found_past_a_blank_one() -> None:
    runner = ReplayRunner(RECORDING)
    devices = present_devices(runner)
    found = foreign_identities(runner, devices, [name(SCENARIO["target"])])
    blkid = SCENARIO["blkid"]
    # the blank device comes first and ends blkid's first run with nothing read
    assert found[blkid[SCENARIO["filesystem"]]["UUID"]] == SCENARIO["filesystem"]
    assert found[blkid[SCENARIO["partitioned"]]["PTUUID"]] == SCENARIO["partitioned"]
    partition = blkid[SCENARIO["partition"]]
    assert found[partition["UUID"]] == SCENARIO["partition"]
    assert found[partition["PART_ENTRY_UUID"]] == SCENARIO["partition"]
    target_ids = {blkid[p].get("UUID") for p in SCENARIO["target_partitions"]}
    assert not target_ids & set(found)  # the target's own old identities do not clash
