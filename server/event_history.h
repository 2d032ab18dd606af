// EventHistory: this node's watch history on disk (issue 18, "watch history
// that lasts"). A watcher whose index fell out of the state machine's event
// window (events-max, in memory) resumes from here, as etcd's watchers
// resume from any revision since the last compaction.
//
//   feed     every event the machine applies, copied from its window after
//            each owner-loop turn, appended to a HistoryStore
//            (persistence/history_store.h) in DATA_DIR/history/.
//   compact  once a period: the revisions that are both older than
//            retention_ms (log time) and not among the retention_revisions
//            newest (counting revisions that have events) go. So the default
//            keeps whichever is larger of 1 hour and 1,000,000 revisions. Over bytes_max, the oldest
//            go regardless, an eighth of the history per period.
//   read     the events after a revision that pass a filter, whole revisions
//            only, "compacted" if they are gone. Never a silent gap.
//
// Continuity: the history is fed from the window, so it has every event
// unless the window dropped some before a feed took them (a snapshot
// installed from a peer, a restart whose window starts after what the disk
// kept). Then the history restarts after the window's start (logged
// `watch_history_restarted`), and a watcher older than that is told
// "compacted".
//
// Threads: feed() and read() run on the owner thread, which owns the
// machine. A thread of its own writes, compacts, syncs and answers reads, in
// the order they were asked: read() feeds first, so a read finds every event
// applied before it was asked. Its answer (`done`) runs on that thread, which
// runs at nice 5: background work that yields the cores to the owner and
// storage threads. stats() is for any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lockservice/state_machine.h"
#include "persistence/history_store.h"

namespace synod::server {

struct EventHistoryOptions {
  std::string dir;  // DATA_DIR/history
  // Kept: revisions newer than either bound. Both 0: no history at all.
  int64_t retention_ms = 3'600'000;
  uint64_t retention_revisions = 1'000'000;
  uint64_t bytes_max = uint64_t{1} << 30;
  // One transaction erases at most this many records; the thread answers
  // what waits between two.
  size_t compaction_records_max = 8'192;
  int64_t compaction_period_ms = 1'000;
  int64_t sync_period_ms = 5'000;
  // Appends wait this long to share a transaction (an LMDB commit writes its
  // pages whole), unless a read waits.
  int64_t append_delay_ms = 20;
  // A read scans about this many records at most (whole revisions).
  size_t read_records_max = 16'384;
  // Events queued for the thread and not yet taken. Past it, a feed gives
  // its events up and the history restarts after them, rather than hold
  // memory without bound behind a thread that cannot keep up.
  size_t queued_events_max = 262'144;
  lockservice::Limits limits;  // the names and values a record may hold

  bool enabled() const { return retention_ms > 0 || retention_revisions > 0; }
};

struct EventHistoryStats {
  uint64_t first_after = 0;  // every revision up to this one is gone
  uint64_t last = 0;
  uint64_t bytes = 0;
  uint64_t restarts = 0;
};

class EventHistory {
 public:
  using LogFn = std::function<void(bool warn, std::string_view event, const std::string& detail)>;
  // nullptr and `error` set if the history cannot open. A store it cannot
  // read (damaged, another format) is wiped and started afresh (logged).
  static std::unique_ptr<EventHistory> open(EventHistoryOptions options, LogFn log, std::string& error);
  // Stops the thread; reads still waiting are dropped unanswered.
  ~EventHistory();
  EventHistory(const EventHistory&) = delete;
  EventHistory& operator=(const EventHistory&) = delete;

  // Owner thread: queues what the machine applied since the last feed.
  void feed(const lockservice::StateMachine& machine);
  // Owner thread: the events with revision > after that pass `filter`, about
  // `limit` of them; `done` runs on the history's thread.
  void read(const lockservice::StateMachine& machine, lockservice::Revision after, lockservice::EventFilter filter,
            size_t limit, std::function<void(lockservice::Events)> done);

  EventHistoryStats stats() const;

 private:
  struct Task;
  EventHistory(EventHistoryOptions options, LogFn log, std::unique_ptr<persistence::HistoryStore> store);
  void push(Task task);
  void run();
  void append(std::vector<Task>& appends);
  void answer(Task& read);
  void compact_step(bool& more);
  void restart(lockservice::Revision after, const std::string& why);
  void publish();

  const EventHistoryOptions options_;
  const LogFn log_;
  std::unique_ptr<persistence::HistoryStore> store_;  // the thread's

  // owner thread
  lockservice::Revision fed_ = 0;

  // the thread's
  int64_t latest_log_ms_ = 0;
  bool unsynced_ = false;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> tasks_;    // guarded by mutex_
  size_t queued_events_ = 0;  // in tasks_; guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_

  std::atomic<uint64_t> first_after_{0}, last_{0}, bytes_{0}, restarts_{0};
  std::thread thread_;
};

}  // namespace synod::server
