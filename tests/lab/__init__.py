"""VM-lab tier: a real kernel under qemu for md, LUKS, LVM and friends (root only).

See tests/lab/README.md; the harness is tests/lab/vm.py.
"""
