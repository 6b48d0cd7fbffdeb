"""The disk map: which present disk receives which recorded one, or why none can.

Recorded disks are the lab layouts' (replayed storage.yaml); present disks are
described by their identity, as lsblk reports them.
"""

from __future__ import annotations

import pytest

from hostbook.manifest.errors import BadInputError
from hostbook.restore.target.diskmap import (
    DiskIdentity,
    build_map,
    map_lines,
    parse_map_args,
    recorded_identities,
)
from tests.unit.restore.plan.test_planner import layout_doc

GIB = 1 << 30


def present(name: str, size: int, **ids: str) -> DiskIdentity:
    return DiskIdentity(name, name, size, 512, ids.get("wwn"), ids.get("serial"),
                        ids.get("by_path"), ids.get("model"))


def server() -> list[DiskIdentity]:
    return recorded_identities(layout_doc("server"))


def test_parse_map_args() -> None:
    assert parse_map_args([]) is None
    assert parse_map_args(["auto"]) is None
    assert parse_map_args(["vda=/dev/sdb", "disk:virtio-x=/dev/disk/by-id/ata-Y"]) == {
        "vda": "/dev/sdb", "disk:virtio-x": "/dev/disk/by-id/ata-Y"}
    for bad, message in ((["vda"], "expected OLD=NEW"), (["=sdb"], "expected OLD=NEW"),
                         (["vda=sdb", "vda=sdc"], "mapped twice"),
                         (["vda=sdb", "vdb=sdb"], "named twice"),
                         (["auto", "vda=sdb"], "cannot be combined")):
        with pytest.raises(BadInputError, match=message):
            parse_map_args(bad)


def test_auto_by_serial_whatever_the_order() -> None:
    recorded = server()
    serials = {d.serial: d for d in recorded}
    assert set(serials) == {"server0", "server1"}
    disks = [present("vdb", 3 * GIB, serial="server1"), present("vdc", 3 * GIB,
                                                              serial="server0")]
    chosen = build_map(recorded, disks, None)
    pairs = {e.recorded.serial: (e.target.name, e.rule) for e in chosen}
    assert pairs == {"server0": ("vdc", "serial"), "server1": ("vdb", "serial")}
    assert all("[serial]" in line for line in map_lines(chosen))


def test_auto_prefers_wwn_then_serial_then_by_path() -> None:
    old = [DiskIdentity("disk:a", "sda", GIB, wwn="0x5000", serial="S1", by_path="pci-1"),
           DiskIdentity("disk:b", "sdb", GIB, serial="S2", by_path="pci-2"),
           DiskIdentity("disk:c", "sdc", GIB, by_path="pci-3")]
    new = [present("sdx", GIB, serial="S1"), present("sdy", GIB, wwn="0x5000"),
           present("sdz", GIB, serial="S2"), present("sdw", GIB, by_path="pci-3")]
    rules = {e.recorded.key: (e.target.name, e.rule) for e in build_map(old, new, None)}
    assert rules == {"disk:a": ("sdy", "wwn"), "disk:b": ("sdz", "serial"),
                     "disk:c": ("sdw", "by-path")}


def test_auto_by_size_and_order_and_its_refusals() -> None:
    old = [DiskIdentity("disk:a", "sda", 100 * GIB), DiskIdentity("disk:b", "sdb", 200 * GIB)]
    new = [present("sdd", 500 * GIB), present("sdc", 150 * GIB)]
    rules = {e.recorded.key: (e.target.name, e.rule) for e in build_map(old, new, None)}
    assert rules == {"disk:a": ("sdc", "size and order"), "disk:b": ("sdd", "size and order")}
    with pytest.raises(BadInputError, match="no present disk is large enough for disk:b"):
        build_map(old, [present("sdc", 150 * GIB), present("sdd", 150 * GIB)], None)
    with pytest.raises(BadInputError, match="could go to any of sdc, sdd"):
        build_map(old[:1], [present("sdc", 150 * GIB), present("sdd", 150 * GIB)], None)


def test_ambiguous_serial_is_refused() -> None:
    old = [DiskIdentity("disk:a", "sda", GIB, serial="DUP")]
    with pytest.raises(BadInputError, match="matches sdx, sdy"):
        build_map(old, [present("sdx", GIB, serial="DUP"), present("sdy", GIB, serial="DUP")],
                  None)


def test_given_pairs_by_id_name_or_serial() -> None:
    recorded = server()
    first, second = recorded
    disks = [present("sdb", 3 * GIB), present("sdc", 4 * GIB)]
    chosen = build_map(recorded, disks, {first.key: "sdc", second.serial or "": "/dev/sdb"})
    assert {e.recorded.key: e.target.name for e in chosen} == {first.key: "sdc",
                                                                second.key: "sdb"}
    assert {e.rule for e in chosen} == {"given"}
    by_name = build_map(recorded, disks, {first.name: "sdb", second.name: "sdc"})
    assert len(by_name) == 2
    with pytest.raises(BadInputError, match="no target for recorded disk"):
        build_map(recorded, disks, {first.key: "sdc"})
    with pytest.raises(BadInputError, match="no disk sdq on this system"):
        build_map(recorded, disks, {first.key: "sdq", second.key: "sdb"})
    with pytest.raises(BadInputError, match="the manifest has no such disk"):
        build_map(recorded, disks, {"disk:nope": "sdb"})
    # a disk restore.yaml skips needs no target
    only = build_map(recorded, disks, {first.key: "sdb"}, wanted=[first.key])
    assert [e.recorded.key for e in only] == [first.key]


def test_restore_yaml_hints_come_first() -> None:
    recorded = server()
    first, second = recorded
    disks = [present("vdb", 3 * GIB, serial=first.serial or ""),
             present("vdc", 3 * GIB, serial=second.serial or ""), present("vdd", 3 * GIB)]
    chosen = build_map(recorded, disks, None, hints={first.key: "vdd"})
    rules = {e.recorded.key: (e.target.name, e.rule) for e in chosen}
    assert rules == {first.key: ("vdd", "restore.yaml"), second.key: ("vdc", "serial")}
    with pytest.raises(BadInputError, match="not present or already taken"):
        build_map(recorded, disks, None, hints={first.key: "vdz"})
