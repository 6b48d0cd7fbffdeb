"""The `storage` section (captured)."""

from __future__ import annotations

from hostbook.manifest.model import SectionDocument


class StorageDocument(SectionDocument):
    """hosts/<host>/storage.yaml."""

    SECTION = "storage"
