#include "paxos/assert.h"

#include <cstdio>
#include <cstdlib>

namespace synod {

void assertion_failed(const char* expr, const char* file, int line, const char* message) {
  std::fprintf(stderr, "synod: invariant violated: %s at %s:%d%s%s\n", expr, file, line,
               message ? ": " : "", message ? message : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace synod
