// Unit tests of server/metrics.h: bucket layouts and quantiles, the
// Prometheus text rendering, label escaping, the cardinality limit, and
// updates racing with rendering.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics.h"

using namespace synod::server::metrics;

namespace {

// The lines of `text` that start with `prefix`.
std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

double sample_value(const std::string& line) { return std::stod(line.substr(line.rfind(' ') + 1)); }

// One parsed histogram series: its cumulative buckets in order, _count, _sum.
struct ParsedHistogram {
  std::vector<std::pair<std::string, uint64_t>> buckets;  // le, cumulative
  uint64_t count = 0;
  double sum = 0;
};

ParsedHistogram parse_histogram(const std::string& text, const std::string& name) {
  ParsedHistogram h;
  for (const auto& line : lines_starting(text, name + "_bucket{")) {
    const auto le = line.find("le=\"") + 4;
    h.buckets.emplace_back(line.substr(le, line.find('"', le) - le),
                           static_cast<uint64_t>(std::stoull(line.substr(line.rfind(' ') + 1))));
  }
  for (const auto& line : lines_starting(text, name + "_count")) h.count = std::stoull(line.substr(line.rfind(' ') + 1));
  for (const auto& line : lines_starting(text, name + "_sum")) h.sum = sample_value(line);
  return h;
}

}  // namespace

TEST_CASE("the second layouts cover 100 microseconds to 10 seconds") {
  for (const Layout* layout : {&Layout::seconds(), &Layout::seconds_coarse()}) {
    REQUIRE(layout->bounds().front() == 0.0001);
    REQUIRE(layout->bounds().back() == 10.0);
  }
  const auto& fine = Layout::seconds().bounds();
  for (size_t i = 1; i < fine.size(); ++i) REQUIRE(fine[i] / fine[i - 1] <= 1.5 + 1e-9);
}

TEST_CASE("a value falls in the first bucket whose bound is at least the value") {
  const Layout layout({0.001, 0.01, 0.1});
  CHECK(layout.index(0) == 0);
  CHECK(layout.index(0.001) == 0);  // le: inclusive
  CHECK(layout.index(0.0011) == 1);
  CHECK(layout.index(0.1) == 2);
  CHECK(layout.index(0.2) == 3);  // +Inf
  CHECK(layout.index(-1) == 0);
}

TEST_CASE("a dense layout adds bounds at clean decimals and keeps the full range") {
  const Layout layout = Layout::seconds_dense(0.04, 0.07, 0.001);
  const auto bounds = layout.bounds();
  CHECK(bounds.front() == 0.0001);
  CHECK(bounds.back() == 10.0);
  CHECK(std::count(bounds.begin(), bounds.end(), 0.053) == 1);
  CHECK(std::count(bounds.begin(), bounds.end(), 0.05) == 1);  // in both, kept once
  for (size_t i = 1; i < bounds.size(); ++i) REQUIRE(bounds[i - 1] < bounds[i]);
  CHECK(format_value(0.053) == "0.053");
}

TEST_CASE("a histogram renders cumulative buckets, +Inf, _sum and _count") {
  Registry registry;
  auto& family = registry.histogram("synod_test_seconds", "A test.", Layout({0.001, 0.01, 0.1}));
  auto& h = family.only();
  h.observe(0.0005);
  h.observe(0.001);
  h.observe(0.005);
  h.observe(0.5);
  h.observe(std::nan(""));  // dropped
  const std::string text = registry.render();
  CHECK(text.find("# HELP synod_test_seconds A test.\n# TYPE synod_test_seconds histogram\n") == 0);
  CHECK(text.find("synod_test_seconds_bucket{le=\"0.001\"} 2\n") != std::string::npos);
  CHECK(text.find("synod_test_seconds_bucket{le=\"0.01\"} 3\n") != std::string::npos);
  CHECK(text.find("synod_test_seconds_bucket{le=\"0.1\"} 3\n") != std::string::npos);
  CHECK(text.find("synod_test_seconds_bucket{le=\"+Inf\"} 4\n") != std::string::npos);
  CHECK(text.find("synod_test_seconds_count 4\n") != std::string::npos);
  const auto parsed = parse_histogram(text, "synod_test_seconds");
  CHECK(parsed.sum == Approx(0.5065));
}

TEST_CASE("bounds render as plain decimals, as the Go client writes them") {
  CHECK(format_value(0.0001) == "0.0001");
  CHECK(format_value(0.00015) == "0.00015");
  CHECK(format_value(10) == "10");
  CHECK(format_value(2.5) == "2.5");
  CHECK(format_value(0) == "0");
  CHECK(format_value(1e-9) == "1e-09");
  CHECK(format_value(INFINITY) == "+Inf");
  CHECK(format_value(-INFINITY) == "-Inf");
  CHECK(format_value(std::nan("")) == "NaN");
}

TEST_CASE("counters and gauges render with their labels, in creation order") {
  Registry registry;
  auto& requests = registry.counter("synod_test_total", "Requests.", {"route", "status"});
  requests.with({"/v1/kv/{key}", "200"}).inc(3);
  requests.with({"/v1/kv/{key}", "404"}).inc();
  requests.with({"/v1/kv/{key}", "200"}).inc();
  auto& gauge = registry.gauge("synod_test_ratio", "A ratio.");
  gauge.only().set(0.5);
  const std::string text = registry.render();
  CHECK(text.find("synod_test_total{route=\"/v1/kv/{key}\",status=\"200\"} 4\n") != std::string::npos);
  CHECK(text.find("synod_test_total{route=\"/v1/kv/{key}\",status=\"404\"} 1\n") != std::string::npos);
  CHECK(text.find("# TYPE synod_test_ratio gauge\nsynod_test_ratio 0.5\n") != std::string::npos);
  CHECK(text.find("synod_test_total") < text.find("synod_test_ratio"));
}

TEST_CASE("a hidden gauge is not rendered until it is set again") {
  Registry registry;
  auto& lag = registry.gauge("synod_test_lag", "Lag.", {"peer"});
  lag.with({"2"}).set(7);
  lag.with({"2"}).hide();
  CHECK(registry.render().find("synod_test_lag{") == std::string::npos);
  lag.with({"2"}).set(0);
  CHECK(registry.render().find("synod_test_lag{peer=\"2\"} 0\n") != std::string::npos);
}

TEST_CASE("label values escape backslash, double quote and newline") {
  CHECK(escape_label_value("plain") == "plain");
  CHECK(escape_label_value("a\\b") == "a\\\\b");
  CHECK(escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(escape_label_value("two\nlines") == "two\\nlines");
  Registry registry;
  registry.counter("synod_test_total", "Help with a \\ and a\nnewline.", {"name"}).with({"x\"\n\\"}).inc();
  const std::string text = registry.render();
  CHECK(text.find("synod_test_total{name=\"x\\\"\\n\\\\\"} 1\n") != std::string::npos);
  CHECK(text.find("# HELP synod_test_total Help with a \\\\ and a\\nnewline.\n") != std::string::npos);
}

TEST_CASE("names are checked against the Prometheus grammar") {
  CHECK(valid_metric_name("synod_commit_latency_seconds"));
  CHECK(valid_metric_name("a:b_c"));
  CHECK_FALSE(valid_metric_name("9lives"));
  CHECK_FALSE(valid_metric_name("has-dash"));
  CHECK_FALSE(valid_metric_name(""));
  CHECK(valid_label_name("route"));
  CHECK_FALSE(valid_label_name("__reserved"));
  CHECK_FALSE(valid_label_name("a:b"));
}

TEST_CASE("past series_max label sets, new ones share one overflow series") {
  Registry registry;
  auto& family = registry.counter("synod_test_total", "Paths.", {"route"}, 3);
  for (int i = 0; i < 10; ++i) family.with({"/raw/path/" + std::to_string(i)}).inc();
  family.with({"/raw/path/0"}).inc();  // an existing set still has its own series
  const std::string text = registry.render();
  CHECK(lines_starting(text, "synod_test_total{").size() == 4);  // 3 + overflow
  CHECK(text.find("synod_test_total{route=\"/raw/path/0\"} 2\n") != std::string::npos);
  CHECK(text.find("synod_test_total{route=\"overflow\"} 7\n") != std::string::npos);
  size_t total = 0;
  family.each([&](const std::vector<std::string>&, const Counter& c) { total += c.value(); });
  CHECK(total == 4);  // each() lists the label sets, not the overflow
}

TEST_CASE("raise_to mirrors a monotonic count and never goes down") {
  Counter counter;
  counter.raise_to(5);
  counter.raise_to(3);
  CHECK(counter.value() == 5);
  counter.inc();
  CHECK(counter.value() == 6);
}

TEST_CASE("quantiles interpolate inside the bucket, like histogram_quantile") {
  const Layout layout({1, 2, 4});
  Histogram h(layout);
  CHECK(std::isnan(quantile(h.snapshot(), 0.5)));
  for (int i = 0; i < 10; ++i) h.observe(0.5);  // (0, 1]
  for (int i = 0; i < 10; ++i) h.observe(1.5);  // (1, 2]
  const auto s = h.snapshot();
  CHECK(quantile(s, 0.5) == Approx(1.0));
  CHECK(quantile(s, 0.25) == Approx(0.5));
  CHECK(quantile(s, 0.75) == Approx(1.5));
  CHECK(quantile(s, 1.0) == Approx(2.0));
  h.observe(100);  // +Inf answers the highest finite bound
  CHECK(quantile(h.snapshot(), 1.0) == Approx(4.0));
}

TEST_CASE("windows summarize what was observed in each window only") {
  Histogram h(Layout::seconds());
  HistogramWindows windows(h, 3);
  for (int i = 0; i < 100; ++i) h.observe(0.002);
  windows.close(10'000);
  for (int i = 0; i < 100; ++i) h.observe(0.2);
  const auto open = windows.open(15'000);
  CHECK(open.count == 100);
  CHECK(open.mean == Approx(0.2));
  CHECK(open.p50 > 0.15);
  CHECK(open.p50 <= 0.2);
  REQUIRE(windows.closed().size() == 1);
  CHECK(windows.closed()[0].count == 100);
  CHECK(windows.closed()[0].p99 <= 0.002);
  CHECK(windows.closed()[0].p99 > 0.0015);
  windows.close(20'000);
  windows.close(30'000);  // an empty window
  windows.close(40'000);
  REQUIRE(windows.closed().size() == 3);  // the oldest fell off
  CHECK(windows.closed().front().end_ms == 20'000);
  CHECK(windows.closed().back().count == 0);
  CHECK(std::isnan(windows.closed().back().p50));
}

// Checks one render of the race test's histogram; returns "" or what is wrong.
// Buckets never decrease along le, +Inf equals _count, and counts never go
// backwards from one render to the next.
std::string check_render(const std::string& text, std::map<std::string, uint64_t>& last_count) {
  for (const std::string route : {"/a", "/b", "/own/0"}) {
    const std::string prefix = "synod_test_seconds_bucket{route=\"" + route + "\",le=";
    uint64_t previous = 0;
    bool seen = false;
    for (const auto& line : lines_starting(text, prefix)) {
      const auto v = static_cast<uint64_t>(std::stoull(line.substr(line.rfind(' ') + 1)));
      if (v < previous) return "a bucket below its predecessor: " + line;
      previous = v;
      seen = true;
    }
    if (!seen) continue;
    const auto count_lines = lines_starting(text, "synod_test_seconds_count{route=\"" + route + "\"}");
    if (count_lines.size() != 1) return "not one _count for " + route;
    if (std::stoull(count_lines[0].substr(count_lines[0].rfind(' ') + 1)) != previous) {
      return "+Inf differs from _count for " + route;
    }
    if (previous < last_count[route]) return "the count of " + route + " went backwards";
    last_count[route] = previous;
  }
  return {};
}

TEST_CASE("updates from many threads race with rendering without tearing a histogram") {
  Registry registry;
  auto& latency = registry.histogram("synod_test_seconds", "Latency.", Layout::seconds(), {"route"});
  auto& requests = registry.counter("synod_test_total", "Requests.", {"route"});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50'000;
  constexpr size_t kRendersMax = 2'000;
  std::atomic<bool> done{false};
  size_t renders = 0;
  std::string problem;
  std::thread renderer([&] {
    std::map<std::string, uint64_t> last_count;
    while (!done.load() && renders < kRendersMax && problem.empty()) {
      problem = check_render(registry.render(), last_count);
      ++renders;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Two routes shared by all threads and one per thread, so creating
        // a series races with looking one up too.
        const std::string route = i % 3 == 0 ? "/own/" + std::to_string(t) : (i % 3 == 1 ? "/a" : "/b");
        latency.with({route}).observe(0.0001 * (i % 1000));
        requests.with({route}).inc();
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  renderer.join();
  CHECK(problem.empty());
  CHECK(renders >= 1);

  // Nothing lost: the final render holds every observation.
  const std::string last = registry.render();
  std::map<std::string, uint64_t> unused;
  CHECK(check_render(last, unused).empty());
  uint64_t total = 0;
  for (const auto& line : lines_starting(last, "synod_test_seconds_count{")) total += std::stoull(line.substr(line.rfind(' ') + 1));
  CHECK(total == uint64_t{kThreads} * kPerThread);
  uint64_t counted = 0;
  for (const auto& line : lines_starting(last, "synod_test_total{")) counted += std::stoull(line.substr(line.rfind(' ') + 1));
  CHECK(counted == uint64_t{kThreads} * kPerThread);
  CHECK(lines_starting(last, "synod_test_total{").size() == 2 + kThreads);
}
