"""The system files a rebuilt host boots by: fstab, crypttab, mdadm.conf, the LVM devices file.

Each is checked against the manifest (:mod:`.tables` for fstab and crypttab)
and written whole from it when it would not boot the rebuilt host; the
change is shown as a step note.  LVM's devices file lists the PVs' disks by
their old serials and WWNs: on new disks LVM would ignore every PV, so it is
made again with ``vgimportdevices`` for the recorded VGs.
"""

from __future__ import annotations

from dataclasses import dataclass

from hostbook.manifest.sections.storage import MdEntry, StorageDocument, VgEntry
from hostbook.restore.boot.chroot import in_chroot, write_file
from hostbook.restore.boot.tables import check_crypttab, check_fstab
from hostbook.restore.plan.steps import Command, Step

MDADM_CONF = "/etc/mdadm/mdadm.conf"
LVM_DEVICES = "/etc/lvm/devices/system.devices"
MDADM_DEFAULTS = "HOMEHOST <system>\nMAILADDR root\n"


@dataclass(frozen=True)
class RestoredFiles:
    """What the restored tree holds (None: the file is absent, or not restored yet)."""

    fstab: str | None = None
    crypttab: str | None = None
    mdadm_conf: str | None = None
    lvm_devices: bool = False
    known: bool = True
    """False when rendering a script before anything is restored: only identity changes
    (known from the plan) decide."""


def _array_line(md: MdEntry) -> str:
    name = md.name or f"/dev/md/{(md.array_name or md.id).split(':')[-1]}"
    if not name.startswith("/dev/"):
        name = f"/dev/md/{name}"
    parts = ["ARRAY", name]
    if md.metadata:
        parts.append(f"metadata={md.metadata}")
    if md.array_name:
        parts.append(f"name={md.array_name}")
    parts.append(f"UUID={md.uuid}")
    return " ".join(parts)


def mdadm_conf(storage: StorageDocument, restored: str | None) -> tuple[str | None, list[str]]:
    """The mdadm.conf to write (None: the restored one names every array) and the changes."""
    arrays = [e for e in storage.entries if isinstance(e, MdEntry)]
    if not arrays:
        return None, []
    lines = (restored or "").splitlines()
    listed = {w.split("=", 1)[1].lower() for line in lines if line.startswith("ARRAY")
              for w in line.split() if w.startswith("UUID=")}
    wanted = {md.uuid.lower() for md in arrays}
    if restored is not None and listed == wanted:
        return None, []
    kept = [line for line in lines if not line.startswith("ARRAY")
            and not line.startswith("  ")]  # an ARRAY's continuation lines go with it
    body = "\n".join(kept).strip() + "\n" if kept else MDADM_DEFAULTS
    arrays_text = "".join(_array_line(md) + "\n" for md in arrays)
    changes = [f"{MDADM_CONF}: ARRAY lines for {', '.join(sorted(wanted))} "
               f"(the restored file listed {', '.join(sorted(listed)) or 'none'})"]
    return (f"# ARRAY lines written by hostbook rebuild from the manifest\n{body}"
            f"{arrays_text}"), changes


def system_file_steps(storage: StorageDocument, planned: StorageDocument, target: str,
                      restored: RestoredFiles, kept: set[str] | None) -> list[Step]:
    """The steps that make the rebuilt host's system files match the manifest."""
    steps: list[Step] = []
    if restored.known:
        checks = [check_fstab(storage, planned, restored.fstab, kept),
                  check_crypttab(storage, planned, restored.crypttab, kept)]
    else:  # a script made before the data is back: the restored files are the recorded ones
        checks = [check_fstab(storage, planned, storage.fstab.raw, kept),
                  check_crypttab(storage, planned, storage.crypttab.raw, kept)]
    for check in checks:
        if check is None or check.text is None:
            continue
        steps.append(Step(
            id=f"system:{check.path}", layer="system",
            summary=f"write {check.path} from the manifest",
            commands=(write_file(f"{target}{check.path}", check.text),),
            notes=tuple(check.changes)))
    text, changes = mdadm_conf(storage, restored.mdadm_conf if restored.known else None)
    if text is not None:
        steps.append(Step(
            id=f"system:{MDADM_CONF}", layer="system",
            summary=f"write {MDADM_CONF} with the recorded arrays",
            commands=(Command(("mkdir", "-p", f"{target}/etc/mdadm")),
                      write_file(f"{target}{MDADM_CONF}", text)),
            notes=tuple(changes)))
    vgs = [e.name for e in storage.entries if isinstance(e, VgEntry)]
    if vgs and (restored.lvm_devices or not restored.known):
        script = (f'test -e {LVM_DEVICES} || exit 0; rm -f {LVM_DEVICES} && '
                  'vgimportdevices "$@"')
        steps.append(Step(
            id="system:lvm-devices", layer="system",
            summary=f"make {LVM_DEVICES} again for {', '.join(vgs)} (the PVs' new disks)",
            commands=(Command(in_chroot(target, "sh", "-c", script, "lvm-devices", *vgs)),)))
    return steps
