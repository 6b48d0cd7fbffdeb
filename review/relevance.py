"""Which differences between two captures matter for a rebuild, and why.

A rebuild recreates what the manifest names by identity (UUIDs, by-id
links, package names, checkout paths).  Whatever the rebuild does not take
from the manifest is cosmetic to it: the name the kernel gave a device this
boot (sda today, sdb after a USB stick was plugged in), the slot a disk sits
in, how full a filesystem is, whether a volume happened to be open, the order
of keys and lists.  ``rear checklayout`` reports all of those as changes;
the rules here keep them apart, each with a reason a reviewer can check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Relevance = Literal["rebuild", "cosmetic"]

KERNEL_NAMED_TYPES = frozenset({"disk", "partition", "filesystem", "swap", "pv", "loop"})
"""Storage entries whose ``name`` is the kernel's device name (vda, sdb1, md127,
laptop_crypt for a PV on it): the identity is in ``id``, never in this name."""

COSMETIC_STORAGE_FIELDS: dict[str, str] = {
    "by_path": "the slot or port the device is attached to, not what is on it",
    "used": "how much data a filesystem holds, not its layout",
    "open": "whether a LUKS container was open at capture time",
    "active": "whether a swap area was in use at capture time",
}
"""Fields of storage entries a rebuild does not take from the manifest."""

COSMETIC_SECTION_FIELDS: dict[str, dict[str, str]] = {
    "system": {"kernel": "the running kernel release; the packages decide what is installed"},
    "checkouts": {
        "head": "the commit checked out; a checkout is restored from its remotes",
        "ahead": "a count behind the restorable verdict, which is compared itself",
        "behind": "a count behind the restorable verdict, which is compared itself",
        "modified": "a count behind the restorable verdict, which is compared itself",
        "untracked": "a count behind the restorable verdict, which is compared itself",
        "stashes": "a count behind the restorable verdict, which is compared itself",
        "unpushed": "a count behind the restorable verdict, which is compared itself",
    },
}
"""Per section, top-level or record fields that are cosmetic to a rebuild."""

VERSION_MAPS = frozenset({"versions"})
"""Package version maps: an upgrade is shown, but a rebuild installs what the
archive has; the package set itself (``manual``, ``auto``) is compared apart."""

ORDERED_LISTS: tuple[tuple[str, ...], ...] = (
    ("efi_boot_order",), ("keyslots",), ("segments",), ("pvs",), ("fstab", "entries"),
)
"""Lists (by the end of their path) whose order means something: the firmware
tries boot entries in order, an LV's segments and PVs are laid out in order,
fstab lines mount in order.  Reordering them is not cosmetic."""


def field_relevance(
    section: str, record: Mapping[str, Any] | None, field: str, path: tuple[str, ...]
) -> tuple[Relevance, str]:
    """Whether a change of ``field`` (in ``record``, at ``path``) matters to a rebuild."""
    if section == "storage" and record is not None:
        if field == "name" and record.get("type") in KERNEL_NAMED_TYPES:
            return "cosmetic", "the kernel's device name; the identity is unchanged"
        if field in COSMETIC_STORAGE_FIELDS:
            return "cosmetic", COSMETIC_STORAGE_FIELDS[field]
    if section == "packages" and any(part in VERSION_MAPS for part in path):
        return "cosmetic", "a version; a rebuild installs what the archive holds"
    reason = COSMETIC_SECTION_FIELDS.get(section, {}).get(field)
    if reason is not None:
        return "cosmetic", reason
    if section == "checkouts" and field == "restorable":
        return "rebuild", "whether the checkout can be restored from its remotes"
    if field == "incomplete" or "incomplete" in path:
        return "rebuild", "a part of the capture is missing"
    return "rebuild", "a rebuild recreates it as recorded"


def order_relevance(path: tuple[str, ...]) -> tuple[Relevance, str]:
    """Whether reordering the list or mapping at ``path`` matters."""
    for suffix in ORDERED_LISTS:
        if path[-len(suffix):] == suffix:
            return "rebuild", f"the order of {'.'.join(suffix)} is used as recorded"
    return "cosmetic", "only the order changed; records are matched by identity"
