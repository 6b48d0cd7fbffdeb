"""Capture a host into a manifest repository: collect, merge, write, commit.

Everything is prepared in memory first (every existing file parsed and
validated, every merge done) before the first byte is written, so a broken
file stops the capture with nothing half-written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostbook.capture.collect import Collected, collect_sections
from hostbook.capture.redact import mask_credentials
from hostbook.manifest.diff import SectionDiff, commit_message, diff_sections
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.merge import merge_document, to_plain
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.store import ManifestRepository
from hostbook.manifest.validate import validate_document
from hostbook.manifest.yamlio import atomic_write_text, dump_text, parse_text
from hostbook.process.runner import LiveRunner, Runner


@dataclass
class CaptureRequest:
    """What `hostbook capture` was asked to do."""

    repository: Path
    sections: list[str]
    config: ConfigDocument
    host: str | None = None
    commit: bool = True
    push: bool = False
    push_if_remote: bool = False
    """Push only when the repository has a remote (the capture timer's setting)."""
    record: Path | None = None
    replay: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class CaptureOutcome:
    """What happened: which files changed, the commit, and the warnings."""

    host: str
    repository: Path
    written: list[str]
    diffs: list[SectionDiff]
    commit: str | None
    pushed_to: str | None
    warnings: list[str]
    partial: bool
    recording: Path | None = None
    commands_run: int = 0
    sections: list[str] = field(default_factory=list)
    """The sections captured (each file written or already up to date)."""
    not_captured: list[str] = field(default_factory=list)
    """``section: part (reason)`` for each part that could not be captured."""


def make_runner(request: CaptureRequest) -> Runner:
    """Live, recording or replaying runner, as the request asks."""
    if request.replay is not None and request.record is not None:
        raise BadInputError("--record and --replay cannot be combined")
    # The recording module is imported only when a recording is made or replayed.
    if request.replay is not None:
        from hostbook.process.recording import ReplayRunner

        return ReplayRunner(request.replay)
    live = LiveRunner()
    if request.record is not None:
        from hostbook.process.recording import RecordingRunner

        request.record.mkdir(parents=True, exist_ok=True)
        # Recordings become shared test fixtures: every URL's credentials are masked.
        return RecordingRunner(live, request.record, scrub=mask_credentials)
    return live


def capture(request: CaptureRequest) -> CaptureOutcome:
    """Run a capture end to end and return what changed."""
    runner = make_runner(request)
    collected = collect_sections(runner, request.config, request.sections, request.options)
    recording = None
    if request.record is not None:
        from hostbook.process.recording import RecordingRunner

        recording = runner.save() if isinstance(runner, RecordingRunner) else None
    host = request.host or collected.hostname
    if not host:
        raise BadInputError("cannot tell the host name: pass --host NAME")
    repo = ManifestRepository.open(request.repository, create=True)
    with repo.lock():
        written, diffs = write_documents(repo, host, collected)
        # Commit the captured files whenever they differ from the last commit
        # (which also picks up those an earlier --no-commit run left); files
        # people write (jobs.yaml, restore.yaml) are committed only on purpose.
        captured = [repo.section_path(host, s).name for s in collected.documents]
        sha = (repo.commit_host(host, commit_message(diffs), captured)
               if request.commit else None)
        wants_push = request.push or (request.push_if_remote and bool(repo.remotes()))
        pushed = repo.push() if wants_push else None
        by_hand = repo.uncommitted(host, captured)
    stats = getattr(runner, "stats", None)
    return CaptureOutcome(
        host=host,
        repository=repo.path,
        written=written,
        diffs=[d for d in diffs if d.changes],
        commit=sha,
        pushed_to=pushed,
        warnings=collected.warnings + [
            f"{path} is not committed (capture commits only what it captured): "
            f"hostbook commit {host}" for path in by_hand],
        partial=collected.partial,
        recording=recording,
        commands_run=stats.commands if stats else 0,
        sections=list(collected.documents),
        not_captured=collected.not_captured(),
    )


def write_documents(
    repo: ManifestRepository, host: str, collected: Collected
) -> tuple[list[str], list[SectionDiff]]:
    """Merge each captured document into its file; write only changed bytes."""
    prepared: list[tuple[Path, str, SectionDiff]] = []
    for section, document in collected.documents.items():
        path = repo.section_path(host, section)
        old_raw = repo.read_raw(host, section)
        if old_raw is not None:
            validate_document(old_raw, str(path), section)
        merged = merge_document(old_raw, document)
        text = dump_text(merged)
        diff = diff_sections(section, _committed(repo, host, section), document)
        prepared.append((path, text, diff))
    written = []
    for path, text, _ in prepared:
        if atomic_write_text(path, text):
            written.append(path.name)
    return written, [diff for _, _, diff in prepared]


def _committed(repo: ManifestRepository, host: str, section: str) -> dict[str, Any] | None:
    """The section as last committed: the base a commit message describes."""
    text = repo.committed_text(host, section)
    if text is None:
        return None
    try:
        data = parse_text(text, section)
    except BadInputError:
        return None
    return to_plain(data) if isinstance(data, dict) else None
