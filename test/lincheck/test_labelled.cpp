// test_labelled.cpp — every history of test/data checked against its label: the checker must agree
// with all of them. The labels come from outside this project (test/data/LICENSE-NOTICE.md).
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "tools/lincheck/formats.h"
#include "tools/lincheck/lincheck.h"

namespace synod::lincheck {
namespace {

std::vector<std::pair<std::string, std::string>> read_labels(const std::string& dir) {
  FileText labels = read_file(dir + "/labels.tsv");
  REQUIRE(labels.error.empty());
  std::vector<std::pair<std::string, std::string>> entries;
  std::string_view text = labels.text;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty()) continue;
    std::size_t tab = line.find('\t');
    REQUIRE(tab != std::string_view::npos);
    entries.emplace_back(line.substr(0, tab), line.substr(tab + 1));
  }
  return entries;
}

// Checks every file of one set with the model its format implies; returns the count per verdict.
std::pair<std::size_t, std::size_t> check_set(const std::string& set, Format format, ModelKind model) {
  std::string dir = std::string(SYNOD_TEST_DATA_DIR) + "/" + set;
  std::size_t linearizable = 0;
  std::size_t not_linearizable = 0;
  // A generous budget: it only keeps a regression from hanging the suite; unknown disagrees.
  Budget budget;
  budget.time_ms_max = 30'000;
  for (const auto& [name, label] : read_labels(dir)) {
    INFO(set << "/" << name);
    FileText file = read_file(dir + "/" + name);
    REQUIRE(file.error.empty());
    REQUIRE(detect_format(file.text) == format);
    ParseResult parsed = parse_history(file.text, format);
    REQUIRE(parsed.ok());
    CheckResult result = check(parsed.history, model, budget);
    REQUIRE(result.error.empty());
    CHECK(verdict_name(result.verdict) == label);
    (label == "linearizable" ? linearizable : not_linearizable) += 1;
  }
  return {linearizable, not_linearizable};
}

TEST_CASE("labelled: every jepsen-etcd history agrees with its label", "[lincheck][labelled]") {
  auto [linearizable, not_linearizable] = check_set("jepsen-etcd", Format::jepsen, ModelKind::cas_register);
  CHECK(linearizable == 23);
  CHECK(not_linearizable == 79);
}

TEST_CASE("labelled: every kv-append history agrees with its label", "[lincheck][labelled]") {
  auto [linearizable, not_linearizable] = check_set("kv-append", Format::edn, ModelKind::kv);
  CHECK(linearizable == 3);
  CHECK(not_linearizable == 3);
}

TEST_CASE("planted: recorded histories and their planted twins are decided by the unique-values path",
          "[lincheck][labelled]") {
  std::string dir = std::string(SYNOD_TEST_DATA_DIR) + "/planted";
  std::size_t planted = 0;
  for (const auto& [name, label] : read_labels(dir)) {
    INFO("planted/" << name);
    FileText file = read_file(dir + "/" + name);
    REQUIRE(file.error.empty());
    ParseResult parsed = parse_jsonl(file.text);
    REQUIRE(parsed.ok());
    CheckResult result = check(parsed.history, *infer_model(parsed.history));
    CHECK(verdict_name(result.verdict) == label);
    CHECK(result.path == Path::unique_values);
    if (label == "not-linearizable") ++planted;
  }
  CHECK(planted >= 5);  // one of each kind at least
}

}  // namespace
}  // namespace synod::lincheck
