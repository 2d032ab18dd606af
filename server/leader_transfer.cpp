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

bool begin_transfer(Driver& driver, LeaderTransfers& transfers, Log& log, bool stopping, uint32_t to, int64_t now_us,
                    const std::function<void(http::TransferOutcome)>& done) {
  using Kind = http::TransferOutcome::Kind;
  const paxos::Replica& replica = driver.replica();
  const uint32_t self = replica.self();
  if (replica.role() != paxos::Role::leader || stopping) {
    done(http::TransferOutcome{Kind::not_leader, self, to, replica.leader(), 0, {}});
    return false;
  }
  if (to == self) {
    done(http::TransferOutcome{Kind::refused, self, to, self, 0, "node " + std::to_string(to) + " leads already"});
    return false;
  }
  const paxos::NodeId successor = driver.hand_over(now_us, to);
  if (successor == paxos::kNoNode) {
    done(http::TransferOutcome{Kind::refused, self, to, self, 0,
                               to == 0 ? std::string("there is no other voting member to lead")
                                       : "node " + std::to_string(to) + " is not another voting member"});
    return false;
  }
  log.write(Level::info, "handing_over",
            {{"successor", successor},
             {"successor_chosen_through", replica.peer(successor).chosen_through},
             {"commit_index", replica.commit_index()},
             {"reason", "requested"}});
  transfers.started(self, successor, now_us, done);
  return true;
}

}  // namespace synod::server
