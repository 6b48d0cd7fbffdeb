"""pipx probe: applications installed with pipx by the capturing user."""

from __future__ import annotations

import json
from typing import Any

from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.redact import redact_url

PIPX_LIST = ["pipx", "list", "--json"]


def parse_pipx(text: str) -> list[dict[str, Any]]:
    """One record per venv from ``pipx list --json`` (spec 0.1)."""
    data = json.loads(text)
    apps = []
    for venv_name, venv in sorted((data.get("venvs") or {}).items()):
        metadata = venv.get("metadata") or {}
        main = metadata.get("main_package") or {}
        name = main.get("package") or venv_name
        app: dict[str, Any] = {"name": venv_name}
        if main.get("package_version"):
            app["version"] = main["package_version"]
        spec = main.get("package_or_url")
        if spec and spec != name:
            app["spec"] = redact_url(spec)[0]
        python = metadata.get("python_version")
        if python:
            app["python"] = str(python).replace("Python ", "")
        injected = {
            pkg: (info or {}).get("package_version", "")
            for pkg, info in sorted((metadata.get("injected_packages") or {}).items())
        }
        if injected:
            app["injected"] = injected
        apps.append(app)
    return apps


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    result = ctx.runner.query(PIPX_LIST)
    if result.missing:
        return
    if not result.ok:
        ctx.mark_incomplete("pipx", result.failure())
        return
    try:
        apps = parse_pipx(result.stdout)
    except ValueError as exc:
        ctx.mark_incomplete("pipx", f"pipx list --json: {exc}")
        return
    if apps:
        doc["pipx"] = {"apps": apps}


PROBE = Probe(
    name="packages.pipx",
    section="packages",
    commands=("pipx",),
    collect=collect,
    description="pipx applications with version, install spec, python and injected packages",
)
