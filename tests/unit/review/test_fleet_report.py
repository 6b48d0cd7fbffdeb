"""The report of a generated 1,000-host fleet: every host on the index, no page over 2 MB.

ansible-cmdb's single 33 MB page crashed browsers at 850 hosts; here the
index of 1,000 hosts and the largest host page stay far below 2 MB.  The
build time is measured in benchmarks/report.py, not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbook.manifest.store import ManifestRepository
from hostbook.review.site import build_site
from tests.fleet_fixture import make_fleet

LIMIT = 2 * 1024 * 1024


@pytest.mark.slow
def test_a_thousand_hosts_make_small_pages(tmp_path: Path) -> None:
    names = make_fleet(tmp_path / "repo", 1000)
    site = build_site(ManifestRepository.open(tmp_path / "repo"), tmp_path / "site",
                      state_dir=tmp_path / "state")
    assert site.hosts == 1000
    assert len(site.pages) == 1001
    sizes = {page: page.stat().st_size for page in site.pages}
    assert max(sizes.values()) < LIMIT, max(sizes.items(), key=lambda item: item[1])
    index = (tmp_path / "site" / "index.html").read_text()
    assert all(f'data-host="{name}"' in index for name in names)
    assert index.count('class="host"') == 1000
