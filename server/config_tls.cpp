// The security options (issue 19): TLS, the bootstrap token, and the secure
// default: a listener that other hosts can reach speaks TLS, or the operator
// says in a flag that it need not.
#include "server/config_options.h"

namespace synod::server {

namespace detail {

bool loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

namespace {

Option file_option(const char* name, const char* help, std::string& (*field)(Config&)) {
  return {name, help, [field](Config& c, const std::string& v, std::string& e) {
            if (v.empty()) {
              e = "want a file";
              return false;
            }
            field(c) = v;
            return true;
          }};
}

}  // namespace

void add_tls_options(std::vector<Option>& all) {
  all.push_back(file_option("tls-cert",
                            "PEM certificate (then intermediates) for the client port, the peer port and peer dials; "
                            "it names the member with the URI SAN synod://CLUSTER-ID/node/ID",
                            [](Config& c) -> std::string& { return c.tls_cert; }));
  all.push_back(file_option("tls-key", "PEM private key of --tls-cert (reloaded with it on SIGHUP)",
                            [](Config& c) -> std::string& { return c.tls_key; }));
  all.push_back(file_option("tls-ca", "PEM CA certificates that sign peers' and clients' certificates",
                            [](Config& c) -> std::string& { return c.tls_ca; }));
  all.push_back(file_option("bootstrap-token-file",
                            "a file holding the token that becomes root's if this node leads first (default: one made "
                            "once in the data directory, bootstrap-token, mode 0600)",
                            [](Config& c) -> std::string& { return c.bootstrap_token_file; }));
  all.push_back(file_option("join-token-file",
                            "with auth on: a file holding a token with admin on the cluster space, which --join "
                            "presents when it asks a member for the configuration",
                            [](Config& c) -> std::string& { return c.join_token_file; }));
  all.push_back({"audit-locks", "an audit log line for every acquire, release, campaign and resign as well",
                 [](Config& c, const std::string&, std::string&) {
                   c.audit_locks = true;
                   return true;
                 },
                 false});
  all.push_back({"client-cert-auth", "the client port refuses clients without a certificate from --tls-ca",
                 [](Config& c, const std::string&, std::string&) {
                   c.client_cert_auth = true;
                   return true;
                 },
                 false});
  all.push_back({"insecure-plaintext", "allow a listener off loopback without TLS (logged as a warning at every start)",
                 [](Config& c, const std::string&, std::string&) {
                   c.insecure_plaintext = true;
                   return true;
                 },
                 false});
}

std::string check_tls(const Config& config) {
  const int given = !config.tls_cert.empty() + !config.tls_key.empty() + !config.tls_ca.empty();
  if (given != 0 && given != 3) return "TLS needs all three of --tls-cert, --tls-key and --tls-ca";
  if (config.client_cert_auth && given == 0) return "--client-cert-auth needs TLS: --tls-cert, --tls-key and --tls-ca";
  // The ZooKeeper listener speaks no TLS yet (docs/zookeeper.md): off
  // loopback it needs the operator's word even when the other listeners
  // have TLS.
  if (config.zookeeper_listen && !loopback(config.zookeeper_listen->host) && !config.insecure_plaintext) {
    return "this node would speak ZooKeeper's protocol on " + config.zookeeper_listen->to_string() +
           ", off loopback, and that listener has no TLS yet: bind it to loopback, or give --insecure-plaintext";
  }
  if (given == 3 || config.insecure_plaintext) return {};
  for (const Endpoint* listener : {&config.client_listen, &config.peer_listen}) {
    if (loopback(listener->host)) continue;
    const char* what = listener == &config.client_listen ? "clients" : "peers";
    return std::string("this node would listen for ") + what + " on " + listener->to_string() +
           ", off loopback, in plain text: give --tls-cert, --tls-key and --tls-ca, or --insecure-plaintext";
  }
  return {};
}

}  // namespace detail

bool Config::listens_off_loopback() const {
  return !detail::loopback(client_listen.host) || !detail::loopback(peer_listen.host) ||
         (zookeeper_listen && !detail::loopback(zookeeper_listen->host));
}

}  // namespace synod::server
