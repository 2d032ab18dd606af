// The credential a request presents on its own (lockservice/auth.h): its
// bearer token's SHA-256, or, without one, its client certificate's name.
// What a member forwards for its client (X-Synod-Certificate-Name) is the
// API's to believe or not (auth_api.cpp, take_credential). Shared by the API
// and the observability routes (GET /v1/status). Any thread.
#pragma once

#include <string>
#include <string_view>

#include "http/server.h"
#include "lockservice/auth.h"

namespace synod::http {

struct PresentedCredential {
  bool ok = true;  // false: a malformed or repeated Authorization header (401); `why` says which
  std::string why;
  lockservice::Credential credential;  // none if the request presents none
  std::string_view authorization;      // the header, into the request
};

PresentedCredential presented_credential(const Request& request);

}  // namespace synod::http
