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
5. unsnap: every transient resource is undone (in a ``finally``: also after
   an error or SIGTERM), newest first;
6. outcomes are appended to the history, monitoring URLs are told.

``--step`` runs a subset: ``--step snap`` leaves the snapshots mounted (the
journal records them as kept, not as leftovers) and a later ``--step
archive --step unsnap`` picks them up.  ``--dry-run`` prints every command
instead of running it (read-only queries still run so the plan is real).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from hostbook.jobs.archive import borg as archive_borg
from hostbook.jobs.archive import restic as archive_restic
from hostbook.jobs.archive import tar as archive_tar
from hostbook.jobs.archive import xfsdump as archive_xfsdump
from hostbook.jobs.archive.base import FAILED, OK, WARNING, ArchiveRequest, ArchiveResult
from hostbook.jobs.integrity import database as sure_db
from hostbook.jobs.integrity import sure
from hostbook.jobs.private_files import private_dir, replace_private, write_new
from hostbook.jobs.replication.clone_step import CloneResult, clone
from hostbook.jobs.run import monitor
from hostbook.jobs.run.context import StepContext
from hostbook.jobs.run.events import Event, PlainSink, Sink
from hostbook.jobs.run.history import History, Outcome, history_path
from hostbook.jobs.run.jobs_file import LoadedJobs
from hostbook.jobs.run.lock import host_lock, running_holder
from hostbook.jobs.run.run_journal import Journal, Resource
from hostbook.jobs.snapshot import steps as snapshots
from hostbook.jobs.snapshot.steps import TAKEN, Taken
from hostbook.manifest.errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_RUNTIME,
    BadInputError,
    HostbookError,
    RuntimeFailure,
)
from hostbook.manifest.sections.jobs import (
    BorgArchive,
    Job,
    ResticArchive,
    TarArchive,
    XfsdumpArchive,
)
from hostbook.manifest.sections.retention import parse_duration
from hostbook.process.runner import DryRunRunner, LiveRunner, Runner

STEPS: tuple[str, ...] = ("snap", "sure", "clone", "archive", "unsnap")
SKIPPED = "skipped"
_RANK = {OK: 0, SKIPPED: 0, WARNING: 1, FAILED: 2}
GITIGNORE = "*\n"


class Interrupted(BaseException):
    """The run got SIGTERM; unsnap still runs (it is in a ``finally``).

    A BaseException, like KeyboardInterrupt, so that no step's error handling
    (which turns a HostbookError into a failed step and goes on) swallows it.
    """

    exit_code = EXIT_RUNTIME


@dataclass
class StepState:
    """One step invocation's status and messages (an archive step runs per archiver)."""

    outcome: JobOutcome
    status: str = OK
    messages: list[str] = field(default_factory=list)

    def mark(self, status: str, message: str = "") -> None:
        if _RANK[status] > _RANK[self.status]:
            self.status = status
        if message:
            self.messages.append(message)


def journal_path(state_dir: Path, host: str) -> Path:
    return state_dir / "journal" / f"{host}.jsonl"


@dataclass
class RunRequest:
    """What to run, and how to report it."""

    loaded: LoadedJobs
    job_names: list[str] = field(default_factory=list)
    steps: tuple[str, ...] = STEPS
    dry_run: bool = False
    sink: Sink | None = None
    wait: float | None = None
    now: datetime | None = None
    notify: bool = True
    warn: Callable[[str], None] | None = None
    """Where warnings for the person go (default: stderr), besides the run log."""


@dataclass
class JobOutcome:
    """One job's result: a status per step, and what the archivers and clones did."""

    job: str
    volume: str
    volume_key: str
    status: str = OK
    steps: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    snapshot: str | None = None
    sure: dict[str, Any] | None = None
    clones: list[CloneResult] = field(default_factory=list)
    archives: list[ArchiveResult] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    def mark(self, step: str, status: str, message: str = "") -> None:
        previous = self.steps.get(step, OK)
        self.steps[step] = status if _RANK[status] >= _RANK.get(previous, 0) else previous
        if _RANK[status] > _RANK[self.status]:
            self.status = status
        if message:
            self.messages.append(f"{step}: {message}")

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job, "volume": self.volume, "status": self.status, "steps": self.steps,
            "messages": self.messages, "snapshot": self.snapshot, "sure": self.sure,
            "clones": [c.__dict__ for c in self.clones],
            "archives": [a.record() for a in self.archives],
            "duration": round(self.finished - self.started, 3),
        }


@dataclass
class RunOutcome:
    """The whole run."""

    run_id: str | None
    host: str
    jobs: list[JobOutcome] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        if self.problems or any(j.status == FAILED for j in self.jobs):
            return EXIT_RUNTIME
        if any(j.status == WARNING for j in self.jobs):
            return EXIT_PARTIAL
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id, "host": self.host, "dry_run": self.dry_run,
            "exit_code": self.exit_code, "cleaned": self.cleaned, "problems": self.problems,
            "jobs": [j.to_json() for j in self.jobs],
        }


def parse_steps(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``--step`` values (repeatable, comma-separated) in run order; all when none."""
    chosen: set[str] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            if name not in STEPS:
                raise BadInputError(f"unknown step {name!r} (steps: {', '.join(STEPS)})")
            chosen.add(name)
    return tuple(s for s in STEPS if s in chosen) if chosen else STEPS


class JobRun:
    """One execution of ``hostbook run``."""

    def __init__(self, request: RunRequest) -> None:
        self.request = request
        self.loaded = request.loaded
        self.document = request.loaded.document
        self.sink: Sink = request.sink or PlainSink()
        self.jobs = self.loaded.select(request.job_names)
        if not self.jobs:
            raise BadInputError(f"{self.loaded.path}: no enabled jobs to run")
        self.steps = request.steps
        self.current: tuple[str | None, str | None] = (None, None)
        self.tails: dict[str, deque[str]] = {
            j.name: deque(maxlen=max(50, j.monitor.log_lines if j.monitor else 0))
            for j in self.jobs
        }
        self.outcomes = {j.name: JobOutcome(j.name, j.volume.ident, j.volume.key)
                         for j in self.jobs}
        self.taken: dict[str, Taken] = {}
        self.adopted: list[Resource] = []
        self.outcome = RunOutcome(None, self.loaded.host, dry_run=request.dry_run)
        runner: Runner
        if request.dry_run:
            runner = DryRunRunner(echo=self._echo)
        else:
            runner = LiveRunner(echo=self._echo)
        self.journal = Journal(journal_path(self.loaded.state_dir, self.loaded.host),
                               enabled=not request.dry_run)
        self.ctx = StepContext(
            host=self.loaded.host, runner=runner, journal=self.journal, log=self._log,
            now=request.now or datetime.now(UTC),
            mount_root=Path(self.document.settings.mount_root), announce=self._echo,
            warn=self._warn,
        )
        self.history = History(history_path(self.loaded.state_dir, self.loaded.host))

    # -- reporting -------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        self.sink.emit(event)
        line = time.strftime("%H:%M:%S ", time.localtime(event.time)) + event.text()
        if event.job in self.tails:
            self.tails[event.job].append(line)
        elif event.job is None:
            for tail in self.tails.values():
                tail.append(line)

    def _echo(self, text: str) -> None:
        job, step = self.current
        self._emit(Event("command", job=job, step=step, message=text))

    def _log(self, text: str) -> None:
        job, step = self.current
        self._emit(Event("message", job=job, step=step, message=text))

    def _warn(self, text: str) -> None:
        """A warning goes to the log and, whatever the output format, to stderr."""
        self._log(text)
        if self.request.warn is not None:
            self.request.warn(text)
        else:
            print(text, file=sys.stderr)

    def _progress(self, fraction: float | None, text: str) -> None:
        job, step = self.current
        self.sink.progress(job, step or "", fraction, text)

    @contextlib.contextmanager
    def _step(self, job: Job, step: str, **data: Any) -> Iterator[StepState]:
        """Announce a step, time it, and turn an error into a failed step."""
        state = StepState(self.outcomes[job.name])
        self.current = (job.name, step)
        self._emit(Event("step-start", job=job.name, volume=job.volume.ident, step=step,
                         data=data))
        started = time.monotonic()
        try:
            yield state
        except Interrupted as exc:
            state.mark(FAILED, str(exc))
            raise  # the run stops here; unsnap still runs
        except HostbookError as exc:
            state.mark(FAILED, str(exc))
        except OSError as exc:  # a store or destination that cannot be written
            state.mark(FAILED, f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        finally:
            state.outcome.mark(step, state.status, "; ".join(state.messages))
            self._emit(Event(
                "step-end", job=job.name, volume=job.volume.ident, step=step,
                status=state.status, message="; ".join(state.messages),
                data={**data, "duration": round(time.monotonic() - started, 3)},
            ))
            self.current = (None, None)

    def _skip(self, job: Job, step: str, why: str) -> None:
        self.outcomes[job.name].steps[step] = SKIPPED
        self._emit(Event("step-end", job=job.name, volume=job.volume.ident, step=step,
                         status=SKIPPED, message=why))

    # -- the run ---------------------------------------------------------------------

    def run(self) -> RunOutcome:
        wait = self.request.wait
        if wait is None:
            wait = float(parse_duration(self.document.settings.lock_wait))
        lock = (
            contextlib.nullcontext()
            if self.request.dry_run
            else host_lock(self.loaded.state_dir, self.loaded.host, wait)
        )
        with lock, self._sigterm():
            self._emit(Event("run-start", message=f"{self.loaded.host}: "
                             f"{', '.join(j.name for j in self.jobs)} "
                             f"({', '.join(self.steps)})"
                             + (" [dry run]" if self.request.dry_run else "")))
            self._cleanup()
            self.outcome.run_id = self.journal.begin(
                list(self.steps), [j.name for j in self.jobs]
            )
            self._notify_start()
            try:
                if "snap" in self.steps:
                    self._snap_phase()
                else:
                    self._adopt()
                for job in self.jobs:
                    self._job_steps(job)
            except Interrupted as exc:
                self.outcome.problems.append(str(exc))
                self._log(str(exc))
                for outcome in self.outcomes.values():
                    if outcome.status != FAILED:
                        outcome.mark("run", FAILED, "interrupted before it finished")
            finally:
                if "unsnap" in self.steps:
                    self._unsnap_phase()
                self.journal.end()
                now = time.time()
                for outcome in self.outcomes.values():
                    outcome.finished = now
            self._record()
            self._notify_end()
        self.outcome.jobs = list(self.outcomes.values())
        failed = sum(1 for j in self.outcome.jobs if j.status == FAILED)
        warned = sum(1 for j in self.outcome.jobs if j.status == WARNING)
        summary = f"{len(self.jobs)} job(s): {failed} failed, {warned} with warnings"
        status = FAILED if failed or self.outcome.problems else (WARNING if warned else OK)
        self._emit(Event("run-end", status=status, message=summary,
                         data={"exit_code": self.outcome.exit_code}))
        self.sink.close()
        return self.outcome

    @contextlib.contextmanager
    def _sigterm(self) -> Iterator[None]:
        """SIGTERM (systemd stop, a timeout) raises, so unsnap still runs."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        fired: list[int] = []

        def handler(signum: int, frame: FrameType | None) -> None:
            if fired:
                return  # already stopping: let unsnap finish
            fired.append(signum)
            raise Interrupted("terminated (SIGTERM): snapshots removed, run stopped")

        previous = signal.signal(signal.SIGTERM, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _undo(self, resource: Resource, why: str) -> str | None:
        """Undo one resource and say so; what was done, or None when it could not be."""
        problem = snapshots.undo(self.ctx.runner, resource)
        if isinstance(problem, str):
            self.outcome.problems.append(f"{resource.describe()}: {problem}")
            self._log(f"{why}: could not remove {resource.describe()}: {problem}")
            return None
        self.journal.removed(resource)
        if problem is not None:
            self._log(f"{why}: {problem.note}")
            return problem.note
        if resource.kind != TAKEN:
            self._log(f"{why}: removed {resource.describe()}")
        return resource.describe()

    def _cleanup(self) -> None:
        """Undo what interrupted runs left; adopt or replace what ``--step`` runs kept."""
        if self.request.dry_run:
            holder = running_holder(self.loaded.state_dir, self.loaded.host)
            if holder is not None:
                self._log(f"another run is in progress ({holder}): its snapshots are not "
                          "leftovers, and a real run would wait for it")
                return
        state = self.journal.state()
        volumes = {j.volume.key for j in self.jobs}
        leftovers = [r for r in state.resources
                     if not r.run_finished or snapshots.is_debris(r.kind)]
        kept = [r for r in state.resources if r.run_finished and r.volume in volumes
                and not snapshots.is_debris(r.kind)]
        if "snap" in self.steps:
            leftovers += kept  # this run takes fresh snapshots of these volumes
        else:
            self.adopted = kept
        if not leftovers:
            return
        order = {r.id: i for i, r in enumerate(state.resources)}
        for resource in sorted(leftovers, key=lambda r: order[r.id], reverse=True):
            why = "leftover of interrupted run " + resource.run
            if resource.run_finished and not snapshots.is_debris(resource.kind):
                why = "snapshot kept by run " + resource.run
            done = self._undo(resource, why)
            if done is not None and resource.kind != TAKEN:
                self.outcome.cleaned.append(f"{done} (run {resource.run})")

    def _snap_phase(self) -> None:
        by_volume: dict[str, list[Job]] = {}
        for job in self.jobs:
            by_volume.setdefault(job.volume.key, []).append(job)
        for key, jobs in by_volume.items():
            first = jobs[0]
            with self._step(first, "snap", provider=first.provider) as st:
                mark = len(self.journal.opened)
                try:
                    taken = snapshots.take(self.ctx, first)
                except HostbookError:
                    # A half-made snapshot (created but not mounted) is undone now.
                    for resource in reversed(self.journal.opened[mark:]):
                        self._undo(resource, "failed snapshot")
                    raise
                self.taken[key] = taken
                st.outcome.snapshot = taken.snapshot
            for other in jobs[1:]:
                self.outcomes[other.name].snapshot = taken.snapshot if key in self.taken else None
                if key in self.taken:
                    self.outcomes[other.name].steps["snap"] = OK
                    self._emit(Event("step-end", job=other.name, volume=other.volume.ident,
                                     step="snap", status=OK,
                                     message=f"shares the snapshot taken for {first.name}"))
                else:
                    self.outcomes[other.name].mark(
                        "snap", FAILED, f"{first.name}'s snapshot failed"
                    )

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
                    self._skip(job, step, "no snapshot (snap failed)")
                else:
                    with self._step(job, step) as st:
                        st.mark(FAILED, f"no snapshot of {job.volume.ident} is mounted "
                                "(run --step snap first)")
                continue
            if step == "sure":
                self._sure(job, taken)
            elif step == "clone":
                self._clone(job, taken)
            else:
                self._archive(job, taken)

    # -- steps -----------------------------------------------------------------------

    def _sure(self, job: Job, taken: Taken) -> None:
        if not job.sure.enabled:
            self._skip(job, "sure", "disabled")
            return
        shared = next(
            (o for o in self.outcomes.values()
             if o.volume_key == job.volume.key and o.sure is not None and o.job != job.name),
            None,
        )
        if shared is not None:
            self.outcomes[job.name].sure = shared.sure
            self._skip(job, "sure", f"recorded by {shared.job} for this snapshot")
            return
        store = self.loaded.sure_store / taken.volume_key
        previous = sure_db.latest(store)
        output = store / f"{self.ctx.stamp}{sure_db.SUFFIX}"
        with self._step(job, "sure") as st:
            if self.ctx.dry_run:
                self._log(f"would record {taken.path} into {output}"
                          + (f" (reusing hashes from {previous.name})" if previous else ""))
                st.outcome.sure = {"database": str(output)}
                return
            if self.loaded.sure_in_manifest:
                private_dir(self.loaded.sure_store)
                write_new(self.loaded.sure_store / ".gitignore", GITIGNORE.encode())
            private_dir(store, tighten=True)

            def progress(walked: int, to_hash: int, hashed: int) -> None:
                if to_hash:
                    self._progress(hashed / to_hash, f"hashing {hashed}/{to_hash}")
                else:
                    self._progress(None, f"{walked} entries")

            stats = sure.update(
                taken.path, output, previous, exclude=[*job.sure.exclude, *taken.excludes],
                progress=progress, label=taken.path,
            )
            info: dict[str, Any] = {
                "database": str(output), "entries": stats.entries, "files": stats.files,
                "hashed": stats.hashed, "reused": stats.reused,
                "seconds": round(stats.seconds, 3),
            }
            if taken.writable and job.sure.in_snapshot:
                inside = Path(taken.writable) / sure.IN_TREE_DIR
                inside.mkdir(exist_ok=True, mode=0o700)
                replace_private(inside / f"{taken.volume_key}{sure_db.SUFFIX}",
                                [output.read_bytes()])
                info["in_snapshot"] = str(inside / f"{taken.volume_key}{sure_db.SUFFIX}")
            sure_db.prune(store, job.sure.keep)
            st.outcome.sure = info
            if stats.previous_error:
                st.mark(WARNING, f"previous database unusable ({stats.previous_error}): "
                        "every file was hashed")
            if stats.unreadable:
                st.mark(WARNING, f"{len(stats.unreadable)} file(s) unreadable, "
                        f"e.g. {stats.unreadable[0]}")
            elif not stats.previous_error:
                st.mark(OK, f"{stats.entries} entries, {stats.hashed} hashed, "
                        f"{stats.reused} reused")

    def _clone(self, job: Job, taken: Taken) -> None:
        if not job.clone:
            self._skip(job, "clone", "no clone targets")
            return
        with self._step(job, "clone", targets=list(job.clone)) as st:
            results = clone(self.ctx, job, taken, self.document, self._progress)
            st.outcome.clones.extend(results)
            for result in results:
                status = OK if result.status == "ok" else FAILED
                st.mark(status, f"{result.target}: {result.message}")

    def _archive(self, job: Job, taken: Taken) -> None:
        if not job.archive:
            self._skip(job, "archive", "no archivers")
            return
        for spec in job.archive:
            with self._step(job, "archive", archiver=spec.label, tool=spec.tool) as st:
                request = ArchiveRequest(
                    ctx=self.ctx, job=job.name, volume=job.volume.ident,
                    volume_key=job.volume.key, source=taken.path, snapshot=taken.snapshot,
                    excludes=list(taken.excludes),
                    successes=self.history.successes(job.name, job.volume.key, spec.label),
                    progress=self._progress,
                )
                started = time.time()
                try:
                    result = _dispatch(request, spec)
                except HostbookError as exc:
                    result = ArchiveResult(spec.label, spec.tool, FAILED, _location(spec),
                                           message=str(exc))
                result.extra.setdefault("started", started)
                st.outcome.archives.append(result)
                where = f"{result.location} {result.archive_id or ''}".strip()
                text = result.message or (f"{where}" + (
                    f", {result.bytes} bytes" if result.bytes is not None else ""))
                st.mark(result.status, f"{spec.label}: {text}")

    def _unsnap_phase(self) -> None:
        """Undo this run's (and adopted) resources per volume, newest first."""
        resources = [r for r in self.journal.opened if not self._deferred(r)]
        volumes = list(dict.fromkeys(r.volume for r in resources))
        for key in reversed(volumes):
            job = next((j for j in self.jobs if j.volume.key == key), None)
            mine = [r for r in resources if r.volume == key]
            if job is None:
                for resource in reversed(mine):
                    self._undo(resource, "unsnap")
                continue
            with self._step(job, "unsnap") as st:
                taken = self.taken.get(key)
                problem = snapshots.verify(self.ctx, taken) if taken else None
                if problem is not None:
                    # What was read from it is not the volume: the archives are not trusted.
                    for other in self.jobs:
                        if other.volume.key == key:
                            self.outcomes[other.name].mark("snap", FAILED, problem)
                    st.mark(FAILED, problem)
                for resource in reversed(mine):
                    if self._undo(resource, "unsnap") is None:
                        st.mark(FAILED, f"could not remove {resource.describe()}")

    def _deferred(self, resource: Resource) -> bool:
        """A stopped tool's lock: left in the journal for the next run (which says so)."""
        if not snapshots.is_deferred(resource.kind):
            return False
        self._log(f"{resource.describe()}: the tool was stopped; the next run removes its "
                  "lock if it left one")
        return True

    # -- history and monitoring --------------------------------------------------------

    def _record(self) -> None:
        if self.request.dry_run:
            return
        run_id = self.outcome.run_id or "-"
        for job in self.jobs:
            outcome = self.outcomes[job.name]
            end = time.time()
            if not outcome.archives:
                self.history.append(Outcome(
                    run=run_id, job=job.name, volume=job.volume.ident,
                    volume_key=job.volume.key, status=outcome.status, started=outcome.started,
                    finished=end, snapshot=outcome.snapshot,
                    message="; ".join(outcome.messages[-3:]),
                ))
                continue
            for result in outcome.archives:
                self.history.append(Outcome(
                    run=run_id, job=job.name, volume=job.volume.ident,
                    volume_key=job.volume.key, status=result.status,
                    started=float(result.extra.get("started", outcome.started)), finished=end,
                    snapshot=outcome.snapshot, archiver=result.archiver, tool=result.tool,
                    location=result.location, archive_id=result.archive_id,
                    bytes=result.bytes, added=result.added, message=result.message,
                    extra={k: v for k, v in result.extra.items() if k != "started"},
                ))
        self.history.compact()

    def _notify_start(self) -> None:
        if self.request.dry_run or not self.request.notify:
            return
        for job in self.jobs:
            if job.monitor is not None:
                problem = monitor.ping(job.monitor.url, "start", timeout=job.monitor.timeout,
                                       run_id=_rid(self.outcome.run_id))
                if problem:
                    self._log(f"warning: {problem}")

    def _notify_end(self) -> None:
        if self.request.dry_run or not self.request.notify:
            return
        for job in self.jobs:
            if job.monitor is None:
                continue
            outcome = self.outcomes[job.name]
            kind = "fail" if outcome.status == FAILED else "success"
            lines = list(self.tails[job.name])[-job.monitor.log_lines:]
            body = (f"{job.name} on {self.loaded.host}: {outcome.status}\n" + "\n".join(lines)
                    + "\n")
            problem = monitor.ping(job.monitor.url, kind, body, timeout=job.monitor.timeout,
                                   run_id=_rid(self.outcome.run_id))
            if problem:
                self.sink.emit(Event("message", job=job.name, message=f"warning: {problem}"))


def _rid(run_id: str | None) -> str | None:
    """healthchecks wants a UUID as ``rid``: derive a stable one from the run id."""
    if not run_id:
        return None
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hostbook-run:{run_id}"))


def _location(spec: Any) -> str:
    return str(getattr(spec, "repository", None) or getattr(spec, "destination", ""))


def _dispatch(request: ArchiveRequest, spec: Any) -> ArchiveResult:
    if isinstance(spec, ResticArchive):
        return archive_restic.archive(request, spec)
    if isinstance(spec, BorgArchive):
        return archive_borg.archive(request, spec)
    if isinstance(spec, XfsdumpArchive):
        return archive_xfsdump.archive(request, spec)
    if isinstance(spec, TarArchive):
        return archive_tar.archive(request, spec)
    raise RuntimeFailure(f"no archiver for {type(spec).__name__}")


def run_jobs(request: RunRequest) -> RunOutcome:
    """Run the selected jobs; see the module docstring for the order of things."""
    return JobRun(request).run()
