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
	check bench demo clean help

all: modules conformance selftests sample

help:
	@echo "make demo | check | bench | deps | qemu | modules | static-checks |"
	@echo "     conformance | selftests | sample | all | clean"

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

check:
	scripts/check.sh

# Launch-path benchmark in a larger test VM: prints one table.
bench: modules selftests
	scripts/bench.sh

demo: deps qemu conformance
	scripts/demo.sh

# Removes what the build made in the tree and build/ (links into the cache
# included); the cache itself (NE_CACHE: QEMU builds, guest kernel) stays.
clean:
	-test ! -f $(DRIVER_DIR)/Makefile || test ! -d $(KDIR) || \
		$(MAKE) -C $(KDIR) M=$(DRIVER_DIR) clean
	-test ! -f $(SAMPLE_DIR)/Makefile || $(MAKE) -C $(SAMPLE_DIR) clean
	rm -rf $(NE_BUILD)
