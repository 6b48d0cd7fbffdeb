"""Data restore: a volume's archives back into the rebuilt tree, checked file by file.

``catalog`` lists what each archive target holds, ``revspec`` picks one,
one module per source tool (restic, borg, tar) knows how to list, check and
extract it (found through ``registry``), and ``session`` runs a restore:
preflight, extraction into the volume's mount point under the target,
verification against the run's integrity database, journaled per volume.
"""
