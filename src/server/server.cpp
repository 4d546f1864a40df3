#include "server.h"

#include "gref.h"
#include "protocol.h"
#include "room-rules.h"

#include <gio/gio.h>
#include <libsoup/soup.h>

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <unordered_map>
#include <vector>

namespace roomcast {

GQuark server_error_quark() {
  static const GQuark quark = g_quark_from_static_string("roomcast-server-error-quark");
  return quark;
}

namespace {

namespace p = proto;

struct Room;

// One WebSocket connection. Owned by Impl::conns; a Room only points at it.
struct Conn {
  GRef<SoupWebsocketConnection> ws;
  std::string remote;
  gulong message_id = 0, closed_id = 0;
  // Set once the connection joined a room.
  Room *room = nullptr;
  std::string id;
  p::Role role = p::Role::Viewer;
  std::string name;
  // Token bucket for the message rate.
  double tokens = 0;
  gint64 refill_us = 0;
  gint64 last_rate_error_us = 0;
  // Keepalive: time of the last message of any kind.
  gint64 last_seen_us = 0;
  gint64 last_ping_us = 0;
  bool closing = false;
};

struct Room {
  std::string name;
  p::RoomKind kind = p::RoomKind::Live;
  Conn *host = nullptr;
  std::vector<Conn *> peers; // in join order
};

// Every connection holds one descriptor. The usual soft RLIMIT_NOFILE (1024) is far below the
// default --max-connections, so raise the soft limit to the hard one when the connection limit
// needs more (a process may always do that); warn when even the hard limit is too low.
void raise_fd_limit(unsigned max_connections) {
  const rlim_t needed = rlim_t(max_connections) + 64; // listener, main loop, files, logs
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed && rl.rlim_cur < rl.rlim_max) {
    struct rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      g_debug("raised the descriptor limit from %llu to %llu", (unsigned long long)rl.rlim_cur,
              (unsigned long long)raised.rlim_cur);
      rl = raised;
    }
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rlim_t(max_connections))
    g_warning("the descriptor limit (RLIMIT_NOFILE %llu) allows fewer than the %u connections of "
              "--max-connections; raise the hard limit (ulimit -Hn) to hold them all",
              (unsigned long long)rl.rlim_cur, max_connections);
}

// The listening socket, made here rather than by soup_server_listen() for its backlog: libsoup
// listens with GSocket's default backlog of 10, so a burst of connections (many clients joining
// or reconnecting at once) overflows the accept queue and the kernel drops their handshakes;
// each one then waits for a TCP retransmit (1 s, 3 s, ...). Otherwise as libsoup does it:
// SO_REUSEADDR, and IPv6 sockets are IPv6 only.
GSocket *listen_socket(GSocketAddress *address, GError **error) {
  GSocketFamily family = g_socket_address_get_family(address);
  g_autoptr(GSocket) sock =
      g_socket_new(family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (!sock) return nullptr;
  if (family == G_SOCKET_FAMILY_IPV6)
    g_socket_set_option(sock, IPPROTO_IPV6, IPV6_V6ONLY, 1, nullptr);
  g_socket_set_listen_backlog(sock, SOMAXCONN); // the kernel caps it at net.core.somaxconn
  if (!g_socket_bind(sock, address, TRUE, error) || !g_socket_listen(sock, error)) return nullptr;
  return static_cast<GSocket *>(g_steal_pointer(&sock));
}

const char *mime_for(const char *path) {
  if (g_str_has_suffix(path, ".html")) return "text/html; charset=utf-8";
  if (g_str_has_suffix(path, ".js")) return "text/javascript; charset=utf-8";
  if (g_str_has_suffix(path, ".css")) return "text/css; charset=utf-8";
  if (g_str_has_suffix(path, ".png")) return "image/png";
  if (g_str_has_suffix(path, ".svg")) return "image/svg+xml";
  if (g_str_has_suffix(path, ".json")) return "application/json";
  return "application/octet-stream";
}

} // namespace

struct Server::Impl {
  ServerOptions opts;
  GRef<SoupServer> soup;
  unsigned bound_port = 0;
  guint ping_source = 0;
  std::unordered_map<SoupWebsocketConnection *, std::unique_ptr<Conn>> conns;
  std::map<std::string, std::unique_ptr<Room>> rooms;
  std::unordered_map<std::string, Conn *> by_id;
  ServerStats counters;

  ~Impl() { shutdown(); }

  void shutdown() {
    if (ping_source) g_source_remove(std::exchange(ping_source, 0));
    // Detach every connection before dropping it so no handler runs on a dead Conn.
    auto all = std::move(conns);
    for (auto &[ws, c] : all) {
      g_signal_handler_disconnect(ws, c->message_id);
      g_signal_handler_disconnect(ws, c->closed_id);
      if (soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                        "server shutting down");
    }
    rooms.clear();
    by_id.clear();
    if (soup) {
      soup_server_disconnect(soup.get());
      soup.reset();
    }
  }

  // ---- sending -------------------------------------------------------------------------------

  static void send(Conn &c, const p::Message &m) {
    if (c.closing) return;
    SoupWebsocketConnection *ws = c.ws.get();
    if (soup_websocket_connection_get_state(ws) != SOUP_WEBSOCKET_STATE_OPEN) return;
    std::string text = p::serialize(m);
    soup_websocket_connection_send_text(ws, text.c_str());
  }

  void send_error(Conn &c, p::ErrorCode code, std::string message, std::string ref = {}) {
    counters.errors++;
    g_debug("error to %s (%s): %s: %s", c.id.empty() ? c.remote.c_str() : c.id.c_str(), ref.c_str(),
            p::to_string(code), message.c_str());
    send(c, p::make_error(code, std::move(message), std::move(ref)));
  }

  // ---- rooms ---------------------------------------------------------------------------------

  // Who is told about whom (rules::sees).
  static bool sees(const Room &r, const Conn &observer, const Conn &other) {
    return rules::sees(r.kind, observer.role, other.role);
  }

  rules::Limits limits() const { return {opts.max_rooms, opts.max_peers_per_room}; }

  static p::PeerInfo info(const Conn &c) { return {c.id, c.role, c.name}; }

  std::string new_peer_id() {
    for (;;) {
      guint32 v = g_random_int();
      char buf[16];
      g_snprintf(buf, sizeof buf, "p%08x", v);
      if (!by_id.contains(buf)) return buf;
    }
  }

  void handle_join(Conn &c, p::Join &m) {
    if (c.room) {
      send_error(c, p::ErrorCode::AlreadyJoined,
                 "this connection already joined room '" + c.room->name + "' as " + c.id, "join");
      return;
    }
    auto it = rooms.find(m.room);
    Room *room = it != rooms.end() ? it->second.get() : nullptr;
    std::optional<rules::RoomState> state;
    if (room) state = rules::RoomState{room->kind, room->host != nullptr, room->peers.size()};
    if (auto refusal = rules::check_join(m.room, m.role, state, rooms.size(), limits())) {
      send_error(c, refusal->code, std::move(refusal->message), "join");
      return;
    }
    if (!room) {
      auto r = std::make_unique<Room>();
      r->name = m.room;
      r->kind = p::kind_for_role(m.role);
      room = r.get();
      rooms.emplace(m.room, std::move(r));
      g_debug("room %s created (%s)", m.room.c_str(), p::to_string(room->kind));
    }

    c.room = room;
    c.id = new_peer_id();
    c.role = m.role;
    c.name = std::move(m.name);
    by_id.emplace(c.id, &c);

    p::Welcome welcome;
    welcome.id = c.id;
    welcome.room = room->name;
    welcome.kind = room->kind;
    welcome.role = c.role;
    welcome.ping_interval_s = opts.ping_interval_s;
    welcome.max_message_size = opts.max_message_size;
    for (Conn *other : room->peers)
      if (sees(*room, c, *other)) welcome.peers.push_back(info(*other));
    welcome.ice_servers = ice::welcome_servers(opts.ice, g_get_real_time() / G_USEC_PER_SEC, c.id);
    send(c, welcome);

    const p::Message joined = p::PeerJoined{info(c)};
    for (Conn *other : room->peers)
      if (sees(*room, *other, c)) send(*other, joined);

    room->peers.push_back(&c);
    if (c.role == p::Role::Host) room->host = &c;
    g_info("%s joined room %s as %s (%zu peers)", c.id.c_str(), room->name.c_str(),
           p::to_string(c.role), room->peers.size());
  }

  // Takes the connection out of its room and tells the others. Safe to call twice.
  void leave_room(Conn &c, const char *why) {
    Room *room = std::exchange(c.room, nullptr);
    if (!room) return;
    std::erase(room->peers, &c);
    if (room->host == &c) room->host = nullptr;
    by_id.erase(c.id);
    g_info("%s left room %s (%s; %zu peers)", c.id.c_str(), room->name.c_str(), why,
           room->peers.size());
    const p::Message left = p::PeerLeft{c.id};
    for (Conn *other : room->peers)
      if (sees(*room, *other, c)) send(*other, left);
    if (room->peers.empty()) {
      g_debug("room %s removed", room->name.c_str());
      rooms.erase(room->name);
    }
    c.id.clear();
  }

  // offer, answer, ice and bye: passed on to the one peer named in `to`, if the room allows it.
  void handle_relay(Conn &c, p::Message &m) {
    const char *type = p::to_string(p::type_of(m));
    p::Relay &route = *p::relay_of(m);
    if (!c.room) {
      send_error(c, p::ErrorCode::NotJoined, "join a room first", type);
      return;
    }
    if (route.to.empty()) {
      send_error(c, p::ErrorCode::BadMessage, "missing field 'to'", type);
      return;
    }
    auto it = by_id.find(route.to);
    Conn *target = nullptr;
    if (it != by_id.end() && it->second->room == c.room && it->second != &c) target = it->second;
    std::optional<p::Role> target_role;
    if (target) target_role = target->role;
    if (auto refusal =
            rules::check_relay(c.room->name, c.room->kind, c.role, route.to, target_role)) {
      send_error(c, refusal->code, std::move(refusal->message), type);
      return;
    }
    route.from = c.id; // the server sets `from`; the client's is never trusted
    route.to.clear();
    counters.relayed++;
    send(*target, m);
  }

  void handle_text(Conn &c, const char *data, gsize len) {
    if (len > opts.max_message_size) {
      send_error(c, p::ErrorCode::TooLarge,
                 "message of " + std::to_string(len) + " bytes is over the limit of " +
                     std::to_string(opts.max_message_size));
      return;
    }
    p::ParseError err;
    auto m = p::parse(std::string_view(data, len), err);
    if (!m) {
      send_error(c, err.code, err.message, err.ref);
      return;
    }
    const p::Type type = p::type_of(*m);
    if (p::sender_of(type) == p::Sender::Server) {
      send_error(c, p::ErrorCode::Forbidden,
                 std::string("'") + p::to_string(type) + "' is sent by the server only",
                 p::to_string(type));
      return;
    }
    if (p::is_relay(type)) {
      handle_relay(c, *m);
      return;
    }
    std::visit(p::overloaded{
                   [&](p::Join &join) { handle_join(c, join); },
                   [&](p::Leave &) {
                     if (!c.room)
                       send_error(c, p::ErrorCode::NotJoined, "not in a room", "leave");
                     else
                       leave_room(c, "left");
                   },
                   [&](p::Ping &) { send(c, p::Pong{}); },
                   [&](auto &) {}, // pong: a sign of life, nothing more
               },
               *m);
  }

  // True when the message fits the connection's rate; drops it (with at most one error a
  // second) otherwise. Runs before parsing so a flood costs little.
  bool take_token(Conn &c, gint64 now) {
    double elapsed = (now - c.refill_us) / 1e6;
    c.refill_us = now;
    c.tokens = std::min<double>(opts.max_burst, c.tokens + elapsed * opts.max_rate);
    if (c.tokens >= 1.0) {
      c.tokens -= 1.0;
      return true;
    }
    if (now - c.last_rate_error_us >= G_USEC_PER_SEC) {
      c.last_rate_error_us = now;
      send_error(c, p::ErrorCode::RateLimited,
                 "over " + std::to_string(static_cast<int>(opts.max_rate)) +
                     " messages per second; messages are being dropped");
    }
    return false;
  }

  static void on_message(SoupWebsocketConnection *ws, gint type, GBytes *bytes, gpointer data) {
    auto *self = static_cast<Impl *>(data);
    auto it = self->conns.find(ws);
    if (it == self->conns.end()) return;
    Conn &c = *it->second;
    gint64 now = g_get_monotonic_time();
    c.last_seen_us = now;
    if (!self->take_token(c, now)) return;
    if (type != SOUP_WEBSOCKET_DATA_TEXT) {
      self->send_error(c, p::ErrorCode::Binary, "binary frames are not part of the protocol");
      return;
    }
    gsize len = 0;
    const char *text = static_cast<const char *>(g_bytes_get_data(bytes, &len));
    self->handle_text(c, text ? text : "", len);
  }

  static void on_closed(SoupWebsocketConnection *ws, gpointer data) {
    auto *self = static_cast<Impl *>(data);
    auto it = self->conns.find(ws);
    if (it == self->conns.end()) return;
    std::unique_ptr<Conn> c = std::move(it->second);
    self->conns.erase(it);
    g_debug("connection from %s closed (code %u)", c->remote.c_str(),
            soup_websocket_connection_get_close_code(ws));
    self->leave_room(*c, "connection closed");
    g_signal_handler_disconnect(ws, c->message_id);
    g_signal_handler_disconnect(ws, c->closed_id);
    // `c` (and its reference on ws) goes here; the emission holds its own reference.
  }

  static void on_websocket(SoupServer *, SoupServerMessage *msg, const char *,
                           SoupWebsocketConnection *ws, gpointer data) {
    auto *self = static_cast<Impl *>(data);
    auto c = std::make_unique<Conn>();
    c->ws = GRef<SoupWebsocketConnection>::ref(ws);
    const char *host = soup_server_message_get_remote_host(msg);
    c->remote = host ? host : "?";
    c->tokens = self->opts.max_burst;
    c->refill_us = c->last_seen_us = g_get_monotonic_time();
    // libsoup closes the socket (1009) beyond this hard cap; between the limit and the cap the
    // client gets a too-large error and stays connected.
    guint64 cap = std::max<guint64>(self->opts.max_message_size * 4, 64 * 1024);
    soup_websocket_connection_set_max_incoming_payload_size(ws, cap);
    if (self->conns.size() >= self->opts.max_connections) {
      self->counters.errors++;
      send(*c, p::make_error(p::ErrorCode::ServerFull, "too many connections; try again later"));
      // 1008, not 1013 ("try again later"): libsoup refuses to send codes 1012-2999 and would
      // turn the close into a 1002 protocol error.
      soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "server full");
      return;
    }
    c->message_id = g_signal_connect(ws, "message", G_CALLBACK(on_message), self);
    c->closed_id = g_signal_connect(ws, "closed", G_CALLBACK(on_closed), self);
    g_debug("connection from %s", c->remote.c_str());
    self->conns.emplace(ws, std::move(c));
  }

  // Pings quiet connections and drops the ones that stopped answering.
  static gboolean on_ping_tick(gpointer data) {
    auto *self = static_cast<Impl *>(data);
    gint64 now = g_get_monotonic_time();
    const gint64 interval = gint64(self->opts.ping_interval_s) * G_USEC_PER_SEC;
    const gint64 timeout = gint64(self->opts.ping_timeout_s) * G_USEC_PER_SEC;
    const std::string ping = p::serialize(p::make_simple(p::Type::Ping));
    std::vector<Conn *> dead;
    for (auto &[ws, c] : self->conns) {
      if (c->closing) continue;
      gint64 quiet = now - c->last_seen_us;
      if (quiet >= timeout)
        dead.push_back(c.get());
      else if (quiet >= interval - G_USEC_PER_SEC / 10 &&
               now - c->last_ping_us >= interval - G_USEC_PER_SEC / 10 &&
               soup_websocket_connection_get_state(ws) == SOUP_WEBSOCKET_STATE_OPEN) {
        c->last_ping_us = now;
        soup_websocket_connection_send_text(ws, ping.c_str());
      }
    }
    for (Conn *c : dead) {
      g_info("%s stopped answering pings; dropping it",
             c->id.empty() ? c->remote.c_str() : c->id.c_str());
      // State first: the others learn at once, whatever the socket does next.
      self->leave_room(*c, "keepalive timeout");
      c->closing = true;
      soup_websocket_connection_close(c->ws.get(), SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                      "keepalive timeout");
    }
    return G_SOURCE_CONTINUE;
  }

  void serve_file(SoupServerMessage *msg, const char *path) {
    const char *method = soup_server_message_get_method(msg);
    if (g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) {
      soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
      return;
    }
    std::string rel;
    if (g_strcmp0(path, "/") == 0)
      rel = "index.html";
    else if (g_str_has_prefix(path, "/room/"))
      rel = "room.html";
    else if (g_strcmp0(path, "/healthz") == 0) {
      g_autofree char *body =
          g_strdup_printf("{\"ok\":true,\"version\":%d,\"connections\":%zu,\"rooms\":%zu}",
                          p::kVersion, conns.size(), rooms.size());
      soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
      soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body,
                                       strlen(body));
      return;
    } else
      rel = path + 1;
    // Only plain names below the web root: no "..", no hidden files.
    if (rel.empty() || rel.find("..") != std::string::npos || rel.front() == '.' ||
        rel.find("//") != std::string::npos) {
      soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
      return;
    }
    g_autoptr(GBytes) bytes = nullptr;
    if (!opts.web_root.empty()) {
      g_autofree char *file = g_build_filename(opts.web_root.c_str(), rel.c_str(), nullptr);
      char *contents = nullptr;
      gsize len = 0;
      if (g_file_get_contents(file, &contents, &len, nullptr))
        bytes = g_bytes_new_take(contents, len);
    }
    // Files generated at build time (protocol.js) are not in the source folder that --web-root
    // usually names: they come from the built-in copy unless the folder has its own.
    if (!bytes && (opts.web_root.empty() || rel == "protocol.js")) {
      std::string res = "/org/roomcast/web/" + rel;
      bytes = g_resources_lookup_data(res.c_str(), G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
    }
    if (!bytes) {
      soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
      return;
    }
    gsize len = 0;
    const void *data = g_bytes_get_data(bytes, &len);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    soup_server_message_set_response(msg, mime_for(rel.c_str()), SOUP_MEMORY_COPY,
                                     static_cast<const char *>(data), len);
  }

  static void on_http(SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *,
                      gpointer data) {
    static_cast<Impl *>(data)->serve_file(msg, path);
  }
};

Server::Server(ServerOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
}

Server::~Server() = default;

bool Server::start(GError **error) {
  Impl &s = *impl_;
  if (s.opts.max_message_size < 1024) {
    g_set_error(error, ROOMCAST_SERVER_ERROR, ROOMCAST_SERVER_ERROR_BAD_OPTION,
                "max message size must be at least 1024 bytes");
    return false;
  }
  if (s.opts.ping_interval_s == 0 || s.opts.ping_timeout_s <= s.opts.ping_interval_s) {
    g_set_error(error, ROOMCAST_SERVER_ERROR, ROOMCAST_SERVER_ERROR_BAD_OPTION,
                "ping timeout (%u s) must be longer than the ping interval (%u s)",
                s.opts.ping_timeout_s, s.opts.ping_interval_s);
    return false;
  }
  if (std::string why; !ice::check_setup(s.opts.ice, &why)) {
    g_set_error(error, ROOMCAST_SERVER_ERROR, ROOMCAST_SERVER_ERROR_BAD_OPTION, "%s", why.c_str());
    return false;
  }
  raise_fd_limit(s.opts.max_connections);
  s.soup = GRef<SoupServer>::adopt(soup_server_new("server-header", "roomcast", nullptr));
  soup_server_add_websocket_handler(s.soup.get(), "/ws", nullptr, nullptr, Impl::on_websocket, &s,
                                    nullptr);
  soup_server_add_handler(s.soup.get(), nullptr, Impl::on_http, &s, nullptr);

  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(s.opts.host.c_str());
  if (!addr) {
    g_set_error(error, ROOMCAST_SERVER_ERROR, ROOMCAST_SERVER_ERROR_BAD_ADDRESS,
                "'%s' is not an IP address", s.opts.host.c_str());
    return false;
  }
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(addr, s.opts.port);
  g_autoptr(GSocket) sock = listen_socket(sa, error);
  if (!sock || !soup_server_listen_socket(s.soup.get(), sock,
                                          static_cast<SoupServerListenOptions>(0), error)) {
    g_prefix_error(error, "cannot listen on %s:%u: ", s.opts.host.c_str(), s.opts.port);
    s.soup.reset();
    return false;
  }
  GSList *uris = soup_server_get_uris(s.soup.get());
  if (uris) s.bound_port = g_uri_get_port(static_cast<GUri *>(uris->data));
  g_slist_free_full(uris, reinterpret_cast<GDestroyNotify>(g_uri_unref));
  s.ping_source = g_timeout_add_seconds(1, Impl::on_ping_tick, &s);
  return true;
}

void Server::stop() {
  impl_->shutdown();
}

unsigned Server::port() const {
  return impl_->bound_port;
}

static std::string host_for_url(const std::string &host) {
  if (host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "[::1]";
  if (host.find(':') != std::string::npos) return "[" + host + "]";
  return host;
}

std::string Server::ws_url() const {
  return "ws://" + host_for_url(impl_->opts.host) + ":" + std::to_string(port()) + "/ws";
}

std::string Server::http_url() const {
  return "http://" + host_for_url(impl_->opts.host) + ":" + std::to_string(port()) + "/";
}

ServerStats Server::stats() const {
  ServerStats st = impl_->counters;
  st.connections = impl_->conns.size();
  st.peers = impl_->by_id.size();
  st.rooms = impl_->rooms.size();
  return st;
}

} // namespace roomcast
