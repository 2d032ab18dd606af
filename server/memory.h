// Memory accounting (issue 23): the heap as the allocator sees it, and the
// size of every in-memory structure that can grow with load, as gauges on
// /metrics (synod_memory_*) and a card on the status page, so that an
// operator sees a structure grow long before the kernel's OOM killer does.
//
// The node fills an http::MemoryUse from its own parts (the Replica's log
// cache, the state machine's counts, its waiting requests); read_heap adds
// what malloc holds. MemoryGauges publishes it.
//
// Owned by the node's owner thread; mallinfo2 walks every arena under its
// locks, so it is called when /metrics or the status page asks, never per
// command.
#pragma once

#include "http/observability.h"
#include "server/metrics.h"

namespace synod::server {

// Live and free heap bytes, from glibc's mallinfo2.
void read_heap(http::MemoryUse& use);

// Called once at the start of main, before any thread: large blocks are
// always mapped on their own, so they go back to the kernel when freed
// (memory.cpp says why).
void configure_allocator();

class MemoryGauges {
 public:
  explicit MemoryGauges(metrics::Registry& registry);
  void publish(const http::MemoryUse& use);

 private:
  metrics::Gauge& heap_live_;
  metrics::Gauge& heap_free_;
  metrics::Gauge& log_cache_slots_;
  metrics::Gauge& log_cache_bytes_;
  metrics::Gauge& dedup_entries_;
  metrics::Gauge& watch_events_;
  metrics::Gauge& watch_event_bytes_;
  metrics::Gauge& store_bytes_;
  metrics::Family<metrics::Gauge>& requests_waiting_;
};

}  // namespace synod::server
