"""The checks after install: each fails with what would keep the host from booting.

A bootloader installer that returns 0 is no proof (bootctl "succeeded" in
chroots without touching NVRAM, systemd PR #38336): these look at what
the firmware and GRUB will read.  The loader file exists on the ESP (and
the fallback, when wanted); each recreated entry exists and is in
BootOrder; every BIOS install device starts with GRUB's boot sector;
grub.cfg (or systemd-boot's entries) name the root filesystem by its
rebuilt UUID or its device-mapper path; LVM in the restored system sees
the root's volume group (a filter or devices file that hides it fails
here, not at boot).  The initramfs content check is :mod:`.initramfs`'s.
"""

from __future__ import annotations

import shlex

from hostbook.restore.boot.chroot import in_chroot
from hostbook.restore.boot.facts import FALLBACK_LOADER
from hostbook.restore.boot.loader import GRUB_CFG
from hostbook.restore.plan.steps import Command, Step


def _check(ident: str, summary: str, script: str, *args: str, target: str | None = None,
           devices: tuple[str, ...] = ()) -> Step:
    argv = ("sh", "-c", script, ident, *args)
    return Step(id=f"check:{ident}", layer="check", summary=summary,
                commands=(Command(in_chroot(target, *argv) if target else argv),),
                destructive=False, devices=devices)


def esp_path(target: str, esp_mountpoint: str, loader: str) -> str:
    """Where an EFI path (``\\EFI\\debian\\grubx64.efi``) is under the mounted ESP."""
    return f"{target}{esp_mountpoint}/" + "/".join(p for p in loader.split("\\") if p)


def loader_file_check(target: str, esp_mountpoint: str, loader: str) -> Step:
    path = esp_path(target, esp_mountpoint, loader)
    return _check(f"loader:{loader}", f"the ESP holds {loader}",
                  'test -s "$1" || { echo "$1 is missing or empty: the firmware would find '
                  'no loader" >&2; exit 1; }', path)


def fallback_check(target: str, esp_mountpoint: str) -> Step:
    return loader_file_check(target, esp_mountpoint, FALLBACK_LOADER)


def boot_order_check(target: str, numbers: list[str]) -> Step:
    script = ('out=$(efibootmgr) || exit 1; order=$(printf "%s\\n" "$out" | sed -n '
              '"s/^BootOrder: //p"); for n in "$@"; do printf "%s\\n" "$out" | grep -q '
              '"^Boot$n" || { echo "Boot$n is not in NVRAM" >&2; exit 1; }; case ",$order," '
              'in *",$n,"*) ;; *) echo "Boot$n is not in BootOrder ($order)" >&2; exit 1;; '
              'esac; done')
    return _check("nvram", f"NVRAM holds Boot{', Boot'.join(numbers)}, in BootOrder",
                  script, *numbers, target=target)


def mbr_check(device: str) -> Step:
    return _check(f"mbr:{device}", f"{device} starts with GRUB's boot sector",
                  'head -c 512 "$1" | grep -aq GRUB || { echo "$1: no GRUB in its first '
                  'sector" >&2; exit 1; }', device, devices=(device,))


def grub_cfg_check(target: str, root_names: list[str]) -> Step:
    """grub.cfg's kernel lines name the root as one of ``root_names`` (UUID=..., /dev/...)."""
    pattern = "|".join(shlex.quote(n).strip("'").replace(".", "\\.") for n in root_names)
    script = (f'grep -Eq "root=({pattern})( |$)" "$1" || {{ echo "$1 names no root '
              f'as {" or ".join(root_names)}" >&2; exit 1; }}')
    return _check("grub-cfg", f"{GRUB_CFG} boots root={' or '.join(root_names)}", script,
                  f"{target}{GRUB_CFG}")


def loader_entries_check(target: str, esp_mountpoint: str, root_names: list[str]) -> Step:
    pattern = "|".join(n.replace(".", "\\.") for n in root_names)
    script = (f'grep -Eqs "root=({pattern})( |$)" "$1"/loader/entries/*.conf || {{ echo '
              f'"no loader entry under $1/loader/entries names the root" >&2; exit 1; }}')
    return _check("loader-entries", "systemd-boot's entries name the rebuilt root", script,
                  f"{target}{esp_mountpoint}")


def lvm_check(target: str, vg: str) -> Step:
    return _check(f"lvm:{vg}", f"LVM in the restored system sees {vg}",
                  'vgs "$1" >/dev/null || { echo "the restored system'"'"'s LVM does not see '
                  'volume group $1 (its filter or devices file hides it)" >&2; exit 1; }',
                  vg, target=target)
