/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Nitro Enclaves tracepoints: every device command the driver sends, and
 * the memory work of the launch path (pinning, merging, sending ranges).
 *
 * Enable them with, for example:
 *   echo 1 > /sys/kernel/tracing/events/nitro_enclaves/enable
 * Documentation/virt/ne_overview.rst describes each event.
 */

#undef TRACE_SYSTEM
#define TRACE_SYSTEM nitro_enclaves

#if !defined(_NE_TRACE_H_) || defined(TRACE_HEADER_MULTI_READ)
#define _NE_TRACE_H_

#include <linux/tracepoint.h>
#include <linux/types.h>

#include "ne_pci_dev.h"

/* Command values resolved for the trace buffer's format file. */
TRACE_DEFINE_ENUM(ENCLAVE_START);
TRACE_DEFINE_ENUM(ENCLAVE_GET_SLOT);
TRACE_DEFINE_ENUM(ENCLAVE_STOP);
TRACE_DEFINE_ENUM(SLOT_ALLOC);
TRACE_DEFINE_ENUM(SLOT_FREE);
TRACE_DEFINE_ENUM(SLOT_ADD_MEM);
TRACE_DEFINE_ENUM(SLOT_ADD_VCPU);
TRACE_DEFINE_ENUM(SLOT_COUNT);
TRACE_DEFINE_ENUM(NEXT_SLOT);
TRACE_DEFINE_ENUM(SLOT_INFO);
TRACE_DEFINE_ENUM(SLOT_ADD_BULK_VCPUS);

/*
 * ne_cmd - one device command finished. @latency_ns runs from the call
 * until the reply was read, so it includes waiting for the mailbox (one
 * command at a time per device) as well as the device's own time.
 */
TRACE_EVENT(ne_cmd,
	    TP_PROTO(u32 type, u64 slot_uid, int rc, u64 latency_ns),
	    TP_ARGS(type, slot_uid, rc, latency_ns),
	    TP_STRUCT__entry(__field(u32, type)
			     __field(u64, slot_uid)
			     __field(int, rc)
			     __field(u64, latency_ns)),
	    TP_fast_assign(__entry->type = type;
			   __entry->slot_uid = slot_uid;
			   __entry->rc = rc;
			   __entry->latency_ns = latency_ns;),
	    TP_printk("cmd=%s slot=%#llx rc=%d latency_ns=%llu",
		      __print_symbolic(__entry->type,
				       { ENCLAVE_START, "ENCLAVE_START" },
				       { ENCLAVE_GET_SLOT, "ENCLAVE_GET_SLOT" },
				       { ENCLAVE_STOP, "ENCLAVE_STOP" },
				       { SLOT_ALLOC, "SLOT_ALLOC" },
				       { SLOT_FREE, "SLOT_FREE" },
				       { SLOT_ADD_MEM, "SLOT_ADD_MEM" },
				       { SLOT_ADD_VCPU, "SLOT_ADD_VCPU" },
				       { SLOT_COUNT, "SLOT_COUNT" },
				       { NEXT_SLOT, "NEXT_SLOT" },
				       { SLOT_INFO, "SLOT_INFO" },
				       { SLOT_ADD_BULK_VCPUS, "SLOT_ADD_BULK_VCPUS" }),
		      __entry->slot_uid, __entry->rc, __entry->latency_ns)
);

/*
 * ne_mem_pin - NE_SET_USER_MEMORY_REGION pinned and checked a region:
 * @nr_ranges physically contiguous ranges inside it, in @latency_ns.
 */
TRACE_EVENT(ne_mem_pin,
	    TP_PROTO(u64 slot_uid, u64 addr, u64 size, unsigned int nr_ranges,
		     int rc, u64 latency_ns),
	    TP_ARGS(slot_uid, addr, size, nr_ranges, rc, latency_ns),
	    TP_STRUCT__entry(__field(u64, slot_uid)
			     __field(u64, addr)
			     __field(u64, size)
			     __field(unsigned int, nr_ranges)
			     __field(int, rc)
			     __field(u64, latency_ns)),
	    TP_fast_assign(__entry->slot_uid = slot_uid;
			   __entry->addr = addr;
			   __entry->size = size;
			   __entry->nr_ranges = nr_ranges;
			   __entry->rc = rc;
			   __entry->latency_ns = latency_ns;),
	    TP_printk("slot=%#llx addr=%#llx size=%#llx ranges=%u rc=%d latency_ns=%llu",
		      __entry->slot_uid, __entry->addr, __entry->size,
		      __entry->nr_ranges, __entry->rc, __entry->latency_ns)
);

/*
 * ne_mem_merge - a pinned region joined the enclave's ranges: it added
 * @added ranges (one fewer than its own when it continued the last one),
 * giving @nr_ranges in all, @nr_sent of them already on the device.
 */
TRACE_EVENT(ne_mem_merge,
	    TP_PROTO(u64 slot_uid, unsigned int region_ranges,
		     unsigned int added, unsigned int nr_ranges,
		     unsigned int nr_sent, u64 mem_size),
	    TP_ARGS(slot_uid, region_ranges, added, nr_ranges, nr_sent,
		    mem_size),
	    TP_STRUCT__entry(__field(u64, slot_uid)
			     __field(unsigned int, region_ranges)
			     __field(unsigned int, added)
			     __field(unsigned int, nr_ranges)
			     __field(unsigned int, nr_sent)
			     __field(u64, mem_size)),
	    TP_fast_assign(__entry->slot_uid = slot_uid;
			   __entry->region_ranges = region_ranges;
			   __entry->added = added;
			   __entry->nr_ranges = nr_ranges;
			   __entry->nr_sent = nr_sent;
			   __entry->mem_size = mem_size;),
	    TP_printk("slot=%#llx region_ranges=%u added=%u ranges=%u sent=%u mem_size=%#llx",
		      __entry->slot_uid, __entry->region_ranges,
		      __entry->added, __entry->nr_ranges, __entry->nr_sent,
		      __entry->mem_size)
);

/*
 * ne_mem_send - the ranges not yet on the device were sent (at
 * NE_START_ENCLAVE, or per ioctl with legacy_per_page_mem): @sent of
 * @pending SLOT_ADD_MEM commands succeeded, in @latency_ns.
 */
TRACE_EVENT(ne_mem_send,
	    TP_PROTO(u64 slot_uid, unsigned int pending, unsigned int sent,
		     int rc, u64 latency_ns),
	    TP_ARGS(slot_uid, pending, sent, rc, latency_ns),
	    TP_STRUCT__entry(__field(u64, slot_uid)
			     __field(unsigned int, pending)
			     __field(unsigned int, sent)
			     __field(int, rc)
			     __field(u64, latency_ns)),
	    TP_fast_assign(__entry->slot_uid = slot_uid;
			   __entry->pending = pending;
			   __entry->sent = sent;
			   __entry->rc = rc;
			   __entry->latency_ns = latency_ns;),
	    TP_printk("slot=%#llx pending=%u sent=%u rc=%d latency_ns=%llu",
		      __entry->slot_uid, __entry->pending, __entry->sent,
		      __entry->rc, __entry->latency_ns)
);

#endif /* _NE_TRACE_H_ */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE ne_trace

#include <trace/define_trace.h>
