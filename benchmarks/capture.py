"""Wall time of a full capture of this machine, and of a no-change re-capture.

Run as root for a complete capture:  .venv/bin/python benchmarks/capture.py [--runs N]
Prints a table; the figures go into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hostbook.capture.collect import parse_sections
from hostbook.capture.workflow import CaptureRequest, capture
from hostbook.manifest.config import load_config


def one(repo: Path, sections: list[str]) -> tuple[float, int, bool]:
    request = CaptureRequest(repository=repo, sections=sections, config=load_config())
    started = time.perf_counter()
    outcome = capture(request)
    return time.perf_counter() - started, outcome.commands_run, outcome.commit is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default=None, help="comma-separated sections")
    args = parser.parse_args()
    sections = parse_sections(args.only)
    first: list[float] = []
    again: list[float] = []
    commands = 0
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp) / "m"
            seconds, commands, committed = one(repo, sections)
            assert committed, "a first capture must commit"
            first.append(seconds)
            seconds, _, committed = one(repo, sections)
            assert not committed, "an unchanged host must not commit"
            again.append(seconds)
    print(f"sections: {','.join(sections)}; runs: {args.runs}; subprocesses per capture: "
          f"{commands}")
    print(f"{'case':<28}{'median s':>10}{'min s':>10}{'max s':>10}")
    for name, values in (("full capture (new repo)", first), ("no-change re-capture", again)):
        print(f"{name:<28}{statistics.median(values):>10.3f}{min(values):>10.3f}"
              f"{max(values):>10.3f}")


if __name__ == "__main__":
    main()
