// Name resolution shared by the two Asio users, the peer transport and the
// HTTP server (its forwarding pool): both must bind and dial a name alike.
//
// Header-only over Asio; any thread.
#pragma once

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <vector>

namespace synod::net {

// Not address_configured (Asio's default): in a network namespace with only
// loopback, glibc would then return nothing for "localhost".
inline constexpr auto kResolveFlags = boost::asio::ip::tcp::resolver::numeric_service;

// A resolved name's addresses, IPv4 ones first (each family in the
// resolver's order). Listener and dialer pick alike, so a name that maps to
// both 127.0.0.1 and ::1 ("localhost" on many hosts) is bound and dialed at
// 127.0.0.1 rather than refused once per dial at ::1.
inline std::vector<boost::asio::ip::tcp::endpoint> ipv4_first(
    const boost::asio::ip::tcp::resolver::results_type& results) {
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  std::stable_partition(endpoints.begin(), endpoints.end(),
                        [](const boost::asio::ip::tcp::endpoint& endpoint) { return endpoint.address().is_v4(); });
  return endpoints;
}

}  // namespace synod::net
