// search.cpp — Lowe's linked-list search with porcupine's memo. See search.h.
#include "tools/lincheck/search.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "base/assert.h"

namespace synod::lincheck {
namespace {

using Index = std::uint32_t;
constexpr Index none = std::numeric_limits<Index>::max();
// How often the loop looks at the clock and the memory: rarely enough to cost nothing, often
// enough to stop within a millisecond or so of the deadline.
constexpr std::uint64_t limit_check_steps = 4096;
constexpr std::size_t memo_slots_min = 1024;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The history as Lowe's list: every operation has a call entry and, unless optional, a return
// entry, in real-time order. Linearizing an operation lifts both entries out of the list;
// backtracking puts them back (the links of a lifted entry still point at its old neighbours).
class EntryList {
 public:
  explicit EntryList(const std::vector<Interval>& intervals);

  Index first() const { return entries_[head].next; }
  Index next(Index entry) const { return entries_[entry].next; }
  bool is_call(Index entry) const { return entries_[entry].call; }
  Index operation(Index entry) const { return entries_[entry].operation; }
  void lift(Index call);
  void unlift(Index call);
  std::size_t memory_bytes() const { return entries_.capacity() * sizeof(Entry); }

 private:
  struct Entry {
    Index operation = none;
    bool call = false;
    Index prev = none;
    Index next = none;
    Index match = none;  // a call's return entry; none for an optional operation
  };
  static constexpr Index head = 0;

  void unlink(Index entry);
  void relink(Index entry);

  std::vector<Entry> entries_;  // entries_[0] is the head sentinel
};

EntryList::EntryList(const std::vector<Interval>& intervals) {
  struct Event {
    std::int64_t time;
    int is_return;  // calls before returns at equal times: such operations are concurrent
    Index operation;
  };
  std::vector<Event> events;
  events.reserve(intervals.size() * 2);
  for (Index i = 0; i < intervals.size(); ++i) {
    events.push_back({intervals[i].invoke_time, 0, i});
    if (!intervals[i].optional) events.push_back({intervals[i].complete_time, 1, i});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return std::tie(a.time, a.is_return, a.operation) < std::tie(b.time, b.is_return, b.operation);
  });
  entries_.resize(events.size() + 1);
  std::vector<Index> call_of(intervals.size(), none);
  for (Index i = 0; i < events.size(); ++i) {
    Entry& entry = entries_[i + 1];
    entry = Entry{events[i].operation, events[i].is_return == 0, i, i + 2 <= events.size() ? i + 2 : none, none};
    if (entry.call) call_of[entry.operation] = i + 1;
    if (!entry.call) entries_[call_of[entry.operation]].match = i + 1;
  }
  entries_[head].next = events.empty() ? none : 1;
}

void EntryList::unlink(Index entry) {
  const Entry& e = entries_[entry];
  entries_[e.prev].next = e.next;
  if (e.next != none) entries_[e.next].prev = e.prev;
}

void EntryList::relink(Index entry) {
  const Entry& e = entries_[entry];
  entries_[e.prev].next = entry;
  if (e.next != none) entries_[e.next].prev = entry;
}

void EntryList::lift(Index call) {
  unlink(call);
  if (entries_[call].match != none) unlink(entries_[call].match);
}

void EntryList::unlift(Index call) {
  if (entries_[call].match != none) relink(entries_[call].match);
  relink(call);
}

// One region of the linearized set. The search linearizes operations roughly in invocation order,
// so the bits read as all ones, then a short span, then all zeros. A memo key stores the span
// alone, which keeps an entry small however long the history is.
class Region {
 public:
  explicit Region(std::size_t bits) : words_((bits + 63) / 64) {}

  void flip(std::size_t bit);
  // Appends [number of leading all-ones words, span length, span words...].
  void append_key(std::vector<std::uint64_t>& key) const {
    key.push_back(full_);
    key.push_back(end_ - full_);
    key.insert(key.end(), words_.begin() + static_cast<std::ptrdiff_t>(full_),
               words_.begin() + static_cast<std::ptrdiff_t>(end_));
  }

 private:
  std::vector<std::uint64_t> words_;
  std::size_t full_ = 0;  // leading words with every bit set
  std::size_t end_ = 0;   // one past the last word with any bit set; full_ <= end_
};

void Region::flip(std::size_t bit) {
  std::size_t word = bit / 64;
  words_[word] ^= std::uint64_t{1} << (bit % 64);
  full_ = std::min(full_, word);
  while (full_ < words_.size() && words_[full_] == ~std::uint64_t{0}) ++full_;
  if (words_[word] != 0) end_ = std::max(end_, word + 1);
  while (end_ > 0 && words_[end_ - 1] == 0) --end_;
}

// The set of operations linearized so far. Required operations and optional ones (outcome
// unknown) sit in separate regions, each in invocation order: an optional operation that never
// takes effect would otherwise stop the run of leading ones for the rest of the history. A
// Zobrist hash of the set is kept up to date in O(1).
class Linearized {
 public:
  explicit Linearized(const std::vector<Interval>& intervals);

  void flip(Index operation) {
    regions_[places_[operation].region].flip(places_[operation].bit);
    hash_ ^= zobrist_[operation];
  }
  std::uint64_t hash() const { return hash_; }
  const std::vector<std::uint64_t>& key() {
    key_.clear();
    for (const Region& region : regions_) region.append_key(key_);
    return key_;
  }

 private:
  struct Place {
    std::uint8_t region;  // 0 required, 1 optional
    std::size_t bit;
  };

  std::vector<Place> places_;
  std::vector<Region> regions_;
  std::vector<std::uint64_t> zobrist_;
  std::vector<std::uint64_t> key_;  // reused by key()
  std::uint64_t hash_ = 0;
};

Linearized::Linearized(const std::vector<Interval>& intervals) : places_(intervals.size()), zobrist_(intervals.size()) {
  std::vector<Index> order(intervals.size());
  for (Index i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](Index a, Index b) {
    return std::tie(intervals[a].invoke_time, a) < std::tie(intervals[b].invoke_time, b);
  });
  std::size_t counts[2] = {0, 0};
  for (Index operation : order) {
    std::uint8_t region = intervals[operation].optional ? 1 : 0;
    places_[operation] = Place{region, counts[region]++};
    zobrist_[operation] = splitmix64(operation);
  }
  regions_.emplace_back(counts[0]);
  regions_.emplace_back(counts[1]);
}

// The configurations explored: (linearized set, state), in an open-addressing table over flat
// arrays. An entry costs its compressed key plus 20 bytes; growth is checked against the budget
// before any array grows.
class Memo {
 public:
  enum class Insert : std::uint8_t { inserted, present, full };

  explicit Memo(std::size_t bytes_max) : offsets_{0}, bytes_max_(bytes_max) {}
  Insert insert(const std::vector<std::uint64_t>& key, std::uint64_t set_hash, StateId state);
  std::size_t size() const { return states_.size(); }
  std::size_t memory_bytes() const {
    return (keys_.capacity() + offsets_.capacity() + hashes_.capacity()) * sizeof(std::uint64_t) +
           states_.capacity() * sizeof(StateId) + slots_.capacity() * sizeof(Index);
  }

 private:
  bool make_room(std::size_t key_words);
  bool equal(Index entry, const std::vector<std::uint64_t>& key, StateId state) const {
    return states_[entry] == state && offsets_[entry + 1] - offsets_[entry] == key.size() &&
           std::equal(key.begin(), key.end(), keys_.data() + offsets_[entry]);
  }
  void place(Index entry);

  std::vector<std::uint64_t> keys_;     // every entry's key, back to back
  std::vector<std::uint64_t> offsets_;  // entry i's key is keys_[offsets_[i], offsets_[i + 1])
  std::vector<StateId> states_;
  std::vector<std::uint64_t> hashes_;
  std::vector<Index> slots_;  // none if empty, else an entry
  std::size_t bytes_max_;
};

Memo::Insert Memo::insert(const std::vector<std::uint64_t>& key, std::uint64_t set_hash, StateId state) {
  if (!make_room(key.size())) return Insert::full;
  std::uint64_t hash = set_hash ^ splitmix64(std::uint64_t{state} + 0x5bd1e995ULL);
  std::size_t mask = slots_.size() - 1;
  for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    Index entry = slots_[slot];
    if (entry == none) break;
    if (hashes_[entry] == hash && equal(entry, key, state)) return Insert::present;
  }
  SYNOD_ASSERT(states_.size() < none);
  keys_.insert(keys_.end(), key.begin(), key.end());
  offsets_.push_back(keys_.size());
  states_.push_back(state);
  hashes_.push_back(hash);
  place(static_cast<Index>(states_.size() - 1));
  return Insert::inserted;
}

void Memo::place(Index entry) {
  std::size_t mask = slots_.size() - 1;
  std::size_t slot = hashes_[entry] & mask;
  while (slots_[slot] != none) slot = (slot + 1) & mask;
  slots_[slot] = entry;
}

// Keeps the table at most half full and every array able to take one more entry, reserving by
// doubling only while the total stays within the budget.
bool Memo::make_room(std::size_t key_words) {
  std::size_t entries = states_.size() + 1;
  std::size_t slots = std::max(slots_.size(), memo_slots_min);
  while (entries * 2 > slots) slots *= 2;
  std::size_t capacity = std::max(states_.capacity(), memo_slots_min / 2);
  while (entries > capacity) capacity *= 2;
  std::size_t words = std::max(keys_.capacity(), memo_slots_min);
  while (keys_.size() + key_words > words) words *= 2;
  std::size_t bytes = (words + capacity * 3) * sizeof(std::uint64_t) + capacity * sizeof(StateId) + slots * sizeof(Index);
  if (bytes > bytes_max_) return false;
  keys_.reserve(words);
  offsets_.reserve(capacity + 1);
  states_.reserve(capacity);
  hashes_.reserve(capacity);
  if (slots != slots_.size()) {
    slots_.assign(slots, none);
    for (Index entry = 0; entry < states_.size(); ++entry) place(entry);
  }
  return true;
}

// The search's position: the linearized set, the object's state, and how to undo each step.
class Search {
 public:
  Search(const std::vector<Interval>& intervals, SequentialObject& object, const SearchLimits& limits)
      : list_(intervals), linearized_(intervals), object_(object), limits_(limits), memo_(limits.memory_bytes_max),
        state_(object.initial()) {
    SYNOD_ASSERT(intervals.size() < none / 2);
    frames_.reserve(intervals.size());
  }

  SearchResult run();

 private:
  struct Frame {
    Index call;
    StateId state_before;
  };

  Stop over_limits(std::uint64_t steps) const;
  // At a call entry: linearize its operation here if the object allows it and the configuration
  // is new. Returns whether it did.
  bool try_linearize(Index call, SearchResult& result);
  void note_blocking(Index return_entry, SearchResult& result);
  Index backtrack();

  EntryList list_;
  Linearized linearized_;
  SequentialObject& object_;
  const SearchLimits& limits_;
  Memo memo_;
  StateId state_;
  std::vector<Frame> frames_;
  std::size_t blocking_depth_ = 0;  // 1 + the depth of the latest blocking return noted
  bool memo_full_ = false;
};

SearchResult Search::run() {
  SearchResult result;
  Index entry = list_.first();
  for (;;) {
    result.stop = memo_full_ ? Stop::memory : over_limits(++result.steps);
    if (result.stop != Stop::none) {
      result.verdict = Verdict::unknown;
      break;
    }
    // Past the last entry with every return passed: what remains are optional operations, which
    // may never take effect. Every required operation is linearized.
    if (entry == none) {
      result.verdict = Verdict::linearizable;
      break;
    }
    if (list_.is_call(entry)) {
      entry = try_linearize(entry, result) ? list_.first() : list_.next(entry);
      continue;
    }
    // A return entry: its operation must have been linearized before now. Undo the last step.
    note_blocking(entry, result);
    if (frames_.empty()) {
      result.verdict = Verdict::not_linearizable;
      break;
    }
    entry = backtrack();
  }
  result.memo_entries = memo_.size();
  return result;
}

Stop Search::over_limits(std::uint64_t steps) const {
  if (steps > limits_.steps_max) return Stop::steps;
  if (steps % limit_check_steps != 0) return Stop::none;
  if (std::chrono::steady_clock::now() >= limits_.deadline) return Stop::time;
  if (memo_.memory_bytes() + object_.memory_bytes() + list_.memory_bytes() > limits_.memory_bytes_max) {
    return Stop::memory;
  }
  return Stop::none;
}

bool Search::try_linearize(Index call, SearchResult& result) {
  Index operation = list_.operation(call);
  std::optional<StateId> next = object_.step(state_, operation);
  if (!next) return false;
  linearized_.flip(operation);
  Memo::Insert inserted = memo_.insert(linearized_.key(), linearized_.hash(), *next);
  if (inserted != Memo::Insert::inserted) {
    linearized_.flip(operation);
    memo_full_ = inserted == Memo::Insert::full;
    return false;
  }
  frames_.push_back({call, state_});
  state_ = *next;
  list_.lift(call);
  result.linearized_max = std::max(result.linearized_max, frames_.size());
  return true;
}

// Remembers the first return entry met at each new depth; the last one kept is the deepest.
void Search::note_blocking(Index return_entry, SearchResult& result) {
  if (frames_.size() + 1 <= blocking_depth_) return;
  blocking_depth_ = frames_.size() + 1;
  result.blocking_operation = list_.operation(return_entry);
}

// Undoes the latest linearization and resumes after the entry it linearized.
Index Search::backtrack() {
  Frame frame = frames_.back();
  frames_.pop_back();
  state_ = frame.state_before;
  linearized_.flip(list_.operation(frame.call));
  list_.unlift(frame.call);
  return list_.next(frame.call);
}

}  // namespace

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::linearizable:
      return "linearizable";
    case Verdict::not_linearizable:
      return "not-linearizable";
    case Verdict::unknown:
      return "unknown";
  }
  return "?";
}

SearchResult search(const std::vector<Interval>& intervals, SequentialObject& object, const SearchLimits& limits) {
  Search search(intervals, object, limits);
  return search.run();
}

}  // namespace synod::lincheck
