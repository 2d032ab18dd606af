// FencedResource: what a lock protects, for the simulator's lock clients.
//
// A storage service that honours fencing tokens (Chubby's sequencers,
// Kleppmann's fencing): every operation on the data guarded by lock L carries
// the token of the holder's grant, and the resource refuses any token lower
// than the highest it has seen for L. It holds one counter per lock, and a
// holder increments it in two steps, a fenced read and then a fenced write of
// read + 1, so that a holder frozen between the two (a GC pause past its
// session's TTL) comes back with a stale token. The resource must refuse it
// once the next holder has used the resource.
//
// The resource also checks what it accepted, independently of its own
// refusal rule (which a test-only mutant switches off):
//   - the tokens it accepts for a lock never go down;
//   - no update is lost: a write is accepted only on top of the value its
//     writer read;
// and the caller checks each token against the grants the lock service made.
//
// Single-threaded; owned by one simulation run.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lockservice/types.h"

namespace synod::sim {

class FencedResource {
 public:
  explicit FencedResource(bool unfenced_mutant = false) : unfenced_(unfenced_mutant) {}

  struct Outcome {
    bool accepted = false;
    int64_t value = 0;  // a read: the counter; a write: the counter after it
  };

  // Reads lock's counter with `token`; refused if a higher token was seen.
  Outcome read(const std::string& lock, lockservice::FencingToken token);
  // Writes `read_value + 1` with `token`.
  Outcome write(const std::string& lock, lockservice::FencingToken token, int64_t read_value);

  // What went wrong, in words; empty if nothing did.
  const std::vector<std::string>& violations() const { return violations_; }
  uint64_t accepted() const { return accepted_; }
  uint64_t refused() const { return refused_; }

 private:
  struct Guarded {
    int64_t counter = 0;
    lockservice::FencingToken highest_seen = 0;      // the refusal rule
    lockservice::FencingToken highest_accepted = 0;  // the independent check
  };
  bool admit(Guarded& guarded, lockservice::FencingToken token);
  void violation(std::string what);

  static constexpr size_t kViolationsMax = 20;
  bool unfenced_;
  std::map<std::string, Guarded> locks_;
  std::vector<std::string> violations_;
  uint64_t accepted_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace synod::sim
