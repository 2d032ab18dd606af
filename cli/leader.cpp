// `synodctl leader transfer [--to ID]`: moves leadership to member ID, or to
// the most caught-up member (POST /v1/cluster/leader/transfer). Any endpoint
// works: a follower forwards it to the leader, which answers once the
// successor leads.
#include <cstdio>

#include "cli/synodctl.h"

namespace synod::cli {

int leader_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args) {
  if (verb != "transfer") usage_error("unknown leader command '" + verb + "' (transfer)");
  std::string target = "/v1/cluster/leader/transfer";
  if (auto to = args.flag("to")) target += "?to=" + encode(*to);
  args.done(0);
  return simple(options, cluster.call("POST", target), [](const json& body) {
    std::printf("node %s leads (was node %s; %s ms)\n", text(body, "leader").c_str(), text(body, "from").c_str(),
                text(body, "took_ms").c_str());
  });
}

}  // namespace synod::cli
