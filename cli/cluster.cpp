// Talking to the cluster, for every command: Cluster (the endpoints in
// turn), how answers and refusals are printed, and following an event
// stream across endpoints (watch, elect --observe).
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "cli/synodctl.h"
#include "http/text/text.h"

namespace synod::cli {

std::string encode(std::string_view text) { return synod::http::percent_encode(text); }

// A key's path: "/a/b" or "a/b" → "a/b", each segment encoded.
std::string key_path(std::string_view key) {
  while (!key.empty() && key.front() == '/') key.remove_prefix(1);
  std::string out;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    if (start > 0) out += '/';
    out += encode(key.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Headers request_headers(const Options& options, const Headers& extra) {
  Headers headers;
  if (!options.token.empty()) headers.emplace_back("Authorization", "Bearer " + options.token);
  headers.insert(headers.end(), extra.begin(), extra.end());
  return headers;
}

Cluster::Cluster(const Options& options) : options_(options) {
  for (const auto& endpoint : options.endpoints)
    clients_.push_back(std::make_unique<Client>(endpoint, options.timeout_ms, options.tls));
}

ClientResponse Cluster::call(std::string_view method, const std::string& target, std::string_view body,
                             const Headers& headers, int64_t timeout_ms, size_t body_bytes_max) {
  // `headers` are the caller's (below they decide what may be repeated); the
  // request also carries the ones every request does.
  const Headers sent_headers = request_headers(options_, headers);
  ClientResponse last;
  for (size_t attempt = 0; attempt < clients_.size(); ++attempt) {
    auto& client = *clients_[(preferred_ + attempt) % clients_.size()];
    Client* use = &client;
    std::unique_ptr<Client> slow;
    if (timeout_ms > 0 || body_bytes_max > 0) {
      slow = std::make_unique<Client>(client.address(), timeout_ms > 0 ? timeout_ms : options_.timeout_ms,
                                      options_.tls);
      if (body_bytes_max > 0) slow->set_body_bytes_max(body_bytes_max);
      use = slow.get();
    }
    last = use->request(method, target, body, sent_headers);
    if (last.status != 0 && last.status != 503) {
      preferred_ = (preferred_ + attempt) % clients_.size();
      return last;
    }
    // A write whose request left and got no answer may have happened:
    // only requests that are safe to repeat go on to the next node.
    if (last.status == 0 && last.sent && method != "GET" && headers.empty()) return last;
  }
  return last;
}

json body_json(const ClientResponse& response) {
  json parsed = json::parse(response.body, nullptr, false);
  return parsed.is_discarded() ? json::object() : parsed;
}

ClientResponse list_all(Cluster& cluster, const std::string& path, const char* field, const char* name) {
  json items = json::array();
  std::string after;
  while (true) {
    ClientResponse page = cluster.call("GET", after.empty() ? path : path + "&after=" + encode(after));
    if (page.status != 200) return page;
    const json body = body_json(page);
    for (const auto& item : body.value(field, json::array())) items.push_back(item);
    if (!body.value("more", false)) break;
    // With auth on a page leaves out what the caller may not read, so the
    // server says where the next starts; an older server does not, and the
    // last item listed is the best guess then.
    std::string next = body.contains("next_after") ? text(body, "next_after")
                       : items.empty()             ? std::string()
                                                   : text(items.back(), name);
    if (next.empty() || next == after) {
      std::fprintf(stderr, "synodctl: the listing has more, out of reach past what this token may read\n");
      break;
    }
    after = next;
  }
  ClientResponse all;
  all.status = 200;
  all.body = json{{field, items}, {"more", false}}.dump();
  return all;
}

// Prints a refusal and returns the exit code for it.
int refused(const ClientResponse& response) {
  if (response.status == 0) {
    std::fprintf(stderr, "synodctl: no endpoint answered: %s\n", response.error.c_str());
    return 3;
  }
  const json body = body_json(response);
  std::string code = "error", message = response.body;
  if (body.contains("error") && body["error"].is_object()) {
    code = body["error"].value("code", "error");
    message = body["error"].value("message", "");
  }
  std::fprintf(stderr, "synodctl: %d %s: %s\n", response.status, code.c_str(), message.c_str());
  if (body.contains("holder")) std::fprintf(stderr, "  held by session %s, token %s\n",
                                            body["holder"].value("session", "?").c_str(),
                                            body["holder"]["token"].dump().c_str());
  return response.status == 503 ? 3 : 1;
}

void print_json_line(const json& value) { std::printf("%s\n", value.dump(-1, ' ', false, json::error_handler_t::replace).c_str()); }

std::string text(const json& value, const char* field) {
  if (!value.contains(field)) return "";
  return value[field].is_string() ? value[field].get<std::string>() : value[field].dump();
}

// The answer of a simple request: JSON as is, or a line for people.
int simple(const Options& options, const ClientResponse& response, const std::function<void(const json&)>& human) {
  if (response.status < 200 || response.status >= 300) return refused(response);
  const json body = body_json(response);
  if (options.json_output) print_json_line(body);
  else human(body);
  return 0;
}

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted = true; }

// A signal ends a stream at once: it has nothing to undo (each event is
// flushed as it is printed), and a read blocked on a quiet stream would
// otherwise notice only when the next heartbeat came.
void stop_following(int) { std::_Exit(0); }

// Follows an event stream, resuming after the last event on another
// endpoint when the connection breaks, until interrupted.
int follow(const Options& options, const std::string& target, const std::string& start_index,
           const std::function<void(const synod::http::SseEvent&)>& print) {
  std::signal(SIGINT, stop_following);
  std::signal(SIGTERM, stop_following);
  std::string last_id = start_index;
  size_t endpoint = 0;
  int failures = 0;
  for (;;) {
    Client client(options.endpoints[endpoint % options.endpoints.size()], options.timeout_ms, options.tls);
    Headers headers = request_headers(options);
    if (!last_id.empty()) headers.emplace_back("Last-Event-ID", last_id);
    bool ended_by_server = false;
    const auto response = client.stream(target, headers, 30'000, [&](const synod::http::SseEvent& event) {
      failures = 0;
      if (!event.id.empty()) last_id = event.id;
      if (event.type == "compacted") ended_by_server = true;
      print(event);
      std::fflush(stdout);
      return true;
    });
    if (response.status != 0 && response.status != 200 && response.status != 503) return refused(response);
    if (ended_by_server) return 1;
    if (++failures > static_cast<int>(3 * options.endpoints.size())) return refused(response);
    ++endpoint;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace synod::cli
