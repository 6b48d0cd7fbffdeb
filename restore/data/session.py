"""``hostbook restore data``: preflight, then per volume extract, verify, journal.

Order of things:

1. preflight (:mod:`.preflight`) for every chosen volume; any refusal stops
   the restore with all of them (exit 2), before anything is written;
2. per volume, in jobs.yaml order: the journal records that its restore
   started; the volume's directory under the target is bind-mounted (a
   plain, non-recursive bind: the other volumes' filesystems mounted below
   it stay out of sight) at ``<state>/restore/data-view/<key>`` + the stable
   snapshot path, the tool extracts into it, the parents of ``--path``
   entries get their recorded metadata, and ``sure check`` compares the
   tree with the run's integrity database; the bind goes away again;
3. the journal records the volume as done only when the check found zero
   differences.  A second run of the same command skips the volumes done
   (same archive, same place, and the tree still there: a filesystem made
   again since is restored again), and re-extracts one whose restore was
   interrupted (a leftover bind from a killed run is unmounted first).

With ``--overwrite`` onto a non-empty directory, the tree is checked
against the database first and only the entries that differ or are
missing are extracted; files the database does not have are listed as
extra, never deleted.  ``--dry-run`` runs the preflight for real and
prints the commands it would run.  Passwords reach the tools only through
their environment (:mod:`hostbook.jobs.archive.repository`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.jobs.run.jobs_file import LoadedJobs, load_jobs
from hostbook.jobs.snapshot.stable_mount import mounted_at, unmount
from hostbook.manifest.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL, EXIT_RUNTIME
from hostbook.manifest.sections.restore import DEFAULT_TARGET
from hostbook.manifest.store import ManifestRepository
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import read_document
from hostbook.process.runner import DryRunRunner, LiveRunner, Runner
from hostbook.restore.apply.apply_journal import Journal
from hostbook.restore.data.metadata import apply_recorded, parents_of
from hostbook.restore.data.preflight import Preflight, VolumePlan, first_files, preflight
from hostbook.restore.data.registry import source_for
from hostbook.restore.data.revspec import CommitLookup
from hostbook.restore.data.source import Extraction
from hostbook.restore.data.verify import (
    carried_database,
    check_tree,
    difference_words,
    entries_of,
)

VERIFIED, DIFFERS, UNVERIFIED, FAILED, DONE_BEFORE, DRY_RUN = (
    "verified", "differs", "unverified", "failed", "done-before", "dry-run")
MAX_SELECTED = 5000
"""Above this many differing entries, ``--overwrite`` extracts the whole volume."""

Say = Callable[[str], None]


@dataclass
class DataRequest:
    """What ``restore data`` is asked to do."""

    repository: Path | None
    host: str | None
    jobs_file: Path | None = None
    target: str | None = None
    volumes: list[str] = field(default_factory=list)
    at: str | None = None
    paths: list[str] = field(default_factory=list)
    source: str | None = None
    dry_run: bool = False
    overwrite: bool = False
    state_dir: Path | None = None


@dataclass
class VolumeOutcome:
    plan: VolumePlan
    status: str
    differences: list[str] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0
    extracted: int | None = None
    """Entries selected for extraction (None: the whole volume)."""
    extract_seconds: float = 0.0
    verify_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), "status": self.status, "message": self.message,
                "differences": self.differences, "seconds": round(self.seconds, 3),
                "extract_seconds": round(self.extract_seconds, 3),
                "verify_seconds": round(self.verify_seconds, 3), "extracted": self.extracted}


@dataclass
class DataOutcome:
    preflight: Preflight
    volumes: list[VolumeOutcome] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.preflight.refusals:
            return EXIT_BAD_INPUT
        if any(v.status == FAILED for v in self.volumes):
            return EXIT_RUNTIME
        if any(v.status in (DIFFERS, UNVERIFIED) for v in self.volumes):
            return EXIT_PARTIAL
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {"refusals": self.preflight.refusals, "notes": self.preflight.notes,
                "volumes": [v.to_json() for v in self.volumes], "exit_code": self.exit_code}


def journal_of(loaded: LoadedJobs) -> Journal:
    return Journal(loaded.state_dir / "restore" / f"{loaded.host}@data.journal")


def _storage(repository: Path | None, host: str) -> Any | None:
    """The host's storage.yaml, when the manifest repository has one (lv mount points)."""
    from hostbook.manifest.sections.storage import StorageDocument

    if repository is None:
        return None
    path = ManifestRepository.open(repository).section_path(host, "storage")
    data = read_document(path)
    return None if data is None else validate_as(StorageDocument, data, str(path))


def target_root_of(requested: str | None, repository: Path | None, host: str) -> str:
    """The target root: the one asked for, else restore.yaml's (what ``restore apply`` used).

    ``restore apply`` mounts the rebuilt tree under restore.yaml's ``target``
    when no ``--target`` is given; ``restore data`` without one must look in the
    same place, not in a fixed default.
    """
    from hostbook.manifest.sections.restore import RestoreDocument

    chosen = requested
    if chosen is None and repository is not None:
        path = ManifestRepository.open(repository).section_path(host, "restore")
        data = read_document(path)
        if data is not None:
            chosen = validate_as(RestoreDocument, data, str(path)).target
    return (chosen or DEFAULT_TARGET).rstrip("/") or "/"


def _commits(repository: Path | None) -> CommitLookup | None:
    return ManifestRepository.open(repository).commit_of if repository else None


class VolumeRestore:
    """The restore of one volume (see the module docstring, step 2)."""

    def __init__(self, runner: Runner, loaded: LoadedJobs, journal: Journal, plan: VolumePlan,
                 overwrite: bool, say: Say) -> None:
        self.runner, self.loaded, self.journal, self.plan = runner, loaded, journal, plan
        self.overwrite, self.say = overwrite, say
        self.step = f"data:{plan.key}"
        self.fix_after: set[str] = set()
        """Directories given their recorded metadata once the extraction is done."""
        self.extraction = Extraction(
            loaded.state_dir / "restore" / "data-view" / plan.key, plan.where, list(plan.paths))

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    def run(self) -> VolumeOutcome:
        started = time.monotonic()
        outcome = VolumeOutcome(self.plan, FAILED)
        if not self.dry_run:
            self.journal.record(self.step, self.plan.fingerprint, "started")
        view = str(self.extraction.volume_dir)
        try:
            if self.plan.placement is not None:
                self._receive_and_check(outcome)
            else:
                self._bind(view)
                self._extract_and_check(outcome)
        except _Failed as exc:
            outcome.status, outcome.message = FAILED, str(exc)
        finally:
            result = unmount(self.runner, view)
            if result is not None and not result.ok and outcome.status != FAILED:
                outcome.status, outcome.message = FAILED, result.failure()
        outcome.seconds = time.monotonic() - started
        if not self.dry_run:
            status = "done" if outcome.status == VERIFIED else "failed"
            self.journal.record(self.step, self.plan.fingerprint, status,
                                outcome.message[:500])
        return outcome

    def _bind(self, view: str) -> None:
        if not self.dry_run:
            if mounted_at(view) is not None:  # left by a killed restore
                unmount(self.runner, view)
            self.plan.directory.mkdir(parents=True, exist_ok=True)
            self.extraction.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.extraction.root.chmod(0o700)
            Path(view).mkdir(parents=True, exist_ok=True)
        bound = self.runner.command(["mount", "--bind", str(self.plan.directory), view],
                                    timeout=60.0)
        if not bound.ok:
            raise _Failed(bound.failure())

    def _database(self) -> Path | None:
        return self.plan.database or carried_database(self.extraction.volume_dir, self.plan.key)

    def _select(self, outcome: VolumeOutcome) -> list[str] | None:
        """With --overwrite over a non-empty tree: the entries to extract, fixed dirs aside."""
        if not self.overwrite or self.dry_run or self.plan.paths:
            return None
        if not first_files(self.extraction.volume_dir, kept=self.plan.kept):
            return None
        database = self._database()
        if database is None:
            return None
        source = source_for(self.plan.target.tool)
        differing = check_tree(self.extraction.volume_dir, database, [], self._excludes(),
                               whole_seconds=source is not None and source.whole_seconds)
        wanted = {d.path for d in differing if d.status in ("missing", "changed")}
        recorded = entries_of(database, wanted)
        dirs = {p: e for p, e in recorded.items() if e.kind == "d"}
        # A directory that exists had its metadata fixed; a missing one is extracted whole.
        selected = sorted(p for p in wanted
                          if p not in dirs or not (self.extraction.volume_dir / p).is_dir())
        selected = [p for p in selected if not any(
            p.startswith(other + "/") for other in selected)]  # inside one extracted whole
        if len(selected) > MAX_SELECTED:
            return None
        outcome.extracted = len(selected)
        # After the extraction: the differing directories, and the parents it wrote into.
        self.fix_after = set(dirs) | set(parents_of(selected))
        return selected

    def _excludes(self) -> list[str]:
        job = self.plan.job
        return [*job.sure.exclude, *getattr(self.plan.target.spec, "exclude", [])]

    def _extract_and_check(self, outcome: VolumeOutcome) -> None:
        plan = self.plan
        source = source_for(plan.target.tool)
        if source is None:
            raise _Failed(f"no source for {plan.target.tool}")
        selected = self._select(outcome)
        extraction = self.extraction
        if selected is not None:
            extraction = Extraction(extraction.root, extraction.where, selected)
        if selected != []:
            began = time.monotonic()
            with kept_aside(extraction.volume_dir, plan.kept, self.dry_run):
                result = source.extract(self.runner, plan.target.spec, plan.archive, extraction)
            outcome.extract_seconds = time.monotonic() - began
            if not result.ok:
                raise _Failed(result.failure())
        if self.dry_run:
            outcome.status = DRY_RUN
            return
        database = self._database()
        if database is None:
            outcome.status = UNVERIFIED
            outcome.message = (f"no integrity database of run {plan.archive.stamp}: neither "
                               f"{self.loaded.sure_store} nor the archive has one")
            return
        if plan.paths:
            self.fix_after |= set(parents_of(plan.paths))
        if self.fix_after:
            apply_recorded(extraction.volume_dir, entries_of(database, self.fix_after))
        began = time.monotonic()
        differences = [d for d in check_tree(extraction.volume_dir, database, plan.paths,
                                             self._excludes(), whole_seconds=source.whole_seconds)
                       if d.path not in plan.kept]
        outcome.verify_seconds = time.monotonic() - began
        outcome.differences = [difference_words(d) for d in differences]
        outcome.status = VERIFIED if not differences else DIFFERS
        outcome.message = (f"{len(differences)} difference(s) from {database.name}"
                           if differences else f"zero differences from {database}")

    def _receive_and_check(self, outcome: VolumeOutcome) -> None:
        """A whole-volume source: receive it into place, then check the tree it left there."""
        plan = self.plan
        source = source_for(plan.target.tool)
        assert source is not None and source.receiver is not None and plan.placement is not None
        began = time.monotonic()
        problem = source.receiver.receive(self.runner, plan.target.spec, plan.archive,
                                          plan.placement)
        outcome.extract_seconds = time.monotonic() - began
        if problem is not None:
            raise _Failed(problem)
        if self.dry_run:
            outcome.status = DRY_RUN
            return
        database = plan.database or carried_database(plan.directory, plan.key)
        if database is None:
            outcome.status = UNVERIFIED
            outcome.message = f"no integrity database of run {plan.archive.stamp}"
            return
        began = time.monotonic()
        differences = check_tree(plan.directory, database, [],
                                 [*self._excludes(), *source.receiver.excludes(plan.job)])
        outcome.verify_seconds = time.monotonic() - began
        outcome.differences = [difference_words(d) for d in differences]
        outcome.status = VERIFIED if not differences else DIFFERS
        outcome.message = (f"{len(differences)} difference(s) from {database.name}"
                           if differences else f"zero differences from {database}")


@contextmanager
def kept_aside(volume_dir: Path, kept: list[str], dry_run: bool) -> Iterator[None]:
    """The files restore apply wrote, renamed out of the archive's way and put back after.

    A rename in the same directory: the extraction writes the archived copy,
    then the kept one replaces it, whatever the extraction did.  The
    directory keeps the times the extraction gave it (the archived ones).
    """
    moved = []
    if not dry_run:
        for rel in kept:
            path = volume_dir / rel
            if path.is_file() and not path.is_symlink():
                aside = path.with_name(f".{path.name}.hostbook-kept")
                os.replace(path, aside)
                moved.append((aside, path))
    try:
        yield
    finally:
        for aside, path in moved:
            parent = path.parent.stat()
            os.replace(aside, path)
            os.utime(path.parent, ns=(parent.st_atime_ns, parent.st_mtime_ns))


class _Failed(Exception):
    """A step of one volume's restore failed; the message says why."""


def restore_data(request: DataRequest, runner: Runner | None = None,
                 say: Say | None = None) -> DataOutcome:
    """Run ``restore data`` (see the module docstring)."""
    tell = say or (lambda text: None)
    if runner is None:
        runner = DryRunRunner(echo=tell, live=LiveRunner()) if request.dry_run else LiveRunner(
            echo=tell)
    loaded = load_jobs(None if request.jobs_file else request.repository, request.host,
                       request.jobs_file, state_dir=request.state_dir)
    journal = journal_of(loaded)
    finished = journal.finished()
    started = {e.fingerprint for e in journal.entries()}
    target_root = target_root_of(request.target, request.repository, loaded.host)
    checked = preflight(runner, loaded, request.volumes, target_root, request.at,
                        request.source, request.paths, request.overwrite, started,
                        _storage(request.repository, loaded.host),
                        _commits(request.repository))
    if not request.dry_run and os.geteuid() != 0:
        checked.refusals.append("restore data runs as root: it bind-mounts each volume's "
                                "directory and restores owners")
    outcome = DataOutcome(checked)
    if checked.refusals:
        return outcome
    for plan in checked.plans:
        step = f"data:{plan.key}"
        if (finished.get(step) == plan.fingerprint and not request.dry_run
                and not request.overwrite  # asked to bring it back to the archive: check
                and first_files(plan.directory, 1, plan.kept)):  # wiped since? restore again
            outcome.volumes.append(VolumeOutcome(plan, DONE_BEFORE,
                                                 message="restored and verified before"))
            tell(f"{plan.key}: restored and verified before: skipped")
            continue
        tell(f"{plan.key}: {plan.target.tool} {plan.archive.id} -> {plan.directory}")
        result = VolumeRestore(runner, loaded, journal, plan, request.overwrite, tell).run()
        outcome.volumes.append(result)
        tell(f"{plan.key}: {result.status}" + (f": {result.message}" if result.message else ""))
    return outcome
