// Bytes made by a forked child off the owner thread: the node's snapshots
// (snapshot_fork.h) and backups (backup.h) both serialize the state machine
// as it was at one instant without holding the owner loop for the time that
// takes (fork_image.cpp says why and how).
//
// fork_image runs on the owner thread (the instant is the fork); the child
// runs `make_bytes` and nothing else; collect_image blocks, on a thread of
// the caller's that is not the owner thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include <sys/types.h>

namespace synod::server {

// The largest image a child may announce (64 GiB): a sanity bound; the store
// refuses an image above its snapshot_bytes_max anyway.
inline constexpr uint64_t kForkedImageBytesMax = uint64_t{1} << 36;

struct ForkedImage {
  int fd = -1;  // the pipe's read end; -1 if the fork failed
  pid_t child = -1;
  int error = 0;  // errno of a failed pipe or fork
  bool ok() const { return child > 0; }
};

// Forks a child that runs make_bytes() on the parent's memory as of the fork
// and sends the result up a pipe, then exits.
ForkedImage fork_image(const std::function<std::string()>& make_bytes);

// Reads the child's bytes into `image` (allocated once, at their exact
// size), closes the pipe and reaps the child. Empty, or what went wrong: the
// bytes count only with all of them, the pipe's end and exit status 0.
std::string collect_image(const ForkedImage& forked, std::string& image);

// Kills a child still running (a node that stops meanwhile).
void kill_image_child(pid_t child);

}  // namespace synod::server
