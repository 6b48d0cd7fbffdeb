"""Reduce ``cryptsetup luksDump`` output to the parameters that recreate a header.

LUKS2: ``luksDump --dump-json-metadata`` (the JSON area as stored on disk).
LUKS1: the plain-text dump.  Salts, digests, master-key digests and token
contents are dropped here, before anything reaches the manifest.
"""

from __future__ import annotations

import json
import re
from typing import Any

LUKS2_BINARY_HEADER = 4096  # the fixed binary header before each JSON area
LUKS1_SECTOR = 512


class LuksParseError(ValueError):
    """Not LUKS metadata this parser understands."""


def _int(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _kdf(kdf: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": kdf.get("type", "unknown"),
        "hash": kdf.get("hash"),
        "iterations": _int(kdf.get("iterations")),
        "time": _int(kdf.get("time")),
        "memory": _int(kdf.get("memory")),
        "cpus": _int(kdf.get("cpus")),
    }


def luks2_fields(text: str) -> dict[str, Any]:
    """The luks entry fields a LUKS2 JSON area gives (not uuid/label: blkid has them)."""
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LuksParseError(f"LUKS2 metadata is not JSON: {exc.msg}") from None
    if not isinstance(meta, dict) or "segments" not in meta:
        raise LuksParseError("LUKS2 metadata has no segments")
    segments = meta.get("segments") or {}
    crypt = [segments[k] for k in sorted(segments, key=lambda k: int(k))
             if segments[k].get("type") == "crypt"]
    segment = crypt[0] if crypt else {}
    keyslots_raw = meta.get("keyslots") or {}
    keyslots = []
    for slot in sorted(keyslots_raw, key=lambda k: int(k)):
        item = keyslots_raw[slot]
        area = item.get("area") or {}
        af = item.get("af") or {}
        key_size = _int(item.get("key_size"))
        priority = _int(item.get("priority"))
        keyslots.append(
            {
                "slot": int(slot),
                "type": item.get("type"),
                "key_size": key_size * 8 if key_size else None,
                "priority": priority if priority not in (None, 1) else None,
                "cipher": area.get("encryption"),
                "af_hash": af.get("hash"),
                "af_stripes": _int(af.get("stripes")),
                "kdf": _kdf(item.get("kdf") or {}) if item.get("kdf") else None,
            }
        )
    volume_keys = [k["key_size"] for k in keyslots if k["type"] == "luks2" and k["key_size"]]
    digests = meta.get("digests") or {}
    digest = digests[min(digests, key=lambda k: int(k))] if digests else {}
    config = meta.get("config") or {}
    json_size = _int(config.get("json_size"))
    requirements = (config.get("requirements") or {}).get("mandatory") or []
    tokens = meta.get("tokens") or {}
    integrity = segment.get("integrity") or {}
    return {
        "version": 2,
        "cipher": segment.get("encryption"),
        "key_size": volume_keys[0] if volume_keys else None,
        "hash": digest.get("hash"),
        "sector_size": _int(segment.get("sector_size")),
        "data_offset": _int(segment.get("offset")),
        "integrity": integrity.get("type") if isinstance(integrity, dict) else None,
        "metadata_size": json_size + LUKS2_BINARY_HEADER if json_size else None,
        "keyslots_size": _int(config.get("keyslots_size")),
        "flags": sorted(config.get("flags") or []),
        "requirements": sorted(requirements),
        "keyslots_in_use": len(keyslots),
        "keyslots": keyslots,
        "tokens": sorted(str(t.get("type")) for t in tokens.values() if isinstance(t, dict)),
    }


_SLOT = re.compile(r"^Key Slot (\d+): (ENABLED|DISABLED)")


def luks1_fields(text: str) -> dict[str, Any]:
    """The luks entry fields of a LUKS1 plain-text dump."""
    head: dict[str, str] = {}
    slots: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        match = _SLOT.match(line.strip())
        if match:
            current = {"slot": int(match.group(1))} if match.group(2) == "ENABLED" else None
            if current is not None:
                slots.append(current)
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if current is not None and line.startswith("\t"):
            current[key] = value
        elif not line.startswith(("\t", " ")):
            head[key] = value
    if head.get("Version") != "1":
        raise LuksParseError("not a LUKS1 header dump")
    hash_spec = head.get("Hash spec")
    cipher = "-".join(p for p in (head.get("Cipher name"), head.get("Cipher mode")) if p)
    payload = _int(head.get("Payload offset"))
    key_bits = _int(head.get("MK bits"))
    return {
        "version": 1,
        "cipher": cipher or None,
        "key_size": key_bits,
        "hash": hash_spec,
        "sector_size": LUKS1_SECTOR,
        "data_offset": payload * LUKS1_SECTOR if payload is not None else None,
        "keyslots_in_use": len(slots),
        "keyslots": [
            {
                "slot": slot["slot"],
                "key_size": key_bits,
                "cipher": cipher or None,
                "af_stripes": _int(slot.get("AF stripes")),
                "af_hash": hash_spec,
                "kdf": {
                    "type": "pbkdf2",
                    "hash": hash_spec,
                    "iterations": _int(slot.get("Iterations")),
                },
            }
            for slot in slots
        ],
    }
