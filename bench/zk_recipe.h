// ZooKeeper's standard lock recipe on the C client's asynchronous API, for
// bench/zk_load.cpp, and the logical client the two share.
//
// One lock cycle: create an EPHEMERAL|SEQUENCE child "c<i>-lock-" of the
// lock's directory, list the children; if ours has the lowest sequence
// number the lock is ours: delete the child (the release) and record the
// cycle. Otherwise watch the predecessor (the child just below ours) and
// list again once it is gone. Uncontended that is two commits per cycle, as
// synod's and etcd's acquire and release; contended, cycles are handoffs.
//
// A cycle that fails midway is recorded as an error (never as an acquire);
// after the retry pause the client deletes every child that bears its name
// (a create whose answer was lost may have made one, which would otherwise
// block the lock for as long as the session lives) and starts again.
//
// Threads: a client's steps run on its session's completion thread, or on
// zk_load's timer thread after a pause; a client has one step pending at a
// time, so its fields need no lock except those the deadline scan reads.
#pragma once

#include <zookeeper/zookeeper.h>

#include <atomic>
#include <mutex>
#include <string>

#include "load_run.h"

namespace bench::zk {

struct Session;  // zk_load.cpp: one zhandle, shared by many clients

// A logical client: a closed loop with one operation pending at a time.
struct Client {
  LoadRun* run = nullptr;
  Session* session = nullptr;
  int index = 0;
  std::string path;   // put: the client's node; lock: the lock's directory
  std::string value;  // put: what it writes
  std::string mine;   // lock: the name of the child this cycle created
  // lock, after a failed cycle: deletes still pending, and whether all worked
  // (atomic: their answers may come on another session's thread after a
  // session was replaced).
  std::atomic<int> cleaning{0};
  std::atomic<bool> cleaned{true};

  // Guarded by mutex: the deadline scan reads them on the timer thread.
  std::mutex mutex;
  Clock::time_point invoked;                           // the operation's start
  Clock::time_point asked = Clock::time_point::max();  // the pending request's
  bool late = false;                                   // the scan recorded the operation as an error
  zhandle_t* waiting = nullptr;                        // lock: the handle whose watch we wait on,
  std::string waiting_for;                             // and the predecessor it watches
};

// What zk_load.cpp provides the recipe.
zhandle_t* handle(const Client& c);  // the client's session's zhandle now
void begin(Client& c);               // an operation starts now
void asking(Client& c);              // one of its requests was sent
// Its answer came: false if too late (the operation is an error already).
bool in_time(Client& c);
// Records the operation as an error: what failed, and ZooKeeper's code
// (ZOK for none).
void failed(Client& c, const std::string& what, int rc);
// Runs next(c) after the pause between a failure and the retry.
void later(Client& c, void (*next)(Client&));

// One acquire and release; each finished cycle starts the next, until the
// run stops.
void lock_cycle(Client& c);

}  // namespace bench::zk
