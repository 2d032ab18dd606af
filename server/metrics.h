// metrics: counters, gauges and histograms with labels, rendered in the
// Prometheus text exposition format (version 0.0.4). Pure C++: no Asio, no
// clock, no thread of its own. docs/observability.md lists what synod exports.
//
// COST ON THE HOT PATH. Updating a series is a relaxed atomic or two: a
// counter is one fetch_add, a histogram a binary search over its bounds, one
// fetch_add and one add to its sum. No lock, no allocation. Finding a labeled
// series (Family::with) is lock-free once the series exists (a hash compare
// over at most series_max entries); only creating a new label set takes the
// family's lock and allocates. Callers on the hottest paths resolve their
// series once and keep the reference: series never move and are never freed
// before their Registry.
//
// CONSISTENCY. Rendering reads the atomics without stopping writers, so one
// histogram's _sum may lag its buckets by the observations in flight. Its
// buckets, +Inf and _count are always consistent: _count is the sum of the
// buckets as read.
//
// LIMITS (STYLE §7). A family has at most series_max label sets (default 64,
// at most kSeriesMaxLimit). Past that, every new label set shares ONE overflow
// series whose label values all read "overflow", so a caller that passes raw
// paths or ids instead of route patterns cannot grow memory or the scrape
// without bound, and the overflow is visible. A registry holds at most
// kFamiliesMax families; a layout at most kBoundsMax bounds; a family at most
// kLabelsMax label names.
//
// Threads: any thread may update any series, create series and render. A
// Registry and its families live as long as the process part that owns them
// (the node); references to series stay valid that long.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace synod::server::metrics {

inline constexpr size_t kFamiliesMax = 256;
inline constexpr size_t kSeriesMaxDefault = 64;
inline constexpr size_t kSeriesMaxLimit = 1024;
inline constexpr size_t kBoundsMax = 128;
inline constexpr size_t kLabelsMax = 8;
inline constexpr std::string_view kOverflowValue = "overflow";

// ---- bucket layouts ----
// The upper bounds of a histogram's buckets, ascending and finite; the +Inf
// bucket is implicit. A value v falls in the first bucket whose bound >= v
// (Prometheus' "le").
class Layout {
 public:
  // 100 µs to 10 s, at most 1.5 between neighbours (1, 1.5, 2, 3, 4, 5, 6, 8
  // per decade): latencies, syncs, snapshots. 41 bounds.
  static const Layout& seconds();
  // 100 µs to 10 s, 1-2.5-5 per decade: for families with many label sets
  // (HTTP routes × statuses), where 41 buckets per series would weigh on the
  // scrape. 16 bounds.
  static const Layout& seconds_coarse();
  // 1 to 65536, powers of two: commands per batch, Readies per sync.
  static const Layout& counts();
  // seconds() plus a bound every `step` from `from` to `to`, for values that
  // cluster where seconds() is coarse: heartbeat gaps near the configured
  // interval, election durations near the election timeout. Still covers
  // 100 µs to 10 s.
  static Layout seconds_dense(double from, double to, double step);

  explicit Layout(std::vector<double> bounds);  // asserts ascending, finite, <= kBoundsMax
  std::span<const double> bounds() const { return bounds_; }
  // The bucket of `v`: the first bound >= v, or bounds().size() for +Inf.
  size_t index(double v) const;

 private:
  std::vector<double> bounds_;
};

// ---- series ----
class Counter {
 public:
  void inc(uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  // For a counter that mirrors a monotonic count kept elsewhere (read at
  // scrape time): moves up to `total`, never down.
  void raise_to(uint64_t total) noexcept;
  uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) noexcept {
    value_.store(v, std::memory_order_relaxed);
    present_.store(true, std::memory_order_relaxed);
  }
  void add(double delta) noexcept {
    value_.fetch_add(delta, std::memory_order_relaxed);
    present_.store(true, std::memory_order_relaxed);
  }
  // Not rendered until set again: for a value that means nothing in this
  // node's current role (a follower has no view of its peers' lag).
  void hide() noexcept { present_.store(false, std::memory_order_relaxed); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }
  bool present() const noexcept { return present_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
  std::atomic<bool> present_{true};
};

// The counts of one histogram at one moment (or between two moments).
struct HistogramSnapshot {
  const Layout* layout = nullptr;
  std::vector<uint64_t> buckets;  // per bucket, NOT cumulative; the last is +Inf
  double sum = 0;

  uint64_t count() const;
  // What was observed after `earlier` (a snapshot of the same histogram).
  HistogramSnapshot since(const HistogramSnapshot& earlier) const;
};

// The q-quantile (0 <= q <= 1) as Prometheus' histogram_quantile estimates
// it: linear interpolation inside the bucket that holds the rank, the lower
// edge of the first bucket being 0; a rank in +Inf answers the highest finite
// bound. NaN when the snapshot is empty.
double quantile(const HistogramSnapshot& snapshot, double q);

class Histogram {
 public:
  // `layout` must outlive the histogram (the registry keeps its layouts).
  explicit Histogram(const Layout& layout);
  explicit Histogram(const Layout&& layout) = delete;
  // Drops NaN (a broken measurement must not poison _sum).
  void observe(double v) noexcept;
  HistogramSnapshot snapshot() const;
  const Layout& layout() const { return layout_; }

 private:
  const Layout& layout_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds + 1
  std::atomic<double> sum_{0};
};

// ---- families ----
enum class Type : uint8_t { counter, gauge, histogram };

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names,
             size_t series_max);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  Type type() const { return type_; }
  size_t label_count() const { return label_names_.size(); }
  // Appends # HELP, # TYPE and every series.
  void render(std::string& out) const;

 protected:
  struct Key {
    std::vector<std::string> values;
    uint64_t hash = 0;
  };
  static uint64_t hash_values(std::span<const std::string_view> values);
  // Appends `name{labels}` (with `extra` as one more label, for "le").
  void render_name(std::string& out, std::string_view suffix, const Key& key, std::string_view extra_name,
                   std::string_view extra_value) const;
  virtual void render_series(std::string& out) const = 0;

  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
  const size_t series_max_;
};

template <class S>
class Family final : public FamilyBase {
 public:
  // `layout`: the buckets of every series (histograms only; null otherwise).
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names, size_t series_max,
         const Layout* layout);

  // The series for these label values, one per label name, in order.
  S& with(std::initializer_list<std::string_view> values) { return with(std::span(values.begin(), values.size())); }
  S& with(std::span<const std::string_view> values);
  // The one series of a family without labels.
  S& only() { return with(std::span<const std::string_view>{}); }
  // Calls fn(values, series) for every label set created so far (not the
  // overflow series). Any thread.
  template <class Fn>
  void each(Fn&& fn) const {
    const size_t n = size_.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i) fn(entries_[i]->key.values, entries_[i]->series);
  }

 private:
  struct Entry {
    template <class... Args>
    explicit Entry(Key k, const Args&... args) : key(std::move(k)), series(args...) {}
    Key key;
    S series;
  };
  std::unique_ptr<Entry> make_entry(Key key) const;
  static bool matches(const Entry& entry, std::span<const std::string_view> values, uint64_t hash);
  void render_series(std::string& out) const override;
  void render_one(std::string& out, const Entry& entry) const;

  const Layout* layout_;
  std::unique_ptr<std::unique_ptr<Entry>[]> entries_;  // series_max slots
  std::atomic<size_t> size_{0};  // entries_[0, size_) are published and never change
  std::unique_ptr<Entry> overflow_;
  std::atomic<bool> overflowed_{false};
  std::mutex create_mutex_;
};

// ---- the registry ----
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Names follow Prometheus (base units, _total for counters); a bad or
  // duplicate name, or a label named "le" on a histogram, is a programmer
  // error and asserts.
  Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> label_names = {},
                           size_t series_max = kSeriesMaxDefault);
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> label_names = {},
                       size_t series_max = kSeriesMaxDefault);
  // The registry keeps its own copy of `layout`.
  Family<Histogram>& histogram(std::string name, std::string help, Layout layout,
                               std::vector<std::string> label_names = {}, size_t series_max = kSeriesMaxDefault);

  // The whole exposition, families in registration order.
  std::string render() const;

 private:
  void check_new(const std::string& name, const std::vector<std::string>& label_names, size_t series_max) const;

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
  std::deque<Layout> layouts_;  // stable addresses for the histograms that use them
};

// ---- rendering helpers (exposed for the tests) ----
// A label value with \, " and newline escaped.
std::string escape_label_value(std::string_view value);
// A sample value: shortest round-trip decimal, +Inf, -Inf or NaN.
std::string format_value(double v);
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// ---- windows: the recent history of one histogram ----
// Summaries of what one histogram observed in consecutive windows (the
// status page's "p50/p99 per 10 s over the last 10 minutes"), from bucket
// deltas: no work per observation. Owned by one thread (the node's owner loop).
struct WindowSummary {
  int64_t end_ms = 0;  // the caller's clock
  uint64_t count = 0;
  double mean = 0;     // exact (sum / count); NaN when empty
  double p50 = 0;      // estimated from the buckets; NaN when empty
  double p99 = 0;
};

class HistogramWindows {
 public:
  HistogramWindows(const Histogram& histogram, size_t windows_max);
  // Closes the open window at `now_ms` and opens the next.
  void close(int64_t now_ms);
  // The open window so far, as if it closed at `now_ms`.
  WindowSummary open(int64_t now_ms) const;
  const std::deque<WindowSummary>& closed() const { return closed_; }

 private:
  WindowSummary summarize(const HistogramSnapshot& delta, int64_t end_ms) const;

  const Histogram& histogram_;
  const size_t windows_max_;
  HistogramSnapshot start_;
  std::deque<WindowSummary> closed_;
};

}  // namespace synod::server::metrics
