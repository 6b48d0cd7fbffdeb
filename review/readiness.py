"""Rebuild readiness: could this host be rebuilt from the repository today, and if not, why.

No anchor gives this: it joins what the manifest says (storage, checkouts,
boot facts, ``incomplete:``) with what the run history says (the last
successful archive of each volume).  A host is ``ready`` when every check
passes; each failed check is a reason a person can act on:

- ``capture``: the last capture is recent (default: within 2 days, as the
  daily timer makes them);
- ``complete``: no section lists anything under ``incomplete:``;
- ``coverage``: every filesystem that holds data (the host's fstab entries
  except swap, /boot and the ESP, which the bootloader phase and the packages
  recreate) is the volume of a job whose last archive is fresh, or is declared
  disposable in restore.yaml (its mountpoint or id under ``skip:``);
- ``checkouts``: every checkout is restorable;
- ``boot``: the boot facts a rebuild needs for the recorded firmware (UEFI:
  an ESP and a loader; BIOS: where GRUB is installed) and the root filesystem.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from hostbook.jobs.run.history import Outcome
from hostbook.jobs.run.jobs_file import default_host
from hostbook.jobs.run.status import (
    StatusReport,
    VolumeStatus,
    host_history,
    host_status,
    human_age,
    volume_status,
)
from hostbook.manifest.hostname import check_host
from hostbook.manifest.registry import HOST_SECTIONS
from hostbook.manifest.sections.retention import parse_duration
from hostbook.manifest.store import ManifestRepository

CHECKS = ("capture", "complete", "coverage", "checkouts", "boot")
"""Every readiness check, in the order reasons are listed."""
DEFAULT_CAPTURE_MAX_AGE = "2d"
REBUILT_ELSEWHERE = frozenset({"/boot", "/boot/efi", "/efi", "none", "swap"})
"""Mountpoints whose content a rebuild recreates from packages and the bootloader."""

Verdict = Literal["ready", "not-ready"]


@dataclass(frozen=True)
class Reason:
    """One failed check, in words."""

    check: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "message": self.message}


@dataclass
class Readiness:
    """A host's verdict, its reasons, and the facts they were drawn from."""

    host: str
    last_capture: float | None
    volumes: list[VolumeStatus] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    now: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    """The host's run history, which the volumes' status was drawn from."""

    @property
    def verdict(self) -> Verdict:
        return "not-ready" if self.reasons else "ready"

    def passed(self, check: str) -> bool:
        return all(r.check != check for r in self.reasons)

    @property
    def capture_age(self) -> float | None:
        return None if self.last_capture is None else self.now - self.last_capture

    @property
    def last_archive(self) -> float | None:
        """When any volume of the host was last archived successfully."""
        times = [v.last_success.finished for v in self.volumes if v.last_success]
        return max(times) if times else None

    def to_json(self) -> dict[str, Any]:
        archive = self.last_archive
        return {
            "host": self.host, "verdict": self.verdict,
            "reasons": [r.to_json() for r in self.reasons],
            "checks": {check: self.passed(check) for check in CHECKS},
            "last_capture": self.last_capture,
            "capture_age_seconds": _rounded(self.capture_age),
            "last_archive": archive,
            "last_archive_age_seconds": _rounded(None if archive is None else self.now - archive),
        }


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


def host_readiness(
    repo: ManifestRepository, host: str, *, state_dir: Path | None = None,
    now: float | None = None, capture_max_age: str = DEFAULT_CAPTURE_MAX_AGE,
) -> Readiness:
    """Check ``host`` in ``repo`` (its files as they are) against the run history."""
    moment = time.time() if now is None else now
    commits = repo.log(host, 1)
    last = datetime.fromisoformat(commits[0].date).timestamp() if commits else None
    jobs, history = host_history(repo.path, host, None, state_dir)
    outcomes = history.all()
    volumes = volume_status(jobs, outcomes, now=moment)
    documents = {s: repo.load(host, s) for s in HOST_SECTIONS}
    plain = {s: d.to_plain() for s, d in documents.items() if d is not None}
    result = judge(host, plain, last, volumes, moment, capture_max_age)
    result.outcomes = outcomes
    return result


def judge(host: str, plain: dict[str, dict[str, Any]], last_capture: float | None,
          volumes: list[VolumeStatus], now: float,
          capture_max_age: str = DEFAULT_CAPTURE_MAX_AGE) -> Readiness:
    """The verdict from a host's documents (plain data per section), the time of its
    last capture and its volumes' archive status."""
    result = Readiness(host, last_capture, volumes, now=now)
    limit = parse_duration(capture_max_age)
    if last_capture is None:
        result.reasons.append(Reason("capture", "never captured"))
    elif now - last_capture > limit:
        result.reasons.append(Reason(
            "capture", f"last capture {human_age(now - last_capture)} ago (more than "
            f"{capture_max_age})"))
    for section, data in plain.items():
        for item in data.get("incomplete", []):
            result.reasons.append(Reason(
                "complete", f"{section}.yaml: incomplete: {item['part']}: {item['reason']}"))
    storage = plain.get("storage")
    if storage is None:
        result.reasons.append(Reason("coverage", "no storage.yaml"))
        result.reasons.append(Reason("boot", "no storage.yaml"))
    else:
        result.reasons += coverage_reasons(storage, plain.get("restore"), volumes)
        result.reasons += boot_reasons(storage)
    for checkout in plain.get("checkouts", {}).get("checkouts", []):
        if not checkout.get("restorable", False):
            result.reasons.append(Reason(
                "checkouts", f"{checkout['path']}: not restorable: {checkout.get('reason', '')}"))
    return result


def data_filesystems(storage: dict[str, Any]) -> list[dict[str, Any]]:
    """The fstab entries that mount a filesystem holding data."""
    entries = storage.get("fstab", {}).get("entries", [])
    return [e for e in entries
            if e.get("fstype") not in ("swap", None) and e.get("mountpoint") not in
            REBUILT_ELSEWHERE]


def coverage_reasons(storage: dict[str, Any], restore: dict[str, Any] | None,
                     volumes: list[VolumeStatus]) -> list[Reason]:
    """A reason per data filesystem that no fresh archive covers and no policy disposes of."""
    skipped = set((restore or {}).get("skip", []))
    entries = {e["id"]: e for e in storage.get("entries", []) if "id" in e}
    reasons = []
    for line in data_filesystems(storage):
        mountpoint = line["mountpoint"]
        target = line.get("target")
        device = entries.get(target, {}).get("device", "") if target else ""
        if {mountpoint, target, device} & skipped:
            continue
        names = {mountpoint}
        if device.startswith("lv:"):
            names.add(device.removeprefix("lv:"))
        covering = [v for v in volumes if v.volume in names]
        if not covering:
            reasons.append(Reason("coverage", f"{mountpoint}: no job archives it and "
                                  "restore.yaml does not skip it"))
        elif all(v.stale for v in covering):
            ages = ", ".join(f"{v.volume} {human_age(v.age)}" for v in covering)
            reasons.append(Reason("coverage", f"{mountpoint}: no fresh archive ({ages})"))
    return reasons


def boot_reasons(storage: dict[str, Any]) -> list[Reason]:
    """What the bootloader phase would lack for the recorded firmware."""
    boot = storage.get("boot") or {}
    firmware = boot.get("firmware")
    reasons = []
    if not boot.get("root"):
        reasons.append(Reason("boot", "no root filesystem recorded"))
    if firmware == "uefi":
        if not boot.get("esp"):
            reasons.append(Reason("boot", "UEFI firmware but no EFI system partition"))
        if not boot.get("efi_loaders") and not boot.get("efi_entries"):
            reasons.append(Reason("boot", "UEFI firmware but no boot loader recorded"))
    elif firmware == "bios":
        if not boot.get("grub_install_devices") and not boot.get("grub_install_device_ids"):
            reasons.append(Reason("boot", "BIOS firmware but no GRUB install device recorded"))
    else:
        reasons.append(Reason("boot", "firmware (UEFI or BIOS) not recorded"))
    return reasons


def fleet_readiness(repo: ManifestRepository, hosts: list[str] | None = None, *,
                    state_dir: Path | None = None, now: float | None = None,
                    capture_max_age: str = DEFAULT_CAPTURE_MAX_AGE) -> list[Readiness]:
    """Readiness of every host in the repository (or those named)."""
    moment = time.time() if now is None else now
    return [host_readiness(repo, host, state_dir=state_dir, now=moment,
                           capture_max_age=capture_max_age)
            for host in (hosts or repo.hosts())]


def render_hosts(rows: list[Readiness]) -> str:
    """``hostbook hosts``: one line per host, then its reasons indented."""
    if not rows:
        return "no hosts in the repository\n"
    lines = [f"{'HOST':<24} {'LAST CAPTURE':<17} {'VERDICT':<10} LAST ARCHIVE"]
    for row in rows:
        when = (time.strftime("%Y-%m-%d %H:%M", time.localtime(row.last_capture))
                if row.last_capture else "never")
        archive = row.last_archive
        age = "never" if archive is None else f"{human_age(row.now - archive)} ago"
        lines.append(f"{row.host:<24} {when:<17} {row.verdict:<10} {age}")
        lines += [f"    {r.check}: {r.message}" for r in row.reasons]
    return "\n".join(lines) + "\n"


def status_readiness(repository: Path | None, host: str | None,
                     state_dir: Path | None) -> Readiness | None:
    """Readiness for ``hostbook status``: None when there is no repository or no capture
    of the host to judge (status then reports the history alone, as before)."""
    if repository is None or not (repository / ".git").exists():
        return None
    repo = ManifestRepository.open(repository)
    name = check_host(host or default_host())
    if not repo.log(name, 1):
        return None
    return host_readiness(repo, name, state_dir=state_dir)


def status_document(repository: Path | None, host: str | None, jobs_file: Path | None,
                    state_dir: Path | None, stale_after: str | None = None,
                    now: float | None = None) -> tuple[dict[str, Any], StatusReport,
                                                       Readiness | None]:
    """What ``status --json`` prints (the report, its readiness), and the two it was made of.

    ``hostbook status`` and ``GET /api/hosts/{host}/status`` answer with this one document.
    """
    report = host_status(repository, host, jobs_file, state_dir, stale_after, now=now)
    readiness = None if jobs_file else status_readiness(repository, host, state_dir)
    document = report.to_json(time.time() if now is None else now)
    document["readiness"] = readiness.to_json() if readiness else None
    return document, report, readiness


def render_readiness(readiness: Readiness) -> str:
    """The lines ``hostbook status`` adds below its table."""
    lines = [f"readiness: {readiness.verdict}"]
    lines += [f"  {r.check}: {r.message}" for r in readiness.reasons]
    return "\n".join(lines) + "\n"
