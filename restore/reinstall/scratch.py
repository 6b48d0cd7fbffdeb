"""The scratch apt configuration a reinstall plans with (see facts.SCRATCH).

The new system's own source parts and the old host's third-party sources,
their Signed-By keys written beside them, in a folder of their own; ``apt-get
update`` with ``facts.apt_options`` fills scratch lists from them.  Nothing of
the system's apt state changes, so a ``--dry-run`` plans with the same names
and the same simulation as the apply.

One folder serves every plan, so a plan holds ``<scratch>.lock`` while it
writes the folder and asks apt: a ``--dry-run`` started beside an apply (whose
every step plans again) would otherwise empty the folder under the other's
``apt-get``.  The second one waits, then names the holder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from hostbook.capture.probes.host_root import on_host
from hostbook.manifest.durable import open_private
from hostbook.manifest.errors import RuntimeFailure
from hostbook.manifest.locking import held
from hostbook.manifest.yamlio import atomic_write_text
from hostbook.restore.reinstall.packages import FileToWrite

LOCK_WAIT = 600.0
"""Seconds a plan waits for another one (planning 1,500 packages took under a minute)."""


@contextlib.contextmanager
def locked(scratch: str, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold the scratch folder's lock for the block (see the module docstring)."""
    path = Path(f"{scratch.rstrip('/')}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_private(path, os.O_RDWR | os.O_CLOEXEC)

    def holder() -> str:
        try:
            return path.read_text().strip() or "another plan"
        except OSError:
            return "another plan"

    def busy() -> RuntimeFailure:
        return RuntimeFailure(f"{path}: another reinstall plan holds it ({holder()}) "
                              f"after waiting {wait:g}s")

    with held(fd, wait, 0.5, busy, lambda: f"pid {os.getpid()}, since {time.ctime()}\n"):
        yield


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
