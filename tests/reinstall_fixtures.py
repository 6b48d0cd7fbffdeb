"""Replaying the reinstall sections' recordings (tests/fixtures/reinstall-*)."""

from __future__ import annotations

import json
from typing import Any

from hostbook.capture.catalog import section_probes
from hostbook.capture.probe import ProbeContext
from hostbook.manifest.registry import section_model
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.process.recording import ReplayRunner
from tests.paths import FIXTURES

OLD_TREE = FIXTURES / "reinstall-old-tree"
BUILDHOST = FIXTURES / "reinstall-buildhost"


def replay_section(folder: Any, section: str) -> tuple[dict[str, Any], ProbeContext]:
    """The section document the probes make from a recording, validated by its model."""
    options = json.loads((folder / "capture.json").read_text())["options"]
    config = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
    ctx = ProbeContext(runner=ReplayRunner(folder), config=config, section=section,
                       options=options)
    model = section_model(section)
    doc: dict[str, Any] = {"schema": model.schema_string()}
    for probe in section_probes(section):
        probe.collect(ctx, doc)
    model.model_validate(doc)
    return doc, ctx
