// EventHistory (server/event_history.h): fed from a real StateMachine whose
// event window is small, it serves what the window dropped, keeps its range
// across a reopen, restarts after a gap rather than hide it, and compacts by
// revision count and by log age.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "server/event_history.h"
#include "test/lockservice/harness.h"

namespace synod::server {
namespace {

namespace ls = synod::lockservice;
using ls::test::Harness;

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/synod-history-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

ls::Config small_window() {
  ls::Config config;
  config.limits.events_max = 16;
  return config;
}

struct Fixture {
  explicit Fixture(EventHistoryOptions given = {}) : h(small_window()), options(std::move(given)) {
    options.dir = dir.sub("history");
    options.limits = h.machine.config().limits;
    open();
  }
  void open() {
    std::string error;
    history = EventHistory::open(
        options, [this](bool, std::string_view event, const std::string&) { logged.emplace_back(event); }, error);
    REQUIRE(history);
  }
  // A put, fed at once, as the node feeds after every loop turn.
  void put(const std::string& key, const std::string& value = "v") {
    h.put(key, value);
    history->feed(h.machine);
  }
  ls::Events read(ls::Revision after, ls::EventFilter filter = {}, size_t limit = 1'000) {
    std::promise<ls::Events> answer;
    history->read(h.machine, after, std::move(filter), limit, [&](ls::Events e) { answer.set_value(std::move(e)); });
    return answer.get_future().get();
  }
  // Waits (never asserts on time) until the history's stats satisfy `done`.
  template <class Done>
  void wait_until(Done done) {
    for (int i = 0; i < 2'000 && !done(history->stats()); ++i) {
      history->feed(h.machine);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(done(history->stats()));
  }

  TempDir dir;
  Harness h;
  EventHistoryOptions options;
  std::vector<std::string> logged;
  std::unique_ptr<EventHistory> history;
};

TEST_CASE("event history: serves what the window dropped, whole revisions, filtered", "[event_history]") {
  Fixture f;
  for (int i = 0; i < 100; ++i) {
    f.put("/a/" + std::to_string(i), "v" + std::to_string(i));
    f.put("/b/" + std::to_string(i), "w");
    f.history->feed(f.h.machine);
  }
  // The window keeps 16 events; the history keeps all 200.
  CHECK(f.h.machine.events(0, {}, 1'000).status == ls::Status::compacted);
  const ls::Events all = f.read(0);
  REQUIRE(all.status == ls::Status::ok);
  REQUIRE(all.events.size() == 200);
  CHECK(all.events.front().name == "/a/0");
  CHECK(all.events.front().value == "v0");
  CHECK(all.next_index == f.h.machine.revision());
  for (size_t i = 1; i < all.events.size(); ++i) CHECK(all.events[i].revision > all.events[i - 1].revision);

  const ls::Events only_a = f.read(0, ls::EventFilter{ls::Space::key, "/a"});
  CHECK(only_a.events.size() == 100);
  CHECK(only_a.events.back().name == "/a/99");

  const ls::Events page = f.read(all.events[9].revision, {}, 3);
  REQUIRE(page.events.size() == 3);
  CHECK(page.events.front() == all.events[10]);
  CHECK(page.next_index == all.events[12].revision);
}

TEST_CASE("event history: a reopened history serves the same events", "[event_history]") {
  Fixture f;
  for (int i = 0; i < 50; ++i) f.put("/k/" + std::to_string(i), "v");
  f.history->feed(f.h.machine);
  const ls::Events before = f.read(0);
  f.history.reset();
  f.open();
  CHECK(f.history->stats().last == f.h.machine.revision());
  for (int i = 50; i < 60; ++i) f.put("/k/" + std::to_string(i), "v");
  const ls::Events after = f.read(0);
  REQUIRE(after.events.size() == 60);
  CHECK(std::equal(before.events.begin(), before.events.end(), after.events.begin()));
}

TEST_CASE("event history: a gap the window left restarts the history, and an old index is compacted",
          "[event_history]") {
  Fixture f;
  f.h.put("/first", "v");
  f.history->feed(f.h.machine);
  // More than the window applied between two feeds (as a snapshot from a peer would).
  for (int i = 0; i < 40; ++i) f.h.put("/k/" + std::to_string(i), "v");
  f.history->feed(f.h.machine);
  const ls::Events old = f.read(0);
  CHECK(old.status == ls::Status::compacted);
  CHECK(old.compacted_revision > 1);
  CHECK(old.next_index == f.h.machine.revision());
  CHECK(f.history->stats().restarts == 1);
  CHECK(std::count(f.logged.begin(), f.logged.end(), "watch_history_restarted") == 1);
  // What came after the restart is served.
  const ls::Events recent = f.read(old.compacted_revision);
  CHECK(recent.status == ls::Status::ok);
  CHECK(recent.events.size() == 16);  // the window's, all after the restart
}

TEST_CASE("event history: a feed past queued_events_max gives its events up and restarts", "[event_history]") {
  EventHistoryOptions options;
  options.queued_events_max = 4;
  Fixture f(options);
  f.put("/kept");
  REQUIRE(f.read(0).events.size() == 1);
  // Ten events in one turn: more than may wait for the thread.
  for (int i = 0; i < 10; ++i) f.h.put("/k/" + std::to_string(i), "v");
  f.history->feed(f.h.machine);
  const ls::Events old = f.read(0);  // behind the restart on the history's thread
  CHECK(f.history->stats().restarts == 1);
  CHECK(old.status == ls::Status::compacted);
  CHECK(old.compacted_revision == f.h.machine.revision());
  CHECK(std::count(f.logged.begin(), f.logged.end(), "watch_history_restarted") == 1);
  // Later events are kept again.
  f.put("/after");
  const ls::Events after = f.read(old.compacted_revision);
  REQUIRE(after.events.size() == 1);
  CHECK(after.events.front().name == "/after");
}

TEST_CASE("event history: compaction keeps the newest revisions when age is off", "[event_history]") {
  EventHistoryOptions options;
  options.retention_ms = 0;
  options.retention_revisions = 10;
  options.compaction_period_ms = 1;
  Fixture f(options);
  for (int i = 0; i < 100; ++i) f.put("/k/" + std::to_string(i), "v");
  f.history->feed(f.h.machine);
  const ls::Events all = f.read(0);
  REQUIRE(all.events.size() == 100);
  const ls::Revision eleventh_newest = all.events[89].revision;
  f.wait_until([&](const EventHistoryStats& s) { return s.first_after == eleventh_newest; });
  CHECK(f.read(0).status == ls::Status::compacted);
  CHECK(f.read(eleventh_newest).events.size() == 10);
}

TEST_CASE("event history: with both bounds, a revision goes only once it is past both", "[event_history]") {
  EventHistoryOptions options;
  options.retention_ms = 60'000;
  options.retention_revisions = 5;
  options.compaction_period_ms = 1;
  Fixture f(options);
  for (int i = 0; i < 20; ++i) f.put("/old/" + std::to_string(i), "v");
  f.history->feed(f.h.machine);
  const ls::Revision old_last = f.h.machine.revision();
  // Far more than 5 revisions newer, but younger than a minute: all kept.
  for (int i = 0; i < 20; ++i) f.put("/young/" + std::to_string(i), "v");
  f.history->feed(f.h.machine);
  CHECK(f.read(0).events.size() == 40);
  // Two minutes on: the old ones are past both bounds and go.
  f.h.advance(120'000);
  f.put("/now", "v");
  f.wait_until([&](const EventHistoryStats& s) { return s.first_after >= old_last; });
  CHECK(f.read(0).status == ls::Status::compacted);
}

}  // namespace
}  // namespace synod::server
