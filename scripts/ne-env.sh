# SPDX-License-Identifier: GPL-2.0
# Shared paths for the project's scripts. Source it; it sets and exports:
#   NE_ROOT   the repository
#   NE_CACHE  slow artefacts kept outside the clone (QEMU build, kernels)
#   NE_BUILD  $NE_ROOT/build: links into the cache and fresh test binaries
#   KABI      e.g. 6.1.0-57, the ABI the linux-headers-amd64 metapackage names
#   KVER      "$KABI-amd64", the guest kernel release; without the
#             metapackage, the running kernel's (uname -r)
#   KDIR      headers to build the module against (default: the guest's,
#             /usr/src/linux-headers-$KVER; without the metapackage,
#             /lib/modules/$KVER/build)
#   NE_KERNEL_DIR  where the linux-image deb for KVER is unpacked
NE_ROOT=${NE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NE_CACHE=${NE_CACHE:-/var/cache/nitro-enclaves}
NE_BUILD=${NE_BUILD:-$NE_ROOT/build}

ne_kabi() {
	local dep
	dep=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null ||
	      apt-cache depends linux-headers-amd64 2>/dev/null | sed -n 's/.*Depends: //p')
	echo "$dep" | grep -o 'linux-headers-[0-9][^ ,]*-amd64' | head -n1 |
		sed -e 's/^linux-headers-//' -e 's/-amd64$//'
}

KABI=${KABI:-$(ne_kabi)}
# Guessed before linux-headers-amd64 was there (a first make check, whose
# deps stage installs it): guess again.
if [[ -n ${NE_KVER_GUESSED:-} && -n $KABI ]]; then
	unset KVER KDIR NE_KERNEL_DIR NE_KVER_GUESSED
fi
if [[ -n $KABI ]]; then
	KVER=${KVER:-$KABI-amd64}
	KDIR=${KDIR:-/usr/src/linux-headers-$KVER}
else
	# No linux-headers-amd64 (another distribution, or an arm64 host):
	# build for the running kernel, or KVER if given, with its headers.
	[[ -n ${KVER:-}${KDIR:-} ]] || NE_KVER_GUESSED=1
	KVER=${KVER:-$(uname -r)}
	KDIR=${KDIR:-/lib/modules/$KVER/build}
fi
NE_KERNEL_DIR=${NE_KERNEL_DIR:-$NE_CACHE/kernel/$KVER}

export NE_ROOT NE_CACHE NE_BUILD KABI KVER KDIR NE_KERNEL_DIR
[[ -z ${NE_KVER_GUESSED:-} ]] || export NE_KVER_GUESSED
