"""The rebuild as one journaled unit: preflight, layout, data, keys, boot, verify, release.

Each phase is the command of its own name run as a library call, with its
own journal (``restore apply``'s per step, ``restore data``'s per volume, the
boot phase's), so a rebuild killed anywhere continues when the same command
runs again: the layout skips every step whose result is on the devices and
opens, assembles and mounts again what a reboot closed; the data phase skips
every volume already verified; the boot phase, once its checks passed, is
skipped.  The rebuild journal (``<state>/restore/<host>@rebuild.journal``)
records each phase's start and end under a fingerprint of the request (host,
map, target, revision spec), so a run with other arguments starts over.

Preflight refuses before any disk is touched: this system's tools and
firmware (:mod:`hostbook.restore.doctor`), the layout plan (sizes, busy
disks, clashing identities), the data restore's own preflight (every
repository reachable with its password, the archives there) and the boot
phase's firmware rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.manifest.errors import EXIT_BAD_INPUT, EXIT_OK, RuntimeFailure
from hostbook.manifest.paths import default_state_dir
from hostbook.process.runner import Runner
from hostbook.restore.apply.apply_journal import Journal
from hostbook.restore.apply.executor import apply_steps
from hostbook.restore.apply.passphrases import PassphraseSource
from hostbook.restore.boot.session import PreparedBoot, apply_boot, prepare_boot
from hostbook.restore.data.session import DataOutcome, DataRequest, restore_data
from hostbook.restore.doctor.check import diagnose
from hostbook.restore.doctor.host import host_jobs
from hostbook.restore.plan.steps import Step
from hostbook.restore.session import Prepared, prepare, verify

Say = Callable[[str], None]
PHASES = ("preflight", "layout", "data", "keys", "boot", "verify", "release")


@dataclass
class RebuildRequest:
    repository: Path
    host: str
    maps: Sequence[str] = ()
    target: str | None = None
    at: str | None = None
    passphrase_file: Path | None = None
    passphrase_command: str | None = None
    no_nvram: bool = False
    new_identities: bool = False
    state_dir: Path | None = None
    data_state_dir: Path | None = None
    """``restore data --state-dir`` (default: jobs.yaml's)."""

    def fingerprint(self) -> str:
        basis = {"host": self.host, "maps": list(self.maps), "target": self.target,
                 "at": self.at, "no_nvram": self.no_nvram,
                 "new_identities": self.new_identities}
        return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RebuildOutcome:
    refusals: list[str] = field(default_factory=list)
    phases: dict[str, str] = field(default_factory=dict)
    """Phase -> ran / skipped (done before) / failed."""
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data: DataOutcome | None = None
    differences: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.refusals:
            return EXIT_BAD_INPUT
        if self.data is not None and self.data.exit_code != EXIT_OK:
            return self.data.exit_code
        return 1 if self.differences else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {"refusals": self.refusals, "phases": self.phases,
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
                "notes": self.notes, "differences": self.differences,
                "data": self.data.to_json() if self.data else None,
                "exit_code": self.exit_code}


def split_key_steps(steps: Sequence[Step]) -> tuple[list[Step], list[Step]]:
    """The layout's steps without its key files, and the key-file steps for after the data.

    ``restore apply`` alone writes a new random key where crypttab expects one
    (its content was never recorded).  In a rebuild the data phase brings the
    host's own key file back into that very place (and would find the volume not
    empty), so the key steps wait until after it: the file is there then, and the
    enrolment makes the restored key open the rebuilt container, which is what
    the restored initramfs and crypttab expect; only a key file the archives did
    not hold is made new.
    """
    return ([s for s in steps if s.layer != "keyfile"], [s for s in steps if s.layer == "keyfile"])


def rebuild_journal(host: str, state_dir: Path | None = None) -> Journal:
    return Journal((state_dir or default_state_dir()) / "restore" / f"{host}@rebuild.journal")


@dataclass
class Preflight:
    layout: Prepared
    refusals: list[str]
    notes: list[str]
    data_commands: list[str]
    boot: PreparedBoot


def preflight(system: Runner, request: RebuildRequest) -> Preflight:
    """Everything checked before a disk is touched; nothing is written."""
    layout = prepare(system, request.repository, request.host, request.maps, request.target,
                     state_dir=request.state_dir, new_identities=request.new_identities)
    storage = layout.documents.storage
    jobs = host_jobs(request.repository, request.host)
    refusals = list(layout.plan.refusals)
    diagnosis = diagnose(system, storage, jobs, None, request.no_nvram)
    refusals += diagnosis.problems
    notes = list(diagnosis.notes)
    commands: list[str] = []
    if jobs is not None:
        checked = restore_data(_data_request(request, layout, dry_run=True), say=commands.append)
        refusals += checked.preflight.refusals
        notes += checked.preflight.notes
    else:
        notes.append("no jobs.yaml: the data phase has nothing to restore")
    boot = prepare_boot(system, layout.plan, storage, no_nvram=request.no_nvram,
                        state_dir=request.state_dir, restored=False)
    refusals += [r for r in boot.plan.refusals if r not in refusals]
    return Preflight(layout, list(dict.fromkeys(refusals)), notes, commands, boot)


def _data_request(request: RebuildRequest, layout: Prepared, dry_run: bool) -> DataRequest:
    return DataRequest(repository=request.repository, host=request.host,
                       target=layout.plan.target_root, at=request.at, dry_run=dry_run,
                       state_dir=request.data_state_dir)


class Rebuild:
    """One run of the phases (see the module docstring)."""

    def __init__(self, system: Runner, request: RebuildRequest, say: Say) -> None:
        self.system, self.request, self.say = system, request, say
        self.journal = rebuild_journal(request.host, request.state_dir)
        self.fingerprint = request.fingerprint()
        self.outcome = RebuildOutcome()

    def done_before(self, phase: str) -> bool:
        return self.journal.finished().get(phase) == self.fingerprint

    def phase(self, name: str, work: Callable[[], None], skippable: bool = False) -> None:
        import time

        if skippable and self.done_before(name):
            self.outcome.phases[name] = "skipped"
            self.say(f"== {name}: done in an earlier run, skipped")
            return
        self.say(f"== {name}")
        self.journal.record(name, self.fingerprint, "started")
        began = time.monotonic()
        try:
            work()
        except BaseException as exc:
            self.journal.record(name, self.fingerprint, "failed", str(exc)[:500])
            self.outcome.phases[name] = "failed"
            raise
        self.outcome.seconds[name] = time.monotonic() - began
        self.journal.record(name, self.fingerprint, "done")
        self.outcome.phases[name] = "ran"


def rebuild(system: Runner, request: RebuildRequest, checked: Preflight,
            say: Say | None = None) -> RebuildOutcome:
    """Run the phases after a preflight without refusals (the CLI asks in between)."""
    tell = say or (lambda text: None)
    run = Rebuild(system, request, tell)
    outcome = run.outcome
    outcome.notes = checked.notes
    if checked.refusals:
        outcome.refusals = checked.refusals
        return outcome
    run.journal.record("preflight", run.fingerprint, "done")
    outcome.phases["preflight"] = "ran"
    passphrases = PassphraseSource(request.passphrase_file, request.passphrase_command,
                                   interactive=True)
    layout = checked.layout

    def progress(kind: str, step: Any, index: int, total: int) -> None:
        tell(f"[{index}/{total}] {'skip: ' if kind != 'run' else ''}{step.summary}")

    layout_steps, key_steps = split_key_steps(layout.plan.steps)

    def do_layout() -> None:
        result = apply_steps(layout_steps, layout.plan.guard, layout.journal, system,
                             passphrases, progress)
        tell(f"layout: {len(result.ran)} step(s) run, {len(result.skipped)} skipped")

    def do_keys() -> None:
        result = apply_steps(key_steps, layout.plan.guard, layout.journal, system,
                             passphrases, progress)
        tell(f"keys: {len(result.ran)} step(s) run, {len(result.skipped)} skipped")

    def do_data() -> None:
        data = restore_data(_data_request(request, layout, dry_run=False), say=tell)
        outcome.data = data
        if data.exit_code != EXIT_OK:
            bad = [f"{v.plan.key}: {v.status} {v.message}" for v in data.volumes
                   if v.status not in ("verified", "done-before")]
            raise RuntimeFailure("the data phase did not verify: " + "; ".join(
                bad + data.preflight.refusals))

    def do_boot() -> None:
        boot = prepare_boot(system, layout.plan, layout.documents.storage,
                            no_nvram=request.no_nvram, state_dir=request.state_dir)
        for note in boot.plan.notes:
            tell(f"note: {note}")
        result = apply_boot(boot, system, progress)
        tell(f"boot: {len(result.ran)} step(s) run; every check passed")

    def do_verify() -> None:
        _plan, report = verify(system, request.repository, request.host, request.maps,
                               request.target)
        outcome.differences = [d.describe() for d in report.differences]
        tell(f"verify: {report.checked} entries and {report.mounts_checked} mounts checked, "
             f"{len(report.differences)} difference(s)")

    def do_release() -> None:
        target = layout.plan.target_root
        result = system.command(["umount", "-R", target], timeout=300.0)
        if not result.ok:
            raise RuntimeFailure(f"umount -R {target}: {result.failure()}")
        system.command(["sync"], timeout=300.0)

    run.phase("layout", do_layout)
    run.phase("data", do_data)
    if key_steps:
        run.phase("keys", do_keys)
    run.phase("boot", do_boot, skippable=True)
    run.phase("verify", do_verify)
    if outcome.differences:
        return outcome
    run.phase("release", do_release)
    return outcome
