"""The Starlette application: pages, the JSON API, and how errors are answered.

Pages are server-rendered from the report's Jinja2 templates (the hosts
table, the jobs table) plus a few of their own; the only script is
``serve-live.js``, which follows a run's event stream.  Blocking work (git,
the tools a plan asks, starting a run) runs in the thread pool, never on the
event loop that carries the streams.

Errors: an unknown host, run or path is 404; a bad parameter or body 400; a
jobs.yaml that does not validate 422 (its ``file:line:column`` lines); a run
lock held by a run 409; a tool that failed 502.  Every one is JSON, and so
is an unexpected error (500, its traceback only in the server's log).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
import traceback
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hostbook.jobs.run.event_log import check_run_id, read_events
from hostbook.jobs.run.lock import RunLocked
from hostbook.jobs.snapshot.on_demand import check_type, take_typed
from hostbook.manifest import file_cache
from hostbook.manifest.errors import BadInputError, HostbookError, ManifestError
from hostbook.process.runner import LiveRunner
from hostbook.review.fleet import load_fleet
from hostbook.review.site import environment, index_row, jobs_rows
from hostbook.serve.config import ServeConfig
from hostbook.serve.guard import BodyTooLarge, Guard
from hostbook.serve.reading import PLANS, NotFound, Reader
from hostbook.serve.runs import Launcher, follow

RUNS_LISTED = 50
BODY_KEYS = frozenset({"jobs"})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def _status_of(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, NotFound):
        return 404, str(exc)
    if isinstance(exc, RunLocked):
        return 409, str(exc)
    if isinstance(exc, ManifestError):
        return 422, "; ".join(exc.errors)
    if isinstance(exc, BadInputError):
        return 400, str(exc)
    if isinstance(exc, BodyTooLarge):
        return 413, "request body too large"
    if isinstance(exc, HostbookError):
        return 502, str(exc)
    return 500, "internal error (see the server's log)"


async def _handle(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _error(exc.status_code, str(exc.detail))
    status, message = _status_of(exc)
    if status == 500:
        traceback.print_exception(exc, file=sys.stderr)
    return _error(status, message)


async def _body(request: Request) -> dict[str, Any]:
    """A POST's optional JSON body: an object with only the keys the API knows."""
    raw = await request.body()
    if not raw.strip():
        return {}
    if "json" not in request.headers.get("content-type", ""):
        raise BadInputError("the body must be JSON (Content-Type: application/json)")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInputError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadInputError("the body must be a JSON object")
    unknown = sorted(set(data) - BODY_KEYS)
    if unknown:
        raise BadInputError(f"unknown key(s) in the body: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(BODY_KEYS))})")
    jobs = data.get("jobs", [])
    if not isinstance(jobs, list) or not all(isinstance(j, str) for j in jobs):
        raise BadInputError("'jobs' must be a list of job names")
    return data


class Dashboard:
    """Routes bound to one reader and launcher."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.reader = Reader(config.repository, config.state_dir)
        self.launcher = Launcher(self.reader, config.repository, config.state_dir)
        self.env = environment()
        self.env.filters["when"] = _when
        self.warmed = threading.Event()

    def warm(self) -> None:
        """Parse every host's files once, so the first visitor does not wait for it.

        A repository's files are parsed with their comments kept (tens of
        milliseconds each): 100 hosts took about 10 s on the reference machine,
        which the first ``/`` or ``/api/hosts`` after a start would otherwise
        spend.  Those two wait for the warm-up instead of parsing beside it
        (twice the work on two cores).  Whatever fails here is reported by the
        request that meets it.
        """
        try:
            with contextlib.suppress(Exception):
                load_fleet(self.reader.repo(), state_dir=self.config.state_dir)
                self.reader.hosts()
        finally:
            self.warmed.set()

    def fleet_ready(self) -> None:
        """Wait for the warm-up: the pages of every host would parse the same files again."""
        self.warmed.wait()

    def page(self, template: str, **context: Any) -> HTMLResponse:
        generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        html = self.env.get_template(template).render(generated=generated, **context)
        return HTMLResponse(html)

    # -- pages ----------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        def build() -> dict[str, Any]:
            self.fleet_ready()
            views = load_fleet(self.reader.repo(), state_dir=self.config.state_dir)
            return {"hosts": [index_row(v) for v in views],
                    "runs": list(self.reader.all_runs(RUNS_LISTED))}
        return self.page("serve-index.html.j2", root="/", **await run_in_threadpool(build))

    async def host_page(self, request: Request) -> Response:
        host = request.path_params["host"]

        def build() -> dict[str, Any]:
            name = self.reader.host(host)
            view = load_fleet(self.reader.repo(), [name], state_dir=self.config.state_dir)[0]
            runs = self.reader.runs(name, RUNS_LISTED)
            live = next((r.run for r in runs if r.status is None), None)
            return {"host": name, "readiness": view.readiness, "jobs": jobs_rows(view),
                    "runs": runs, "live_run": live}
        return self.page("serve-host.html.j2", root="/", **await run_in_threadpool(build))

    async def plan_page(self, request: Request) -> Response:
        host, what = request.path_params["host"], request.path_params["what"]
        text = await run_in_threadpool(self.reader.plan_text, host, what)
        return self.page("serve-plan.html.j2", root="/", host=self.reader.host(host),
                         what=what, text=text)

    async def runs_page(self, request: Request) -> Response:
        runs = await run_in_threadpool(lambda: list(self.reader.all_runs(RUNS_LISTED)))
        return self.page("serve-runs.html.j2", root="/", runs=runs)

    async def run_page(self, request: Request) -> Response:
        run_id = check_run_id(request.path_params["run"])
        log = await run_in_threadpool(self.reader.find_run, run_id)
        events, _ = read_events(log.path)
        return self.page("serve-run.html.j2", root="/", host=log.host, run=log,
                         events=events)

    async def script(self, request: Request) -> Response:
        text = resources.files("hostbook.templates").joinpath("serve-live.js").read_text()
        return Response(text, media_type="text/javascript")

    # -- API ------------------------------------------------------------------------

    async def api_hosts(self, request: Request) -> Response:
        def hosts() -> list[dict[str, Any]]:
            self.fleet_ready()
            return self.reader.hosts()
        return JSONResponse({"hosts": await run_in_threadpool(hosts)})

    async def api_status(self, request: Request) -> Response:
        document, code = await run_in_threadpool(self.reader.status,
                                                 request.path_params["host"])
        return JSONResponse(document, headers={"X-Hostbook-Exit-Code": str(code)})

    async def api_plan(self, request: Request) -> Response:
        host = request.path_params["host"]
        kind = request.query_params.get("kind")
        if kind is not None and kind not in PLANS:
            raise BadInputError(f"kind {kind!r}: one of {', '.join(PLANS)}")
        wanted = [kind] if kind else list(PLANS)
        plans = {what: await run_in_threadpool(self.reader.plan, host, what) for what in wanted}
        return JSONResponse({"host": self.reader.host(host), **plans})

    async def api_runs_of(self, request: Request) -> Response:
        limit_text = request.query_params.get("limit", str(RUNS_LISTED))
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 500:
            raise BadInputError(f"limit {limit_text!r}: a number from 1 to 500")
        runs = await run_in_threadpool(self.reader.runs, request.path_params["host"],
                                       int(limit_text))
        return JSONResponse({"runs": [r.to_json() for r in runs]})

    async def api_snapshot(self, request: Request) -> Response:
        host = request.path_params["host"]
        kind = request.query_params.get("type")
        if kind is None:
            raise BadInputError("give the snapshot type: ?type=hourly (daily, weekly...)")
        check_type(kind)
        body = await _body(request)

        def take() -> list[dict[str, Any]]:
            loaded = self.reader.jobs(host)
            return [m.to_json() for m in take_typed(loaded, kind, LiveRunner(),
                                                    job_names=body.get("jobs"))]
        made = await run_in_threadpool(take)
        failed = any(m["status"] == "failed" for m in made)
        return JSONResponse({"host": host, "type": kind, "snapshots": made},
                            status_code=502 if failed else 201)

    async def api_run(self, request: Request) -> Response:
        host = request.path_params["host"]
        body = await _body(request)
        started = await run_in_threadpool(self.launcher.start, host, body.get("jobs") or [])
        return JSONResponse({"run": started.run, "host": started.host,
                             "url": f"/api/runs/{started.run}",
                             "events": f"/api/runs/{started.run}/events"}, status_code=202)

    async def api_run_get(self, request: Request) -> Response:
        run_id = check_run_id(request.path_params["run"])
        started = self.launcher.started.get(run_id)
        if started is not None and not started.log.exists():
            return JSONResponse({"run": run_id, "host": started.host, "status": None,
                                 "events": [], "process": started.to_json()})
        log = await run_in_threadpool(self.reader.find_run, run_id)
        events, _ = read_events(log.path)
        answer = {**log.to_json(), "events": events}
        if started is not None:
            answer["process"] = started.to_json()
        return JSONResponse(answer)

    async def api_run_events(self, request: Request) -> Response:
        run_id = check_run_id(request.path_params["run"])
        started = self.launcher.started.get(run_id)
        if started is not None:
            path, host = started.log, started.host

            def alive() -> bool:
                return started.background.poll() is None or self.reader.running(host) is not None
        else:
            log = await run_in_threadpool(self.reader.find_run, run_id)
            path, host = log.path, log.host

            def alive() -> bool:
                return self.reader.running(host) is not None
        last = request.headers.get("last-event-id", "0")
        after = int(last) if last.isdigit() else 0
        return StreamingResponse(follow(path, alive, after), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    def routes(self) -> list[Route]:
        return [
            Route("/", self.index),
            Route("/index.html", self.index),
            Route("/runs", self.runs_page),
            Route("/runs/{run}", self.run_page),
            Route("/hosts/{host}.html", self.host_page),
            Route("/hosts/{host}/plan/{what}", self.plan_page),
            Route("/static/serve-live.js", self.script),
            Route("/api/hosts", self.api_hosts),
            Route("/api/hosts/{host}/status", self.api_status),
            Route("/api/hosts/{host}/plan", self.api_plan),
            Route("/api/hosts/{host}/runs", self.api_runs_of),
            Route("/api/hosts/{host}/snapshot", self.api_snapshot, methods=["POST"]),
            Route("/api/hosts/{host}/run", self.api_run, methods=["POST"]),
            Route("/api/runs/{run}", self.api_run_get),
            Route("/api/runs/{run}/events", self.api_run_events),
        ]


def _when(stamp: float | None) -> str:
    return "never" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S",
                                                       time.gmtime(stamp))


def create_app(config: ServeConfig) -> Any:
    """The ASGI application: the guard in front of the routes."""
    file_cache.enable()
    dashboard = Dashboard(config)
    app = Starlette(routes=dashboard.routes(),
                    exception_handlers={HostbookError: _handle, BodyTooLarge: _handle,
                                        HTTPException: _handle, Exception: _handle})
    app.state.dashboard = dashboard
    threading.Thread(target=dashboard.warm, name="hostbook-serve-warm", daemon=True).start()
    return Guard(app, config.token, config.limits, config.trusted_hosts())
