// `synodctl txn`: one transaction, POST /v1/txn (docs/api.md), from flags or
// from a JSON file. Each --if is a guard and each --then an operation, in
// words (quotes keep spaces in one word), so that a shell line needs no JSON:
//
//   synodctl txn --if 'version /app/cfg = 3' --then 'put /app/cfg "v 4"' --then 'delete /app/old'
//
// The server applies every operation or none, and only if every guard holds.
// There is no else branch: a guard that fails changes nothing and answers
// 412 guard_failed with the guard's number, which this prints with the guard.
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "cli/synodctl.h"
#include "http/text/text.h"

namespace synod::cli {
namespace {

// `text` in words: blanks separate them, '...' keeps everything as is, "..."
// too except \" and \\.
std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'' || c == '"') {
      size_t close = i + 1;
      for (; close < text.size() && text[close] != c; ++close) {
        if (c == '"' && text[close] == '\\' && close + 1 < text.size()) ++close;
        word += text[close];
      }
      if (close >= text.size()) usage_error("an unclosed quote in '" + text + "'");
      i = close;
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

uint64_t number_word(const std::string& word, const std::string& clause) {
  const bool digits = !word.empty() && word.size() <= 19 && word.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) usage_error("'" + word + "' in '" + clause + "' is not a number");
  return std::stoull(word);
}

// A key as the other commands take it: "/a/b" or "a/b" (the API's is "/a/b").
std::string key_word(const std::string& word) { return word.rfind('/', 0) == 0 ? word : "/" + word; }

// A guard: KIND NAME [= VALUE], the kinds of docs/api.md in short.
json guard_json(const std::string& clause) {
  const auto w = split_words(clause);
  const std::string kind = w.empty() ? "" : w[0];
  auto needs = [&](size_t count, const char* shape) {
    if (w.size() != count || (count == 4 && w[2] != "=" && w[2] != "=="))
      usage_error("a guard '" + kind + "' reads '" + shape + "', not '" + clause + "' (only = compares)");
  };
  if (kind == "version" || kind == "modify_index") {
    needs(4, kind == "version" ? "version KEY = N" : "modify_index KEY = N");
    return {{"kind", kind + "_equals"}, {"key", key_word(w[1])}, {kind, number_word(w[3], clause)}};
  }
  if (kind == "exists" || kind == "missing") {
    needs(2, kind == "exists" ? "exists KEY" : "missing KEY");
    return {{"kind", kind}, {"key", key_word(w[1])}};
  }
  if (kind == "holder") {
    needs(4, "holder LOCK = SESSION");
    return {{"kind", "holder"}, {"lock", w[1]}, {"session", w[3]}};
  }
  if (kind == "token") {
    needs(4, "token LOCK = N");
    return {{"kind", "token_current"}, {"lock", w[1]}, {"token", number_word(w[3], clause)}};
  }
  if (kind == "alive") {
    needs(2, "alive SESSION");
    return {{"kind", "session_alive"}, {"session", w[1]}};
  }
  usage_error("unknown guard '" + clause +
              "': version, modify_index, exists, missing, holder, token or alive (synodctl help)");
}

// An operation: put KEY VALUE or delete KEY, then the modifiers kv put and
// kv delete take as flags, written as words (session=S sequential cas=M
// lock=L token=T recurse).
json op_json(const std::string& clause) {
  const auto w = split_words(clause);
  const std::string op = w.empty() ? "" : w[0];
  if (op != "put" && op != "delete") usage_error("unknown operation '" + clause + "': put KEY VALUE or delete KEY");
  const size_t fixed = op == "put" ? 3 : 2;
  if (w.size() < fixed) usage_error("'" + clause + "' reads '" + (op == "put" ? "put KEY VALUE" : "delete KEY") + "'");
  json body = {{"op", op}, {"key", key_word(w[1])}};
  if (op == "put") {
    // JSON strings are UTF-8: other bytes go as base64.
    if (synod::http::valid_utf8(w[2])) body["value"] = w[2];
    else body["value_base64"] = synod::http::base64_encode(w[2]);
  }
  for (size_t i = fixed; i < w.size(); ++i) {
    const std::string& word = w[i];
    const size_t eq = word.find('=');
    const std::string name = word.substr(0, eq), value = eq == std::string::npos ? "" : word.substr(eq + 1);
    const bool flag = op == "put" ? name == "sequential" : name == "recurse";
    if (flag && eq == std::string::npos) body[name] = true;
    else if (eq != std::string::npos && (name == "cas" || name == "token")) body[name] = number_word(value, clause);
    else if (eq != std::string::npos && (name == "lock" || (op == "put" && name == "session"))) body[name] = value;
    else usage_error("unknown modifier '" + word + "' in '" + clause + "'");
  }
  return body;
}

json file_json(const std::string& path) {
  std::string content;
  if (path == "-") {
    content.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) usage_error("cannot read " + path);
    content.assign(std::istreambuf_iterator<char>(in), {});
  }
  json body = json::parse(content, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    usage_error((path == "-" ? std::string("standard input") : path) +
                " is not a JSON object such as {\"guards\":[...],\"ops\":[...]}");
  return body;
}

}  // namespace

int txn_command(const Options& options, Cluster& cluster, const std::vector<std::string>& words) {
  json body = {{"guards", json::array()}, {"ops", json::array()}};
  std::vector<std::string> guard_text;  // what the person wrote, to name a failed guard
  std::optional<std::string> file;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word == "--else")
      usage_error("a transaction has no else branch: a failed guard changes nothing and exits 1 naming the guard");
    if (word != "--if" && word != "--then" && word != "-f" && word != "--file")
      usage_error("unexpected argument '" + word + "' (txn takes --if, --then, or -f FILE)");
    if (i + 1 >= words.size()) usage_error(word + " needs a value");
    const std::string& value = words[++i];
    if (word == "--if") {
      body["guards"].push_back(guard_json(value));
      guard_text.push_back(value);
    } else if (word == "--then") {
      body["ops"].push_back(op_json(value));
    } else {
      file = value;
    }
  }
  if (file && words.size() != 2) usage_error("-f FILE goes alone: not with --if or --then, nor twice");
  if (file) {
    body = file_json(*file);
    if (body.contains("guards") && body["guards"].is_array())
      for (const auto& guard : body["guards"]) guard_text.push_back(guard.dump());
  }
  if (!file && body["guards"].empty() && body["ops"].empty()) usage_error("txn needs --if, --then or -f FILE");
  const auto response = cluster.call("POST", "/v1/txn", body.dump());
  if (response.status == 412) {
    const int code = refused(response);
    const uint64_t failed = body_json(response).value("failed_guard", uint64_t{0});
    if (failed >= 1 && failed <= guard_text.size())
      std::fprintf(stderr, "  guard %llu: %s\n", static_cast<unsigned long long>(failed),
                   guard_text[failed - 1].c_str());
    return code;
  }
  return simple(options, response, [](const json& r) {
    std::printf("ok\n");
    for (const auto& op : r["ops"]) {
      if (text(op, "op") == "put")
        std::printf("put %s modify_index=%s version=%s\n", text(op, "key").c_str(), text(op, "modify_index").c_str(),
                    text(op, "version").c_str());
      else std::printf("delete %s deleted=%s\n", text(op, "key").c_str(), text(op, "deleted").c_str());
    }
  });
}

}  // namespace synod::cli
