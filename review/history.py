"""A host's captures over time, compared: ``hostbook diff`` and ``hostbook log --json``.

Every section file is read from git at the two revisions, within the
manifest layer's limits and validated (a broken file in history is a
``REV:FILE:LINE:COL`` error, exit 2), and compared by
:func:`hostbook.review.semantic.compare_section`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.merge import to_plain
from hostbook.manifest.registry import HOST_SECTIONS
from hostbook.manifest.store import ManifestRepository
from hostbook.manifest.validate import validate_document
from hostbook.manifest.views import check_sections
from hostbook.manifest.yamlio import parse_text
from hostbook.review.semantic import Difference, compare_section


@dataclass
class HostDiff:
    """What differs in one host between two revisions, sorted by relevance."""

    host: str
    old: str | None
    """The older commit (None: before the host's first capture)."""
    new: str
    differences: list[Difference] = field(default_factory=list)

    @property
    def rebuild(self) -> list[Difference]:
        return [d for d in self.differences if d.rebuild_relevant]

    @property
    def cosmetic(self) -> list[Difference]:
        return [d for d in self.differences if not d.rebuild_relevant]

    def summary(self) -> dict[str, Any]:
        """Counts and one line per difference, for ``log --json`` and the report."""
        return {
            "rebuild_relevant": len(self.rebuild),
            "cosmetic": len(self.cosmetic),
            "rebuild_changes": [f"{d.section}: {d.describe()}" for d in self.rebuild],
            "cosmetic_changes": [f"{d.section}: {d.describe()}" for d in self.cosmetic],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host, "old": self.old, "new": self.new,
            "rebuild_relevant": [d.to_json() for d in self.rebuild],
            "cosmetic": [d.to_json() for d in self.cosmetic],
        }


def section_at(repo: ManifestRepository, host: str, section: str,
               rev: str | None) -> dict[str, Any] | None:
    """A section as plain data at commit ``rev`` (None: no such file, or no commit)."""
    if rev is None:
        return None
    text = repo.committed_text(host, section, rev)
    if text is None:
        return None
    where = f"{rev[:12]}:hosts/{host}/{section}.yaml"
    data = parse_text(text, where)
    validate_document(data, where, section)
    plain: dict[str, Any] = to_plain(data)
    return plain


def _require_host(repo: ManifestRepository, host: str) -> None:
    if not repo.log(host, 1):
        known = ", ".join(repo.hosts()) or "none"
        raise BadInputError(f"{repo.path}: no capture of host {host!r} (hosts: {known})")


def default_revisions(repo: ManifestRepository, host: str) -> tuple[str | None, str]:
    """The host's last two commits, older first (None before its first one)."""
    _require_host(repo, host)
    commits = repo.log(host, 2)
    return (commits[1].sha if len(commits) > 1 else None), commits[0].sha


def diff_host(
    repo: ManifestRepository, host: str, old: str | None = None, new: str | None = None,
    sections: Iterable[str] | None = None,
) -> HostDiff:
    """``hostbook diff HOST [OLD [NEW]]``: no revision compares the host's last two
    captures, one compares it with the latest capture, two compare those."""
    chosen = check_sections(sections)
    if old is None:
        old_sha, new_sha = default_revisions(repo, host)
    else:
        _require_host(repo, host)
        old_sha = repo.revision(old)
        new_sha = repo.revision(new) if new is not None else repo.log(host, 1)[0].sha
    return compare_revisions(repo, host, old_sha, new_sha, chosen)


def compare_revisions(repo: ManifestRepository, host: str, old: str | None, new: str,
                      sections: Iterable[str] = HOST_SECTIONS) -> HostDiff:
    """Every section of ``host`` compared between two full commit shas."""
    result = HostDiff(host, old, new)
    for section in sections:
        result.differences += compare_section(
            section, section_at(repo, host, section, old), section_at(repo, host, section, new))
    return result


def log_entries(repo: ManifestRepository, host: str,
                limit: int | None = None) -> list[dict[str, Any]]:
    """``log --json``: each commit that touched the host, with its semantic summary
    (what it changed against the commit before it)."""
    entries = []
    for commit in repo.log(host, limit):
        parent = _parent(repo, commit.sha)
        entry: dict[str, Any] = dict(commit.__dict__)
        entry["semantic"] = compare_revisions(repo, host, parent, commit.sha).summary()
        entries.append(entry)
    return entries


def _parent(repo: ManifestRepository, sha: str) -> str | None:
    try:
        return repo.revision(f"{sha}^")
    except BadInputError:
        return None


def render_diff(diff: HostDiff) -> str:
    """The text ``hostbook diff`` prints: rebuild-relevant first, each with its reason."""
    before = diff.old[:12] if diff.old else "(nothing)"
    lines = [f"{diff.host}: {before} -> {diff.new[:12]}"]
    for title, group in (("rebuild-relevant", diff.rebuild), ("cosmetic", diff.cosmetic)):
        lines.append(f"{title} ({len(group)}):")
        lines += [f"  {d.section}: {_short(d.describe())}  [{d.reason}]" for d in group]
    return "\n".join(lines) + "\n"


def _short(text: str, limit: int = 160) -> str:
    """One line of at most ``limit`` characters (a changed file copy can be long)."""
    flat = text.replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
