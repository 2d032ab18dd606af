// Decoding the election operations (decode_support.h): campaign (with a
// session or a new one), proclaim, resign, get (a long-poll with ?index) and
// observe (a stream). Pure; any thread.
#include "http/decode_support.h"

namespace synod::http::decoding {

void decode_election_campaign(Decoding& d) {
  ApiRequest& r = d.request;
  r.name = path_name(d.param, d.limits, "election");
  std::optional<ls::CreateSession> create;
  ls::Campaign campaign;
  campaign.election = r.name;
  campaign.session = session_or_new(d.in, d.limits, create);
  campaign.value = value_param(d.in, d.limits);
  r.wait_ms = wait_param(d.in, d.limits);
  if (create) r.command = ls::CreateSessionAnd{*create, campaign};
  else r.command = campaign;
  r.session = campaign.session;
}

void decode_election_proclaim(Decoding& d) {
  ApiRequest& r = d.request;
  r.name = path_name(d.param, d.limits, "election");
  const auto token = d.in.number("token");
  if (!token) bad("missing_parameter", "proclaim needs the leader's token");
  r.command = ls::Proclaim{r.name, *token, value_param(d.in, d.limits)};
}

void decode_election_resign(Decoding& d) {
  ApiRequest& r = d.request;
  r.name = path_name(d.param, d.limits, "election");
  const auto session = d.in.session("session");
  if (!session) bad("missing_parameter", "resign needs the session");
  r.session = *session;
  r.command = ls::Resign{r.name, r.session};
}

void decode_election_get(Decoding& d) {
  d.request.name = path_name(d.param, d.limits, "election");
  d.request.stale = d.in.flag("stale");
  index_param(d.in, d.request, d.limits, true);
}

void decode_election_observe(Decoding& d) {
  d.request.name = path_name(d.param, d.limits, "election");
  index_param(d.in, d.request, d.limits, false);
}

}  // namespace synod::http::decoding
