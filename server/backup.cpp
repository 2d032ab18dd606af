#include "server/backup.h"

#include <cstring>
#include <utility>

#include "server/fork_image.h"

namespace synod::server {

using Kind = http::BackupOutcome::Kind;

void Backups::take(const lockservice::StateMachine& machine, const lockservice::BackupHeader& header,
                   std::function<void(http::BackupOutcome)> done) {
  if (running_.exchange(true)) {
    return done(http::BackupOutcome{Kind::busy, header.revision, {}, "a backup is already being taken on this node"});
  }
  if (reader_.joinable()) reader_.join();  // the previous reader has finished: running_ was false
  // The child writes the whole file, checksum included: that CPU is spent
  // off the serving process too.
  const ForkedImage forked = fork_image([&machine, header] {
    return lockservice::encode_backup(header, machine.snapshot());
  });
  if (!forked.ok()) {
    running_ = false;
    return done(http::BackupOutcome{Kind::failed,
                                    header.revision,
                                    {},
                                    std::string("could not fork the serializing child: ") +
                                        std::strerror(forked.error)});
  }
  child_ = forked.child;
  reader_ = std::thread([this, forked, revision = header.revision, done = std::move(done)] {
    http::BackupOutcome outcome{Kind::ok, revision, {}, {}};
    if (auto error = collect_image(forked, outcome.file); !error.empty()) {
      outcome = http::BackupOutcome{Kind::failed, revision, {}, "the serializing child failed: " + error};
    }
    child_ = -1;
    done(std::move(outcome));
    running_ = false;
  });
}

Backups::~Backups() {
  if (!reader_.joinable()) return;
  kill_image_child(child_.load());
  reader_.join();
}

}  // namespace synod::server
