"""Review: what a person reads about hosts, from the manifest repository only.

Semantic diffs keyed on identity (rebuild-relevant vs cosmetic), commit
summaries for ``log --json``, and the section views of ``show``.
"""
