// module_options: what each module the node wires is configured with, from
// the node's Config (the Replica's options are Config::paxos_options). Pure
// translation: it owns nothing and does no I/O. Any thread; node.cpp calls
// each once, in open(), before the loop runs.
#pragma once

#include <cstdint>

#include "http/api.h"
#include "persistence/lmdb_storage.h"
#include "server/config.h"
#include "server/event_history.h"
#include "transport/peer_transport.h"

namespace synod::server {

persistence::LmdbOptions storage_options(const Config& config);

// The watch history's, in DATA_DIR/history.
EventHistoryOptions history_options(const Config& config);

// cluster_id: the data directory's (persistence/cluster_identity.h);
// config_digest: of the lock service's configuration, which every member
// must share (the handshake refuses a peer whose cluster id or digest
// differs).
transport::TransportOptions transport_options(const Config& config, uint64_t cluster_id, uint64_t config_digest,
                                              uint64_t random_seed);

// Decoding refuses what the lock service would refuse, at its configured
// limits (a raised --value-bytes-max must reach the API too).
http::ApiOptions api_options(const Config& config);

}  // namespace synod::server
