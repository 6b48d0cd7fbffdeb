"""The rules storage capture applies on top of the tools' output.

Properties rather than examples: how used space is rounded, how
device-mapper names split into VG and LV, how sfdisk names are escaped, how
a table rendered from the model parses back, and which ids storage.yaml uses.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hostbook.capture.parsers.mdadm import layout_name, uuid_from_blkid
from hostbook.capture.parsers.sfdisk import parse_dump, unescape_name
from hostbook.capture.probes.storage.inventory import (
    USED_FLOOR,
    BlockDevice,
    disk_key,
    round_used,
    split_lvm_dm_name,
)
from hostbook.manifest.sections.storage import StorageDocument, sfdisk_script


@given(st.integers(min_value=0, max_value=1 << 62))
def test_used_is_rounded_up_within_an_eighth(value: int) -> None:
    rounded = round_used(value)
    assert rounded is not None and rounded >= value and rounded >= USED_FLOOR
    if value > USED_FLOOR:
        assert rounded - value < value / 8 + 1
    assert round_used(rounded) == rounded  # a step is its own rounding


@given(st.integers(min_value=0, max_value=1 << 50), st.integers(min_value=0, max_value=1 << 50))
def test_used_rounding_keeps_order(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert (round_used(low) or 0) <= (round_used(high) or 0)


def test_used_steps_are_few_per_doubling() -> None:
    """Growth within a step leaves the figure alone: at most 8 values per octave."""
    seen = {round_used(v) for v in range(1 << 30, 1 << 31, 1 << 20)}
    assert len(seen) <= 9


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.+-", min_size=1, max_size=12)


@given(names.filter(lambda n: not n.startswith("-") and not n.endswith("-")),
       names.filter(lambda n: not n.startswith("-")))
def test_lvm_dm_names_split_back_into_vg_and_lv(vg: str, lv: str) -> None:
    dm_name = f"{vg.replace('-', '--')}-{lv.replace('-', '--')}"
    assert split_lvm_dm_name(dm_name) == (vg, lv)


gpt_names = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


@given(gpt_names)
def test_gpt_names_survive_the_sfdisk_escaping(name: str) -> None:
    """What sfdisk_script writes, parse_dump reads back (quotes and backslashes too)."""
    doc = StorageDocument.model_validate({
        "schema": "hostbook/storage/v1",
        "entries": [
            {"id": "disk:x", "type": "disk", "name": "x", "size": 1 << 30,
             "logical_sector_size": 512, "physical_sector_size": 512, "rotational": False,
             "removable": False,
             "table": {"type": "gpt", "id": "E70719A2-F67A-8C46-992D-F0031075DDF0",
                       "sector_size": 512, "first_lba": 2048, "last_lba": 2097118}},
            {"id": "disk:x-part1", "type": "partition", "disk": "disk:x", "number": 1,
             "start": 1 << 20, "size": 1 << 24,
             "partition_type": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
             "uuid": "CEF3FD09-D64E-C74E-A0BB-10E19E387730", "label": name},
        ],
    })
    dump = parse_dump(sfdisk_script(doc, "disk:x", "/dev/x"))
    assert dump.partitions[0].name == name
    assert dump.partitions[0].start == 2048 and dump.partitions[0].size == 1 << 15


def test_unescape_name_reads_hex_escapes() -> None:
    assert unescape_name(r"a\x22b\x5cc") == 'a"b\\c'


@given(st.uuids())
def test_md_uuids_in_mdadm_form(uuid: object) -> None:
    dashed = str(uuid)
    colons = uuid_from_blkid(dashed)
    assert colons.replace(":", "") == dashed.replace("-", "") and colons.count(":") == 3


@given(st.integers(min_value=1, max_value=8), st.integers(min_value=1, max_value=8))
def test_raid10_layouts_are_named_as_mdadm_names_them(near: int, far: int) -> None:
    name = layout_name("raid10", (far << 8) | near)
    if far == 1:
        assert name == f"n{near}"
    elif near == 1:
        assert name == f"f{far}"
    assert layout_name("raid10", (far << 8) | 1 | 0x10000) == f"o{far}"
    assert layout_name("raid1", 0) is None


def test_disk_ids_prefer_by_id_names_to_kernel_names() -> None:
    named = BlockDevice(kname="sda", by_id=["wwn-0x5002538e40a1b2c3",
                                            "ata-Samsung_SSD_860_EVO_500GB_S3Z9NB0K123456"])
    assert disk_key(named) == "ata-Samsung_SSD_860_EVO_500GB_S3Z9NB0K123456"
    assert disk_key(BlockDevice(kname="sda", by_id=["wwn-0x5002538e40a1b2c3"])) \
        == "wwn-0x5002538e40a1b2c3"
    assert disk_key(BlockDevice(kname="vda", serial="data0")) == "virtio-data0"
    assert disk_key(BlockDevice(kname="vda", by_path="pci-0000:00:05.0")) \
        == "path-pci-0000:00:05.0"
    assert disk_key(BlockDevice(kname="vda")) == "vda"
