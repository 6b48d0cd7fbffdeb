"""Read-only views of a manifest repository for `show`, `log` and `schema`."""

from __future__ import annotations

import json
from typing import Any

from hostbook.manifest.registry import HOST_SECTIONS, SECTIONS, section_model
from hostbook.manifest.store import CommitInfo, ManifestRepository


def host_documents(repo: ManifestRepository, host: str) -> dict[str, dict[str, Any]]:
    """Every section file of a host, validated, as plain data."""
    repo.require_host(host)
    documents = {}
    for section in HOST_SECTIONS:
        doc = repo.load(host, section)
        if doc is not None:
            documents[section] = doc.to_plain()
    return documents


def host_log(repo: ManifestRepository, host: str, limit: int | None) -> list[CommitInfo]:
    """The commits that changed a host; a host never in the repository is bad input.

    A host whose folder was removed still shows the commits that touched it.
    """
    commits = repo.log(host, limit)
    if not commits:
        repo.require_host(host)
    return commits


def host_text(repo: ManifestRepository, host: str) -> str:
    """The host's files as a person reads them: each file's text under a header."""
    host_documents(repo, host)  # validates every file first
    parts = []
    for section in HOST_SECTIONS:
        path = repo.section_path(host, section)
        if path.exists():
            parts.append(f"# ==> {path.relative_to(repo.path)} <==\n{path.read_text()}")
    return "\n".join(parts)


def json_schema(section: str | None = None) -> str:
    """JSON Schema of one section, or of all keyed by section name."""
    if section is not None:
        schema = section_model(section).model_json_schema(by_alias=True)
        schema["$id"] = f"https://hostbook.invalid/schema/{section}/v{SECTIONS[section].VERSION}"
        return json.dumps(schema, indent=2, sort_keys=False)
    every = {name: model.model_json_schema(by_alias=True) for name, model in SECTIONS.items()}
    return json.dumps(every, indent=2)
