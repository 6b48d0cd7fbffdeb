"""``hostbook rebuild``: a host from its manifest and its archives, to a system that boots."""
