"""The server parses every host's files once at start, before a visitor asks.

In-process (the file cache is process-wide and the server's own): after the
warm-up, the index page's and ``/api/hosts``'s reads parse no YAML file again,
and ``create_app`` starts that warm-up in a thread of its own.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hostbook.manifest import file_cache, plainyaml, yamlio
from hostbook.review import history
from hostbook.review.fleet import load_fleet
from hostbook.serve.app import Dashboard, create_app
from hostbook.serve.config import ServeConfig
from tests.unit.serve.test_api import make_repository


def config(tmp_path: Path) -> ServeConfig:
    repo, state = make_repository(tmp_path)
    return ServeConfig(host="127.0.0.1", port=0, repository=repo, token="t" * 43,
                       state_dir=state)


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The file names YAML is parsed for from now on (every module that parses)."""
    parsed: list[str] = []
    original = yamlio.parse_text

    def parse_text(text: str, filename: str) -> object:
        parsed.append(filename)
        return original(text, filename)

    for module in (yamlio, plainyaml, history):
        monkeypatch.setattr(module, "parse_text", parse_text)
    return parsed


def test_after_the_warm_up_a_visitor_parses_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_cache, "_active", None)
    file_cache.enable()
    settings = config(tmp_path)
    dashboard = Dashboard(settings)
    parsed = count_parses(monkeypatch)
    assert not dashboard.warmed.is_set()
    dashboard.warm()
    assert dashboard.warmed.is_set()
    assert any(name.endswith("uefi/jobs.yaml") for name in parsed)
    parsed.clear()
    load_fleet(dashboard.reader.repo(), state_dir=settings.state_dir)
    hosts = dashboard.reader.hosts()
    assert {h["host"] for h in hosts} == {"bios", "uefi"}
    assert parsed == []


def test_a_repository_that_fails_to_load_leaves_the_error_to_the_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_cache, "_active", None)
    file_cache.enable()
    settings = config(tmp_path)
    (settings.repository / "hosts" / "uefi" / "jobs.yaml").write_text("jobs: [\n")
    dashboard = Dashboard(settings)
    dashboard.warm()  # nothing raised: the request that meets it answers 422
    assert dashboard.warmed.is_set()  # and the pages waiting for it go on


def test_create_app_starts_the_warm_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_cache, "_active", None)
    done = threading.Event()
    where: list[str] = []
    original = Dashboard.warm

    def warm(self: Dashboard) -> None:
        original(self)
        where.append(threading.current_thread().name)
        done.set()

    monkeypatch.setattr(Dashboard, "warm", warm)
    create_app(config(tmp_path))
    assert done.wait(timeout=120)
    assert where == ["hostbook-serve-warm"]
    assert file_cache._active is not None and file_cache._active.misses > 0
