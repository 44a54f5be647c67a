# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Source it. dkms_private DIR CMD...: run CMD (a dkms command line) with
# dkms' trees in DIR, so that /usr/src, /var/lib/dkms and /lib/modules are
# never written: it runs in a private mount namespace whose
# /etc/dkms/framework.conf points the source tree (DIR/src, unless
# NE_DKMS_SOURCE_TREE names another), the DKMS tree (DIR/dkms), the
# install tree (DIR/install) and the MOK signing key dkms would create
# into DIR. Used by scripts/check-dkms.sh and scripts/check-packages.sh;
# "dkms install" there needs --no-depmod --no-initrd (depmod and the
# initramfs are the host's).
dkms_private() {	# DIR CMD...
	local dir=$1 src=${NE_DKMS_SOURCE_TREE:-$1/src}
	shift
	cat > "$dir/framework.conf" <<-EOC
	dkms_tree="$dir/dkms"
	source_tree="$src"
	install_tree="$dir/install"
	mok_signing_key="$dir/mok.key"
	mok_certificate="$dir/mok.pub"
	EOC
	mkdir -p "$dir/dkms" "$src" "$dir/install"
	unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/dkms/framework.conf && exec "$@"' \
		"$dir/framework.conf" "$@"
}
