"""What a source tool is: how it lists a target's archives and extracts one.

One module per tool (restic, borg, tar) builds a :class:`Source`; the
registry finds it by the ``tool`` of the jobs.yaml archive target.  Every
source extracts into :attr:`Extraction.volume_dir`, a directory at the same
path under :attr:`Extraction.root` as the run's stable snapshot mount
(``/run/hostbook/volumes/<key>``), bind-mounted onto the volume's mount point
under the target: restic, whose snapshots hold that full path, restores
into it with ``--target root``, and borg and tar, whose archives are
relative to the volume, extract with it as their working directory.  So
each archiver's own layout never shows.

A source of whole volumes (ZFS and btrfs send streams, a clone target's
replica) has a :class:`Receiver` instead: it says where the volume will be
(``place``, asked by the preflight, which also refuses what the receive
could not do) and receives the archive there (``receive``); the tree it
leaves at that place is then checked like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from hostbook.manifest.errors import RuntimeFailure
from hostbook.manifest.sections.jobs import Job, Volume
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner
from hostbook.restore.data.archive import Archive, Where

Spec = TypeVar("Spec")


class Unreachable(RuntimeFailure):
    """A target could not be listed: the one-line reason, in words (a wrong password ...)."""


def destination_names(runner: Runner, destination: str) -> list[str]:
    """The file names in a tar or xfsdump destination, or Unreachable saying why not."""
    names = runner.list_dir(destination)
    if names is None:
        raise Unreachable(f"{destination}: no such folder (or it cannot be read)")
    return names


@dataclass(frozen=True)
class Extraction:
    """Where and what to extract."""

    root: Path
    """The private folder restic restores into (``--target``)."""
    where: Where
    paths: list[str] = field(default_factory=list)
    """Volume-relative paths to extract (all when empty)."""

    @property
    def volume_dir(self) -> Path:
        """The volume's root as the extraction sees it (the bind-mounted mount point)."""
        return self.root / self.where.stable_path.lstrip("/")


@dataclass(frozen=True)
class Placement:
    """Where a received volume goes: its mount point under the target, and what sits there."""

    volume: Volume
    key: str
    target_root: str
    directory: Path
    """Where the volume's tree is once received (what ``sure check`` reads)."""


@dataclass(frozen=True)
class Receiver(Generic[Spec]):
    """How a whole-volume source puts a volume back (instead of extracting files)."""

    place: Callable[[Runner, Spec, Archive, Volume, str], Placement | str]
    """The placement of the archive's volume under the target root, or a refusal."""
    receive: Callable[[Runner, Spec, Archive, Placement], str | None]
    """Receive the archive (resuming what an interrupted receive left); None or the failure."""
    excludes: Callable[[Job], list[str]] = lambda job: []
    """Volume-relative paths a received tree has that the integrity database left out."""


def _no_extract(runner: Runner, spec: Any, archive: Archive,
                extraction: Extraction) -> CommandResult:
    raise RuntimeFailure(f"{archive.tool} restores whole volumes: it receives, never extracts")


@dataclass(frozen=True)
class Source(Generic[Spec]):
    """One source tool: the programs it needs, listing, extraction."""

    tool: str
    programs: tuple[str, ...]
    list_archives: Callable[[Runner, Where, Spec], list[Archive]]
    """The target's archives of this job and volume, any order; raises Unreachable."""
    extract: Callable[[Runner, Spec, Archive, Extraction], CommandResult] = _no_extract
    whole_seconds: bool = False
    """The tool restores mtimes to the whole second only, and symlinks' times not at all."""
    receiver: Receiver[Spec] | None = None
    """Set for a source that restores the whole volume by receiving it."""


def env_for(tool: str, spec: Any) -> dict[str, str]:
    """The password environment of a repository target (nothing for file targets)."""
    from hostbook.jobs.archive.repository import password_env

    if not hasattr(spec, "repository"):
        return {}
    return password_env(tool, spec.password_command, spec.password_file, spec.env_file)


WRONG_PASSWORD = "wrong password"


def failure_words(result: CommandResult, wrong_password: tuple[str, ...],
                  missing: tuple[str, ...], where: str) -> str:
    """A tool's failure in words: a wrong password is said to be one."""
    text = result.stderr + result.stdout
    if any(marker in text for marker in wrong_password):
        return f"{where}: {WRONG_PASSWORD} (the password source in jobs.yaml gives another one)"
    if any(marker in text for marker in missing):
        return f"{where}: no repository there"
    return f"{where}: {result.failure()}"
