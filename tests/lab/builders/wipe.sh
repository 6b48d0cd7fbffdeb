#!/bin/bash
# Take the storage stack down (see teardown.sh) and destroy every signature and
# partition table on the given disks, so a restore test starts from blank disks.
# Guest only (see common.sh). Usage: wipe.sh DISK...
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LAYOUT=wipe
[ $# -ge 1 ] || { echo "usage: $0 DISK..." >&2; exit 2; }
lab_teardown
lab_wipe "$@"
