"""The manifest repository: section files under hosts/<host>/, tracked in git.

Git is driven through GitPython's command wrapper with a per-process
``safe.directory`` so a repository owned by another user (root capturing into
an admin's checkout) works without touching anyone's git config.  Root acts
as that owner while it writes there (``manifest/access.py``): the files
capture writes and everything git writes belong to the owner, who can go on
committing, and the owner's hooks never run as root.  Every repository
object is closed after use so no `git cat-file` helper outlives a command.
A lock file serialises captures of one repository.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import shlex
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import git

from hostbook.manifest.access import (
    Owner,
    as_owner,
    become,
    check_writable,
    hand_over,
    repository_owner,
    user_name,
)
from hostbook.manifest.access import repair as repair_ownership
from hostbook.manifest.bounds import MAX_DOCUMENT_BYTES, mib
from hostbook.manifest.errors import BadInputError, ManifestError, RuntimeFailure
from hostbook.manifest.file_cache import cached, caching, memo
from hostbook.manifest.hostname import check_host
from hostbook.manifest.locking import held
from hostbook.manifest.paths import check_repository_location
from hostbook.manifest.validate import validate_document
from hostbook.manifest.yamlio import read_document

HOSTS_DIR = "hosts"
PUSH_ATTEMPTS = 10
"""Pushes tried when other hosts keep pushing in between (each after a fetch and rebase)."""
PUSH_PAUSE_CAP = 30.0
"""The longest pause between two pushes, seconds (all ten: about two minutes at most)."""
LOCK_NAME = "hostbook.lock"
SURE_DIR = "sure"
"""``hosts/<host>/sure/``: root's integrity databases when jobs keep them beside the
manifest; ignored by git and never handed to the repository's owner."""

_README = """# hostbook manifest repository

Each host has a folder under `hosts/<hostname>/`:

- `system.yaml`, `storage.yaml`, `packages.yaml`, `checkouts.yaml` are written by
  `hostbook capture`; comments and key order you add survive re-captures.
- `jobs.yaml` and `restore.yaml` are yours: capture never touches them.

`hostbook show HOST`, `hostbook log HOST` and `hostbook schema SECTION` help with
reading and editing them.
"""


@dataclass(frozen=True)
class CommitInfo:
    """One commit in a host's history."""

    sha: str
    date: str
    author: str
    subject: str


@dataclass(frozen=True)
class CommitChanges:
    """A commit and, per section file of one host it touched, the blob ids before and
    after (None: the file did not exist on that side)."""

    commit: CommitInfo
    files: dict[str, tuple[str | None, str | None]]


def _blob_or_none(ident: str) -> str | None:
    return None if set(ident) == {"0"} else ident


def _git_env(path: Path) -> dict[str, str]:
    """Environment that trusts exactly this repository and never prompts."""
    env = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "safe.directory",
        "GIT_CONFIG_VALUE_0": str(path),
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }
    return env


class _OwnerGit(git.Git):
    """GitPython's command wrapper, running every git process as the repository's owner."""

    def __init__(self, working_dir: Any = None, *, owner: Owner) -> None:
        super().__init__(working_dir)
        self._owner = owner

    def execute(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        owner = self._owner
        env = dict(kwargs.pop("env", None) or {})
        # The owner's own git configuration, never root's (which it could not read).
        env.update(HOME=owner.home, XDG_CONFIG_HOME=os.path.join(owner.home, ".config"))
        kwargs["preexec_fn"] = lambda: become(owner)
        return super().execute(command, *args, env=env, **kwargs)


@functools.cache
def _repo_class(owner: Owner | None) -> type[git.Repo]:
    """git.Repo, or a subclass whose git processes all run as ``owner``."""
    if owner is None:
        return git.Repo
    wrapper = functools.partial(_OwnerGit, owner=owner)
    return type("OwnerRepo", (git.Repo,), {"GitCommandWrapperType": wrapper})


def require_writable(path: Path) -> None:
    """Fail up front (exit 3, naming the path) when this user cannot write ``path``."""
    check_writable(
        [path, path / ".git"], "manifest repository",
        "run hostbook as its owner or as root, or pass --repo with a repository you can write",
    )


def _git_failure(path: Path, exc: git.GitCommandError) -> RuntimeFailure:
    """A failed git command as one line: which command, and git's last word."""
    lines = str(exc.stderr or exc.stdout or "").strip().strip("'").splitlines()
    detail = lines[-1].strip() if lines else f"exit {exc.status}"
    command = exc.command[1] if isinstance(exc.command, list | tuple) and exc.command else "git"
    return RuntimeFailure(f"{path}: git {command} failed: {detail.removeprefix('stderr: ')}")


class ManifestRepository:
    """A manifest repository on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.owner = repository_owner(self.path)
        """Whom root acts as while writing here (None: nobody else owns it)."""

    # -- creation and access -------------------------------------------------

    @classmethod
    def init(cls, path: Path) -> ManifestRepository:
        """Create (or adopt) a manifest repository at ``path``; idempotent.

        An existing directory that belongs to another user is made a
        repository as that user (see :mod:`hostbook.manifest.access`).
        """
        check_repository_location(path)
        if not (path / ".git").exists():
            require_writable(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RuntimeFailure(
                f"{path}: cannot create the manifest repository ({exc.strerror})"
            ) from None
        repo = cls(path)
        if (repo.path / ".git").exists():
            return repo
        with as_owner(repo.owner):
            try:
                made = _repo_class(repo.owner).init(repo.path)
            except git.GitCommandError as exc:
                raise _git_failure(repo.path, exc) from None
            with contextlib.closing(made) as handle:
                handle.git.update_environment(**_git_env(repo.path))
                handle.git.symbolic_ref("HEAD", "refs/heads/main")
            readme = repo.path / "README.md"
            if not readme.exists():
                readme.write_text(_README, encoding="utf-8")
            (repo.path / HOSTS_DIR).mkdir(exist_ok=True)
            with repo._git() as handle:
                handle.git.add("README.md")
                repo._commit(handle, "init hostbook manifest repository", ["README.md"])
        return repo

    @classmethod
    def open(cls, path: Path, create: bool = False) -> ManifestRepository:
        """Open an existing repository, or create it when ``create`` is set."""
        if create:
            return cls.init(path)
        check_repository_location(path)
        if not (path / ".git").exists():
            raise BadInputError(f"{path}: not a hostbook manifest repository "
                                f"(run: hostbook init {shlex.quote(str(path))})")
        return cls(path)

    @contextlib.contextmanager
    def _git(self) -> Iterator[git.Repo]:
        try:
            handle = _repo_class(self.owner)(self.path)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise BadInputError(f"{self.path}: not a git repository") from exc
        handle.git.update_environment(**_git_env(self.path))
        try:
            yield handle
        except git.GitCommandError as exc:
            raise _git_failure(self.path, exc) from None
        finally:
            handle.close()

    def host_dir(self, host: str) -> Path:
        return self.path / HOSTS_DIR / check_host(host)

    def _host_rel(self, host: str) -> str:
        """``hosts/<host>`` as git names it (the host name checked first)."""
        return f"{HOSTS_DIR}/{check_host(host)}"

    def require_host(self, host: str) -> Path:
        """The host's folder; a host the repository does not know is bad input (exit 2)."""
        folder = self.host_dir(host)
        if not folder.is_dir():
            known = ", ".join(self.hosts()) or "none"
            raise BadInputError(f"{self.path}: no host {host!r} (hosts: {known})")
        return folder

    def section_path(self, host: str, section: str) -> Path:
        return self.host_dir(host) / f"{section}.yaml"

    def hosts(self) -> list[str]:
        base = self.path / HOSTS_DIR
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir())

    def read_raw(self, host: str, section: str) -> Any:
        """The round-trip document of a section file, or None if absent."""
        return read_document(self.section_path(host, section))

    def load(self, host: str, section: str) -> Any:
        """Load and validate a section; None when the file does not exist."""
        path = self.section_path(host, section)

        def parse() -> Any:
            data = read_document(path)
            return None if data is None else validate_document(data, str(path), section)
        return cached(path, f"section:{section}", parse)

    # -- locking ---------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, timeout: float = 600.0) -> Iterator[None]:
        """Hold an exclusive lock on the repository; wait up to ``timeout`` seconds.

        Everything done under the lock is done as the repository's owner
        when root writes into someone else's repository; first, what earlier
        root runs left root-owned there is given back to the owner.
        """
        require_writable(self.path)
        if self.owner is not None:
            self._repair(self.owner)
        with as_owner(self.owner), self._locked(timeout):
            yield

    def _repair(self, owner: Owner) -> None:
        """Hand .git, hosts/ (but not root's databases) and README.md back to ``owner``."""
        repair_ownership(self.path / ".git", owner)
        repair_ownership(self.path / HOSTS_DIR, owner,
                         skip=lambda rel, name: name == SURE_DIR and rel.count("/") == 0
                         and rel != ".")
        hand_over(self.path / "README.md", owner)

    @contextlib.contextmanager
    def _locked(self, timeout: float) -> Iterator[None]:
        lock_path = self.path / ".git" / LOCK_NAME
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            raise RuntimeFailure(
                f"{lock_path}: cannot open the repository lock ({exc.strerror}) as "
                f"{user_name(os.geteuid())}"
            ) from None

        def busy() -> RuntimeFailure:
            return RuntimeFailure(f"{self.path}: another hostbook holds the repository lock")

        with held(fd, timeout, 0.1, busy, lambda: f"{os.getpid()}\n"):
            yield

    # -- committing ------------------------------------------------------------

    def _identity(self, handle: git.Repo) -> dict[str, str]:
        """Use the configured git identity, or name hostbook on this machine."""
        env: dict[str, str] = {}
        try:
            handle.git.config("user.name")
            handle.git.config("user.email")
        except git.GitCommandError:
            user = os.environ.get("SUDO_USER") or os.environ.get("USER") or "root"
            env = {
                "GIT_AUTHOR_NAME": "hostbook",
                "GIT_AUTHOR_EMAIL": f"{user}@{socket.gethostname()}",
                "GIT_COMMITTER_NAME": "hostbook",
                "GIT_COMMITTER_EMAIL": f"{user}@{socket.gethostname()}",
            }
        return env

    def _commit(self, handle: git.Repo, message: str, paths: list[str]) -> str:
        handle.git.update_environment(**self._identity(handle))
        handle.git.commit("-q", "-m", message, "--", *paths)
        return str(handle.head.commit.hexsha)

    def changed_paths(self, host: str) -> list[str]:
        """Files under the host's folder that differ from the last commit."""
        rel = self._host_rel(host)
        with self._git() as handle:
            out = handle.git.status("--porcelain", "--untracked-files=all", "--", rel)
        return [line[3:] for line in out.splitlines() if line.strip()]

    def commit_host(self, host: str, message: str, names: list[str] | None = None
                    ) -> str | None:
        """Commit the host's folder (or only the files ``names`` in it) if any byte
        changed; return the new sha or None."""
        rel = self._host_rel(host)
        paths = [rel] if names is None else [f"{rel}/{name}" for name in names]
        changed = set(self.changed_paths(host))
        if not any(c == p or c.startswith(p + "/") for c in changed for p in paths):
            return None
        with self._git() as handle:
            handle.git.add("-A", "--", *paths)
            return self._commit(handle, message, paths)

    def uncommitted(self, host: str, leave_out: Sequence[str] = ()) -> list[str]:
        """Files of the host's folder that differ from the last commit, but ``leave_out``."""
        rel = self._host_rel(host)
        skip = {f"{rel}/{name}" for name in leave_out}
        return [p for p in self.changed_paths(host) if p not in skip]

    def head_commit(self) -> str | None:
        """The sha of HEAD, None in a repository without commits.

        A run tags its archives with it, so a restore can pick the archives
        made from the same manifest state (``--at manifest:REV``).  Read from
        the refs alone (loose or packed), with no object lookup: asking git's
        object database starts a ``git cat-file`` process per repository
        handle, and a dashboard asks this for every host it lists.
        """
        with self._git() as handle:
            try:
                return str(git.SymbolicReference.dereference_recursive(handle, "HEAD"))
            except (ValueError, OSError):
                return None

    def commit_of(self, rev: str) -> tuple[str, datetime] | None:
        """A revision's sha and commit time (UTC); None when it names no commit."""
        with self._git() as handle:
            try:
                commit = handle.commit(rev)
            except (git.BadName, ValueError, git.GitCommandError):
                return None
            return str(commit.hexsha), commit.committed_datetime.astimezone(UTC)

    def committed_text(self, host: str, section: str, rev: str = "HEAD") -> str | None:
        """A section file's text at a revision, or None if it did not exist."""
        rel = f"{self._host_rel(host)}/{section}.yaml"
        with self._git() as handle:
            try:
                return str(handle.git.show(f"{rev}:{rel}"))
            except git.GitCommandError:
                return None

    def revision(self, rev: str) -> str:
        """The full sha of commit ``rev``; exit 2 naming it when there is no such commit."""
        with self._git() as handle:
            try:
                return str(handle.git.rev_parse("--verify", "--quiet", "--end-of-options",
                                                f"{rev}^{{commit}}"))
            except git.GitCommandError:
                raise BadInputError(f"{self.path}: no commit {rev!r}") from None

    def log(self, host: str, limit: int | None = None) -> list[CommitInfo]:
        """Commits that touched the host's folder, newest first."""
        rel = self._host_rel(host)
        if caching():
            # While HEAD is the same commit, so is every host's history.
            head = self.head_commit()
            return list(memo(("log", str(self.path), head, rel, limit),
                             lambda: self._log(rel, limit)))
        return self._log(rel, limit)

    def _log(self, rel: str, limit: int | None) -> list[CommitInfo]:
        args = ["--format=%H%x1f%aI%x1f%an%x1f%s"]
        if limit:
            args.append(f"-n{limit}")
        with self._git() as handle:
            try:
                out = handle.git.log(*args, "--", rel)
            except git.GitCommandError:
                return []
        commits = []
        for line in out.splitlines():
            sha, date, author, subject = line.split("\x1f", 3)
            commits.append(CommitInfo(sha, date, author, subject))
        return commits

    def histories(self, limit: int | None = None) -> dict[str, list[CommitChanges]]:
        """Per host, the commits that touched ``hosts/<host>/``, newest first (at most
        ``limit`` each), with the blob ids of each section file before and after,
        from one ``git log`` over the whole repository."""
        with self._git() as handle:
            try:
                out = handle.git.log("--format=%x1e%H%x1f%aI%x1f%an%x1f%s", "--raw", "--root",
                                     "--no-abbrev", "--no-renames", "--", HOSTS_DIR)
            except git.GitCommandError:
                return {}
        found: dict[str, list[CommitChanges]] = {}
        for record in out.split("\x1e")[1:]:
            header, _, raw = record.partition("\n")
            sha, date, author, subject = header.split("\x1f", 3)
            commit = CommitInfo(sha, date, author, subject)
            changes: dict[str, CommitChanges] = {}
            for line in raw.splitlines():
                meta, _, path = line.partition("\t")
                parts = path.split("/")
                if not meta.startswith(":") or len(parts) != 3 or parts[0] != HOSTS_DIR:
                    continue
                fields = meta.split()
                host, name = parts[1], parts[2]
                entry = changes.setdefault(host, CommitChanges(commit, {}))
                if name.endswith(".yaml"):
                    entry.files[name[: -len(".yaml")]] = (_blob_or_none(fields[2]),
                                                         _blob_or_none(fields[3]))
            for host, entry in sorted(changes.items()):
                listed = found.setdefault(host, [])
                if limit is None or len(listed) < limit:
                    listed.append(entry)
        return found

    def current_blobs(self) -> dict[tuple[str, str], str]:
        """(host, section) -> blob id of every section file at HEAD, from one ``git ls-tree``."""
        with self._git() as handle:
            try:
                out = handle.git.ls_tree("-r", "--full-tree", "HEAD", "--", HOSTS_DIR)
            except git.GitCommandError:
                return {}
        found = {}
        for line in out.splitlines():
            meta, _, path = line.partition("\t")
            parts = path.split("/")
            if len(parts) == 3 and parts[2].endswith(".yaml") and meta.split()[1] == "blob":
                found[(parts[1], parts[2][: -len(".yaml")])] = meta.split()[2]
        return found

    def read_blobs(self, ids: list[str]) -> dict[str, str]:
        """The text of each blob, from one ``git cat-file --batch``.

        A blob over the manifest size limit, or not UTF-8, is refused (exit 2)
        before it is decoded; the name in the message is the blob id.
        """
        if not ids:
            return {}
        unique = list(dict.fromkeys(ids))
        with tempfile.TemporaryFile() as request, self._git() as handle:
            request.write("".join(f"{i}\n" for i in unique).encode())
            request.seek(0)
            data = handle.git.execute(["git", "cat-file", "--batch"], istream=request,
                                      stdout_as_string=False)
        texts: dict[str, str] = {}
        at = 0
        for ident in unique:
            end = data.index(b"\n", at)
            header = data[at:end].split()
            at = end + 1
            if len(header) != 3:
                raise RuntimeFailure(f"{self.path}: git cat-file: no object {ident}")
            size = int(header[2])
            body = data[at: at + size]
            at += size + 1
            if size > MAX_DOCUMENT_BYTES:
                raise ManifestError([f"blob {ident}:1:1: larger than {mib(MAX_DOCUMENT_BYTES)}"
                                     ", the most a manifest file may be"])
            try:
                texts[ident] = body.decode("utf-8")
            except UnicodeDecodeError:
                raise ManifestError([f"blob {ident}:1:1: not UTF-8 text"]) from None
        return texts

    def remotes(self) -> list[str]:
        """The names of the configured remotes."""
        with self._git() as handle:
            return [r.name for r in handle.remotes]

    def push(self, remote: str | None = None, attempts: int = PUSH_ATTEMPTS,
             pause: float = 0.1) -> str:
        """Push the current branch; never forced.

        When the remote has commits this repository lacks (another host of the
        fleet pushed meanwhile), its branch is fetched and this repository's own
        commits are rebased onto it (each host commits only its own
        hosts/<name>/, so they apply cleanly), then the push is tried again: at
        most ``attempts`` pushes, the pause before each catch-up doubling from
        ``pause`` (randomised by half either way, at most ``PUSH_PAUSE_CAP``), so
        hosts that keep colliding spread out.
        A rebase that conflicts (someone else changed this host's files) is
        undone and reported; nothing is ever forced.
        """
        with self._git() as handle:
            remotes = [r.name for r in handle.remotes]
            if not remotes:
                raise BadInputError(f"{self.path}: --push given but no remote is configured")
            name = remote or ("origin" if "origin" in remotes else remotes[0])
            branch = handle.active_branch.name
            handle.git.update_environment(**self._identity(handle))
            for attempt in range(1, attempts + 1):
                try:
                    handle.git.push("--porcelain", name, f"HEAD:refs/heads/{branch}")
                    return name
                except git.GitCommandError as exc:
                    reason = _push_reason(exc)
                    if not _behind(exc) or attempt == attempts:
                        raise RuntimeFailure(
                            f"push to {name} failed after {attempt} attempt"
                            f"{'s' if attempt > 1 else ''}: {reason}; hostbook never forces "
                            "a push") from None
                time.sleep(min(PUSH_PAUSE_CAP, pause * 2 ** (attempt - 1))
                           * (0.5 + random.random()))
                self._catch_up(handle, name, branch)
        raise AssertionError("unreachable")  # pragma: no cover

    def _catch_up(self, handle: git.Repo, remote: str, branch: str) -> None:
        """Fetch the remote branch and rebase this repository's commits onto it."""
        handle.git.fetch("--quiet", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}")
        try:
            handle.git.rebase("--quiet", "--autostash", f"refs/remotes/{remote}/{branch}")
        except git.GitCommandError:
            with contextlib.suppress(git.GitCommandError):
                handle.git.rebase("--abort")
            raise RuntimeFailure(
                f"{self.path}: the commits on {remote}/{branch} conflict with this "
                "repository's (someone else changed this host's files): resolve by hand; "
                "nothing was pushed") from None


def _push_reason(exc: git.GitCommandError) -> str:
    detail = str(exc.stderr or exc.stdout or "").strip().splitlines()
    return next((line.strip() for line in detail if "rejected" in line or "!" in line),
                detail[-1].strip() if detail else "unknown error")


def _behind(exc: git.GitCommandError) -> bool:
    """Whether a push was refused because the remote has commits we lack."""
    text = str(exc.stderr or "") + str(exc.stdout or "")
    return any(word in text for word in (
        "non-fast-forward", "fetch first", "[rejected]",
        # Another push updated the ref while ours was being applied (seen in the two-clone
        # test: "[remote rejected] (failed to update ref)", "cannot lock ref ... is at X but
        # expected Y"): a race, not a refusal.
        "cannot lock ref", "failed to update ref", "incorrect old value"))
