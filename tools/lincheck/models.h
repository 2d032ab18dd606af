// models.h — the sequential specifications histories are checked against.
//
// Owns the four models and the preparation of a history for the search:
//   register  one register with read / write / cas (/ delete); the Jepsen etcd histories.
//   keys      the same register per key, keys independent; synod's key space.
//   kv        a map of strings with get / put / append, keys independent; the kv-append histories.
//   lock      locks with acquire (returning a fencing token) / release; synod's lock service.
// The functions each model accepts, and what the values mean, are in docs/history-format.md.
//
// Where keys are independent the history is split into one partition per key and each is checked
// alone: a history is linearizable iff each object's sub-history is (Herlihy & Wing's locality,
// porcupine's P-compositionality). That shrinks the search exponentially.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/lincheck/history.h"

namespace synod::lincheck {

enum class ModelKind : std::uint8_t { cas_register, keys, kv, lock };

std::optional<ModelKind> model_from_name(std::string_view name);  // "register", "keys", "kv", "lock"
const char* model_name(ModelKind model);
// For files that do not name their model: acquire/release mean lock, get/put/append mean kv, and
// read/write/cas/delete mean keys. nullopt when the functions belong to no model or to several.
std::optional<ModelKind> infer_model(const History& history);

using StateId = std::uint32_t;

// One object's sequential specification over the operations of one partition. States are
// interned, so the search stores a 4-byte id per memo entry whatever the model's state is.
// Owned and used by one thread: the search that checks the partition.
class SequentialObject {
 public:
  virtual ~SequentialObject() = default;
  virtual StateId initial() = 0;
  // The state after the partition's operation `operation` takes effect in `state`, or nullopt if
  // it cannot take effect there (a read that would return another value, a cas whose compare fails).
  virtual std::optional<StateId> step(StateId state, std::size_t operation) = 0;
  // Memory the interned states and cached transitions hold, counted against the search's budget.
  virtual std::size_t memory_bytes() const = 0;
};

// The operations of one object, in invocation order, and the object that specifies them.
struct Partition {
  std::string key;
  std::vector<std::size_t> operations;  // indices into History::operations
  std::unique_ptr<SequentialObject> object;
};

struct Prepared {
  std::vector<Partition> partitions;
  std::string error;  // "" when every operation fits the model
};

// Checks that every operation fits the model, drops those that cannot constrain the search (a
// `fail` did not take effect; a read of unknown outcome observed nothing), and splits the rest by
// key where the model allows.
Prepared prepare(const History& history, ModelKind model);

}  // namespace synod::lincheck
