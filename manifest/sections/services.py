"""The `services` section (captured): what a person switched on or off in systemd and cron.

A fresh install enables what the distribution's presets say, and Debian's
preset enables everything, so a preset cannot tell a unit someone enabled by
hand from one a package enabled.  The section keeps every enabled unit (with
its preset, so a reader sees the departures), units disabled against an
``enabled`` preset, masked ones, every enabled timer (a schedule someone relies on), the
default target, and the crontabs present (user crontabs by MD5: their content
is data, brought back from the archive like /etc).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hostbook.manifest.model import Record, SectionDocument


class UnitState(Record):
    """An enabled unit, or one disabled or masked against its preset."""

    unit: str
    state: Literal["enabled", "disabled", "masked"] = Field(
        description="the state to reproduce"
    )
    preset: str | None = Field(None, description="the vendor preset (enabled, disabled, ...)")


class Crontab(Record):
    """A crontab: a user's (/var/spool/cron/crontabs) or a system one (/etc/cron.d)."""

    path: str
    user: str | None = Field(None, description="the owning user of a user crontab")
    md5: str | None = None
    entries: int = Field(0, description="lines that schedule something")


class ServicesDocument(SectionDocument):
    """hosts/<host>/services.yaml."""

    SECTION = "services"

    manager: Literal["systemd"] | None = None
    default_target: str | None = None
    units: list[UnitState] = Field(default_factory=list, description="sorted by unit")
    timers: list[str] = Field(default_factory=list, description="enabled timers, sorted")
    crontabs: list[Crontab] = Field(default_factory=list, description="sorted by path")
