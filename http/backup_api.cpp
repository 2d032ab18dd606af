// GET /v1/snapshot: a backup file (lockservice/backup_file.h) of the state at
// one revision, served by the node the request reaches (node_api.h,
// NodeApi::backup says which state). Not forwarded: a forward buffers its
// answer (forward_response_bytes_max), and a backup is the whole state.
#include "http/api_impl.h"
#include "http/views.h"

namespace synod::http {

void Api::Impl::snapshot_get(const CallPtr& c) {
  node.backup(admitted(c), [this, c](BackupOutcome outcome) {
    using Kind = BackupOutcome::Kind;
    const uint32_t leader = c->view.leader;
    switch (outcome.kind) {
      case Kind::ok: {
        Response response;
        response.content_type = "application/octet-stream";
        response.body = std::move(outcome.file);
        response.set_header("content-disposition",
                            "attachment; filename=\"synod-" + std::to_string(outcome.revision) + ".snapshot\"");
        return reply(c, std::move(response), outcome.revision, leader);
      }
      case Kind::unavailable:
        return unavailable(c, "no_quorum",
                           "node " + std::to_string(c->view.self) +
                               " hears from no leader, or is repairing: its state may be old, so it takes no backup");
      case Kind::busy: {
        Response response = views::error_body(503, "busy", outcome.error);
        response.set_header("retry-after", "5");
        return reply(c, std::move(response), outcome.revision, leader);
      }
      case Kind::failed:
        return fail(c, 500, "snapshot_failed", outcome.error, outcome.revision, leader);
    }
  });
}

}  // namespace synod::http
