"""Which dumps an xfsdump restore applies, in order: level 0 up to the chosen one."""

from __future__ import annotations

from hostbook.restore.data.xfsdump import chain


def test_each_dump_builds_on_the_newest_earlier_dump_of_a_lower_level() -> None:
    dumps = [("a", 0), ("b", 1), ("c", 2), ("d", 1), ("e", 0), ("f", 2)]
    assert chain(dumps) == [
        ["a"], ["a", "b"], ["a", "b", "c"], ["a", "d"], ["e"], ["e", "f"]]


def test_a_dump_whose_level_0_is_gone_cannot_be_restored() -> None:
    assert chain([("b", 1), ("c", 2), ("e", 0)]) == [[], [], ["e"]]
