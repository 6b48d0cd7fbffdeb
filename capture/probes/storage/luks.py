"""Storage probe 4: LUKS containers and plain dm-crypt mappings.

One ``cryptsetup luksDump`` per LUKS device (``--dump-json-metadata`` for
LUKS2, the text dump for LUKS1), reduced at once to parameters: no salt,
digest or token content leaves the parser.  Plain dm-crypt (random-key swap,
``plain`` in crypttab) has no header; it is known from crypttab and, when
open, from ``cryptsetup status``.
"""

from __future__ import annotations

from typing import Any

from hostbook.capture.parsers.fstab import TabError, options_dict, parse_crypttab
from hostbook.capture.parsers.luks import LuksParseError, luks1_fields, luks2_fields
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.storage.inventory import (
    BlockDevice,
    StorageState,
    device_id,
    state,
)

CRYPTTAB = "/etc/crypttab"


def read_crypttab(ctx: ProbeContext, st: StorageState) -> str | None:
    """Parse /etc/crypttab into ``st.crypttab``; return the raw text."""
    raw = ctx.runner.read_file(CRYPTTAB)
    if raw is None:
        return None
    try:
        st.crypttab = parse_crypttab(raw, CRYPTTAB)
    except TabError as exc:
        ctx.mark_incomplete("crypttab", str(exc))
    return raw


def resolve_spec(ctx: ProbeContext, st: StorageState, spec: str) -> str | None:
    """Kernel name of the device a fstab/crypttab spec names (UUID=, LABEL=, path)."""
    key, sep, value = spec.partition("=")
    value = value.strip('"')
    if sep and key in ("UUID", "LABEL", "PARTUUID", "PARTLABEL"):
        field = {"UUID": "UUID", "LABEL": "LABEL", "PARTUUID": "PART_ENTRY_UUID",
                 "PARTLABEL": "PART_ENTRY_NAME"}[key]
        matches = [
            d.kname for d in st.devices.values()
            if st.included(d.kname) and d.blkid.get(field, "").lower() == value.lower()
            and (key != "UUID" or d.blkid.get("TYPE") != "linux_raid_member")
        ]
        return sorted(matches)[0] if matches else None
    if spec.startswith("/dev/"):
        for folder, field in (("/dev/disk/by-uuid/", "UUID"), ("/dev/disk/by-label/", "LABEL"),
                              ("/dev/disk/by-partuuid/", "PART_ENTRY_UUID")):
            if spec.startswith(folder):
                return resolve_spec(ctx, st, f"{_spec_key(field)}={spec[len(folder):]}")
        return st.resolve_path(ctx.runner, spec)
    return None


def _spec_key(field: str) -> str:
    return {"UUID": "UUID", "LABEL": "LABEL", "PART_ENTRY_UUID": "PARTUUID"}[field]


def _open_mapping(st: StorageState, dev: BlockDevice, prefix: str) -> BlockDevice | None:
    for holder in st.holders_of(dev.kname):
        if (holder.dm_uuid or "").startswith(prefix):
            return holder
    return None


def luks_entry(ctx: ProbeContext, st: StorageState, dev: BlockDevice) -> dict[str, Any] | None:
    version = dev.blkid.get("VERSION", "")
    part = f"luks {dev.kname}"
    if version == "2":
        result = ctx.run_ok(["cryptsetup", "luksDump", "--dump-json-metadata", dev.path], part)
        parse = luks2_fields
    else:
        result = ctx.run_ok(["cryptsetup", "luksDump", dev.path], part)
        parse = luks1_fields
    uuid = dev.blkid.get("UUID")
    if uuid is None:
        ctx.mark_incomplete(part, "LUKS header without a UUID")
        return None
    fields: dict[str, Any] = {"version": int(version) if version.isdigit() else 0}
    if result is not None:
        try:
            fields = parse(result.stdout)
        except LuksParseError as exc:
            ctx.mark_incomplete(part, str(exc))
    mapping = _open_mapping(st, dev, "CRYPT-LUKS")
    entry: dict[str, Any] = {
        "id": f"luks:{uuid}",
        "type": "luks",
        "name": mapping.dm_name if mapping else None,
        "device": device_id(st, dev.kname),
        "uuid": uuid,
        "label": dev.blkid.get("LABEL"),
        "subsystem": dev.blkid.get("SUBSYSTEM"),
        **fields,
        "open": mapping is not None,
    }
    offset = entry.get("data_offset")
    if isinstance(offset, int) and 0 < offset < dev.size:
        entry["size"] = dev.size - offset
    for line in st.crypttab:
        if resolve_spec(ctx, st, line.source) == dev.kname:
            entry["crypttab_name"] = line.name
            entry["crypttab_options"] = line.options
            entry["name"] = entry["name"] or line.name
            break
    return entry


def _status(ctx: ProbeContext, name: str) -> dict[str, str]:
    """``cryptsetup status NAME`` as key -> value (cipher, keysize, offset...)."""
    result = ctx.optional(["cryptsetup", "status", name])
    values: dict[str, str] = {}
    for line in (result.stdout if result else "").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    return values


def _first_int(text: str | None) -> int | None:
    word = (text or "").split(" ")[0]
    return int(word) if word.isdigit() else None


def plain_entries(ctx: ProbeContext, st: StorageState) -> None:
    """Plain dm-crypt: open CRYPT-PLAIN mappings and crypttab lines without LUKS."""
    made: set[str] = set()
    for dev in st.devices.values():
        if not st.included(dev.kname) or not (dev.dm_uuid or "").startswith("CRYPT-PLAIN-"):
            continue
        name = dev.dm_name or dev.kname
        status = _status(ctx, name)
        line = next((c for c in st.crypttab if c.name == name), None)
        below = dev.slaves[0] if dev.slaves else None
        st.add_entry(
            {
                "id": f"crypt:{name}",
                "type": "crypt",
                "name": name,
                "device": device_id(st, below),
                "source": line.source if line else None,
                "key_file": line.key_file if line else None,
                "cipher": status.get("cipher"),
                "key_size": _first_int(status.get("keysize")),
                "hash": None if status.get("hash") in (None, "(none)") else status.get("hash"),
                "offset": _first_int(status.get("offset")),
                "sector_size": _first_int(status.get("sector size")),
                "options": line.options if line else None,
                "open": True,
            }
        )
        made.add(name)
    for line in st.crypttab:
        if line.name in made:
            continue
        options = options_dict(line.options)
        target = resolve_spec(ctx, st, line.source)
        target_dev = st.device(target)
        if target_dev is not None and target_dev.blkid.get("TYPE") == "crypto_LUKS":
            continue
        if "luks" in options or "bitlk" in options or "tcrypt" in options:
            continue
        size = options.get("size")
        st.add_entry(
            {
                "id": f"crypt:{line.name}",
                "type": "crypt",
                "name": line.name,
                "device": device_id(st, target),
                "source": line.source,
                "key_file": line.key_file,
                "cipher": options.get("cipher"),
                "key_size": int(size) if size and size.isdigit() else None,
                "hash": options.get("hash"),
                "offset": int(options["offset"]) if options.get("offset", "").isdigit() else None,
                "sector_size": int(options["sector-size"])
                if options.get("sector-size", "").isdigit() else None,
                "options": line.options,
                "open": False,
            }
        )


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    st = state(doc)
    read_crypttab(ctx, st)
    for dev in list(st.devices.values()):
        if not st.included(dev.kname) or dev.blkid.get("TYPE") != "crypto_LUKS":
            continue
        entry = luks_entry(ctx, st, dev)
        if entry is not None:
            st.add_entry(entry)
    plain_entries(ctx, st)


PROBE = Probe(
    name="storage_luks",
    section="storage",
    commands=("cryptsetup",),
    collect=collect,
    description="LUKS1/LUKS2 headers (cryptsetup luksDump), plain dm-crypt from crypttab",
)
