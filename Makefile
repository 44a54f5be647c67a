# SPDX-License-Identifier: GPL-2.0
#
# Front door. The two commands most people need:
#   make demo    boot the test VM with the emulated NE device and show it working
#   make check   everything: deps, QEMU, module, static checks, tests in the VM
#
# Paths (NE_CACHE, NE_BUILD, KDIR, ...) come from scripts/ne-env.sh and can be
# overridden on the command line or in the environment.

SHELL := /bin/bash
NE_ENV := source $(CURDIR)/scripts/ne-env.sh
NE_BUILD ?= $(shell $(NE_ENV) && echo "$$NE_BUILD")
KDIR ?= $(shell $(NE_ENV) && echo "$$KDIR")

DRIVER_DIR := $(CURDIR)/drivers/virt/nitro_enclaves
CONFORMANCE_DIR := tools/testing/ne_pci_conformance
SELFTESTS_DIR := tools/testing/selftests/drivers/virt/nitro_enclaves
SAMPLE_DIR := samples/nitro_enclaves

# Fail with a clear message when a part has not been written yet.
need = @test -e $(1) || { echo "make $@: $(1) does not exist (not written yet)" >&2; exit 1; }

.PHONY: all deps qemu modules static-checks conformance selftests sample \
	check bench bench-linux demo clean help install dkms-source dkms-install dkms-uninstall deb \
	debug-kernel check-debug check-quick fuzz kunit

all: modules conformance selftests sample

# Every target, one line each (scripts/check-ux.sh checks that none is missing).
help:
	@echo "Start here:"
	@echo "  demo            boot the test VM with the emulated device and launch an enclave"
	@echo "  check           everything CI runs (scripts/check.sh; README: 'Testing')"
	@echo "  check-quick     build, static checks and the main VM run (a few minutes warm)"
	@echo "  check-debug     only the debug-kernel stages, every run of the suite"
	@echo "Build:"
	@echo "  all             modules conformance selftests sample"
	@echo "  deps            install the Debian packages the build and tests need"
	@echo "  qemu            QEMU 7.2 with the NE device (cached in NE_CACHE)"
	@echo "  modules         the driver, against KDIR"
	@echo "  conformance     the device conformance test"
	@echo "  selftests       the kselftests, into NE_BUILD/selftests"
	@echo "  sample          the sample launcher"
	@echo "  debug-kernel    the KASAN/lockdep/kmemleak kernel and the driver for it"
	@echo "Test and measure:"
	@echo "  static-checks   checkpatch, sparse, W=1, kernel-doc, the ABI test"
	@echo "  fuzz            long libFuzzer runs (FUZZ_SECONDS, FUZZ_RUNS)"
	@echo "  kunit           the KUnit suites through kunit.py run --arch=x86_64"
	@echo "  bench           the launch-path benchmark in the test VM"
	@echo "  bench-linux     the same, beside Linux 6.1's own driver"
	@echo "Install:"
	@echo "  install         the module into INSTALL_MOD_PATH (default /), then depmod"
	@echo "  dkms-source     lay the DKMS source tree out in DKMS_SOURCE_TREE"
	@echo "  dkms-install    dkms add + install for the running kernel"
	@echo "  dkms-uninstall  dkms remove --all, and the source tree"
	@echo "  deb             the Debian packages (debian/) into NE_BUILD/deb"
	@echo "  clean           what the build made (the cache NE_CACHE stays)"
	@echo "  help            this list"

deps:
	scripts/deps.sh

qemu:
	$(call need,scripts/build-qemu.sh)
	scripts/build-qemu.sh

modules:
	$(call need,$(DRIVER_DIR)/Makefile)
	$(MAKE) -C $(KDIR) M=$(DRIVER_DIR) CONFIG_NITRO_ENCLAVES=m modules

static-checks:
	$(call need,scripts/static-checks.sh)
	scripts/static-checks.sh

conformance:
	$(call need,$(CONFORMANCE_DIR)/Makefile)
	$(MAKE) -C $(CONFORMANCE_DIR) O=$(NE_BUILD)

selftests:
	$(call need,$(SELFTESTS_DIR)/Makefile)
	$(MAKE) -C $(SELFTESTS_DIR) O=$(NE_BUILD)/selftests

sample:
	$(call need,$(SAMPLE_DIR)/Makefile)
	$(MAKE) -C $(SAMPLE_DIR) O=$(NE_BUILD)/samples

# Install the module built against KDIR into
# $(INSTALL_MOD_PATH)/lib/modules/<its release>/updates (INSTALL_MOD_PATH
# defaults to DESTDIR, i.e. /), where depmod ranks it above an in-kernel
# nitro_enclaves.ko, then run depmod -b there. For the running kernel:
#   make install KDIR=/lib/modules/$$(uname -r)/build
# Signed with the kernel's key only if KDIR has that key.
NE_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' $(CURDIR)/dkms.conf)
INSTALL_MOD_PATH ?= $(DESTDIR)
NE_NOSIGN = $(if $(wildcard $(KDIR)/certs/signing_key.pem $(KDIR)/output/signing_key.pem),,CONFIG_MODULE_SIG_ALL=)

install: modules
	$(MAKE) -C $(KDIR) M=$(DRIVER_DIR) CONFIG_NITRO_ENCLAVES=m $(NE_NOSIGN) \
		INSTALL_MOD_PATH=$(abspath $(INSTALL_MOD_PATH)) INSTALL_MOD_DIR=updates modules_install
	kver=$$(modinfo -F vermagic $(DRIVER_DIR)/nitro_enclaves.ko | cut -d' ' -f1) && \
		depmod -b $(or $(abspath $(INSTALL_MOD_PATH)),/) $$kver

# DKMS (see dkms.conf): the sources go to $(DKMS_SOURCE_TREE)/nitro_enclaves-<version>
# (also the nitro-enclaves-dkms package's contents), with a Kbuild file at
# their root, so that make M=<root>, dkms' default clean included, works.
DKMS_SOURCE_TREE ?= $(DESTDIR)/usr/src
DKMS_SRC := $(DKMS_SOURCE_TREE)/nitro_enclaves-$(NE_VERSION)

dkms-source:
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)/drivers/virt/nitro_enclaves $(DKMS_SRC)/include/uapi/linux
	install -m 644 dkms.conf $(DKMS_SRC)/
	printf '# SPDX-License-Identifier: GPL-2.0\n# DKMS build root (make dkms-source)\nobj-m += drivers/virt/nitro_enclaves/\n' \
		> $(DKMS_SRC)/Kbuild
	install -m 644 $(addprefix $(DRIVER_DIR)/,Makefile Kconfig) $(wildcard $(DRIVER_DIR)/*.[ch]) \
		$(DKMS_SRC)/drivers/virt/nitro_enclaves/
	rm -f $(DKMS_SRC)/drivers/virt/nitro_enclaves/*.mod.c
	install -m 644 include/uapi/linux/nitro_enclaves.h $(DKMS_SRC)/include/uapi/linux/

# Builds and installs for the running kernel (dkms -k KVER for another);
# later kernels get it through DKMS' autoinstall.
dkms-install: dkms-source
	dkms add -m nitro_enclaves -v $(NE_VERSION)
	dkms install -m nitro_enclaves -v $(NE_VERSION)

dkms-uninstall:
	-dkms remove -m nitro_enclaves -v $(NE_VERSION) --all
	rm -rf $(DKMS_SRC)

# Debian packages (debian/): nitro-enclaves-dkms and nitro-enclaves-utils,
# built by dpkg-buildpackage in a clean copy of the tree, into $(NE_BUILD)/deb.
deb:
	scripts/build-deb.sh $(NE_BUILD)/deb

check:
	scripts/check.sh

# Build, static checks and the main run of the suite in the VM.
check-quick:
	NE_CHECK_STAGES=quick scripts/check.sh

# Long fuzz runs of the guest-fed parsers (Documentation/virt/ne_fuzzing.rst),
# one libFuzzer process per target in turn, the corpus kept in
# $(NE_BUILD)/fuzz/corpus: e.g. make fuzz FUZZ_SECONDS=3600 FUZZ_RUNS=10000000
# (make check runs them 60 s per target).
fuzz:
	$(MAKE) -C tools/testing/fuzz O=$(NE_BUILD)/fuzz fuzz

# Debug kernel for the test VM (KASAN, lockdep, kmemleak, KUnit; cached in
# NE_CACHE by a hash of its inputs), and the driver + KUnit module for it.
debug-kernel:
	scripts/build-debug-kernel.sh

# The KUnit suites with kunit.py run --arch=x86_64 on linux-source-6.1 with
# the driver dropped in (not a make check stage: a first build takes 10+ min).
kunit:
	scripts/kunit-run.sh

# Only the debug-kernel stages of make check (KUnit, the suite, kmemleak),
# with every run of the suite (make check leaves out boot).
check-debug:
	NE_CHECK_STAGES="debug-kernel vm-tests-debug" \
	NE_DEBUG_RUNS="main multi limits faults boot" scripts/check.sh

# Launch-path benchmark in a larger test VM: prints one table.
bench: modules selftests
	scripts/bench.sh

# Linux 6.1's own driver (built from Debian's linux-source-6.1) against this
# one, side by side in the test VM, instant and 1 ms device replies.
bench-linux: modules selftests
	scripts/bench.sh --compare

demo: deps qemu modules sample
	scripts/demo.sh

# Removes what the build made in the tree and build/ (links into the cache
# included); the cache itself (NE_CACHE: QEMU builds, guest kernel) stays.
clean:
	-test ! -f $(DRIVER_DIR)/Makefile || test ! -d $(KDIR) || \
		$(MAKE) -C $(KDIR) M=$(DRIVER_DIR) clean
	-test ! -f $(SAMPLE_DIR)/Makefile || $(MAKE) -C $(SAMPLE_DIR) clean
	rm -rf $(NE_BUILD)
