"""Read-only views of a manifest repository for `show`, `log` and `schema`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.registry import HOST_SECTIONS, SECTIONS, section_model
from hostbook.manifest.store import CommitInfo, ManifestRepository


def check_sections(sections: Iterable[str] | None) -> tuple[str, ...]:
    """The host sections named (every one when None or empty), in the order given.

    A name that is not a host file is refused (exit 2) with the list of those that are.
    """
    chosen = tuple(dict.fromkeys(sections or ()))
    if not chosen:
        return HOST_SECTIONS
    unknown = [s for s in chosen if s not in HOST_SECTIONS]
    if unknown:
        raise BadInputError(
            f"no section {unknown[0]!r} (sections: {', '.join(HOST_SECTIONS)})")
    return chosen


def host_documents(
    repo: ManifestRepository, host: str, sections: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The host's section files (every one, or those named), validated, as plain data."""
    chosen = check_sections(sections)
    repo.require_host(host)
    documents = {}
    for section in chosen:
        doc = repo.load(host, section)
        if doc is not None:
            documents[section] = doc.to_plain()
    if sections and not documents:
        raise BadInputError(
            f"{repo.host_dir(host)}: no {', '.join(f'{s}.yaml' for s in chosen)}")
    return documents


def host_log(repo: ManifestRepository, host: str, limit: int | None) -> list[CommitInfo]:
    """The commits that changed a host; a host never in the repository is bad input.

    A host whose folder was removed still shows the commits that touched it.
    """
    commits = repo.log(host, limit)
    if not commits:
        repo.require_host(host)
    return commits


def host_text(repo: ManifestRepository, host: str, sections: Iterable[str] | None = None) -> str:
    """The host's files as a person reads them: each file's text under a header.

    With ``sections``, only those files (``show HOST --section storage``).
    """
    documents = host_documents(repo, host, sections)  # validates each file first
    parts = []
    for section in documents:
        path = repo.section_path(host, section)
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
