"""Parse XFS geometry from ``xfs_db -r -c info -c 'sb 0' -c 'print ...'``.

``info`` prints the same report as ``xfs_info``; the ``print`` lines that
follow give the free block count for the used size of an unmounted
filesystem.
"""

from __future__ import annotations

import re
from typing import Any

_PAIR = re.compile(r"([a-z0-9_-]+)=([^\s,]+)")
_SECTIONS = ("meta-data", "data", "naming", "log", "realtime")
# Switches mkfs.xfs takes with -m / -i / -n that describe on-disk features.
_FEATURES = ("crc", "finobt", "sparse", "rmapbt", "reflink", "bigtime", "inobtcount",
             "nrext64", "projid32bit", "attr")


def parse_info(text: str) -> dict[str, dict[str, str]]:
    """Group the ``key=value`` pairs of the info report by section.

    Each section's own value (``internal log``, ``version 2``, ``none``, the
    device) is kept under ``_first``.
    """
    sections: dict[str, dict[str, str]] = {}
    current = ""
    for line in text.splitlines():
        head, sep, rest = line.partition("=")
        name = head.strip()
        if not sep or (name and name not in _SECTIONS) or (not name and not current):
            continue
        if name:
            current = name
            sections[current] = {"_first": rest.split("  ")[0].strip()}
        for key, value in _PAIR.findall(rest):
            sections[current].setdefault(key, value)
    return sections


def parse_prints(text: str) -> dict[str, int]:
    """``name = number`` lines printed by xfs_db's ``print``."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" = ")
        if sep and value.strip().isdigit():
            values[key.strip()] = int(value.strip())
    return values


def _num(section: dict[str, str], key: str) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def xfs_details(info: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The ``xfs:`` record of a filesystem entry."""
    meta = info.get("meta-data", {})
    data = info.get("data", {})
    naming = info.get("naming", {})
    log = info.get("log", {})
    realtime = info.get("realtime", {})
    log_where = log.get("_first", "")
    log_internal = log_where.startswith("internal")
    block_size = _num(data, "bsize") or 0
    log_blocks = _num(log, "blocks")
    log_bsize = _num(log, "bsize")
    features = {k: int(meta[k]) for k in _FEATURES if k in meta and meta[k].isdigit()}
    for key in ("crc", "finobt", "sparse", "rmapbt", "reflink", "bigtime", "inobtcount",
                "nrext64"):
        if key in data and data[key].isdigit():
            features.setdefault(key, int(data[key]))
    return {
        "block_size": block_size,
        "data_blocks": _num(data, "blocks") or 0,
        "sector_size": _num(meta, "sectsz") or 0,
        "inode_size": _num(meta, "isize") or 0,
        "ag_count": _num(meta, "agcount") or 0,
        "ag_size": _num(meta, "agsize") or 0,
        "imaxpct": _num(data, "imaxpct"),
        "sunit": _num(data, "sunit"),
        "swidth": _num(data, "swidth"),
        "naming_version": _version(naming.get("_first")),
        "directory_block_size": _num(naming, "bsize"),
        "ascii_ci": _flag(naming.get("ascii-ci")),
        "ftype": _flag(naming.get("ftype")),
        "log_internal": log_internal,
        "log_device": None if log_internal or not log_where else log_where,
        "log_block_size": log_bsize,
        "log_blocks": log_blocks,
        "log_size": log_blocks * log_bsize if log_blocks and log_bsize else None,
        "log_version": _num(log, "version"),
        "log_sector_size": _num(log, "sectsz"),
        "log_sunit": _num(log, "sunit"),
        "lazy_count": _flag(log.get("lazy-count")),
        "realtime": realtime.get("_first") or None,
        "features": dict(sorted(features.items())),
    }


def _version(first: str | None) -> int | None:
    """``version 2`` -> 2."""
    word = (first or "").split(" ")[-1]
    return int(word) if word.isdigit() else None


def _flag(value: str | None) -> bool | None:
    return None if value is None or not value.isdigit() else value != "0"
