"""Command line for the VM lab: debugging shells, one-off runs, environment checks.

    python -m tests.lab check                      # can this machine boot guests?
    python -m tests.lab shell --layout laptop      # build laptop, then a root shell
    python -m tests.lab shell --layout server --images /var/tmp/srv   # keep the disks
    python -m tests.lab shell --images /var/tmp/srv --mount server    # next boot: reuse
    python -m tests.lab run --layout thin -- 'lvs; lsblk'              # batch, print
    python -m tests.lab shell --firmware uefi --layout laptop   # OVMF: efibootmgr works

Run from the repository root as root. The shell is on the guest's serial console:
exit it (or `poweroff -f`) to stop the guest; Ctrl-A X kills qemu at once.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from tests.lab.layouts import LAYOUTS, build_step, collect_step, disks_for, mount_step
from tests.lab.vm import (
    FIRMWARES,
    DiskSpec,
    Guest,
    GuestError,
    Step,
    build_initramfs,
    check_lab,
)
from tests.tiers import TierUnavailable


def _disks(args: argparse.Namespace) -> list[DiskSpec]:
    """Layout disks (plus --disk extras); with --images, as files in that folder so
    they outlive this run and a later run can boot them again."""
    names = [*args.layout, *args.mount]
    disks = disks_for(*dict.fromkeys(names))
    for i, spec in enumerate(args.disk):
        size, _, sector = spec.partition(":")
        disks.append(DiskSpec(size, serial=f"extra{i}", sector_size=int(sector or 512)))
    if args.images:
        folder = Path(args.images).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        for d in disks:
            d.path = folder / f"{d.serial}.img"
    return disks


def _steps(args: argparse.Namespace) -> list[Step]:
    steps = [build_step(n) for n in args.layout] + [mount_step(n) for n in args.mount]
    if args.layout or args.mount:
        steps.append(collect_step())
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    check = sub.add_parser("check", help="check qemu, kernel and busybox; build the initramfs")
    check.add_argument("--firmware", choices=FIRMWARES, default="bios",
                       help="also check this firmware is there (uefi: OVMF)")
    for name in ("shell", "run"):
        p = sub.add_parser(name, help="interactive root shell" if name == "shell"
                           else "run a script in a guest and print its results")
        p.add_argument("--layout", action="append", default=[], choices=sorted(LAYOUTS),
                       help="build this layout first (repeatable)")
        p.add_argument("--mount", action="append", default=[], choices=sorted(LAYOUTS),
                       help="activate and mount this already-built layout (needs --images)")
        p.add_argument("--disk", action="append", default=[], metavar="SIZE[:SECTOR]",
                       help="an extra blank disk, e.g. 2G or 1G:4096 (serial extraN)")
        p.add_argument("--images", metavar="DIR",
                       help="keep disk images in DIR (created if missing, reused if there)")
        p.add_argument("--timeout", type=float, default=900)
        p.add_argument("--firmware", choices=FIRMWARES, default="bios",
                       help="bios (SeaBIOS, the default) or uefi (OVMF, EFI variables)")
        if name == "run":
            p.add_argument("--results", metavar="DIR",
                           help="copy the guest's results folder (collect output) to DIR")
            p.add_argument("script", nargs=argparse.REMAINDER,
                           help="shell command (after --) run after the layout steps")
    args = parser.parse_args(argv)

    try:
        kernel, qemu = check_lab(args.firmware)
        initramfs = build_initramfs(kernel)
    except TierUnavailable as exc:
        print(f"lab unavailable: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "check":
        print(f"qemu:      {qemu}\nkernel:    {kernel.vmlinuz} ({kernel.version})\n"
              f"initramfs: {initramfs}\nfirmware:  {args.firmware}")
        return 0
    if args.mount and not args.images:
        parser.error("--mount needs --images DIR holding disks from an earlier run")

    with Guest(_disks(args), keep_images=True, firmware=args.firmware) as guest:
        steps = _steps(args)
        if args.cmd == "shell":
            for serial, path in zip(guest.serials, guest.disk_paths, strict=True):
                print(f"disk /dev/disk/by-id/virtio-{serial}: {path}")
            print("booting; the shell starts after the steps (Ctrl-A X kills the guest)")
            return guest.shell(steps)
        script = " ".join(args.script[1:] if args.script[:1] == ["--"] else args.script)
        if script:
            steps.append(Step("script", script))
        if not steps:
            parser.error("nothing to run: give --layout/--mount and/or a script")
        try:
            result = guest.run_steps(steps, timeout=args.timeout, results_dir=args.results)
        except GuestError as exc:
            print(exc, file=sys.stderr)
            return 1
        for step in result.steps.values():
            print(f"=== {step.name}: rc={step.rc} ({step.seconds}s)")
            sys.stdout.write(step.stdout)
            sys.stderr.write(step.stderr)
        print(f"=== boot {result.seconds}s, ready at {result.ready_seconds}s")
        if args.results:
            print(f"=== results in {shlex.quote(str(result.results_dir))}")
        return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
