// ZooKeeper's ACLs on znodes (lockservice/znode_acl.cpp, znodes.cpp): who
// may do what, the "auth" scheme's expansion, the refusals of bad ACLs, and
// setACL with its aversion.
#include <catch2/catch.hpp>

#include "harness.h"

namespace synod::lockservice::test {
namespace {

const ZnodeId kAlice{"digest", "alice:hash-a"};
const ZnodeId kBob{"digest", "bob:hash-b"};
const ZnodeId kLocal{"ip", "127.0.0.1"};

ZnodeCreate create_as(std::string path, std::vector<ZnodeAcl> acl, ZnodeIds ids) {
  return ZnodeCreate{std::move(path), "", std::move(acl), ZnodeMode::persistent, kNoSession, std::move(ids)};
}

}  // namespace

TEST_CASE("checkACL: world, digest and ip entries, each for its own perms", "[lockservice][znodes]") {
  const std::vector<ZnodeAcl> acl{{kZnodePermRead, "world", "anyone"},
                                  {kZnodePermWrite, "digest", "alice:hash-a"},
                                  {kZnodePermDelete, "ip", "10.1.0.0/16"}};
  CHECK(znode_acl_allows(acl, {}, kZnodePermRead));
  CHECK_FALSE(znode_acl_allows(acl, {}, kZnodePermWrite));
  CHECK(znode_acl_allows(acl, {kAlice}, kZnodePermWrite));
  CHECK_FALSE(znode_acl_allows(acl, {kBob}, kZnodePermWrite));
  CHECK(znode_acl_allows(acl, {ZnodeId{"ip", "10.1.200.3"}}, kZnodePermDelete));
  CHECK_FALSE(znode_acl_allows(acl, {ZnodeId{"ip", "10.2.0.1"}}, kZnodePermDelete));
  CHECK_FALSE(znode_acl_allows(acl, {kAlice}, kZnodePermAdmin));
  CHECK(znode_acl_allows({}, {}, kZnodePermAdmin));  // ZooKeeper: an empty ACL allows all
}

TEST_CASE("fixupACL: auth expands to the request's digest ids; bad ACLs are refused", "[lockservice][znodes]") {
  std::vector<ZnodeAcl> acl{{kZnodePermAll, "auth", ""}, {kZnodePermRead, "world", "anyone"}};
  REQUIRE(znode_fix_acl(acl, {kLocal, kAlice, kBob}) == "");
  CHECK(acl == std::vector<ZnodeAcl>{{kZnodePermAll, "digest", "alice:hash-a"},
                                     {kZnodePermAll, "digest", "bob:hash-b"},
                                     {kZnodePermRead, "world", "anyone"}});
  for (std::vector<ZnodeAcl> bad :
       std::vector<std::vector<ZnodeAcl>>{{},                                        // empty
                                          {{kZnodePermAll, "auth", ""}},             // no digest id to give
                                          {{kZnodePermAll, "world", "everyone"}},    // world has one id
                                          {{kZnodePermAll, "digest", "nocolon"}},    // user:hash
                                          {{kZnodePermAll, "ip", "10.0.0.0/33"}},    // a prefix past the width
                                          {{kZnodePermAll, "x509", "CN=alice"}}}) {  // not a scheme known here
    CHECK(znode_fix_acl(bad, {kLocal}) != "");
  }
}

TEST_CASE("each op asks its perm of the right znode, in ZooKeeper's order", "[lockservice][znodes]") {
  Harness h;
  const std::vector<ZnodeAcl> alice_only{{kZnodePermAll, "digest", "alice:hash-a"}};
  REQUIRE(h.apply(create_as("/p", alice_only, {kAlice})).zk_error == ZkError::ok);
  // Create and delete are the parent's CREATE and DELETE.
  CHECK(h.apply(create_as("/p/c", {{kZnodePermAll, "world", "anyone"}}, {kBob})).zk_error == ZkError::no_auth);
  REQUIRE(h.apply(create_as("/p/c", {{kZnodePermAll, "world", "anyone"}}, {kAlice})).zk_error == ZkError::ok);
  CHECK(h.apply(ZnodeDelete{"/p/c", -1, kNoSession, {kBob}}).zk_error == ZkError::no_auth);
  // The parent's ACL is judged before the znode is looked for.
  CHECK(h.apply(ZnodeDelete{"/p/none", -1, kNoSession, {kBob}}).zk_error == ZkError::no_auth);
  // setData is the znode's WRITE, check its READ.
  CHECK(h.apply(ZnodeSetData{"/p", "x", -1, kNoSession, {kBob}}).zk_error == ZkError::no_auth);
  CHECK(h.apply(ZnodeCheck{"/p", -1, kNoSession, {kBob}}).zk_error == ZkError::no_auth);
  CHECK(h.apply(ZnodeSetData{"/p/c", "x", -1, kNoSession, {kBob}}).zk_error == ZkError::ok);
  // An invalid ACL is refused before the parent is looked for.
  CHECK(h.apply(create_as("/none/c", {}, {kAlice})).zk_error == ZkError::invalid_acl);
  // In a multi, the multi's ids act for every op, and a refusal undoes all.
  const Result multi = h.apply(ZnodeMulti{{ZnodeSetData{"/p/c", "y", -1, kNoSession, {}},
                                           ZnodeSetData{"/p", "y", -1, kNoSession, {}}},
                                          kNoSession,
                                          {kBob}});
  CHECK(multi.zk_error == ZkError::no_auth);
  CHECK(h.machine.znode("/p/c")->data == "x");
}

TEST_CASE("setACL needs ADMIN, checks the aversion and raises it, and fires nothing", "[lockservice][znodes]") {
  Harness h;
  REQUIRE(h.apply(create_as("/a", {{kZnodePermAll, "auth", ""}}, {kAlice})).zk_error == ZkError::ok);
  CHECK(h.machine.znode("/a")->acl == std::vector<ZnodeAcl>{{kZnodePermAll, "digest", "alice:hash-a"}});
  const std::vector<ZnodeAcl> open{{kZnodePermAll, "world", "anyone"}};
  CHECK(h.apply(ZnodeSetAcl{"/a", open, -1, kNoSession, {kBob}}).zk_error == ZkError::no_auth);
  CHECK(h.apply(ZnodeSetAcl{"/a", open, 1, kNoSession, {kAlice}}).zk_error == ZkError::bad_version);
  CHECK(h.apply(ZnodeSetAcl{"/a", {}, 0, kNoSession, {kAlice}}).zk_error == ZkError::invalid_acl);
  CHECK(h.apply(ZnodeSetAcl{"/b", open, -1, kNoSession, {kAlice}}).zk_error == ZkError::no_node);
  const ZnodeStat before = *h.machine.znode_stat("/a");
  const Result set = h.apply(ZnodeSetAcl{"/a", open, 0, kNoSession, {kAlice}});
  REQUIRE(set.zk_error == ZkError::ok);
  REQUIRE(set.znodes.size() == 1);
  CHECK(set.znodes[0].stat.aversion == 1);
  CHECK(set.znodes[0].stat.mzxid == before.mzxid);
  CHECK(h.machine.znode("/a")->acl == open);
  // Now anyone may.
  CHECK(h.apply(ZnodeSetData{"/a", "x", -1, kNoSession, {kBob}}).zk_error == ZkError::ok);
}

}  // namespace synod::lockservice::test
