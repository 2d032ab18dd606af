// `synodctl auth`: who the caller is, turning auth on and off, tokens and
// rules (docs/security.md); and `lock force-release`, `election
// force-release`, the administrators' way to take a lock or a leadership
// from its holder, and `lock list`, their view of every lock. Each is one
// request and its answer (a listing, every page of it). The token a request
// carries is the global --token or $SYNOD_TOKEN (request_headers).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/synodctl.h"

namespace synod::cli {
namespace {

// A JSON array of strings as "a,b", or "-" if it is empty or absent.
std::string joined(const json& value, const char* field) {
  if (!value.contains(field) || !value[field].is_array() || value[field].empty()) return "-";
  std::string out;
  for (const auto& item : value[field])
    out += (out.empty() ? "" : ",") + (item.is_string() ? item.get<std::string>() : item.dump());
  return out;
}

// Rows under a header, each column as wide as its widest cell (ids are
// revisions: seven digits and more).
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

int whoami(const Options& options, Cluster& cluster) {
  return simple(options, cluster.call("GET", "/v1/auth/whoami"), [](const json& r) {
    const bool enabled = r.value("auth_enabled", false);
    const bool named = r.contains("principal") && r["principal"].is_string();
    std::string line = "principal: " + (named ? r["principal"].get<std::string>() : std::string("none"));
    if (r.contains("roles")) line += "   roles: " + joined(r, "roles");
    if (r.contains("root")) line += std::string("   root: ") + (r.value("root", false) ? "yes" : "no");
    if (r.contains("via")) line += "   via: " + text(r, "via");
    line += std::string("   auth: ") + (enabled ? "enabled" : "disabled");
    std::printf("%s\n", line.c_str());
    if (r.contains("error")) std::printf("  %s\n", text(r, "error").c_str());
  });
}

int token_command(const Options& options, Cluster& cluster, Args& args) {
  const std::string verb = args.positional(0, "the token command (create, list or revoke)");
  if (verb == "create") {
    const std::string principal = args.positional(1, "the principal");
    json body = {{"principal", principal}};
    if (auto roles = args.flag("roles")) body["roles"] = *roles;
    args.done(2);
    const auto response = cluster.call("POST", "/v1/auth/tokens", body.dump());
    if (response.status != 200) return refused(response);
    const json r = body_json(response);
    if (options.json_output) print_json_line(r);
    else std::printf("%s\n", text(r, "token").c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "synodctl: token %s for %s: the server shows it only this once, keep it now\n",
                 text(r, "id").c_str(), principal.c_str());
    return 0;
  }
  if (verb == "list") {
    args.done(1);
    return simple(options, cluster.call("GET", "/v1/auth/tokens"), [](const json& r) {
      std::vector<std::vector<std::string>> rows = {{"ID", "PRINCIPAL", "ROLES", "ROOT"}};
      for (const auto& t : r["tokens"]) {
        const std::string principal = text(t, "principal");
        rows.push_back({text(t, "id"), principal.empty() ? "-" : principal, joined(t, "roles"),
                        t.value("root", false) ? "yes" : "no"});
      }
      print_table(rows);
    });
  }
  if (verb == "revoke") {
    const std::string id = args.positional(1, "the token id");
    args.done(2);
    return simple(options, cluster.call("DELETE", "/v1/auth/tokens/" + encode(id)),
                  [](const json& r) { std::printf("revoked token %s\n", text(r, "id").c_str()); });
  }
  usage_error("unknown auth token command '" + verb + "'");
}

int rule_command(const Options& options, Cluster& cluster, Args& args) {
  const std::string verb = args.positional(0, "the rule command (add, list or delete)");
  if (verb == "add") {
    json body = {{"subject", args.positional(1, "the subject (user:NAME or role:NAME)")},
                 {"space", args.positional(2, "the space (locks, keys, elections, sessions or cluster)")},
                 {"permission", args.positional(3, "the permission (read, write or admin)")}};
    if (auto prefix = args.flag("prefix")) body["prefix"] = *prefix;
    args.done(4);
    return simple(options, cluster.call("POST", "/v1/auth/rules", body.dump()),
                  [](const json& r) { std::printf("added rule %s\n", text(r, "id").c_str()); });
  }
  if (verb == "list") {
    args.done(1);
    return simple(options, cluster.call("GET", "/v1/auth/rules"), [](const json& r) {
      std::vector<std::vector<std::string>> rows = {{"ID", "SUBJECT", "SPACE", "PERMISSION", "PREFIX"}};
      for (const auto& rule : r["rules"]) {
        const std::string prefix = text(rule, "prefix");
        rows.push_back({text(rule, "id"), text(rule, "subject"), text(rule, "space"), text(rule, "permission"),
                        prefix.empty() ? "(all)" : prefix});
      }
      print_table(rows);
    });
  }
  if (verb == "delete") {
    const std::string id = args.positional(1, "the rule id");
    args.done(2);
    return simple(options, cluster.call("DELETE", "/v1/auth/rules/" + encode(id)),
                  [](const json& r) { std::printf("deleted rule %s\n", text(r, "id").c_str()); });
  }
  usage_error("unknown auth rule command '" + verb + "'");
}

}  // namespace

int auth_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args) {
  if (verb == "token") return token_command(options, cluster, args);
  if (verb == "rule") return rule_command(options, cluster, args);
  if (verb == "whoami") {
    args.done(0);
    return whoami(options, cluster);
  }
  if (verb == "enable" || verb == "disable") {
    args.done(0);
    return simple(options, cluster.call("POST", "/v1/auth/" + verb),
                  [](const json& r) { std::printf("auth %s\n", r.value("enabled", false) ? "enabled" : "disabled"); });
  }
  usage_error("unknown auth command '" + verb + "'");
}

int force_release(const Options& options, Cluster& cluster, const std::string& space, Args& args) {
  const bool lock = space == "locks";
  const std::string name = args.positional(0, lock ? "the lock name" : "the election name");
  std::string query;
  auto add = [&query](const std::string& item) { query += (query.empty() ? "?" : "&") + item; };
  if (auto reason = args.flag("reason")) add("reason=" + encode(*reason));
  if (auto session = args.flag("session")) add("session=" + encode(*session));
  if (args.has("skip-lock-delay")) add("skip_lock_delay");
  args.done(1);
  const auto response = cluster.call("POST", "/v1/" + space + "/" + encode(name) + "/force-release" + query);
  return simple(options, response, [&](const json& r) {
    std::printf("force-released %s %s: %s\n", lock ? "lock" : "election", name.c_str(), text(r, "reason").c_str());
  });
}

int lock_list(const Options& options, Cluster& cluster, Args& args) {
  args.done(0);
  return simple(options, list_all(cluster, "/v1/locks?limit=1000", "locks", "lock"), [](const json& r) {
    std::vector<std::vector<std::string>> rows = {{"LOCK", "KIND", "HOLDERS", "TOKENS", "WAITERS"}};
    for (const auto& lock : r["locks"]) {
      std::string sessions, tokens;
      for (const auto& h : lock["holders"]) {
        sessions += (sessions.empty() ? "" : ",") + text(h, "session");
        tokens += (tokens.empty() ? "" : ",") + text(h, "token");
      }
      rows.push_back({text(lock, "lock"), lock.contains("kind") ? text(lock, "kind") : "-",
                      sessions.empty() ? "-" : sessions, tokens.empty() ? "-" : tokens,
                      std::to_string(lock["waiters"].size())});
    }
    print_table(rows);
  });
}

}  // namespace synod::cli
