"""systemd units for periodic capture and jobs, rendered from templates/ and installed.

``hostbook-capture.service/.timer`` capture daily (``Persistent=true``, so a
machine that was off catches up; ``RandomizedDelaySec`` so a fleet does not
push at the same second), commit only on change and push when the repository
has a remote.  ``hostbook-run@.service/.timer`` run one job of jobs.yaml per
instance (``hostbook-run@home.timer``).  ``hostbook-serve.service`` runs the
dashboard on loopback; it is written always and enabled only when asked.  The
hardening leaves out what breaks snapshots (PrivateDevices,
ProtectKernelModules, private mounts), as each template says.
``install_units`` writes them (each through a temporary file and a rename),
reloads systemd and enables the capture timer and one run timer per enabled
job, started at once with ``now``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2

from hostbook.jobs.run.jobs_file import load_jobs
from hostbook.manifest.errors import BadInputError, RuntimeFailure
from hostbook.manifest.sections.retention import parse_duration
from hostbook.manifest.yamlio import atomic_write_text
from hostbook.process.runner import Runner

UNITS = ("hostbook-capture.service", "hostbook-capture.timer", "hostbook-run@.service",
         "hostbook-run@.timer", "hostbook-serve.service")
SERVE_UNIT = "hostbook-serve.service"
UNIT_DIR = Path("/etc/systemd/system")
JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""The job names jobs.yaml allows: safe as a systemd instance name as they are."""
HEADER = "Written by hostbook install-units; edits are replaced by the next install."


@dataclass(frozen=True)
class UnitSettings:
    """What the rendered units say."""

    hostbook: str
    """Absolute path of the hostbook command the services run."""
    repo: Path
    capture_calendar: str = "daily"
    run_calendar: str = "daily"
    randomized_delay: str = "1h"
    serve_listen: str = "127.0.0.1:8765"
    """What hostbook-serve.service listens on (loopback unless TLS is configured)."""


@dataclass
class Installed:
    """What install_units did."""

    written: list[Path] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)
    started: bool = False


def render_units(settings: UnitSettings) -> dict[str, str]:
    """Unit file name -> text, for every unit hostbook installs."""
    if not settings.hostbook.startswith("/"):
        raise BadInputError(f"{settings.hostbook}: the services need an absolute path")
    for value in (settings.hostbook, str(settings.repo), settings.serve_listen):
        if any(c.isspace() or c in "\\\"'%$;" for c in value):
            raise BadInputError(f"{value!r}: no spaces, quotes, % or $ in unit paths")
    try:
        parse_duration(settings.randomized_delay)
    except ValueError as exc:
        raise BadInputError(f"--randomized-delay: {exc}") from None
    source = resources.files("hostbook.templates")
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: source.joinpath(name).read_text("utf-8")),
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    values = {"header": HEADER, "hostbook": settings.hostbook, "repo": str(settings.repo),
              "capture_calendar": settings.capture_calendar,
              "run_calendar": settings.run_calendar,
              "randomized_delay": settings.randomized_delay,
              "listen": settings.serve_listen}
    return {name: env.get_template(f"{name}.j2").render(**values) for name in UNITS}


def job_timers(job_names: list[str]) -> list[str]:
    """``hostbook-run@<job>.timer`` for each job (names are checked: no escaping needed)."""
    for name in job_names:
        if not JOB_NAME.fullmatch(name):
            raise BadInputError(f"job {name!r}: not a job name jobs.yaml allows")
    return [f"hostbook-run@{name}.timer" for name in job_names]


def write_units(settings: UnitSettings, unit_dir: Path = UNIT_DIR) -> list[Path]:
    """Write every unit into ``unit_dir``; return the paths."""
    written = []
    for name, text in render_units(settings).items():
        path = unit_dir / name
        atomic_write_text(path, text, mode=0o644)
        written.append(path)
    return written


def install_units(runner: Runner, settings: UnitSettings, job_names: list[str], *,
                  unit_dir: Path = UNIT_DIR, now: bool = False,
                  serve: bool = False) -> Installed:
    """Write the units, ``systemctl daemon-reload``, enable (and with ``now`` start) the
    capture timer, one run timer per job and, with ``serve``, the dashboard (written
    always, enabled only when asked: a server is a choice)."""
    result = Installed(write_units(settings, unit_dir))
    timers = ["hostbook-capture.timer", *job_timers(job_names),
              *([SERVE_UNIT] if serve else [])]
    for argv in (["systemctl", "daemon-reload"],
                 ["systemctl", "enable", *(["--now"] if now else []), *timers]):
        done = runner.command(argv)
        if not done.ok:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise RuntimeFailure(f"{' '.join(argv)} failed: "
                                 f"{detail[-1] if detail else f'exit {done.returncode}'}")
    result.enabled, result.started = timers, now
    return result


def host_jobs(repo: Path | None, host: str) -> list[str]:
    """The enabled jobs of ``host``'s jobs.yaml (none without a jobs.yaml)."""
    if repo is None:
        return []
    try:
        loaded = load_jobs(repo, host)
    except BadInputError as exc:
        if "no jobs.yaml" in str(exc) or "not a hostbook manifest repository" in str(exc):
            return []  # units go in before the first capture: the jobs come later
        raise
    return [job.name for job in loaded.document.jobs if job.enabled]


def install_for_host(runner: Runner, settings: UnitSettings, host: str, *,
                     unit_dir: Path = UNIT_DIR, now: bool = False,
                     serve: bool = False) -> Installed:
    """``hostbook install-units``: the units, and a run timer per enabled job of ``host``."""
    return install_units(runner, settings, host_jobs(settings.repo, host), unit_dir=unit_dir,
                         now=now, serve=serve)
