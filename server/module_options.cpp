#include "server/module_options.h"

#include "server/limits.h"

namespace synod::server {

persistence::LmdbOptions storage_options(const Config& config) {
  persistence::LmdbOptions options;
  options.data_dir = config.data_dir;
  options.storage.node_id = config.id;
  options.storage.log_slots_max = config.snapshot_after_slots;
  options.unsafe_no_sync_for_benchmarks = config.unsafe_no_sync_for_benchmarks;
  return options;
}

EventHistoryOptions history_options(const Config& config) {
  EventHistoryOptions options;
  options.dir = config.data_dir + "/history";
  options.retention_ms = config.history_retention_ms;
  options.retention_revisions = static_cast<uint64_t>(config.history_revisions);
  options.bytes_max = config.history_bytes_max;
  options.limits = config.service.limits;
  return options;
}

transport::TransportOptions transport_options(const Config& config, uint64_t cluster_id, uint64_t config_digest,
                                              uint64_t random_seed) {
  transport::TransportOptions options;
  options.self = config.id;
  options.cluster_id = cluster_id;
  options.config_digest = config_digest;
  for (const auto& m : config.members) {
    transport::PeerAddress address{m.peer.host, m.peer.port};
    if (m.id == config.id) address = transport::PeerAddress{config.peer_listen.host, config.peer_listen.port};
    options.members.push_back(transport::Member{m.id, address});
  }
  options.random_seed = random_seed;
  return options;
}

http::ApiOptions api_options(const Config& config) {
  // The API's forwarding deadline is the node's own request deadline plus a
  // margin (http/api.h), so that the node's answer, even "timeout", comes
  // first.
  static_assert(http::ApiOptions{}.forward_timeout_ms > kRequestMsMax);
  http::ApiOptions options;
  const auto& service = config.service.limits;
  options.decode.key_bytes_max = service.key_bytes_max;
  options.decode.name_bytes_max = service.name_bytes_max;
  options.decode.value_bytes_max = service.value_bytes_max;
  options.decode.txn_ops_max = service.txn_ops_max;
  options.decode.txn_guards_max = service.txn_guards_max;
  return options;
}

}  // namespace synod::server
