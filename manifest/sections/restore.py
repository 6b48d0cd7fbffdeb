"""The `restore` section (written by people, never by capture): restore policy.

``storage.yaml`` says what the host had; this file says how a person wants it
rebuilt when the new hardware differs: which present disk receives which
recorded one, which partition takes the extra (or gives up the missing)
space, which LVs take a share of the free space, and what not to recreate.
Without this file a restore reproduces the recorded layout exactly, growing
the last partition of a larger disk.

Example::

    schema: hostbook/restore/v1
    target: /mnt/target
    disks:
      - id: disk:ata-Samsung_SSD_860_S3Z9NB0K123456
        serial: S5GXNF0R987654       # restore it onto the disk with this serial
        grow: 3                      # partition 3 takes the extra space
    lvs:
      - id: lv:vg0/home
        free_percent: 100            # home takes all free space of vg0
    skip:
      - lv:vg0/scratch               # not recreated, nor anything on it
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from hostbook.manifest import names
from hostbook.manifest.model import Record, SectionDocument

DEFAULT_TARGET = "/mnt/target"


class DiskPolicy(Record):
    """How one recorded disk is restored."""

    id: str = Field(
        description="the recorded disk: its entry id in storage.yaml (disk:..., loop:...), "
        "its recorded kernel name (sda) or its serial"
    )
    serial: str | None = Field(None, description="restore onto the present disk with this serial")
    wwn: str | None = Field(None, description="restore onto the present disk with this WWN")
    path: str | None = Field(
        None, description="restore onto this device (/dev/sdb, /dev/disk/by-id/...)"
    )
    grow: Annotated[int, Field(ge=1, le=65536)] | Literal["last", "none"] = Field(
        "last",
        description="partition number that takes the extra space of a larger disk and gives "
        "up space on a smaller one; 'last' (default) is the partition that ends last, "
        "'none' keeps every partition at its recorded size",
    )

    @field_validator("path")
    @classmethod
    def _device_path(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/dev/") or ".." in value
                                  or names.control_characters(value)):
            raise ValueError("expected a device path under /dev/ (e.g. /dev/disk/by-id/...)")
        return value


class LvPolicy(Record):
    """An LV whose size follows the free space of its VG."""

    id: str = Field(description="lv:<vg>/<lv>")
    free_percent: float = Field(
        description="percent of the VG's space left after every other LV got its recorded "
        "size; the LV is made at least as large as its filesystem's recorded use"
    )

    @field_validator("free_percent")
    @classmethod
    def _percent(cls, value: float) -> float:
        if not 0 < value <= 100:
            raise ValueError("free_percent must be more than 0 and at most 100")
        return value

    @field_validator("id")
    @classmethod
    def _lv_id(cls, value: str) -> str:
        if not value.startswith("lv:") or "/" not in value:
            raise ValueError("expected an LV id such as lv:vg0/home")
        return value


class ReinstallPolicy(Record):
    """What ``hostbook reinstall`` brings back beyond the captured sections."""

    data: list[str] = Field(
        default_factory=list,
        description="data volumes restored onto the new system: a job name, a volume key "
        "or the volume as jobs.yaml writes it (/home, vg0/srv)",
    )


class RestoreDocument(SectionDocument):
    """hosts/<host>/restore.yaml."""

    SECTION = "restore"
    CAPTURED = False

    target: str = Field(
        DEFAULT_TARGET, description="where the restored tree is mounted (the new root)"
    )
    disks: list[DiskPolicy] = Field(default_factory=list)
    lvs: list[LvPolicy] = Field(default_factory=list)
    skip: list[str] = Field(
        default_factory=list,
        description="storage entry ids (or mountpoints) not to recreate; whatever is built "
        "on them is skipped too",
    )
    md_resync: bool = Field(
        True,
        description="let new md arrays resync; false passes --assume-clean (blank new disks)",
    )
    reinstall: ReinstallPolicy = Field(default_factory=ReinstallPolicy)

    @field_validator("target")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or value.rstrip("/") == "":
            raise ValueError("target must be an absolute path other than /")
        return value.rstrip("/")

    @field_validator("lvs")
    @classmethod
    def _total(cls, value: list[LvPolicy]) -> list[LvPolicy]:
        by_vg: dict[str, float] = {}
        for item in value:
            vg = item.id[3:].split("/", 1)[0]
            by_vg[vg] = by_vg.get(vg, 0.0) + item.free_percent
        over = sorted(vg for vg, total in by_vg.items() if total > 100.0001)
        if over:
            raise ValueError(f"free_percent of the LVs of {', '.join(over)} adds up to over 100")
        return value
