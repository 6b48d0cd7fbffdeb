"""What a probe is, and the context it runs in.

A probe collects one layer of the host (the OS identity, md arrays, apt
packages, ...) into part of a section document.  Probes are read-only and
tolerant: a missing tool or a failing command marks that part of the section
incomplete and the capture goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hostbook.capture.redact import mask_credentials
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.process.confine import Confinement
from hostbook.process.masking import Masker
from hostbook.process.result import CommandResult
from hostbook.process.runner import QUERY_TIMEOUT, Runner

Collector = Callable[["ProbeContext", dict[str, Any]], None]


@dataclass(frozen=True)
class Probe:
    """One layer's collector.

    ``commands`` lists the tools it may run, for documentation, `hostbook
    capture --check` style diagnostics and packaging dependencies.  ``collect``
    fills the section document it is given.
    """

    name: str
    section: str
    commands: tuple[str, ...]
    collect: Collector
    description: str = ""


@dataclass
class ProbeContext:
    """Everything a probe may use: the runner, the configuration, a place to complain."""

    runner: Runner
    config: ConfigDocument
    options: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    incomplete: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    section: str = ""

    def mark_incomplete(self, part: str, reason: str, section: str | None = None) -> None:
        """Record that ``part`` of the current section could not be captured.

        The reason often quotes a tool's error message, which may name a URL
        with its credentials; it goes into the manifest, so it is masked.
        """
        name = section or self.section
        entries = self.incomplete.setdefault(name, [])
        entry = {"part": mask_credentials(part), "reason": mask_credentials(reason)}
        if entry not in entries:
            entries.append(entry)
            self.warnings.append(f"{name}: {entry['part']} incomplete: {entry['reason']}")

    def run(self, argv: Sequence[str], timeout: float = QUERY_TIMEOUT) -> CommandResult:
        """Ask the host (probes only ever query: they never change anything)."""
        return self.runner.query(argv, timeout=timeout)

    def run_ok(
        self,
        argv: Sequence[str],
        part: str,
        timeout: float = QUERY_TIMEOUT,
        ok_codes: Sequence[int] = (0,),
        *,
        confine: Confinement | None = None,
        mask: Masker | None = None,
    ) -> CommandResult | None:
        """Run a command; on failure mark ``part`` incomplete and return None.

        ``confine`` and ``mask`` are handed to the runner (see hostbook.process).
        """
        result = self.runner.query(argv, timeout=timeout, confine=confine, mask=mask)
        if result.missing or result.timed_out or result.returncode not in ok_codes:
            self.mark_incomplete(part, result.failure())
            return None
        return result

    def optional(
        self, argv: Sequence[str], timeout: float = QUERY_TIMEOUT
    ) -> CommandResult | None:
        """Run a command whose absence is normal (a package manager not installed)."""
        result = self.runner.query(argv, timeout=timeout)
        return result if result.ok else None
