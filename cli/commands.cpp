// The commands that are one request and its answer: cluster status,
// session, lock (all but `lock run`, in lock_run.cpp, and `lock
// force-release` and `lock list`, in auth.cpp) and kv; and watch, which
// follows the watch stream until interrupted. The listings take every page.
#include <cstdio>
#include <string>

#include "cli/synodctl.h"

namespace synod::cli {

int cluster_status(const Options& options, Cluster& cluster) {
  const auto response = cluster.call("GET", "/v1/cluster");
  return simple(options, response, [](const json& body) {
    const uint64_t leader = body["leader"].is_object() ? body["leader"]["id"].get<uint64_t>() : 0;
    // Only a leader tracks every member's progress: a follower knows its own
    // and the leader's, so the others show "-", not a false 0.
    const bool asked_leader = body.value("role", "") == "leader";
    std::printf("leader: %s   ballot: %s   commit index: %s\n",
                leader ? ("node " + std::to_string(leader)).c_str() : "none", body["ballot"].dump().c_str(),
                text(body, "commit_index").c_str());
    std::printf("%-4s %-22s %-22s %-8s %-10s %s\n", "ID", "CLIENT", "PEER", "ROLE", "CONNECTED", "CHOSEN_THROUGH");
    for (const auto& m : body["members"]) {
      const uint64_t id = m["id"].get<uint64_t>();
      const bool known = asked_leader || m.value("self", false) || id == leader;
      std::printf("%-4llu %-22s %-22s %-8s %-10s %s\n", static_cast<unsigned long long>(id),
                  text(m, "client_addr").c_str(), text(m, "peer_addr").c_str(), id == leader ? "leader" : "follower",
                  m.value("connected", false) ? "yes" : "no", known ? text(m, "chosen_through").c_str() : "-");
    }
  });
}

int session_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args) {
  if (verb == "create") {
    json body = {{"ttl", args.flag("ttl").value_or("15s")}, {"lock_delay", args.flag("lock-delay").value_or("0s")},
                 {"behavior", args.flag("behavior").value_or("release")}};
    args.done(0);
    return simple(options, cluster.call("POST", "/v1/sessions", body.dump()), [](const json& r) {
      std::printf("%s\n", text(r, "session").c_str());
    });
  }
  if (verb == "list") {
    args.done(0);
    return simple(options, list_all(cluster, "/v1/sessions?limit=1000", "sessions", "session"), [](const json& r) {
      for (const auto& s : r["sessions"])
        std::printf("%s ttl_ms=%s valid_for_ms=%s locks=%s\n", text(s, "session").c_str(), text(s, "ttl_ms").c_str(),
                    text(s, "valid_for_ms").c_str(), s["locks"].dump().c_str());
    });
  }
  const std::string id = args.positional(0, "the session id");
  args.done(1);
  if (verb == "keepalive") {
    return simple(options, cluster.call("POST", "/v1/sessions/" + encode(id) + "/keepalive"), [](const json& r) {
      std::printf("alive: valid for %s ms\n", text(r, "valid_for_ms").c_str());
    });
  }
  if (verb == "get") {
    return simple(options, cluster.call("GET", "/v1/sessions/" + encode(id)), [](const json& r) {
      std::printf("%s\n", r.dump(2).c_str());
    });
  }
  if (verb == "delete") {
    return simple(options, cluster.call("DELETE", "/v1/sessions/" + encode(id)), [](const json&) { std::printf("deleted\n"); });
  }
  usage_error("unknown session command '" + verb + "'");
}

int lock_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args) {
  if (verb == "run") return lock_run(options, cluster, args);
  if (verb == "force-release") return force_release(options, cluster, "locks", args);
  if (verb == "list") return lock_list(options, cluster, args);
  const std::string name = args.positional(0, "the lock name");
  const std::string path = "/v1/locks/" + encode(name);
  if (verb == "acquire") {
    json body = json::object();
    if (auto s = args.flag("session")) body["session"] = *s;
    else body["ttl"] = args.flag("ttl").value_or("15s");
    if (auto d = args.flag("lock-delay")) body["lock_delay"] = *d;
    if (auto w = args.flag("wait")) body["wait"] = *w;
    if (args.has("queue")) body["queue"] = true;
    if (auto m = args.flag("mode")) body["mode"] = *m;
    if (auto l = args.flag("limit")) body["limit"] = std::stoll(*l);
    args.done(1);
    const int64_t wait = body.contains("wait") ? duration_arg(body["wait"], "--wait") : 0;
    const auto response = cluster.call("POST", path, body.dump(), {}, options.timeout_ms + wait + 5'000);
    if (response.status == 202) {
      const json r = body_json(response);
      if (options.json_output) print_json_line(r);
      else std::printf("queued: position %s, session %s\n", text(r, "position").c_str(), text(r, "session").c_str());
      return 0;
    }
    return simple(options, response, [&](const json& r) {
      std::printf("acquired %s: token %s, session %s, valid for %s ms\n", name.c_str(), text(r, "token").c_str(),
                  text(r, "session").c_str(), text(r, "valid_for_ms").c_str());
    });
  }
  if (verb == "release") {
    const auto session = args.flag("session");
    if (!session) usage_error("lock release needs --session");
    args.done(1);
    return simple(options, cluster.call("DELETE", path + "?session=" + encode(*session)),
                  [](const json&) { std::printf("released\n"); });
  }
  if (verb == "status") {
    args.done(1);
    return simple(options, cluster.call("GET", path), [&](const json& r) {
      if (!r.value("held", false)) std::printf("%s: free\n", name.c_str());
      for (const auto& h : r["holders"])
        std::printf("%s: held by session %s, token %s (%s)\n", name.c_str(), text(h, "session").c_str(),
                    text(h, "token").c_str(), text(h, "access").c_str());
      for (const auto& w : r["waiters"])
        std::printf("  waiting %s: session %s\n", text(w, "position").c_str(), text(w, "session").c_str());
    });
  }
  if (verb == "validate") {
    const std::string token = args.positional(1, "the token");
    args.done(2);
    const auto response = cluster.call("GET", path + "/validate?token=" + encode(token));
    if (response.status != 200) return refused(response);
    const json r = body_json(response);
    if (options.json_output) print_json_line(r);
    else std::printf("%s\n", r.value("valid", false) ? "valid" : "not valid");
    return r.value("valid", false) ? 0 : 1;
  }
  usage_error("unknown lock command '" + verb + "'");
}

int kv_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args) {
  if (verb == "list") {
    const std::string prefix = args.positionals() > 0 ? args.positional(0, "prefix") : "";
    args.done(1);
    const auto listed = list_all(cluster, "/v1/kv/" + key_path(prefix) + "?recurse&limit=1000", "keys", "key");
    return simple(options, listed, [](const json& r) {
      for (const auto& k : r["keys"])
        std::printf("%s = %s%s\n", text(k, "key").c_str(), text(k, "value").c_str(),
                    text(k, "encoding") == "base64" ? " (base64)" : "");
    });
  }
  const std::string key = args.positional(0, "the key");
  const std::string path = "/v1/kv/" + key_path(key);
  if (verb == "put") {
    const std::string value = args.positional(1, "the value");
    std::string query;
    auto add = [&query](const std::string& item) { query += (query.empty() ? "?" : "&") + item; };
    if (auto s = args.flag("session")) add("session=" + encode(*s));
    if (args.has("sequential")) add("sequential");
    if (auto c = args.flag("cas")) add("cas=" + encode(*c));
    if (auto l = args.flag("lock")) add("lock=" + encode(*l));
    if (auto t = args.flag("token")) add("token=" + encode(*t));
    args.done(2);
    return simple(options, cluster.call("PUT", path + query, value), [](const json& r) {
      std::printf("%s modify_index=%s version=%s\n", text(r, "key").c_str(), text(r, "modify_index").c_str(),
                  text(r, "version").c_str());
    });
  }
  if (verb == "get") {
    const bool raw = args.has("raw");
    const bool stale = args.has("stale");
    args.done(1);
    std::string query = stale ? "?stale" : "";
    if (raw) query += query.empty() ? "?raw" : "&raw";
    const auto response = cluster.call("GET", path + query);
    if (response.status != 200) return refused(response);
    if (raw) {
      std::fwrite(response.body.data(), 1, response.body.size(), stdout);
      return 0;
    }
    const json r = body_json(response);
    if (options.json_output) print_json_line(r);
    else std::printf("%s\n", text(r, "value").c_str());
    return 0;
  }
  if (verb == "delete") {
    std::string query = args.has("recurse") ? "?recurse" : "";
    if (auto c = args.flag("cas")) query += (query.empty() ? "?cas=" : "&cas=") + encode(*c);
    args.done(1);
    return simple(options, cluster.call("DELETE", path + query),
                  [](const json& r) { std::printf("deleted %s\n", text(r, "deleted").c_str()); });
  }
  usage_error("unknown kv command '" + verb + "'");
}

int watch_command(const Options& options, Args& args) {
  const std::string prefix = args.positionals() > 0 ? args.positional(0, "prefix") : "";
  const std::string space = args.flag("space").value_or("key");
  const std::string index = args.flag("index").value_or("");
  args.done(1);
  const std::string path = space == "key" ? key_path(prefix) : encode(prefix);
  return follow(options, "/v1/watch/" + path + "?space=" + encode(space), index, [&](const synod::http::SseEvent& e) {
    if (options.json_output) return (void)std::printf("%s\n", e.data.c_str());
    const json data = json::parse(e.data, nullptr, false);
    if (data.is_discarded()) return (void)std::printf("%s %s\n", e.type.c_str(), e.data.c_str());
    std::string name = data.contains("key") ? text(data, "key") : text(data, "name");
    std::printf("%s %s %s%s%s\n", e.id.c_str(), e.type.c_str(), name.c_str(),
                data.contains("value") ? (" = " + text(data, "value")).c_str() : "",
                data.contains("session") ? (" (session " + text(data, "session") + ")").c_str() : "");
  });
}

}  // namespace synod::cli
