// SYNOD_<OPTION> environment variables, as etcd reads ETCD_<FLAG>: the flag's
// name in upper case with '_' for '-' (SYNOD_HEARTBEAT_MS=50 is
// --heartbeat-ms 50). They sit between the config file and the flags.
//
// The project's scripts and tests use a few SYNOD_* variables of their own
// (the quickstart's folder, the tests' tools, what `synodctl lock run` hands
// its command); those are not options and are passed over in silence. Any
// other unknown SYNOD_* variable is a warning, never an error: an
// environment is shared, and a typo must not stop a node from starting.
#include <array>
#include <string>
#include <string_view>

#include "server/config_options.h"

namespace synod::server::detail {

namespace {

constexpr std::string_view kPrefix = "SYNOD_";

// Variables of the project's own tools (after the prefix); a name ending in
// '_' covers every variable that starts with it.
constexpr std::array<std::string_view, 11> kNotOptions = {
    "QUICKSTART_DIR", "LOADGEN",  "KEEP_TEST_DIRS", "LOCK",  "SESSION", "FENCING_TOKEN",
    "CHAOS_",         "SOAK_",    "TEST_",          "FUZZ_", "PEER_FRAME_CORPUS"};

bool project_variable(std::string_view name) {
  for (std::string_view known : kNotOptions) {
    if (known.back() == '_' ? name.substr(0, known.size()) == known : name == known) return true;
  }
  return false;
}

std::string variable_of(std::string_view flag) {
  std::string name(kPrefix);
  for (char c : flag) name += c == '-' ? '_' : static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return name;
}

// SYNOD_HEARTBEAT_MS -> heartbeat-ms, for the warning.
std::string flag_of(std::string_view variable) {
  std::string flag(variable.substr(kPrefix.size()));
  for (char& c : flag) c = c == '_' ? '-' : static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return flag;
}

}  // namespace

std::string environment_config_file(const char* const* environment) {
  for (auto entry = environment; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (text.substr(0, 13) == "SYNOD_CONFIG=") return std::string(text.substr(13));
  }
  return {};
}

bool apply_environment(const std::vector<Option>& all, Config& config, const char* const* environment,
                       std::vector<std::string>& warnings, std::string& error) {
  for (auto entry = environment; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto equals = text.find('=');
    if (text.substr(0, kPrefix.size()) != kPrefix || equals == std::string_view::npos) continue;
    const std::string_view name = text.substr(0, equals);
    const std::string value(text.substr(equals + 1));
    if (name == "SYNOD_CONFIG" || project_variable(name.substr(kPrefix.size()))) continue;
    const Option* match = nullptr;
    for (const auto& option : all) {
      if (variable_of(option.name) == name) match = &option;
    }
    if (match == nullptr) {
      warnings.push_back("ignoring " + std::string(name) + ": there is no option --" + flag_of(name) + " (see --help)");
      continue;
    }
    if (!match->takes_value) {
      if (value != "true" && value != "1") continue;  // a switch: only a true value turns it on
    }
    if (!match->set(config, value, error)) {
      error = std::string(name) + ": " + error;
      return false;
    }
  }
  return true;
}

}  // namespace synod::server::detail
