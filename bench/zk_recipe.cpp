#include "zk_recipe.h"

#include <string_view>
#include <vector>

namespace bench::zk {
namespace {

Client& client_of(const void* data) { return *static_cast<Client*>(const_cast<void*>(data)); }

// The children of client i are "c<i>-lock-" and ZooKeeper's sequence number.
std::string name_prefix(const Client& c) { return "c" + std::to_string(c.index) + "-lock-"; }

// The sequence number ZooKeeper appended: ten digits, zero-padded, so
// comparing them as strings orders them.
std::string_view sequence(std::string_view name) { return name.substr(name.size() < 10 ? 0 : name.size() - 10); }

void list(Client& c);
void clean(Client& c);

// A failed cycle (recorded already): clean up after the pause.
void give_up(Client& c) { later(c, clean); }

void released(int rc, const void* data) {
  Client& c = client_of(data);
  if (!in_time(c)) return give_up(c);
  if (rc != ZOK) return failed(c, "delete", rc), give_up(c);
  c.run->record(c.invoked, true);
  lock_cycle(c);
}

void release(Client& c) {
  asking(c);
  const int rc = zoo_adelete(handle(c), (c.path + "/" + c.mine).c_str(), -1, released, &c);
  if (rc != ZOK) released(rc, &c);
}

// Fires once the predecessor is deleted. Session events come to every
// watcher of the session: of those only the session's loss matters (our
// child went with it, as the next listing finds). A watch left from an
// abandoned wait fires for another path, and is ignored.
void on_predecessor(zhandle_t* zh, int type, int state, const char* path, void* context) {
  const bool session = type == ZOO_SESSION_EVENT;
  if (session && state != ZOO_EXPIRED_SESSION_STATE) return;
  Client& c = *static_cast<Client*>(context);
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.waiting != zh || (!session && c.waiting_for != path)) return;
    c.waiting = nullptr;
  }
  list(c);
}

// The watch's answer: ZOK means wait for on_predecessor.
void watched(int rc, const char*, int, const Stat*, const void* data) {
  Client& c = client_of(data);
  const bool on_time = in_time(c);
  if (on_time && rc == ZOK) return;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.waiting = nullptr;
  }
  if (!on_time) return give_up(c);
  if (rc == ZNONODE) return list(c);  // gone already: look again
  failed(c, "watch", rc);
  give_up(c);
}

// zoo_awget rather than zoo_awexists, as Curator does: on ZNONODE an exists
// watch would stay registered for a node that never comes back, and receive
// every later session event of the session.
void watch(Client& c, const std::string& predecessor) {
  asking(c);
  zhandle_t* zh = handle(c);
  const std::string node = c.path + "/" + predecessor;
  {
    // Before the request: its answer and the event come in order on the
    // session's completion thread.
    std::lock_guard<std::mutex> lock(c.mutex);
    c.waiting = zh;
    c.waiting_for = node;
  }
  const int rc = zoo_awget(zh, node.c_str(), on_predecessor, &c, watched, &c);
  if (rc != ZOK) watched(rc, nullptr, 0, nullptr, &c);
}

// Ours is the lowest: acquired. Otherwise watch the child just below ours.
void listed(int rc, const String_vector* children, const void* data) {
  Client& c = client_of(data);
  if (!in_time(c)) return give_up(c);
  if (rc != ZOK) return failed(c, "list", rc), give_up(c);
  const std::string_view ours = sequence(c.mine);
  bool found = false;
  const char* predecessor = nullptr;
  for (int32_t k = 0; k < children->count; ++k) {
    const std::string_view name = children->data[k];
    const std::string_view seq = sequence(name);
    found = found || name == c.mine;
    if (seq < ours && (predecessor == nullptr || seq > sequence(predecessor))) predecessor = children->data[k];
  }
  if (!found) return failed(c, "our lock node vanished", ZOK), give_up(c);
  if (predecessor == nullptr) return release(c);
  watch(c, predecessor);
}

void list(Client& c) {
  if (c.run->stopping()) return;
  asking(c);
  const int rc = zoo_aget_children(handle(c), c.path.c_str(), 0, listed, &c);
  if (rc != ZOK) listed(rc, nullptr, &c);
}

void created(int rc, const char* path, const void* data) {
  Client& c = client_of(data);
  if (!in_time(c)) return give_up(c);
  if (rc != ZOK) return failed(c, "create", rc), give_up(c);
  c.mine = std::string(path).substr(c.path.size() + 1);
  list(c);
}

// One delete of the cleanup answered; the last one starts the next cycle.
void clean_deleted(int rc, const void* data) {
  Client& c = client_of(data);
  if (rc != ZOK && rc != ZNONODE) c.cleaned = false;
  if (c.cleaning.fetch_sub(1) != 1) return;
  if (c.cleaned) return lock_cycle(c);
  give_up(c);
}

// The cleanup's listing: delete every child that bears our name. Failures
// here are not operations (the cycle was recorded): just try again.
void clean_listed(int rc, const String_vector* children, const void* data) {
  Client& c = client_of(data);
  if (rc != ZOK) return give_up(c);
  const std::string prefix = name_prefix(c);
  std::vector<std::string> ours;
  for (int32_t k = 0; k < children->count; ++k) {
    if (std::string_view(children->data[k]).starts_with(prefix)) ours.push_back(c.path + "/" + children->data[k]);
  }
  if (ours.empty()) return lock_cycle(c);
  c.cleaned = true;
  c.cleaning = static_cast<int>(ours.size());
  zhandle_t* zh = handle(c);
  for (const auto& node : ours) {
    const int sent = zoo_adelete(zh, node.c_str(), -1, clean_deleted, &c);
    if (sent != ZOK) clean_deleted(sent, &c);
  }
}

void clean(Client& c) {
  if (c.run->stopping()) return;
  const int rc = zoo_aget_children(handle(c), c.path.c_str(), 0, clean_listed, &c);
  if (rc != ZOK) give_up(c);
}

}  // namespace

void lock_cycle(Client& c) {
  if (c.run->stopping()) return;
  begin(c);
  asking(c);
  const std::string prefix = c.path + "/" + name_prefix(c);
  const int rc = zoo_acreate(handle(c), prefix.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL | ZOO_SEQUENCE,
                             created, &c);
  if (rc != ZOK) created(rc, nullptr, &c);
}

}  // namespace bench::zk
