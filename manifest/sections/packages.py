"""The `packages` section (captured)."""

from __future__ import annotations

from hostbook.manifest.model import SectionDocument


class PackagesDocument(SectionDocument):
    """hosts/<host>/packages.yaml."""

    SECTION = "packages"
