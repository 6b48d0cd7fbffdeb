"""The names and identifiers a manifest may hold where tools and paths take them.

Restore builds device paths (``/dev/md/NAME``, ``/dev/mapper/NAME``,
``/dev/VG/LV``) and sfdisk input from storage.yaml, and jobs build snapshot
names and mount paths from jobs.yaml.  Those files are edited by people, so
each name is checked here once, by the schema, and every layer that uses a
name can rely on it: restore's own path check uses the same rule.

Patterns are matched with ``fullmatch``: ``$`` also matches before a final
newline, which let ``"home\\n"`` through as a name.
"""

from __future__ import annotations

import re

# What restore puts after /dev/md/, /dev/mapper/ and /dev/VG/: no '/', no '..',
# no space, quote or control character.
DEVICE_NAME = re.compile(r"[A-Za-z0-9+_.:-][A-Za-z0-9+_.:@-]*")
# lvm(8): "a-z A-Z 0-9 + _ . -", not starting with '-', not '.' or '..', at most 127.
LVM_NAME = re.compile(r"[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}")
# Kernel block device names (sda, nvme0n1, mmcblk0, dm-0, cciss!c0d0).
KERNEL_NAME = re.compile(r"[A-Za-z0-9_.:+!-]{1,64}")
GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
# An MBR disk signature as sfdisk prints it.
MBR_ID = re.compile(r"0x[0-9A-Fa-f]{1,8}")
# An MBR PARTUUID: the disk signature and the partition number in hex.
MBR_PARTUUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{2}")
# An MBR partition type byte in hex, as sfdisk writes it (83, 5, 0x82).
MBR_TYPE = re.compile(r"(0x)?[0-9A-Fa-f]{1,2}")
# sfdisk's attrs="...": bit names and GUID:<bit>[,<bit>] separated by spaces.
_ATTRIBUTE = r"[A-Za-z0-9]+(:[0-9]+(,[0-9]+)*)?"
GPT_ATTRIBUTES = re.compile(rf"{_ATTRIBUTE}( +{_ATTRIBUTE})*")
# UUIDs as blkid, mdadm and LVM print them (hex with '-' or ':', LVM's base62 words).
UUID_TEXT = re.compile(r"[0-9A-Za-z][0-9A-Za-z:-]{0,63}")
GPT_NAME_UNITS = 36  # a GPT partition name is 72 bytes of UTF-16


def control_characters(text: str) -> bool:
    """True when ``text`` holds a C0 control character, DEL or a line separator."""
    return any(ord(c) < 0x20 or c in "\x7f\u0085\u2028\u2029" for c in text)


def device_name_problem(kind: str, name: str) -> str | None:
    """Why ``name`` cannot be a device name restore puts in a /dev path, or None."""
    if not DEVICE_NAME.fullmatch(name) or ".." in name:
        return (f"{kind} name {name!r}: use letters, digits and + _ . : - @ (not starting "
                "with @, no '..'): restore makes a /dev path of it")
    return None


def lvm_name_problem(kind: str, name: str) -> str | None:
    """Why ``name`` is not a VG or LV name lvm(8) accepts (and restore can use), or None."""
    if not LVM_NAME.fullmatch(name) or name in (".", "..") or ".." in name:
        return (f"{kind} name {name!r}: LVM names use letters, digits and + _ . - (not "
                "starting with '-', at most 127 characters, no '..')")
    return None


def gpt_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be written back as a GPT partition name, or None.

    The name goes into sfdisk's input line by line, and through a heredoc in
    the restore script: a newline would end the line (or the heredoc) early.
    """
    if control_characters(name):
        return "a GPT partition name cannot hold control characters or line breaks"
    if len(name.encode("utf-16-le")) // 2 > GPT_NAME_UNITS:
        return f"a GPT partition name has at most {GPT_NAME_UNITS} UTF-16 characters"
    return None
