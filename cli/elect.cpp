// `synodctl elect`: campaigns in an election and holds leadership, with its
// session kept alive by a Keeper (keeper.h), until interrupted; then it
// resigns. `elect --observe` prints every leader change instead.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "cli/keeper.h"
#include "cli/synodctl.h"
#include "http/text/text.h"

namespace synod::cli {

int elect(const Options& options, Cluster& cluster, Args& args) {
  if (args.has("observe")) {
    const std::string name = args.positional(0, "the election name");
    args.done(1);
    return follow(options, "/v1/elections/" + encode(name) + "/observe", "", [&](const synod::http::SseEvent& e) {
      if (options.json_output) return (void)std::printf("%s\n", e.data.c_str());
      const json data = json::parse(e.data, nullptr, false);
      if (e.type == "no_leader") return (void)std::printf("no leader\n");
      const json leader = data.contains("leader") && data["leader"].is_object() ? data["leader"] : data;
      std::printf("%s: %s (session %s, token %s)\n", e.type == "proclaimed" ? "proclaimed" : "leader",
                  text(leader, "value").c_str(), text(leader, "session").c_str(), text(leader, "token").c_str());
    });
  }
  const std::string name = args.positional(0, "the election name");
  const std::string value = args.positional(1, "the value");
  const int64_t ttl_ms = duration_arg(args.flag("ttl").value_or("10s"), "--ttl");
  args.done(2);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const auto sent = Clock::now();
  const auto created = cluster.call("POST", "/v1/sessions", json{{"ttl", synod::http::format_duration_ms(ttl_ms)}}.dump());
  if (created.status != 200) return refused(created);
  const std::string session = text(body_json(created), "session");
  Keeper keeper(options, session, ttl_ms, default_margin_ms(ttl_ms), sent,
                body_json(created).value("valid_for_ms", int64_t{0}));
  const std::string path = "/v1/elections/" + encode(name);
  int code = 0;
  bool announced = false;
  while (!g_interrupted && !keeper.expired()) {
    const json body = {{"session", session}, {"value", value}, {"wait", "10s"}};
    const auto response = cluster.call("POST", path + "/campaign", body.dump(), {}, options.timeout_ms + 15'000);
    if (response.status == 200) {
      if (!announced) {
        const json r = body_json(response);
        if (options.json_output) print_json_line(r);
        else std::printf("leader of %s with token %s\n", name.c_str(), text(r, "token").c_str());
        std::fflush(stdout);
        announced = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } else if (response.status != 202) {
      code = refused(response);
      break;
    }
  }
  cluster.call("POST", path + "/resign", json{{"session", session}}.dump());
  keeper.stop();
  cluster.call("DELETE", "/v1/sessions/" + encode(session));
  if (keeper.expired()) {
    std::fprintf(stderr, "synodctl: the session expired: no longer the leader\n");
    return 1;
  }
  return code;
}

}  // namespace synod::cli
