"""A job's status is its worst step's; the run's exit code is its worst job's."""

from __future__ import annotations

from hostbook.jobs.run.context import FAILED, OK, WARNING
from hostbook.jobs.run.outcome import SKIPPED, JobOutcome, RunOutcome, StepState


def test_a_step_keeps_its_worst_status_and_a_skip_counts_as_ok() -> None:
    job = JobOutcome("data", "/srv", "path-srv")
    job.mark("archive", WARNING, "restic: 1 file unreadable")
    job.mark("archive", OK, "tar: /b x.tar.zst")
    job.steps["clone"] = SKIPPED
    assert job.steps == {"archive": WARNING, "clone": SKIPPED}
    assert job.status == WARNING
    assert job.messages == ["archive: restic: 1 file unreadable", "archive: tar: /b x.tar.zst"]
    job.mark("unsnap", FAILED)
    assert job.status == FAILED and job.messages[-1] == "archive: tar: /b x.tar.zst"


def test_a_step_state_gathers_messages_under_its_worst_status() -> None:
    state = StepState(JobOutcome("data", "/srv", "path-srv"))
    state.mark(WARNING, "previous database unusable")
    state.mark(OK, "3 entries")
    assert (state.status, state.messages) == (WARNING, ["previous database unusable",
                                                        "3 entries"])


def test_exit_code_status_and_summary_of_a_run() -> None:
    run = RunOutcome("r1", "h", [JobOutcome("a", "/a", "path-a"), JobOutcome("b", "/b", "path-b")])
    assert (run.exit_code, run.status) == (0, OK)
    run.jobs[1].mark("archive", WARNING)
    assert (run.exit_code, run.status) == (1, WARNING)
    assert run.summary() == "2 job(s): 0 failed, 1 with warnings"
    run.problems.append("mount /x: umount failed")
    assert (run.exit_code, run.status) == (3, FAILED)
    run.problems.clear()
    run.jobs[0].mark("snap", FAILED)
    assert (run.exit_code, run.summary()) == (3, "2 job(s): 1 failed, 1 with warnings")
    assert run.to_json()["exit_code"] == 3
