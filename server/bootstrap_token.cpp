#include "server/bootstrap_token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tls/secrets.h"

namespace synod::server {

namespace {

constexpr size_t kTokenBytesMin = 16;

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

// Writes `token` to a new file at `path`, mode 0600, through a temporary
// file, fsync and rename, so a crash leaves the whole token or none.
std::string write_new(const std::string& path, const std::string& token) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot create " + temporary + ": " + std::strerror(errno);
  const std::string text = token + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written || ::rename(temporary.c_str(), path.c_str()) != 0)
    return "cannot write " + path + ": " + std::strerror(errno);
  return {};
}

}  // namespace

std::string load_bootstrap_token(const Config& config, BootstrapToken& out) {
  out.path = config.bootstrap_token_file.empty() ? config.data_dir + "/bootstrap-token" : config.bootstrap_token_file;
  std::ifstream in(out.path);
  std::string token;
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    token = trimmed(text.str());
  } else if (config.bootstrap_token_file.empty()) {
    ::mkdir(config.data_dir.c_str(), 0700);
    token = tls::new_token();
    if (token.empty()) return "cannot draw a bootstrap token: no random bytes";
    if (auto error = write_new(out.path, token); !error.empty()) return error;
  } else {
    return "cannot read --bootstrap-token-file " + out.path + ": " + std::strerror(errno);
  }
  if (token.size() < kTokenBytesMin) {
    return "the bootstrap token in " + out.path + " is shorter than " + std::to_string(kTokenBytesMin) + " characters";
  }
  out.hash = tls::sha256(token);
  return {};
}

}  // namespace synod::server
