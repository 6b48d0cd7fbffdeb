#!/bin/bash
# Wipe the given disks layer by layer (wipefs -a on every layer, first and last MiB
# zeroed; see lab_wipe_layers in common.sh), as a restore round trip's starting point.
# Guest only (see common.sh). Usage: wipe-layers.sh DISK...
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
LAYOUT=wipe
[ $# -ge 1 ] || { echo "usage: $0 DISK..." >&2; exit 2; }
lab_wipe_layers "$@"
