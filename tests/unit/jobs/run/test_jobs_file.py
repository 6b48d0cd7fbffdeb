"""Where a host's integrity databases are kept follows the host, not ``--jobs-file``."""

from __future__ import annotations

from pathlib import Path

from hostbook.jobs.integrity import sure
from hostbook.jobs.run.jobs_file import load_jobs
from hostbook.manifest.store import ManifestRepository

JOBS = """\
schema: hostbook/jobs/v1
settings:
  state_dir: {state}
jobs:
  - name: data
    volume: {{path: /srv}}
"""


def test_the_sure_store_is_the_same_from_the_repository_and_from_a_jobs_file(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "m"
    ManifestRepository.init(repo)
    text = JOBS.format(state=tmp_path / "state")
    (repo / "hosts" / "h").mkdir(parents=True)
    (repo / "hosts" / "h" / "jobs.yaml").write_text(text)
    copy = tmp_path / "elsewhere.yaml"
    copy.write_text(text)
    from_repo = load_jobs(repo, "h")
    from_file = load_jobs(repo, "h", copy)
    assert from_repo.sure_store == repo.resolve() / "hosts" / "h" / "sure"
    assert from_file.sure_store == from_repo.sure_store  # was <state>/sure/h: all hashed again
    assert from_file.sure_in_manifest
    # a host the repository does not have keeps its databases in the state directory
    assert load_jobs(repo, "other", copy).sure_store == tmp_path / "state" / "sure" / "other"


def test_databases_already_in_the_state_directory_stay_there(tmp_path: Path) -> None:
    """A host archived with --jobs-file before it was captured keeps its store."""
    repo = tmp_path / "m"
    ManifestRepository.init(repo)
    (repo / "hosts" / "h").mkdir(parents=True)
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(JOBS.format(state=tmp_path / "state"))
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f").write_text("x")
    earlier = tmp_path / "state" / "sure" / "h" / "path-srv" / "20260101T000000Z.sure.gz"
    sure.update(tree, earlier)
    assert load_jobs(repo, "h", jobs).sure_store == tmp_path / "state" / "sure" / "h"
    newer = repo / "hosts" / "h" / "sure" / "path-srv" / "20260201T000000Z.sure.gz"
    sure.update(tree, newer)
    assert load_jobs(repo, "h", jobs).sure_store == repo.resolve() / "hosts" / "h" / "sure"
