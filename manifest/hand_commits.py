"""Committing the files people write (jobs.yaml, restore.yaml) on purpose.

Capture commits only the files it captured, so a hand-written file is never
swept into a capture's commit titled "no semantic change".  ``hostbook
commit HOST`` commits the rest of the host's folder in a commit of its own
that names each file, after checking every one of them (a broken file is
refused with FILE:LINE:COL and nothing is committed).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from hostbook.manifest.registry import HOST_SECTIONS
from hostbook.manifest.store import ManifestRepository


def _describe(repo: ManifestRepository, host: str, rel: str) -> str:
    name = PurePosixPath(rel).name
    if not (repo.path / rel).exists():
        return f"-{name}"
    section = name.removesuffix(".yaml")
    was = repo.committed_text(host, section) if section in HOST_SECTIONS else None
    return f"~{name}" if was is not None else f"+{name}"


def commit_by_hand(repo: ManifestRepository, host: str, message: str | None = None
                   ) -> tuple[str | None, list[str]]:
    """Commit every uncommitted file of the host's folder; (sha or None, what changed)."""
    repo.require_host(host)
    with repo.lock():
        changed = repo.uncommitted(host)
        if not changed:
            return None, []
        for rel in changed:
            section = PurePosixPath(rel).name.removesuffix(".yaml")
            if section in HOST_SECTIONS and (repo.path / rel).exists():
                repo.load(host, section)  # a broken file is refused before any commit
        said = [_describe(repo, host, rel) for rel in changed]
        subject = message or f"by hand: {', '.join(said)}"
        body = "\n".join(f"{host}: {line}" for line in said)
        return repo.commit_host(host, f"{subject}\n\n{body}"), said
