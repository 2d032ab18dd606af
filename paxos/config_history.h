// ConfigHistory: which configuration governs which slots (configuration.h).
//
// The bootstrap configuration governs from slot 1; a configuration value
// chosen at slot i governs from i + kConfigAlphaSlots. Entries are added in
// slot order as the chosen prefix grows (or restored from a snapshot), so
// the configuration of slot s is known once every slot up to s - α is.
//
// Each entry carries the Quorum its voters make, built once, so that a slot
// in flight points at the quorum that decides it.
//
// Owned by the Replica's thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "paxos/configuration.h"
#include "paxos/options.h"
#include "paxos/quorum.h"

namespace synod::paxos {

struct ConfigEntry {
  Slot from = 1;             // the first slot it governs
  // kNoSlot for the bootstrap configuration of a new cluster; a joiner's
  // bootstrap entry carries the slot that chose the configuration it was given.
  Slot chosen_at = kNoSlot;
  Configuration configuration;
  std::shared_ptr<const Quorum> quorum;

  // The quorum is derived from the configuration, so it takes no part.
  bool operator==(const ConfigEntry& other) const {
    return from == other.from && chosen_at == other.chosen_at && configuration == other.configuration;
  }
};

// The entries a snapshot keeps (ConfigHistory::entries_from), in a snapshot
// record (persistence/records.h) and on the peer wire (transport/wire.h), the
// same bytes in both: per entry varint from, varint chosen_at, then
// encode_configuration. The quorum is not encoded; ConfigHistory rebuilds it.
void encode_config_entry(const ConfigEntry& entry, Writer& writer);
// Returns false, with the reader failed, on malformed input: a configuration
// decode_configuration refuses, `from` 0, or a chosen entry that does not
// govern from after the slot that chose it.
bool decode_config_entry(Reader& reader, ConfigEntry& out);
// The fewest bytes an encoded entry takes (from, chosen_at, and a
// configuration of one voter: five one-byte varints), to bound a count.
inline constexpr size_t kConfigEntryBytesMin = 7;
// Empty if `entries` can be the tail of a history (ascending `from` and
// `chosen_at`, a bootstrap entry only first, at least one entry), else why not.
std::string check_config_entries(const std::vector<ConfigEntry>& entries);

class ConfigHistory {
 public:
  ConfigHistory(std::vector<ConfigEntry> entries, const Mutants& mutants);

  // A configuration value was chosen at `slot`; `alpha` is kConfigAlphaSlots
  // (a mutant passes 1). Slots must come in ascending order.
  void chosen(Slot slot, const Configuration& configuration, Slot alpha);

  // A snapshot was installed: its entries govern every slot after it, and
  // replace what this history held (a joiner's bootstrap configuration too).
  void replace(std::vector<ConfigEntry> entries);

  const ConfigEntry& at(Slot slot) const;
  const ConfigEntry& latest() const { return entries_.back(); }
  // The entries that govern some slot >= `slot`, oldest first.
  std::vector<const ConfigEntry*> from(Slot slot) const;
  // The same, copied, for a snapshot taken after `slot - 1`.
  std::vector<ConfigEntry> entries_from(Slot slot) const;
  // A change is chosen whose first slot is above `slot`.
  bool pending_after(Slot slot) const { return entries_.back().from > slot; }

  // A true majority of the voters, except under the simulator's mutants.
  static std::shared_ptr<const Quorum> quorum_of(const Configuration& configuration, const Mutants& mutants);

 private:
  std::vector<ConfigEntry> entries_;  // ascending `from`, never empty
  const Mutants& mutants_;
};

}  // namespace synod::paxos
