"""The VM-lab layouts' storage.yaml and plans made from it, for the planner's tests.

The manifests come from replaying the lab's capture recordings
(tests/fixtures/storage-<layout>/), so they are what real hosts produce.
The planner is pure: the target disks are described here (a disk of the
recorded size, or a larger or smaller one), nothing is read from this
machine.
"""

from __future__ import annotations

import json
from functools import cache

from hostbook.capture.collect import collect_sections
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import DiskEntry, StorageDocument
from hostbook.process.recording import ReplayRunner
from hostbook.restore.plan.planner import Plan, PlanInput, make_plan
from hostbook.restore.plan.steps import Step
from hostbook.restore.target.diskmap import DiskIdentity, MapEntry
from tests.lab.layouts import LAYOUTS
from tests.paths import FIXTURES

GIB = 1 << 30
MIB = 1 << 20
LAYOUT_NAMES = ("laptop", "server", "legacy", "btrfs", "thin")


@cache
def layout_doc(name: str) -> StorageDocument:
    """storage.yaml of a lab layout: its recording replayed with only its disks."""
    directory = FIXTURES / f"storage-{name}"
    plain = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
    everything = collect_sections(ReplayRunner(directory), plain, ["storage"], {})
    serials = LAYOUTS[name].serials
    others = [e["name"] for e in everything.documents["storage"]["entries"]
              if e["type"] == "disk" and e.get("serial") not in serials]
    config = ConfigDocument.model_validate(
        {"schema": "hostbook/config/v1", "storage": {"exclude_devices": others}})
    doc = collect_sections(ReplayRunner(directory), config, ["storage"], {})
    storage = StorageDocument.model_validate(doc.documents["storage"])
    assert not storage.incomplete, storage.incomplete
    return storage


def recorded_dump(name: str, device: str) -> str:
    """What ``sfdisk --dump DEVICE`` printed when the layout was captured."""
    data = json.loads((FIXTURES / f"storage-{name}" / "recording.json").read_text())
    return next(c["stdout"] for c in data["commands"]
                if c["argv"] == ["sfdisk", "--dump", device])


def disks(doc: StorageDocument) -> list[DiskEntry]:
    return [e for e in doc.entries if isinstance(e, DiskEntry)]


def policy(**data: object) -> RestoreDocument:
    return RestoreDocument.model_validate({"schema": "hostbook/restore/v1", **data})


def same_disks(doc: StorageDocument, sizes: dict[str, int] | None = None,
               sector: dict[str, int] | None = None) -> list[MapEntry]:
    """Each recorded disk onto a target /dev/sdX (recorded size unless given)."""
    entries = []
    for index, disk in enumerate(disks(doc)):
        recorded = DiskIdentity(disk.id, disk.name, disk.size, disk.logical_sector_size,
                                disk.wwn, disk.serial, disk.by_path, disk.model)
        size = (sizes or {}).get(disk.id, disk.size)
        lss = (sector or {}).get(disk.id, disk.logical_sector_size)
        target = DiskIdentity(f"sd{'abcdef'[index]}", f"sd{'abcdef'[index]}", size, lss,
                              serial=f"NEW{index}", model="Test Disk")
        entries.append(MapEntry(recorded, target, "given"))
    return entries


def plan_for(name: str, mapping: list[MapEntry] | None = None,
             rules: RestoreDocument | None = None, **extra: object) -> Plan:
    doc = layout_doc(name)
    return make_plan(PlanInput(host=name, storage=doc, policy=rules or policy(),
                               mapping=mapping or same_disks(doc), target_root="/mnt/target",
                               **extra))  # type: ignore[arg-type]


def step(plan: Plan, ident: str) -> Step:
    return next(s for s in plan.steps if s.id == ident)


def argv_of(plan: Plan, ident: str, index: int = 0) -> list[str]:
    return list(step(plan, ident).commands[index].argv)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]
