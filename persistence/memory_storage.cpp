#include "persistence/memory_storage.h"

#include "base/assert.h"
#include "base/crc32c.h"

namespace synod::persistence {

namespace {

using TableMap = MemoryStorage::TableMap;
using Image = MemoryStorage::Image;

size_t index_of(Table table) { return static_cast<size_t>(table); }

// One transaction on the current image. Its writes go straight into the
// image, and each keeps the bytes it replaced, so rollback() restores the
// image exactly when the transaction fails.
class MemoryTransaction final : public TableWriter {
 public:
  explicit MemoryTransaction(Image& image) : image_(image) {}

  Status get(Table table, std::string_view key, std::optional<std::string_view>& value) override {
    const TableMap& map = image_[index_of(table)];
    auto it = map.find(key);
    value = it == map.end() ? std::nullopt : std::optional<std::string_view>(it->second);
    return Status::success();
  }

  Status scan(Table table, std::string_view from_key, const Visit& visit) override {
    const TableMap& map = image_[index_of(table)];
    for (auto it = map.lower_bound(from_key); it != map.end(); ++it) {
      if (!visit(it->first, it->second)) break;
    }
    return Status::success();
  }

  Status put(Table table, std::string_view key, std::string_view value) override {
    record(table, key, std::string(value));
    return Status::success();
  }

  Status erase(Table table, std::string_view key) override {
    if (image_[index_of(table)].count(key) != 0) record(table, key, std::nullopt);
    return Status::success();
  }

  Status erase_through(Table table, std::string_view last_key, uint64_t records_max, uint64_t& erased) override {
    TableMap& map = image_[index_of(table)];
    while (records_max > 0 && !map.empty() && std::string_view(map.begin()->first) <= last_key) {
      const std::string key = map.begin()->first;
      record(table, key, std::nullopt);
      --records_max;
      ++erased;
    }
    return Status::success();
  }

  Status clear(Table table) override {
    TableMap& map = image_[index_of(table)];
    while (!map.empty()) {
      const std::string key = map.begin()->first;
      record(table, key, std::nullopt);
    }
    return Status::success();
  }

  MemoryStorage::Transaction take() { return std::move(ops_); }

  void rollback() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) set(image_[index_of(it->table)], it->key, it->value);
    undo_.clear();
    ops_.clear();
  }

 private:
  static void set(TableMap& map, const std::string& key, const std::optional<std::string>& value) {
    if (value) {
      map.insert_or_assign(key, *value);
    } else {
      map.erase(key);
    }
  }

  void record(Table table, std::string_view key, std::optional<std::string> value) {
    TableMap& map = image_[index_of(table)];
    auto it = map.find(key);
    undo_.push_back({table, std::string(key), it == map.end() ? std::nullopt : std::optional(it->second)});
    ops_.push_back({table, std::string(key), value});
    set(map, ops_.back().key, value);
  }

  Image& image_;
  MemoryStorage::Transaction ops_;
  MemoryStorage::Transaction undo_;
};

}  // namespace

MemoryStorage::MemoryStorage(StorageOptions options) : RecordStorage(std::move(options)) {}

// ------------------------------------------------------------------ transactions

Status MemoryStorage::run_read(const ReadBody& body) {
  // Reads do not write, so the transaction over the current image serves.
  MemoryTransaction reader(current_);
  return body(reader);
}

Status MemoryStorage::run_write(const WriteBody& body) {
  if (failing_ != Code::ok) return Status::error(failing_, "injected disk fault: the write failed");
  MemoryTransaction transaction(current_);
  if (Status status = body(transaction); !status.ok()) {
    transaction.rollback();
    return status;
  }
  unsynced_.push_back(transaction.take());
  if (!defer_sync_) sync();
  return Status::success();
}

void MemoryStorage::apply(const Transaction& transaction, Image& image) {
  for (const Op& op : transaction) {
    TableMap& map = image[index_of(op.table)];
    if (op.value) {
      map.insert_or_assign(op.key, *op.value);
    } else {
      map.erase(op.key);
    }
  }
}

Status MemoryStorage::write_unsynced(const paxos::PersistBatch& batch) {
  defer_sync_ = true;
  PersistResult result = persist(batch);
  defer_sync_ = false;
  return result.status;  // the receipt is dropped: nothing is synced yet
}

std::optional<paxos::SyncReceipt> MemoryStorage::sync() {
  for (const Transaction& transaction : unsynced_) apply(transaction, durable_);
  unsynced_.clear();
  if (last_ready_id() == 0) return std::nullopt;
  return paxos::SyncReceipt(last_ready_id());
}

// ------------------------------------------------------------------ faults

void MemoryStorage::crash(size_t unsynced_writes_kept) {
  SYNOD_ASSERT(unsynced_writes_kept <= unsynced_.size());
  for (size_t i = 0; i < unsynced_writes_kept; ++i) apply(unsynced_[i], durable_);
  unsynced_.clear();
  current_ = durable_;
  forget_loaded();
}

void MemoryStorage::lose_disk() {
  durable_ = Image{};
  current_ = Image{};
  unsynced_.clear();
  forget_loaded();
}

void MemoryStorage::fail_writes(Code code) { failing_ = code; }

size_t MemoryStorage::record_count() const {
  size_t count = 0;
  for (const TableMap& map : durable_) count += map.size();
  return count;
}

std::pair<Table, MemoryStorage::TableMap::iterator> MemoryStorage::locate(size_t index) {
  SYNOD_ASSERT(index < record_count());
  for (size_t t = 0; t < kTableCount; ++t) {
    TableMap& map = durable_[t];
    if (index < map.size()) return {static_cast<Table>(t), std::next(map.begin(), static_cast<std::ptrdiff_t>(index))};
    index -= map.size();
  }
  SYNOD_ASSERT(false);
  return {};
}

MemoryStorage::RecordRef MemoryStorage::record(size_t index) const {
  SYNOD_ASSERT(index < record_count());
  for (size_t t = 0; t < kTableCount; ++t) {
    const TableMap& map = durable_[t];
    if (index < map.size()) {
      auto it = std::next(map.begin(), static_cast<std::ptrdiff_t>(index));
      return RecordRef{static_cast<Table>(t), it->first, it->second.size()};
    }
    index -= map.size();
  }
  SYNOD_ASSERT(false);
  return {};
}

template <typename Change>
void MemoryStorage::damage(size_t index, Change change) {
  auto [table, it] = locate(index);
  TableMap& current = current_[index_of(table)];
  auto seen = current.find(it->first);
  const bool reads_see_it = seen != current.end() && seen->second == it->second;
  change(it->second);
  if (reads_see_it) seen->second = it->second;
}

void MemoryStorage::tear_record(size_t index, size_t bytes_kept) {
  damage(index, [&](std::string& value) {
    SYNOD_ASSERT(bytes_kept < value.size());
    value.resize(bytes_kept);
  });
}

void MemoryStorage::flip_bit(size_t index, uint64_t bit) {
  damage(index, [&](std::string& value) {
    SYNOD_ASSERT(bit < 8 * static_cast<uint64_t>(value.size()));
    value[static_cast<size_t>(bit / 8)] = static_cast<char>(value[static_cast<size_t>(bit / 8)] ^ (1 << (bit % 8)));
  });
}

uint32_t MemoryStorage::disk_crc32c() const {
  uint32_t crc = 0;
  for (size_t t = 0; t < kTableCount; ++t) {
    for (const auto& [key, value] : durable_[t]) {
      // Lengths too, so that moving a byte from a key to its value changes the fingerprint.
      std::string header;
      Writer writer(header);
      writer.u8(static_cast<uint8_t>(t));
      writer.varint(key.size());
      writer.varint(value.size());
      crc = crc32c(header, crc);
      crc = crc32c(key, crc);
      crc = crc32c(value, crc);
    }
  }
  return crc;
}

}  // namespace synod::persistence
