#include "server/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <type_traits>

#include "base/assert.h"

namespace synod::server::metrics {

// ------------------------------------------------------------------ layouts

Layout::Layout(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  SYNOD_ASSERT_MSG(!bounds_.empty() && bounds_.size() <= kBoundsMax, "a layout has 1 to kBoundsMax bounds");
  for (size_t i = 0; i < bounds_.size(); ++i) {
    SYNOD_ASSERT_MSG(std::isfinite(bounds_[i]), "bounds are finite; +Inf is implicit");
    SYNOD_ASSERT_MSG(i == 0 || bounds_[i - 1] < bounds_[i], "bounds ascend strictly");
  }
}

const Layout& Layout::seconds() {
  // Literals rather than products, so each bound is the double nearest its
  // decimal and renders as that decimal in le="...".
  static const Layout layout({0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0005, 0.0006, 0.0008,  //
                              0.001,  0.0015,  0.002,  0.003,  0.004,  0.005,  0.006,  0.008,   //
                              0.01,   0.015,   0.02,   0.03,   0.04,   0.05,   0.06,   0.08,    //
                              0.1,    0.15,    0.2,    0.3,    0.4,    0.5,    0.6,    0.8,     //
                              1,      1.5,     2,      3,      4,      5,      6,      8,       //
                              10});
  return layout;
}

const Layout& Layout::seconds_coarse() {
  static const Layout layout({0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                              2.5, 5, 10});
  return layout;
}

const Layout& Layout::counts() {
  static const Layout layout([] {
    std::vector<double> bounds;
    for (int shift = 0; shift <= 16; ++shift) bounds.push_back(static_cast<double>(uint64_t{1} << shift));
    return bounds;
  }());
  return layout;
}

Layout Layout::seconds_dense(double from, double to, double step) {
  SYNOD_ASSERT(from > 0 && to > from && step > 0);
  SYNOD_ASSERT_MSG((to - from) / step < static_cast<double>(kBoundsMax - seconds().bounds().size()),
                   "a dense range must leave the layout within kBoundsMax bounds");
  std::vector<double> bounds(seconds().bounds().begin(), seconds().bounds().end());
  const auto steps = static_cast<int64_t>(std::floor((to - from) / step + 1e-9));
  for (int64_t i = 0; i <= steps; ++i) {
    // Rounded to the microsecond, so that 0.05 + 3 * 0.001 is the double
    // nearest 0.053 and renders as le="0.053".
    bounds.push_back(std::round((from + static_cast<double>(i) * step) * 1e6) / 1e6);
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end(), [](double a, double b) { return std::fabs(a - b) < 1e-9; }),
               bounds.end());
  return Layout(std::move(bounds));
}

size_t Layout::index(double v) const {
  return static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
}

// ------------------------------------------------------------------- series

void Counter::raise_to(uint64_t total) noexcept {
  uint64_t current = value_.load(std::memory_order_relaxed);
  while (current < total && !value_.compare_exchange_weak(current, total, std::memory_order_relaxed)) {
  }
}

uint64_t HistogramSnapshot::count() const {
  uint64_t total = 0;
  for (uint64_t n : buckets) total += n;
  return total;
}

HistogramSnapshot HistogramSnapshot::since(const HistogramSnapshot& earlier) const {
  SYNOD_ASSERT(earlier.buckets.size() == buckets.size());
  HistogramSnapshot delta{layout, buckets, sum - earlier.sum};
  for (size_t i = 0; i < buckets.size(); ++i) {
    delta.buckets[i] = buckets[i] >= earlier.buckets[i] ? buckets[i] - earlier.buckets[i] : 0;
  }
  return delta;
}

double quantile(const HistogramSnapshot& snapshot, double q) {
  const uint64_t total = snapshot.count();
  if (total == 0 || snapshot.layout == nullptr) return std::nan("");
  const auto bounds = snapshot.layout->bounds();
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  uint64_t below = 0;
  for (size_t b = 0; b < snapshot.buckets.size(); ++b) {
    const uint64_t in = snapshot.buckets[b];
    if (in == 0 || static_cast<double>(below + in) < rank) {
      below += in;
      continue;
    }
    if (b == bounds.size()) return bounds.back();  // +Inf: the highest finite bound, as Prometheus
    const double start = b == 0 ? 0.0 : bounds[b - 1];
    const double fraction = std::max(0.0, rank - static_cast<double>(below)) / static_cast<double>(in);
    return start + (bounds[b] - start) * fraction;
  }
  return bounds.back();
}

Histogram::Histogram(const Layout& layout)
    : layout_(layout), buckets_(std::make_unique<std::atomic<uint64_t>[]>(layout.bounds().size() + 1)) {}

void Histogram::observe(double v) noexcept {
  if (std::isnan(v)) return;
  buckets_[layout_.index(v)].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot snapshot;
  snapshot.layout = &layout_;
  const size_t n = layout_.bounds().size() + 1;
  snapshot.buckets.resize(n);
  for (size_t i = 0; i < n; ++i) snapshot.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

// -------------------------------------------------------------- formatting

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;  // __ is reserved for Prometheus itself
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string escape_help(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void append_uint(std::string& out, uint64_t v) {
  char text[24];
  const auto result = std::to_chars(text, text + sizeof text, v);
  out.append(text, result.ptr);
}

const char* type_name(Type type) {
  switch (type) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char text[64];
  const double magnitude = std::fabs(v);
  // Plain decimals where they are short (le="0.0001", not "1e-04"), as the
  // Go client writes them; exponents only for the very small or large.
  const auto format = (magnitude == 0 || (magnitude >= 1e-6 && magnitude < 1e15)) ? std::chars_format::fixed
                                                                                  : std::chars_format::general;
  const auto result = std::to_chars(text, text + sizeof text, v, format);
  return std::string(text, result.ptr);
}

// ---------------------------------------------------------------- families

FamilyBase::FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names,
                       size_t series_max)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      series_max_(series_max) {}

uint64_t FamilyBase::hash_values(std::span<const std::string_view> values) {
  uint64_t hash = 1469598103934665603ULL;  // FNV-1a, with a separator between values
  for (const auto value : values) {
    for (char c : value) hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
    hash = (hash ^ 0xffu) * 1099511628211ULL;
  }
  return hash;
}

void FamilyBase::render(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  out += escape_help(help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
  render_series(out);
}

void FamilyBase::render_name(std::string& out, std::string_view suffix, const Key& key, std::string_view extra_name,
                             std::string_view extra_value) const {
  out += name_;
  out += suffix;
  if (label_names_.empty() && extra_name.empty()) return;
  out += '{';
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (i > 0) out += ',';
    out += label_names_[i];
    out += "=\"";
    out += escape_label_value(key.values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!label_names_.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

template <class S>
Family<S>::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
                  size_t series_max, const Layout* layout)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names), series_max),
      layout_(layout),
      entries_(std::make_unique<std::unique_ptr<Entry>[]>(series_max)) {
  SYNOD_ASSERT((layout_ != nullptr) == (std::is_same_v<S, Histogram>));
  Key overflow;
  overflow.values.assign(label_names_.size(), std::string(kOverflowValue));
  overflow_ = make_entry(std::move(overflow));
}

template <class S>
std::unique_ptr<typename Family<S>::Entry> Family<S>::make_entry(Key key) const {
  if constexpr (std::is_same_v<S, Histogram>) {
    return std::make_unique<Entry>(std::move(key), *layout_);
  } else {
    return std::make_unique<Entry>(std::move(key));
  }
}

template <class S>
bool Family<S>::matches(const Entry& entry, std::span<const std::string_view> values, uint64_t hash) {
  if (entry.key.hash != hash) return false;
  for (size_t i = 0; i < values.size(); ++i) {
    if (entry.key.values[i] != values[i]) return false;
  }
  return true;
}

template <class S>
S& Family<S>::with(std::span<const std::string_view> values) {
  SYNOD_ASSERT_MSG(values.size() == label_names_.size(), "one value per label name");
  const uint64_t hash = hash_values(values);
  const size_t published = size_.load(std::memory_order_acquire);
  for (size_t i = 0; i < published; ++i) {
    if (matches(*entries_[i], values, hash)) return entries_[i]->series;
  }
  std::lock_guard<std::mutex> lock(create_mutex_);
  const size_t size = size_.load(std::memory_order_relaxed);
  for (size_t i = published; i < size; ++i) {  // created by another thread meanwhile
    if (matches(*entries_[i], values, hash)) return entries_[i]->series;
  }
  if (size == series_max_) {
    overflowed_.store(true, std::memory_order_relaxed);
    return overflow_->series;
  }
  Key key;
  key.values.assign(values.begin(), values.end());
  key.hash = hash;
  entries_[size] = make_entry(std::move(key));
  size_.store(size + 1, std::memory_order_release);
  return entries_[size]->series;
}

template <class S>
void Family<S>::render_series(std::string& out) const {
  const size_t published = size_.load(std::memory_order_acquire);
  for (size_t i = 0; i < published; ++i) render_one(out, *entries_[i]);
  if (overflowed_.load(std::memory_order_relaxed)) render_one(out, *overflow_);
}

template <class S>
void Family<S>::render_one(std::string& out, const Entry& entry) const {
  if constexpr (std::is_same_v<S, Counter>) {
    render_name(out, "", entry.key, {}, {});
    out += ' ';
    append_uint(out, entry.series.value());
    out += '\n';
  } else if constexpr (std::is_same_v<S, Gauge>) {
    if (!entry.series.present()) return;
    render_name(out, "", entry.key, {}, {});
    out += ' ';
    out += format_value(entry.series.value());
    out += '\n';
  } else {
    const HistogramSnapshot snapshot = entry.series.snapshot();
    const auto bounds = snapshot.layout->bounds();
    uint64_t cumulative = 0;
    for (size_t b = 0; b < snapshot.buckets.size(); ++b) {
      cumulative += snapshot.buckets[b];
      render_name(out, "_bucket", entry.key, "le", b < bounds.size() ? format_value(bounds[b]) : "+Inf");
      out += ' ';
      append_uint(out, cumulative);
      out += '\n';
    }
    render_name(out, "_sum", entry.key, {}, {});
    out += ' ';
    out += format_value(snapshot.sum);
    out += '\n';
    render_name(out, "_count", entry.key, {}, {});
    out += ' ';
    append_uint(out, cumulative);
    out += '\n';
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------- registry

void Registry::check_new(const std::string& name, const std::vector<std::string>& label_names,
                         size_t series_max) const {
  SYNOD_ASSERT_MSG(valid_metric_name(name), name.c_str());
  SYNOD_ASSERT_MSG(families_.size() < kFamiliesMax, "too many metric families");
  SYNOD_ASSERT_MSG(label_names.size() <= kLabelsMax, name.c_str());
  SYNOD_ASSERT_MSG(series_max >= 1 && series_max <= kSeriesMaxLimit, name.c_str());
  for (const auto& family : families_) SYNOD_ASSERT_MSG(family->name() != name, name.c_str());
  for (size_t i = 0; i < label_names.size(); ++i) {
    SYNOD_ASSERT_MSG(valid_label_name(label_names[i]), label_names[i].c_str());
    for (size_t j = 0; j < i; ++j) SYNOD_ASSERT_MSG(label_names[i] != label_names[j], label_names[i].c_str());
  }
}

Family<Counter>& Registry::counter(std::string name, std::string help, std::vector<std::string> label_names,
                                   size_t series_max) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_new(name, label_names, series_max);
  auto family = std::make_unique<Family<Counter>>(std::move(name), std::move(help), Type::counter,
                                                  std::move(label_names), series_max, nullptr);
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

Family<Gauge>& Registry::gauge(std::string name, std::string help, std::vector<std::string> label_names,
                               size_t series_max) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_new(name, label_names, series_max);
  auto family = std::make_unique<Family<Gauge>>(std::move(name), std::move(help), Type::gauge,
                                                std::move(label_names), series_max, nullptr);
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

Family<Histogram>& Registry::histogram(std::string name, std::string help, Layout layout,
                                       std::vector<std::string> label_names, size_t series_max) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_new(name, label_names, series_max);
  for (const auto& label : label_names) SYNOD_ASSERT_MSG(label != "le", "le is the bucket label of a histogram");
  layouts_.push_back(std::move(layout));
  auto family = std::make_unique<Family<Histogram>>(std::move(name), std::move(help), Type::histogram,
                                                    std::move(label_names), series_max, &layouts_.back());
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  out.reserve(families_.size() * 256);
  for (const auto& family : families_) family->render(out);
  return out;
}

// ----------------------------------------------------------------- windows

HistogramWindows::HistogramWindows(const Histogram& histogram, size_t windows_max)
    : histogram_(histogram), windows_max_(windows_max), start_(histogram.snapshot()) {
  SYNOD_ASSERT(windows_max_ >= 1);
}

void HistogramWindows::close(int64_t now_ms) {
  auto now = histogram_.snapshot();
  closed_.push_back(summarize(now.since(start_), now_ms));
  while (closed_.size() > windows_max_) closed_.pop_front();
  start_ = std::move(now);
}

WindowSummary HistogramWindows::open(int64_t now_ms) const {
  return summarize(histogram_.snapshot().since(start_), now_ms);
}

WindowSummary HistogramWindows::summarize(const HistogramSnapshot& delta, int64_t end_ms) const {
  WindowSummary summary;
  summary.end_ms = end_ms;
  summary.count = delta.count();
  summary.mean = summary.count == 0 ? std::nan("") : delta.sum / static_cast<double>(summary.count);
  summary.p50 = quantile(delta, 0.5);
  summary.p99 = quantile(delta, 0.99);
  return summary;
}

}  // namespace synod::server::metrics
