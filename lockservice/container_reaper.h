// ContainerReaper: the leader's side of ZooKeeper's container znodes
// (issue 22), as ZooKeeper's ContainerManager is its leader's.
//
// A container that has had a child and has none left is deleted by the
// cluster. The state machine keeps the set of such containers
// (StateMachine::reapable_containers) and decides each reap when it applies
// it (ZnodeReapContainer, znode_containers.cpp); this class only chooses when
// to propose which. Every check interval the leader opens a check: on each
// tick it proposes up to reaps_per_tick_max reaps of the reapable containers
// in path order, skipping those it proposed and has not seen applied, until
// none is left or the check's budget (reaps_per_check_max) is spent. A reap
// of a container that is gone already, or got a child meanwhile, changes
// nothing when it applies; one whose reap never applied (lost with the
// queue) is proposed again after retry_ms.
//
// ---- THE INTERVAL ----
// ZooKeeper's default is znode.container.checkIntervalMs = 60,000 ms, the
// first check one interval after the leader starts, and up to
// znode.container.maxPerMinute = 10,000 deletes a minute. The same defaults
// here (the server's --container-check-ms changes the interval): a container
// emptied between uses (a lock's or a queue's parent) may then vanish under a
// client that created it earlier and is about to add a child, which gets
// NoNode (Curator creates the parents again; other code may not). ZooKeeper
// allows that at any time, but applications written against it have lived
// with a minute; reaping every second would make that race sixty times as
// likely, to save a few bytes a minute sooner. Here a check costs nothing
// when there is nothing to reap (the set is kept as the tree changes, not
// scanned), so a short interval is cheap for those who want one.
//
// Pure, like the SessionKeeper: the driver feeds it the node's monotonic time
// and the applied state. Owned by the driver's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lockservice/command.h"
#include "lockservice/state_machine.h"

namespace synod::lockservice {

inline constexpr int64_t kContainerCheckMsDefault = 60'000;  // ZooKeeper's checkIntervalMs

struct ReaperConfig {
  int64_t check_interval_ms = kContainerCheckMsDefault;
  // ZooKeeper's maxPerMinute, per check (one check a minute by default).
  size_t reaps_per_check_max = 10'000;
  // A check's reaps go out over several ticks, so a burst of them never fills
  // a slot ahead of clients' commands (a slot holds 4,096 commands).
  size_t reaps_per_tick_max = 256;
  // A reap proposed and not seen applied after this long is proposed again.
  int64_t retry_ms = 2'000;
};

// Empty if usable, or what is wrong.
std::string validate(const ReaperConfig& config);

class ContainerReaper {
 public:
  explicit ContainerReaper(ReaperConfig config = {});

  // This node now leads and serves: the first check is one interval later.
  void lead(int64_t mono_now_ms);
  // This node no longer leads: everything in memory is forgotten.
  void follow();
  bool leading() const { return leading_; }

  // Call every tick while leading. The reaps to propose now, in path order;
  // report each one the proposal queue took with proposed(). Those it did
  // not take come back on a later tick.
  std::vector<ZnodeReapContainer> tick(const StateMachine& machine, int64_t mono_now_ms);
  void proposed(const std::string& path, int64_t mono_now_ms);

  const ReaperConfig& config() const { return config_; }
  // How many reaps are proposed and not yet seen applied (for tests).
  size_t in_flight() const { return in_flight_.size(); }

 private:
  void forget_applied(const StateMachine& machine, int64_t now_ms);

  ReaperConfig config_;
  bool leading_ = false;
  int64_t next_check_ms_ = 0;
  size_t budget_ = 0;  // reaps the open check may still propose; 0: no check open
  // Reaps proposed and not yet seen applied: path -> when proposed. Bounded
  // by reaps_per_check_max (a check proposes no more) times the checks in
  // retry_ms, and in practice by the few reaps in one commit's flight.
  std::map<std::string, int64_t, std::less<>> in_flight_;
};

}  // namespace synod::lockservice
