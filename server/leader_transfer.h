// Leadership transfers asked for over the API (POST
// /v1/cluster/leader/transfer), waiting for their successor to lead. The
// handoff itself is the one a leader stopping on SIGTERM makes
// (Driver::hand_over, paxos Replica::transfer_leadership: the lease is given
// up, the successor is nominated and prepares at once); this only answers
// the request once the successor leads, or once kHandoverMsMax has passed.
//
// Owner thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "http/node_api.h"
#include "server/driver.h"
#include "server/log.h"

namespace synod::server {

class LeaderTransfers {
 public:
  // A handoff from `from` to `to` began at `now_us`.
  void started(uint32_t from, uint32_t to, int64_t now_us, std::function<void(http::TransferOutcome)> done);
  // Answers the transfers that are over: their successor is `leader`, or
  // their time is up. Call at every tick and leader change.
  void observe(uint32_t leader, int64_t now_us);
  bool empty() const { return waiting_.empty(); }

 private:
  struct Waiting {
    uint32_t from = 0;
    uint32_t to = 0;
    int64_t started_us = 0;
    std::function<void(http::TransferOutcome)> done;
  };
  std::vector<Waiting> waiting_;
};

// POST /v1/cluster/leader/transfer once the caller is admitted: answers
// not_leader or refused at once, or hands leadership over (the replica of
// `driver`) and leaves the answer to `transfers`; returns whether it handed
// over (the caller flushes then).
bool begin_transfer(Driver& driver, LeaderTransfers& transfers, Log& log, bool stopping, uint32_t to, int64_t now_us,
                    const std::function<void(http::TransferOutcome)>& done);

}  // namespace synod::server
