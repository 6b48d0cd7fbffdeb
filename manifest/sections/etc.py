"""The `etc` section (captured): the configuration a person changed under /etc.

Two kinds of file matter on a reinstall: a conffile whose content differs from
what its package shipped (dpkg records the shipped MD5 in its database), and a
file under /etc that no package owns (written by a person or a tool they ran).
Each record names its package (or none) and the MD5 of the content on the
host; the content itself is data, brought back from the archive of the job
whose volume holds /etc (the reinstall planner finds that job in jobs.yaml).
The shipped MD5 is kept so that the reinstall can tell whether the new
release's default changed too (the three-way view).

What is left out, and why, is listed in ``IGNORED`` of the probe
(capture/probes/etc/changed.py) and recorded in ``ignored``: identity and
secrets the system makes itself (machine-id, ssh host keys), account
databases (the accounts section), files other sections describe (apt, fstab,
the systemd enablement links), and caches the system rewrites.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hostbook.manifest.model import Record, SectionDocument


class ChangedFile(Record):
    """A file under /etc a person changed or added."""

    path: str
    kind: Literal["conffile", "unowned"]
    state: Literal["modified", "removed", "added"] = Field(
        description="modified: a conffile differs from its shipped MD5; removed: a "
        "conffile was deleted; added: a file no package owns"
    )
    package: str | None = Field(None, description="the package shipping the conffile")
    shipped_md5: str | None = Field(None, description="dpkg's recorded MD5 of the default")
    md5: str | None = Field(None, description="MD5 of the file on the host")
    mode: str | None = Field(None, description="permission bits, octal")
    owner: str | None = None
    group: str | None = None


class EtcDocument(SectionDocument):
    """hosts/<host>/etc.yaml."""

    SECTION = "etc"

    files: list[ChangedFile] = Field(default_factory=list, description="sorted by path")
    ignored: list[str] = Field(
        default_factory=list,
        description="the patterns left out of the capture (see the section's docstring)",
    )
