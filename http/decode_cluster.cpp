// The decoders of the cluster's administrative routes: moving leadership
// (POST /v1/cluster/leader/transfer?to=ID).
#include <cstdint>

#include "http/decode_support.h"

namespace synod::http::decoding {

void decode_leader_transfer(Decoding& d) {
  if (auto to = d.in.number("to")) {
    if (*to == 0 || *to > UINT32_MAX) bad("bad_value", "to is a member id, 1 or more");
    d.request.member = static_cast<uint32_t>(*to);
  }
}

}  // namespace synod::http::decoding
