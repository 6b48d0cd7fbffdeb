"""Pruning and checking real restic and borg repositories: only this host's and job's archives.

Each repository holds this host's job's archives, another job's, and another
host's (a shared repository); ``keep`` prunes only the first, the scheduled
check runs when due, and the dry-run plan gives each archive its reason.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hostbook.jobs.archive import borg as archive_borg
from hostbook.jobs.archive import restic as archive_restic
from hostbook.jobs.archive.maintenance import Owner, check_due, maintain, retention_plan
from hostbook.jobs.run.context import OK
from hostbook.manifest.sections.jobs import BorgArchive, ResticArchive
from hostbook.process.runner import DryRunRunner, LiveRunner
from tests.unit.jobs.archive.test_base import context, make_tree, needs, request


@pytest.fixture
def password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "pass"
    path.write_text("correct horse battery staple\n")
    path.chmod(0o600)
    monkeypatch.setenv("RESTIC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BORG_BASE_DIR", str(tmp_path / "borg-home"))
    monkeypatch.delenv("BORG_PASSPHRASE", raising=False)
    return path


def at(hour: int) -> datetime:
    return datetime(2026, 12, 4, hour, 0, 0, tzinfo=UTC)


def tree(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    make_tree(source)
    return source


@needs("restic")
def test_restic_keep_prunes_only_this_hosts_job_and_check_runs_when_due(
    tmp_path: Path, password: Path,
) -> None:
    source = tree(tmp_path)
    spec = ResticArchive.model_validate({
        "tool": "restic", "repository": str(tmp_path / "repo"), "password_file": str(password),
        "init": True, "keep": {"daily": 1}, "check": {"every": "7d", "read_data_subset": "10%"}})
    for hour, host, job in ((1, "web1", "data"), (2, "web1", "data"), (3, "web1", "data"),
                            (4, "web1", "other"), (5, "db1", "data")):
        ctx, _ = context(host, at(hour))
        assert archive_restic.archive(request(ctx, source, job=job), spec).status == OK
    owner = Owner("web1", "data", str(source), "path-data")

    plan = retention_plan(LiveRunner(), spec, owner)
    assert not isinstance(plan, str), plan
    assert [d.keep for d in plan] == [True, False, False]
    assert "daily snapshot" in plan[0].reasons and plan[1].reasons == ["no keep rule matches"]

    said, checked = maintain(LiveRunner(), spec, owner, last_check=None, now=0.0)
    assert said[0] == (OK, f"prune: restic forget removed 2 snapshot(s) of "
                           f"host=web1,job=data,volume={source}")
    assert said[1] == (OK, "check: check --read-data-subset 10% ok") and checked
    listed = json.loads(subprocess.run(
        ["restic", "--repo", str(tmp_path / "repo"), "--password-file", str(password),
         "snapshots", "--json"], capture_output=True, text=True, check=True).stdout)
    left = sorted((s["hostname"], next(t for t in s["tags"] if t.startswith("job=")))
                  for s in listed)
    assert left == [("db1", "job=data"), ("web1", "job=data"), ("web1", "job=other")]
    assert not check_due(spec, last_check=1000.0, now=1000.0 + 6 * 86400)
    assert check_due(spec, last_check=1000.0, now=1000.0 + 7 * 86400)


@needs("borg")
def test_borg_keep_prunes_only_this_hosts_job_then_compacts(tmp_path: Path,
                                                            password: Path) -> None:
    source = tree(tmp_path)
    spec = BorgArchive.model_validate({
        "tool": "borg", "repository": str(tmp_path / "repo"), "password_file": str(password),
        "init": True, "keep": {"daily": 1, "within": "1h"}, "check": {"every": "1d"}})
    names = []
    for hour, host, job in ((1, "web1", "data"), (2, "web1", "data"), (4, "web1", "other"),
                            (5, "db1", "data")):
        ctx, _ = context(host, at(hour))
        result = archive_borg.archive(request(ctx, source, job=job), spec)
        assert result.status == OK, result.message
        names.append(result.archive_id)
    owner = Owner("web1", "data", str(source), "path-data")
    plan = retention_plan(LiveRunner(), spec, owner)
    assert not isinstance(plan, str), plan
    # both are younger than an hour: "within" keeps them, and nothing else is a candidate
    assert {d.archive for d in plan} == set(names[:2]) and all(d.keep for d in plan)

    spec = spec.model_copy(update={"keep": spec.keep.model_copy(update={"within": None})})
    dry = DryRunRunner(echo=lambda text: None, live=LiveRunner())
    said, checked = maintain(dry, spec, owner, last_check=None, now=0.0)
    assert not checked  # a dry run printed the check; it did not pass one
    said, checked = maintain(LiveRunner(), spec, owner, last_check=None, now=0.0)
    assert said == [(OK, f"prune: borg pruned 1 archive(s) of {owner.borg_glob()}, then "
                         "compacted"), (OK, "check: check " + spec.repository + " ok")]
    listed = json.loads(subprocess.run(
        ["borg", "list", "--json", str(tmp_path / "repo")], capture_output=True, text=True,
        check=True, env={**__import__("os").environ,
                         "BORG_PASSCOMMAND": f"cat {password}"}).stdout)
    assert sorted(a["name"] for a in listed["archives"]) == sorted(names[1:])


@needs("restic")
def test_plan_retention_shows_each_archive_with_its_reason(tmp_path: Path,
                                                            password: Path) -> None:
    from click.testing import CliRunner

    from hostbook.commands.plan import plan_group

    source = tree(tmp_path)
    repository = tmp_path / "repo"
    spec = ResticArchive.model_validate({
        "tool": "restic", "repository": str(repository), "password_file": str(password),
        "init": True})
    for hour, host in ((1, "web1"), (2, "web1"), (3, "db1")):
        ctx, _ = context(host, at(hour))
        assert archive_restic.archive(request(ctx, source), spec).status == OK
    host = tmp_path / "m" / "hosts" / "web1"
    host.mkdir(parents=True)
    (host / "jobs.yaml").write_text(f"""\
schema: hostbook/jobs/v1
jobs:
  - name: data
    volume: {{path: {source}}}
    archive:
      - tool: restic
        repository: {repository}
        password_file: {password}
        keep: {{daily: 1}}
""")
    result = CliRunner().invoke(plan_group, ["retention", "web1", "--repo", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"data/restic (restic {repository})" in lines
    kept = [line for line in lines if line.strip().startswith("keep ")]
    deleted = [line for line in lines if line.strip().startswith("delete ")]
    assert len(kept) == 1 and "daily snapshot" in kept[0]
    assert len(deleted) == 1 and "no keep rule matches" in deleted[0]  # db1's is not listed
    result = CliRunner().invoke(plan_group, ["retention", "web1", "--repo", str(tmp_path / "m"),
                                             "--json"])
    [target] = json.loads(result.output)["archives"]
    assert [d["action"] for d in target["decisions"]] == ["keep", "delete"]
