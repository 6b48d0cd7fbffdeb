"""The capture configuration: what to look at and what to leave out.

It lives outside the manifest repository (``/etc/hostbook/config.yaml`` or
``$HOSTBOOK_CONFIG``) because it is about the machine doing the capture, not
about the host's recorded state.  Every field has a default, so no file is
needed.
"""

from __future__ import annotations

from pydantic import Field

from hostbook.manifest.model import Record, SectionDocument

DEFAULT_CHECKOUT_ROOTS = ("/etc", "/root", "/home", "/srv", "/opt", "/usr/local")
DEFAULT_CHECKOUT_EXCLUDES = (
    ".cache",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".npm",
    ".cargo/registry",
    "site-packages",
)


class CheckoutScan(Record):
    """Where checkouts are looked for."""

    roots: list[str] = Field(default_factory=lambda: list(DEFAULT_CHECKOUT_ROOTS))
    excludes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CHECKOUT_EXCLUDES),
        description="directory names or relative paths never descended into",
    )
    max_depth: int = Field(12, ge=1, description="how deep below a root to look")


class StorageScan(Record):
    """Which block devices capture leaves out."""

    exclude_devices: list[str] = Field(
        default_factory=list,
        description="kernel names or globs (e.g. 'sr*', 'zram*') not to capture",
    )


class ConfigDocument(SectionDocument):
    """/etc/hostbook/config.yaml."""

    SECTION = "config"
    CAPTURED = False

    checkouts: CheckoutScan = Field(default_factory=CheckoutScan)
    storage: StorageScan = Field(default_factory=StorageScan)
