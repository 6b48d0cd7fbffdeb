"""The planted-secret corpus: a real capture over checkouts and apt sources that carry
credentials in every known form; none may reach the manifest, its git history or the
recording."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hostbook.capture.workflow import CaptureOutcome, CaptureRequest, capture
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.yamlio import parse_text
from tests.unit.capture.probes.checkouts.test_working_copies import git_commit, pytestmark, sh

__all__ = ["pytestmark"]  # needs git, svn and hg, as test_checkouts does

CONFIG = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
MARK = "SEKRIT"  # every planted secret contains it, nothing else does

GIT_REMOTES = {
    "m-https": f"https://deploy:{MARK}-git-https@git.example.org/a.git",
    "m-tokenuser": f"https://{MARK}-git-tokenuser@git.example.org/b.git",
    "m-query": f"https://git.example.org/c.git?private_token={MARK}-git-query&ref=main",
    "m-access": f"https://git.example.org/c2.git?access_token={MARK}-git-access",
    "m-ssh": f"ssh://git:{MARK}-git-ssh@git.example.org/d.git",
    "m-scp": f"deploy:{MARK}-git-scp@git.example.org:team/e.git",
    "m-slash": f"https://deploy:{MARK}/git/slash@git.example.org/f.git",
}
EXPECTED_GIT = {
    "m-https": "https://git.example.org/a.git",
    "m-tokenuser": "https://git.example.org/b.git",
    "m-query": "https://git.example.org/c.git?private_token=REDACTED&ref=main",
    "m-access": "https://git.example.org/c2.git?access_token=REDACTED",
    "m-ssh": "ssh://git@git.example.org/d.git",
    "m-scp": "deploy@git.example.org:team/e.git",
    "m-slash": "https://git.example.org/f.git",
}
HGRC = f"""
[paths]
default = https://hguser:{MARK}-hg-https@hg.example.org/repo
push = ssh://hguser:{MARK}-hg-ssh@hg.example.org/repo
slash = https://hguser:{MARK}/hg/slash@hg.example.org/repo

[auth]
example.prefix = hg.example.org
example.username = hguser
example.password = {MARK}-hg-auth
"""
APT_FILES = {
    "sources.list": f"deb https://apt:{MARK}-apt-list@apt.example.org/debian bookworm main\n"
                    f"# deb https://apt:{MARK}-apt-comment@old.example.org/debian bookworm main\n",
    "sources.list.d/slash.list":
        f"deb [arch=amd64 x-token={MARK}-apt-option] "
        f"https://apt:{MARK}/apt/slash@apt.example.org/x stable main\n",
    "sources.list.d/token.list":
        f"deb tor+https://apt.example.org/y?token={MARK}-apt-query stable main\n",
    "sources.list.d/private.sources":
        "Types: deb\n"
        f"URIs: https://apt:{MARK}-apt-deb822@apt.example.org/private\n"
        "Suites: bookworm\nComponents: main\n"
        f"X-Auth-Token: {MARK}-apt-xauth\n"
        f"Authorization: Bearer\n {MARK}-apt-continued\n"
        "Signed-By: /usr/share/keyrings/private.gpg\n",
    "auth.conf": f"machine apt.example.org login apt password {MARK}-apt-authconf\n",
    "auth.conf.d/private.conf": f"machine apt.example.org/private password {MARK}-apt-authd\n",
    "apt.conf.d/90proxy":
        f'Acquire::http::Proxy "http://proxy:{MARK}-apt-proxy@proxy.example.org:3128";\n',
}


@dataclass
class Corpus:
    root: Path
    etc: Path
    app: Path
    worktree: Path
    superproject: Path
    hg: Path
    svn: Path


def build(base: Path) -> Corpus:
    root = base / "root"
    servers = base / "servers"
    root.mkdir()
    servers.mkdir()
    upstream = servers / "app.git"
    sh("git", "init", "-q", "--bare", "-b", "main", upstream)
    seed = base / "seed"
    sh("git", "init", "-q", "-b", "main", seed)
    git_commit(seed, "README")
    sh("git", "-C", seed, "push", "-q", upstream, "main")

    app = root / "app"
    sh("git", "clone", "-q", upstream, app)
    for name, url in GIT_REMOTES.items():
        sh("git", "-C", app, "remote", "add", name, url)
    sh("git", "-C", app, "config", "remote.origin.pushurl",
       f"https://u:{MARK}-git-pushurl@git.example.org/a.git")
    sh("git", "-C", app, "config", "credential.https://git.example.org.helper",
       f"!echo password={MARK}-git-helper")
    sh("git", "-C", app, "config", "filter.vault.clean", f"vault --token {MARK}-git-filter")
    sh("git", "-C", app, "config", "extensions.worktreeConfig", "true")
    worktree = root / "app-wt"
    sh("git", "-C", app, "worktree", "add", "-q", "-b", "topic", worktree, "origin/main")
    sh("git", "-C", worktree, "config", "--worktree", "remote.origin.url",
       f"fork:{MARK}-git-worktree@git.example.org:team/app.git")

    lib = servers / "lib.git"
    sh("git", "init", "-q", "--bare", "-b", "main", lib)
    sh("git", "-C", seed, "push", "-q", lib, "main")
    superproject = root / "super"
    sh("git", "clone", "-q", upstream, superproject)
    sh("git", "-C", superproject, "-c", "protocol.file.allow=always", "submodule", "add", "-q",
       lib, "vendor/lib")
    sh("git", "-C", superproject, "config", "-f", ".gitmodules", "submodule.vendor/lib.url",
       f"https://{MARK}-git-submodule@git.example.org/lib.git")
    sh("git", "-C", superproject, "commit", "-q", "-am", "submodule")
    sh("git", "-C", superproject, "push", "-q", "origin", "HEAD:with-submodule")

    hg_up = servers / "hgrepo"
    sh("hg", "init", hg_up)
    (hg_up / "f").write_text("f\n")
    sh("hg", "-R", hg_up, "commit", "-q", "-A", "-m", "first")
    hg = root / "hgapp"
    sh("hg", "clone", "-q", hg_up, hg)
    with (hg / ".hg" / "hgrc").open("a") as handle:
        handle.write(HGRC)

    svn_repo = servers / "svnrepo"
    sh("svnadmin", "create", svn_repo)
    svn = root / "svnapp"
    sh("svn", "checkout", "-q", f"file://{svn_repo}", svn)
    # The working copy as if checked out from a URL with a password in it.
    with sqlite3.connect(svn / ".svn" / "wc.db") as db:
        db.execute("UPDATE REPOSITORY SET root = ?",
                   (f"https://svn:{MARK}/svn@svn.example.org/repo",))

    etc = base / "etc-apt"
    for name, text in APT_FILES.items():
        (etc / name).parent.mkdir(parents=True, exist_ok=True)
        (etc / name).write_text(text)
    return Corpus(root, etc, app, worktree, superproject, hg, svn)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def captured(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> CaptureOutcome:
    out = tmp_path_factory.mktemp("captured")
    return capture(CaptureRequest(
        repository=out / "manifests", sections=["checkouts", "packages"], config=CONFIG,
        host="h", record=out / "recording",
        options={"checkout_roots": [str(corpus.root)], "apt_etc": str(corpus.etc)},
    ))


def _document(outcome: CaptureOutcome, section: str) -> dict[str, Any]:
    text = (outcome.repository / "hosts" / "h" / f"{section}.yaml").read_text()
    data = parse_text(text, section)
    assert isinstance(data, dict)
    return data


def test_no_planted_secret_in_manifest_history_or_recording(
    corpus: Corpus, captured: CaptureOutcome
) -> None:
    assert captured.commit and captured.recording is not None
    history = subprocess.run(
        ["git", "-C", str(captured.repository), "log", "-p", "--all", "--format=%H%n%B"],
        capture_output=True, text=True, check=True,
    ).stdout
    texts = {"git log -p": history, "recording": captured.recording.read_text()}
    for path in sorted(captured.repository.rglob("*")):
        if path.is_file() and ".git" not in path.relative_to(captured.repository).parts:
            texts[str(path)] = path.read_text(errors="replace")
    assert "checkouts:" in history and str(corpus.app) in history
    leaks = {name: text.count(MARK) for name, text in texts.items() if MARK in text}
    assert leaks == {}


def test_the_planted_credentials_were_seen_and_removed(
    corpus: Corpus, captured: CaptureOutcome
) -> None:
    checkouts = {c["path"]: c for c in _document(captured, "checkouts")["checkouts"]}
    app = {r["name"]: r for r in checkouts[str(corpus.app)]["remotes"]}
    assert {name: app[name]["url"] for name in EXPECTED_GIT} == EXPECTED_GIT
    assert all(app[name]["credentials_redacted"] for name in EXPECTED_GIT)
    assert app["origin"]["push_url"] == "https://git.example.org/a.git"
    worktree = {r["name"]: r for r in checkouts[str(corpus.worktree)]["remotes"]}
    assert worktree["origin"]["url"] == "fork@git.example.org:team/app.git"  # its own
    assert worktree["m-scp"] == app["m-scp"]  # shared through the main repository's config
    (sub,) = checkouts[str(corpus.superproject)]["submodules"]
    assert sub["url"] == "https://git.example.org/lib.git" and sub["credentials_redacted"]
    hg = {r["name"]: r["url"] for r in checkouts[str(corpus.hg)]["remotes"]}
    assert hg == {"default": "https://hg.example.org/repo",
                  "push": "ssh://hguser@hg.example.org/repo",
                  "slash": "https://hg.example.org/repo"}
    assert checkouts[str(corpus.svn)]["url"] == "https://svn.example.org/repo"
    sources = {s["path"].rsplit("/", 1)[1]: s["entries"]
               for s in _document(captured, "packages")["apt"]["sources"]}
    assert sources["sources.list"][0]["uris"] == ["https://apt.example.org/debian"]
    assert sources["slash.list"][0]["uris"] == ["https://apt.example.org/x"]
    assert sources["slash.list"][0]["options"] == {"x-token": "REDACTED"}
    assert sources["token.list"][0]["uris"] == ["tor+https://apt.example.org/y?token=REDACTED"]
    (private,) = sources["private.sources"]
    assert private["options"] == {"authorization": "REDACTED", "x-auth-token": "REDACTED"}
    assert private["signed_by"] == "/usr/share/keyrings/private.gpg"
    assert all(e["credentials_redacted"] for entries in sources.values() for e in entries)


def test_replaying_the_masked_recording_gives_the_same_files(
    corpus: Corpus, captured: CaptureOutcome, tmp_path: Path
) -> None:
    assert captured.recording is not None
    replayed = capture(CaptureRequest(
        repository=tmp_path / "replayed", sections=["checkouts", "packages"], config=CONFIG,
        host="h", commit=False, replay=captured.recording.parent,
    ))
    for section in ("checkouts", "packages"):
        live = (captured.repository / "hosts" / "h" / f"{section}.yaml").read_text()
        again = (replayed.repository / "hosts" / "h" / f"{section}.yaml").read_text()
        assert again == live


def test_the_recording_is_readable_by_its_owner_only(captured: CaptureOutcome) -> None:
    assert captured.recording is not None
    assert stat.S_IMODE(captured.recording.stat().st_mode) == 0o600
