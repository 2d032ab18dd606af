// Keys: names, values, stats, compare-and-set, sequential and ephemeral keys,
// fencing, transactions, listing, and the watch window.
#include "harness.h"

namespace synod::lockservice::test {
namespace {

Put make_put(std::string key, std::string value) {
  Put p;
  p.key = std::move(key);
  p.value = std::move(value);
  return p;
}

TEST_CASE("keys: create, update, delete and their stat", "[lockservice][keys]") {
  Harness h;
  const Result created = h.put("/a/b", "1");
  REQUIRE(created.status == Status::ok);
  CHECK(created.key == "/a/b");
  CHECK(created.stat.create_index == created.revision);
  CHECK(created.stat.modify_index == created.revision);
  CHECK(created.stat.version == 1);
  const Result updated = h.put("/a/b", "22");
  CHECK(updated.stat.create_index == created.revision);
  CHECK(updated.stat.modify_index == updated.revision);
  CHECK(updated.stat.version == 2);
  auto view = h.machine.get("/a/b");
  REQUIRE(view);
  CHECK(view->value == "22");
  CHECK(view->stat == updated.stat);
  CHECK(h.machine.counts().store_bytes == 4 + 2);

  const Result erased = h.erase("/a/b");
  CHECK(erased.status == Status::ok);
  CHECK(erased.stat == updated.stat);
  CHECK_FALSE(h.machine.get("/a/b"));
  CHECK(h.erase("/a/b").status == Status::not_found);
  // A new incarnation starts over.
  CHECK(h.put("/a/b", "x").stat.version == 1);
  CHECK(h.machine.counts().store_bytes == 4 + 1);
}

TEST_CASE("key names and values are validated", "[lockservice][keys]") {
  Harness h;
  for (const char* bad : {"", "/", "a/b", "/a/", "/a//b", "/a/./b", "/a/../b", "/a b", "/a\nb", "/ä"}) {
    INFO(bad);
    CHECK(h.put(bad, "v").status == Status::invalid_argument);
  }
  CHECK(h.put("/Aa0-._~:@+=,", "v").status == Status::ok);
  const auto& limits = h.machine.config().limits;
  CHECK(h.put("/" + std::string(limits.key_bytes_max, 'k'), "v").status == Status::too_large);
  CHECK(h.put("/" + std::string(limits.key_bytes_max - 1, 'k'), "v").status == Status::ok);
  CHECK(h.put("/big", std::string(limits.value_bytes_max + 1, 'v')).status == Status::too_large);
  CHECK(h.put("/big", std::string(limits.value_bytes_max, 'v')).status == Status::ok);
  CHECK(h.put("/bin", std::string("\0\xff", 2)).status == Status::ok);  // values are bytes
}

TEST_CASE("compare-and-set on the modify index; 0 means create only", "[lockservice][keys][cas]") {
  Harness h;
  Put p = make_put("/c", "1");
  p.cas = 0;
  const Result created = h.apply(p);
  REQUIRE(created.status == Status::ok);
  const Result again = h.apply(p);
  CHECK(again.status == Status::guard_failed);
  CHECK(again.stat == created.stat);  // the current stat comes back
  p.cas = created.stat.modify_index + 1;
  p.value = "2";
  CHECK(h.apply(p).status == Status::guard_failed);
  p.cas = created.stat.modify_index;
  CHECK(h.apply(p).status == Status::ok);
  CHECK(h.apply(p).status == Status::guard_failed);  // the index moved on
  DeleteKey d{"/c", false, created.stat.modify_index, {}};
  CHECK(h.apply(d).status == Status::guard_failed);
  d.cas = h.machine.get("/c")->stat.modify_index;
  CHECK(h.apply(d).status == Status::ok);
  Put missing = make_put("/nope", "");
  missing.cas = 5;
  CHECK(h.apply(missing).status == Status::guard_failed);
}

TEST_CASE("sequential keys get a rising zero-padded suffix per parent", "[lockservice][keys][sequential]") {
  Harness h;
  Put p = make_put("/queue/job-", "x");
  p.sequential = true;
  const Result first = h.apply(p);
  const Result second = h.apply(p);
  REQUIRE(first.status == Status::ok);
  CHECK(first.key.size() == std::string("/queue/job-").size() + 20);
  CHECK(first.key == "/queue/job-" + std::string(20 - std::to_string(first.revision).size(), '0') +
                         std::to_string(first.revision));
  CHECK(second.key > first.key);
  p.key = "/queue/";
  CHECK(h.apply(p).key.size() == std::string("/queue/").size() + 20);
  p.cas = 0;
  CHECK(h.apply(p).status == Status::invalid_argument);
  // Deleting every child does not reset the sequence.
  h.erase("/queue", true);
  p.cas.reset();
  p.key = "/queue/job-";
  CHECK(h.apply(p).key > second.key);
}

TEST_CASE("ephemeral keys end with their session, as its behavior says", "[lockservice][keys][ephemeral]") {
  Harness h;
  SECTION("delete: expired keys are deleted, the event says expired") {
    const SessionId s = h.session(5'000, 0, Behavior::delete_keys);
    CHECK(h.put("/eph/1", "a", s).stat.owner == s);
    CHECK(h.machine.session(s)->ephemeral_keys == 1);
    h.now_ms += 5'000;
    const Revision before = h.machine.revision();
    h.expire(s);
    CHECK_FALSE(h.machine.get("/eph/1"));
    const auto events = h.machine.events(before, EventFilter{Space::key, "/eph"}, 10).events;
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == EventType::expired);
    CHECK(events[0].session == s);
  }
  SECTION("delete: a clean session delete says deleted") {
    const SessionId s = h.session(5'000, 0, Behavior::delete_keys);
    h.put("/eph/1", "a", s);
    const Revision before = h.machine.revision();
    h.apply(DeleteSession{s});
    CHECK(h.machine.events(before, EventFilter{Space::key, ""}, 10).events.at(0).type == EventType::deleted);
  }
  SECTION("release: keys stay, unowned, and the event says released") {
    const SessionId s = h.session(5'000, 0, Behavior::release);
    const Result put = h.put("/eph/1", "a", s);
    h.now_ms += 5'000;
    const Revision before = h.machine.revision();
    h.expire(s);
    const auto view = h.machine.get("/eph/1");
    REQUIRE(view);
    CHECK(view->stat.owner == kNoSession);
    CHECK(view->stat.version == put.stat.version);
    CHECK(view->stat.modify_index > put.stat.modify_index);
    CHECK(h.machine.events(before, EventFilter{Space::key, ""}, 10).events.at(0).type == EventType::released);
  }
  SECTION("ownership rules") {
    const SessionId s = h.session(), t = h.session();
    h.put("/mine", "a", s);
    CHECK(h.put("/mine", "b", t).status == Status::conflict);
    CHECK(h.put("/mine", "b", s).status == Status::ok);
    CHECK(h.put("/mine", "c").status == Status::ok);  // an unowned write keeps the owner
    CHECK(h.machine.get("/mine")->stat.owner == s);
    h.put("/persistent", "p");
    CHECK(h.put("/persistent", "q", s).status == Status::conflict);
    CHECK(h.put("/x", "v", 12345).status == Status::session_expired);
    h.erase("/mine");
    CHECK(h.machine.session(s)->ephemeral_keys == 0);
  }
}

TEST_CASE("writes guarded by a fencing token refuse stale tokens", "[lockservice][keys][fence]") {
  Harness h;
  const SessionId a = h.session(), b = h.session(), c = h.session();
  const FencingToken old = h.acquire("other", c).token;  // granted first, still current
  const FencingToken ta = h.acquire("lock", a).token;
  Put p = make_put("/resource", "from a");
  p.fence = Fence{"lock", ta};
  const Result written = h.apply(p);
  REQUIRE(written.status == Status::ok);
  CHECK(written.stat.lock_generation == ta);

  h.release("lock", a);
  const FencingToken tb = h.acquire("lock", b).token;
  CHECK(h.apply(p).status == Status::stale_token);  // a's token is no longer current
  p.fence.token = tb;
  p.value = "from b";
  CHECK(h.apply(p).stat.lock_generation == tb);

  // Through another lock, an older token still loses to the key's generation.
  REQUIRE(h.machine.validate_token("other", old));
  Put through_other = make_put("/resource", "from c");
  through_other.fence = Fence{"other", old};
  CHECK(h.apply(through_other).status == Status::stale_token);
  through_other.key = "/fresh";
  CHECK(h.apply(through_other).status == Status::ok);

  DeleteKey d{"/resource", false, std::nullopt, Fence{"lock", ta}};
  CHECK(h.apply(d).status == Status::stale_token);
  d.fence.token = tb;
  CHECK(h.apply(d).status == Status::ok);
  CHECK(h.apply(Put{"/k", "v", 0, false, std::nullopt, Fence{"nolock", 5}}).status == Status::stale_token);
}

TEST_CASE("transactions: guards, all or nothing", "[lockservice][keys][txn]") {
  Harness h;
  const SessionId s = h.session();
  const FencingToken token = h.acquire("L", s).token;
  const Result base = h.put("/t/a", "1");

  auto guard = [](GuardKind kind, std::string name, uint64_t number = 0, SessionId session = 0) {
    return Guard{kind, std::move(name), number, session};
  };
  SECTION("every guard kind, holding and failing") {
    const std::vector<std::pair<Guard, Guard>> cases{
        {guard(GuardKind::version_equals, "/t/a", 1), guard(GuardKind::version_equals, "/t/a", 2)},
        {guard(GuardKind::modify_index_equals, "/t/a", base.stat.modify_index),
         guard(GuardKind::modify_index_equals, "/t/a", 0)},
        {guard(GuardKind::modify_index_equals, "/t/none", 0), guard(GuardKind::modify_index_equals, "/t/none", 1)},
        {guard(GuardKind::exists, "/t/a"), guard(GuardKind::exists, "/t/none")},
        {guard(GuardKind::missing, "/t/none"), guard(GuardKind::missing, "/t/a")},
        {guard(GuardKind::holder, "L", 0, s), guard(GuardKind::holder, "L", 0, s + 1)},
        {guard(GuardKind::session_alive, "", 0, s), guard(GuardKind::session_alive, "", 0, 1)},
        {guard(GuardKind::token_current, "L", token), guard(GuardKind::token_current, "L", token - 1)}};
    for (const auto& [holds, fails] : cases) {
      Txn txn;
      txn.guards = {holds};
      txn.ops = {make_put("/t/b", "x")};
      CHECK(h.apply(txn).status == Status::ok);
      txn.guards = {holds, fails};
      const Result failed = h.apply(txn);
      CHECK(failed.status == Status::guard_failed);
      CHECK(failed.failed_guard == 2);
    }
  }
  SECTION("a failing operation undoes the others, events included") {
    const Revision before = h.machine.revision();
    const Counts counts = h.machine.counts();
    Txn txn;
    Put cas_fails = make_put("/t/a", "3");
    cas_fails.cas = 999;
    txn.ops = {make_put("/t/a", "2"), make_put("/t/new", "n"), DeleteKey{"/t/a", false, std::nullopt, {}}, cas_fails};
    const Result failed = h.apply(txn);
    CHECK(failed.status == Status::guard_failed);
    CHECK(failed.ops.size() == 4);
    CHECK(failed.ops.back().status == Status::guard_failed);
    CHECK(h.machine.get("/t/a")->value == "1");
    CHECK(h.machine.get("/t/a")->stat == base.stat);
    CHECK_FALSE(h.machine.get("/t/new"));
    CHECK(h.machine.counts().store_bytes == counts.store_bytes);
    CHECK(h.machine.counts().keys == counts.keys);
    CHECK(h.events_after(before).empty());
  }
  SECTION("ephemeral keys roll back with their owner index") {
    Txn txn;
    Put eph = make_put("/t/eph", "e");
    eph.session = s;
    txn.ops = {eph, make_put("bad name", "")};
    CHECK(h.apply(txn).status == Status::invalid_argument);
    CHECK(h.machine.session(s)->ephemeral_keys == 0);
  }
  SECTION("two sequential puts under one parent conflict") {
    Txn txn;
    Put seq = make_put("/t/s-", "");
    seq.sequential = true;
    txn.ops = {seq, seq};
    CHECK(h.apply(txn).status == Status::conflict);
    const KeyList under = h.machine.list("/t", "", 10);
    REQUIRE(under.keys.size() == 1);  // /t/a alone: no sequential key was created
    CHECK(under.keys[0].key == "/t/a");
  }
  SECTION("success applies every operation at one revision") {
    Txn txn;
    txn.guards = {guard(GuardKind::holder, "L", 0, s)};
    Put fenced = make_put("/t/f", "f");
    fenced.fence = Fence{"L", token};
    txn.ops = {make_put("/t/a", "2"), fenced, DeleteKey{"/t/a", false, std::nullopt, {}}};
    const Result ok = h.apply(txn);
    REQUIRE(ok.status == Status::ok);
    REQUIRE(ok.ops.size() == 3);
    CHECK(ok.ops[1].stat.lock_generation == token);
    CHECK_FALSE(h.machine.get("/t/a"));
    CHECK(h.machine.get("/t/f")->stat.create_index == ok.revision);
  }
  SECTION("size limits") {
    Txn txn;
    txn.ops.assign(h.machine.config().limits.txn_ops_max + 1, make_put("/t/x", ""));
    CHECK(h.apply(txn).status == Status::too_large);
    txn.ops.clear();
    txn.guards.assign(h.machine.config().limits.txn_guards_max + 1, guard(GuardKind::exists, "/t/a"));
    CHECK(h.apply(txn).status == Status::too_large);
  }
}

TEST_CASE("listing by prefix, in pages", "[lockservice][keys][list]") {
  Harness h;
  for (const char* key : {"/app/a", "/app/b", "/app/c", "/apple", "/b"}) h.put(key, key);
  KeyList page = h.machine.list("/app/", "", 2);
  REQUIRE(page.keys.size() == 2);
  CHECK(page.keys[0].key == "/app/a");
  CHECK(page.more);
  page = h.machine.list("/app/", page.keys.back().key, 2);
  REQUIRE(page.keys.size() == 1);
  CHECK(page.keys[0].key == "/app/c");
  CHECK_FALSE(page.more);
  CHECK(h.machine.list("/app", "", 10).keys.size() == 3);  // whole segments: never "/apple"
}

TEST_CASE("a prefix matches whole path segments in listings, watches and recursive deletes",
          "[lockservice][keys][prefix]") {
  CHECK(within_prefix("/app", "/app"));
  CHECK(within_prefix("/app/x", "/app"));
  CHECK(within_prefix("/app/x/y", "/app"));
  CHECK_FALSE(within_prefix("/apple", "/app"));
  CHECK_FALSE(within_prefix("/app-x", "/app"));
  CHECK_FALSE(within_prefix("/ap", "/app"));
  CHECK(within_prefix("/app/x", "/app/"));  // a trailing '/' asks for what is under it
  CHECK_FALSE(within_prefix("/app", "/app/"));
  CHECK(within_prefix("/anything", ""));
  CHECK(within_prefix("/anything", "/"));
  CHECK(within_prefix("jobs/nightly", "jobs"));  // lock and election names alike
  CHECK_FALSE(within_prefix("jobsworth", "jobs"));

  Harness h;
  const Revision start = h.machine.revision();
  // "/app-x" and "/app.d" sort before "/app/" and "/apple" after it.
  for (const char* key : {"/app", "/app-x", "/app.d", "/app/a", "/app/b/c", "/apple", "/b"}) h.put(key, key);
  h.acquire("jobs", h.session());
  h.acquire("jobsworth", h.session());
  auto keys = [](const KeyList& list) {
    std::vector<std::string> out;
    for (const auto& view : list.keys) out.push_back(view.key);
    return out;
  };
  using Names = std::vector<std::string>;
  CHECK(keys(h.machine.list("/app", "", 10)) == Names{"/app", "/app/a", "/app/b/c"});
  CHECK(keys(h.machine.list("/app/", "", 10)) == Names{"/app/a", "/app/b/c"});
  CHECK(keys(h.machine.list("/app", "/app", 10)) == Names{"/app/a", "/app/b/c"});  // paged after the key itself
  const KeyList first = h.machine.list("/app", "", 1);
  CHECK(keys(first) == Names{"/app"});
  CHECK(first.more);
  CHECK(h.machine.list("/", "", 10).keys.size() == 7);
  CHECK(h.machine.list("", "", 10).keys.size() == 7);

  auto watched = [&](std::optional<Space> space, const std::string& prefix) {
    Names out;
    for (const Event& e : h.machine.events(start, EventFilter{space, prefix}, 100).events)
      if (e.type == EventType::put || e.type == EventType::granted || e.type == EventType::deleted) out.push_back(e.name);
    return out;
  };
  CHECK(watched(Space::key, "/app") == Names{"/app", "/app/a", "/app/b/c"});
  CHECK(watched(Space::key, "/app/") == Names{"/app/a", "/app/b/c"});
  CHECK(watched(Space::lock, "jobs") == Names{"jobs"});

  const Revision before_delete = h.machine.revision();
  const Result erased = h.erase("/app", true);
  CHECK(erased.count == 3);
  CHECK(keys(h.machine.list("/", "", 10)) == Names{"/app-x", "/app.d", "/apple", "/b"});
  Names deleted;
  for (const Event& e : h.machine.events(before_delete, EventFilter{Space::key, "/app"}, 100).events) deleted.push_back(e.name);
  CHECK(deleted == Names{"/app", "/app/a", "/app/b/c"});
}

TEST_CASE("a recursive delete removes the subtree, within its limit", "[lockservice][keys][delete]") {
  Config config;
  config.limits.delete_prefix_keys_max = 3;
  Harness h(config);
  for (const char* key : {"/d", "/d/1", "/d/2", "/d/2/x", "/dd"}) h.put(key, "");
  CHECK(h.erase("/d", true).status == Status::limit_exceeded);
  CHECK(h.machine.counts().keys == 5);
  h.erase("/d/2/x");
  const Result erased = h.erase("/d", true);
  CHECK(erased.status == Status::ok);
  CHECK(erased.count == 3);
  CHECK(h.machine.list("/", "", 10).keys.size() == 1);  // "/dd" is not under "/d/"
  CHECK(h.erase("/d", true).count == 0);
}

TEST_CASE("key count and byte limits", "[lockservice][keys][limits]") {
  Config config;
  config.limits.keys_max = 2;
  config.limits.value_bytes_max = 10;
  config.limits.key_bytes_max = 10;
  config.limits.store_bytes_max = 30;
  config.limits.ephemeral_keys_per_session_max = 1;
  config.limits.events_bytes_max = 10'000;
  Harness h(config);
  CHECK(h.put("/a", "0123456789").status == Status::ok);
  CHECK(h.put("/b", "0123456789").status == Status::ok);
  CHECK(h.put("/c", "").status == Status::limit_exceeded);
  h.erase("/b");
  CHECK(h.put("/bbbbbbbbb", "0123456789").status == Status::limit_exceeded);  // 12 + 20 > 30 bytes
  CHECK(h.put("/a", "").status == Status::ok);  // shrinking is fine
  const SessionId s = h.session();
  CHECK(h.put("/e", "", s).status == Status::ok);
  h.erase("/a");
  CHECK(h.put("/f", "", s).status == Status::limit_exceeded);  // one ephemeral key per session
}

TEST_CASE("watches: events after an index, filtered, in whole revisions", "[lockservice][watch]") {
  Harness h;
  const Revision start = h.machine.revision();
  h.put("/w/a", "1");
  h.put("/x", "2");
  h.put("/w/b", "3");
  Events events = h.machine.events(start, EventFilter{Space::key, "/w/"}, 100);
  REQUIRE(events.status == Status::ok);
  REQUIRE(events.events.size() == 2);
  CHECK(events.events[0].value == "1");
  CHECK(events.events[1].name == "/w/b");
  CHECK(events.next_index == h.machine.revision());
  // Paging: one revision at a time.
  events = h.machine.events(start, EventFilter{}, 1);
  REQUIRE(events.events.size() == 1);
  CHECK(h.machine.events(events.next_index, EventFilter{}, 1).events.at(0).value == "2");
  // A recursive delete is one revision: a page never splits it.
  h.erase("/w", true);
  const Revision deleted_at = h.machine.revision();
  events = h.machine.events(deleted_at - 1, EventFilter{}, 1);
  CHECK(events.events.size() == 2);
  CHECK(events.next_index == deleted_at);
}

TEST_CASE("a watch older than the window is told to resume, never given a gap", "[lockservice][watch]") {
  Config config;
  config.limits.events_max = 4;
  Harness h(config);
  const Revision start = h.machine.revision();
  for (int i = 0; i < 3; ++i) h.put("/k" + std::to_string(i), "v");
  const Revision third = h.machine.revision();
  for (int i = 3; i < 6; ++i) h.put("/k" + std::to_string(i), "v");
  const Events old = h.machine.events(start, EventFilter{}, 100);
  CHECK(old.status == Status::compacted);
  CHECK(old.compacted_revision > start);
  CHECK(old.next_index == h.machine.revision());
  CHECK(old.events.empty());
  const Events recent = h.machine.events(old.compacted_revision, EventFilter{}, 100);
  CHECK(recent.status == Status::ok);
  CHECK(recent.events.size() == 4);
  CHECK(h.machine.events(third, EventFilter{}, 100).events.size() == 3);
  // A command with more events than the window is compacted whole.
  h.put("/d/1", "");
  h.put("/d/2", "");
  h.put("/d/3", "");
  h.put("/d/4", "");
  const Revision before = h.machine.revision();
  h.put("/d", "");
  h.erase("/d", true);  // 5 events in one revision
  const Events after = h.machine.events(before, EventFilter{}, 100);
  CHECK(after.status == Status::compacted);
  CHECK(after.compacted_revision == h.machine.revision());
  CHECK(h.machine.counts().events == 0);
}

}  // namespace
}  // namespace synod::lockservice::test
