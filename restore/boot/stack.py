"""What the root filesystem stands on, read from the manifest's references.

The initramfs must carry the tools that assemble that stack (cryptsetup for
a LUKS layer, mdadm for an array, lvm for a logical volume) or the kernel
never finds its root.  The walk follows every reference an entry has
(``device``, ``devices``, ``vg``, ``pvs``, ``members``, a partition's ``disk``) down to the disks.
"""

from __future__ import annotations

from hostbook.manifest.sections.storage import StorageDocument

INITRAMFS_TOOL = {"luks": "cryptsetup", "crypt": "cryptsetup", "md": "mdadm", "lv": "lvm",
                  "vg": "lvm", "pv": "lvm"}
"""Entry type -> the program the initramfs needs to bring that layer up."""


def below(storage: StorageDocument, ident: str | None) -> list[str]:
    """``ident`` and every entry id it stands on, top first, each once."""
    entries = {e.id: e for e in storage.entries}
    seen: list[str] = []
    pending = [ident] if ident else []
    while pending:
        current = pending.pop(0)
        if current in seen or current not in entries:
            continue
        seen.append(current)
        entry = entries[current]
        for name in ("device", "vg", "disk"):
            value = getattr(entry, name, None)
            if isinstance(value, str):
                pending.append(value)
        for name in ("devices", "pvs"):
            pending.extend(getattr(entry, name, None) or [])
        pending.extend(m.device for m in getattr(entry, "members", None) or [])
    return seen


def initramfs_tools(storage: StorageDocument) -> list[str]:
    """The programs the initramfs needs for the root filesystem's stack, in stack order."""
    entries = {e.id: e for e in storage.entries}
    tools: list[str] = []
    for ident in below(storage, storage.boot.root):
        tool = INITRAMFS_TOOL.get(getattr(entries[ident], "type", ""))
        if tool and tool not in tools:
            tools.append(tool)
    return tools


def disks_below(storage: StorageDocument, ident: str | None) -> list[str]:
    """The disk ids a filesystem or partition ultimately lives on (every md member's)."""
    types = {e.id: getattr(e, "type", "") for e in storage.entries}
    return [i for i in below(storage, ident) if types.get(i) in ("disk", "loop")]
