// addauth (connection.h): ZooKeeper's digest scheme. The id a connection
// gains is DigestAuthenticationProvider's: "user:" then base64(SHA-1 of
// "user:password"), which is what a digest ACL entry names. The ids are
// judged by the znode ACLs where commands apply (lockservice/znode_acl.cpp).
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "zkserver/connection.h"

namespace synod::zkserver {

namespace zk = zookeeper;

namespace {

std::string digest_id(const std::string& user_password) {
  unsigned char hash[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(user_password.data()), user_password.size(), hash);
  unsigned char text[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  const int length = EVP_EncodeBlock(text, hash, SHA_DIGEST_LENGTH);
  return user_password.substr(0, user_password.find(':')) + ":" +
         std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(length));
}

}  // namespace

// The reply carries the request's xid (ZooKeeperServer.processPacket);
// every client sends kAuthXid.
void Connection::add_auth(int32_t xid, zk::JuteReader& reader, uint64_t slot) {
  zk::AuthPacket packet;
  packet.decode(reader);
  if (!zk::check_whole(reader, nullptr)) {
    return finish(slot, reply(xid, last_zxid_, zk::Error::marshalling_error), last_zxid_);
  }
  // Any other scheme fails, and ZooKeeper then closes the connection.
  if (packet.scheme.value_or("") != "digest" || ids_.size() >= lockservice::kZnodeIdsMax) {
    return finish(slot, reply(xid, last_zxid_, zk::Error::auth_failed), last_zxid_, /*close_after=*/true);
  }
  lockservice::ZnodeId id{"digest", digest_id(packet.auth.value_or(""))};
  if (std::find(ids_.begin(), ids_.end(), id) == ids_.end()) ids_.push_back(std::move(id));
  finish(slot, reply(xid, last_zxid_, zk::Error::ok), last_zxid_);
}

}  // namespace synod::zkserver
