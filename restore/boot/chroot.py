"""The restored tree as a system to run tools in: its chroot and the binds it needs.

The restored system's own grub-install, update-initramfs and efibootmgr run
inside it, so the GRUB modules and initramfs hooks are those of the kernel
that will boot.  They need the live kernel's /dev, /proc, /sys and /run
(udev's database, where cryptsetup and lvm find the opened devices); /sys is
bound recursively, so efivarfs comes along when the live system booted UEFI.
"""

from __future__ import annotations

from hostbook.restore.plan.steps import Command, DoneCheck, Step

BINDS = ("dev", "proc", "sys", "run")


def in_chroot(target: str, *argv: str) -> tuple[str, ...]:
    return ("chroot", target, *argv)


def bind_steps(target: str) -> list[Step]:
    """One step per bind, each skipped when it is in place already (after a resume)."""
    steps = []
    for name in BINDS:
        where = f"{target}/{name}"
        steps.append(Step(
            id=f"bind:{name}", layer="bind", summary=f"bind the live /{name} at {where}",
            commands=(Command(("mount", "--rbind", "--make-rslave", f"/{name}", where)),),
            destructive=False, done=DoneCheck("mounted", expect={"path": where}),
        ))
    return steps


def unbind_steps(target: str) -> list[Step]:
    """The binds undone, deepest first (their submounts go with them)."""
    return [Step(id=f"unbind:{name}", layer="bind",
                 summary=f"unbind {target}/{name}",
                 commands=(Command(("umount", "-R", f"{target}/{name}")),),
                 destructive=False,
                 done=DoneCheck("unmounted", expect={"path": f"{target}/{name}"}))
            for name in reversed(BINDS)]


def write_file(path: str, text: str) -> Command:
    """A file written whole (a temporary beside it, then renamed): never half-written."""
    return Command(("sh", "-c", 'cat > "$1.hostbook-new" && mv -f "$1.hostbook-new" "$1"',
                    "write", path), stdin=text)
