"""System identity probe: hostname, OS release, kernel, architecture, boot mode."""

from __future__ import annotations

import shlex
from typing import Any

from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.host_root import host_root, on_host

OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release(5): KEY=value lines with shell-style quoting."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key.strip()] = parts[0] if parts else ""
    return values


def _first_line(text: str | None) -> str | None:
    if text is None:
        return None
    line = text.strip().splitlines()
    return line[0].strip() if line else None


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    runner = ctx.runner
    hostname = _first_line(runner.read_file("/proc/sys/kernel/hostname"))
    if hostname is None:
        result = ctx.run_ok(["hostname"], "hostname")
        hostname = _first_line(result.stdout) if result else None
    doc["hostname"] = hostname

    root = host_root(ctx)
    text = next(
        (t for t in (runner.read_file(on_host(root, p)) for p in OS_RELEASE_FILES)
         if t is not None), None
    )
    if text is None:
        ctx.mark_incomplete("os", "no /etc/os-release or /usr/lib/os-release")
        doc["os"] = {}
    else:
        release = parse_os_release(text)
        doc["os"] = {
            "id": release.get("ID"),
            "version_id": release.get("VERSION_ID"),
            "codename": release.get("VERSION_CODENAME") or release.get("UBUNTU_CODENAME"),
            "pretty_name": release.get("PRETTY_NAME"),
            "id_like": release.get("ID_LIKE", "").split(),
        }

    kernel = _first_line(runner.read_file("/proc/sys/kernel/osrelease"))
    if kernel is None:
        result = ctx.run_ok(["uname", "-r"], "kernel")
        kernel = _first_line(result.stdout) if result else None
    doc["kernel"] = kernel

    result = ctx.run_ok(["uname", "-m"], "architecture")
    doc["architecture"] = _first_line(result.stdout) if result else None

    # /sys/firmware/efi exists exactly when the kernel was booted by UEFI firmware.
    doc["boot_mode"] = "uefi" if runner.list_dir("/sys/firmware/efi") is not None else "bios"

    machine_id = _first_line(runner.read_file(on_host(root, "/etc/machine-id")))
    if not machine_id:
        ctx.mark_incomplete("machine_id", "/etc/machine-id missing or empty")
    doc["machine_id"] = machine_id or None


PROBE = Probe(
    name="system",
    section="system",
    commands=("uname", "hostname"),
    collect=collect,
    description="hostname, /etc/os-release, kernel release, architecture, UEFI/BIOS, machine-id",
)
