"""Credential removal by structure: URL forms, and the per-format recording masks."""

from __future__ import annotations

import pytest

from hostbook.capture.probes.checkouts import git_hardening
from hostbook.capture.probes.checkouts.git import parse_config
from hostbook.capture.probes.checkouts.hgrc import hg_paths, mask_hgrc
from hostbook.capture.probes.checkouts.svn import mask_info, parse_info
from hostbook.capture.probes.packages import apt as packages_apt
from hostbook.capture.probes.packages.apt_secrets import mask_deb822, mask_one_line
from hostbook.capture.redact import mask_credentials, mask_url, redact_url

SECRET = "SEKRIT"

URLS = [
    # (url, redacted, hidden)
    (f"https://user:{SECRET}@github.com/a/b.git", "https://github.com/a/b.git", True),
    (f"https://{SECRET}@github.com/a/b.git", "https://github.com/a/b.git", True),
    (f"https://h/x.git?private_token={SECRET}&ref=main",
     "https://h/x.git?private_token=REDACTED&ref=main", True),
    (f"ssh://git:{SECRET}@host/a.git", "ssh://git@host/a.git", True),
    (f"svn+ssh://svn:{SECRET}@host/repo", "svn+ssh://svn@host/repo", True),
    # scp-like git remote with a password
    (f"deploy:{SECRET}@git.example.org:team/e.git", "deploy@git.example.org:team/e.git", True),
    (f"deploy:{SECRET}/x@git.example.org:team/e.git", "deploy@git.example.org:team/e.git", True),
    # a password holding "/", "?", "#" or "@", unencoded
    (f"https://deploy:{SECRET}/a/b@git.example.org/f.git", "https://git.example.org/f.git",
     True),
    (f"https://deploy:{SECRET}?q#f@git.example.org/f.git", "https://git.example.org/f.git",
     True),
    (f"https://deploy:{SECRET}@x@apt.example.org:8443/debian",
     "https://apt.example.org:8443/debian", True),
    (f"tor+https://apt:{SECRET}/z@apt.example.org/debian", "tor+https://apt.example.org/debian",
     True),
    # nothing secret: left exactly as written
    ("ssh://git@host/a.git", "ssh://git@host/a.git", False),
    ("git@github.com:a/b.git", "git@github.com:a/b.git", False),
    ("https://registry.example.org/npm/@scope/pkg", "https://registry.example.org/npm/@scope/pkg",
     False),
    ("https://[::1]:8080/x", "https://[::1]:8080/x", False),
    ("https://host:8443/x?ref=main", "https://host:8443/x?ref=main", False),
    ("/srv/git/x.git", "/srv/git/x.git", False),
    ("file:///srv/svn/repo", "file:///srv/svn/repo", False),
]


@pytest.mark.parametrize(("url", "clean", "hidden"), URLS)
def test_redact_url(url: str, clean: str, hidden: bool) -> None:
    assert redact_url(url) == (clean, hidden)


@pytest.mark.parametrize(("url", "clean", "hidden"), URLS)
def test_masked_url_keeps_its_shape_and_redacts_the_same(url: str, clean: str,
                                                         hidden: bool) -> None:
    masked = mask_url(url)
    assert SECRET not in masked
    assert (masked == url) is not hidden
    assert redact_url(masked) == (clean, hidden)  # a replay decides as the live run did


def test_free_text_masks_every_url_form() -> None:
    text = (f"fatal: unable to access 'https://u:{SECRET}/p@h.example.org/r.git/'\n"
            f"remote: deploy:{SECRET}@git.example.org:team/e.git\n"
            f"see https://{SECRET}@h.example.org/x and ssh://git@host/ok\n")
    masked = mask_credentials(text)
    assert SECRET not in masked
    assert "ssh://git@host/ok" in masked and "deploy:REDACTED@git.example.org:" in masked


def test_git_config_mask_replaces_urls_and_program_values() -> None:
    text = (f"local\tremote.origin.url deploy:{SECRET}@git.example.org:team/a.git\n"
            f"local\tremote.origin.pushurl https://u:{SECRET}/x@git.example.org/a.git\n"
            f"local\tcredential.https://git.example.org.helper !echo password={SECRET}\n"
            f"local\tfilter.lfs.clean curl -H 'Authorization: {SECRET}'\n"
            "local\tcore.sparsecheckout true\n")
    masked = git_hardening.mask_config(text)
    assert SECRET not in masked
    assert parse_config(masked) == parse_config(text)
    assert parse_config(text)[0] == [{
        "name": "origin", "url": "deploy@git.example.org:team/a.git",
        "push_url": "https://git.example.org/a.git", "credentials_redacted": True,
    }]
    assert git_hardening.program_key_names(masked.splitlines()) == [
        "credential.https://git.example.org.helper", "filter.lfs.clean"]


def test_worktree_scope_overrides_local_for_that_worktree() -> None:
    text = ("local\tremote.origin.url https://main.example.org/x.git\n"
            f"worktree\tremote.origin.url https://u:{SECRET}@wt.example.org/x.git\n")
    (remote,) = parse_config(text)[0]
    assert remote == {"name": "origin", "url": "https://wt.example.org/x.git",
                      "credentials_redacted": True}


def test_program_keys_are_disarmed_by_name() -> None:
    confine = git_hardening.confinement(("/r",), ["filter.Evil.smudge", "diff.x.textconv"])
    env = confine.env
    pairs = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"]
             for i in range(int(env["GIT_CONFIG_COUNT"]))}
    assert pairs["filter.Evil.clean"] == pairs["filter.Evil.process"] == ""
    assert pairs["filter.Evil.required"] == "false" and pairs["diff.x.textconv"] == ""
    assert pairs["core.fsmonitor"] == "false" and pairs["credential.helper"] == ""
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null" and env["GIT_ALLOW_PROTOCOL"] == ""


HGRC = f"""# example repository config
[paths]
default = https://hg:{SECRET}@hg.example.org/repo
push = ssh://hg:{SECRET}/x@hg.example.org/repo
default:pushurl = https://hg:{SECRET}@hg.example.org/sub
sibling = ../sibling
empty =
gone = /x
%unset gone
%include extra.hgrc

[auth]
example.prefix = hg.example.org
example.password = {SECRET}
[ui]
username = Jane
"""


def test_hg_paths_read_like_hg_and_recorded_without_auth() -> None:
    files = {"/r/.hg/hgrc": HGRC, "/r/.hg/extra.hgrc": "[paths]\nmirror = file:///srv/m\n"}
    paths = hg_paths("/r", files.get)
    assert paths == [
        ("default", f"https://hg:{SECRET}@hg.example.org/repo"),
        ("push", f"ssh://hg:{SECRET}/x@hg.example.org/repo"),
        ("sibling", "/sibling"),
        ("mirror", "file:///srv/m"),
    ]
    masked = {name: mask_hgrc(text) for name, text in files.items()}
    assert SECRET not in repr(masked) and "auth" in masked["/r/.hg/hgrc"]
    assert [(n, redact_url(u)) for n, u in hg_paths("/r", masked.get) or []] == [
        (n, redact_url(u)) for n, u in paths]
    assert hg_paths("/elsewhere", files.get) is None


def test_svn_info_mask() -> None:
    text = ("<?xml version=\"1.0\"?>\n<info>\n<entry kind=\"dir\" path=\".\" revision=\"3\">\n"
            f"<url>https://svn:{SECRET}/x@svn.example.org/repo/trunk</url>\n"
            f"<repository>\n<root>https://svn:{SECRET}/x@svn.example.org/repo</root>\n"
            "</repository>\n</entry>\n</info>\n")
    masked = mask_info(text)
    assert SECRET not in masked
    assert parse_info(masked) == parse_info(text) == {
        "head": "3", "url": "https://svn.example.org/repo/trunk",
        "repository_root": "https://svn.example.org/repo", "credentials_redacted": True,
    }


ONE_LINE = (
    f"deb [arch=amd64 x-token={SECRET} signed-by=/usr/share/keyrings/k.gpg] "
    f"https://apt:{SECRET}/s@apt.example.org/debian stable main\n"
    f"deb https://apt.example.org/x?token={SECRET} stable main # https://u:{SECRET}@h/x\n"
    f"# deb deploy:{SECRET}@old.example.org:/debian stable main\n"
)
DEB822 = (
    "Types: deb\n"
    f"URIs: https://apt:{SECRET}@apt.example.org/private\n"
    "Suites: bookworm\nComponents: main\n"
    f"X-Auth-Token: {SECRET}\n"
    f"Authorization: Bearer\n {SECRET}-continued\n"
    "Signed-By: /usr/share/keyrings/k.gpg\n"
    "Check-Valid-Until: no\n"
)


def test_apt_sources_keep_only_options_apt_defines() -> None:
    first, second = packages_apt.parse_one_line_sources(ONE_LINE)
    assert first["uris"] == ["https://apt.example.org/debian"]
    assert first["options"] == {"x-token": "REDACTED"} and first["credentials_redacted"]
    assert second["uris"] == ["https://apt.example.org/x?token=REDACTED"]
    (entry,) = packages_apt.parse_deb822_sources(DEB822)
    assert entry["uris"] == ["https://apt.example.org/private"]
    assert entry["options"] == {"authorization": "REDACTED", "check-valid-until": "no",
                                "x-auth-token": "REDACTED"}
    assert entry["signed_by"] == "/usr/share/keyrings/k.gpg" and entry["credentials_redacted"]
    assert SECRET not in repr([first, second, entry])


def test_apt_recording_masks_replay_to_the_same_entries() -> None:
    masked_list, masked_822 = mask_one_line(ONE_LINE), mask_deb822(DEB822)
    assert SECRET not in masked_list + masked_822
    assert packages_apt.parse_one_line_sources(masked_list) == \
        packages_apt.parse_one_line_sources(ONE_LINE)
    assert packages_apt.parse_deb822_sources(masked_822) == \
        packages_apt.parse_deb822_sources(DEB822)
