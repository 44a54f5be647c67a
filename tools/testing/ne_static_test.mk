# SPDX-License-Identifier: GPL-2.0
#
# Included by the Makefiles of the device tests run in the test VM: builds
# $(O)/$(NAME) from $(NAME).c as a static binary to copy into the VM.
# Set NAME before the include; add to CFLAGS, or prerequisites of $(BIN),
# after it.

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)
NE_BUILD ?= $(TOP)/build
O ?= $(NE_BUILD)

CC ?= gcc
CFLAGS ?= -O2
CFLAGS += -static -Wall -Wextra -pthread

BIN := $(O)/$(NAME)

all: $(BIN)

$(BIN): $(NAME).c
	@mkdir -p $(O)
	$(CC) $(CFLAGS) -o $@ $(NAME).c $(LDFLAGS)

clean:
	rm -f $(BIN)

.PHONY: all clean
