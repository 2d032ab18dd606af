// LMDB's values and errors as persistence/ sees them: the store
// (lmdb_storage.cpp) and the watch history (history_store.cpp) share these.
//
// Internal to persistence/. Pure; any thread.
#pragma once

#include <lmdb.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "persistence/status.h"

namespace synod::persistence {

inline MDB_val as_val(std::string_view bytes) { return MDB_val{bytes.size(), const_cast<char*>(bytes.data())}; }

inline std::string_view as_view(const MDB_val& value) {
  return std::string_view(static_cast<const char*>(value.mv_data), value.mv_size);
}

// An LMDB or errno return code as a Status whose message starts with `what`.
inline Status lmdb_error(int rc, const std::string& what) {
  Code code = Code::io_error;
  if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT || rc == EFBIG) code = Code::no_space;
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID) code = Code::corrupt;
  if (rc == MDB_VERSION_MISMATCH) code = Code::unknown_format_version;
  return Status::error(code, what + ": " + mdb_strerror(rc));
}

}  // namespace synod::persistence
