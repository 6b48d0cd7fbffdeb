"""What a directory of btrfs snapshots (or received copies) holds, read through a runner.

Two questions, asked of btrfs-progs rather than of the file system:

1. ``btrfs subvolume list -o -c -u -q -R DIR`` — every subvolume directly below
   the subvolume that contains DIR, with uuid, parent_uuid, received_uuid and
   generation at creation.  Its paths are relative to the file system's root,
   not to DIR, so it cannot say by itself which of them sit *in* DIR.
2. ``btrfs subvolume show DIR/NAME`` for each listed name — authoritative for
   that path (it fails for a name that is not a subvolume in DIR), and the only
   source of the read-only flag, the creation time and the send transid.

After the first hit the file-system-relative prefix of DIR is known (``show``
prints the relative path), so names listed elsewhere in the same subvolume
are not asked about.  Both commands run the same way locally and over ssh,
so a remote target costs one connection per subvolume in its directory.

Paths in the result are absolute without the leading ``/`` — the form
:class:`hostbook.jobs.replication.btrfs.lineage.BtrfsStep` joins onto an empty mount.
"""

from __future__ import annotations

import dataclasses
import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from hostbook.jobs.replication.btrfs.lineage import (
    BtrfsParseError,
    Subvolume,
    parse_subvolume_list,
    parse_subvolume_show,
)
from hostbook.manifest.errors import RuntimeFailure
from hostbook.process.runner import Runner

LIST_ARGS: tuple[str, ...] = ("btrfs", "subvolume", "list", "-o", "-c", "-u", "-q", "-R")


@dataclass(frozen=True)
class BtrfsDirectory:
    """The subvolumes directly inside one directory, in creation (generation) order."""

    directory: str
    exists: bool
    subvolumes: tuple[Subvolume, ...] = ()

    def by_uuid(self, uuid: str) -> Subvolume | None:
        return next((s for s in self.subvolumes if s.uuid == uuid), None)

    @property
    def snapshots(self) -> tuple[Subvolume, ...]:
        """The read-only ones: what can be sent."""
        return tuple(s for s in self.subvolumes if s.readonly)


def remote(argv: Sequence[str], ssh: Sequence[str] = ()) -> list[str]:
    """``argv`` as is, or as one shell-quoted command line for ``ssh``."""
    return [*ssh, shlex.join(argv)] if ssh else list(argv)


def list_argv(directory: str) -> list[str]:
    return [*LIST_ARGS, directory]


def show_argv(path: str) -> list[str]:
    return ["btrfs", "subvolume", "show", path]


def _missing(stderr: str) -> bool:
    return "No such file or directory" in stderr


def load_directory(
    runner: Runner, directory: str, *, ssh: Sequence[str] = ()
) -> BtrfsDirectory:
    """Read ``directory`` (absolute) locally, or on the host ``ssh`` reaches.

    A directory that does not exist yet is an empty, non-existing location (a
    target before its first receive); any other failure is a RuntimeFailure.
    """
    directory = directory.rstrip("/") or "/"
    listing = runner.query(remote(list_argv(directory), ssh), timeout=120.0)
    if listing.returncode != 0:
        if _missing(listing.stderr):
            return BtrfsDirectory(directory, exists=False)
        tail = (listing.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeFailure(f"{shlex.join(list_argv(directory))}: {tail}")
    try:
        listed = parse_subvolume_list(listing.stdout)
    except BtrfsParseError as exc:
        raise RuntimeFailure(f"{shlex.join(list_argv(directory))}: {exc}") from None
    by_uuid = {s.uuid: s for s in listed if s.uuid}
    # Names whose listed parent directory ends like DIR come first: usually the first
    # `show` then already pins DIR's place in the file system.
    names: dict[str, list[str]] = {}
    for sub in listed:
        names.setdefault(sub.name, []).append(posixpath.dirname(sub.path))
    ordered = sorted(
        names,
        key=lambda n: (not any(directory.endswith("/" + d) for d in names[n] if d), n),
    )
    prefix: str | None = None
    found: list[Subvolume] = []
    for name in ordered:
        if prefix is not None and prefix not in names[name]:
            continue
        path = posixpath.join(directory, name)
        shown = runner.query(remote(show_argv(path), ssh), timeout=120.0)
        if shown.returncode != 0:
            continue  # listed elsewhere in the subvolume, or not a subvolume here
        try:
            sub = parse_subvolume_show(shown.stdout)
        except BtrfsParseError:
            continue
        if prefix is None:
            prefix = posixpath.dirname(sub.path)
        twin = by_uuid.get(sub.uuid or "")
        found.append(dataclasses.replace(
            sub,
            path=path.lstrip("/"),
            generation_at_creation=sub.generation_at_creation
            or (twin.generation_at_creation if twin else None),
        ))
    found.sort(key=lambda s: (s.order, s.id))
    return BtrfsDirectory(directory, True, tuple(found))
