"""Rebuild readiness, `hostbook hosts` and `hostbook metrics` over real captures.

The manifests are real lab captures (the review-pairs laptop, BIOS with no
GRUB install device; the UEFI laptop with an ESP and loaders).  jobs.yaml and
restore.yaml are what a person writes; the run history is the jobs layer's
own file, appended through its History class as `hostbook run` does.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostbook.cli import cli
from hostbook.jobs.run.history import History, Outcome, history_path
from hostbook.manifest.store import ManifestRepository
from hostbook.review.metrics import render_metrics, write_textfile
from hostbook.review.readiness import fleet_readiness, host_readiness
from tests.paths import FIXTURES
from tests.tiers import require_tools
from tests.unit.review.captured import PAIRS, capture_into

JOBS = """\
schema: hostbook/jobs/v1
jobs:
  - name: root
    volume: {lv: laptopvg/root}
    snapshot: {provider: lvm}
    archive:
      - tool: restic
        repository: /srv/restic
        password_file: /etc/hostbook/restic.pass
  - name: home
    volume: {path: /home}
    snapshot: {provider: none}
    archive:
      - tool: restic
        repository: /srv/restic
        password_file: /etc/hostbook/restic.pass
"""


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[ManifestRepository, Path, float]:
    """Two hosts: ``bios`` (the review-pairs laptop) and ``uefi`` (the OVMF laptop)."""
    path = tmp_path / "repo"
    ManifestRepository.init(path)
    capture_into(path, PAIRS / "renamed", host="bios")
    repo = capture_into(path, FIXTURES / "storage-uefi", host="uefi")
    captured = datetime.fromisoformat(repo.log("uefi", 1)[0].date).timestamp()
    return repo, tmp_path / "state", captured + 3600


def archived(state: Path, host: str, volume: str, key: str, finished: float,
             status: str = "ok") -> None:
    History(history_path(state, host)).append(Outcome(
        run="r1", job=key.rsplit("-", 1)[-1], volume=volume, volume_key=key, status=status,
        started=finished - 42.5, finished=finished, archiver="restic", tool="restic",
        location="/srv/restic", archive_id="4f3e2d1c", bytes=123456789))


def test_a_host_without_jobs_is_not_ready_with_reasons(fleet) -> None:  # type: ignore[no-untyped-def]
    repo, state, now = fleet
    bios = host_readiness(repo, "bios", state_dir=state, now=now)
    assert bios.verdict == "not-ready"
    assert [(r.check, r.message) for r in bios.reasons] == [
        ("coverage", "/: no job archives it and restore.yaml does not skip it"),
        ("coverage", "/home: no job archives it and restore.yaml does not skip it"),
        ("boot", "BIOS firmware but no GRUB install device recorded"),
    ]
    assert bios.passed("capture") and bios.passed("complete") and bios.passed("checkouts")


def test_fresh_archives_of_every_data_filesystem_make_a_ready_host(fleet) -> None:  # type: ignore[no-untyped-def]
    repo, state, now = fleet
    (repo.host_dir("uefi") / "jobs.yaml").write_text(JOBS)
    archived(state, "uefi", "laptopvg/root", "lv-laptopvg-root", now - 600)
    archived(state, "uefi", "/home", "path-home", now - 600)
    uefi = host_readiness(repo, "uefi", state_dir=state, now=now)
    assert (uefi.verdict, uefi.reasons) == ("ready", [])
    # Three days later the archives are stale and the capture is old.
    later = host_readiness(repo, "uefi", state_dir=state, now=now + 3 * 86400)
    assert [r.check for r in later.reasons] == ["capture", "coverage", "coverage"]
    assert later.reasons[1].message.startswith("/: no fresh archive (laptopvg/root 3d")


def test_restore_yaml_skip_declares_a_filesystem_disposable(fleet) -> None:  # type: ignore[no-untyped-def]
    repo, state, now = fleet
    (repo.host_dir("uefi") / "jobs.yaml").write_text(JOBS)
    archived(state, "uefi", "laptopvg/root", "lv-laptopvg-root", now - 600)
    (repo.host_dir("uefi") / "restore.yaml").write_text(
        "schema: hostbook/restore/v1\nskip: [lv:laptopvg/home]\n")
    assert host_readiness(repo, "uefi", state_dir=state, now=now).verdict == "ready"


def test_hosts_command(fleet) -> None:  # type: ignore[no-untyped-def]
    repo, state, _ = fleet
    runner = CliRunner()
    args = ["--repo", str(repo.path), "--state-dir", str(state), "--capture-max-age", "3650d"]
    text = runner.invoke(cli, ["hosts", *args])
    assert text.exit_code == 1, text.output
    lines = text.output.splitlines()
    assert lines[0].split() == ["HOST", "LAST", "CAPTURE", "VERDICT", "LAST", "ARCHIVE"]
    assert lines[1].startswith("bios ") and " not-ready " in lines[1]
    assert "    boot: BIOS firmware but no GRUB install device recorded" in lines
    data = json.loads(runner.invoke(cli, ["hosts", "--json", *args]).output)
    assert [(h["host"], h["verdict"]) for h in data] == [("bios", "not-ready"),
                                                         ("uefi", "not-ready")]
    assert data[1]["checks"] == {"capture": True, "complete": True, "coverage": False,
                                 "checkouts": True, "boot": True}


def metrics_text(repo: ManifestRepository, state: Path, now: float) -> str:
    (repo.host_dir("uefi") / "jobs.yaml").write_text(JOBS)
    archived(state, "uefi", "laptopvg/root", "lv-laptopvg-root", now - 600)
    archived(state, "uefi", "/home", "path-home", now - 900)
    archived(state, "uefi", "/home", "path-home", now - 300, status="failed")
    return render_metrics(fleet_readiness(repo, state_dir=state, now=now))


def test_metrics_say_what_the_checks_and_history_say(fleet) -> None:  # type: ignore[no-untyped-def]
    repo, state, now = fleet
    text = metrics_text(repo, state, now)
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines()
                   if not line.startswith("#"))
    assert samples['hostbook_ready{host="uefi"}'] == "1"
    assert samples['hostbook_ready{host="bios"}'] == "0"
    assert samples['hostbook_readiness_check{host="bios",check="boot"}'] == "0"
    assert samples['hostbook_capture_age_seconds{host="uefi"}'] == "3600"
    home = 'host="uefi",volume="/home",target="restic"'
    assert float(samples[f"hostbook_archive_last_success_timestamp_seconds{{{home}}}"]) == (
        now - 900)
    assert samples[f"hostbook_archive_last_success_duration_seconds{{{home}}}"] == "42.5"
    assert samples[f"hostbook_archive_last_success_size_bytes{{{home}}}"] == "123456789"
    assert samples[f'hostbook_archive_last_run_status{{{home},status="failed"}}'] == "1"
    assert samples[f'hostbook_archive_last_run_status{{{home},status="ok"}}'] == "0"


def test_promtool_accepts_the_textfile(fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_tools("metrics format check", ["promtool"])
    repo, state, now = fleet
    path = write_textfile(tmp_path / "textfile", metrics_text(repo, state, now))
    assert path.name == "hostbook.prom"
    assert [p.name for p in path.parent.iterdir()] == ["hostbook.prom"]
    checked = subprocess.run(["promtool", "check", "metrics"], input=path.read_text(),
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""


def test_the_metrics_command_writes_the_textfile(fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, state, _ = fleet
    result = CliRunner().invoke(cli, ["metrics", "uefi", "--repo", str(repo.path), "--state-dir",
                                      str(state), "--textfile", str(tmp_path / "tf")])
    assert result.exit_code == 0, result.output
    assert 'hostbook_ready{host="uefi"} 0' in (tmp_path / "tf" / "hostbook.prom").read_text()


def test_status_shows_readiness(fleet) -> None:  # type: ignore[no-untyped-def]
    repo, state, _ = fleet
    runner = CliRunner()
    args = ["status", "--host", "bios", "--repo", str(repo.path), "--state-dir", str(state)]
    text = runner.invoke(cli, args)
    assert text.exit_code == 4, text.output  # no jobs, no history: nothing configured
    assert text.output == (
        "nothing configured: no archiving jobs and no history\n"
        "readiness: not-ready\n"
        "  coverage: /: no job archives it and restore.yaml does not skip it\n"
        "  coverage: /home: no job archives it and restore.yaml does not skip it\n"
        "  boot: BIOS firmware but no GRUB install device recorded\n")
    data = json.loads(runner.invoke(cli, [*args, "--json"]).output)
    assert data["readiness"]["verdict"] == "not-ready"
    assert data["readiness"]["checks"]["boot"] is False


def test_metrics_read_the_history_where_the_jobs_keep_it(fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, _, now = fleet
    state = tmp_path / "jobs-state"
    (repo.host_dir("uefi") / "jobs.yaml").write_text(
        JOBS.replace("jobs:\n", f"settings:\n  state_dir: {state}\njobs:\n", 1))
    archived(state, "uefi", "/home", "path-home", now - 900)
    text = render_metrics(fleet_readiness(repo, ["uefi"], now=now))  # no --state-dir
    assert 'hostbook_archive_last_run_status{host="uefi",volume="/home",target="restic",' \
        'status="ok"} 1' in text
