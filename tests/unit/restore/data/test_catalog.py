"""``hostbook archives``' listing, on what real restic, borg and tar runs left."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbook.manifest.errors import BadInputError
from hostbook.restore.data.catalog import catalog
from hostbook.restore.data.report import listing_lines
from tests.unit.restore.data.recorded import FIRST, KEY, SCENARIO, SECOND, loaded, replay


def test_every_target_lists_its_archives_newest_first_with_the_runs_labels() -> None:
    listing = catalog(replay(), loaded())
    assert [(t.target, t.tool, t.error is None) for t in listing] == [
        ("local", "restic", True), ("borg", "borg", True), ("tar", "tar", True),
        ("offsite", "restic", False)]
    first_run, second_run = SCENARIO["runs"]
    for target in listing[:3]:
        assert [a.revision for a in target.archives] == [0, 1]
        assert [a.stamp for a in target.archives] == ["20240502T120000Z", "20240501T120000Z"]
        assert [a.run for a in target.archives] == [second_run, first_run]
        assert [a.manifest for a in target.archives] == [SECOND, FIRST]
        assert all(a.labels["key"] == KEY and a.labels["host"] == "labhost"
                   for a in target.archives)
    restic, borg, tar = (t.archives[0] for t in listing[:3])
    assert len(restic.id) == 64 and restic.short_id == restic.id[:8]
    assert borg.id == f"labhost-data-{KEY}-20240502T120000Z"
    assert tar.id == f"labhost-data-{KEY}-20240502T120000Z.tar.zst"
    # restic 0.14 lists no sizes: the run history has them; borg lists its own.
    assert restic.size == 17 and restic.files == 2
    assert borg.size == 17 and borg.files == 2
    assert tar.size is not None and tar.size > 0 and tar.files is None


def test_a_target_that_cannot_be_listed_says_why_in_words() -> None:
    offsite = catalog(replay(), loaded())[3]
    assert offsite.archives == []
    assert offsite.error == "/tmp/hostbook-restore-data/missing: no repository there"


def test_a_wrong_password_is_reported_as_a_wrong_password() -> None:
    listing = catalog(replay("wrong-password"), loaded())
    errors = {t.target: t.error for t in listing}
    assert errors["local"] == ("/tmp/hostbook-restore-data/restic: wrong password "
                               "(the password source in jobs.yaml gives another one)")
    assert errors["borg"] is not None and "wrong password" in errors["borg"]
    assert errors["tar"] is None
    # The password itself is in no message and no JSON.
    assert "correct horse" not in repr([t.to_json() for t in listing])


def test_without_history_restic_sizes_are_unknown_not_invented(tmp_path: Path) -> None:
    restic = catalog(replay(), loaded(state_dir=tmp_path))[0]
    assert {(a.size, a.files) for a in restic.archives} == {(None, None)}


def test_the_json_form_has_iso_times_and_revision_numbers() -> None:
    tar = catalog(replay(), loaded(), volumes=[KEY])[2].to_json()
    assert tar["archives"][0]["time"] == "2024-05-02T12:00:00Z"
    assert tar["archives"][1]["revision"] == 1 and tar["volume_key"] == KEY


def test_an_unknown_volume_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(BadInputError, match=f"no archived volume path-nope .*volumes: {KEY}"):
        catalog(replay(), loaded(), volumes=["path-nope"])


def test_the_listing_reads_per_volume_and_target() -> None:
    lines = listing_lines(catalog(replay(), loaded()))
    assert lines[0] == f"{KEY} (/tmp/hostbook-restore-data/data)"
    assert lines[1] == "  local (restic /tmp/hostbook-restore-data/restic, job data)"
    assert lines[2].split()[:5] == ["0", lines[2].split()[1], "2024-05-02T12:00:00Z", "17", "B"]
    assert lines[2].endswith(f"manifest {SECOND[:12]}")
    assert lines[3].split()[0] == "1" and "2024-05-01T12:00:00Z" in lines[3]
    assert lines[-1] == ("    unavailable: /tmp/hostbook-restore-data/missing: "
                         "no repository there")
