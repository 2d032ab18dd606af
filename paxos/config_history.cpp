#include "paxos/config_history.h"

#include "base/assert.h"

namespace synod::paxos {

std::shared_ptr<const Quorum> ConfigHistory::quorum_of(const Configuration& c, const Mutants& mutants) {
  auto counting = Quorum::Counting::voters;
  if (mutants.learner_counts) counting = Quorum::Counting::voters_and_learners;
  if (mutants.removed_member_counts) counting = Quorum::Counting::all_but_learners;
  return std::make_shared<const Quorum>(c.voters, mutants.quorum_of_half ? c.voters.size() / 2 : 0, c.learners,
                                        counting);
}

ConfigHistory::ConfigHistory(std::vector<ConfigEntry> entries, const Mutants& mutants)
    : entries_(std::move(entries)), mutants_(mutants) {
  SYNOD_ASSERT_MSG(!entries_.empty(), "a configuration history starts with one configuration");
  for (auto& entry : entries_) {
    if (!entry.quorum) entry.quorum = quorum_of(entry.configuration, mutants_);
  }
}

void ConfigHistory::chosen(Slot slot, const Configuration& configuration, Slot alpha) {
  SYNOD_ASSERT(slot != kNoSlot && alpha >= 1);
  const ConfigEntry& last = entries_.back();
  if (last.chosen_at != kNoSlot && slot <= last.chosen_at) return;  // seen already (a restored snapshot)
  entries_.push_back(ConfigEntry{slot + alpha, slot, configuration, quorum_of(configuration, mutants_)});
  // The history is tiny (one entry per change ever made); keep it bounded
  // anyway, dropping configurations that stopped governing long ago.
  constexpr size_t kEntriesMax = 256;
  if (entries_.size() > kEntriesMax) entries_.erase(entries_.begin());
}

void ConfigHistory::replace(std::vector<ConfigEntry> entries) {
  SYNOD_ASSERT(!entries.empty());
  for (auto& entry : entries) {
    if (!entry.quorum) entry.quorum = quorum_of(entry.configuration, mutants_);
  }
  entries_ = std::move(entries);
}

const ConfigEntry& ConfigHistory::at(Slot slot) const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->from <= slot) return *it;
  }
  return entries_.front();
}

std::vector<const ConfigEntry*> ConfigHistory::from(Slot slot) const {
  std::vector<const ConfigEntry*> out;
  const ConfigEntry* first = &at(slot);
  for (const auto& entry : entries_) {
    if (&entry == first || entry.from > slot) out.push_back(&entry);
  }
  return out;
}

std::vector<ConfigEntry> ConfigHistory::entries_from(Slot slot) const {
  std::vector<ConfigEntry> out;
  for (const ConfigEntry* entry : from(slot)) out.push_back(*entry);
  return out;
}

void encode_config_entry(const ConfigEntry& entry, Writer& writer) {
  writer.varint(entry.from);
  writer.varint(entry.chosen_at);
  encode_configuration(entry.configuration, writer);
}

bool decode_config_entry(Reader& reader, ConfigEntry& out) {
  ConfigEntry entry;
  entry.from = reader.varint();
  entry.chosen_at = reader.varint();
  if (!reader.ok() || entry.from == kNoSlot || (entry.chosen_at != kNoSlot && entry.from <= entry.chosen_at)) {
    reader.fail();
    return false;
  }
  if (!decode_configuration(reader, entry.configuration)) return false;
  out = std::move(entry);
  return true;
}

std::string check_config_entries(const std::vector<ConfigEntry>& entries) {
  if (entries.empty()) return "no configuration";
  for (size_t i = 1; i < entries.size(); ++i) {
    const ConfigEntry& before = entries[i - 1];
    const ConfigEntry& entry = entries[i];
    if (entry.chosen_at == kNoSlot) return "a bootstrap configuration after another configuration";
    if (entry.from <= before.from || entry.chosen_at <= before.chosen_at) {
      return "configurations out of slot order (from " + std::to_string(before.from) + " then " +
             std::to_string(entry.from) + ")";
    }
  }
  return {};
}

}  // namespace synod::paxos
