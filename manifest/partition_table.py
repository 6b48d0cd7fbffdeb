"""sfdisk's script format and the kernel's partition node names, written once.

Capture renders a recorded table back the way ``sfdisk --dump`` printed it
(:func:`hostbook.manifest.sections.storage.sfdisk_script`) and restore writes
a table fitted to a new disk (:mod:`hostbook.restore.plan.partitions`).  Both
go through :func:`table_script`, so what restore feeds sfdisk is, on a disk
like the recorded one, byte for byte the dump capture recorded.  Partition
nodes are named by the kernel's rule (:func:`partition_node`), which sfdisk's
dump follows too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hostbook.manifest.sections.storage import PartitionEntry, PartitionTable


def partition_node(device: str, number: int) -> str:
    """``/dev/sda`` + 3 -> ``/dev/sda3``; ``/dev/nvme0n1``, ``/dev/loop0`` -> ``...p3``."""
    separator = "p" if device[-1:].isdigit() else ""
    return f"{device}{separator}{number}"


def quote_name(value: str) -> str:
    """Quote a GPT name the way ``sfdisk --dump`` does (\\xNN for quote and backslash)."""
    escaped = value.replace("\\", "\\x5c").replace('"', "\\x22")
    return f'"{escaped}"'


def table_script(
    table: PartitionTable,
    device: str,
    sector_size: int,
    first_lba: int | None,
    last_lba: int | None,
    partitions: Iterable[tuple[PartitionEntry, int, int]],
) -> str:
    """The sfdisk script (``sfdisk --dump`` format) that writes ``table`` on ``device``.

    ``partitions`` are (entry, start, size) with start and size in bytes,
    written in ``sector_size`` units; ``first_lba``/``last_lba`` are written
    when given (the header's usable area, kept only where the geometry is).
    """
    lines = [f"label: {table.type}"]
    if table.id is not None:
        lines.append(f"label-id: {table.id}")
    lines += [f"device: {device}", "unit: sectors"]
    if first_lba is not None:
        lines.append(f"first-lba: {first_lba}")
    if last_lba is not None:
        lines.append(f"last-lba: {last_lba}")
    if table.table_length is not None:
        lines.append(f"table-length: {table.table_length}")
    lines += [f"sector-size: {sector_size}", ""]
    for part, start, size in sorted(partitions, key=lambda placed: placed[0].number):
        fields = [
            f"start={start // sector_size:>12}",
            f"size={size // sector_size:>12}",
            f"type={part.partition_type}",
        ]
        if part.uuid and table.type == "gpt":  # an MBR partition's id is derived
            fields.append(f"uuid={part.uuid}")
        if part.label is not None:
            fields.append(f"name={quote_name(part.label)}")
        if part.attributes:
            fields.append(f'attrs="{part.attributes}"')
        if part.bootable:
            fields.append("bootable")
        lines.append(f"{partition_node(device, part.number)} : {', '.join(fields)}")
    return "\n".join(lines) + "\n"
