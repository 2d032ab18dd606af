#include "server/memory.h"

#include <malloc.h>

namespace synod::server {

void read_heap(http::MemoryUse& use) {
  const struct mallinfo2 info = ::mallinfo2();
  // uordblks: bytes in use in the arenas; hblkhd: bytes in blocks malloc
  // mapped on their own (large allocations). fordblks: free bytes malloc
  // keeps in its arenas instead of returning them to the kernel.
  use.heap_live_bytes = info.uordblks + info.hblkhd;
  use.heap_free_bytes = info.fordblks;
}

void configure_allocator() {
  // synod's large blocks are transient bulk buffers: a snapshot image (the
  // state's size), its 1 MiB chunks on the storage thread and on the peer
  // link, catch-up replies of up to 4 MiB, request bodies. glibc maps blocks
  // over M_MMAP_THRESHOLD on their own and unmaps them on free, but it raises
  // that threshold to the size of each mapped block it frees (up to 32 MiB).
  // After the first snapshot every such buffer came from an arena instead,
  // and the holes they left after being freed stayed resident: steps of tens
  // of MiB in a node's RSS under a steady load (issue 23). Fixing the
  // threshold turns that adjustment off; 256 KiB keeps every small, frequent
  // allocation in the arenas.
  ::mallopt(M_MMAP_THRESHOLD, 256 << 10);
  // The heap grows (brk, or mprotect in a thread's arena) 64 MiB at a time,
  // not 128 KiB. Each growth changes the memory map under the anon_vma lock,
  // which a forked snapshot child shares with the parent; in the growing-state
  // run the owner thread waited 350-410 ms for it in brk, within seconds of a
  // fork, and a follower took over (issue 18, docs/ARCHITECTURE.md). The pad
  // is address space: its pages are resident only once used.
  ::mallopt(M_TOP_PAD, 64 << 20);
}

namespace {
metrics::Gauge& gauge(metrics::Registry& registry, const char* name, const char* help) {
  return registry.gauge(name, help).only();
}
double as_double(uint64_t v) { return static_cast<double>(v); }
}  // namespace

MemoryGauges::MemoryGauges(metrics::Registry& registry)
    : heap_live_(gauge(registry, "synod_memory_heap_live_bytes", "Heap bytes allocated and not freed (mallinfo2).")),
      heap_free_(gauge(registry, "synod_memory_heap_free_bytes",
                       "Heap bytes freed but kept by the allocator, not returned to the kernel (mallinfo2).")),
      log_cache_slots_(gauge(registry, "synod_memory_log_cache_slots",
                             "Chosen slots held in memory to catch peers up (--log-retention-slots).")),
      log_cache_bytes_(gauge(registry, "synod_memory_log_cache_bytes",
                             "Heap bytes of the chosen values held to catch peers up (--log-retention-bytes-max).")),
      dedup_entries_(gauge(registry, "synod_memory_dedup_entries",
                           "Results in the exactly-once table (bounded by the lock service's dedup_entries_max).")),
      watch_events_(gauge(registry, "synod_memory_watch_events", "Events in the watch window.")),
      watch_event_bytes_(gauge(registry, "synod_memory_watch_event_bytes", "Name and value bytes in the watch window.")),
      store_bytes_(gauge(registry, "synod_service_store_bytes", "Key name and value bytes in the key space.")),
      requests_waiting_(registry.gauge("synod_memory_requests_waiting",
                                       "Client requests held in memory, by what they wait for: proposal (their slot to "
                                       "be chosen), forward (the leader's reply), read (a read or long-poll).",
                                       {"kind"})) {}

void MemoryGauges::publish(const http::MemoryUse& use) {
  heap_live_.set(as_double(use.heap_live_bytes));
  heap_free_.set(as_double(use.heap_free_bytes));
  log_cache_slots_.set(as_double(use.log_cache_slots));
  log_cache_bytes_.set(as_double(use.log_cache_bytes));
  dedup_entries_.set(as_double(use.dedup_entries));
  watch_events_.set(as_double(use.watch_events));
  watch_event_bytes_.set(as_double(use.watch_event_bytes));
  store_bytes_.set(as_double(use.store_bytes));
  requests_waiting_.with({"proposal"}).set(as_double(use.proposals_waiting));
  requests_waiting_.with({"forward"}).set(as_double(use.forwards_waiting));
  requests_waiting_.with({"read"}).set(as_double(use.reads_waiting));
}

}  // namespace synod::server
