// Decoding the auth operations (decode_support.h; docs/security.md): tokens
// (create, list, revoke), rules (create, list, delete), turning auth on and
// off, who the caller is, and the administrator's forced releases and lock
// listing. A new token's secret is not chosen here
// (decoding is pure): execution draws it and fills the command's hash.
// Pure; any thread.
#include "http/decode_support.h"

namespace synod::http::decoding {

namespace {

// A principal or role name: 1 to kPrincipalBytesMax name characters.
std::string principal_name(const std::string& text, const char* what) {
  if (text.empty() || text.size() > ls::kPrincipalBytesMax ||
      !std::all_of(text.begin(), text.end(), [](char c) { return name_char(c); })) {
    bad("bad_value", std::string(what) + " is 1 to " + std::to_string(ls::kPrincipalBytesMax) +
                         " letters, digits or - . _ ~ : @ + = ,");
  }
  return text;
}

uint64_t path_id(std::string_view param, const char* what) {
  auto id = parse_u64(param);
  if (!id || *id == 0) bad("bad_id", std::string("a ") + what + " id is a positive decimal number");
  return *id;
}

}  // namespace

void decode_auth_token_create(Decoding& d) {
  ls::CreateToken token;
  const auto principal = d.in.string("principal");
  if (!principal) bad("missing_parameter", "a token names its principal");
  token.principal = principal_name(*principal, "a principal");
  // roles=a,b (a list in one string: the query and the body read alike).
  const std::string roles = d.in.string("roles").value_or("");
  for (size_t start = 0; start < roles.size();) {
    const size_t comma = std::min(roles.find(',', start), roles.size());
    token.roles.push_back(principal_name(roles.substr(start, comma - start), "a role"));
    start = comma + 1;
  }
  if (token.roles.size() > ls::kRolesPerTokenMax) {
    bad("bad_value", "a token has at most " + std::to_string(ls::kRolesPerTokenMax) + " roles");
  }
  d.request.command = std::move(token);
}

void decode_auth_token_revoke(Decoding& d) { d.request.command = ls::RevokeToken{path_id(d.param, "token")}; }

void decode_auth_rule_create(Decoding& d) {
  ls::PutRule rule;
  const auto subject = d.in.string("subject");
  if (!subject) bad("missing_parameter", "a rule names its subject: user:NAME or role:NAME");
  const bool user = subject->rfind("user:", 0) == 0;
  if (!user && subject->rfind("role:", 0) != 0) bad("bad_value", "a rule's subject is user:NAME or role:NAME");
  rule.subject = subject->substr(0, 5) + principal_name(subject->substr(5), "a subject's name");
  const auto space = ls::parse_acl_space(d.in.string("space").value_or(""));
  if (!space) bad("bad_value", "space is locks, keys, elections, sessions or cluster");
  rule.space = *space;
  const auto permission = ls::parse_permission(d.in.string("permission").value_or(""));
  if (!permission) bad("bad_value", "permission is read, write or admin");
  rule.permission = *permission;
  rule.prefix = d.in.string("prefix").value_or("");
  if (rule.prefix.size() > ls::kPrefixBytesMax) {
    bad("bad_value", "a prefix has at most " + std::to_string(ls::kPrefixBytesMax) + " bytes");
  }
  if (rule.space == ls::AclSpace::keys && !rule.prefix.empty() && rule.prefix.front() != '/') {
    bad("bad_value", "a key prefix starts with '/'");
  }
  d.request.command = std::move(rule);
}

void decode_auth_rule_delete(Decoding& d) { d.request.command = ls::DeleteRule{path_id(d.param, "rule")}; }

void decode_force_release(Decoding& d, ls::Space space) {
  ls::ForceRelease force;
  force.space = space;
  force.name = d.request.name = path_name(d.param, d.limits, space == ls::Space::lock ? "lock" : "election");
  if (auto session = d.in.session("session")) force.session = *session;
  force.reason = d.in.string("reason").value_or("forced by an administrator");
  if (force.reason.size() > 256) bad("bad_value", "a reason has at most 256 bytes");
  force.skip_lock_delay = d.in.flag("skip_lock_delay");
  d.request.command = std::move(force);
}

void decode_lock_list(Decoding& d) {
  d.request.after = d.in.string("after").value_or("");
  d.request.limit = list_limit(d.in.number("limit"), d.limits);
}

void decode_auth_enable(Decoding& d) { d.request.command = ls::SetAuth{true}; }
void decode_auth_disable(Decoding& d) { d.request.command = ls::SetAuth{false}; }

}  // namespace synod::http::decoding
