// The cluster identity file (persistence/cluster_identity.h): written once,
// read back, refused when malformed, and the ids a cluster derives.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "persistence/cluster_identity.h"
#include "support.h"

using namespace synod::persistence;

namespace {

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST_CASE("the cluster identity is written once and read back", "[cluster_identity]") {
  testing::TempDir dir;
  std::optional<ClusterIdentity> read;
  REQUIRE(read_cluster_identity(dir.path(), read).ok());
  CHECK_FALSE(read);
  const ClusterIdentity identity{0x0123456789abcdefULL, "payments"};
  REQUIRE(write_cluster_identity(dir.path(), identity).ok());
  REQUIRE(read_cluster_identity(dir.path(), read).ok());
  REQUIRE(read);
  CHECK(*read == identity);
  std::stringstream text;
  text << std::ifstream(dir.sub(kClusterFileName)).rdbuf();
  CHECK(text.str() == "synod-cluster 1\nid 0123456789abcdef\nname payments\n");
  // Never replaced.
  CHECK(write_cluster_identity(dir.path(), ClusterIdentity{7, "other"}).code == Code::invalid_argument);
  REQUIRE(read_cluster_identity(dir.path(), read).ok());
  CHECK(*read == identity);
}

TEST_CASE("a malformed cluster identity file is refused as corrupt", "[cluster_identity]") {
  testing::TempDir dir;
  const std::string path = dir.sub(kClusterFileName);
  for (const std::string text : {
           "",
           "synod-cluster 2\nid 0123456789abcdef\nname a\n",
           "synod-cluster 1\nid 0123456789abcdef\n",
           "synod-cluster 1\nname a\n",
           "synod-cluster 1\nid 123\nname a\n",
           "synod-cluster 1\nid 0123456789abcdeg\nname a\n",
           "synod-cluster 1\nid 0000000000000000\nname a\n",
           "synod-cluster 1\nid 0123456789abcdef\nname \n",
           "synod-cluster 1\nid 0123456789abcdef\nname a\nname b\n",
           "synod-cluster 1\nid 0123456789abcdef\nname a\ncolour blue\n",
       }) {
    write_text(path, text);
    std::optional<ClusterIdentity> read;
    const Status status = read_cluster_identity(dir.path(), read);
    INFO(text);
    CHECK(status.code == Code::corrupt);
    CHECK(status.message.find(path) != std::string::npos);
    CHECK_FALSE(read);
  }
}

TEST_CASE("a new cluster's id depends on its name and its initial members' ids", "[cluster_identity]") {
  const uint64_t id = derive_cluster_id("synod", {1, 2, 3});
  CHECK(id != 0);
  CHECK(derive_cluster_id("synod", {3, 1, 2}) == id);  // in any order
  CHECK(derive_cluster_id("other", {1, 2, 3}) != id);
  CHECK(derive_cluster_id("synod", {1, 2, 3, 4}) != id);
  CHECK(derive_cluster_id("synod", {1, 2, 4}) != id);
  // Data from before the file keeps the FNV-1a of the name every build used.
  CHECK(legacy_cluster_id("synod") == 0x5d1ba1977dfa827cULL);
}
