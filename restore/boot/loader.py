"""The bootloader as the boot facts recorded it, installed from the restored system.

- BIOS GRUB: ``grub-install --target=i386-pc`` on every recorded install
  device through the disk map (debconf's grub-pc/install_devices), else on
  every disk holding a BIOS boot partition, else on every disk under /boot
  (each md member's, so the host boots from either half of a mirror);
- UEFI GRUB into the ESP under its recorded directory (``--bootloader-id``),
  with ``--uefi-secure-boot`` when shim started it; ``--no-nvram`` always,
  the entries are :mod:`.nvram`'s, from the recorded ones;
  ``--force-extra-removable`` (Debian's grub-install) when the host had the
  removable-media fallback or NVRAM is not written;
- systemd-boot: ``bootctl install --no-variables`` (it always writes the
  fallback);
- grub.cfg made again with ``grub-mkconfig``: it names the root by the
  rebuilt filesystem's identity.
"""

from __future__ import annotations

from hostbook.restore.boot.chroot import in_chroot
from hostbook.restore.boot.facts import RecordedLoader
from hostbook.restore.plan.steps import Command, Step

GRUB_CFG = "/boot/grub/grub.cfg"


def bios_steps(target: str, devices: list[str]) -> list[Step]:
    return [Step(id=f"bootloader:grub-pc:{device}", layer="bootloader",
                 summary=f"install GRUB for BIOS on {device}",
                 commands=(Command(in_chroot(target, "grub-install", "--target=i386-pc",
                                             device)),),
                 devices=(device,))
            for device in devices]


def efi_steps(target: str, loader: RecordedLoader, esp_mountpoint: str,
              fallback: bool) -> list[Step]:
    if loader.kind == "systemd-boot":
        return [Step(id="bootloader:systemd-boot", layer="bootloader",
                     summary=f"install systemd-boot into the ESP at {esp_mountpoint}",
                     commands=(Command(in_chroot(target, "bootctl", "install",
                                                 f"--esp-path={esp_mountpoint}",
                                                 "--no-variables")),))]
    argv = ["grub-install", "--target=x86_64-efi", f"--efi-directory={esp_mountpoint}",
            f"--bootloader-id={loader.bootloader_id}", "--no-nvram"]
    if loader.kind == "shim":
        argv.append("--uefi-secure-boot")
    if fallback:
        argv.append("--force-extra-removable")
    what = "GRUB behind shim" if loader.kind == "shim" else "GRUB"
    extra = " and the removable-media fallback" if fallback else ""
    return [Step(id="bootloader:grub-efi", layer="bootloader",
                 summary=f"install {what} for UEFI into {esp_mountpoint}/EFI/"
                 f"{loader.bootloader_id}{extra}",
                 commands=(Command(in_chroot(target, *argv)),))]


def grub_config_step(target: str) -> Step:
    return Step(id="bootloader:grub-cfg", layer="bootloader",
                summary=f"make {GRUB_CFG} again (it names the rebuilt root)",
                commands=(Command(in_chroot(target, "grub-mkconfig", "-o", GRUB_CFG)),))
