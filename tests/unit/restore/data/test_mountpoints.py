"""Where a volume goes back: its mount point under the target, and --path mapping."""

from __future__ import annotations

import pytest

from hostbook.manifest.sections.jobs import Volume
from hostbook.manifest.sections.storage import StorageDocument
from hostbook.manifest.yamlio import read_document
from hostbook.process.recording import ReplayRunner
from hostbook.restore.data.mountpoints import (
    dataset_place,
    mount_point,
    under_target,
    volume_relative,
)
from tests.paths import FIXTURES

LAPTOP = FIXTURES / "golden-manifests" / "storage-laptop" / "storage.yaml"


def laptop() -> StorageDocument:
    return StorageDocument.model_validate(read_document(LAPTOP))


def test_a_mounted_path_volume_goes_where_fstab_mounts_its_filesystem() -> None:
    """The laptop was captured with its filesystems under /mnt/lab/laptop; fstab says /."""
    storage = laptop()
    assert mount_point(Volume(path="/mnt/lab/laptop"), storage) == "/"
    assert mount_point(Volume(path="/mnt/lab/laptop/boot/efi"), storage) == "/boot/efi"
    assert mount_point(Volume(path="/mnt/lab/laptop/home"), storage) == "/home"
    assert mount_point(Volume(path="/mnt/lab/laptop/home/user"), storage) == "/home/user"
    assert mount_point(Volume(path="/srv/elsewhere"), storage) == "/srv/elsewhere"


def test_a_path_volume_is_its_own_mount_point() -> None:
    assert mount_point(Volume(path="/srv/data"), None) == "/srv/data"
    assert mount_point(Volume(path="/"), None) == "/"


def test_an_lv_goes_where_fstab_mounts_its_filesystem_not_where_capture_found_it() -> None:
    """The lab captured the laptop mounted under /mnt/lab/laptop; fstab says / and /home."""
    storage = laptop()
    assert mount_point(Volume(lv="laptopvg/home"), storage) == "/home"
    assert mount_point(Volume(lv="laptopvg/root"), storage) == "/"
    assert mount_point(Volume(lv="laptopvg/nosuch"), storage) is None
    assert mount_point(Volume(lv="laptopvg/home"), None) is None


def test_the_mount_point_is_placed_under_the_target_root() -> None:
    assert under_target("/mnt/target", "/") == "/mnt/target"
    assert under_target("/mnt/target", "/home") == "/mnt/target/home"
    assert under_target("/mnt/target", "/boot/efi") == "/mnt/target/boot/efi"


def test_a_path_is_made_relative_to_its_volume() -> None:
    assert volume_relative("/home", "/home/alice/notes.txt") == "alice/notes.txt"
    assert volume_relative("/", "/etc/fstab") == "etc/fstab"
    for bad in ("/srv/x", "home/alice", "/home/../etc", "/home"):
        with pytest.raises(ValueError):
            volume_relative("/home", bad)


ZFS_POOLS = FIXTURES / "zfs" / "pools"


def test_a_dataset_goes_where_zfs_mounts_it_under_the_target() -> None:
    """tank/data mounted at /srv/data (the recording): with / as target root it is in place."""
    replay = ReplayRunner(ZFS_POOLS)
    assert dataset_place(replay, "tank/data", "/") == ("/srv/data", "/srv/data")
    assert dataset_place(ReplayRunner(ZFS_POOLS), "tank/data", "/srv") == ("/data", "/srv/data")


def test_a_dataset_mounted_outside_the_target_is_refused() -> None:
    """Restoring into the live system's /srv/data would be a silent overwrite."""
    why = dataset_place(ReplayRunner(ZFS_POOLS), "tank/data", "/mnt/target")
    assert isinstance(why, str)
    assert "outside the target /mnt/target" in why and "zpool import -R /mnt/target" in why
