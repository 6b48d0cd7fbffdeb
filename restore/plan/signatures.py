"""What ``blkid -p`` shows on a device once a recorded entry is made again.

A step that writes a signature is done when the device carries it: the
create steps of LUKS, PVs, filesystems and swap check that, and so does the
wipe of a disk without a partition table (its content is written straight
on it, so that signature there means the restore already got past the
wipe).  md members show the array's UUID in blkid's dashed form.
"""

from __future__ import annotations

from hostbook.manifest.sections.storage import (
    FilesystemEntry,
    LuksEntry,
    MdEntry,
    PvEntry,
    StorageEntry,
    SwapEntry,
)
from hostbook.restore.plan.steps import DoneCheck


def md_blkid_uuid(uuid: str) -> str:
    """mdadm's ``a:b:c:d`` form -> the dashed form blkid reports for members."""
    h = uuid.replace(":", "").replace("-", "").lower()
    if len(h) != 32:
        return uuid
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def blkid_signature(entry: StorageEntry) -> dict[str, str] | None:
    """The blkid values a device carries once ``entry`` is on it; None for other kinds."""
    if isinstance(entry, FilesystemEntry | SwapEntry):
        expect = {"TYPE": entry.fstype if isinstance(entry, FilesystemEntry) else "swap"}
        if entry.uuid:
            expect["UUID"] = entry.uuid
        return expect
    if isinstance(entry, LuksEntry):
        return {"TYPE": "crypto_LUKS", "UUID": entry.uuid}
    if isinstance(entry, PvEntry):
        return {"TYPE": "LVM2_member", "UUID": entry.uuid}
    if isinstance(entry, MdEntry):
        return {"TYPE": "linux_raid_member", "UUID": md_blkid_uuid(entry.uuid)}
    return None


def signature_check(device: str, entry: StorageEntry) -> DoneCheck:
    """Done when ``device`` carries ``entry``'s signature (never, for kinds without one)."""
    expect = blkid_signature(entry)
    return DoneCheck("blkid", device, expect) if expect is not None else DoneCheck("never")
