#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: boot the test VM with the emulated NE PCI device, show the
# device as the guest sees it, and run the device conformance test.
# (make demo builds the prerequisites first: deps, qemu, conformance.)
set -euo pipefail

# shellcheck source=ne-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/ne-env.sh"

echo "demo: booting the test VM (QEMU TCG, $KVER guest kernel)"
exec "$NE_ROOT/scripts/ne-vm" run --add "$NE_BUILD/ne_pci_conformance" -- sh -c '
	echo "demo: step 1: the NE PCI device (lspci -nv -d 1d0f:e4c1)"
	lspci -nv -d 1d0f:e4c1
	echo "demo: step 2: device conformance test (./ne_pci_conformance)"
	./ne_pci_conformance
'
