"""Inspect one git repository with as few git processes as possible.

Three processes per working tree answer everything the verdict needs:

- ``config --show-scope --get-regexp``: remotes, push URLs, sparse-checkout,
  and the names of the program-running keys the next commands must disarm;
- ``status --porcelain=v2 --branch --show-stash``: branch, HEAD, upstream,
  ahead/behind, changed and untracked entries, submodules whose checked-out
  commit moved, the number of stashes;
- ``rev-list --count HEAD --branches --tags --not --remotes``: commits that
  no remote-tracking ref contains, i.e. what a re-clone would lose.

Repositories with submodules cost three more (``submodule foreach`` listing
the submodules' program-running keys, ``.gitmodules`` and ``ls-tree``).
Every command runs with ``-c safe.directory=*`` (capture reads everyone's
repositories), ``--no-optional-locks`` (a probe never writes the index) and
the confinement of git_hardening: as the repository's owner, with nothing
the repository configures able to run.  Files are read only when the
repository's owner owns them (see confine.read_owned).

Where a remote is defined in several of the repository's scopes, the most
specific one wins, as for ``git config --get``: a linked worktree's
worktree-scoped ``remote.origin.url`` is that worktree's remote, not the main
repository's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hostbook.capture.probe import ProbeContext
from hostbook.capture.probes.checkouts import git_hardening
from hostbook.capture.redact import redact_url
from hostbook.process.confine import Confinement

_CONFIG_KEYS = (
    rf"^(remote\..*\.(url|pushurl)|core\.(sparsecheckout|bare)|{git_hardening.PROGRAM_KEYS})$"
)


def git(path: str, *args: str) -> list[str]:
    """argv for git on ``path``, safe for repositories owned by other users."""
    return ["git", "-c", "safe.directory=*", "-C", path, "--no-optional-locks", *args]


@dataclass
class StatusReport:
    """What ``git status --porcelain=v2 --branch`` says."""

    head: str | None = None
    branch: str | None = None
    detached: bool = False
    upstream: str | None = None
    ahead: int | None = None
    behind: int | None = None
    modified: int = 0
    untracked: int = 0
    stashes: int = 0
    moved_submodules: set[str] = field(default_factory=set)


def parse_status(text: str) -> StatusReport:
    """Parse porcelain v2 output (paths are only counted, so no -z is needed)."""
    report = StatusReport()
    for line in text.splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(" ")
            if key == "branch.oid":
                report.head = None if value == "(initial)" else value
            elif key == "branch.head":
                if value == "(detached)":
                    report.detached = True
                else:
                    report.branch = value
            elif key == "branch.upstream":
                report.upstream = value
            elif key == "branch.ab":
                ahead, _, behind = value.partition(" ")
                report.ahead = abs(int(ahead))
                report.behind = abs(int(behind))
            elif key == "stash":
                report.stashes = int(value)
        elif line.startswith("? "):
            report.untracked += 1
        elif line[:2] in ("1 ", "2 ", "u "):
            report.modified += 1
            fields = line.split(" ")
            # field 3 is the submodule state: "N..." or "S<c><m><u>"
            if len(fields) > 2 and fields[2].startswith("S") and fields[2][1] == "C":
                path = line.split("\t", 1)[0].split(" ", 8 if line[0] == "1" else 9)[-1]
                report.moved_submodules.add(path)
    return report


def parse_config(text: str) -> tuple[list[dict[str, Any]], bool, bool]:
    """Remotes (sorted by name), sparse-checkout flag and bare flag.

    The input is ``config --show-scope --get-regexp`` output: only the
    repository's own scopes (local, worktree) count, so a remote defined in a
    user's global configuration is not mistaken for the repository's.  Later
    lines override earlier ones (git lists the worktree scope after local).
    """
    urls: dict[str, str] = {}
    push: dict[str, str] = {}
    sparse = bare = False
    for line in text.splitlines():
        scope, tab, entry = line.partition("\t")
        if tab and scope not in ("local", "worktree"):
            continue
        key, _, value = (entry if tab else line).partition(" ")
        lowered = key.lower()
        if lowered == "core.sparsecheckout":
            sparse = value.strip().lower() in ("true", "yes", "on", "1")
        elif lowered == "core.bare":
            bare = value.strip().lower() in ("true", "yes", "on", "1")
        elif lowered.startswith("remote.") and lowered.endswith(".url"):
            urls[key[len("remote.") : -len(".url")]] = value
        elif lowered.startswith("remote.") and lowered.endswith(".pushurl"):
            push[key[len("remote.") : -len(".pushurl")]] = value
    remotes = []
    for name in sorted(urls):
        url, hidden = redact_url(urls[name])
        remote: dict[str, Any] = {"name": name, "url": url}
        if name in push:
            push_url, push_hidden = redact_url(push[name])
            if push_url != url:
                remote["push_url"] = push_url
            hidden = hidden or push_hidden
        if hidden:
            remote["credentials_redacted"] = True
        remotes.append(remote)
    return remotes, sparse, bare


def _common_dir(found: dict[str, Any]) -> str:
    """The directory holding refs and logs shared by all worktrees."""
    gitdir = found.get("gitdir")
    if found.get("layout") == "bare":
        return str(found["path"])
    if gitdir and found.get("layout") == "worktree":
        return str(gitdir).rpartition("/worktrees/")[0]
    return str(gitdir or f"{found['path']}/.git")


def _own_dir(found: dict[str, Any]) -> str:
    if found.get("layout") == "bare":
        return str(found["path"])
    return str(found.get("gitdir") or f"{found['path']}/.git")


def main_worktree(found: dict[str, Any]) -> str | None:
    """Path of the repository a linked worktree belongs to."""
    if found.get("layout") != "worktree":
        return None
    common = _common_dir(found)
    return common[: -len("/.git")] if common.endswith("/.git") else common


def inspect_git(ctx: ProbeContext, found: dict[str, Any]) -> dict[str, Any]:
    """Fill a checkout record for one git repository; failures mark it incomplete."""
    path = str(found["path"])
    part = f"checkout {path}"
    record: dict[str, Any] = {"path": path, "vcs": "git"}
    bare = found.get("layout") == "bare"
    if bare:
        record["bare"] = True
    if found.get("layout") == "worktree":
        record["worktree_of"] = main_worktree(found)
    elif found.get("gitdir"):
        record["gitdir"] = found["gitdir"]
    problems: list[str] = []
    owner_of = git_hardening.checkout_paths(found, _own_dir(found), _common_dir(found))

    config = ctx.run_ok(
        git(path, "config", "--show-scope", "--get-regexp", _CONFIG_KEYS), part, ok_codes=(0, 1),
        confine=git_hardening.confinement(owner_of), mask=git_hardening.mask_config,
    )
    remotes, sparse, _ = parse_config(config.stdout) if config else ([], False, False)
    if config is None:
        problems.append("git config failed")
    record["remotes"] = remotes
    keys = git_hardening.program_key_names(config.stdout.splitlines() if config else [])
    isolate_submodules = False
    if found.get("gitmodules") and not bare:
        listed = ctx.run_ok(
            git(path, "submodule", "foreach", "--quiet", "--recursive",
                git_hardening.SUBMODULE_KEYS_COMMAND),
            part, confine=git_hardening.confinement(owner_of, keys),
        )
        if listed is None:
            problems.append("submodule configuration not read")
            isolate_submodules = True  # status must not look into them
        else:
            keys += git_hardening.program_key_names(listed.stdout.splitlines())
    confine = git_hardening.confinement(owner_of, keys)

    status = StatusReport()
    if bare:
        head = ctx.runner.read_file(f"{path}/HEAD", confine=confine) or ""
        if head.startswith("ref: refs/heads/"):
            status.branch = head[len("ref: refs/heads/") :].strip()
        resolved = ctx.run_ok(git(path, "rev-parse", "--verify", "-q", "HEAD"), part,
                              ok_codes=(0, 1), confine=confine)
        status.head = (resolved.stdout.strip() or None) if resolved else None
        stash_log = ctx.runner.read_file(f"{path}/logs/refs/stash", confine=confine)
        status.stashes = len([line for line in (stash_log or "").splitlines() if line.strip()])
    else:
        args = ["status", "--porcelain=v2", "--branch", "--show-stash", "--untracked-files=normal"]
        if isolate_submodules:
            args.append("--ignore-submodules=all")
        result = ctx.run_ok(git(path, *args), part, confine=confine)
        if result is None:
            problems.append("git status failed")
        else:
            status = parse_status(result.stdout)
    record.update(
        branch=status.branch,
        detached=True if status.detached else None,
        head=status.head,
        upstream=status.upstream,
        ahead=status.ahead,
        behind=status.behind,
        modified=status.modified,
        untracked=status.untracked,
    )

    if status.head is not None:
        counted = ctx.run_ok(
            git(path, "rev-list", "--count", "HEAD", "--branches", "--tags", "--not",
                "--remotes"),
            part, confine=confine,
        )
        if counted is None:
            problems.append("git rev-list failed")
        else:
            record["unpushed"] = int(counted.stdout.strip() or 0)
    else:
        record["unpushed"] = 0

    record["stashes"] = status.stashes or None

    if sparse:
        patterns = ctx.runner.read_file(f"{_own_dir(found)}/info/sparse-checkout",
                                        confine=confine) or ""
        record["sparse"] = [
            line.strip() for line in patterns.splitlines()
            if line.strip() and not line.startswith("#")
        ]

    if found.get("gitmodules") and status.head is not None:
        record["submodules"] = _submodules(ctx, path, part, status.moved_submodules, confine)

    record["restorable"], record["reason"] = verdict(record, problems)
    return record


def _submodules(
    ctx: ProbeContext, path: str, part: str, moved: set[str], confine: Confinement
) -> list[dict[str, Any]]:
    declared = ctx.run_ok(
        git(path, "config", "-f", ".gitmodules", "--get-regexp",
            r"^submodule\..*\.(path|url)$"),
        part,
        ok_codes=(0, 1),
        confine=confine,
        mask=git_hardening.mask_config,
    )
    if declared is None:
        return []
    paths: dict[str, str] = {}
    urls: dict[str, str] = {}
    for line in declared.stdout.splitlines():
        key, _, value = line.partition(" ")
        name, _, attribute = key[len("submodule.") :].rpartition(".")
        (paths if attribute == "path" else urls)[name] = value
    if not paths:
        return []
    tree = ctx.run_ok(git(path, "ls-tree", "HEAD", "--", *sorted(paths.values())), part,
                      confine=confine)
    commits: dict[str, str] = {}
    for line in (tree.stdout if tree else "").splitlines():
        meta, _, entry_path = line.partition("\t")
        fields = meta.split()
        if len(fields) == 3 and fields[1] == "commit":
            commits[entry_path] = fields[2]
    result = []
    for name, sub_path in sorted(paths.items(), key=lambda item: item[1]):
        item: dict[str, Any] = {"path": sub_path, "commit": commits.get(sub_path)}
        if name in urls:
            item["url"], hidden = redact_url(urls[name])
            if hidden:
                item["credentials_redacted"] = True
        if sub_path in moved:
            item["checked_out_differs"] = True
        result.append(item)
    return result


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def verdict(record: dict[str, Any], problems: list[str]) -> tuple[bool, str]:
    """Can a fresh clone stand in for this repository?  And why (not)."""
    reasons = list(problems)
    if not record.get("remotes"):
        reasons.append("no remote")
    if record.get("unpushed"):
        reasons.append(_plural(record["unpushed"], "commit") + " not on any remote")
    if record.get("modified"):
        reasons.append(_plural(record["modified"], "uncommitted change"))
    if record.get("untracked"):
        reasons.append(_plural(record["untracked"], "untracked path"))
    if record.get("stashes"):
        reasons.append(_plural(record["stashes"], "stash"))
    moved = [s["path"] for s in record.get("submodules") or [] if s.get("checked_out_differs")]
    if moved:
        reasons.append("submodule commit not recorded: " + ", ".join(moved))
    if reasons:
        return False, "; ".join(reasons)
    return True, "clean; every commit is on a remote"
