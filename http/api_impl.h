// Api::Impl, the client API's executor (api.h), private to synod_http. Its
// parts live in a file per job:
//   api.cpp        handling: decode, dispatch per operation, answering, the
//                  plain reads and writes, the last reported index and leader
//   routing.cpp    reaching the leader: serve here, hand to the node, forward
//                  over HTTP, or refuse (503); proposals and reads
//   long_poll.cpp  bounded waits on the applied revision: a key or election
//                  read after index N, a blocking acquire or campaign
//   grant_wait.cpp how a queued acquire or campaign learns how its wait ended
//   streams.cpp    server-sent-event streams fed from the event window:
//                  watch, observe, a session's events
//   views.cpp      the JSON (views.h)
//   auth_api.cpp   who a request is (its credential), which reads it may
//                  make, and the auth operations (tokens, rules, on and off)
//   znodes_api.cpp GET /v1/znodes/{path}: a znode, read only
//
// Threads: handle() runs on an HTTP thread. The node's callbacks (propose,
// read, wait_for, keep_alive) run on the node's owner thread; a stream's
// formatting and sending is posted to its connection's thread. Every path
// answers a Call exactly once, through its Responder (thread-safe).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/api.h"
#include "http/views.h"

namespace synod::http {

// What this API last reported in X-Synod-Index and X-Synod-Leader, for the
// refusals the server makes before a request reaches the API (Api::error_body
// has no request to ask the node about). Written by every stamp, read by
// every refusal: relaxed atomics, so a refusal may carry a value a moment
// old, as any response can.
class LastReported {
 public:
  void note(uint64_t index, uint32_t leader) {
    index_.store(index, std::memory_order_relaxed);
    leader_.store(leader, std::memory_order_relaxed);
  }
  uint64_t index() const { return index_.load(std::memory_order_relaxed); }
  uint32_t leader() const { return leader_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> index_{0};
  std::atomic<uint32_t> leader_{0};
};

struct Api::Impl {
  using json = views::json;

  Impl(NodeApi& n, ApiOptions o) : node(n), options(std::move(o)) {}

  // One request in flight: owned by the callbacks that may still answer it.
  struct Call {
    ApiRequest req;
    std::string method, target, body, content_type;
    Responder respond;
    ClusterView view;  // the node as handle() saw it
    lockservice::ClientId client_id = 0;
    uint64_t seq = 1;
    uint32_t handed_to = 0;  // the leader this follower's node handed the command to
    // Who sent it (lockservice/auth.h), and the Authorization header as sent,
    // which an HTTP forward passes on.
    lockservice::Credential credential;
    std::string authorization;
    explicit Call(Responder r) : respond(std::move(r)) {}
  };
  using CallPtr = std::shared_ptr<Call>;
  using Build = std::function<Response(const ReadContext&)>;
  // The JSON text of a write's 200 body (JsonObjectText: these are every
  // write's answers, so they are written without nlohmann). Return text:
  // an nlohmann::json returned here converts to std::string implicitly and
  // throws for an object (views::json_text renders one).
  using OkBody = std::function<std::string(const lockservice::Result&)>;

  NodeApi& node;
  ApiOptions options;
  std::atomic<uint32_t> last_leader{0};  // the last leader the node named (for 503s)
  LastReported reported;

  // ---- handling and answering (api.cpp) ----
  void handle(Request&& request, Responder respond);
  void execute(const CallPtr& c);
  // Stamps X-Synod-Index and X-Synod-Leader (and notes them in `reported`).
  void stamp(Response& response, uint64_t revision, uint32_t leader);
  void reply(const CallPtr& c, Response response, uint64_t revision, uint32_t leader);
  void fail(const CallPtr& c, int status, std::string_view code, std::string_view message, uint64_t revision,
            uint32_t leader);
  void answer_result(const CallPtr& c, const lockservice::Result& result, uint64_t revision, uint32_t leader,
                     const OkBody& ok_body);
  Response refusal(int status, std::string_view code, std::string_view message) const;

  // ---- the plain operations (api.cpp) ----
  void cluster(const CallPtr& c);
  void healthz(const CallPtr& c);
  void readyz(const CallPtr& c);
  void write(const CallPtr& c, OkBody ok_body);
  void keepalive(const CallPtr& c);
  void keepalive_refused(const CallPtr& c, uint32_t leader);
  void session_get(const CallPtr& c);
  void session_list(const CallPtr& c);
  void lock_get(const CallPtr& c);
  void lock_validate(const CallPtr& c);
  void txn(const CallPtr& c);

  // ---- reaching the leader (routing.cpp) ----
  // Runs `local` here if this node leads, else forwards (or refuses).
  void to_leader(const CallPtr& c, const std::function<void()>& local);
  // For commands and keep-alives: runs `local` if a leader is known, here or
  // elsewhere; a follower's node then hands them to the leader over the peer
  // link, which is cheaper than forwarding the HTTP request.
  void via_node(const CallPtr& c, const std::function<void()>& local);
  void forward(const CallPtr& c, uint32_t leader);
  void not_leader(const CallPtr& c, uint32_t leader, uint64_t revision);
  // 503: this node cannot serve it; names the last leader it knew.
  void unavailable(const CallPtr& c, std::string_view code, const std::string& why);
  void propose(const CallPtr& c, lockservice::Command command, std::function<void(const Outcome&)> applied);
  void read(const CallPtr& c, Build build);
  void stale_headers(const CallPtr& c, Response& response) const;

  // ---- waiting (long_poll.cpp) ----
  void acquire(const CallPtr& c);
  void election_get(const CallPtr& c);
  void kv_get(const CallPtr& c);
  void wait_for_event(const CallPtr& c, uint64_t after, lockservice::EventFilter filter,
                      std::function<bool(const lockservice::Event&)> match, int64_t deadline_ms,
                      std::function<void()> then);
  std::string grant_text(const CallPtr& c, const lockservice::Result& result) const;

  // ---- a queued acquire or campaign waiting for its end (grant_wait.cpp) ----
  struct GrantWait {
    uint64_t queued_at = 0;   // the revision of its `queued` answer: its session waited then
    uint64_t scanned = 0;     // the events up to here were looked at
    int64_t deadline_ms = 0;  // steady clock: the HTTP wait ends
    bool timed = false;       // a timed wait that found a deadline: the lock service answers its end
  };
  void await_grant(const CallPtr& c, GrantWait wait);
  void answer_wait_end(const CallPtr& c, const lockservice::Result& result, const ReadContext& context);
  void answer_at_deadline(const CallPtr& c, const GrantWait& wait, const ReadContext& context);

  // ---- who may (auth_api.cpp) ----
  // Takes the request's credential into the call; false after answering 401
  // (a malformed Authorization header).
  bool take_credential(const CallPtr& c, const Request& request);
  // The answer to a read this credential may not make, or nullopt; on the
  // owner thread, against the state the read sees.
  std::optional<Response> read_denial(const CallPtr& c, const ReadContext& context) const;
  // For the node's own checks (NodeApi::backup, transfer_leadership): true
  // if read_denial lets the call through; else answers it and returns false.
  std::function<bool(const ReadContext&)> admitted(const CallPtr& c);
  // Runs `then` if the credential may open the stream this call asks for.
  void gate_stream(const CallPtr& c, std::function<void()> then);
  void auth_operation(const CallPtr& c);

  // ---- backups (backup_api.cpp) ----
  void snapshot_get(const CallPtr& c);

  // ---- the cluster's administration (cluster_api.cpp) ----
  void leader_transfer(const CallPtr& c);

  // ---- the ZooKeeper namespace, read only (znodes_api.cpp) ----
  void znode_get(const CallPtr& c);

  // ---- membership (members_api.cpp) ----
  void members_list(const CallPtr& c);
  void member_change(const CallPtr& c);

  // ---- streams (streams.cpp) ----
  struct Feed;
  void watch(const CallPtr& c);
  void observe(const CallPtr& c);
  void session_events(const CallPtr& c);
  void start_feed(const CallPtr& c, std::shared_ptr<Feed> feed, std::vector<std::string> first, uint64_t after);
  void pump(std::shared_ptr<Feed> feed, uint64_t after);
  void deliver(const std::shared_ptr<Feed>& feed, uint64_t after, const lockservice::Events& events);
  void scope_events(Feed& feed, lockservice::Events& events, const lockservice::StateMachine& machine);
};

// Milliseconds on the steady clock (deadlines of long-polls).
int64_t steady_now_ms();
// Whether the view says this node leads.
inline bool leads(const ClusterView& view) { return view.role == Role::leader; }

}  // namespace synod::http
