"""The `system` section: who and what the host is.

It names the facts a rebuild must match (architecture, boot mode) and those
that tell a reader which host and release this was (hostname, OS, kernel).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hostbook.manifest.model import Record, SectionDocument


class OSRelease(Record):
    """The distribution, from /etc/os-release."""

    id: str | None = Field(None, description="ID, e.g. debian")
    version_id: str | None = Field(None, description="VERSION_ID, e.g. 12")
    codename: str | None = Field(None, description="VERSION_CODENAME, e.g. bookworm")
    pretty_name: str | None = Field(None, description="PRETTY_NAME")
    id_like: list[str] = Field(default_factory=list, description="ID_LIKE, split")


class SystemDocument(SectionDocument):
    """hosts/<host>/system.yaml."""

    SECTION = "system"

    hostname: str | None = None
    os: OSRelease = Field(default_factory=OSRelease)
    kernel: str | None = Field(None, description="kernel release (uname -r)")
    architecture: str | None = Field(None, description="machine hardware name (uname -m)")
    boot_mode: Literal["uefi", "bios"] | None = None
    machine_id: str | None = Field(None, description="/etc/machine-id")
