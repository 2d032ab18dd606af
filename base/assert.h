// SYNOD_ASSERT: invariant checks that stay on in every build type.
//
// A violated invariant is a programmer error: the process prints where and why
// and aborts, because continuing could break safety (a second value chosen for
// a slot, a promise broken). Operating errors (timeouts, lost quorum, bad input)
// never use this; they return a status.
//
// Header-only, so every module (the lock service too) can use it without
// linking the Paxos core.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace synod {

[[noreturn]] inline void assertion_failed(const char* expr, const char* file, int line, const char* message) {
  std::fprintf(stderr, "synod: invariant violated: %s at %s:%d%s%s\n", expr, file, line, message ? ": " : "",
               message ? message : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace synod

#define SYNOD_ASSERT(cond)                                                   \
  do {                                                                       \
    if (!(cond)) [[unlikely]]                                                \
      ::synod::assertion_failed(#cond, __FILE__, __LINE__, nullptr);         \
  } while (false)

#define SYNOD_ASSERT_MSG(cond, message)                                      \
  do {                                                                       \
    if (!(cond)) [[unlikely]]                                                \
      ::synod::assertion_failed(#cond, __FILE__, __LINE__, (message));       \
  } while (false)
