"""The one process layer: every external command hostbook runs goes through here.

Capture, jobs and restore all drive system tools (sfdisk, lvm, restic, zfs,
git ...).  What running one means is decided once, in this package:

- no shell; the executable looked up on a PATH that has the sbin directories;
- ``LC_ALL=C`` so parsers see untranslated output;
- a timeout that kills the tool's whole process group (a hook or helper it
  started cannot keep hostbook waiting on a pipe);
- ``PR_SET_PDEATHSIG``: a tool never outlives a killed hostbook;
- optionally, a lower identity (uid, gid, no groups, no new privileges) for
  commands that read what an unprivileged user controls;
- secrets masked wherever a command line or its output is shown or recorded.

Three kinds of work, one interface (:class:`~hostbook.process.runner.Runner`):
queries only read and may be recorded and replayed; commands may write and a
dry run prints them instead; pipelines (``a | b > file``) run with the same
rules.  :mod:`hostbook.process.recording` records every kind and replays it,
so the unit tests of every layer run on outputs recorded from real tools.
"""
