"""btrfs parent selection and half-received detection on real btrfs-progs output.

The fixtures were recorded on two loop-device filesystems (tests/fixtures/btrfs/
generate.sh): data-daily-1 sent full, data-daily-2 incremental, data-daily-3's
stream cut short so `btrfs receive` left it half-received.
"""

from __future__ import annotations

from hostbook.jobs.replication.btrfs.lineage import (
    choose_parent,
    half_received,
    parse_subvolume_list,
    parse_subvolume_show,
    plan_btrfs,
)
from tests.paths import FIXTURES

FIX = FIXTURES / "btrfs"


def load(name: str) -> str:
    return (FIX / name).read_text()


def source_snaps():
    shows = [parse_subvolume_show(load(f"src_show_data-daily-{i}.txt")) for i in (1, 2, 3)]
    return shows


def test_parse_list_and_show() -> None:
    dst = parse_subvolume_list(load("dst_subvolume_list_uqR.txt"))
    assert [(s.id, s.name) for s in dst] == [
        (256, "data-daily-1"), (257, "data-daily-2"), (258, "data-daily-3")]
    assert dst[0].parent_uuid is None
    assert dst[1].received_uuid == "1305abef-87ec-9c49-a532-e50f5a4f8222"
    assert dst[2].received_uuid is None
    src = parse_subvolume_list(load("src_subvolume_list_uqR.txt"))
    assert src[0].path == "data" and src[1].path == ".snapshots/data-daily-1"
    show = parse_subvolume_show(load("dst_show_data-daily-3.txt"))
    assert show.readonly is False and show.received_uuid is None and show.id == 258
    assert parse_subvolume_show(load("dst_show_data-daily-2.txt")).readonly is True
    assert source_snaps()[2].generation_at_creation == 9


def test_half_received_subvolume_is_detected() -> None:
    dst = parse_subvolume_list(load("dst_subvolume_list_uqR.txt"))
    ro = {}
    for line in load("dst_ro.txt").splitlines():
        name, flag = line.split()
        ro[f"backup/{name}"] = flag == "ro=true"
    broken = half_received(dst, "backup", ro)
    assert [b.subvolume.path for b in broken] == ["backup/data-daily-3"]
    assert "did not finish" in broken[0].reason and "writable" in broken[0].reason


def test_parent_chosen_by_received_uuid() -> None:
    src = source_snaps()
    dst = parse_subvolume_list(load("dst_subvolume_list_uqR.txt"))
    finished = [d for d in dst if d.received_uuid]
    choice = choose_parent(src[2], src, finished)
    assert choice.parent is not None and choice.parent.name == "data-daily-2"
    assert "received_uuid 1305abef" in choice.reason
    # With the half-received daily-3 on the target, daily-3 still needs sending.
    assert choose_parent(src[2], src, dst).parent.name == "data-daily-2"  # type: ignore[union-attr]
    assert choose_parent(src[0], src, []).parent is None


def test_plan_deletes_broken_then_resends_with_parent() -> None:
    src = source_snaps()
    dst = parse_subvolume_list(load("dst_subvolume_list_uqR.txt"))
    steps = plan_btrfs(src, src, dst, "backup")
    assert [(s.action, s.subvolume.name) for s in steps] == [
        ("delete", "data-daily-3"), ("send", "data-daily-3")]
    argv = steps[1].argv("/mnt/src", "/mnt/dst", "backup")
    assert argv == [
        ["btrfs", "send", "-p", "/mnt/src/.snapshots/data-daily-2",
         "/mnt/src/.snapshots/data-daily-3"],
        ["btrfs", "receive", "/mnt/dst/backup"],
    ]
    assert steps[0].argv("/mnt/src", "/mnt/dst", "backup") == [
        ["btrfs", "subvolume", "delete", "/mnt/dst/backup/data-daily-3"]]
