"""The `jobs` section (written by people, never by capture)."""

from __future__ import annotations

from hostbook.manifest.model import SectionDocument


class JobsDocument(SectionDocument):
    """hosts/<host>/jobs.yaml."""

    SECTION = "jobs"
    CAPTURED = False
