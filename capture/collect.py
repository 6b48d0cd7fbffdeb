"""Run the probes of the requested sections and build validated documents.

The result is plain data in the model's field order: the same host captured
live or from a recording produces the same documents, byte for byte once
written.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from hostbook.capture.catalog import section_probes
from hostbook.capture.probe import ProbeContext
from hostbook.capture.probes.system import collect as collect_system
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.registry import CAPTURED_SECTIONS, section_model
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.process.runner import Runner


@dataclass
class Collected:
    """Documents captured in one run, with the warnings met along the way."""

    hostname: str | None
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return any(doc.get("incomplete") for doc in self.documents.values())

    def not_captured(self) -> list[str]:
        """``section: part (reason)`` for every part a section could not capture."""
        return [
            f"{section}: {item.get('part')} ({item.get('reason')})"
            for section, doc in self.documents.items()
            for item in doc.get("incomplete") or [] if isinstance(item, dict)
        ]


def parse_sections(only: str | Iterable[str] | None) -> list[str]:
    """Turn ``--only packages,checkouts`` into a checked list of captured sections."""
    if only is None:
        return list(CAPTURED_SECTIONS)
    names = only.split(",") if isinstance(only, str) else list(only)
    chosen = [n.strip() for n in names if n.strip()]
    unknown = [n for n in chosen if n not in CAPTURED_SECTIONS]
    if unknown or not chosen:
        raise BadInputError(
            f"--only: unknown section(s) {', '.join(unknown) or '(none given)'}; "
            f"captured sections are {', '.join(CAPTURED_SECTIONS)}"
        )
    return [n for n in CAPTURED_SECTIONS if n in chosen]


def collect_sections(
    runner: Runner,
    config: ConfigDocument,
    sections: Iterable[str],
    options: dict[str, Any] | None = None,
) -> Collected:
    """Run every probe of ``sections``; a crashing probe marks its part incomplete."""
    ctx = ProbeContext(runner=runner, config=config, options=dict(options or {}))
    wanted = list(sections)
    documents: dict[str, dict[str, Any]] = {}
    for section in wanted:
        ctx.section = section
        model = section_model(section)
        doc: dict[str, Any] = {"schema": model.schema_string()}
        for probe in section_probes(section):
            try:
                probe.collect(ctx, doc)
            except Exception as exc:  # a probe bug must not lose the other layers
                where = traceback.extract_tb(exc.__traceback__)[-1]
                ctx.mark_incomplete(
                    probe.name,
                    f"probe failed: {type(exc).__name__}: {exc} "
                    f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno})",
                )
        doc["incomplete"] = sorted(
            ctx.incomplete.get(section, []), key=lambda e: (e["part"], e["reason"])
        )
        documents[section] = _canonical(model, doc, ctx)
    hostname = documents.get("system", {}).get("hostname")
    if hostname is None:
        probe_doc: dict[str, Any] = {}
        quiet = ProbeContext(runner=runner, config=config)
        collect_system(quiet, probe_doc)
        hostname = probe_doc.get("hostname")
    return Collected(hostname=hostname, documents=documents, warnings=ctx.warnings)


def _canonical(model: Any, doc: dict[str, Any], ctx: ProbeContext) -> dict[str, Any]:
    """Validate against the section model and return plain data in field order."""
    try:
        plain = dict(model.model_validate(doc).to_plain())
    except ValidationError as exc:
        # A probe produced something the model rejects: a bug, reported loudly
        # but without losing the section's schema line.
        first = exc.errors()[0]
        ctx.mark_incomplete(
            "validation", f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        )
        plain = {"schema": doc["schema"], "incomplete": ctx.incomplete[ctx.section]}
    if not plain.get("incomplete"):
        plain.pop("incomplete", None)
    return plain
