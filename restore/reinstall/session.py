"""One reinstall: read the old host from the manifest repository, plan, apply, report.

The facade ``hostbook reinstall`` calls.  The sections are read from the
repository's working tree, or at a revision (``--at REV``: the files as that
commit has them); the archived volumes and their directories come from
jobs.yaml (and storage.yaml for an LV's mount point), the data volumes to
bring back from restore.yaml's ``reinstall: {data: [...]}``.  Content the
archive holds (changed configuration, crontabs, checkouts with work no remote
has, data volumes) comes back through the data restore
(:func:`hostbook.restore.data.session.restore_data`), verified as it is there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.manifest.errors import EXIT_OK, EXIT_PARTIAL, EXIT_RUNTIME, BadInputError
from hostbook.manifest.paths import default_state_dir
from hostbook.manifest.registry import section_model
from hostbook.manifest.store import ManifestRepository
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import parse_text
from hostbook.process.runner import Runner
from hostbook.restore.apply.apply_journal import Journal
from hostbook.restore.reinstall.apply import ApplyResult, StepFailed, apply_plan
from hostbook.restore.reinstall.plan import SECTIONS, OldHost, ReinstallPlan, plan
from hostbook.restore.reinstall.report import Item

Say = Callable[[str], None]


@dataclass
class ReinstallRequest:
    repository: Path
    host: str
    at: str | None = None
    only: tuple[str, ...] = SECTIONS
    dry_run: bool = False
    root: str = ""
    """the new system's tree when it is not / (tests)."""
    state_dir: Path | None = None


@dataclass
class ReinstallOutcome:
    plan: ReinstallPlan
    items: list[Item]
    applied: ApplyResult | None = None
    failure: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.failure:
            return EXIT_RUNTIME
        return EXIT_PARTIAL if any(i.outcome == "unmapped" for i in self.items) else EXIT_OK


def parse_only(text: str | None) -> tuple[str, ...]:
    if not text:
        return SECTIONS
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise BadInputError(f"--only: unknown section {', '.join(unknown)} "
                            f"(sections: {', '.join(SECTIONS)})")
    return tuple(n for n in SECTIONS if n in names)


def _section(repo: ManifestRepository, host: str, name: str, at: str | None) -> Any:
    if at is None:
        return repo.load(host, name)
    text = repo.committed_text(host, name, at)
    if text is None:
        return None
    label = f"{at}:hosts/{host}/{name}.yaml"
    return validate_as(section_model(name), parse_text(text, label), label)


def load_old_host(request: ReinstallRequest) -> tuple[OldHost, list[str]]:
    """The old host's sections, archived volumes and chosen data; notes on what is missing."""
    from hostbook.jobs.run.jobs_file import load_jobs
    from hostbook.restore.data.mountpoints import mount_point

    repo = ManifestRepository.open(request.repository)
    repo.require_host(request.host)
    docs = {n: _section(repo, request.host, n, request.at)
            for n in ("system", "packages", "accounts", "etc", "services", "checkouts",
                      "storage", "restore")}
    notes = [f"{n}.yaml: not in the repository, nothing of it is carried over"
             for n in ("packages", "accounts", "etc", "services", "checkouts") if docs[n] is None]
    old = OldHost(request.host, docs["system"].os.codename if docs["system"] else None,
                  docs["packages"], docs["accounts"], docs["etc"], docs["services"],
                  docs["checkouts"])
    jobs_path = repo.section_path(request.host, "jobs")
    if jobs_path.exists():
        loaded = load_jobs(request.repository, request.host, None, state_dir=request.state_dir)
        names: dict[str, str] = {}
        for job in loaded.document.jobs:
            if job.enabled and job.archive:
                directory = mount_point(job.volume, docs["storage"])
                if directory:
                    old.volumes[job.volume.key] = directory
                    names[job.name] = names[job.volume.ident] = job.volume.key
        chosen = docs["restore"].reinstall.data if docs["restore"] else []
        old.data = [names.get(v, v) for v in chosen]
    else:
        notes.append("jobs.yaml: none, so no archive holds configuration or data")
    return old, notes


def _data_restorer(request: ReinstallRequest, say: Say
                   ) -> tuple[Callable[[list[str], str], str | None],
                              Callable[[list[str]], str | None]]:
    from hostbook.restore.data.session import DataRequest, restore_data

    def outcome_problem(outcome: Any) -> str | None:
        if outcome.exit_code == EXIT_OK:
            return None
        reasons = list(outcome.preflight.refusals) + [
            f"{v.plan.key}: {v.status} {v.message}".strip() for v in outcome.volumes
            if v.status not in ("verified", "done-before")]
        return "data restore: " + "; ".join(reasons)

    def paths(wanted: list[str], staging: str) -> str | None:
        Path(staging).mkdir(parents=True, exist_ok=True)
        return outcome_problem(restore_data(DataRequest(
            request.repository, request.host, target=staging, paths=wanted, overwrite=True,
            state_dir=request.state_dir), say=say))

    def volumes(keys: list[str]) -> str | None:
        return outcome_problem(restore_data(DataRequest(
            request.repository, request.host, target=request.root or "/", volumes=keys,
            overwrite=True, state_dir=request.state_dir), say=say))

    return paths, volumes


def reinstall(request: ReinstallRequest, runner: Runner, say: Say) -> ReinstallOutcome:
    old, notes = load_old_host(request)
    first = plan(runner, old, request.only, request.root)
    outcome = ReinstallOutcome(first, list(first.items), notes=notes)
    if request.dry_run:
        return outcome
    state = request.state_dir or default_state_dir()
    journal = Journal(state / "restore" / f"{request.host}@reinstall.journal")
    paths, volumes = _data_restorer(request, say)
    try:
        outcome.applied = apply_plan(runner, first, lambda: plan(runner, old, request.only,
                                                                 request.root),
                                     journal, request.root, paths, volumes, say)
        outcome.items = outcome.applied.items
    except StepFailed as exc:
        outcome.failure = str(exc)
    return outcome
