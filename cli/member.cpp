// `synodctl member list|add|remove|promote` (issue 20): the cluster's
// membership through /v1/cluster/members. Any endpoint works: a follower
// forwards to the leader, which answers a change once it is in effect.
#include <cstdio>
#include <string>

#include "cli/synodctl.h"

namespace synod::cli {

namespace {

void print_member(const json& m) {
  std::printf("%-4s %-8s peer %-22s client %-22s chosen_through %s lag %s", text(m, "id").c_str(),
              text(m, "role").c_str(), text(m, "peer_addr").c_str(), text(m, "client_addr").c_str(),
              text(m, "chosen_through").c_str(), text(m, "lag_slots").c_str());
  if (m.contains("last_ack_ms_ago")) std::printf(" heard %s ms ago", text(m, "last_ack_ms_ago").c_str());
  std::printf("\n");
}

// A member id from the words: a positive decimal number.
std::string member_id(Args& args) {
  const std::string id = args.positional(0, "a member id");
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos) {
    usage_error("a member id is a positive number, not '" + id + "'");
  }
  return id;
}

}  // namespace

int member_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args) {
  if (verb == "list") {
    args.done(0);
    return simple(options, cluster.call("GET", "/v1/cluster/members"), [](const json& body) {
      for (const auto& m : body.value("members", json::array())) print_member(m);
      std::printf("next id %s%s\n", text(body, "next_id").c_str(),
                  body.value("change_in_progress", false) ? "; a change is in progress" : "");
    });
  }
  if (verb == "add") {
    json body = json::object();
    const auto peer = args.flag("peer-addr");
    const auto client = args.flag("client-addr");
    if (!peer || !client) usage_error("member add needs --peer-addr HOST:PORT and --client-addr HOST:PORT");
    body["peer_addr"] = *peer;
    body["client_addr"] = *client;
    if (auto id = args.flag("id")) {
      if (id->empty() || id->find_first_not_of("0123456789") != std::string::npos || id->size() > 9) {
        usage_error("--id is a positive number, not '" + *id + "'");
      }
      body["id"] = std::stoul(*id);
    }
    args.done(0);
    return simple(options,
                  cluster.call("POST", "/v1/cluster/members", body.dump(), {{"content-type", "application/json"}}),
                  [](const json& answer) {
                    std::printf("added learner %s (peer %s, client %s); start it with --join, then promote it\n",
                                text(answer, "id").c_str(), text(answer, "peer_addr").c_str(),
                                text(answer, "client_addr").c_str());
                  });
  }
  if (verb == "remove" || verb == "promote") {
    const std::string id = member_id(args);
    args.done(1);
    const bool remove = verb == "remove";
    const std::string target = "/v1/cluster/members/" + id + (remove ? "" : "/promote");
    return simple(options, cluster.call(remove ? "DELETE" : "POST", target), [&](const json&) {
      std::printf(remove ? "removed member %s\n" : "member %s votes now\n", id.c_str());
    });
  }
  usage_error("unknown member command '" + verb + "' (list, add, remove, promote)");
}

}  // namespace synod::cli
