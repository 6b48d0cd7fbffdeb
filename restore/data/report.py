"""The words ``hostbook archives`` and ``restore data`` print.

Times are ISO dates in UTC, sizes in binary units, manifest commits
abbreviated to 12 characters; nothing printed here ever holds a secret
(archives are named by id, targets by their jobs.yaml label and location).
"""

from __future__ import annotations

from hostbook.restore.data.archive import Archive, iso
from hostbook.restore.data.catalog import TargetArchives
from hostbook.restore.data.session import DataOutcome


def size_words(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def archive_line(archive: Archive) -> str:
    shown = archive.short_id or archive.id
    files = f"{archive.files} files" if archive.files is not None else "- files"
    manifest = (archive.manifest or "-")[:12]
    return (f"{archive.revision:>3}  {shown}  {iso(archive.time)}  {size_words(archive.size)}"
            f"  {files}  run {archive.run or '-'}  manifest {manifest}")


def listing_lines(listing: list[TargetArchives]) -> list[str]:
    """Per volume, per target: its archives newest first (or why there are none)."""
    lines: list[str] = []
    volume = None
    for target in listing:
        if target.volume_key != volume:
            volume = target.volume_key
            lines.append(f"{target.volume_key} ({target.volume})")
        lines.append(f"  {target.target} ({target.tool} {target.location}, job {target.job})")
        if target.error:
            lines.append(f"    unavailable: {target.error}")
        elif not target.archives:
            lines.append("    no archives")
        lines.extend(f"    {archive_line(a)}" for a in target.archives)
    return lines


def outcome_lines(outcome: DataOutcome) -> list[tuple[str, bool]]:
    """What ``restore data`` prints at the end: (line, to stderr)."""
    lines: list[tuple[str, bool]] = []
    if outcome.preflight.refusals:
        lines.append(("REFUSED (nothing was written):", True))
        lines.extend((f"  {r}", True) for r in outcome.preflight.refusals)
        return lines
    lines.extend((f"note: {n}", False) for n in outcome.preflight.notes)
    for volume in outcome.volumes:
        lines.extend((f"  {d}", False) for d in volume.differences)
        lines.append((f"{volume.plan.key}: {volume.status}"
                      + (f" ({volume.message})" if volume.message else ""),
                      volume.status in ("failed", "differs", "unverified")))
    return lines
