"""Base classes every manifest section model is built from.

Every section is a pydantic model that forbids unknown keys, so a typo in a
hand-edited file is reported (with its line and column) instead of being
silently ignored.  Records inside sections use the same base.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


class Record(BaseModel):
    """A strict record: unknown keys are errors, values are validated in place.

    No float may be infinite or NaN: no size, percentage or timeout is, and
    arithmetic on one (a share of free space, a timeout) would fail later.
    """

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, defer_build=True, allow_inf_nan=False
    )


def fail_at(problems: Sequence[tuple[tuple[str | int, ...], str]], title: str = "manifest"
            ) -> ValidationError:
    """A validation error with each message placed at its path inside the model.

    A check that looks at a whole record (or document) raises this so that the
    printed FILE:LINE:COL points at the offending key, not at the record.
    """
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("manifest_value", "{message}", {"message": message}),
                loc=loc,
                input=None,
            )
            for loc, message in problems
        ],
    )


class Incomplete(Record):
    """A part of a captured section that could not be collected, and why."""

    part: str
    reason: str


class SectionDocument(Record):
    """Common shape of every section file: a schema tag first, then the content.

    Subclasses set ``SECTION`` (the file's stem, e.g. ``storage``) and
    ``CAPTURED`` (True when capture writes the file, False when people do).
    """

    SECTION: ClassVar[str] = ""
    CAPTURED: ClassVar[bool] = True
    VERSION: ClassVar[int] = 1

    schema_tag: str = Field(alias="schema")
    incomplete: list[Incomplete] = Field(
        default_factory=list,
        description="Parts the last capture could not collect; empty when complete.",
    )

    @classmethod
    def schema_string(cls, version: int | None = None) -> str:
        """The ``schema:`` value written for this section at a version."""
        return f"hostbook/{cls.SECTION}/v{cls.VERSION if version is None else version}"

    def to_plain(self) -> dict[str, Any]:
        """Plain data in field order, with the ``schema`` tag spelled as in files."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
