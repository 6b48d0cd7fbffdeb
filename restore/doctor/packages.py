"""Which Debian/Ubuntu package provides each program a rebuild runs.

A person in a live system who is told "mkfs.xfs is missing" still has to find
its package; the doctor names it.  The table is Debian's (bookworm, also
Ubuntu 22.04+): ``dpkg -S`` of each program on such a system.
"""

from __future__ import annotations

PACKAGES: dict[str, str] = {
    "sfdisk": "fdisk",
    "wipefs": "util-linux",
    "blkid": "util-linux",
    "lsblk": "util-linux",
    "mount": "mount",
    "mkswap": "util-linux",
    "udevadm": "udev",
    "chroot": "coreutils",
    "git": "git",
    "mdadm": "mdadm",
    "cryptsetup": "cryptsetup-bin",
    "lvm": "lvm2",
    "mke2fs": "e2fsprogs",
    "tune2fs": "e2fsprogs",
    "mkfs.xfs": "xfsprogs",
    "mkfs.btrfs": "btrfs-progs",
    "mkfs.fat": "dosfstools",
    "restic": "restic",
    "borg": "borgbackup",
    "tar": "tar",
    "zstd": "zstd",
    "xfsrestore": "xfsdump",
    "grub-install": "grub2-common",
    "grub-mkconfig": "grub2-common",
    "efibootmgr": "efibootmgr",
    "bootctl": "systemd-boot",
    "update-initramfs": "initramfs-tools",
    "lsinitramfs": "initramfs-tools-core",
    "dracut": "dracut",
    "lsinitrd": "dracut",
}
"""Program -> the package that installs it."""

GRUB_PLATFORM = {"bios": "grub-pc-bin", "uefi": "grub-efi-amd64-bin"}
"""The GRUB modules grub-install copies, per firmware (installed beside grub2-common)."""


def package_of(program: str) -> str:
    """The package providing ``program`` (the program's own name when not in the table)."""
    return PACKAGES.get(program, program)
