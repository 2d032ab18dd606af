// Keeper and the timing rules of a session kept alive (keeper.h).
#include "cli/keeper.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "lockservice/types.h"  // the TTL bounds and the checkpoint interval (constants only)

namespace synod::cli {
namespace {

// The lock service's timing, at its defaults (docs/lockservice.md §3). A
// keep-alive answers what the log already guarantees: (D - now) / (1 + rho),
// with D the session's last LOGGED renewal plus its TTL. The keep-alive being
// answered is logged only by the next checkpoint (every C), so even on a
// healthy cluster an answer is worth the TTL less the time since the renewal
// the log last recorded (one keep-alive period, or up to C plus a commit when
// keep-alives come faster than C), divided by 1 + rho: about 0.6 x TTL for
// keep-alives every TTL/3.
constexpr int64_t kCheckpointIntervalMs = synod::lockservice::kCheckpointIntervalMsDefault;  // C
constexpr int64_t kDriftBoundPercent = 10;  // rho, the server's --drift-bound-percent default
// The fastest cadence: a faster one would buy less than a commit takes.
constexpr int64_t kKeepAlivePeriodMsMin = 100;
// SIGTERM at the margin, SIGKILL halfway through it: CMD gets 100 ms to stop.
constexpr int64_t kMarginMsMin = 200;

// What a keep-alive returns on a healthy cluster when keep-alives go at the
// fastest cadence: the TTL less a checkpoint interval and a period, over 1 + rho.
int64_t healthy_validity_ms(int64_t ttl_ms) {
  return (ttl_ms - kCheckpointIntervalMs - kKeepAlivePeriodMsMin) * 100 / (100 + kDriftBoundPercent);
}

int64_t ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace

std::string margin_problem(int64_t ttl_ms, int64_t margin_ms) {
  using synod::lockservice::kTtlMsMax, synod::lockservice::kTtlMsMin;
  if (ttl_ms < kTtlMsMin || ttl_ms > kTtlMsMax) return "--ttl must be 2s to 24h (the lock service's bounds)";
  if (margin_ms < kMarginMsMin) return "--margin must be at least " + std::to_string(kMarginMsMin) + "ms";
  const int64_t margin_ms_max = healthy_validity_ms(ttl_ms) - 2 * kKeepAlivePeriodMsMin;
  if (margin_ms <= margin_ms_max) return {};
  const int64_t room_ms = 2 * kKeepAlivePeriodMsMin + margin_ms;
  int64_t ttl_ms_min = room_ms * (100 + kDriftBoundPercent) / 100 + kCheckpointIntervalMs + kKeepAlivePeriodMsMin;
  ttl_ms_min = (ttl_ms_min + 99) / 100 * 100;
  std::string fix = "use --ttl " + std::to_string(ttl_ms_min) + "ms or more";
  if (margin_ms_max >= kMarginMsMin) fix += ", or --margin " + std::to_string(margin_ms_max) + "ms or less";
  return "--ttl " + std::to_string(ttl_ms) + "ms with --margin " + std::to_string(margin_ms) +
         "ms cannot work: a keep-alive returns at most about " + std::to_string(healthy_validity_ms(ttl_ms)) +
         "ms of validity for this TTL (the TTL less the server's " + std::to_string(kCheckpointIntervalMs) +
         "ms checkpoint interval and a " + std::to_string(kKeepAlivePeriodMsMin) + "ms keep-alive period, over its " +
         std::to_string(kDriftBoundPercent) + "% drift bound), which must exceed the margin by " +
         std::to_string(2 * kKeepAlivePeriodMsMin) + "ms; " + fix;
}

int64_t default_margin_ms(int64_t ttl_ms) { return std::min<int64_t>(2'000, ttl_ms / 2); }

Keeper::Keeper(const Options& options, std::string session, int64_t ttl_ms, int64_t margin_ms, Clock::time_point sent,
               int64_t valid_for_ms)
    : options_(options), session_(std::move(session)), ttl_ms_(ttl_ms), margin_ms_(margin_ms) {
  deadline_ = sent + std::chrono::milliseconds(valid_for_ms);
  last_answer_sent_ = sent;
  last_valid_ms_ = valid_for_ms;
  next_ = next_after(sent);
  thread_ = std::thread([this] { run(); });
}

Clock::time_point Keeper::deadline() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return deadline_;
}

void Keeper::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::string Keeper::why() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (expired_) return "the lock service answered that the session is gone";
  const auto now = Clock::now();
  const std::string last = "the last answer, to a keep-alive sent " + std::to_string(ms_between(last_answer_sent_, now)) +
                           " ms ago, gave " + std::to_string(last_valid_ms_) + " ms of validity";
  std::string out;
  if (failures_ > 0) out = std::to_string(failures_) + " keep-alives failed since " + last + "; the latest failure: " +
                           last_failure_;
  else out = last;
  if (in_flight_) out += "; one sent " + std::to_string(ms_between(*in_flight_, now)) + " ms ago is not answered yet";
  return out;
}

Clock::time_point Keeper::next_after(Clock::time_point sent) const {
  const int64_t to_margin_ms = ms_between(sent, deadline_) - margin_ms_;
  const int64_t period_ms_max = std::max(ttl_ms_ / 3, kKeepAlivePeriodMsMin);
  return sent + std::chrono::milliseconds(std::clamp(to_margin_ms / 2, kKeepAlivePeriodMsMin, period_ms_max));
}

void Keeper::set_in_flight(std::optional<Clock::time_point> sent) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_flight_ = sent;
}

void Keeper::answered(Clock::time_point sent, int64_t valid_for_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  deadline_ = std::max(deadline_, sent + std::chrono::milliseconds(valid_for_ms));
  last_answer_sent_ = sent;
  last_valid_ms_ = valid_for_ms;
  failures_ = 0;
  next_ = next_after(sent);
}

void Keeper::failed(const ClientResponse& response, const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++failures_;
  last_failure_ = endpoint + ": ";
  if (response.status == 0) {
    last_failure_ += response.error;
  } else {
    const json body = body_json(response);
    const bool coded = body.contains("error") && body["error"].is_object();
    last_failure_ += std::to_string(response.status) + " " + (coded ? body["error"].value("code", "") : "");
  }
  next_ = Clock::now() + std::chrono::milliseconds(kKeepAlivePeriodMsMin);
}

void Keeper::run() {
  const int64_t attempt_ms = std::clamp<int64_t>(ttl_ms_ / 6, 200, 2'000);
  size_t endpoint = 0;
  while (!stop_ && !expired_) {
    if (Clock::now() < next_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    const std::string& address = options_.endpoints[endpoint % options_.endpoints.size()];
    Client client(address, attempt_ms, options_.tls);
    const auto sent = Clock::now();
    set_in_flight(sent);
    const auto response = client.request("POST", "/v1/sessions/" + encode(session_) + "/keepalive", {},
                                         request_headers(options_));
    set_in_flight(std::nullopt);
    if (response.status == 200) {
      answered(sent, body_json(response).value("valid_for_ms", int64_t{0}));
    } else if (response.status == 404) {
      std::lock_guard<std::mutex> lock(mutex_);
      expired_ = true;  // the service says it is gone: nothing to wait for
      deadline_ = Clock::now();
    } else {
      failed(response, address);
      ++endpoint;
    }
  }
}

}  // namespace synod::cli
