"""The initramfs of every installed kernel, rebuilt in the restored system and looked into.

Rebuilt because the restored one was made for the old disks (the md UUIDs,
the crypttab, the LVM devices file it copied), with the tool the host has:
initramfs-tools' ``update-initramfs`` or ``dracut``.  Then each image is
listed (``lsinitramfs``/``lsinitrd``) and must hold what the root stack
needs (:func:`hostbook.restore.boot.stack.initramfs_tools`), and for a LUKS
root the crypttab the cryptsetup hook copied; a missing one fails the phase
with the image and the program named, instead of a host that stops at
"ALERT! root does not exist".
"""

from __future__ import annotations

import shlex
from typing import Literal

from hostbook.restore.boot.chroot import in_chroot
from hostbook.restore.plan.steps import Command, Step

Tool = Literal["initramfs-tools", "dracut"]


def rebuild_step(target: str, tool: Tool) -> Step:
    argv = (("update-initramfs", "-u", "-k", "all") if tool == "initramfs-tools"
            else ("dracut", "--regenerate-all", "--force"))
    return Step(id="initramfs:rebuild", layer="initramfs",
                summary=f"rebuild the initramfs of every installed kernel ({argv[0]})",
                commands=(Command(in_chroot(target, *argv), ),))


def content_script(tool: Tool, programs: list[str], luks: bool) -> str:
    """Shell that lists every kernel's image and fails naming what one lacks."""
    lister = "lsinitramfs" if tool == "initramfs-tools" else "lsinitrd"
    wanted = " ".join(shlex.quote(p) for p in programs)
    crypttab = ("\n    grep -Eq '(^|/)cryptroot/crypttab$' \"$list\" || "
                "{ echo \"$image has no cryptroot/crypttab: the root's LUKS container "
                "would not be opened\" >&2; bad=1; }") if luks and tool == "initramfs-tools" \
        else ""
    return f"""bad=0; list=$(mktemp); found=0
for modules in /lib/modules/*; do
    [ -d "$modules/kernel" ] || continue
    version=${{modules##*/}}; found=1
    image=/boot/initrd.img-$version
    [ -s "$image" ] || image=/boot/initramfs-$version.img
    [ -s "$image" ] || {{ echo "no initramfs for kernel $version" >&2; bad=1; continue; }}
    {lister} "$image" > "$list" || {{ echo "{lister} $image failed" >&2; bad=1; continue; }}
    for program in {wanted}; do
        grep -Eq "(^|/)s?bin/$program\\$" "$list" ||
            {{ echo "$image lacks $program, which the root needs" >&2; bad=1; }}
    done{crypttab}
done
rm -f "$list"
[ "$found" = 1 ] || {{ echo "no kernel under /lib/modules" >&2; exit 1; }}
exit $bad"""


def content_step(target: str, tool: Tool, programs: list[str], luks: bool) -> Step:
    what = ", ".join(programs) if programs else "an image per kernel"
    return Step(id="check:initramfs", layer="check",
                summary=f"check every initramfs holds what the root needs ({what})",
                commands=(Command(in_chroot(target, "sh", "-c",
                                            content_script(tool, programs, luks))),),
                destructive=False)
