"""pip probe: what pip installed into the system interpreter beside the OS packages.

One process: the system ``python3`` lists its distributions with
importlib.metadata (no pip needed, output a few KiB where ``pip inspect``
prints whole READMEs).  A distribution belongs to pip when its ``INSTALLER``
file says so (pip, uv); distribution packages (Debian, Fedora, Arch) write
another installer name or none.  ``REQUESTED`` marks what a person asked for,
the rest came as dependencies.  ``-I`` keeps the user's environment variables
and user site out: this is about the system site-packages.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hostbook.capture.probe import Probe, ProbeContext

SYSTEM_PYTHON = "/usr/bin/python3"
PIP_INSTALLERS = frozenset({"pip", "uv"})
LIST_CODE = (
    "import json,sys\n"
    "from importlib.metadata import distributions\n"
    "rows=[]\n"
    "for d in distributions():\n"
    "    n=d.metadata['Name']\n"
    "    if not n: continue\n"
    "    rows.append([n,d.version,(d.read_text('INSTALLER') or '').strip(),"
    "d.read_text('REQUESTED') is not None,str(d.locate_file(''))])\n"
    "print(json.dumps({'python':sys.version.split()[0],'path':sys.path,'dists':rows}))\n"
)


def canonical(name: str) -> str:
    """PEP 503 normalized project name (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_listing(text: str) -> tuple[list[str], list[str], dict[str, str]]:
    """(manual, auto, versions) of pip-installed distributions; first on sys.path wins."""
    data = json.loads(text)
    order = {p: i for i, p in enumerate(data.get("path", []))}
    rows = sorted(data.get("dists", []), key=lambda r: order.get(r[4], len(order)))
    versions: dict[str, str] = {}
    requested: dict[str, bool] = {}
    for name, version, installer, was_requested, _ in rows:
        key = canonical(name)
        if key in versions or installer.lower() not in PIP_INSTALLERS:
            continue
        versions[key] = version
        requested[key] = bool(was_requested)
    manual = sorted(k for k, v in requested.items() if v)
    auto = sorted(k for k, v in requested.items() if not v)
    return manual, auto, dict(sorted(versions.items()))


def collect_interpreter(ctx: ProbeContext, doc: dict[str, Any], interpreter: str) -> None:
    """Fill ``doc["pip"]`` for one interpreter; absent interpreter means nothing to do."""
    result = ctx.runner.query([interpreter, "-I", "-c", LIST_CODE])
    if result.missing:
        return
    if not result.ok:
        ctx.mark_incomplete("pip", result.failure())
        return
    try:
        manual, auto, versions = parse_listing(result.stdout)
    except (ValueError, TypeError, IndexError) as exc:
        ctx.mark_incomplete("pip", f"{interpreter}: unreadable listing: {exc}")
        return
    if versions:
        doc["pip"] = {"interpreter": interpreter, "manual": manual, "auto": auto,
                      "versions": versions}


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    collect_interpreter(ctx, doc, SYSTEM_PYTHON)


PROBE = Probe(
    name="packages.pip",
    section="packages",
    commands=(SYSTEM_PYTHON,),
    collect=collect,
    description="pip-installed distributions of the system python3 (requested vs dependency)",
)
