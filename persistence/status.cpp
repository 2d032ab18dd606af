#include "persistence/status.h"

namespace synod::persistence {

const char* code_name(Code code) {
  switch (code) {
    case Code::ok:
      return "ok";
    case Code::fresh:
      return "fresh";
    case Code::corrupt:
      return "corrupt";
    case Code::unknown_format_version:
      return "unknown_format_version";
    case Code::node_id_mismatch:
      return "node_id_mismatch";
    case Code::locked:
      return "locked";
    case Code::io_error:
      return "io_error";
    case Code::no_space:
      return "no_space";
    case Code::refused:
      return "refused";
    case Code::snapshot_changed:
      return "snapshot_changed";
    case Code::invalid_argument:
      return "invalid_argument";
  }
  return "unknown";
}

std::string Status::to_string() const {
  std::string text = code_name(code);
  if (!message.empty()) text += ": " + message;
  return text;
}

}  // namespace synod::persistence
