"""The `restore` section (written by people, never by capture)."""

from __future__ import annotations

from hostbook.manifest.model import SectionDocument


class RestoreDocument(SectionDocument):
    """hosts/<host>/restore.yaml."""

    SECTION = "restore"
    CAPTURED = False
