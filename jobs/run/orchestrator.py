"""``hostbook run``: snap -> sure -> clone -> archive -> unsnap, for every selected job.

Order of a run:

1. take the host's lock (a second run waits or stops with a clear message);
2. clean up what an interrupted earlier run left behind, from the journal
   (unmount, remove LVM snapshots, release ZFS holds, delete half-written
   archives, remove the repository locks of killed restic and borg
   processes), newest first, saying what was removed;
3. the snap phase: every selected volume is snapshotted, one right after
   the other, before anything else runs, so a multi-volume host is captured
   at one moment; jobs on the same volume share its snapshot;
4. per job: sure (once per volume), clone, archive (each archiver on its own);
   a failing step does not stop the next one, since an archive without an
   integrity database is still better than none;
5. retention: once every job has cloned and archived, each selected ZFS
   dataset tree's own snapshots are pruned as ``hostbook plan retention``
   shows (:mod:`hostbook.jobs.retention.source`); the snapshots this run
   took are still held then;
6. unsnap: every transient resource is undone (in a ``finally``: also after
   an error or SIGTERM), newest first;
7. outcomes are appended to the history, monitoring URLs are told.

``--step`` runs a subset: ``--step snap`` leaves the snapshots mounted (the
journal records them as kept, not as leftovers) and a later ``--step
archive --step unsnap`` picks them up.  ``--dry-run`` prints every command
instead of running it (read-only queries still run so the plan is real).
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

from hostbook.jobs.archive.base import ArchiveRequest, ArchiveResult
from hostbook.jobs.archive.maintenance import Owner, maintain
from hostbook.jobs.archive.registry import run_archiver
from hostbook.jobs.integrity.sure_step import record_snapshot
from hostbook.jobs.replication.clone_step import clone
from hostbook.jobs.retention.source import prune_tree, zfs_trees
from hostbook.jobs.run.cleanup import Undoer, clean_up
from hostbook.jobs.run.context import FAILED, OK, StepContext
from hostbook.jobs.run.event_log import EventLogSink, run_log_path
from hostbook.jobs.run.events import Event, PlainSink
from hostbook.jobs.run.history import History, history_path
from hostbook.jobs.run.lock import host_lock, running_holder
from hostbook.jobs.run.monitor import RunMonitor
from hostbook.jobs.run.outcome import JobOutcome, RunOutcome, StepState, interrupted
from hostbook.jobs.run.reporter import RunReporter
from hostbook.jobs.run.request import RunRequest
from hostbook.jobs.run.run_journal import Journal, Resource, new_run_id
from hostbook.jobs.run.sigterm import Interrupted, stop_on_sigterm
from hostbook.jobs.snapshot import registry as snapshots
from hostbook.jobs.snapshot.provider import TAKEN, Taken
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.sections.jobs import Job, RepositoryArchive
from hostbook.manifest.sections.retention import parse_duration
from hostbook.process.runner import DryRunRunner, LiveRunner, Runner


def journal_path(state_dir: Path, host: str) -> Path:
    return state_dir / "journal" / f"{host}.jsonl"


class JobRun:
    """One execution of ``hostbook run``."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.loaded = request.loaded
        self.jobs = self.loaded.select(request.job_names)
        if not self.jobs:
            raise BadInputError(f"{self.loaded.path}: no enabled jobs to run")
        self.steps = request.steps
        self.outcomes = {j.name: JobOutcome(j.name, j.volume.ident, j.volume.key)
                         for j in self.jobs}
        self.taken: dict[str, Taken] = {}
        self.adopted: list[Resource] = []
        self.outcome = RunOutcome(None, self.loaded.host, dry_run=request.dry_run)
        self.monitor = RunMonitor(self.jobs, self.loaded.host,
                                  enabled=request.notify and not request.dry_run)
        self.run_id = request.run_id or new_run_id()
        sink = request.sink or PlainSink()
        if not request.dry_run:
            sink = EventLogSink(sink, run_log_path(self.loaded.state_dir, self.loaded.host,
                                                   self.run_id))
        self.report = RunReporter(sink, self.monitor, request.warn)
        echo = self.report.echo
        runner: Runner = DryRunRunner(echo=echo) if request.dry_run else LiveRunner(echo=echo)
        self.journal = Journal(journal_path(self.loaded.state_dir, self.loaded.host),
                               enabled=not request.dry_run)
        self.ctx = StepContext(
            host=self.loaded.host, runner=runner, journal=self.journal, log=self.report.log,
            now=request.now or datetime.now(UTC),
            mount_root=Path(self.loaded.document.settings.mount_root), announce=echo,
            warn=self.report.warn, manifest_commit=self.loaded.manifest_commit,
        )
        self.undoer = Undoer(runner, self.journal, self.report.log, self.outcome.problems)
        self.history = History(history_path(self.loaded.state_dir, self.loaded.host))

    def run(self) -> RunOutcome:
        wait = self.request.wait
        if wait is None:
            wait = float(parse_duration(self.loaded.document.settings.lock_wait))
        lock = (
            contextlib.nullcontext()
            if self.request.dry_run
            else host_lock(self.loaded.state_dir, self.loaded.host, wait)
        )
        with lock, stop_on_sigterm():
            self.report.emit(Event("run-start", message=f"{self.loaded.host}: "
                                   f"{', '.join(j.name for j in self.jobs)} "
                                   f"({', '.join(self.steps)})"
                                   + (" [dry run]" if self.request.dry_run else ""),
                                   data={"run": self.run_id, "host": self.loaded.host}))
            self._cleanup()
            self.outcome.run_id = self.journal.begin(
                list(self.steps), [j.name for j in self.jobs], self.run_id
            )
            self.monitor.start(self.outcome.run_id, self.report.log)
            try:
                if "snap" in self.steps:
                    self._snap_phase()
                else:
                    self._adopt()
                for job in self.jobs:
                    self._job_steps(job)
                if "retention" in self.steps:
                    self._retention_phase()
            except Interrupted as exc:
                self.outcome.problems.append(str(exc))
                self.report.log(str(exc))
                interrupted(self.outcomes.values())
            finally:
                if "unsnap" in self.steps:
                    self._unsnap_phase()
                self.journal.end()
                now = time.time()
                for outcome in self.outcomes.values():
                    outcome.finished = now
            if not self.request.dry_run:
                self.history.record_run(self.outcome.run_id or "-", self.outcomes.values())
            self.monitor.end(self.outcome.run_id,
                             {name: o.status for name, o in self.outcomes.items()},
                             lambda job, text: self.report.sink.emit(
                                 Event("message", job=job, message=text)))
        self.outcome.jobs = list(self.outcomes.values())
        self.report.emit(Event("run-end", status=self.outcome.status,
                               message=self.outcome.summary(),
                               data={"exit_code": self.outcome.exit_code}))
        self.report.sink.close()
        return self.outcome

    def _cleanup(self) -> None:
        """Undo what interrupted runs left; adopt or replace what ``--step`` runs kept."""
        if self.request.dry_run:
            holder = running_holder(self.loaded.state_dir, self.loaded.host)
            if holder is not None:
                self.report.log(f"another run is in progress ({holder}): its snapshots are "
                                "not leftovers, and a real run would wait for it")
                return
        cleaned, self.adopted = clean_up(self.undoer, self.journal.state(),
                                         {j.volume.key for j in self.jobs},
                                         fresh="snap" in self.steps)
        self.outcome.cleaned.extend(cleaned)

    def _snap_phase(self) -> None:
        """Every selected volume's snapshot, one right after the other; jobs share them."""
        by_volume: dict[str, list[Job]] = {}
        for job in self.jobs:
            by_volume.setdefault(job.volume.key, []).append(job)
        for key, jobs in by_volume.items():
            first = jobs[0]
            with self.report.step(self.outcomes[first.name], first, "snap",
                                  provider=first.provider) as st:
                # A half-made snapshot (created but not mounted) is undone now.
                with self.undoer.on_failure("failed snapshot"):
                    taken = snapshots.take(self.ctx, first)
                self.taken[key] = taken
                st.outcome.snapshot = taken.snapshot
            for other in jobs[1:]:
                outcome = self.outcomes[other.name]
                outcome.snapshot = taken.snapshot if key in self.taken else None
                if key in self.taken:
                    self.report.ended(outcome, other, "snap", OK,
                                      f"shares the snapshot taken for {first.name}")
                else:
                    outcome.mark("snap", FAILED, f"{first.name}'s snapshot failed")

    def _adopt(self) -> None:
        """Use the snapshots an earlier ``--step snap`` run kept."""
        for resource in self.adopted:
            self.journal.adopt(resource)
            if resource.kind == TAKEN:
                self.taken[resource.volume] = Taken.from_record(resource.details)
        for job in self.jobs:
            taken = self.taken.get(job.volume.key)
            self.outcomes[job.name].snapshot = taken.snapshot if taken else None

    def _job_steps(self, job: Job) -> None:
        taken = self.taken.get(job.volume.key)
        outcome = self.outcomes[job.name]
        for step in ("sure", "clone", "archive"):
            if step not in self.steps:
                continue
            if taken is None:
                if outcome.steps.get("snap") == FAILED:
                    self.report.skip(outcome, job, step, "no snapshot (snap failed)")
                else:
                    with self.report.step(outcome, job, step) as st:
                        st.mark(FAILED, f"no snapshot of {job.volume.ident} is mounted "
                                "(run --step snap first)")
                continue
            {"sure": self._sure, "clone": self._clone, "archive": self._archive}[step](
                job, outcome, taken)

    def _sure(self, job: Job, outcome: JobOutcome, taken: Taken) -> None:
        if not job.sure.enabled:
            self.report.skip(outcome, job, "sure", "disabled")
            return
        shared = next(
            (o for o in self.outcomes.values()
             if o.volume_key == job.volume.key and o.sure is not None and o.job != job.name),
            None,
        )
        if shared is not None:
            outcome.sure = shared.sure
            self.report.skip(outcome, job, "sure", f"recorded by {shared.job} for this snapshot")
            return
        with self.report.step(outcome, job, "sure") as st:
            record = record_snapshot(self.ctx, job.sure, taken, self.loaded.sure_store,
                                     self.loaded.sure_in_manifest, self.report.progress)
            outcome.sure = record.info
            for status, message in record.notes:
                st.mark(status, message)

    def _clone(self, job: Job, outcome: JobOutcome, taken: Taken) -> None:
        if not job.clone:
            self.report.skip(outcome, job, "clone", "no clone targets")
            return
        with self.report.step(outcome, job, "clone", targets=list(job.clone)) as st:
            results = clone(self.ctx, job, taken, self.loaded.document, self.report.progress)
            outcome.clones.extend(results)
            for result in results:
                st.mark(OK if result.status == "ok" else FAILED,
                        f"{result.target}: {result.message}")

    def _archive(self, job: Job, outcome: JobOutcome, taken: Taken) -> None:
        if not job.archive:
            self.report.skip(outcome, job, "archive", "no archivers")
            return
        for spec in job.archive:
            with self.report.step(outcome, job, "archive", archiver=spec.label,
                                  tool=spec.tool) as st:
                successes = self.history.successes(job.name, job.volume.key, spec.label)
                result = run_archiver(ArchiveRequest.of_snapshot(
                    self.ctx, job, taken, successes, self.report.progress), spec)
                outcome.archives.append(result)
                st.mark(result.status, f"{spec.label}: {result.summary()}")
                if isinstance(spec, RepositoryArchive) and result.status != FAILED:
                    self._maintain(job, spec, result, st)

    def _maintain(self, job: Job, spec: RepositoryArchive, result: ArchiveResult,
                  st: StepState) -> None:
        """Prune and check the repository the archive went to (see maintenance)."""
        owner = Owner(self.ctx.host, job.name, job.volume.ident, job.volume.key)
        last = self.history.last_check(job.name, job.volume.key, spec.label)
        said, checked = maintain(self.ctx.runner, spec, owner, last, time.time())
        for status, message in said:
            st.mark(status, f"{spec.label}: {message}")
        if checked:
            result.extra["checked"] = time.time()

    def _retention_phase(self) -> None:
        """Prune each selected ZFS dataset tree's own snapshots, once per tree."""
        document = self.loaded.document
        trees = {t.root: t for t in zfs_trees(
            [(j.volume.dataset, j.clone) for j in document.jobs
             if j.provider == "zfs" and j.volume.dataset], document.replication)}
        done: set[str] = set()
        for job in self.jobs:
            outcome = self.outcomes[job.name]
            tree = trees.get(job.volume.dataset or "") if job.provider == "zfs" else None
            if tree is None:
                if job.provider == "btrfs":
                    self.report.skip(outcome, job, "retention", "btrfs snapshots are pruned "
                                     "on the clone targets only, not in the source directory")
                continue  # LVM snapshots and none are transient: nothing is kept to prune
            if tree.root in done:
                self.report.skip(outcome, job, "retention", f"{tree.root} pruned already")
                continue
            done.add(tree.root)
            with self.report.step(outcome, job, "retention", dataset=tree.root) as st:
                result = prune_tree(self.ctx.runner, self.ctx.host, document.retention, tree,
                                    self.ctx.now, log=self.report.log)
                outcome.pruned.extend(result.destroyed)
                st.mark(OK if result.ok else FAILED, result.summary())

    def _unsnap_phase(self) -> None:
        """Undo this run's (and adopted) resources per volume, newest first."""
        resources = self.undoer.undoable_now(self.journal.opened)
        volumes = list(dict.fromkeys(r.volume for r in resources))
        for key in reversed(volumes):
            job = next((j for j in self.jobs if j.volume.key == key), None)
            mine = [r for r in resources if r.volume == key]
            if job is None:
                for resource in reversed(mine):
                    self.undoer.undo(resource, "unsnap")
                continue
            with self.report.step(self.outcomes[job.name], job, "unsnap") as st:
                taken = self.taken.get(key)
                problem = snapshots.verify(self.ctx, taken) if taken else None
                if problem is not None:
                    # What was read from it is not the volume: the archives are not trusted.
                    for other in self.jobs:
                        if other.volume.key == key:
                            self.outcomes[other.name].mark("snap", FAILED, problem)
                    st.mark(FAILED, problem)
                for resource in reversed(mine):
                    if self.undoer.undo(resource, "unsnap") is None:
                        st.mark(FAILED, f"could not remove {resource.describe()}")


def run_jobs(request: RunRequest) -> RunOutcome:
    """Run the selected jobs; see the module docstring for the order of things."""
    return JobRun(request).run()
