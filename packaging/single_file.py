"""Build hostbook as one self-contained file: ``dist/hostbook-<version>-x86_64``.

    .venv/bin/python packaging/single_file.py            # for CPython 3.11, 3.12, 3.13 (PyPI)
    .venv/bin/python packaging/single_file.py --installed  # this interpreter only, offline

The file is a zip application (``#!/usr/bin/env python3`` + a zip) holding
hostbook and every package it imports; a live system with python3 (Debian
12, Ubuntu 24.04) runs it with no network and no virtualenv.  Pure packages
are bundled once; the compiled ones (pydantic-core, ruamel.yaml.clib,
markupsafe) once per CPython version, downloaded from PyPI as manylinux
wheels at the versions installed here, or with ``--installed`` copied from
this interpreter's own installation.  ``packaging/bootstrap.py`` is its
``__main__`` (the first run unpacks it into a cache; see there why).  Why a
zipapp and not a PyInstaller onefile: benchmarks/single_file.md.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHONS = ("3.11", "3.12", "3.13")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
EPOCH = (2020, 1, 1, 0, 0, 0)  # every entry's time: the same sources make the same file


def closure(name: str) -> list[metadata.Distribution]:
    """``name``'s installed distribution and every one it requires here (extras and
    requirements whose markers exclude this interpreter left out)."""
    seen: dict[str, metadata.Distribution] = {}
    pending = [name]
    while pending:
        current = re.split(r"[<>=!~; \[]", pending.pop(), maxsplit=1)[0]
        key = current.lower().replace("_", "-").replace(".", "-")
        if key in seen:
            continue
        dist = metadata.distribution(current)
        seen[key] = dist
        for requirement in dist.requires or []:
            marker = Requirement(requirement).marker  # exceptiongroup: python < 3.11 only
            if marker is None or marker.evaluate({"extra": ""}):
                pending.append(requirement)
    return list(seen.values())


def compiled(dist: metadata.Distribution) -> bool:
    return any(str(f).endswith(".so") for f in dist.files or [])


def copy_installed(dist: metadata.Distribution, dest: Path) -> None:
    """The distribution's files as installed (its RECORD), without bytecode."""
    base = Path(str(dist.locate_file("")))
    for file in dist.files or []:
        source = base / file
        text = str(file)
        if text.startswith("..") or "__pycache__" in text or text.endswith(".pyc"):
            continue
        if source.is_file():
            target = dest / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True)


def build_site(work: Path, installed: bool) -> list[str]:
    """site/common and site/cp3XX under ``work``; returns the CPython tags built."""
    common = work / "site" / "common"
    common.mkdir(parents=True)
    wheels = work / "wheels"
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT))
    pip("install", "--no-deps", "--no-compile", "--target", str(common),
        *map(str, wheels.glob("hostbook-*.whl")))
    dists = [d for d in closure("hostbook") if d.metadata["Name"].lower() != "hostbook"]
    binary = [d for d in dists if compiled(d)]
    for dist in dists:
        if not compiled(dist):
            copy_installed(dist, common)
    here = f"cp{sys.version_info.major}{sys.version_info.minor}"
    if installed:
        for dist in binary:
            copy_installed(dist, work / "site" / here)
        return [here]
    tags = []
    for version in PYTHONS:
        tag = "cp" + version.replace(".", "")
        platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
        pip("install", "--no-deps", "--no-compile", "--only-binary=:all:",
            "--implementation", "cp", "--python-version", version, "--abi", tag, *platforms,
            "--target", str(work / "site" / tag),
            *(f"{d.metadata['Name']}=={d.version}" for d in binary))
        tags.append(tag)
    return tags


def write_zipapp(work: Path, output: Path) -> str:
    """The shebang and the zip, written beside ``output`` and renamed; returns the build id."""
    files = sorted(p for p in (work / "site").rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(work)).encode() + b"\0" + path.read_bytes())
    digest.update((HERE / "bootstrap.py").read_bytes())
    build = digest.hexdigest()[:16]
    temporary = output.with_name(output.name + ".partial")
    with open(temporary, "wb") as raw:
        raw.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as bundle:
            def add(name: str, data: bytes) -> None:
                info = zipfile.ZipInfo(name, EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                bundle.writestr(info, data)

            add("__main__.py", (HERE / "bootstrap.py").read_bytes())
            add("BUILD_ID", build.encode() + b"\n")
            for path in files:
                add(str(path.relative_to(work)), path.read_bytes())
    temporary.chmod(0o755)
    os.replace(temporary, output)
    return build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--installed", action="store_true",
                        help="bundle this interpreter's installed packages only (offline)")
    parser.add_argument("--output", type=Path, help="file to write (default dist/...)")
    args = parser.parse_args(argv)
    version = metadata.version("hostbook")
    output = args.output or ROOT / "dist" / f"hostbook-{version}-x86_64"
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hostbook-single-") as scratch:
        work = Path(scratch)
        tags = build_site(work, args.installed)
        build = write_zipapp(work, output)
    size = output.stat().st_size
    print(f"built {output} ({size / 1e6:.1f} MB, build {build}, for {', '.join(tags)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
