"""`hostbook report` opened in a real headless Chromium.

The site is built from real captures (the review-pairs laptop's three
captures; the OVMF laptop's storage with the apt and system recordings, a
person's jobs.yaml and run history appended through the jobs layer), then
Chromium (Debian's chromium package) loads each page from disk and dumps the
DOM it rendered: every host is in the index, every volume row and the
readiness verdict are on the host page, every storage entry is in the tree,
and every link resolves to a page of the site.  No page loads anything from
the network or has a script.  A screenshot of a host page is kept beside the
test's output (and copied to $HOSTBOOK_TEST_ARTIFACTS when set, for CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hostbook.cli import cli
from hostbook.manifest.store import ManifestRepository
from hostbook.review.site import build_site
from tests.paths import FIXTURES
from tests.tiers import require_tools
from tests.unit.review.captured import PAIRS, capture_into, history
from tests.unit.review.test_readiness import JOBS, archived

CHROMIUM = ("chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-extensions")


class Dom(HTMLParser):
    """The elements of a dumped DOM: tag, attributes and the text inside each."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, Any]]] = []
        self.open: list[tuple[str, dict[str, Any], list[str]]] = []
        self.texts: dict[int, str] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        attributes["_index"] = len(self.elements) - 1
        if tag not in ("meta", "br", "link", "img", "input"):
            self.open.append((tag, attributes, []))

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            name, attributes, parts = self.open.pop()
            self.texts[attributes["_index"]] = "".join(parts)
            if self.open:
                self.open[-1][2].append("".join(parts))
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.open:
            self.open[-1][2].append(data)

    def having(self, cls: str) -> list[tuple[dict[str, Any], str]]:
        return [(a, self.texts.get(a["_index"], "")) for _, a in self.elements
                if cls in (a.get("class") or "").split()]

    def by_id(self, ident: str) -> str:
        (found,) = [self.texts.get(a["_index"], "") for _, a in self.elements
                    if a.get("id") == ident]
        return found


def rendered(page: Path, work: Path, screenshot: Path | None = None) -> Dom:
    """The DOM Chromium built from ``page`` (and a screenshot of it, when asked)."""
    profile = work / "chromium-profile"
    args = [*CHROMIUM, f"--user-data-dir={profile}"]
    if screenshot is not None:
        shot = subprocess.run([*args, f"--screenshot={screenshot}", "--window-size=1200,2000",
                               page.as_uri()], capture_output=True, text=True, timeout=120,
                              check=False)
        assert screenshot.stat().st_size > 10_000, shot.stderr
    dumped = subprocess.run([*args, "--dump-dom", page.as_uri()], capture_output=True,
                            text=True, timeout=120, check=False)
    assert dumped.returncode == 0 and "<body" in dumped.stdout, dumped.stderr
    return Dom(dumped.stdout)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ManifestRepository]:
    base = tmp_path_factory.mktemp("report")
    path = base / "repo"
    repo, _ = history(path, "before", "added-lv", "renamed")
    capture_into(path, FIXTURES / "storage-uefi", host="uefi")
    capture_into(path, FIXTURES / "packages-apt", host="uefi", section="packages")
    capture_into(path, FIXTURES / "system-debian12", host="uefi", section="system")
    (repo.host_dir("uefi") / "jobs.yaml").write_text(JOBS)
    repo.commit_host("uefi", "jobs: root and home")
    now = datetime_now(repo)
    archived(base / "state", "uefi", "laptopvg/root", "lv-laptopvg-root", now - 600)
    archived(base / "state", "uefi", "/home", "path-home", now - 900)
    build_site(repo, base / "site", state_dir=base / "state", now=now)
    return base, repo


def datetime_now(repo: ManifestRepository) -> float:
    from datetime import datetime

    return datetime.fromisoformat(repo.log("uefi", 1)[0].date).timestamp() + 60


def test_chromium_renders_every_host_volume_and_verdict(site) -> None:  # type: ignore[no-untyped-def]
    require_tools("report in a browser", ["chromium"])
    base, repo = site
    index = rendered(base / "site" / "index.html", base)
    rows = {a["data-host"]: text for a, text in index.having("host")}
    assert sorted(rows) == ["laptop", "uefi"]
    verdicts = [text for _, text in index.having("verdict")]
    assert verdicts == ["not-ready", "ready"]

    shot = base / "uefi.png"
    page = rendered(base / "site" / "hosts" / "uefi.html", base, screenshot=shot)
    artifacts = os.environ.get("HOSTBOOK_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(artifacts) / "report-uefi.png")
    assert page.by_id("verdict") == "ready"
    volumes = {a["data-volume"]: text for a, text in page.having("volume")}
    assert sorted(volumes) == ["/home", "laptopvg/root"]
    assert "restic" in volumes["/home"] and "15m ago" in volumes["/home"]
    assert "117.7 MiB" in volumes["laptopvg/root"]
    storage = repo.load("uefi", "storage")
    nodes = [a["data-id"] for a, _ in page.having("storage-node")]
    assert sorted(nodes) == sorted(e.id for e in storage.entries)
    commits = page.having("commit")
    assert len(commits) == len(repo.log("uefi"))

    laptop = rendered(base / "site" / "hosts" / "laptop.html", base)
    assert laptop.by_id("verdict") == "not-ready"
    reasons = [text for _, text in laptop.having("reason")]
    assert reasons[-1] == "boot: BIOS firmware but no GRUB install device recorded"
    timeline = [text for _, text in laptop.having("commit")]
    assert "0 rebuild-relevant, 7 cosmetic" in timeline[0]
    assert "storage: +lv laptopvg/extra" in timeline[1]


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.refs += [v for k, v in attrs if k in ("href", "src") and v]


def test_every_link_resolves_and_nothing_comes_from_the_network(site) -> None:  # type: ignore[no-untyped-def]
    base, _ = site
    pages = sorted((base / "site").rglob("*.html"))
    assert [p.relative_to(base / "site").as_posix() for p in pages] == [
        "hosts/laptop.html", "hosts/uefi.html", "index.html"]
    for page in pages:
        parser = Links()
        parser.feed(page.read_text())
        assert parser.scripts == 0
        assert parser.refs
        for ref in parser.refs:
            assert "://" not in ref and not ref.startswith("//"), (page, ref)
            assert (page.parent / ref.split("#")[0]).resolve().is_file(), (page, ref)


def test_the_report_command(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, repo = site
    result = CliRunner().invoke(cli, ["report", "uefi", "--repo", str(repo.path),
                                      "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote 2 pages for 1 hosts to {tmp_path / 'out'}\n"
    bad = CliRunner().invoke(cli, ["report", "nosuch", "--repo", str(repo.path),
                                   "-o", str(tmp_path / "bad")])
    assert bad.exit_code == 2
    assert "no capture of host 'nosuch'" in bad.output
    assert not (tmp_path / "bad").exists()


def test_a_host_with_one_capture_and_no_files_but_system(tmp_path: Path) -> None:
    repo = capture_into(tmp_path / "repo", PAIRS / "before")
    site = build_site(repo, tmp_path / "site")
    assert site.hosts == 1
    assert "no packages.yaml" in (tmp_path / "site" / "hosts" / "laptop.html").read_text()
