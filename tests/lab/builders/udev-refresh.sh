#!/bin/bash
# Have udev read every node under the given disks again (see lab_udev_refresh in
# common.sh), so lsblk, which reads udev's database, shows what is on the disks.
# Guest only (see common.sh). Usage: udev-refresh.sh DISK...
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LAYOUT=udev
[ $# -ge 1 ] || { echo "usage: $0 DISK..." >&2; exit 2; }
lab_udev_refresh "$@"
