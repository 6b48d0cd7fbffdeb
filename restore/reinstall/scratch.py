"""The scratch apt configuration a reinstall plans with (see facts.SCRATCH).

The new system's own source parts and the old host's third-party sources,
their Signed-By keys written beside them, in a folder of their own; ``apt-get
update`` with ``facts.apt_options`` fills scratch lists from them.  Nothing of
the system's apt state changes, so a ``--dry-run`` plans with the same names
and the same simulation as the apply.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from hostbook.capture.probes.host_root import on_host
from hostbook.manifest.yamlio import atomic_write_text
from hostbook.restore.reinstall.packages import FileToWrite


def prepare(files: list[FileToWrite], root: str, scratch: str) -> None:
    """Write the scratch folder afresh: system parts, third-party sources, keys."""
    base = Path(scratch)
    shutil.rmtree(base, ignore_errors=True)
    for sub in ("sources.list.d", "lists/partial", "cache/archives/partial", "keys"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    own = Path(on_host(root, "/etc/apt/sources.list.d"))
    system = [Path(on_host(root, "/etc/apt/sources.list"))]
    system += sorted(own.iterdir()) if own.is_dir() else []
    for entry in system:
        if entry.suffix in (".list", ".sources") and entry.is_file():
            text = entry.read_text(errors="replace")
            if root:  # a tree's key paths are below it; apt's Dir does not move Signed-By
                text = re.sub(r"(?i)(signed-by[=:]\s*)(/)", lambda m: m[1] + root + m[2], text)
            name = "system.list" if entry.name == "sources.list" else entry.name
            atomic_write_text(base / "sources.list.d" / name, text)
    keys = {f.path: f for f in files if "BEGIN PGP PUBLIC KEY BLOCK" in f.content}
    for index, path in enumerate(sorted(keys)):
        local = base / "keys" / f"{index}.asc"
        atomic_write_text(local, keys[path].content)
        keys[path] = FileToWrite(str(local), "")
    for f in files:
        if f.path in keys or ("/sources.list.d/" not in f.path and not f.path.endswith(
                "sources.list")):
            continue
        text = f.content
        for original, local in keys.items():
            text = text.replace(original, local.path)
        name = Path(f.path).name if "/sources.list.d/" in f.path else "hostbook-old.list"
        atomic_write_text(base / "sources.list.d" / name, text)
