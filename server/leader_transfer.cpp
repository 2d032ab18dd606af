#include "server/leader_transfer.h"

#include <utility>

#include "server/limits.h"

namespace synod::server {

void LeaderTransfers::started(uint32_t from, uint32_t to, int64_t now_us,
                              std::function<void(http::TransferOutcome)> done) {
  waiting_.push_back(Waiting{from, to, now_us, std::move(done)});
}

void LeaderTransfers::observe(uint32_t leader, int64_t now_us) {
  using Kind = http::TransferOutcome::Kind;
  for (size_t i = 0; i < waiting_.size();) {
    Waiting& w = waiting_[i];
    const int64_t took_ms = (now_us - w.started_us) / 1000;
    const bool moved = leader == w.to;
    if (!moved && took_ms < kHandoverMsMax) {
      ++i;
      continue;
    }
    auto done = std::move(w.done);
    http::TransferOutcome outcome{moved ? Kind::moved : Kind::timed_out, w.from, w.to, leader, took_ms, {}};
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
    done(std::move(outcome));
  }
}

}  // namespace synod::server
