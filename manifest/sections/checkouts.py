"""The `checkouts` section (captured)."""

from __future__ import annotations

from hostbook.manifest.model import SectionDocument


class CheckoutsDocument(SectionDocument):
    """hosts/<host>/checkouts.yaml."""

    SECTION = "checkouts"
