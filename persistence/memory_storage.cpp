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
    undo_.push_back({table, std::string(key), it == map.end() ? std::nullopt : std::optional(it->second), {}});
    ops_.push_back({table, std::string(key), value, {}});
    set(map, ops_.back().key, value);
  }

  Image& image_;
  MemoryStorage::Transaction ops_;
  MemoryStorage::Transaction undo_;
};

}  // namespace

// The twin's log device. A write goes into the current image at once and
// joins the unsynced writes, in order with the table transactions, so that a
// crash keeps a prefix of both.
class MemoryStorage::Log final : public LogDevice {
 public:
  explicit Log(uint64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  uint64_t capacity_bytes() const override { return capacity_bytes_; }
  uint64_t extent_bytes() const override { return owner->current_.log.size(); }

  Status read(uint64_t offset, uint64_t length, std::string& out) override {
    SYNOD_ASSERT(offset <= capacity_bytes_ && length <= capacity_bytes_ - offset);
    const std::string& log = owner->current_.log;
    out.assign(length, '\0');
    if (offset < log.size()) log.copy(out.data(), std::min<uint64_t>(length, log.size() - offset), offset);
    return Status::success();
  }

  Status write(uint64_t offset, std::string_view bytes) override {
    SYNOD_ASSERT(offset <= capacity_bytes_ && bytes.size() <= capacity_bytes_ - offset);
    return owner->write_log(Op{Table::meta, {}, std::string(bytes), offset});
  }

  Status sync() override {
    if (owner->failing_ != Code::ok) return Status::error(owner->failing_, "injected disk fault: the sync failed");
    if (!owner->defer_sync_) owner->sync();
    return Status::success();
  }

  Status clear() override {
    Status status = owner->write_log(Op{Table::meta, {}, std::nullopt, 0});
    if (status.ok()) owner->sync();
    return status;
  }

  MemoryStorage* owner = nullptr;

 private:
  const uint64_t capacity_bytes_;
};

MemoryStorage::MemoryStorage(StorageOptions options)
    : MemoryStorage(options, std::make_unique<Log>(options.log_capacity_bytes)) {}

MemoryStorage::MemoryStorage(StorageOptions options, std::unique_ptr<Log> log)
    : RecordStorage(std::move(options), *log), log_device_(std::move(log)) {
  log_device_->owner = this;
}

MemoryStorage::~MemoryStorage() = default;

Status MemoryStorage::write_log(Op op) {
  if (failing_ != Code::ok) return Status::error(failing_, "injected disk fault: the write failed");
  Transaction transaction;
  transaction.push_back(std::move(op));
  apply(transaction, current_);
  unsynced_.push_back(std::move(transaction));
  return Status::success();
}

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
    if (op.log_offset) {
      if (!op.value) {
        image.log.clear();
        continue;
      }
      const uint64_t end = *op.log_offset + op.value->size();
      if (image.log.size() < end) image.log.resize(end, '\0');
      image.log.replace(*op.log_offset, op.value->size(), *op.value);
      continue;
    }
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

std::vector<std::pair<uint64_t, uint64_t>> MemoryStorage::live_frames(LogPosition* next) const {
  // Where the durable tables say the log starts (version 2 on).
  const TableMap& meta = durable_[index_of(Table::meta)];
  auto format_it = meta.find(kFormatKey);
  auto state_it = meta.find(kStateKey);
  FormatRecord format;
  StateRecord state;
  std::vector<std::pair<uint64_t, uint64_t>> frames;
  if (format_it == meta.end() || state_it == meta.end() || !decode_format(format_it->second, format).empty() ||
      format.version < 2 || !decode_state(state_it->second, format.version, state).empty()) {
    return frames;
  }
  if (next) *next = state.log;
  const std::string& log = durable_.log;
  if (state.log.offset >= log.size()) return frames;
  const LogScan scan = scan_log(std::string_view(log).substr(state.log.offset), state.log);
  // Up to the frame's last nonzero byte: a torn frame's lost bytes read as
  // zeros, so keeping every byte but trailing zeros would damage nothing
  // (and the padding after a frame is outside its checksum).
  for (const LogFrame& frame : scan.frames) {
    const std::string_view bytes = std::string_view(log).substr(frame.at.offset, kFrameHeaderBytes + frame.body_bytes);
    frames.emplace_back(frame.at.offset, bytes.find_last_not_of('\0') + 1);
  }
  if (next) *next = scan.next;
  return frames;
}

size_t MemoryStorage::record_count() const {
  size_t count = 0;
  for (const TableMap& map : durable_.tables) count += map.size();
  const size_t frames = live_frames().size();
  return count + (frames > 0 ? frames - 1 : 0);
}

std::optional<std::pair<Table, MemoryStorage::TableMap::iterator>> MemoryStorage::locate(size_t index) {
  for (size_t t = 0; t < kTableCount; ++t) {
    TableMap& map = durable_[t];
    if (index < map.size()) {
      return std::pair{static_cast<Table>(t), std::next(map.begin(), static_cast<std::ptrdiff_t>(index))};
    }
    index -= map.size();
  }
  return std::nullopt;
}

MemoryStorage::RecordRef MemoryStorage::record(size_t index) const {
  SYNOD_ASSERT(index < record_count());
  for (size_t t = 0; t < kTableCount; ++t) {
    const TableMap& map = durable_[t];
    if (index < map.size()) {
      auto it = std::next(map.begin(), static_cast<std::ptrdiff_t>(index));
      return RecordRef{static_cast<Table>(t), it->first, it->second.size(), false};
    }
    index -= map.size();
  }
  return RecordRef{Table::meta, {}, live_frames()[index].second, true};
}

template <typename Change>
void MemoryStorage::damage(size_t index, Change change) {
  SYNOD_ASSERT(index < record_count());
  if (auto located = locate(index)) {
    auto [table, it] = *located;
    TableMap& current = current_[index_of(table)];
    auto seen = current.find(it->first);
    const bool reads_see_it = seen != current.end() && seen->second == it->second;
    change(it->second);
    if (reads_see_it) seen->second = it->second;
    return;
  }
  // A log frame: the bytes change in place, and the ring keeps its length.
  size_t tables = 0;
  for (const TableMap& map : durable_.tables) tables += map.size();
  const auto [offset, bytes] = live_frames()[index - tables];
  const bool reads_see_it = current_.log.compare(offset, bytes, durable_.log, offset, bytes) == 0;
  std::string frame = durable_.log.substr(offset, bytes);
  change(frame);
  frame.resize(bytes, '\0');  // a torn frame's missing bytes were never written: zeros
  durable_.log.replace(offset, bytes, frame);
  if (reads_see_it) current_.log.replace(offset, bytes, frame);
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

namespace {

// The frame tear_tail writes a prefix of, at the log's head. Its last byte
// (before the padding) is a payload's, never zero, so that every prefix of it
// differs from it: a torn frame's lost bytes read as zeros.
std::string tail_frame(const LogPosition& at) {
  paxos::PersistBatch batch;
  batch.chosen.push_back(paxos::ChosenEntry{1, paxos::make_batch({paxos::Command{1, 1, "tail"}})});
  std::string frame;
  encode_frame(at, {&batch}, frame);
  frame.resize(frame.find_last_not_of('\0') + 1);
  return frame;
}

}  // namespace

size_t MemoryStorage::tail_frame_bytes() const { return tail_frame(LogPosition{}).size(); }

void MemoryStorage::tear_tail(size_t bytes_kept) {
  LogPosition head;
  live_frames(&head);
  std::string frame = tail_frame(head);
  SYNOD_ASSERT(bytes_kept < frame.size());
  frame.resize(bytes_kept);
  if (head.offset + frame.size() > log_device_->capacity_bytes()) return;  // the write would have wrapped first
  Transaction transaction{Op{Table::meta, {}, frame, head.offset}};
  apply(transaction, durable_);
  apply(transaction, current_);
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
  return crc32c(durable_.log, crc);
}

}  // namespace synod::persistence
