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


PLAN_TRIXIE = FIXTURES / "reinstall-plan-trixie"
PLAN_BOOKWORM = FIXTURES / "reinstall-plan-bookworm"
VOLUMES = {"etc": "/etc", "home": "/home", "cron": "/var/spool/cron"}
"""The archived volumes the planning recordings assume (a jobs.yaml archiving these)."""


def old_host() -> Any:
    """The personalised Debian 12 tree's sections, as the reinstall reads them."""
    from hostbook.restore.reinstall.plan import OldHost

    docs = {s: section_model(s).model_validate(replay_section(OLD_TREE, s)[0])
            for s in ("system", "packages", "accounts", "etc", "services")}
    return OldHost("old", docs["system"].os.codename, docs["packages"], docs["accounts"],
                   docs["etc"], docs["services"], None, volumes=dict(VOLUMES), data=["home"])
