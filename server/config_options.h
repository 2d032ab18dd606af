// The option table behind server/config.h, shared by its parts:
//   config.cpp         the member, address, timing and logging options; flags, file and precedence
//   config_limits.cpp  the limits an operator may change, and the relations between them
//   config_env.cpp     SYNOD_<OPTION> environment variables
// Internal to the server's configuration; pure parsing, any thread.
#pragma once

#include <charconv>
#include <functional>
#include <string>
#include <vector>

#include "server/config.h"

namespace synod::server::detail {

using Setter = std::function<bool(Config&, const std::string&, std::string&)>;
using Shower = std::function<std::string(const Config&)>;

struct Option {
  const char* name;  // flag without "--", with '-'; the file uses '_' for '-'; the environment SYNOD_ and upper case
  const char* help;
  Setter set;
  bool takes_value = true;
  Shower show = nullptr;  // the value in a Config, for --help's defaults; null: no default to show
};

template <class T>
bool parse_number(const std::string& text, T& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

// An integer option of at least `min`, read from and written to field(config).
Option int_option(const char* name, const char* help, int64_t& (*field)(Config&), int64_t min);
// A positive size (bytes or a count), with the K/M/G suffixes of 1024 allowed ("64MiB", "4K").
Option size_option(const char* name, const char* help, size_t& (*field)(Config&));

// The limit options (config_limits.cpp), appended to `all`.
void add_limit_options(std::vector<Option>& all);
// The first relation between limits that fails, in one sentence; empty if all hold.
std::string check_limit_relations(const Config& config);

// The TLS options (config_tls.cpp), appended to `all`; and the rule that a
// listener off loopback needs TLS or --insecure-plaintext.
void add_tls_options(std::vector<Option>& all);
std::string check_tls(const Config& config);
// Whether `host` is a loopback name or address (127.0.0.0/8, ::1, localhost).
bool loopback(const std::string& host);

// The environment (config_env.cpp): the file SYNOD_CONFIG names, or empty;
// and every SYNOD_<OPTION> applied to `config` (false with `error` on a bad
// value; unknown variables become `warnings`).
std::string environment_config_file(const char* const* environment);
bool apply_environment(const std::vector<Option>& all, Config& config, const char* const* environment,
                       std::vector<std::string>& warnings, std::string& error);

}  // namespace synod::server::detail
