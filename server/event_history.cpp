#include "server/event_history.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "base/assert.h"

namespace synod::server {

namespace ls = synod::lockservice;
using Clock = std::chrono::steady_clock;

constexpr int kNiceness = 5;

struct EventHistory::Task {
  enum class Kind : uint8_t { append, restart, read } kind = Kind::append;
  std::vector<ls::Event> events;  // append: whole revisions, in order
  ls::Revision through = 0;       // append: the last revision covered; restart: from after this one
  bool behind = false;            // restart: the thread fell behind, not the window
  int64_t log_ms = 0;             // append: the machine's log time then
  ls::Revision after = 0;         // read
  ls::EventFilter filter;
  size_t limit = 0;
  ls::Revision current = 0;  // read: the machine's revision when asked
  std::function<void(ls::Events)> done;
};

std::unique_ptr<EventHistory> EventHistory::open(EventHistoryOptions options, LogFn log, std::string& error) {
  SYNOD_ASSERT(options.enabled());
  const persistence::HistoryOptions store_options{options.dir, options.bytes_max};
  std::unique_ptr<persistence::HistoryStore> store;
  auto status = persistence::HistoryStore::open(store_options, store);
  if (status.code == persistence::Code::corrupt || status.code == persistence::Code::unknown_format_version) {
    // Derived data: start afresh rather than refuse to serve.
    log(true, "watch_history_wiped", status.message);
    store.reset();
    status = persistence::HistoryStore::wipe(options.dir);
    if (status.ok()) status = persistence::HistoryStore::open(store_options, store);
  }
  if (!status.ok()) {
    error = status.message;
    return nullptr;
  }
  return std::unique_ptr<EventHistory>(new EventHistory(std::move(options), std::move(log), std::move(store)));
}

EventHistory::EventHistory(EventHistoryOptions options, LogFn log, std::unique_ptr<persistence::HistoryStore> store)
    : options_(std::move(options)), log_(std::move(log)), store_(std::move(store)) {
  fed_ = store_->range().last;
  publish();
  bytes_.store(store_->bytes());
  thread_ = std::thread([this] { run(); });
}

EventHistory::~EventHistory() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (unsynced_) store_->sync();
}

EventHistoryStats EventHistory::stats() const {
  return EventHistoryStats{first_after_.load(), last_.load(), bytes_.load(), restarts_.load()};
}

void EventHistory::publish() {
  const auto range = store_->range();
  first_after_.store(range.first_after);
  last_.store(range.last);
}

// ------------------------------------------------------------ owner thread

void EventHistory::feed(const ls::StateMachine& machine) {
  const ls::Revision now = machine.revision();
  if (now <= fed_) return;  // nothing new, or the disk is ahead after a restart
  ls::Events window = machine.events(fed_, {}, SIZE_MAX);
  if (window.status == ls::Status::compacted) {
    // The window dropped events no feed took: the history cannot go on from
    // fed_ without a gap.
    Task restart;
    restart.kind = Task::Kind::restart;
    restart.through = window.compacted_revision;
    push(std::move(restart));
    fed_ = window.compacted_revision;
    window = machine.events(fed_, {}, SIZE_MAX);
    SYNOD_ASSERT(window.status == ls::Status::ok);
  }
  Task task;
  while (true) {
    SYNOD_ASSERT(window.next_index > fed_);
    std::move(window.events.begin(), window.events.end(), std::back_inserter(task.events));
    fed_ = window.next_index;
    if (fed_ >= now) break;
    window = machine.events(fed_, {}, SIZE_MAX);
  }
  task.through = fed_;
  task.log_ms = machine.log_time_ms();
  push(std::move(task));
}

void EventHistory::read(const ls::StateMachine& machine, ls::Revision after, ls::EventFilter filter, size_t limit,
                        std::function<void(ls::Events)> done) {
  feed(machine);  // so the read finds every event applied before it
  Task task;
  task.kind = Task::Kind::read;
  task.after = after;
  task.filter = std::move(filter);
  task.limit = std::max<size_t>(limit, 1);
  task.current = machine.revision();
  task.done = std::move(done);
  push(std::move(task));
}

void EventHistory::push(Task task) {
  const bool is_read = task.kind == Task::Kind::read;
  bool was_empty = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    was_empty = tasks_.empty();
    if (task.kind == Task::Kind::append && queued_events_ + task.events.size() > options_.queued_events_max) {
      // Give these events up rather than hold memory without bound behind a
      // thread that cannot keep up: the history restarts after them.
      task.kind = Task::Kind::restart;
      task.behind = true;
      task.events.clear();
    }
    queued_events_ += task.events.size();
    tasks_.push_back(std::move(task));
  }
  // The thread waits on an empty queue, or for a read while appends gather.
  if (was_empty || is_read) wake_.notify_one();
}

// ---------------------------------------------------------- history thread

void EventHistory::run() {
  // Background work: the history yields the cores to the owner and storage
  // threads under load (the snapshot child runs at 19). Only 5, so that it
  // still keeps up when the cores are full (queued_events_max). Best effort.
  [[maybe_unused]] const int niced = ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kNiceness);
  auto next_compaction = Clock::now() + std::chrono::milliseconds(options_.compaction_period_ms);
  auto next_sync = Clock::now() + std::chrono::milliseconds(options_.sync_period_ms);
  bool compaction_more = false;
  const auto read_waits = [this] {
    return std::any_of(tasks_.begin(), tasks_.end(), [](const Task& t) { return t.kind == Task::Kind::read; });
  };
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    const auto deadline = compaction_more ? Clock::now() : std::min(next_compaction, next_sync);
    wake_.wait_until(lock, deadline, [this] { return stopping_ || !tasks_.empty(); });
    if (stopping_) return;
    if (!tasks_.empty() && !read_waits()) {
      // Let appends gather into one transaction, unless a read comes.
      wake_.wait_for(lock, std::chrono::milliseconds(options_.append_delay_ms),
                     [&] { return stopping_ || read_waits(); });
      if (stopping_) return;
    }
    std::deque<Task> batch;
    batch.swap(tasks_);
    queued_events_ = 0;
    lock.unlock();

    std::vector<Task> appends;
    for (Task& task : batch) {
      if (task.kind == Task::Kind::append) {
        appends.push_back(std::move(task));
        continue;
      }
      append(appends);
      if (task.kind == Task::Kind::restart) {
        restart(task.through,
                task.behind ? "more than " + std::to_string(options_.queued_events_max) + " events waited to be written"
                            : "the event window dropped events before they were kept");
      }
      if (task.kind == Task::Kind::read) answer(task);
    }
    append(appends);

    const auto now = Clock::now();
    if (compaction_more || now >= next_compaction) {
      compact_step(compaction_more);
      next_compaction = now + std::chrono::milliseconds(options_.compaction_period_ms);
    }
    if (now >= next_sync) {
      // The history's writes reach the disk here, off the commit path.
      if (unsynced_) {
        if (auto status = store_->sync(); !status.ok()) log_(true, "watch_history_error", status.message);
        unsynced_ = false;
      }
      next_sync = now + std::chrono::milliseconds(options_.sync_period_ms);
    }
    publish();
    lock.lock();
  }
}

void EventHistory::append(std::vector<Task>& appends) {
  if (appends.empty()) return;
  const ls::Revision last = store_->range().last;
  std::vector<persistence::HistoryEntry> entries;
  for (const Task& task : appends) {
    for (const ls::Event& event : task.events) {
      if (event.revision > last) entries.push_back({event.revision, ls::encode_event(event)});
    }
  }
  const ls::Revision through = appends.back().through;
  latest_log_ms_ = std::max(latest_log_ms_, appends.back().log_ms);
  appends.clear();
  if (through <= last) return;  // a restart moved past these
  auto status = store_->append(entries, through, latest_log_ms_);
  if (status.code == persistence::Code::no_space) {
    // Compaction fell behind the cap: drop the older half at once, then try again.
    const auto range = store_->range();
    const ls::Revision half = range.first_after + (range.last - range.first_after) / 2;
    for (bool more = true; more;) {
      if (!store_->compact(half, UINT64_MAX, options_.compaction_records_max, more).ok()) break;
    }
    status = store_->append(entries, through, latest_log_ms_);
  }
  if (!status.ok()) return restart(through, "an append failed: " + status.message);
  unsynced_ = true;
}

void EventHistory::restart(ls::Revision after, const std::string& why) {
  after = std::max(after, store_->range().last);
  restarts_.fetch_add(1);
  log_(true, "watch_history_restarted", "after revision " + std::to_string(after) + ": " + why);
  if (auto status = store_->restart_after(after); !status.ok()) {
    log_(true, "watch_history_error", status.message);
  }
}

void EventHistory::answer(Task& read) {
  ls::Events out;
  const auto compacted = [&](ls::Revision first_after) {
    out = ls::Events{};
    out.status = ls::Status::compacted;
    out.compacted_revision = first_after;
    out.next_index = std::max(read.current, first_after);
  };
  const auto range = store_->range();
  if (read.after < range.first_after) {
    compacted(range.first_after);
    return read.done(std::move(out));
  }
  // Whole revisions: stop only where a revision ends, once `limit` events
  // are in hand or `read_records_max` records were looked at.
  ls::Revision current = read.after;
  size_t scanned = 0;
  bool stopped = false;
  std::string damage;
  auto status = store_->read(read.after, SIZE_MAX, [&](uint64_t revision, std::string_view bytes) {
    if (revision != current) {
      if (out.events.size() >= read.limit || scanned >= options_.read_records_max) {
        stopped = true;
        return false;
      }
      current = revision;
    }
    ++scanned;
    auto event = ls::decode_event(revision, bytes, options_.limits);
    if (!event) {
      damage = "the record of revision " + std::to_string(revision) + " does not decode";
      return false;
    }
    if (read.filter.space && *read.filter.space != event->space) return true;
    if (!ls::within_prefix(event->name, read.filter.prefix)) return true;
    out.events.push_back(std::move(*event));
    return true;
  });
  if (!status.ok() || !damage.empty()) {
    restart(range.last, status.ok() ? damage : status.message);
    compacted(store_->range().first_after);
    return read.done(std::move(out));
  }
  out.next_index = stopped ? current : range.last;
  if (out.next_index <= read.after) compacted(range.first_after);  // nothing here past `after`: never spin
  read.done(std::move(out));
}

void EventHistory::compact_step(bool& more) {
  more = false;
  const auto range = store_->range();
  // A record goes once it is past both bounds; a bound set to 0 is always
  // passed. Revisions are sparse, so the count bound is in ordinals.
  uint64_t through_ordinal = UINT64_MAX;
  if (options_.retention_revisions > 0) {
    through_ordinal = range.ordinals > options_.retention_revisions ? range.ordinals - options_.retention_revisions : 0;
  }
  ls::Revision through = range.last;
  if (options_.retention_ms > 0) {
    if (auto status = store_->revision_at(latest_log_ms_ - options_.retention_ms, through); !status.ok()) {
      log_(true, "watch_history_error", status.message);
      return;
    }
  }
  const uint64_t bytes = store_->bytes();
  bytes_.store(bytes);
  if (bytes > options_.bytes_max) {
    // Over the cap the oldest eighth goes, whatever the bounds keep.
    through = std::max(through, range.first_after + std::max<uint64_t>(1, (range.last - range.first_after) / 8));
    through_ordinal = UINT64_MAX;
  }
  through = std::clamp(through, range.first_after, range.last);
  if (auto status = store_->compact(through, through_ordinal, options_.compaction_records_max, more); !status.ok()) {
    log_(true, "watch_history_error", status.message);
    more = false;
  }
}

}  // namespace synod::server
