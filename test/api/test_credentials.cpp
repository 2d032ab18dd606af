// The Authorization header's parser (http/credentials.h) and the quota of
// unproven connections per address (http/address_quota.h): issue 19.
#include <catch2/catch.hpp>

#include <string>

#include "http/address_quota.h"
#include "http/credentials.h"

namespace synod::http {

TEST_CASE("Authorization: Bearer TOKEN, the scheme in any case, the token in bounds", "[api][auth]") {
  std::string why;
  CHECK(bearer_token("Bearer synod_0123456789abcdef", why) == "synod_0123456789abcdef");
  CHECK(bearer_token("bearer   synod_0123456789abcdef  ", why) == "synod_0123456789abcdef");
  CHECK(bearer_token("BEARER a.b~c+d/e=f-g_h0123456", why) == "a.b~c+d/e=f-g_h0123456");
  for (const char* bad : {"", "Bearer", "Bearer ", "Basic YWxhZGRpbjpvcGVu", "Bearer short", "Bearer has space inside",
                          "Bearer \"quoted0123456789\"", "Token synod_0123456789abcdef"}) {
    INFO(bad);
    why.clear();
    CHECK(bearer_token(bad, why).empty());
    CHECK_FALSE(why.empty());
  }
  CHECK(bearer_token("Bearer " + std::string(kTokenBytesMax, 'a'), why).size() == kTokenBytesMax);
  CHECK(bearer_token("Bearer " + std::string(kTokenBytesMax + 1, 'a'), why).empty());
}

TEST_CASE("an address holds at most its quota of unproven connections", "[api][auth]") {
  AddressQuota quota(2);
  CHECK(quota.take("127.0.0.1"));
  CHECK(quota.take("127.0.0.1"));
  CHECK_FALSE(quota.take("127.0.0.1"));
  CHECK(quota.take("127.0.0.2"));  // another address has its own
  quota.give_back("127.0.0.1");
  CHECK(quota.used("127.0.0.1") == 1);
  CHECK(quota.take("127.0.0.1"));
  quota.give_back("127.0.0.2");
  quota.give_back("127.0.0.2");  // more than taken: ignored
  CHECK(quota.used("127.0.0.2") == 0);
}

}  // namespace synod::http
