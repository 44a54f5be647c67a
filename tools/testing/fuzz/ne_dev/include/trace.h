/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for the trace.h that QEMU generates from hw/misc/trace-events:
 * the trace points of nitro_enclaves_core.c, with the same arguments, doing
 * nothing.
 */
#ifndef NE_FUZZ_TRACE_H
#define NE_FUZZ_TRACE_H

static inline void trace_nitro_enclaves_command(uint32_t type, const char *name, int enabled)
{
}

static inline void trace_nitro_enclaves_command_failed(uint32_t type, int rc)
{
}

static inline void trace_nitro_enclaves_enclave_get_slot(uint64_t cid, uint64_t uid)
{
}

static inline void trace_nitro_enclaves_enclave_start(uint64_t uid, uint64_t req_cid, uint64_t flags, uint64_t cid, int rc)
{
}

static inline void trace_nitro_enclaves_enclave_stop(uint64_t uid, int rc)
{
}

static inline void trace_nitro_enclaves_next_slot(uint64_t uid, uint64_t next)
{
}

static inline void trace_nitro_enclaves_reply_uid_zeroed(uint32_t type, int rc)
{
}

static inline void trace_nitro_enclaves_slot_add_bulk_vcpus(uint64_t uid, uint64_t nr, int rc)
{
}

static inline void trace_nitro_enclaves_slot_add_mem(uint64_t uid, uint64_t paddr, uint64_t size, int rc)
{
}

static inline void trace_nitro_enclaves_slot_add_vcpu(uint64_t uid, uint32_t id, int rc)
{
}

static inline void trace_nitro_enclaves_slot_alloc(uint64_t uid, int rc)
{
}

static inline void trace_nitro_enclaves_slot_count(uint32_t count)
{
}

static inline void trace_nitro_enclaves_slot_free(uint64_t uid, int rc)
{
}

static inline void trace_nitro_enclaves_slot_info(uint64_t uid, uint16_t state, int rc)
{
}

static inline void trace_nitro_enclaves_slot_release(uint64_t uid)
{
}

static inline void trace_nitro_enclaves_slot_state(uint64_t uid, uint16_t from, uint16_t to)
{
}

static inline void trace_nitro_enclaves_tb_exit(uint64_t uid, int rc)
{
}

#endif
