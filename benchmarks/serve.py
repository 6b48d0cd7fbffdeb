"""``hostbook serve``: status requests per second with 100 hosts, and an event's way to the browser.

    .venv/bin/python benchmarks/serve.py [--hosts 100] [--requests 2000] [--events 200]

The repository is the generated fleet (tests/fleet_fixture.py: recorded
manifests, every host's files distinct), one host with a jobs.yaml of two
volumes and a year of daily run history (730 records).  The server is the
real command on a loopback port; clients are httpx in threads.

Timed:

* ``GET /api/hosts`` (every host's readiness) asked as soon as the server
  listens, which waits for the start's warm-up (every host's files parsed once),
  and then five times more from the cache;
* ``GET /api/hosts/{host}/status`` with 1 and with 8 concurrent clients:
  requests per second and latency (median, p95); beside it the floor, the
  same answer from the command a monitoring check would otherwise run
  (``hostbook status --json``, a new process each time), and the server's
  cheapest route (a static file) for what HTTP itself costs;
* the latency of an event from the run to the browser: a writer emits
  progress events through the run's own event log sink (what ``hostbook
  run`` does) ten times a second, and a client following
  ``/api/runs/{id}/events`` notes when each arrives (the event's own
  ``time`` against the clock at arrival: one machine, one clock).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from hostbook.jobs.run.event_log import EventLogSink, run_log_path
from hostbook.jobs.run.events import Event, PlainSink
from hostbook.jobs.run.history import History, Outcome, history_path
from hostbook.jobs.run.lock import host_lock
from hostbook.manifest.store import ManifestRepository
from tests.fleet_fixture import make_fleet
from tests.serve_server import running_server

JOBS = """\
schema: hostbook/jobs/v1
jobs:
  - name: root
    volume: {lv: vg0/root}
    snapshot: {provider: lvm}
    archive:
      - {tool: restic, repository: /srv/restic, password_file: /etc/hostbook/restic.pass}
  - name: home
    volume: {path: /home}
    snapshot: {provider: none}
    archive:
      - {tool: restic, repository: /srv/restic, password_file: /etc/hostbook/restic.pass}
      - {tool: tar, destination: /srv/tar}
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def prepare(base: Path, hosts: int) -> tuple[Path, Path, str]:
    repo_path = base / "repo"
    names = make_fleet(repo_path, hosts)
    host = names[0]
    repo = ManifestRepository.open(repo_path)
    (repo.host_dir(host) / "jobs.yaml").write_text(JOBS)
    repo.commit_host(host, "jobs: root and home")
    state = base / "state"
    history = History(history_path(state, host))
    now = time.time()
    for day in range(365):
        finished = now - (365 - day) * 86400
        for job, volume, key in (("root", "vg0/root", "lv-vg0-root"),
                                 ("home", "/home", "path-home")):
            history.append(Outcome(run=f"r{day}", job=job, volume=volume, volume_key=key,
                                   status="ok", started=finished - 300, finished=finished,
                                   archiver="restic", tool="restic", location="/srv/restic",
                                   archive_id=f"{day:08x}", bytes=10 << 30))
    return repo_path, state, host


def load(url: str, path: str, requests: int, clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    with httpx.Client(base_url=url, timeout=60, limits=limits) as client:
        def one(_: int) -> None:
            started = time.perf_counter()
            answer = client.get(path)
            took = time.perf_counter() - started
            assert answer.status_code == 200, answer.text
            with lock:
                latencies.append(took)
        for _ in range(20):
            one(0)  # warm the cache and the connections
        latencies.clear()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(one, range(requests)))
        elapsed = time.perf_counter() - started
    return requests / elapsed, latencies


def cli_status(repo: Path, state: Path, host: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hostbook", "status", "--repo", str(repo),
                        "--host", host, "--state-dir", str(state), "--json"],
                       capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return times


def event_latency(url: str, state: Path, host: str, events: int) -> list[float]:
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-be11cbe0"
    sink = EventLogSink(PlainSink(io.StringIO()), run_log_path(state, host, run_id), every=0.0)
    sink.emit(Event("run-start", message=f"{host}: bench", data={"run": run_id}))
    arrivals: list[float] = []

    def follow() -> None:
        with httpx.Client(base_url=url, timeout=120) as client, client.stream(
                "GET", f"/api/runs/{run_id}/events") as answer:
            name = None
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    if name == "end":
                        return
                    event = json.loads(line[6:])
                    if event["event"] == "progress":
                        arrivals.append(time.time() - float(event["time"]))
                    name = None

    with host_lock(state, host):  # what a run holds while it writes its log
        reader = threading.Thread(target=follow)
        reader.start()
        time.sleep(1.0)
        for n in range(events):
            sink.progress("home", "archive", n / events, f"{n} MiB",
                          {"bytes_done": n << 20, "files_done": n})
            time.sleep(0.1)
        sink.emit(Event("run-end", status="ok", data={"exit_code": 0}))
        sink.close()
    reader.join(timeout=60)
    return arrivals


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hostbook-serve-bench-") as tmp:
        base = Path(tmp)
        repo, state, host = prepare(base, args.hosts)
        print(f"{args.hosts} hosts; {host}: 3 targets, 730 history records")
        with running_server(repo, base, "--state-dir", str(state),
                            "--read-rate", "100000") as server:
            with server.client(timeout=600) as client:
                first = time.perf_counter()
                client.get("/api/hosts").raise_for_status()
                first = time.perf_counter() - first
                warm = []
                for _ in range(5):
                    began = time.perf_counter()
                    client.get("/api/hosts").raise_for_status()
                    warm.append(time.perf_counter() - began)
            print(f"GET /api/hosts ({args.hosts} hosts): the first, asked as soon as the server "
                  f"listens, {first:.2f} s (it waits for the warm-up parsing every file), "
                  f"then median {statistics.median(warm) * 1e3:.0f} ms of 5")
            print()
            print("| case | requests/s | median ms | p95 ms |")
            print("|------|-----------:|----------:|-------:|")
            for clients in (1, 8):
                rate, lat = load(server.url, f"/api/hosts/{host}/status", args.requests, clients)
                print(f"| GET /api/hosts/{{host}}/status, {clients} client(s) | {rate:.0f} | "
                      f"{statistics.median(lat) * 1e3:.1f} | {percentile(lat, 0.95) * 1e3:.1f} |")
            rate, lat = load(server.url, "/static/serve-live.js", args.requests, 8)
            print(f"| GET /static/serve-live.js (HTTP alone), 8 clients | {rate:.0f} | "
                  f"{statistics.median(lat) * 1e3:.1f} | {percentile(lat, 0.95) * 1e3:.1f} |")
            cli = cli_status(repo, state, host, 10)
            print(f"| hostbook status --json (a process each time) | "
                  f"{1 / statistics.median(cli):.1f} | {statistics.median(cli) * 1e3:.0f} | "
                  f"{percentile(cli, 0.95) * 1e3:.0f} |")
            arrivals = event_latency(server.url, state, host, args.events)
            assert len(arrivals) == args.events, (len(arrivals), args.events)
            print()
            print("| event latency, run -> browser | median ms | p95 ms | max ms |")
            print("|------|----------:|-------:|-------:|")
            print(f"| {len(arrivals)} progress events, 10/s | "
                  f"{statistics.median(arrivals) * 1e3:.0f} | "
                  f"{percentile(arrivals, 0.95) * 1e3:.0f} | {max(arrivals) * 1e3:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
