// The ZooKeeper namespace (issue 22): ZooKeeper's rules, error codes, Stats
// and watch events, ephemerals that end with their session, multi's all or
// nothing, bounds, and the snapshot section.
#include <algorithm>
#include <map>

#include "base/codec.h"
#include "base/random.h"
#include "harness.h"
#include "zookeeper/records.h"

namespace synod::lockservice::test {
namespace {

ZnodeCreate create_of(std::string path, std::string data = {}, ZnodeMode mode = ZnodeMode::persistent,
                      SessionId session = kNoSession) {
  return ZnodeCreate{std::move(path), std::move(data), {ZnodeAcl{31, "world", "anyone"}}, mode, session};
}

Result create(Harness& h, std::string path, std::string data = {}, ZnodeMode mode = ZnodeMode::persistent,
              SessionId session = kNoSession) {
  return h.apply(create_of(std::move(path), std::move(data), mode, session));
}

ZnodeStat stat_of(const Harness& h, std::string_view path) {
  const auto stat = h.machine.znode_stat(path);
  REQUIRE(stat.has_value());
  return *stat;
}

std::vector<std::string> children_of(const Harness& h, std::string_view path) {
  const auto children = h.machine.znode_children(path);
  REQUIRE(children.has_value());
  return children->children;
}

// The whole namespace, walked from "/": every path with its data, ACL and Stat.
struct Dumped {
  std::string data;
  std::vector<ZnodeAcl> acl;
  ZnodeStat stat;
  bool operator==(const Dumped&) const = default;
};
std::map<std::string, Dumped> dump(const StateMachine& machine) {
  std::map<std::string, Dumped> out;
  std::vector<std::string> todo{"/"};
  while (!todo.empty()) {
    const std::string path = todo.back();
    todo.pop_back();
    const auto view = machine.znode(path);
    REQUIRE(view.has_value());
    out[path] = Dumped{view->data, view->acl, view->stat};
    const auto children = machine.znode_children(path);
    REQUIRE(children.has_value());
    for (const std::string& child : children->children) todo.push_back(path == "/" ? "/" + child : path + "/" + child);
  }
  return out;
}

ZnodeEvent event(ZnodeEventType type, std::string path, Revision revision) {
  return ZnodeEvent{type, std::move(path), revision};
}

// The image's sections, for tests that take one out.
struct Sections {
  std::string head;  // magic, version, revision, log time
  std::vector<std::pair<uint8_t, std::string>> sections;
  std::string join() const {
    std::string out = head;
    Writer w(out);
    for (const auto& [id, body] : sections) {
      w.u8(id);
      w.fixed64(body.size());
      out += body;
    }
    return out;
  }
};
Sections split(const std::string& image) {
  Sections s;
  Reader r(std::string_view(image).substr(9));
  r.varint();
  r.svarint();
  s.head = image.substr(0, image.size() - r.remaining());
  while (r.ok() && !r.done()) {
    const uint8_t id = r.u8();
    s.sections.emplace_back(id, std::string(r.raw(r.fixed64())));
  }
  REQUIRE(r.done());
  return s;
}

// One znode of the image's namespace section, as snapshot.cpp writes it.
struct ZnodeRecord {
  std::string path, data;
  std::vector<ZnodeAcl> acl;
  uint64_t czxid = 0, mzxid = 0, pzxid = 0;
  int64_t ctime = 0, mtime = 0, version = 0, creates = 0, aversion = 0;
  uint8_t kind = 0;
  uint64_t owner = 0;
};
std::vector<ZnodeRecord> read_znodes(std::string_view body) {
  Reader r(body);
  std::vector<ZnodeRecord> out(r.varint());
  for (ZnodeRecord& z : out) {
    z.path = r.bytes();
    z.data = r.bytes();
    z.acl.resize(r.varint());
    for (ZnodeAcl& entry : z.acl) {
      entry.perms = static_cast<int32_t>(r.svarint());
      entry.scheme = r.bytes();
      entry.id = r.bytes();
    }
    z.czxid = r.varint();
    z.mzxid = r.varint();
    z.pzxid = r.varint();
    z.ctime = r.svarint();
    z.mtime = r.svarint();
    z.version = r.svarint();
    z.creates = r.svarint();
    z.aversion = r.svarint();
    z.kind = r.u8();
    z.owner = r.varint();
  }
  REQUIRE(r.done());
  return out;
}
std::string write_znodes(const std::vector<ZnodeRecord>& znodes) {
  std::string out;
  Writer w(out);
  w.varint(znodes.size());
  for (const ZnodeRecord& z : znodes) {
    w.bytes(z.path);
    w.bytes(z.data);
    w.varint(z.acl.size());
    for (const ZnodeAcl& entry : z.acl) {
      w.svarint(entry.perms);
      w.bytes(entry.scheme);
      w.bytes(entry.id);
    }
    w.varint(z.czxid);
    w.varint(z.mzxid);
    w.varint(z.pzxid);
    for (int64_t v : {z.ctime, z.mtime, z.version, z.creates, z.aversion}) w.svarint(v);
    w.u8(z.kind);
    w.varint(z.owner);
  }
  return out;
}
// The image with its namespace section changed by `change`.
template <typename Change>
std::string with_znodes(const std::string& image, Change change) {
  Sections sections = split(image);
  REQUIRE(sections.sections.back().first == 8);
  std::vector<ZnodeRecord> znodes = read_znodes(sections.sections.back().second);
  change(znodes);
  sections.sections.back().second = write_znodes(znodes);
  return sections.join();
}
ZnodeRecord& record_of(std::vector<ZnodeRecord>& znodes, std::string_view path) {
  auto it = std::find_if(znodes.begin(), znodes.end(), [&](const ZnodeRecord& z) { return z.path == path; });
  REQUIRE(it != znodes.end());
  return *it;
}

TEST_CASE("the namespace's codes are ZooKeeper's", "[lockservice][znodes]") {
  using zookeeper::Error;
  const std::pair<ZkError, Error> errors[] = {
      {ZkError::ok, Error::ok},
      {ZkError::runtime_inconsistency, Error::runtime_inconsistency},
      {ZkError::bad_arguments, Error::bad_arguments},
      {ZkError::no_node, Error::no_node},
      {ZkError::bad_version, Error::bad_version},
      {ZkError::no_children_for_ephemerals, Error::no_children_for_ephemerals},
      {ZkError::node_exists, Error::node_exists},
      {ZkError::not_empty, Error::not_empty},
      {ZkError::session_expired, Error::session_expired},
      {ZkError::quota_exceeded, Error::quota_exceeded},
  };
  for (const auto& [ours, theirs] : errors) {
    INFO(zk_error_name(ours));
    CHECK(static_cast<int32_t>(ours) == static_cast<int32_t>(theirs));
    CHECK(std::string_view(zk_error_name(ours)) == zookeeper::error_name(theirs));
    CHECK(is_zk_error(static_cast<int32_t>(ours)));
  }
  CHECK_FALSE(is_zk_error(-4));  // connectionLoss: never the namespace's answer
  CHECK(static_cast<int32_t>(ZnodeEventType::node_created) == static_cast<int32_t>(zookeeper::EventType::node_created));
  CHECK(static_cast<int32_t>(ZnodeEventType::node_deleted) == static_cast<int32_t>(zookeeper::EventType::node_deleted));
  CHECK(static_cast<int32_t>(ZnodeEventType::node_data_changed) ==
        static_cast<int32_t>(zookeeper::EventType::node_data_changed));
  CHECK(static_cast<int32_t>(ZnodeEventType::node_children_changed) ==
        static_cast<int32_t>(zookeeper::EventType::node_children_changed));
  for (uint8_t mode = 0; mode <= kZnodeModeMax; ++mode) {
    const auto theirs = static_cast<zookeeper::CreateMode>(mode);
    CHECK(is_ephemeral(static_cast<ZnodeMode>(mode)) ==
          (theirs == zookeeper::CreateMode::ephemeral || theirs == zookeeper::CreateMode::ephemeral_sequential));
    CHECK(is_sequential(static_cast<ZnodeMode>(mode)) == (theirs == zookeeper::CreateMode::persistent_sequential ||
                                                          theirs == zookeeper::CreateMode::ephemeral_sequential));
  }
  CHECK(static_cast<int>(ZnodeMode::container) == static_cast<int>(zookeeper::CreateMode::container));
}

TEST_CASE("the namespace starts as ZooKeeper's DataTree does", "[lockservice][znodes]") {
  Harness h;
  CHECK(children_of(h, "/") == std::vector<std::string>{"zookeeper"});
  CHECK(children_of(h, "/zookeeper") == std::vector<std::string>{"config", "quota"});
  // Persisted cversions are 0, so the Stat says 2 * 0 - children, as a
  // fresh ZooKeeper answers for "/" (cversion -1).
  const ZnodeStat root = stat_of(h, "/");
  CHECK(root.cversion == -1);
  CHECK(root.num_children == 1);
  CHECK(root.czxid == 0);
  CHECK(stat_of(h, "/zookeeper").cversion == -2);
  const auto config = h.machine.znode("/zookeeper/config");
  REQUIRE(config);
  CHECK(config->stat.aversion == -1);
  CHECK(config->acl == std::vector<ZnodeAcl>{ZnodeAcl{1, "world", "anyone"}});
  CHECK(h.machine.znode("/")->acl == std::vector<ZnodeAcl>{ZnodeAcl{31, "world", "anyone"}});
  CHECK(h.machine.counts().znodes == 4);
  CHECK_FALSE(h.machine.znode("/nothing"));
}

TEST_CASE("create, setData, check and delete keep ZooKeeper's Stat", "[lockservice][znodes]") {
  Harness h;
  h.now_ms = 5'000;
  const Applied created = h.apply_fired(create_of("/a", "xyz"));
  REQUIRE(created.result.status == Status::ok);
  REQUIRE(created.result.znodes.size() == 1);
  CHECK(created.result.zk_error == ZkError::ok);
  const ZnodeOpResult& op = created.result.znodes[0];
  CHECK(op.path == "/a");
  CHECK(op.stat.czxid == created.revision);
  CHECK(op.stat.mzxid == created.revision);
  CHECK(op.stat.pzxid == created.revision);
  CHECK(op.stat.ctime_ms == 5'000);
  CHECK(op.stat.mtime_ms == 5'000);
  CHECK(op.stat.version == 0);
  CHECK(op.stat.cversion == 0);
  CHECK(op.stat.data_length == 3);
  CHECK(op.stat.num_children == 0);
  CHECK(op.stat.ephemeral_owner == 0);
  CHECK(stat_of(h, "/a") == op.stat);
  CHECK(h.machine.znode("/a")->data == "xyz");
  // The parent: one more create, one more child, pzxid moves.
  CHECK(stat_of(h, "/").cversion == 0);
  CHECK(stat_of(h, "/").num_children == 2);
  CHECK(stat_of(h, "/").pzxid == created.revision);
  CHECK(stat_of(h, "/").mzxid == 0);

  h.now_ms = 6'000;
  const Applied set = h.apply_fired(ZnodeSetData{"/a", "new", 0, kNoSession});
  REQUIRE(set.result.status == Status::ok);
  CHECK(set.result.znodes[0].stat.version == 1);
  CHECK(set.result.znodes[0].stat.mzxid == set.revision);
  CHECK(set.result.znodes[0].stat.mtime_ms == 6'000);
  CHECK(set.result.znodes[0].stat.ctime_ms == 5'000);
  CHECK(set.result.znodes[0].stat.czxid == created.revision);
  CHECK(set.result.znodes[0].stat.pzxid == created.revision);  // children only
  CHECK(stat_of(h, "/").pzxid == created.revision);
  CHECK(h.machine.znode("/a")->data == "new");

  Result stale = h.apply(ZnodeSetData{"/a", "x", 0, kNoSession});
  CHECK(stale.zk_error == ZkError::bad_version);
  CHECK(stale.status == Status::guard_failed);
  CHECK(h.machine.znode("/a")->data == "new");
  CHECK(h.apply(ZnodeSetData{"/a", "any", -1, kNoSession}).znodes[0].stat.version == 2);

  CHECK(h.apply(ZnodeCheck{"/a", 2, kNoSession}).zk_error == ZkError::ok);
  CHECK(h.apply(ZnodeCheck{"/a", -1, kNoSession}).zk_error == ZkError::ok);
  CHECK(h.apply(ZnodeCheck{"/a", 1, kNoSession}).zk_error == ZkError::bad_version);

  CHECK(h.apply(ZnodeDelete{"/a", 1, kNoSession}).zk_error == ZkError::bad_version);
  REQUIRE(h.machine.znode("/a"));
  const Applied deleted = h.apply_fired(ZnodeDelete{"/a", 2, kNoSession});
  CHECK(deleted.result.status == Status::ok);
  CHECK(deleted.result.zk_error == ZkError::ok);
  CHECK_FALSE(h.machine.znode("/a"));
  // A delete leaves the persisted cversion: the Stat counts it through
  // the child that is gone.
  CHECK(stat_of(h, "/").cversion == 1);
  CHECK(stat_of(h, "/").num_children == 1);
  CHECK(stat_of(h, "/").pzxid == deleted.revision);
}

TEST_CASE("a version wraps as ZooKeeper's does, and never becomes -1", "[lockservice][znodes]") {
  Harness h;
  REQUIRE(create(h, "/v").status == Status::ok);
  // 2^31 writes would take too long: the image says where the version is.
  StateMachine near_max;
  REQUIRE(near_max.restore(with_znodes(h.machine.snapshot(),
                                       [](auto& znodes) { record_of(znodes, "/v").version = INT32_MAX - 1; })));
  h.machine = std::move(near_max);
  CHECK(stat_of(h, "/v").version == INT32_MAX - 1);
  CHECK(h.apply(ZnodeSetData{"/v", "", INT32_MAX - 1, kNoSession}).znodes[0].stat.version == INT32_MAX);
  CHECK(h.apply(ZnodeSetData{"/v", "", INT32_MAX, kNoSession}).znodes[0].stat.version == INT32_MIN);
  StateMachine near_minus_one;
  REQUIRE(near_minus_one.restore(with_znodes(h.machine.snapshot(),
                                             [](auto& znodes) { record_of(znodes, "/v").version = -2; })));
  h.machine = std::move(near_minus_one);
  // -1 means "any version", so ZooKeeper skips it (ZOOKEEPER-4743).
  CHECK(h.apply(ZnodeSetData{"/v", "", -2, kNoSession}).znodes[0].stat.version == 0);
  CHECK(h.apply(ZnodeSetData{"/v", "", 0, kNoSession}).znodes[0].stat.version == 1);
}

TEST_CASE("every error code of the namespace, with its status", "[lockservice][znodes]") {
  Harness h;
  const SessionId session = h.session();
  REQUIRE(create(h, "/p").status == Status::ok);
  REQUIRE(create(h, "/p/c").status == Status::ok);
  REQUIRE(create(h, "/e", "", ZnodeMode::ephemeral, session).status == Status::ok);

  struct Case {
    const char* what;
    Command command;
    ZkError error;
    Status status;
  };
  const std::vector<Case> cases = {
      {"create without a parent", create_of("/x/y"), ZkError::no_node, Status::not_found},
      {"delete of nothing", ZnodeDelete{"/nope", -1, 0}, ZkError::no_node, Status::not_found},
      {"setData of nothing", ZnodeSetData{"/nope", "", -1, 0}, ZkError::no_node, Status::not_found},
      {"check of nothing", ZnodeCheck{"/nope", -1, 0}, ZkError::no_node, Status::not_found},
      {"create of an existing znode", create_of("/p"), ZkError::node_exists, Status::conflict},
      {"create of /", create_of("/"), ZkError::node_exists, Status::conflict},
      {"delete with children", ZnodeDelete{"/p", -1, 0}, ZkError::not_empty, Status::conflict},
      {"a child of an ephemeral", create_of("/e/c"), ZkError::no_children_for_ephemerals, Status::conflict},
      {"delete with another version", ZnodeDelete{"/p/c", 3, 0}, ZkError::bad_version, Status::guard_failed},
      {"check with another version", ZnodeCheck{"/p/c", 3, 0}, ZkError::bad_version, Status::guard_failed},
      {"a bad path", create_of("/p/"), ZkError::bad_arguments, Status::invalid_argument},
      {"delete of /", ZnodeDelete{"/", -1, 0}, ZkError::bad_arguments, Status::invalid_argument},
      {"delete of /zookeeper", ZnodeDelete{"/zookeeper", -1, 0}, ZkError::bad_arguments, Status::invalid_argument},
      {"delete of /zookeeper/quota", ZnodeDelete{"/zookeeper/quota", -1, 0}, ZkError::bad_arguments,
       Status::invalid_argument},
      {"delete of /zookeeper/config", ZnodeDelete{"/zookeeper/config", -1, 0}, ZkError::bad_arguments,
       Status::invalid_argument},
      {"an ephemeral without a session", create_of("/f", "", ZnodeMode::ephemeral), ZkError::session_expired,
       Status::session_expired},
      {"an ephemeral of a session that never was", create_of("/f", "", ZnodeMode::ephemeral, 12345),
       ZkError::session_expired, Status::session_expired},
      {"a persistent create from a dead session", create_of("/f", "", ZnodeMode::persistent, 12345),
       ZkError::session_expired, Status::session_expired},
      {"a delete from a dead session", ZnodeDelete{"/p/c", -1, 12345}, ZkError::session_expired,
       Status::session_expired},
  };
  const auto before = dump(h.machine);
  for (const Case& c : cases) {
    INFO(c.what);
    const Applied applied = h.apply_fired(c.command);
    CHECK(applied.result.zk_error == c.error);
    CHECK(applied.result.status == c.status);
    REQUIRE(applied.result.znodes.size() == 1);
    CHECK(applied.result.znodes[0].error == c.error);
    CHECK_FALSE(applied.result.message.empty());
    CHECK(applied.events.empty());
  }
  CHECK(dump(h.machine) == before);
  // The session's own requests are fine while it lives.
  CHECK(create(h, "/g", "", ZnodeMode::persistent, session).status == Status::ok);
  CHECK(h.apply(ZnodeDelete{"/g", -1, session}).status == Status::ok);
}

TEST_CASE("paths are checked as ZooKeeper's PathUtils does", "[lockservice][znodes]") {
  const std::vector<std::string> bad = {
      "",
      "a",
      "a/b",
      "/a/",
      "//",
      "/a//b",
      "/.",
      "/..",
      "/a/.",
      "/a/./b",
      "/a/../b",
      std::string("/a\0b", 4),
      "/a\x01",
      "/\x1f",
      "/\x7f",
      "/\xc2\x85",          // U+0085
      "/\xee\x80\x80",      // U+E000, private use
      "/\xed\xa0\x80",      // a surrogate, encoded
      "/\xef\xbf\xb0",      // U+FFF0
      "/\xef\xbf\xbd",      // U+FFFD, what Java makes of bytes that are not UTF-8
      "/\xf0\x9f\x98\x80",  // U+1F600: a surrogate pair in Java
      "/\xff",
      "/\xc0\xaf",  // an overlong '/'
      "/\xc3",      // cut short
  };
  for (const std::string& path : bad) {
    INFO(path);
    CHECK_FALSE(znode_path_problem(path).empty());
  }
  const std::vector<std::string> good = {"/",           "/a",         "/a.b",     "/...",      "/a..",
                                         "/.a",         "/..a",       "/a/b-c_d", "/\xc3\xa9", "/\xe2\x82\xac",
                                         "/zookeeper2", "/ spaces ok"};
  for (const std::string& path : good) {
    INFO(path);
    CHECK(znode_path_problem(path).empty());
  }
  // Every command refuses a bad path with bad_arguments.
  Harness h;
  for (const std::string& path : {std::string("/a/../b"), std::string("/a\x01")}) {
    CHECK(create(h, path).zk_error == ZkError::bad_arguments);
    CHECK(h.apply(ZnodeDelete{path, -1, 0}).zk_error == ZkError::bad_arguments);
    CHECK(h.apply(ZnodeSetData{path, "", -1, 0}).zk_error == ZkError::bad_arguments);
    CHECK(h.apply(ZnodeCheck{path, -1, 0}).zk_error == ZkError::bad_arguments);
  }
}

TEST_CASE("sequential names count the parent's creates, not its children", "[lockservice][znodes]") {
  Harness h;
  REQUIRE(create(h, "/q").status == Status::ok);
  std::vector<std::string> names;
  for (int i = 0; i < 3; ++i) {
    const Result r = create(h, "/q/n-", "", ZnodeMode::persistent_sequential);
    REQUIRE(r.status == Status::ok);
    names.push_back(r.znodes[0].path);
  }
  CHECK(names == std::vector<std::string>{"/q/n-0000000000", "/q/n-0000000001", "/q/n-0000000002"});
  CHECK(stat_of(h, "/q").cversion == 3);
  REQUIRE(h.apply(ZnodeDelete{"/q/n-0000000002", -1, 0}).status == Status::ok);
  CHECK(stat_of(h, "/q").cversion == 4);  // 2 * 3 creates - 2 children
  // The next name is not reused: the deleted child still counts.
  CHECK(create(h, "/q/n-", "", ZnodeMode::persistent_sequential).znodes[0].path == "/q/n-0000000003");
  CHECK(stat_of(h, "/q").cversion == 5);
  // A name ending in '/' takes the number alone; under "/" the root counts.
  CHECK(create(h, "/q/", "", ZnodeMode::persistent_sequential).znodes[0].path == "/q/0000000004");
  CHECK(create(h, "/", "", ZnodeMode::persistent_sequential).znodes[0].path == "/0000000001");
  // A plain create counts too.
  REQUIRE(create(h, "/q/plain").status == Status::ok);
  CHECK(create(h, "/q/n-", "", ZnodeMode::persistent_sequential).znodes[0].path == "/q/n-0000000006");
  // An ephemeral sequential one, likewise.
  const SessionId session = h.session();
  const Result e = create(h, "/q/e-", "", ZnodeMode::ephemeral_sequential, session);
  CHECK(e.znodes[0].path == "/q/e-0000000007");
  CHECK(e.znodes[0].stat.ephemeral_owner == session);
}

TEST_CASE("pzxid and numChildren follow child creates and deletes", "[lockservice][znodes]") {
  Harness h;
  REQUIRE(create(h, "/p", "parent").status == Status::ok);
  const ZnodeStat born = stat_of(h, "/p");
  const Applied one = h.apply_fired(create_of("/p/1"));
  CHECK(stat_of(h, "/p").pzxid == one.revision);
  CHECK(stat_of(h, "/p").num_children == 1);
  const Applied two = h.apply_fired(create_of("/p/2"));
  CHECK(stat_of(h, "/p").pzxid == two.revision);
  CHECK(stat_of(h, "/p").num_children == 2);
  // A child's data and grandchildren leave the parent alone.
  h.apply(ZnodeSetData{"/p/1", "x", -1, 0});
  create(h, "/p/1/g");
  CHECK(stat_of(h, "/p").pzxid == two.revision);
  const Applied gone = h.apply_fired(ZnodeDelete{"/p/2", -1, 0});
  const ZnodeStat after = stat_of(h, "/p");
  CHECK(after.pzxid == gone.revision);
  CHECK(after.num_children == 1);
  CHECK(after.cversion == 3);  // two creates and a delete
  // Its own data and version did not move.
  CHECK(after.mzxid == born.mzxid);
  CHECK(after.version == 0);
  CHECK(after.data_length == 6);
  CHECK(children_of(h, "/p") == std::vector<std::string>{"1"});
}

TEST_CASE("each op fires ZooKeeper's events, in order", "[lockservice][znodes]") {
  Harness h;
  const Applied created = h.apply_fired(create_of("/w"));
  CHECK(created.events == ZnodeEvents{event(ZnodeEventType::node_created, "/w", created.revision),
                                      event(ZnodeEventType::node_children_changed, "/", created.revision)});
  const Applied child = h.apply_fired(create_of("/w/c"));
  CHECK(child.events == ZnodeEvents{event(ZnodeEventType::node_created, "/w/c", child.revision),
                                    event(ZnodeEventType::node_children_changed, "/w", child.revision)});
  const Applied set = h.apply_fired(ZnodeSetData{"/w/c", "d", -1, 0});
  CHECK(set.events == ZnodeEvents{event(ZnodeEventType::node_data_changed, "/w/c", set.revision)});
  const Applied check = h.apply_fired(ZnodeCheck{"/w/c", -1, 0});
  CHECK(check.events.empty());
  const Applied deleted = h.apply_fired(ZnodeDelete{"/w/c", -1, 0});
  CHECK(deleted.events == ZnodeEvents{event(ZnodeEventType::node_deleted, "/w/c", deleted.revision),
                                      event(ZnodeEventType::node_children_changed, "/w", deleted.revision)});
  // Commands of other kinds fire nothing; a refused op fires nothing.
  CHECK(h.apply_fired(Put{"/k", "v", 0, false, std::nullopt, {}}).events.empty());
  CHECK(h.apply_fired(create_of("/w")).events.empty());
  // The plain apply() fires into nothing and changes the same.
  CHECK(h.apply(create_of("/w/d")).status == Status::ok);
}

TEST_CASE("ephemerals end with their session's expiry or close, in that command", "[lockservice][znodes]") {
  for (const bool expire : {true, false}) {
    INFO((expire ? "expired" : "closed"));
    Harness h;
    const SessionId session = h.session(2'000);
    const SessionId other = h.session(60'000);
    REQUIRE(create(h, "/app").status == Status::ok);
    REQUIRE(create(h, "/app/e", "", ZnodeMode::ephemeral, session).status == Status::ok);
    const Result sequential = create(h, "/app/s-", "", ZnodeMode::ephemeral_sequential, session);
    REQUIRE(sequential.status == Status::ok);
    REQUIRE(create(h, "/top", "", ZnodeMode::ephemeral, session).status == Status::ok);
    REQUIRE(create(h, "/app/other", "", ZnodeMode::ephemeral, other).status == Status::ok);
    CHECK(stat_of(h, "/app/e").ephemeral_owner == session);
    Applied ended;
    if (expire) {
      h.advance(2'001);
      ended = h.apply_fired(ExpireSession{session});
    } else {
      ended = h.apply_fired(DeleteSession{session});
    }
    REQUIRE(ended.result.status == Status::ok);
    CHECK_FALSE(h.machine.znode("/app/e"));
    CHECK_FALSE(h.machine.znode(sequential.znodes[0].path));
    CHECK_FALSE(h.machine.znode("/top"));
    CHECK(h.machine.znode("/app/other"));
    CHECK(h.machine.znode("/app"));
    CHECK(stat_of(h, "/app").pzxid == ended.revision);
    CHECK(stat_of(h, "/").pzxid == ended.revision);
    CHECK(children_of(h, "/app") == std::vector<std::string>{"other"});
    // In path order, each delete as ZooKeeper fires it.
    const Revision r = ended.revision;
    CHECK(ended.events == ZnodeEvents{event(ZnodeEventType::node_deleted, "/app/e", r),
                                      event(ZnodeEventType::node_children_changed, "/app", r),
                                      event(ZnodeEventType::node_deleted, sequential.znodes[0].path, r),
                                      event(ZnodeEventType::node_children_changed, "/app", r),
                                      event(ZnodeEventType::node_deleted, "/top", r),
                                      event(ZnodeEventType::node_children_changed, "/", r)});
    // The ended session can create no more.
    CHECK(create(h, "/again", "", ZnodeMode::ephemeral, session).zk_error == ZkError::session_expired);
  }
}

TEST_CASE("a session's key behavior does not keep its ephemeral znodes", "[lockservice][znodes]") {
  Harness h;
  const SessionId session = h.session(10'000, 0, Behavior::release);
  REQUIRE(h.put("/k", "v", session).status == Status::ok);
  REQUIRE(create(h, "/z", "", ZnodeMode::ephemeral, session).status == Status::ok);
  REQUIRE(h.apply(DeleteSession{session}).status == Status::ok);
  CHECK(h.machine.get("/k"));  // released: keys stay
  CHECK_FALSE(h.machine.znode("/z"));
}

TEST_CASE("containers are kept as containers; only a reap deletes one", "[lockservice][znodes]") {
  Harness h;
  const Result c = create(h, "/c", "", ZnodeMode::container);
  REQUIRE(c.status == Status::ok);
  CHECK(c.znodes[0].stat.ephemeral_owner == 0);  // ZooKeeper reports 0 for a container
  REQUIRE(create(h, "/c/child").status == Status::ok);
  REQUIRE(h.apply(ZnodeDelete{"/c/child", -1, 0}).status == Status::ok);
  CHECK(h.machine.znode("/c"));  // until the leader's reap (test_containers.cpp)
  CHECK(create(h, "/c/again").status == Status::ok);
}

// ZooKeeper's ContainerManager takes a container only while its persisted
// cversion is above 0; past 2^31 creates it wraps below, and so here too.
TEST_CASE("a container whose creates wrapped is not reaped, as ZooKeeper's cversion > 0", "[lockservice][znodes]") {
  Harness h;
  REQUIRE(create(h, "/c", "", ZnodeMode::container).status == Status::ok);
  StateMachine near_max;
  REQUIRE(near_max.restore(with_znodes(h.machine.snapshot(),
                                       [](auto& znodes) { record_of(znodes, "/c").creates = INT32_MAX; })));
  h.machine = std::move(near_max);
  CHECK(h.machine.reapable_containers(10) == std::vector<std::string>{"/c"});  // derived at restore
  REQUIRE(create(h, "/c/x").status == Status::ok);                             // creates wraps to INT32_MIN
  REQUIRE(h.apply(ZnodeDelete{"/c/x", -1, 0}).status == Status::ok);
  CHECK(h.machine.reapable_containers(10).empty());
  CHECK(h.apply(ZnodeReapContainer{"/c"}).zk_error == ZkError::bad_arguments);
  CHECK(h.machine.znode("/c"));
}

TEST_CASE("a multi applies all its ops at one revision, or none", "[lockservice][znodes]") {
  Harness h;
  REQUIRE(create(h, "/m", "m").status == Status::ok);
  REQUIRE(create(h, "/m/old", "o").status == Status::ok);

  SECTION("every op succeeds") {
    const Applied applied = h.apply_fired(ZnodeMulti{{create_of("/m/a", "1"), create_of("/m/a/b"),
                                                      ZnodeSetData{"/m/a", "2", 0, 0}, ZnodeCheck{"/m/a", 1, 0},
                                                      ZnodeDelete{"/m/old", 0, 0},
                                                      create_of("/m/s-", "", ZnodeMode::persistent_sequential)},
                                                     kNoSession});
    const Result& r = applied.result;
    REQUIRE(r.status == Status::ok);
    CHECK(r.zk_error == ZkError::ok);
    REQUIRE(r.znodes.size() == 6);
    for (const ZnodeOpResult& op : r.znodes) CHECK(op.error == ZkError::ok);
    CHECK(r.znodes[0].path == "/m/a");
    CHECK(r.znodes[0].stat.czxid == applied.revision);
    CHECK(r.znodes[0].stat.version == 0);
    CHECK(r.znodes[1].path == "/m/a/b");
    CHECK(r.znodes[2].stat.version == 1);
    CHECK(r.znodes[2].stat.num_children == 1);
    CHECK(r.znodes[3].path.empty());
    CHECK(r.znodes[5].path == "/m/s-0000000002");  // old and a were created under /m before it
    CHECK(h.machine.znode("/m/a")->data == "2");
    CHECK_FALSE(h.machine.znode("/m/old"));
    const Revision rev = applied.revision;
    CHECK(applied.events == ZnodeEvents{event(ZnodeEventType::node_created, "/m/a", rev),
                                        event(ZnodeEventType::node_children_changed, "/m", rev),
                                        event(ZnodeEventType::node_created, "/m/a/b", rev),
                                        event(ZnodeEventType::node_children_changed, "/m/a", rev),
                                        event(ZnodeEventType::node_data_changed, "/m/a", rev),
                                        event(ZnodeEventType::node_deleted, "/m/old", rev),
                                        event(ZnodeEventType::node_children_changed, "/m", rev),
                                        event(ZnodeEventType::node_created, "/m/s-0000000002", rev),
                                        event(ZnodeEventType::node_children_changed, "/m", rev)});
  }

  SECTION("a failing op leaves nothing changed, and the results say which") {
    // First a multi that succeeds, with a session: its ephemeral takes it.
    const SessionId session = h.session();
    const Result first =
        h.apply(ZnodeMulti{{create_of("/m/a", "1"), ZnodeDelete{"/m/old", -1, 0}, ZnodeSetData{"/m", "x", -1, 0},
                            create_of("/m/e", "", ZnodeMode::ephemeral), ZnodeCheck{"/m", -1, 0}, create_of("/m/z")},
                           session});
    REQUIRE(first.status == Status::ok);
    CHECK(h.machine.znode("/m/e")->stat.ephemeral_owner == session);

    const auto before = dump(h.machine);
    const Counts counts = h.machine.counts();
    const Applied failed = h.apply_fired(ZnodeMulti{{create_of("/m/b", "1"), ZnodeDelete{"/m/a", -1, 0},
                                                     ZnodeSetData{"/m", "changed", -1, 0}, create_of("/m/b/c"),
                                                     ZnodeSetData{"/m", "y", 7, 0}, create_of("/m/never"),
                                                     ZnodeDelete{"/nothing", -1, 0}},
                                                    session});
    const Result& r = failed.result;
    CHECK(r.status == Status::guard_failed);
    CHECK(r.zk_error == ZkError::bad_version);
    REQUIRE(r.znodes.size() == 7);
    for (size_t i = 0; i < 4; ++i) CHECK(r.znodes[i] == ZnodeOpResult{});
    CHECK(r.znodes[4].error == ZkError::bad_version);
    CHECK(r.znodes[5].error == ZkError::runtime_inconsistency);
    CHECK(r.znodes[6].error == ZkError::runtime_inconsistency);
    CHECK(r.message.find("op 5") == 0);
    CHECK(failed.events.empty());
    // Nothing changed: data, Stats (cversion, pzxid), children, counts.
    CHECK(dump(h.machine) == before);
    CHECK(h.machine.counts().znodes == counts.znodes);
    CHECK(h.machine.counts().znode_bytes == counts.znode_bytes);
    // And the next sequential name is the one it would have been.
    CHECK(create(h, "/m/s-", "", ZnodeMode::persistent_sequential).znodes[0].path == "/m/s-0000000004");
  }

  SECTION("an ephemeral in a multi without a session fails it") {
    const auto before = dump(h.machine);
    const Result r = h.apply(ZnodeMulti{{create_of("/m/x"), create_of("/m/e", "", ZnodeMode::ephemeral)}, kNoSession});
    CHECK(r.zk_error == ZkError::session_expired);
    CHECK(r.znodes == std::vector<ZnodeOpResult>{ZnodeOpResult{}, ZnodeOpResult{ZkError::session_expired, {}, {}}});
    CHECK(dump(h.machine) == before);
  }

  SECTION("an empty multi succeeds with no results") {
    const Result r = h.apply(ZnodeMulti{});
    CHECK(r.status == Status::ok);
    CHECK(r.zk_error == ZkError::ok);
    CHECK(r.znodes.empty());
  }
}

TEST_CASE("the namespace's bounds refuse with a clear error", "[lockservice][znodes]") {
  Config config;
  config.znodes.znodes_max = 7;
  config.znodes.children_max = 2;
  config.znodes.data_bytes_max = 10;
  config.znodes.path_bytes_max = 32;
  config.znodes.multi_ops_max = 3;
  config.znodes.store_bytes_max = 200;
  REQUIRE(validate(config).empty());
  Harness h(config);
  // The first four znodes take 104 bytes: their paths and ACLs.
  REQUIRE(h.machine.counts().znode_bytes == 104);
  // Data.
  const Result big = create(h, "/d", std::string(11, 'x'));
  CHECK(big.zk_error == ZkError::bad_arguments);
  CHECK(big.status == Status::too_large);
  CHECK(big.message.find("larger than 10 bytes") != std::string::npos);
  REQUIRE(create(h, "/d", std::string(10, 'x')).status == Status::ok);
  CHECK(h.apply(ZnodeSetData{"/d", std::string(11, 'x'), -1, 0}).status == Status::too_large);
  // Children of one znode: "/" has zookeeper and d.
  const Result crowded = create(h, "/x");
  CHECK(crowded.zk_error == ZkError::quota_exceeded);
  CHECK(crowded.status == Status::limit_exceeded);
  CHECK(crowded.message.find("too many children") != std::string::npos);
  // Paths, the sequential suffix included.
  CHECK(create(h, "/d/" + std::string(30, 'p')).status == Status::too_large);
  CHECK(create(h, "/d/" + std::string(20, 's'), "", ZnodeMode::persistent_sequential).status == Status::too_large);
  REQUIRE(create(h, "/d/" + std::string(29, 'p')).status == Status::ok);
  // Znodes in all: the first four, /d, the long one and /d/1 make 7.
  REQUIRE(create(h, "/d/1").status == Status::ok);
  const Result full = create(h, "/d/1/a");
  CHECK(full.zk_error == ZkError::quota_exceeded);
  CHECK(full.message == "too many znodes");
  // Bytes: paths, data and ACLs together.
  REQUIRE(h.apply(ZnodeDelete{"/d/1", -1, 0}).status == Status::ok);
  ZnodeCreate heavy = create_of("/d/h");
  for (const char* user : {"u1:", "u2:", "u3:"})
    heavy.acl.push_back(ZnodeAcl{31, "digest", user + std::string(40, 'a')});
  const Result heavy_result = h.apply(heavy);
  CHECK(heavy_result.zk_error == ZkError::quota_exceeded);
  CHECK(heavy_result.message == "the znode space is full");
  CHECK(create(h, "/d/h").status == Status::ok);  // the same without its ACL fits
  // ACLs: entries and their length.
  ZnodeCreate many = create_of("/d/a");
  many.acl.assign(kZnodeAclEntriesMax + 1, ZnodeAcl{1, "world", "anyone"});
  CHECK(h.apply(many).status == Status::too_large);
  ZnodeCreate long_acl = create_of("/d/a");
  long_acl.acl = {ZnodeAcl{1, "x509", std::string(kZnodeAclTextBytesMax, 'c')}};
  CHECK(h.apply(long_acl).status == Status::too_large);
  // A multi: its ops, and its data over all of them.
  const Result ops = h.apply(ZnodeMulti{{ZnodeCheck{"/d", -1, 0}, ZnodeCheck{"/d", -1, 0}, ZnodeCheck{"/d", -1, 0},
                                         ZnodeCheck{"/d", -1, 0}},
                                        kNoSession});
  CHECK(ops.status == Status::too_large);
  CHECK(ops.zk_error == ZkError::bad_arguments);
  CHECK(ops.znodes.empty());
  const Result data = h.apply(ZnodeMulti{{ZnodeSetData{"/d", std::string(6, 'a'), -1, 0},
                                          ZnodeSetData{"/d", std::string(6, 'b'), -1, 0}},
                                         kNoSession});
  CHECK(data.status == Status::too_large);
  CHECK(h.machine.znode("/d")->data == std::string(10, 'x'));
  // A snapshot past the bounds of the machine that restores it is refused.
  StateMachine smaller([] {
    Config c;
    c.znodes.znodes_max = 5;
    return c;
  }());
  CHECK_FALSE(smaller.restore(h.machine.snapshot()));
  // Limits that cannot work are refused.
  Config bad;
  bad.znodes.znodes_max = 3;
  CHECK_FALSE(validate(bad).empty());
  bad = Config{};
  bad.znodes.path_bytes_max = 16;
  CHECK_FALSE(validate(bad).empty());
  bad = Config{};
  bad.znodes.multi_ops_max = 0;
  CHECK_FALSE(validate(bad).empty());
  // They decide results, so they are in the digest.
  CHECK(config_digest(config) != config_digest(Config{}));
}

TEST_CASE("a retried znode command answers its first result and fires nothing", "[lockservice][znodes]") {
  Harness h;
  REQUIRE(create(h, "/q").status == Status::ok);
  const Applied first = h.apply_fired(create_of("/q/n-", "", ZnodeMode::persistent_sequential), 42, 1);
  REQUIRE(first.result.status == Status::ok);
  CHECK(first.events.size() == 2);
  const Applied retry = h.apply_fired(create_of("/q/n-", "", ZnodeMode::persistent_sequential), 42, 1);
  CHECK(retry.result == first.result);
  CHECK(retry.result.znodes[0].path == "/q/n-0000000000");
  CHECK(retry.events.empty());
  CHECK(children_of(h, "/q").size() == 1);
  // The record, znode part and all, survives a snapshot.
  StateMachine restored;
  REQUIRE(restored.restore(h.machine.snapshot()));
  REQUIRE(restored.recorded(42, 1) != nullptr);
  CHECK(*restored.recorded(42, 1) == first.result);
}

TEST_CASE("a result's znode part crosses the forward codec", "[lockservice][znodes]") {
  Harness h;
  const Result plain = h.put("/k", "v");
  // A result without a znode part has the bytes it always had: the top bit
  // of its status byte is clear.
  CHECK((static_cast<uint8_t>(encode_result(plain)[0]) & 0x80) == 0);
  REQUIRE(create(h, "/a").status == Status::ok);
  const Result failed = h.apply(ZnodeMulti{{create_of("/b"), create_of("/a"), create_of("/c")}, kNoSession});
  REQUIRE(failed.znodes.size() == 3);
  const Result created = create(h, "/b", "data");
  for (const Result& result : {plain, failed, created}) {
    const std::string bytes = encode_result(result);
    const auto decoded = decode_result(bytes);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == result);
    for (size_t length = 0; length < bytes.size(); ++length) CHECK_FALSE(decode_result(bytes.substr(0, length)));
  }
  // An error that is no ZkError is refused.
  Result odd = created;
  odd.zk_error = static_cast<ZkError>(-4);
  CHECK_FALSE(decode_result(encode_result(odd)));
}

TEST_CASE("the snapshot carries the namespace and restores every Stat", "[lockservice][znodes]") {
  Harness h;
  const SessionId session = h.session(60'000);
  create(h, "/app", "config");
  create(h, "/app/c", "", ZnodeMode::container);
  create(h, "/app/c/lock-", "", ZnodeMode::ephemeral_sequential, session);
  create(h, "/app/q-", "", ZnodeMode::persistent_sequential);
  ZnodeCreate acl = create_of("/app/acl", std::string("\0\x01\xff", 3));
  acl.acl = {ZnodeAcl{1, "digest", "bob:hash"}, ZnodeAcl{31, "ip", "10.0.0.0/8"}};
  h.apply(acl);
  h.now_ms += 500;
  h.apply(ZnodeSetData{"/app", "config2", -1, 0});
  REQUIRE(h.apply(ZnodeDelete{"/app/q-0000000001", -1, 0}).status == Status::ok);
  const std::string image = h.machine.snapshot();
  CHECK(snapshot_format_of(image) == 4);
  StateMachine restored;
  REQUIRE(restored.restore(image));
  CHECK(dump(restored) == dump(h.machine));
  CHECK(restored.snapshot() == image);
  CHECK(restored.counts().znodes == h.machine.counts().znodes);
  CHECK(restored.counts().znode_bytes == h.machine.counts().znode_bytes);
  // Both go on alike: sequential names, ephemerals that end with the session.
  const std::vector<Command> next = {create_of("/app/q-", "", ZnodeMode::persistent_sequential),
                                     ZnodeSetData{"/app/acl", "x", 0, 0}, DeleteSession{session}};
  uint64_t slot = h.slot;
  for (const Command& command : next) {
    ++slot;
    const std::string payload = encode(command, h.now_ms);
    ZnodeEvents a, b;
    const Result ra = h.machine.apply(LogEntry{slot, 0, 0, 0, payload}, a);
    const Result rb = restored.apply(LogEntry{slot, 0, 0, 0, payload}, b);
    CHECK(ra == rb);
    CHECK(a == b);
  }
  CHECK(dump(restored) == dump(h.machine));
  CHECK_FALSE(restored.znode("/app/c/lock-0000000000"));
  CHECK(restored.snapshot() == h.machine.snapshot());
}

TEST_CASE("an older image has the first four znodes; a damaged namespace is refused", "[lockservice][znodes]") {
  Harness h;
  create(h, "/x");
  const SessionId session = h.session();
  create(h, "/x/e", "", ZnodeMode::ephemeral, session);
  const std::string image = h.machine.snapshot();
  Sections sections = split(image);
  REQUIRE(sections.sections.size() == 8);
  REQUIRE(sections.sections.back().first == 8);

  SECTION("a version 3 image: no namespace section") {
    Sections v3 = sections;
    v3.sections.pop_back();
    v3.head[8] = 3;
    StateMachine restored;
    REQUIRE(restored.restore(v3.join()));
    CHECK(restored.counts().znodes == 4);
    CHECK(restored.znode("/zookeeper/config"));
    CHECK_FALSE(restored.znode("/x"));
    CHECK(restored.session(session));
  }
  SECTION("a version 4 image without it is refused") {
    Sections cut = sections;
    cut.sections.pop_back();
    CHECK_FALSE(StateMachine().restore(cut.join()));
  }
  SECTION("the section rewritten unchanged restores: the damage below is what is refused") {
    const std::string same = with_znodes(image, [](auto&) {});
    CHECK(same == image);
    CHECK(StateMachine().restore(same));
  }
  SECTION("an ephemeral whose owner is not a live session is refused") {
    CHECK_FALSE(StateMachine().restore(with_znodes(image,
                                                   [&](auto& znodes) { record_of(znodes, "/x/e").owner = 999; })));
    CHECK_FALSE(StateMachine().restore(with_znodes(image, [&](auto& znodes) { record_of(znodes, "/x/e").owner = 0; })));
    CHECK_FALSE(StateMachine().restore(with_znodes(image,
                                                   [&](auto& znodes) { record_of(znodes, "/x").owner = session; })));
  }
  SECTION("a child of an ephemeral is refused") {
    CHECK_FALSE(StateMachine().restore(with_znodes(image, [&](auto& znodes) {
      record_of(znodes, "/x").kind = 1;
      record_of(znodes, "/x").owner = session;
    })));
  }
  SECTION("a znode without its parent, or out of order, is refused") {
    CHECK_FALSE(StateMachine().restore(with_znodes(image, [&](auto& znodes) { record_of(znodes, "/x").path = "/w"; })));
    CHECK_FALSE(StateMachine().restore(with_znodes(image, [&](auto& znodes) { std::swap(znodes[1], znodes[2]); })));
    CHECK_FALSE(StateMachine().restore(with_znodes(image, [&](auto& znodes) { znodes.erase(znodes.begin()); })));
  }
  SECTION("a namespace without /zookeeper/config is refused") {
    CHECK_FALSE(StateMachine().restore(with_znodes(image, [&](auto& znodes) {
      znodes.erase(std::find_if(znodes.begin(), znodes.end(),
                                [](const ZnodeRecord& z) { return z.path == "/zookeeper/config"; }));
    })));
  }
  SECTION("a bad path, a zxid past the revision, or a time past log time is refused") {
    CHECK_FALSE(StateMachine().restore(with_znodes(image,
                                                   [&](auto& znodes) { record_of(znodes, "/x/e").path = "/x/."; })));
    CHECK_FALSE(StateMachine().restore(with_znodes(image, [&](auto& znodes) {
      record_of(znodes, "/x").pzxid = h.machine.revision() + 1;
    })));
    CHECK_FALSE(StateMachine().restore(with_znodes(image, [&](auto& znodes) {
      record_of(znodes, "/x").mtime = h.machine.log_time_ms() + 1;
    })));
    CHECK_FALSE(StateMachine().restore(with_znodes(image, [&](auto& znodes) { record_of(znodes, "/x").kind = 3; })));
  }
  SECTION("every truncation is refused") {
    for (size_t length = image.size() - 200; length < image.size(); ++length)
      CHECK_FALSE(StateMachine().restore(image.substr(0, length)));
  }
}

TEST_CASE("random znode histories snapshot and replay identically", "[lockservice][znodes]") {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    INFO("seed " << seed);
    Random random(seed);
    Harness a;
    StateMachine b;  // restored from a at random points, then fed the same
    std::vector<SessionId> sessions;
    const std::vector<std::string> paths = {"/a", "/a/b", "/a/b/c", "/d", "/d/e", "/a/", "/d/"};
    auto pick = [&](const auto& from) {
      return from[static_cast<size_t>(random.uniform(0, static_cast<int64_t>(from.size()) - 1))];
    };
    auto random_op = [&]() -> ZnodeOp {
      const int32_t version = random.chance(1, 2) ? -1 : static_cast<int32_t>(random.uniform(0, 2));
      std::string path = pick(paths);
      switch (random.uniform(0, 3)) {
        case 0: {
          const auto mode = static_cast<ZnodeMode>(random.uniform(0, kZnodeModeMax));
          return ZnodeCreate{path, std::string(static_cast<size_t>(random.uniform(0, 5)), 'd'), {}, mode, 0};
        }
        case 1:
          return ZnodeDelete{path, version, 0};
        case 2:
          return ZnodeSetData{path, std::string(static_cast<size_t>(random.uniform(0, 5)), 's'), version, 0};
        default:
          return ZnodeCheck{path, version, 0};
      }
    };
    REQUIRE(b.restore(a.machine.snapshot()));
    for (int step = 0; step < 200; ++step) {
      Command command;
      const SessionId session = sessions.empty() || random.chance(1, 3) ? kNoSession : pick(sessions);
      switch (random.uniform(0, 9)) {
        case 0:
          command = CreateSession{2'000, 0, Behavior::release};
          break;
        case 1:
          if (sessions.empty()) {
            command = RenewSessions{};
          } else if (random.chance(1, 2)) {
            command = DeleteSession{pick(sessions)};
          } else {
            command = ExpireSession{pick(sessions)};  // refused (too early) unless 2 s of log time passed
          }
          break;
        case 2: {
          ZnodeMulti multi;
          multi.session = session;
          for (int64_t i = random.uniform(0, 4); i > 0; --i) multi.ops.push_back(random_op());
          command = multi;
          break;
        }
        default:
          command = std::visit(
              [&](auto op) -> Command {
                op.session = session;
                return op;
              },
              random_op());
      }
      ++a.slot;
      a.now_ms += random.uniform(0, 100);
      const std::string payload = encode(command, a.now_ms);
      ZnodeEvents fa, fb;
      const Result ra = a.machine.apply(LogEntry{a.slot, 0, 0, 0, payload}, fa);
      const Result rb = b.apply(LogEntry{a.slot, 0, 0, 0, payload}, fb);
      REQUIRE(ra == rb);
      REQUIRE(fa == fb);
      if (std::holds_alternative<CreateSession>(command) && ra.status == Status::ok) sessions.push_back(ra.session);
      sessions.erase(std::remove_if(sessions.begin(), sessions.end(),
                                    [&](SessionId s) { return !a.machine.session(s).has_value(); }),
                     sessions.end());
      // The events say what changed: every created znode exists after.
      for (const ZnodeEvent& e : fa) {
        if (e.type == ZnodeEventType::node_created && ra.status == Status::ok) {
          const bool later_deleted = std::any_of(fa.begin(), fa.end(), [&](const ZnodeEvent& d) {
            return d.type == ZnodeEventType::node_deleted && d.path == e.path;
          });
          if (!later_deleted) CHECK(a.machine.znode(e.path));
        }
      }
      if (random.chance(1, 25)) {
        const std::string image = a.machine.snapshot();
        REQUIRE(b.snapshot() == image);
        StateMachine fresh;
        REQUIRE(fresh.restore(image));
        b = std::move(fresh);
      }
    }
    CHECK(b.snapshot() == a.machine.snapshot());
    CHECK(dump(b) == dump(a.machine));
  }
}

TEST_CASE("with auth on, only a cluster admin changes znodes", "[lockservice][znodes]") {
  Harness h;
  REQUIRE(h.apply(CreateToken{std::string(kTokenHashBytes, 'r'), "root", {}, true}).status == Status::ok);
  REQUIRE(h.apply(CreateToken{std::string(kTokenHashBytes, 'u'), "user", {}, false}).status == Status::ok);
  REQUIRE(h.apply(PutRule{"user:user", AclSpace::keys, "", Permission::admin}).status == Status::ok);
  REQUIRE(h.apply(SetAuth{true}).status == Status::ok);
  const Credential root{Credential::Kind::token, std::string(kTokenHashBytes, 'r')};
  const Credential user{Credential::Kind::token, std::string(kTokenHashBytes, 'u')};
  auto apply_as = [&](const Command& command, const Credential& credential) {
    ++h.slot;
    h.log.push_back(encode(command, h.now_ms, credential));
    return h.machine.apply(LogEntry{h.slot, 0, 7, h.slot, h.log.back()});
  };
  CHECK(apply_as(create_of("/z"), user).status == Status::permission_denied);
  CHECK_FALSE(h.machine.znode("/z"));
  CHECK(apply_as(create_of("/z"), root).status == Status::ok);
}

}  // namespace
}  // namespace synod::lockservice::test
