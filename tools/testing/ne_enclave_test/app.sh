#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The application of the test enclave (tools/testing/ne_enclave_test): it
# runs as /cmd after init's heartbeat, in /rootfs. One stream each way
# with the parent (CID 3): it listens on port 5002 and takes what the
# parent sends, and sends 64 MiB to the parent's listener on port 5001.
# Then it exits, and init reboots: the enclave ends.
bytes=${NE_TEST_BYTES:-67108864}
ne_vsock_pipe --timeout 600 listen 5002 recv &
listener=$!
ne_vsock_pipe --retry 120 --timeout 600 connect 3 5001 send "$bytes"
sent=$?
wait "$listener"
got=$?
echo "enclave app: send exit $sent, recv exit $got"
