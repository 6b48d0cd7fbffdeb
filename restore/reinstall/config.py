"""Changed configuration on a reinstall: the three-way view.

For a changed conffile there are three versions: the old package's default
(its MD5 is in etc.yaml), the old changed file (in the archive), and the new
package's default (dpkg's or ucf's MD5 on the new system, once the package is
installed).  The change is carried over only when the new default is the
old one; when the new release changed the default too, the old file is put
beside the new one as ``PATH.hostbook-old`` and the file is reported, since
applying the old file would throw away the new default's changes.  A file no
package owns is carried over unless the new system made its own, different
one (a maintainer script's generated file): then the same report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hostbook.manifest.sections.etc import ChangedFile, EtcDocument
from hostbook.restore.reinstall.facts import NewSystem
from hostbook.restore.reinstall.report import PENDING, Item

SECTION = "etc"
ASIDE = ".hostbook-old"


@dataclass(frozen=True)
class Placement:
    """Put the archived content of ``path`` at ``destination`` with its recorded metadata."""

    path: str
    destination: str
    mode: str
    owner: str
    group: str


@dataclass
class ConfigPlan:
    place: list[Placement] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    """conffiles whose package the new system does not have yet (decided after install)."""
    items: list[Item] = field(default_factory=list)


def _placement(record: ChangedFile, destination: str) -> Placement:
    return Placement(record.path, destination, record.mode or "0644", record.owner or "root",
                     record.group or "root")


def plan_config(old: EtcDocument, new: NewSystem, archived: set[str],
                installing: set[str]) -> ConfigPlan:
    """``archived``: the paths an archive holds; ``installing``: packages the plan installs."""
    plan = ConfigPlan()
    for record in old.files:
        path = record.path
        if record.state == "removed":
            if path in new.present:
                plan.remove.append(path)
                plan.items.append(Item(SECTION, path, "carried", "removed, as on the old host"))
            else:
                plan.items.append(Item(SECTION, path, "carried", "absent, as on the old host"))
            continue
        if new.present.get(path) == record.md5:
            plan.items.append(Item(SECTION, path, "carried", "already identical"))
            continue
        if path not in archived:
            plan.items.append(Item(SECTION, path, "unmapped",
                                   "no archive holds its content",
                                   "archive /etc (a job in jobs.yaml) or copy it by hand"))
            continue
        if record.kind == "unowned":
            if path in new.present:
                plan.place.append(_placement(record, path + ASIDE))
                plan.items.append(Item(
                    SECTION, path, "unmapped",
                    "the new system made its own, different file",
                    f"compare with {path}{ASIDE} (the old one) and merge"))
            else:
                plan.place.append(_placement(record, path))
                plan.items.append(Item(SECTION, path, "carried", "restored from the archive"))
            continue
        shipped = new.shipped.get(path)
        if shipped is None:
            if record.package in new.installed or record.package in installing:
                plan.pending.append(path)
                plan.items.append(Item(
                    SECTION, path, "adapted",
                    f"compared with {record.package}'s new default {PENDING}"))
            else:
                plan.items.append(Item(
                    SECTION, path, "unmapped",
                    f"its package {record.package} is not on the new system",
                    "install a replacement and carry the change over by hand"))
            continue
        if shipped[1] == record.shipped_md5:
            plan.place.append(_placement(record, path))
            plan.items.append(Item(SECTION, path, "carried",
                                   f"{record.package}'s default is unchanged: old file restored"))
        else:
            plan.place.append(_placement(record, path + ASIDE))
            plan.items.append(Item(
                SECTION, path, "unmapped",
                f"{record.package}'s default changed in the new release",
                f"merge your change from {path}{ASIDE} into the new default"))
    return plan
