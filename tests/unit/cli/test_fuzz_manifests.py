"""The adversarial corpus through the real CLI: every file refused, cheaply, in place.

tests/fixtures/adversarial/generate.py builds some 900 bad files (alias
bombs, deep nesting, huge integers, tags, encodings, control characters,
truncation, binary junk, oversized files, a wrong type in every field of
every section, unsafe names, out-of-range values, dangling references);
each is read by the command that reads it: ``show --json``, ``run
--dry-run`` or ``restore plan --script``.  Each runs in a process of its own
(worker.py forks one per file from an interpreter that imported the CLI), so
each file's exit code, output, peak memory and time are its own; a sample
also runs as a fresh ``python -m hostbook`` process to show the fork gives
the same result and that the interpreter's start-up keeps within the bounds.

For every file: exit 2, nothing on stdout, no traceback, every stderr line
``FILE:LINE:COL: message`` naming that file (and the phrase its case
expects), nothing written (no restore script, no run state), under 500 MB
and 5 s of CPU time (and 10 s of wall time, whatever else the machine runs).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.paths import FIXTURES, REPO_ROOT

CORPUS = FIXTURES / "adversarial"
POSITION = re.compile(r"^(?P<file>/[^:]+):\d+:\d+: \S")
MEMORY_BYTES = 500 * 1000 * 1000
# The bound is on each process's own CPU time (user + system), which other
# load on the machine does not change; wall time only has to stay below
# twice that, which catches a process that waits instead of working.
SECONDS = 5.0
WALL_SECONDS = 2 * SECONDS
SAMPLE = 8  # cases also run as a fresh process


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"adversarial_{name}", CORPUS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@dataclass
class Ran:
    """One case as laid out and as the CLI treated it."""

    name: str
    argv: list[str]
    bad: Path
    where: Path
    expect: str
    result: dict[str, Any]

    @property
    def stderr(self) -> str:
        return (self.where / "out" / "stderr").read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return (self.where / "out" / "stdout").read_text(errors="replace")


def _run_workers(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Split the jobs over one worker per CPU (at least two); keep their order."""
    count = max(2, min(4, os.cpu_count() or 2))
    procs = [
        subprocess.Popen([sys.executable, str(CORPUS / "worker.py")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        for _ in range(count)
    ]
    for index, proc in enumerate(procs):
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(jobs[index::count]))
        proc.stdin.close()
    results: dict[str, dict[str, Any]] = {}
    for proc in procs:
        assert proc.stdout is not None
        for result in json.loads(proc.stdout.read()):
            results[result["out"]] = result
        assert proc.wait() == 0
    return [results[job["out"]] for job in jobs]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Ran]:
    generate = _module("generate")
    root = tmp_path_factory.mktemp("adversarial")
    laid = []
    for index, case in enumerate(generate.cases()):
        where = root / f"{index:04d}"
        argv, bad = generate.lay_out(case, where)
        laid.append((case, argv, bad, where))
    results = _run_workers([{"argv": argv, "out": str(where / "out")}
                            for _, argv, _, where in laid])
    return [Ran(case.name, argv, bad, where, case.expect, result)
            for (case, argv, bad, where), result in zip(laid, results, strict=True)]


def _report(bad: list[str]) -> str:
    return f"{len(bad)} case(s):\n" + "\n".join(bad[:40])


def test_the_corpus_is_large_and_reaches_every_command(corpus: list[Ran]) -> None:
    assert len(corpus) >= 300
    commands = {c.argv[0] for c in corpus} | {c.argv[1] for c in corpus if c.argv[0] == "restore"}
    assert {"show", "run", "plan"} <= commands
    kinds = {c.name.split("/")[0] for c in corpus}
    assert kinds == {"yaml", "type", "unknown-key", "value"}
    sections = {c.bad.stem for c in corpus}
    assert sections == {"system", "packages", "checkouts", "jobs", "storage", "restore"}


def test_every_file_is_refused_with_exit_2_and_no_traceback(corpus: list[Ran]) -> None:
    bad = [f"{c.name}: exit {c.result['code']}: {c.stderr[-300:]!r}" for c in corpus
           if c.result["code"] != 2 or "Traceback" in c.stderr or c.result["killed"]]
    assert not bad, _report(bad)


def test_every_error_line_is_file_line_col_of_the_bad_file(corpus: list[Ran]) -> None:
    bad = []
    for case in corpus:
        lines = case.stderr.splitlines()
        wrong = [line for line in lines
                 if not (m := POSITION.match(line)) or m["file"] != str(case.bad)]
        if not lines or wrong:
            bad.append(f"{case.name}: {(wrong or ['(nothing on stderr)'])[0][:200]!r}")
        elif case.expect not in case.stderr:
            bad.append(f"{case.name}: expected {case.expect!r} in {case.stderr[:200]!r}")
    assert not bad, _report(bad)


def test_nothing_is_printed_or_written(corpus: list[Ran]) -> None:
    bad = [c.name for c in corpus if c.stdout
           or (c.where / "restore.sh").exists() or (c.where / "state").exists()]
    assert not bad, _report(bad)


def _over(cpu: float, wall: float, peak: int) -> bool:
    return cpu >= SECONDS or wall >= WALL_SECONDS or peak >= MEMORY_BYTES


def test_each_file_costs_under_500_mb_and_5_seconds(corpus: list[Ran]) -> None:
    bad = [f"{c.name}: {c.result['cpu_seconds']:.2f} s CPU, {c.result['seconds']:.2f} s, "
           f"{c.result['maxrss_kib'] // 1024} MiB" for c in corpus
           if _over(c.result["cpu_seconds"], c.result["seconds"], c.result["maxrss_kib"] * 1024)]
    assert not bad, _report(bad)


def _fresh(argv: list[str]) -> tuple[int, str, float, float, int]:
    """``python -m hostbook ARGV`` as a new process: (code, stderr, CPU seconds, seconds,
    peak RSS)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "hostbook", *argv],
                                stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limit)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        err.seek(0)
        return (os.waitstatus_to_exitcode(status), err.read().decode(errors="replace"),
                usage.ru_utime + usage.ru_stime, seconds, usage.ru_maxrss * 1024)


def test_a_fresh_process_gives_the_same_refusal_within_the_bounds(corpus: list[Ran]) -> None:
    """The costliest cases, and some of every kind, as ``python -m hostbook``."""
    costly = sorted(corpus, key=lambda c: -c.result["seconds"])[: SAMPLE // 2]
    rest = [c for c in corpus if c not in costly]
    sample = costly + rest[:: max(1, len(rest) // (SAMPLE - len(costly)))][: SAMPLE - len(costly)]
    bad = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(_fresh, [case.argv for case in sample]))
    for case, (code, stderr, cpu, seconds, peak) in zip(sample, runs, strict=True):
        if code != case.result["code"] or stderr != case.stderr:
            bad.append(f"{case.name}: exit {code}, {stderr[:200]!r} vs the fork's "
                       f"{case.result['code']}, {case.stderr[:200]!r}")
        if _over(cpu, seconds, peak):
            bad.append(f"{case.name}: {cpu:.2f} s CPU, {seconds:.2f} s, {peak // (1 << 20)} MiB")
    assert not bad, _report(bad)
