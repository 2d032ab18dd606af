#include "server/peer_services.h"

#include <utility>

#include "base/codec.h"
#include "base/crc32c.h"
#include "server/clock.h"
#include "server/limits.h"

namespace synod::server {

PeerServices::PeerServices(paxos::NodeId self, Host& host, Log& log, NodeMetrics& metrics)
    : self_(self), host_(host), log_(log), metrics_(metrics) {}

// ---------------------------------------------------------- forwarding

bool PeerServices::forward_to_leader(transport::ForwardRequest request, std::function<void(http::Outcome)> done) {
  return forward(std::move(request), Forwarded{paxos::kNoNode, std::move(done), nullptr, 0});
}

bool PeerServices::forward_to_leader(transport::ForwardRequest request,
                                     std::function<void(http::KeepAliveOutcome)> done) {
  return forward(std::move(request), Forwarded{paxos::kNoNode, nullptr, std::move(done), 0});
}

bool PeerServices::forward(transport::ForwardRequest request, Forwarded pending) {
  const paxos::NodeId leader = host_.known_leader();
  if (leader == paxos::kNoNode || leader == self_ || forwarded_.size() >= kForwardedMax) return false;
  request.request_id = ++next_forward_id_;
  pending.to = leader;
  pending.sent_us = steady_us();
  pending.deadline_us = pending.sent_us + kForwardMsMax * 1000;
  if (!host_.send_to_peer(transport::PeerEnvelope{self_, leader, request})) return false;
  pending.request = std::move(request);
  forwarded_.emplace(pending.request.request_id, std::move(pending));
  return true;
}

void PeerServices::on_forward_request(paxos::NodeId from, transport::ForwardRequest request) {
  const uint64_t id = request.request_id;
  auto reply = [this, from, id](uint8_t outcome, paxos::NodeId leader, uint64_t revision, std::string payload) {
    host_.send_to_peer(
        transport::PeerEnvelope{self_, from, transport::ForwardReply{id, outcome, leader, revision, std::move(payload)}});
  };
  if (request.kind == transport::ForwardRequest::Kind::keep_alive) {
    Reader in(request.payload);
    const lockservice::SessionId session = in.varint();
    lockservice::Credential credential;
    if (in.ok() && !in.done()) {  // the credential, from a build with auth (issue 19)
      const uint8_t kind = in.u8();
      credential.value = std::string(in.bytes());
      if (kind > lockservice::kCredentialKindMax) in.fail();
      credential.kind = static_cast<lockservice::Credential::Kind>(kind);
    }
    if (!in.done()) return;  // a malformed forward from a peer: drop it
    // Answered locally (never forwarded again: no leader here means not_leader).
    host_.keep_alive_here(session, std::move(credential), [reply](http::KeepAliveOutcome outcome) {
      std::string payload;
      Writer w(payload);
      w.svarint(outcome.valid_for_ms);
      reply(static_cast<uint8_t>(outcome.kind), outcome.leader, 0, std::move(payload));
    });
    return;
  }
  if (request.kind == transport::ForwardRequest::Kind::read_index) {
    // Answered as a command would be: applied with the revision, or not_leader.
    host_.read_index_here([reply](bool ok, paxos::NodeId leader, uint64_t revision) {
      reply(static_cast<uint8_t>(ok ? http::Outcome::Kind::applied : http::Outcome::Kind::not_leader), leader, revision,
            {});
    });
    return;
  }
  auto decoded = lockservice::decode(request.payload);
  if (!decoded.ok) return;
  if (!host_.is_leader()) {
    return reply(static_cast<uint8_t>(http::Outcome::Kind::not_leader), host_.known_leader(), 0, {});
  }
  host_.propose_now(std::move(decoded.command), decoded.credential, ProposalKey{request.client_id, request.seq},
                    [reply](http::Outcome outcome) {
                      reply(static_cast<uint8_t>(outcome.kind), outcome.leader, outcome.revision,
                            outcome.kind == http::Outcome::Kind::applied ? lockservice::encode_result(outcome.result)
                                                                          : std::string());
                    });
}

void PeerServices::on_forward_reply(const transport::ForwardReply& reply) {
  auto it = forwarded_.find(reply.request_id);
  if (it == forwarded_.end()) return;
  auto pending = std::move(it->second);
  forwarded_.erase(it);
  if (pending.renewed) {
    Reader in(reply.payload);
    const int64_t valid_for_ms = in.svarint();
    const auto kind = reply.outcome <= static_cast<uint8_t>(http::KeepAliveOutcome::Kind::permission_denied)
                          ? static_cast<http::KeepAliveOutcome::Kind>(reply.outcome)
                          : http::KeepAliveOutcome::Kind::not_leader;
    return pending.renewed(http::KeepAliveOutcome{kind, reply.leader, in.ok() ? valid_for_ms : 0});
  }
  http::Outcome outcome{http::Outcome::Kind::timeout, reply.leader, {}, reply.revision};
  if (reply.outcome <= static_cast<uint8_t>(http::Outcome::Kind::stopping)) {
    outcome.kind = static_cast<http::Outcome::Kind>(reply.outcome);
  }
  const bool read_index = pending.request.kind == transport::ForwardRequest::Kind::read_index;
  if (outcome.kind == http::Outcome::Kind::applied && !read_index) {
    auto result = lockservice::decode_result(reply.payload);
    if (!result) outcome.kind = http::Outcome::Kind::timeout;  // unreadable: the outcome is unknown to us
    else outcome.result = std::move(*result);
  }
  pending.proposed(std::move(outcome));
}

void PeerServices::resend_forwarded(int64_t now_us) {
  for (auto& [id, pending] : forwarded_) {
    if (now_us - pending.sent_us < kForwardResendMs * 1000 || pending.to != host_.known_leader()) continue;
    pending.sent_us = now_us;
    host_.send_to_peer(transport::PeerEnvelope{self_, pending.to, pending.request});
  }
}

void PeerServices::fail_forwarded(bool only_to_lost_leader) {
  if (forwarded_.empty()) return;
  const int64_t now = steady_us();
  for (auto it = forwarded_.begin(); it != forwarded_.end();) {
    const bool lost = it->second.to != host_.known_leader();
    if ((only_to_lost_leader && !lost && now < it->second.deadline_us)) {
      ++it;
      continue;
    }
    if (it->second.proposed) {
      it->second.proposed(http::Outcome{http::Outcome::Kind::timeout, host_.known_leader(), {}, 0});
    } else {
      it->second.renewed(http::KeepAliveOutcome{http::KeepAliveOutcome::Kind::not_leader, host_.known_leader(), 0});
    }
    it = forwarded_.erase(it);
  }
}

// ------------------------------------------------------ snapshot transfer

void PeerServices::start_fetch(paxos::NodeId from, paxos::Slot applied_slot) {
  if (fetch_.active) return;
  fetch_ = SnapshotFetch{};
  fetch_.active = true;
  fetch_.from = from;
  fetch_.started_us = steady_us();
  log_.write(Level::info, "snapshot_fetch", {{"from", from}, {"applied_slot", applied_slot}});
  request_snapshot_chunk();
}

void PeerServices::resume_fetch(int64_t now_us) {
  if (fetch_.active && now_us >= fetch_.deadline_us) request_snapshot_chunk();  // resume from what we hold
}

void PeerServices::serve_snapshot_chunk(paxos::NodeId to, const transport::SnapshotRequest& request) {
  host_.run_storage_task([this, to, request](persistence::Storage& store) {
    transport::SnapshotChunk reply;
    const auto info = store.snapshot_info();
    if (info) {
      // A request for a snapshot we no longer hold restarts at our latest.
      const bool same = request.slot == paxos::kNoSlot || request.slot == info->slot;
      auto read = store.read_snapshot_chunk(info->slot, same ? request.offset : 0, kSnapshotChunkBytesMax);
      if (read.status.ok()) {
        reply = transport::SnapshotChunk{
            read.chunk.slot,   info->configurations,      read.chunk.offset,          std::move(read.chunk.bytes),
            read.chunk.crc32c, read.chunk.snapshot_bytes, read.chunk.snapshot_crc32c, read.chunk.last};
      }
    }
    host_.post([this, to, reply = std::move(reply)]() mutable {
      host_.send_to_peer(transport::PeerEnvelope{self_, to, std::move(reply)});
    });
  });
}

void PeerServices::request_snapshot_chunk() {
  fetch_.deadline_us = steady_us() + kSnapshotChunkWaitMs * 1000;
  host_.send_to_peer(transport::PeerEnvelope{self_, fetch_.from, transport::SnapshotRequest{fetch_.slot, fetch_.bytes.size()}});
}

void PeerServices::on_snapshot_chunk(paxos::NodeId from, transport::SnapshotChunk chunk) {
  if (!fetch_.active || from != fetch_.from) return;
  if (chunk.slot == paxos::kNoSlot) {
    // The peer has no snapshot (yet): let the replica ask again later.
    log_.write(Level::warn, "snapshot_fetch_failed", {{"from", from}, {"reason", "the peer has no snapshot"}});
    fetch_.active = false;
    return;
  }
  if (chunk.slot != fetch_.slot) {
    // A newer snapshot than the one we were fetching: start it over.
    if (chunk.offset != 0) return;
    fetch_.slot = chunk.slot;
    fetch_.bytes.clear();
  }
  if (chunk.offset != fetch_.bytes.size() || crc32c(chunk.bytes) != chunk.crc32c) {
    if (chunk.offset == fetch_.bytes.size()) {
      metrics_.corruption_events.inc();
      log_.write(Level::warn, "snapshot_chunk_damaged",
                 {{"from", from}, {"slot", chunk.slot}, {"offset", chunk.offset}, {"reason", "chunk checksum"}});
    }
    request_snapshot_chunk();  // a duplicate, a gap or a damaged chunk: ask for what we need
    return;
  }
  fetch_.configurations = std::move(chunk.configurations);
  fetch_.total_bytes = chunk.total_bytes;
  fetch_.total_crc32c = chunk.total_crc32c;
  fetch_.bytes += chunk.bytes;
  if (!chunk.last) {
    request_snapshot_chunk();
    return;
  }
  finish_fetch();
}

void PeerServices::finish_fetch() {
  fetch_.active = false;
  if (fetch_.bytes.size() != fetch_.total_bytes || crc32c(fetch_.bytes) != fetch_.total_crc32c) {
    metrics_.corruption_events.inc();
    log_.write(Level::error, "snapshot_fetch_failed",
               {{"from", fetch_.from}, {"reason", "checksum of the whole image"},
                {"duration_ms", (steady_us() - fetch_.started_us) / 1000}});
    return;
  }
  host_.install_snapshot(FetchedSnapshot{fetch_.from, fetch_.slot, std::move(fetch_.configurations),
                                         std::move(fetch_.bytes), fetch_.started_us});
}

}  // namespace synod::server
