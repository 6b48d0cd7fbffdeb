"""The `checkouts` section (captured): versioned directories and whether a re-clone suffices.

A checkout whose every commit is on a remote, with nothing uncommitted, can be
rebuilt by cloning; anything else holds data that only this host has.  Each
record therefore ends with a ``restorable`` verdict and the ``reason`` for it,
so that a report can make the unsafe ones loud.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hostbook.manifest.model import Record, SectionDocument


class Remote(Record):
    """A git remote or hg path; credentials never appear in ``url``."""

    name: str
    url: str
    push_url: str | None = None
    credentials_redacted: bool | None = Field(
        None, description="true when a user, password or token was removed from a URL"
    )


class Submodule(Record):
    """A git submodule as the superproject records it."""

    path: str
    url: str | None = None
    commit: str | None = Field(None, description="the commit the superproject's HEAD records")
    checked_out_differs: bool | None = Field(
        None, description="true when the submodule has another commit checked out"
    )
    credentials_redacted: bool | None = None


class Checkout(Record):
    """One working copy (or bare repository) found below a scanned root."""

    path: str
    vcs: Literal["git", "svn", "hg"]
    owner: str | None = None
    group: str | None = None
    mode: str | None = Field(None, description="permission bits of the checkout root, octal")
    bare: bool | None = None
    worktree_of: str | None = Field(None, description="main repository of a linked worktree")
    gitdir: str | None = Field(None, description="repository directory when not <path>/.git")
    branch: str | None = None
    detached: bool | None = None
    head: str | None = Field(None, description="HEAD commit, hg changeset or svn revision")
    upstream: str | None = None
    ahead: int | None = None
    behind: int | None = None
    url: str | None = Field(None, description="svn: the working copy's URL")
    repository_root: str | None = Field(None, description="svn: the repository root URL")
    remotes: list[Remote] = Field(default_factory=list)
    submodules: list[Submodule] | None = None
    sparse: list[str] | None = Field(None, description="sparse-checkout patterns when enabled")
    unpushed: int | None = Field(None, description="commits not on any remote")
    stashes: int | None = None
    modified: int = Field(0, description="changed, added or deleted tracked files")
    untracked: int = Field(0, description="untracked files and directories")
    restorable: bool
    reason: str


class CheckoutsDocument(SectionDocument):
    """hosts/<host>/checkouts.yaml."""

    SECTION = "checkouts"

    roots: list[str] = Field(default_factory=list, description="directories that were scanned")
    checkouts: list[Checkout] = Field(default_factory=list)
