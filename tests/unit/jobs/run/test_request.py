"""What a run is asked to do: ``--step`` values in run order."""

from __future__ import annotations

import pytest

from hostbook.jobs.run.request import STEPS, parse_steps
from hostbook.manifest.errors import BadInputError


def test_parse_steps() -> None:
    assert parse_steps([]) == STEPS
    assert parse_steps(["unsnap,snap", "archive"]) == ("snap", "archive", "unsnap")
    with pytest.raises(BadInputError, match="unknown step 'backup'"):
        parse_steps(["backup"])
