"""``hostbook serve`` with real runs, real snapshots and a real browser (root, loop devices).

A btrfs file system on a loop device holds the volume; its job archives to a
restic repository in a local directory (upload limited so the archive lasts
some seconds and its progress can be watched).  Through the server:

* ``POST .../run`` starts the real ``hostbook run``; while it streams its
  events, 100 status requests are sent at once (all answered), and an SSE
  client follows the run: it receives every event the run logged, in order;
* headless Chromium shows the host page while a run archives: the progress
  figures change on the page, the run finishes, its history row appears
  (screenshots kept in $HOSTBOOK_TEST_ARTIFACTS);
* ``POST .../snapshot?type=hourly`` takes real btrfs snapshots, and the
  retention plan counts them as ``hourly``.

Only loop devices over image files this test created are touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hostbook.jobs.run.event_log import read_events, run_log_path
from hostbook.manifest.store import ManifestRepository
from tests.browser import chromium
from tests.loopdev import LoopDevices
from tests.serve_server import Server, running_server
from tests.tiers import require_tools

pytestmark = pytest.mark.loop

HOST = "web1"
UPLOAD_KIB_S = 8192
DATA_BYTES = 80 << 20


def sh(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}: {result.stderr}"
    return result.stdout


@dataclass
class Site:
    work: Path
    volume: Path
    repo: Path
    state: Path
    server: Server


@pytest.fixture
def site(loop_devices: LoopDevices) -> Iterator[Site]:
    require_tools("serve with real runs", ["mkfs.btrfs", "btrfs", "restic"])
    work = loop_devices.workdir
    dev = loop_devices("512M")
    dev.assert_ours()
    sh("mkfs.btrfs", "-q", "-L", "hbserve", dev.path)
    mnt = work / "btrfs"
    mnt.mkdir()
    sh("mount", dev.path, str(mnt))
    try:
        volume = mnt / "data"
        sh("btrfs", "subvolume", "create", str(volume))
        (volume / "docs").mkdir()
        for n in range(20):
            (volume / "docs" / f"note{n}.txt").write_text(f"note {n}\n" * 50)
        (volume / "blob.bin").write_bytes(os.urandom(DATA_BYTES))
        password = work / "restic.pass"
        password.write_text("serve-test-password\n")
        password.chmod(0o600)
        state = work / "state"
        repo_path = work / "repo"
        repo = ManifestRepository.init(repo_path) or ManifestRepository.open(repo_path)
        repo.host_dir(HOST).mkdir(parents=True)
        (repo.host_dir(HOST) / "jobs.yaml").write_text(f"""\
schema: hostbook/jobs/v1
settings:
  state_dir: {state}
  mount_root: {work / 'mnt'}
  sure_store: {work / 'sure'}
jobs:
  - name: data
    volume: {{path: {volume}}}
    snapshot: {{provider: btrfs}}
    archive:
      - tool: restic
        repository: {work / 'restic'}
        password_file: {password}
        init: true
        extra_args: [--limit-upload, "{UPLOAD_KIB_S}"]
retention:
  local: {{keep: {{hourly: 1, daily: 5}}}}
""")
        ManifestRepository.open(repo_path).commit_host(HOST, "jobs: data")
        with running_server(repo_path, work) as server:
            yield Site(work, volume, repo_path, state, server)
    finally:
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            target = line.split()[4]
            if target.startswith(str(work / "mnt")):
                subprocess.run(["umount", "-l", target], check=False)
        subprocess.run(["umount", str(mnt)], capture_output=True, check=False)


def start_run(site: Site) -> str:
    with site.server.client() as client:
        answer = client.post(f"/api/hosts/{HOST}/run", headers=site.server.auth())
    assert answer.status_code == 202, answer.text
    return str(answer.json()["run"])


def follow(site: Site, run_id: str, into: list[dict]) -> None:
    with site.server.client(timeout=120) as client, client.stream(
            "GET", f"/api/runs/{run_id}/events") as answer:
        assert answer.status_code == 200
        name = None
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                if name is None:
                    into.append(json.loads(line[6:]))
                name = None


def wait_for_end(site: Site, run_id: str, limit: float = 180) -> dict:
    deadline = time.monotonic() + limit
    with site.server.client() as client:
        while True:
            run = client.get(f"/api/runs/{run_id}")
            if run.status_code == 200 and run.json().get("status"):
                return dict(run.json())
            assert time.monotonic() < deadline, run.text
            time.sleep(0.2)


def test_a_run_streams_every_event_while_100_status_requests_are_answered(site: Site) -> None:
    run_id = start_run(site)
    streamed: list[dict] = []
    follower = threading.Thread(target=follow, args=(site, run_id, streamed))
    follower.start()
    # Wait for the archive to be under way, then ask for the status 100 times at once.
    deadline = time.monotonic() + 60
    log = run_log_path(site.state, HOST, run_id)
    while not any(e.get("event") == "progress" for e in read_events(log)[0]):
        assert time.monotonic() < deadline, "no progress event"
        time.sleep(0.1)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    with httpx.Client(base_url=site.server.url, timeout=60, limits=limits) as client, \
            ThreadPoolExecutor(max_workers=100) as pool:
        answers = list(pool.map(lambda _: client.get(f"/api/hosts/{HOST}/status"), range(100)))
    assert [a.status_code for a in answers] == [200] * 100
    assert all(a.json()["host"] == HOST for a in answers)
    still_running = [e for e in read_events(log)[0] if e.get("event") == "run-end"] == []
    follower.join(timeout=180)
    assert not follower.is_alive()
    run = wait_for_end(site, run_id)
    assert run["status"] == "ok" and run["exit_code"] == 0, run
    logged, _ = read_events(log)
    assert streamed == logged  # none lost, none doubled, in order
    assert still_running, "the status requests were answered after the run had ended"
    progress = [e for e in streamed if e["event"] == "progress" and e.get("step") == "archive"]
    assert len(progress) >= 3 and progress[-1]["bytes_done"] > progress[0]["bytes_done"]
    assert streamed[0]["run"] == run_id and streamed[-1]["event"] == "run-end"
    # The history the status reads has the run's archive.
    with site.server.client() as client:
        status = client.get(f"/api/hosts/{HOST}/status").json()
    (volume,) = status["volumes"]
    assert volume["state"] == "ok" and volume["last_success"]["run"] == run_id


def test_the_dashboard_shows_a_run_live_in_chromium(site: Site) -> None:
    require_tools("the dashboard in a browser", ["chromium"])
    artifacts = Path(os.environ.get("HOSTBOOK_TEST_ARTIFACTS") or site.work / "artifacts")
    artifacts.mkdir(parents=True, exist_ok=True)
    with chromium(site.work / "chromium-profile") as page:
        page.open(f"{site.server.url}/hosts/{HOST}.html")
        assert page.text("live-idle") == "no run in progress"
        run_id = start_run(site)
        seen: list[str] = []
        shots = 0
        deadline = time.monotonic() + 180
        while not page.text("live-step").startswith("finished"):
            assert time.monotonic() < deadline, seen
            figures = page.text("live-bytes")
            if figures and (not seen or seen[-1] != figures):
                seen.append(figures)
                if shots < 2 and page.text("live-step") == "archive":
                    shots += 1
                    page.screenshot(artifacts / f"serve-live-{shots}.png")
            time.sleep(0.2)
        assert page.text("live-run") == run_id
        assert page.text("live-step") == "finished: ok"
        assert len(seen) >= 3, seen  # the progress figures changed while it ran
        assert "MiB" in seen[-1] and " of " in seen[-1]
        row = f"document.querySelector('tr.run[data-run=\"{run_id}\"]')"
        deadline = time.monotonic() + 30
        while not page.evaluate(f"!!{row}"):
            assert time.monotonic() < deadline, "no history row for the run"
            time.sleep(0.2)
        assert page.evaluate(f"{row}.dataset.status") == "ok"
        # The jobs table is fetched again: the volume's last run is now the one that ended.
        volume_row = "document.querySelector('#jobs-table tr.volume td:last-child').textContent"
        deadline = time.monotonic() + 30
        while page.evaluate(volume_row) != "ok":
            assert time.monotonic() < deadline, page.evaluate(volume_row)
            time.sleep(0.2)
        page.screenshot(artifacts / "serve-finished.png")
    for name in ("serve-live-1.png", "serve-finished.png"):
        assert (artifacts / name).stat().st_size > 10_000


def test_post_snapshot_takes_btrfs_snapshots_retention_counts_by_type(site: Site) -> None:
    with site.server.client() as client:
        hourly = client.post(f"/api/hosts/{HOST}/snapshot", params={"type": "hourly"},
                             headers=site.server.auth())
        time.sleep(1.1)  # the name's time is to the second
        again = client.post(f"/api/hosts/{HOST}/snapshot", params={"type": "hourly"},
                            headers=site.server.auth())
        daily = client.post(f"/api/hosts/{HOST}/snapshot", params={"type": "daily"},
                            headers=site.server.auth())
        plan = client.get(f"/api/hosts/{HOST}/plan", params={"kind": "retention"}).json()
    for answer in (hourly, again, daily):
        assert answer.status_code == 201, answer.text
    made = [a.json()["snapshots"][0] for a in (hourly, again, daily)]
    assert [m["status"] for m in made] == ["ok"] * 3
    directory = site.volume / ".hostbook-snapshots"
    names = sorted(p.name for p in directory.iterdir())
    assert names == sorted(Path(m["snapshot"]).name for m in made)
    for name in names:
        show = sh("btrfs", "subvolume", "show", str(directory / name))
        assert "readonly" in show.split("Flags:")[1].splitlines()[0]
    assert (directory / names[0] / "blob.bin").stat().st_size == DATA_BYTES
    (btrfs_plan,) = plan["retention"]["btrfs"]
    decisions = {d["snapshot"].rsplit("/", 1)[-1].rsplit("@", 1)[-1]: d
                 for d in btrfs_plan["source"]["decisions"]}
    assert {n: decisions[n]["type"] for n in names} == {
        n: n.split("-", 1)[0] for n in names}
    assert all(decisions[n]["reasons"] for n in names)
    # keep {hourly: 1}: the newer hourly is the one the policy keeps.
    newer = max(n for n in names if n.startswith("hourly-"))
    assert decisions[newer]["action"] == "keep"
    assert any("hourly" in reason for reason in decisions[newer]["reasons"])
    with site.server.client() as client:
        page = client.get(f"/hosts/{HOST}/plan/retention").text
    assert newer in page
    shutil.rmtree(site.work / "mnt", ignore_errors=True)
