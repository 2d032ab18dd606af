// models.cpp — the register, kv and lock specifications, and the split of a history by key.
//
// Each object compiles its operations once, when the history is prepared, so that step() does as
// little as possible: the search calls it millions of times. Values are interned up front where an
// operation's result does not depend on the state (write, put, the expected value of a read), and
// transitions that build new states (append, acquire) are cached per (state, operation).
#include "tools/lincheck/models.h"

#include <functional>
#include <limits>
#include <unordered_map>
#include <utility>

#include "base/assert.h"

namespace synod::lincheck {
namespace {

constexpr std::size_t map_entry_overhead_bytes = 64;
constexpr StateId no_state = std::numeric_limits<StateId>::max();

std::size_t heap_bytes(const Value& value) { return value.text.capacity() + value.items.capacity() * sizeof(Value); }

// Equal states get equal ids, so the search compares and stores 4-byte ids.
template <class State, class Hash>
class Interner {
 public:
  StateId intern(const State& state) {
    auto [entry, inserted] = ids_.try_emplace(state, static_cast<StateId>(states_.size()));
    if (inserted) {
      SYNOD_ASSERT(states_.size() < no_state);
      states_.push_back(&entry->first);
      bytes_ += sizeof(State) + heap_bytes(state) + map_entry_overhead_bytes;
    }
    return entry->second;
  }
  const State& at(StateId id) const { return *states_[id]; }
  std::size_t memory_bytes() const { return bytes_; }

 private:
  std::unordered_map<State, StateId, Hash> ids_;
  std::vector<const State*> states_;  // by id; unordered_map nodes do not move
  std::size_t bytes_ = 0;
};

// Results of step() for steps that build a new state, by (state, operation).
class Transitions {
 public:
  template <class Compute>
  std::optional<StateId> get(StateId state, std::size_t operation, Compute compute) {
    SYNOD_ASSERT(operation <= std::numeric_limits<std::uint32_t>::max());
    std::uint64_t key = (std::uint64_t{state} << 32) | operation;
    auto [entry, inserted] = cache_.try_emplace(key, no_state);
    if (inserted) entry->second = compute().value_or(no_state);
    if (entry->second == no_state) return std::nullopt;
    return entry->second;
  }
  std::size_t memory_bytes() const { return cache_.size() * (sizeof(std::uint64_t) * 2 + map_entry_overhead_bytes); }

 private:
  std::unordered_map<std::uint64_t, StateId> cache_;
};

// What add() did with an operation.
enum class Fit : std::uint8_t { kept, dropped, invalid };

// An object that compiles its partition's operations as they are added.
class CompiledObject : public SequentialObject {
 public:
  // Checks that the operation fits the model (else sets error) and keeps it if it can matter.
  virtual Fit add(const Operation& operation, std::string& error) = 0;
};

// A read of unknown outcome observed nothing we know, and a failed operation did not take effect:
// neither can constrain the search.
bool matters(const Operation& operation, bool read_only) {
  if (operation.status == Status::fail) return false;
  return !(read_only && operation.status == Status::info);
}

// ---- register: read / write / cas / delete on one value ----------------------------------------

enum class RegisterFunction : std::uint8_t { read, write, cas, erase };

struct RegisterOperation {
  RegisterFunction function;
  StateId argument;     // read: the value read; write: the value written; cas: the value compared
  StateId replacement;  // cas: the value set
};

class Register final : public CompiledObject {
 public:
  Register() : nil_(values_.intern(Value())) {}

  Fit add(const Operation& operation, std::string& error) override;
  StateId initial() override { return nil_; }
  std::optional<StateId> step(StateId state, std::size_t operation) override;
  std::size_t memory_bytes() const override { return values_.memory_bytes(); }

 private:
  Interner<Value, ValueHash> values_;
  StateId nil_;
  std::vector<RegisterOperation> operations_;
};

std::optional<RegisterFunction> register_function(const std::string& f) {
  if (f == "read") return RegisterFunction::read;
  if (f == "write") return RegisterFunction::write;
  if (f == "cas") return RegisterFunction::cas;
  if (f == "delete") return RegisterFunction::erase;
  return std::nullopt;
}

Fit Register::add(const Operation& operation, std::string& error) {
  std::optional<RegisterFunction> function = register_function(operation.f);
  if (!function) {
    error = "has no function \"" + operation.f + "\" (it has read, write, cas and delete)";
    return Fit::invalid;
  }
  const Value& input = operation.input;
  if (*function == RegisterFunction::write && !input.is_scalar()) error = "write needs a single value";
  if (*function == RegisterFunction::cas &&
      (input.kind != Value::Kind::list || input.items.size() != 2 || !input.items[0].is_scalar() ||
       !input.items[1].is_scalar())) {
    error = "cas needs [from to], not " + to_string(input);
  }
  if (*function == RegisterFunction::read && operation.status == Status::ok && !operation.output.is_scalar()) {
    error = "a read returns a single value, not " + to_string(operation.output);
  }
  if (!error.empty()) return Fit::invalid;
  if (!matters(operation, *function == RegisterFunction::read)) return Fit::dropped;
  RegisterOperation compiled{*function, nil_, nil_};
  if (*function == RegisterFunction::read) compiled.argument = values_.intern(operation.output);
  if (*function == RegisterFunction::write) compiled.argument = values_.intern(input);
  if (*function == RegisterFunction::cas) {
    compiled.argument = values_.intern(input.items[0]);
    compiled.replacement = values_.intern(input.items[1]);
  }
  operations_.push_back(compiled);
  return Fit::kept;
}

std::optional<StateId> Register::step(StateId state, std::size_t operation) {
  const RegisterOperation& op = operations_[operation];
  switch (op.function) {
    case RegisterFunction::read:
      return state == op.argument ? std::optional<StateId>(state) : std::nullopt;
    case RegisterFunction::write:
      return op.argument;
    case RegisterFunction::cas:
      return state == op.argument ? std::optional<StateId>(op.replacement) : std::nullopt;
    case RegisterFunction::erase:
      return nil_;
  }
  return std::nullopt;
}

// ---- kv: get / put / append on a string that starts empty --------------------------------------

enum class KvFunction : std::uint8_t { get, put, append };

// The states of one kv string, hash-consed. A state is its predecessor plus one appended piece, so
// a new state costs a few words however long the string grows (kv-append strings reach kilobytes,
// and a hard search reaches millions of states). Equal strings get equal ids, as the search's memo
// and get's comparison need: a rolling hash, which does not depend on how a string was cut into
// pieces, finds the candidates, and their texts are compared before two states are merged.
class StringStates {
 public:
  StringStates() : empty_(intern_text("")) {}

  StateId empty() const { return empty_; }
  StateId intern_text(const std::string& text) { return find_or_add(none, add_piece(text)); }
  std::uint32_t add_piece(const std::string& text);
  StateId append(StateId state, std::uint32_t piece) { return find_or_add(state, piece); }
  std::size_t memory_bytes() const { return bytes_; }

 private:
  static constexpr StateId none = no_state;
  static constexpr std::uint64_t base = 0x100000001b3ULL;  // odd, so powers never vanish mod 2^64

  struct Piece {
    std::string text;
    std::uint64_t hash;   // sum of text[i] * base^(n-1-i), mod 2^64
    std::uint64_t power;  // base^n
  };
  struct Node {
    StateId parent;  // none: the text is the piece alone
    std::uint32_t piece;
    std::uint64_t length;
    std::uint64_t hash;
    StateId next_same_hash;  // chains the nodes sharing a bucket of first_by_hash_
  };

  StateId find_or_add(StateId parent, std::uint32_t piece);
  std::string text_of(StateId parent, std::uint32_t piece) const;

  std::vector<Piece> pieces_;
  std::vector<Node> nodes_;
  std::unordered_map<std::uint64_t, StateId> first_by_hash_;
  std::size_t bytes_ = 0;
  StateId empty_;
};

std::uint32_t StringStates::add_piece(const std::string& text) {
  Piece piece{text, 0, 1};
  for (char c : text) {
    piece.hash = piece.hash * base + static_cast<unsigned char>(c);
    piece.power *= base;
  }
  SYNOD_ASSERT(pieces_.size() < std::numeric_limits<std::uint32_t>::max());
  bytes_ += sizeof(Piece) + text.capacity();
  pieces_.push_back(std::move(piece));
  return static_cast<std::uint32_t>(pieces_.size() - 1);
}

std::string StringStates::text_of(StateId parent, std::uint32_t piece) const {
  std::vector<std::uint32_t> chain{piece};
  for (StateId node = parent; node != none; node = nodes_[node].parent) chain.push_back(nodes_[node].piece);
  std::string text;
  for (auto piece_index = chain.rbegin(); piece_index != chain.rend(); ++piece_index) text += pieces_[*piece_index].text;
  return text;
}

StateId StringStates::find_or_add(StateId parent, std::uint32_t piece) {
  const Piece& p = pieces_[piece];
  Node node{parent, piece, p.text.size(), p.hash, none};
  if (parent != none) {
    node.length += nodes_[parent].length;
    node.hash += nodes_[parent].hash * p.power;
  }
  auto [bucket, inserted] = first_by_hash_.try_emplace(node.hash, static_cast<StateId>(nodes_.size()));
  if (!inserted) {
    std::string text;  // built only when a candidate of equal length turns up
    for (StateId candidate = bucket->second; candidate != none; candidate = nodes_[candidate].next_same_hash) {
      const Node& other = nodes_[candidate];
      if (other.length != node.length) continue;
      if (text.empty()) text = text_of(parent, piece);
      if (text_of(other.parent, other.piece) == text) return candidate;
    }
    node.next_same_hash = bucket->second;
    bucket->second = static_cast<StateId>(nodes_.size());
  }
  SYNOD_ASSERT(nodes_.size() < none);
  nodes_.push_back(node);
  bytes_ += sizeof(Node) + map_entry_overhead_bytes;
  return static_cast<StateId>(nodes_.size() - 1);
}

struct KvOperation {
  KvFunction function;
  StateId value;        // get: the string read; put: the string written
  std::uint32_t piece;  // append: the string appended
};

class KvString final : public CompiledObject {
 public:
  Fit add(const Operation& operation, std::string& error) override;
  StateId initial() override { return strings_.empty(); }
  std::optional<StateId> step(StateId state, std::size_t operation) override;
  std::size_t memory_bytes() const override { return strings_.memory_bytes() + transitions_.memory_bytes(); }

 private:
  StringStates strings_;
  Transitions transitions_;
  std::vector<KvOperation> operations_;
};

std::optional<KvFunction> kv_function(const std::string& f) {
  if (f == "get") return KvFunction::get;
  if (f == "put") return KvFunction::put;
  if (f == "append") return KvFunction::append;
  return std::nullopt;
}

Fit KvString::add(const Operation& operation, std::string& error) {
  std::optional<KvFunction> function = kv_function(operation.f);
  if (!function) {
    error = "has no function \"" + operation.f + "\" (it has get, put and append)";
    return Fit::invalid;
  }
  if (*function != KvFunction::get && operation.input.kind != Value::Kind::text) {
    error = operation.f + " needs a string, not " + to_string(operation.input);
  }
  const Value& output = operation.output;
  if (*function == KvFunction::get && operation.status == Status::ok && !output.is_nil() &&
      output.kind != Value::Kind::text) {
    error = "get returns a string or nil, not " + to_string(output);
  }
  if (!error.empty()) return Fit::invalid;
  if (!matters(operation, *function == KvFunction::get)) return Fit::dropped;
  KvOperation compiled{*function, strings_.empty(), 0};
  if (*function == KvFunction::get) compiled.value = strings_.intern_text(output.text);  // nil reads as ""
  if (*function == KvFunction::put) compiled.value = strings_.intern_text(operation.input.text);
  if (*function == KvFunction::append) compiled.piece = strings_.add_piece(operation.input.text);
  operations_.push_back(compiled);
  return Fit::kept;
}

std::optional<StateId> KvString::step(StateId state, std::size_t operation) {
  const KvOperation& op = operations_[operation];
  switch (op.function) {
    case KvFunction::get:
      return state == op.value ? std::optional<StateId>(state) : std::nullopt;
    case KvFunction::put:
      return op.value;
    case KvFunction::append:
      return transitions_.get(state, operation, [&] { return std::optional<StateId>(strings_.append(state, op.piece)); });
  }
  return std::nullopt;
}

// ---- lock: acquire returns a fencing token; one holder at a time; tokens rise ------------------

struct LockState {
  bool held = false;
  std::int64_t holder = 0;  // the process holding the lock, when held
  std::int64_t last_token = std::numeric_limits<std::int64_t>::min();  // the latest grant's token

  friend bool operator==(const LockState&, const LockState&) = default;
};

struct LockStateHash {
  std::size_t operator()(const LockState& state) const {
    std::size_t hash = std::hash<std::int64_t>{}(state.last_token);
    hash ^= std::hash<std::int64_t>{}(state.holder) + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
    return hash ^ (state.held ? 1U : 0U);
  }
};

std::size_t heap_bytes(const LockState&) { return 0; }

struct LockOperation {
  bool acquire;  // else release
  std::int64_t process;
  std::optional<std::int64_t> token;  // acquire: the token granted, if known
};

class Lock final : public CompiledObject {
 public:
  Lock() : free_(states_.intern(LockState{})) {}

  Fit add(const Operation& operation, std::string& error) override;
  StateId initial() override { return free_; }
  std::optional<StateId> step(StateId state, std::size_t operation) override;
  std::size_t memory_bytes() const override { return states_.memory_bytes() + transitions_.memory_bytes(); }

 private:
  std::optional<StateId> next(const LockState& state, const LockOperation& op);

  Interner<LockState, LockStateHash> states_;
  Transitions transitions_;
  StateId free_;
  std::vector<LockOperation> operations_;
};

Fit Lock::add(const Operation& operation, std::string& error) {
  bool acquire = operation.f == "acquire";
  if (!acquire && operation.f != "release") {
    error = "has no function \"" + operation.f + "\" (it has acquire and release)";
    return Fit::invalid;
  }
  const Value& output = operation.output;
  if (acquire && operation.status == Status::ok && !output.is_nil() && output.kind != Value::Kind::integer) {
    error = "acquire returns an integer fencing token or nil, not " + to_string(output);
    return Fit::invalid;
  }
  if (!matters(operation, false)) return Fit::dropped;
  LockOperation compiled{acquire, operation.process, std::nullopt};
  if (acquire && operation.status == Status::ok && !output.is_nil()) compiled.token = output.integer;
  operations_.push_back(compiled);
  return Fit::kept;
}

std::optional<StateId> Lock::next(const LockState& state, const LockOperation& op) {
  if (!op.acquire) {
    if (!state.held || state.holder != op.process) return std::nullopt;
    return states_.intern(LockState{false, 0, state.last_token});
  }
  if (state.held) return std::nullopt;
  if (op.token) {
    if (*op.token <= state.last_token) return std::nullopt;
    return states_.intern(LockState{true, op.process, *op.token});
  }
  // An unknown token is some token above the last one. The smallest such token constrains later
  // grants least, so assuming it loses no linearization.
  if (state.last_token == std::numeric_limits<std::int64_t>::max()) return std::nullopt;
  return states_.intern(LockState{true, op.process, state.last_token + 1});
}

std::optional<StateId> Lock::step(StateId state, std::size_t operation) {
  return transitions_.get(state, operation, [&] { return next(states_.at(state), operations_[operation]); });
}

// ---- preparation ---------------------------------------------------------------------------------

std::unique_ptr<CompiledObject> make_object(ModelKind model) {
  switch (model) {
    case ModelKind::cas_register:
    case ModelKind::keys:
      return std::make_unique<Register>();
    case ModelKind::kv:
      return std::make_unique<KvString>();
    case ModelKind::lock:
      return std::make_unique<Lock>();
  }
  return nullptr;
}

std::string describe(std::size_t index, const Operation& operation) {
  return "operation " + std::to_string(index) + " (process " + std::to_string(operation.process) + ", " + operation.f +
         (operation.key.empty() ? "" : " on \"" + operation.key + "\"") + ")";
}

// One partition per key, in order of first use; the register model is a single object.
std::string split(const History& history, ModelKind model, std::vector<Partition>& partitions) {
  std::unordered_map<std::string, std::size_t> by_key;
  for (std::size_t i = 0; i < history.operations.size(); ++i) {
    const std::string& key = history.operations[i].key;
    auto [entry, inserted] = by_key.try_emplace(key, partitions.size());
    if (inserted) {
      if (model == ModelKind::cas_register && !partitions.empty()) {
        return "the register model is one object, but the history has keys \"" + partitions[0].key + "\" and \"" +
               key + "\"; use the keys model";
      }
      partitions.push_back(Partition{key, {}, nullptr});
    }
    partitions[entry->second].operations.push_back(i);
  }
  return "";
}

std::string compile(const History& history, ModelKind model, Partition& partition) {
  std::unique_ptr<CompiledObject> object = make_object(model);
  std::vector<std::size_t> kept;
  for (std::size_t index : partition.operations) {
    std::string error;
    Fit fit = object->add(history.operations[index], error);
    if (fit == Fit::invalid) {
      return describe(index, history.operations[index]) + ": the " + model_name(model) + " model " + error;
    }
    if (fit == Fit::kept) kept.push_back(index);
  }
  partition.operations = std::move(kept);
  partition.object = std::move(object);
  return "";
}

}  // namespace

std::optional<ModelKind> model_from_name(std::string_view name) {
  if (name == "register") return ModelKind::cas_register;
  if (name == "keys") return ModelKind::keys;
  if (name == "kv") return ModelKind::kv;
  if (name == "lock") return ModelKind::lock;
  return std::nullopt;
}

const char* model_name(ModelKind model) {
  switch (model) {
    case ModelKind::cas_register:
      return "register";
    case ModelKind::keys:
      return "keys";
    case ModelKind::kv:
      return "kv";
    case ModelKind::lock:
      return "lock";
  }
  return "?";
}

std::optional<ModelKind> infer_model(const History& history) {
  std::optional<ModelKind> model;
  for (const Operation& operation : history.operations) {
    const std::string& f = operation.f;
    std::optional<ModelKind> fits;
    if (f == "acquire" || f == "release") fits = ModelKind::lock;
    if (kv_function(f)) fits = ModelKind::kv;
    if (register_function(f)) fits = ModelKind::keys;
    if (!fits || (model && *model != *fits)) return std::nullopt;
    model = fits;
  }
  return model.value_or(ModelKind::keys);
}

Prepared prepare(const History& history, ModelKind model) {
  Prepared prepared;
  prepared.error = split(history, model, prepared.partitions);
  for (Partition& partition : prepared.partitions) {
    if (!prepared.error.empty()) break;
    prepared.error = compile(history, model, partition);
  }
  if (!prepared.error.empty()) {
    prepared.partitions.clear();
    return prepared;
  }
  std::erase_if(prepared.partitions, [](const Partition& partition) { return partition.operations.empty(); });
  return prepared;
}

}  // namespace synod::lincheck
