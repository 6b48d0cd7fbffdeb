#!/bin/bash
# Shut the guest's storage stack down like a host's shutdown does: unmount
# filesystems on block devices (deepest first), swapoff, deactivate LVM, close LUKS,
# stop md arrays. Leaves the disks' contents alone. Guest only (see common.sh).
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LAYOUT=teardown
lab_teardown
