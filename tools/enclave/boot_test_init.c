// SPDX-License-Identifier: GPL-2.0
/*
 * A test /init for boot_test.sh, never for an enclave: init.c's own steps
 * in init.c's order, but without the heartbeat, which needs a parent on
 * CID 3 that the test VM does not have. It shows that /env and /cmd are
 * read, the root is entered and mounted, the command runs with its
 * environment, and its end ends the VM. The real init is built from the
 * same file without NE_INIT_NO_MAIN, so its path is unchanged.
 */
#define NE_INIT_NO_MAIN
#include "init.c"

int main(void)
{
	(void)heartbeat;	/* the step this test leaves out */
	start();
	say("TEST INIT: no heartbeat (boot_test.sh)");
	run_command();
}
