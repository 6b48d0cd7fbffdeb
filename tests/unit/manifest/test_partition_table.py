"""The partition node rule on the names real kernels gave: every recorded partition.

The recordings (tests/fixtures/storage-*/) hold what sysfs and lsblk named
each partition on the VM lab's virtio disks (``vdb`` + 1 -> ``vdb1``) and on
this machine's loop devices (``loop0`` + 1 -> ``loop0p1``); restore names the
partitions it creates by the same rule, and sfdisk's dump lines use it.
"""

from __future__ import annotations

import json

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.manifest.partition_table import partition_node
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.process.recording import ReplayRunner
from tests.paths import FIXTURES

RECORDINGS = sorted(p.parent.name for p in FIXTURES.glob("storage-*/recording.json"))


def partitions(name: str) -> list[tuple[str, int, str]]:
    """(disk kernel name, number, partition kernel name) of a replayed capture."""
    extra = FIXTURES / name / "capture.json"
    data = json.loads(extra.read_text()) if extra.exists() else {}
    config = ConfigDocument.model_validate(
        data.get("config") or {"schema": ConfigDocument.schema_string()})
    doc = collect_sections(ReplayRunner(FIXTURES / name), config, ["storage"],
                           data.get("options", {})).documents["storage"]
    by_id = {e["id"]: e for e in doc["entries"]}
    return [(by_id[e["disk"]]["name"], e["number"], e["name"])
            for e in doc["entries"] if e["type"] == "partition" and e.get("name")]


@pytest.mark.parametrize("name", RECORDINGS)
def test_each_recorded_partition_is_named_by_the_rule(name: str) -> None:
    for disk, number, kernel_name in partitions(name):
        assert partition_node(f"/dev/{disk}", number) == f"/dev/{kernel_name}"


def test_the_recordings_hold_both_forms_of_the_rule() -> None:
    names = [kernel for name in RECORDINGS for _, _, kernel in partitions(name)]
    assert "vdb1" in names and "loop0p1" in names
