#include "server.h"

#include "gref.h"
#include "janus-bridge.h"
#include "json-text.h"
#include "protocol.h"
#include "room-rules.h"
#include "tls.h"
#include "token.h"
#include "web-policy.h"
#include "whep.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <gnutls/crypto.h>
#include <libsoup/soup.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <deque>
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
  std::string remote; // the client's address, for logs
  gulong message_id = 0, closed_id = 0;
  // Set once the connection joined a room.
  Room *room = nullptr;
  std::string id;
  p::Role role = p::Role::Viewer;
  std::string name;
  bool offers = false; // a viewer that offers to its host (join "offers"; WHEP players)
  // Token bucket for the message rate.
  double tokens = 0;
  gint64 refill_us = 0;
  gint64 last_rate_error_us = 0;
  // Keepalive: time of the last message of any kind.
  gint64 last_seen_us = 0;
  gint64 last_ping_us = 0;
  bool closing = false;
  bool counted = false; // in Impl::per_address
  std::string token;    // the identity of the token it joined with (Impl::per_token), if any
};

struct Room {
  std::string name;
  std::string opened_by; // the client address that created it (per-address room limit)
  p::RoomKind kind = p::RoomKind::Live;
  Conn *host = nullptr;
  std::vector<Conn *> peers; // in join order
  bool unlisted = false;     // a host or member joined with "private": never in GET /rooms
};

// One accepted TCP connection, whatever it carries (an HTTP request, a TLS handshake, a
// WebSocket). The server holds no reference on the socket: a weak reference tells it when libsoup
// (or the WebSocket) is done with it, so a connection libsoup forgets cannot be kept open here.
struct Tcp {
  GSocket *sock = nullptr; // weak
  std::string key;         // remote "ip:port" (unique while the connection is open)
  gint64 accepted_us = 0;
  bool websocket = false; // upgraded: the keepalive watches it from then on
  bool shut = false;      // shut down by us (timeout, shed); libsoup closes it next
};

// More TCP connections than --max-connections WebSockets: room to tell a client over the
// WebSocket limit why (server-full), and to serve the page while the server is full.
constexpr unsigned kSpareTcp = 64;

// "ip:port" of a socket address.
std::string addr_key(GSocketAddress *a) {
  if (!G_IS_INET_SOCKET_ADDRESS(a)) return {};
  auto *ia = G_INET_SOCKET_ADDRESS(a);
  g_autofree char *ip = g_inet_address_to_string(g_inet_socket_address_get_address(ia));
  return std::string(ip) + ":" + std::to_string(g_inet_socket_address_get_port(ia));
}

std::string addr_ip(GSocketAddress *a) {
  if (!G_IS_INET_SOCKET_ADDRESS(a)) return "?";
  g_autofree char *ip =
      g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(a)));
  return ip;
}

bool is_loopback(GSocketAddress *a) {
  return G_IS_INET_SOCKET_ADDRESS(a) &&
         g_inet_address_get_is_loopback(
             g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(a)));
}

// Every connection holds one descriptor. The usual soft RLIMIT_NOFILE (1024) is far below the
// default --max-connections, so raise the soft limit to the hard one when the connection limit
// needs more (a process may always do that); warn when even the hard limit is too low.
void raise_fd_limit(unsigned max_connections) {
  const rlim_t needed = rlim_t(max_connections) + kSpareTcp + 64; // listener, loop, files, logs
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

// The listening socket, made here rather than by libsoup: libsoup listens with GSocket's default
// backlog of 10 (a burst of connections overflows the accept queue and the kernel drops their
// handshakes, each then waits for a TCP retransmit of 1 s, 3 s, ...), and its accept loop stops
// for good at the first failed accept() (out of descriptors), so the server accepts itself (see
// Impl::accept_some). As libsoup does it otherwise: SO_REUSEADDR, and IPv6 sockets are IPv6 only.
GSocket *listen_socket(GSocketAddress *address, GError **error) {
  GSocketFamily family = g_socket_address_get_family(address);
  g_autoptr(GSocket) sock =
      g_socket_new(family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (!sock) return nullptr;
  if (family == G_SOCKET_FAMILY_IPV6)
    g_socket_set_option(sock, IPPROTO_IPV6, IPV6_V6ONLY, 1, nullptr);
  g_socket_set_listen_backlog(sock, SOMAXCONN); // the kernel caps it at net.core.somaxconn
  if (!g_socket_bind(sock, address, TRUE, error) || !g_socket_listen(sock, error)) return nullptr;
  g_socket_set_blocking(sock, FALSE);
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

// Refusal lines at the default log level, at most kPerSecond a second (a client that is refused
// in a loop must not flood the log); the rest are counted and summed up in the next line.
class RefusalLog {
public:
  void operator()(const char *fmt, ...) G_GNUC_PRINTF(2, 3) {
    gint64 now = g_get_monotonic_time();
    if (now - window_us_ >= G_USEC_PER_SEC) {
      window_us_ = now;
      in_window_ = 0;
    }
    if (++in_window_ > kPerSecond) {
      suppressed_++;
      return;
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (suppressed_)
      g_message("%s (and %" G_GUINT64_FORMAT " refusals not logged)", line,
                std::exchange(suppressed_, 0));
    else
      g_message("%s", line);
  }

private:
  static constexpr unsigned kPerSecond = 20;
  gint64 window_us_ = 0;
  unsigned in_window_ = 0;
  guint64 suppressed_ = 0;
};

// A client's header for a log line: printable ASCII, at most 100 characters.
std::string loggable(const char *v) {
  std::string out;
  for (const char *c = v ? v : "(none)"; *c && out.size() < 100; c++)
    out += (*c >= 0x20 && *c < 0x7f) ? *c : '?';
  return out;
}

// Refusals that are not protocol errors (counted in /metrics next to the protocol's codes).
constexpr const char *kRefusalOrigin = "origin-not-allowed";
constexpr const char *kRefusalHost = "host-not-allowed";
constexpr const char *kRefusalTcp = "connection-limit";

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

  // TLS, tokens, browsers.
  GRef<GTlsCertificate> cert;
  std::string fingerprint;
  rules::TokenPolicy token_policy = rules::TokenPolicy::None;
  web::Policy web;
  std::string web_root_real; // --web-root with every symlink resolved

  // Our own accept loop (see listen_socket).
  GRef<GSocket> listener;
  GSource *accept_source = nullptr;
  guint accept_retry = 0;
  gint64 accept_paused_since_us = 0;
  std::unordered_map<GSocket *, Tcp> tcp;
  std::unordered_map<std::string, GSocket *> tcp_by_key;
  std::size_t tcp_live = 0; // entries not shut down
  // Connections in accept order, for the HTTP timeout and shedding; entries that became
  // WebSockets or went are skipped (and dropped) lazily.
  std::deque<std::pair<GSocket *, gint64>> pending;

  // For /metrics and the logs.
  std::map<std::string, std::uint64_t> refusals; // by code
  std::uint64_t accepted = 0, joins = 0, leaves = 0, http_timeouts = 0, shed = 0, accept_pauses = 0;
  RefusalLog refusal_log;
  std::function<std::string()> extra_metrics; // Server::set_extra_metrics
  std::unique_ptr<whep::Endpoint> whep;       // POST /whep/ROOM (whep.h)
  std::string whep_secret;                    // proves a WebSocket is the WHEP endpoint's
  std::unique_ptr<janus::Bridge> sfu;         // --sfu: live rooms' viewers through Janus

  ~Impl() { shutdown(); }

  void shutdown() {
    if (whep) whep->close_all();
    sfu.reset();
    if (ping_source) g_source_remove(std::exchange(ping_source, 0));
    if (accept_retry) g_source_remove(std::exchange(accept_retry, 0));
    if (accept_source) {
      g_source_destroy(accept_source);
      g_source_unref(std::exchange(accept_source, nullptr));
    }
    if (listener) {
      g_socket_close(listener.get(), nullptr);
      listener.reset();
    }
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
    for (auto &[sock, t] : tcp)
      g_object_weak_unref(G_OBJECT(sock), on_socket_gone, this);
    tcp.clear();
    tcp_by_key.clear();
    pending.clear();
    tcp_live = 0;
    if (soup) {
      soup_server_disconnect(soup.get());
      soup.reset();
    }
  }

  // ---- accepting -----------------------------------------------------------------------------

  unsigned tcp_cap() const { return opts.max_connections + kSpareTcp; }

  static void on_socket_gone(gpointer data, GObject *where) {
    auto *self = static_cast<Impl *>(data);
    auto it = self->tcp.find(reinterpret_cast<GSocket *>(where));
    if (it == self->tcp.end()) return;
    if (!it->second.shut) self->tcp_live--;
    auto k = self->tcp_by_key.find(it->second.key);
    if (k != self->tcp_by_key.end() && k->second == it->first) self->tcp_by_key.erase(k);
    self->tcp.erase(it);
  }

  Tcp *tcp_of(SoupServerMessage *msg) {
    auto k = tcp_by_key.find(addr_key(soup_server_message_get_remote_address(msg)));
    if (k == tcp_by_key.end()) return nullptr;
    auto it = tcp.find(k->second);
    return it == tcp.end() ? nullptr : &it->second;
  }

  // Shuts a connection down: libsoup (or the WebSocket) reads the end and closes it, and its
  // socket goes (on_socket_gone). It no longer counts toward the limit from here.
  void shut(Tcp &t) {
    if (t.shut) return;
    t.shut = true;
    tcp_live--;
    g_socket_shutdown(t.sock, TRUE, TRUE, nullptr);
  }

  // A connection that has not become a WebSocket: pending (an HTTP request or a TLS handshake
  // under way, or a client that never finishes one).
  Tcp *pending_entry(const std::pair<GSocket *, gint64> &front) {
    auto it = tcp.find(front.first);
    if (it == tcp.end() || it->second.accepted_us != front.second || it->second.websocket ||
        it->second.shut)
      return nullptr;
    return &it->second;
  }

  // Closes the oldest pending connection to make room; false when there is none.
  bool shed_oldest(const char *why) {
    while (!pending.empty()) {
      auto front = pending.front();
      pending.pop_front();
      if (Tcp *t = pending_entry(front)) {
        g_debug("closing the oldest unfinished request (%s, %.1f s old): %s", t->key.c_str(),
                (g_get_monotonic_time() - t->accepted_us) / 1e6, why);
        shed++;
        shut(*t);
        return true;
      }
    }
    return false;
  }

  // HTTP timeout: pending connections older than http_timeout_s are shut down; drops entries of
  // the pending list that are not pending any more.
  void expire_pending(gint64 now) {
    const gint64 timeout = gint64(opts.http_timeout_s) * G_USEC_PER_SEC;
    while (!pending.empty()) {
      Tcp *t = pending_entry(pending.front());
      if (t && now - t->accepted_us < timeout) break;
      pending.pop_front();
      if (t) {
        http_timeouts++;
        g_debug("%s: no request finished within %u s; closing", t->key.c_str(),
                opts.http_timeout_s);
        shut(*t);
      }
    }
  }

  void take(GSocket *raw) {
    GRef<GSocket> sock = GRef<GSocket>::adopt(raw);
    accepted++;
    g_autoptr(GSocketAddress) remote = g_socket_get_remote_address(sock.get(), nullptr);
    g_autoptr(GSocketAddress) local = g_socket_get_local_address(sock.get(), nullptr);
    if (!remote || !local) { // reset by the client already
      g_socket_close(sock.get(), nullptr);
      return;
    }
    if (tcp_live >= tcp_cap() && !shed_oldest("at the connection limit")) {
      refusals[kRefusalTcp]++;
      refusal_log("refused connection from %s: %zu connections held (--max-connections %u + %u)",
                  addr_ip(remote).c_str(), tcp_live, opts.max_connections, kSpareTcp);
      g_socket_close(sock.get(), nullptr);
      return;
    }
    g_socket_set_option(sock.get(), IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
    g_autoptr(GSocketConnection) conn = g_socket_connection_factory_create_connection(sock.get());
    g_autoptr(GIOStream) stream = G_IO_STREAM(g_object_ref(conn));
    if (cert) {
      g_autoptr(GError) err = nullptr;
      GIOStream *tls_conn = g_tls_server_connection_new(G_IO_STREAM(conn), cert.get(), &err);
      if (!tls_conn) {
        g_warning("cannot start TLS for %s: %s", addr_ip(remote).c_str(), err->message);
        g_io_stream_close(G_IO_STREAM(conn), nullptr, nullptr);
        return;
      }
      g_tls_connection_set_require_close_notify(G_TLS_CONNECTION(tls_conn), FALSE);
      const char *alpn[] = {"http/1.1", nullptr};
      g_tls_connection_set_advertised_protocols(G_TLS_CONNECTION(tls_conn), alpn);
      g_object_unref(stream);
      stream = tls_conn;
    }
    const gint64 now = g_get_monotonic_time();
    Tcp t;
    t.sock = sock.get();
    t.key = addr_key(remote);
    t.accepted_us = now;
    if (auto old = tcp_by_key.find(t.key); old != tcp_by_key.end()) {
      // The same address and port again: the old connection is gone whatever its socket says.
      if (auto it = tcp.find(old->second); it != tcp.end()) shut(it->second);
    }
    tcp_by_key[t.key] = t.sock;
    tcp.emplace(t.sock, std::move(t));
    tcp_live++;
    pending.emplace_back(sock.get(), now);
    g_object_weak_ref(G_OBJECT(sock.get()), on_socket_gone, this);
    soup_server_accept_iostream(soup.get(), stream, local, remote, nullptr);
  }

  // Accepts what is waiting (at most a batch, so a flood of connections cannot starve the
  // clients we have). False when accepting must pause: the source is gone then, and a timer
  // brings it back.
  bool accept_some() {
    for (int i = 0; i < 64; i++) {
      g_autoptr(GError) err = nullptr;
      GSocket *sock = g_socket_accept(listener.get(), nullptr, &err);
      if (sock) {
        take(sock);
        continue;
      }
      if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        pause_accept(err);
        return false;
      }
      // The queue is empty: a trouble episode is over.
      if (accept_paused_since_us) {
        g_message("accepting connections again after %.1f s",
                  (g_get_monotonic_time() - accept_paused_since_us) / 1e6);
        accept_paused_since_us = 0;
      }
      return true;
    }
    return true;
  }

  // accept() failed: out of descriptors (EMFILE, ENFILE), memory, or a client that reset while
  // queued. libsoup's listener stops here for good (3.2: its source returns G_SOURCE_REMOVE);
  // we make room by closing the oldest unfinished requests (a batch: each costs one main-loop
  // round to close), if there are any, and try again soon. Connections that wait meanwhile stay
  // in the kernel's queue.
  void pause_accept(const GError *err) {
    g_source_unref(std::exchange(accept_source, nullptr)); // it is destroyed by returning FALSE
    const bool no_fds = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES);
    int made_room = 0;
    while (no_fds && made_room < 16 && shed_oldest("out of descriptors"))
      made_room++;
    if (!accept_paused_since_us) {
      accept_paused_since_us = g_get_monotonic_time();
      accept_pauses++;
      g_message("cannot accept connections: %s (%zu connections held); %s", err->message,
                tcp.size(),
                no_fds ? "closing unfinished requests and trying again" : "trying again shortly");
    }
    accept_retry = g_timeout_add(made_room ? 5 : 100, resume_accept, this);
  }

  static gboolean on_accept(GSocket *, GIOCondition, gpointer data) {
    return static_cast<Impl *>(data)->accept_some() ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
  }

  void watch_listener() {
    accept_source = g_socket_create_source(listener.get(), G_IO_IN, nullptr);
    g_source_set_callback(accept_source, G_SOURCE_FUNC(on_accept), this, nullptr);
    g_source_attach(accept_source, g_main_context_get_thread_default());
  }

  static gboolean resume_accept(gpointer data) {
    auto *self = static_cast<Impl *>(data);
    self->accept_retry = 0;
    self->watch_listener();
    return G_SOURCE_REMOVE;
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
    refusals[p::to_string(code)]++;
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

  // Per client address: WebSockets held and rooms opened (see ServerOptions).
  struct AddressUse {
    unsigned connections = 0, rooms = 0;
  };
  std::unordered_map<std::string, AddressUse> per_address;
  bool limited(const std::string &addr) const {
    if (opts.limit_loopback) return true;
    return !(g_str_has_prefix(addr.c_str(), "127.") || addr == "::1" ||
             g_str_has_prefix(addr.c_str(), "::ffff:127."));
  }
  void release_address(const std::string &addr, unsigned connections, unsigned rooms) {
    auto it = per_address.find(addr);
    if (it == per_address.end()) return;
    it->second.connections -= std::min(it->second.connections, connections);
    it->second.rooms -= std::min(it->second.rooms, rooms);
    if (it->second.connections == 0 && it->second.rooms == 0) per_address.erase(it);
  }

  static p::PeerInfo info(const Conn &c) { return {c.id, c.role, c.name, c.offers}; }

  std::string new_peer_id() {
    for (;;) {
      guint32 v = g_random_int();
      char buf[16];
      g_snprintf(buf, sizeof buf, "p%08x", v);
      if (!by_id.contains(buf)) return buf;
    }
  }

  // Peers in rooms now, by the identity of the token they joined with (token::identity).
  std::unordered_map<std::string, unsigned> per_token;
  void release_token(Conn &c) {
    if (c.token.empty()) return;
    auto it = per_token.find(c.token);
    if (it != per_token.end() && --it->second == 0) per_token.erase(it);
    c.token.clear();
  }

  void refuse_join(Conn &c, const p::Join &m, rules::Refusal refusal) {
    refusal_log("refused join room=%s role=%s from=%s: %s", m.room.c_str(), p::to_string(m.role),
                c.remote.c_str(), refusal.text().c_str());
    send_error(c, refusal.code, std::move(refusal.message), "join");
  }

  void handle_join(Conn &c, p::Join &m) {
    if (c.room) {
      send_error(c, p::ErrorCode::AlreadyJoined,
                 "this connection already joined room '" + c.room->name + "' as " + c.id, "join");
      return;
    }
    auto it = rooms.find(m.room);
    Room *room = it != rooms.end() ? it->second.get() : nullptr;
    // Tokens first: a client without the right one learns nothing about the room.
    rules::TokenStatus status = rules::TokenStatus::Absent;
    std::string why;
    token::Claims claims;
    if (!m.token.empty() && !opts.token_secret.empty()) {
      token::Verdict v = token::verify(m.token, opts.token_secret, m.room, m.role,
                                       g_get_real_time() / G_USEC_PER_SEC);
      status = v ? rules::TokenStatus::Valid : rules::TokenStatus::Invalid;
      why = v.why;
      claims = std::move(v.claims);
    }
    if (auto refusal = rules::check_token(token_policy, m.role, status, why, room != nullptr)) {
      refuse_join(c, m, std::move(*refusal));
      return;
    }
    std::optional<rules::RoomState> state;
    if (room) state = rules::RoomState{room->kind, room->host != nullptr, room->peers.size()};
    if (auto refusal = rules::check_join(m.room, m.role, state, rooms.size(), limits())) {
      refuse_join(c, m, std::move(*refusal));
      return;
    }
    if (limited(c.remote)) {
      if (!room && per_address[c.remote].rooms >= opts.max_rooms_per_address) {
        refuse_join(c, m,
                    rules::Refusal{p::ErrorCode::TooManyRooms,
                                   "too many rooms opened from your address; try again later"});
        return;
      }
      if (room && std::count_if(room->peers.begin(), room->peers.end(), [&](const Conn *o) {
                    return o->remote == c.remote;
                  }) >= std::ptrdiff_t(opts.max_peers_per_address)) {
        refuse_join(c, m,
                    rules::Refusal{p::ErrorCode::RoomFull,
                                   "too many peers from your address in this room"});
        return;
      }
    }
    // Per token: the smaller of the server's limit and the token's own `max` claim.
    std::string token_id;
    if (status == rules::TokenStatus::Valid) {
      token_id = token::identity(m.token, claims);
      unsigned limit = opts.max_joins_per_token;
      if (claims.max_joins && (!limit || claims.max_joins < limit)) limit = claims.max_joins;
      auto held = per_token.find(token_id);
      const unsigned in_use = held == per_token.end() ? 0 : held->second;
      if (limit && in_use >= limit) {
        const bool own = claims.max_joins == limit;
        const char *peers = in_use == 1 ? "peer" : "peers";
        refusal_log("refused join room=%s role=%s from=%s: token-limit (token %s in use by %u %s; "
                    "%s)",
                    m.room.c_str(), p::to_string(m.role), c.remote.c_str(),
                    token::log_name(m.token, claims).c_str(), in_use, peers,
                    own ? "its max claim" : "--max-joins-per-token");
        send_error(c, p::ErrorCode::TokenLimit,
                   "this token is in use by " + std::to_string(in_use) + " " + peers +
                       ", as many as " + (own ? "it allows" : "the server allows for one token"),
                   "join");
        return;
      }
    }
    if (!room) {
      auto r = std::make_unique<Room>();
      r->name = m.room;
      r->opened_by = c.remote;
      if (limited(c.remote)) per_address[c.remote].rooms++;
      r->kind = p::kind_for_role(m.role);
      room = r.get();
      rooms.emplace(m.room, std::move(r));
      g_debug("room %s created (%s)", m.room.c_str(), p::to_string(room->kind));
    }

    if (m.private_room && m.role != p::Role::Viewer) room->unlisted = true;
    c.room = room;
    c.id = new_peer_id();
    c.role = m.role;
    c.name = std::move(m.name);
    c.offers = m.offers && m.role == p::Role::Viewer;
    by_id.emplace(c.id, &c);
    if (!token_id.empty()) {
      per_token[token_id]++;
      c.token = std::move(token_id);
    }

    p::Welcome welcome;
    welcome.id = c.id;
    welcome.room = room->name;
    welcome.kind = room->kind;
    welcome.role = c.role;
    welcome.ping_interval_s = opts.ping_interval_s;
    welcome.max_message_size = opts.max_message_size;
    // With --sfu, a viewer that goes through Janus is never shown to the host (janus-bridge.h).
    // A WHEP player offers, and Janus's subscriber offers too: players are served by the host.
    const bool via_sfu = sfu && room->kind == p::RoomKind::Live && c.role == p::Role::Viewer &&
                         !c.offers &&
                         sfu->viewer_joined(room->name, c.id, room->host ? room->host->id : "");
    for (Conn *other : room->peers)
      if (sees(*room, c, *other) && !(sfu && sfu->hides(other->id)))
        welcome.peers.push_back(info(*other));
    welcome.ice_servers = ice::welcome_servers(opts.ice, g_get_real_time() / G_USEC_PER_SEC, c.id);
    send(c, welcome);

    const p::Message joined = p::PeerJoined{info(c)};
    for (Conn *other : room->peers)
      if (sees(*room, *other, c) && !via_sfu) send(*other, joined);

    room->peers.push_back(&c);
    if (c.role == p::Role::Host) room->host = &c;
    if (sfu && c.role == p::Role::Host) sfu->host_joined(room->name, c.id);
    joins++;
    g_message("join room=%s peer=%s role=%s from=%s%s (%zu in room)", room->name.c_str(),
              c.id.c_str(), p::to_string(c.role), c.remote.c_str(),
              status == rules::TokenStatus::Valid
                  ? (" token " + token::log_name(m.token, claims)).c_str()
                  : "",
              room->peers.size());
  }

  // Takes the connection out of its room and tells the others. Safe to call twice.
  void leave_room(Conn &c, const char *why) {
    Room *room = std::exchange(c.room, nullptr);
    if (!room) return;
    std::erase(room->peers, &c);
    if (room->host == &c) room->host = nullptr;
    bool via_sfu = false;
    if (sfu && c.role == p::Role::Viewer) via_sfu = sfu->viewer_left(c.id);
    if (sfu && c.role == p::Role::Host) sfu->host_left(room->name);
    by_id.erase(c.id);
    release_token(c);
    leaves++;
    g_message("leave room=%s peer=%s role=%s from=%s reason=%s (%zu in room)", room->name.c_str(),
              c.id.c_str(), p::to_string(c.role), c.remote.c_str(), why, room->peers.size());
    const p::Message left = p::PeerLeft{c.id};
    for (Conn *other : room->peers)
      if (sees(*room, *other, c) && !via_sfu) send(*other, left);
    if (room->peers.empty()) {
      if (limited(room->opened_by)) release_address(room->opened_by, 0, 1);
      g_debug("room %s removed", room->name.c_str());
      rooms.erase(room->name);
    }
    c.id.clear();
  }

  // offer, answer, ice, bye and prefer: passed on to the one peer named in `to`, if the room allows
  // it.
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
    // A prefer goes from a viewer to its host only, whoever serves the viewer (SFU or host).
    if (p::type_of(m) == p::Type::Prefer && target) {
      if (auto refusal = rules::check_prefer(c.role, target->role)) {
        send_error(c, refusal->code, std::move(refusal->message), type);
        return;
      }
    }
    if (sfu && c.room->kind == p::RoomKind::Live && sfu->relay(c.room->name, c.id, m)) {
      counters.relayed++;
      return;
    }
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
    self->leave_room(*c, "connection-closed");
    if (c->counted) self->release_address(c->remote, 1, 0);
    g_signal_handler_disconnect(ws, c->message_id);
    g_signal_handler_disconnect(ws, c->closed_id);
    // `c` (and its reference on ws) goes here; the emission holds its own reference.
  }

  static void on_websocket(SoupServer *, SoupServerMessage *msg, const char *,
                           SoupWebsocketConnection *ws, gpointer data) {
    auto *self = static_cast<Impl *>(data);
    if (Tcp *t = self->tcp_of(msg)) t->websocket = true;
    auto c = std::make_unique<Conn>();
    c->ws = GRef<SoupWebsocketConnection>::ref(ws);
    const char *host = soup_server_message_get_remote_host(msg);
    c->remote = host ? host : "?";
    // Our own WHEP endpoint's session: the player's address is the one that counts.
    SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
    const char *secret = soup_message_headers_get_one(req, whep::kSecretHeader);
    const char *player = soup_message_headers_get_one(req, whep::kAddressHeader);
    if (secret && player && *player && !self->whep_secret.empty() && self->whep_secret == secret)
      c->remote = player;
    c->tokens = self->opts.max_burst;
    c->refill_us = c->last_seen_us = g_get_monotonic_time();
    // libsoup closes the socket (1009) beyond this hard cap; between the limit and the cap the
    // client gets a too-large error and stays connected.
    guint64 cap = std::max<guint64>(self->opts.max_message_size * 4, 64 * 1024);
    soup_websocket_connection_set_max_incoming_payload_size(ws, cap);
    if (self->conns.size() >= self->opts.max_connections) {
      self->counters.errors++;
      self->refusals[p::to_string(p::ErrorCode::ServerFull)]++;
      self->refusal_log(
          "refused websocket from=%s: server-full (%zu WebSockets, --max-connections)",
          c->remote.c_str(), self->conns.size());
      send(*c, p::make_error(p::ErrorCode::ServerFull, "too many connections; try again later"));
      // 1008, not 1013 ("try again later"): libsoup refuses to send codes 1012-2999 and would
      // turn the close into a 1002 protocol error.
      soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "server full");
      return;
    }
    if (self->limited(c->remote) &&
        self->per_address[c->remote].connections >= self->opts.max_connections_per_address) {
      self->counters.errors++;
      self->refusals[p::to_string(p::ErrorCode::ServerFull)]++;
      self->refusal_log("refused websocket from=%s: server-full (%u WebSockets from this address, "
                        "--max-connections-per-address)",
                        c->remote.c_str(), self->per_address[c->remote].connections);
      send(*c, p::make_error(p::ErrorCode::ServerFull,
                             "too many connections from your address; try again later"));
      soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "server full");
      return;
    }
    if (self->limited(c->remote)) {
      self->per_address[c->remote].connections++;
      c->counted = true;
    }
    c->message_id = g_signal_connect(ws, "message", G_CALLBACK(on_message), self);
    c->closed_id = g_signal_connect(ws, "closed", G_CALLBACK(on_closed), self);
    g_debug("connection from %s", c->remote.c_str());
    self->conns.emplace(ws, std::move(c));
  }

  // Once a second: pings quiet connections and drops the ones that stopped answering; closes
  // connections that did not become WebSockets in time.
  static gboolean on_ping_tick(gpointer data) {
    auto *self = static_cast<Impl *>(data);
    gint64 now = g_get_monotonic_time();
    self->expire_pending(now);
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
      g_debug("%s stopped answering pings; dropping it",
              c->id.empty() ? c->remote.c_str() : c->id.c_str());
      // State first: the others learn at once, whatever the socket does next.
      self->leave_room(*c, "keepalive-timeout");
      c->closing = true;
      soup_websocket_connection_close(c->ws.get(), SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                      "keepalive timeout");
    }
    return G_SOURCE_CONTINUE;
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  static void set_text(SoupServerMessage *msg, guint status, const std::string &text) {
    soup_server_message_set_status(msg, status, nullptr);
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY,
                                     text.c_str(), text.size());
  }

  // Every request, before its handler: the Host check (DNS rebinding), the Origin check of
  // WebSocket upgrades (cross-site WebSocket hijacking), the security headers.
  static void on_request_read(SoupServer *, SoupServerMessage *msg, gpointer data) {
    auto *self = static_cast<Impl *>(data);
    SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
    SoupMessageHeaders *resp = soup_server_message_get_response_headers(msg);
    const char *host = soup_message_headers_get_one(req, "Host");
    const char *origin = soup_message_headers_get_one(req, "Origin");
    const char *remote = soup_server_message_get_remote_host(msg);
    auto opt = [](const char *v) { return v ? std::optional<std::string_view>(v) : std::nullopt; };
    const bool upgrade = g_strcmp0(g_uri_get_path(soup_server_message_get_uri(msg)), "/ws") == 0;
    if (!upgrade) soup_message_headers_replace(resp, "Connection", "close");
    if (!web::host_allowed(self->web, opt(host))) {
      self->refusals[kRefusalHost]++;
      self->refusal_log("refused request from=%s: host '%s' is not one of this server's names "
                        "(--allowed-host)",
                        remote ? remote : "?", loggable(host).c_str());
      set_text(msg, SOUP_STATUS_MISDIRECTED_REQUEST,
               "This server does not answer for that host name.\n");
      return;
    }
    for (const auto &[name, value] : web::security_headers(self->web, host ? host : ""))
      soup_message_headers_replace(resp, name.c_str(), value.c_str());
    if (upgrade && !web::origin_allowed(self->web, opt(origin), opt(host))) {
      self->refusals[kRefusalOrigin]++;
      self->refusal_log("refused websocket from=%s: origin '%s' is not allowed (--allowed-origin)",
                        remote ? remote : "?", loggable(origin).c_str());
      set_text(msg, SOUP_STATUS_FORBIDDEN, "WebSocket connections from that origin are refused.\n");
    }
  }

  std::string metrics_text() const {
    std::string out;
    auto family = [&](const char *name, const char *type, const char *help) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    auto sample = [&](const std::string &name, std::uint64_t v) {
      out += name + " " + std::to_string(v) + "\n";
    };
    family("roomcast_rooms", "gauge", "Rooms open now.");
    sample("roomcast_rooms", rooms.size());
    family("roomcast_peers", "gauge", "Peers in rooms now, by role.");
    std::map<std::string, std::uint64_t> roles;
    for (const auto &r : p::spec::kRoles)
      roles[std::string(r.name)] = 0;
    for (const auto &[id, c] : by_id)
      roles[p::to_string(c->role)]++;
    for (const auto &[role, n] : roles)
      sample("roomcast_peers{role=\"" + role + "\"}", n);
    family("roomcast_tokens_in_use", "gauge",
           "Distinct room tokens that peers in rooms joined with, now.");
    sample("roomcast_tokens_in_use", per_token.size());
    family("roomcast_websockets", "gauge", "WebSocket connections open now.");
    sample("roomcast_websockets", conns.size());
    family("roomcast_connections", "gauge",
           "TCP connections held now (WebSockets, HTTP requests, TLS handshakes).");
    sample("roomcast_connections", tcp_live);
    family("roomcast_connections_accepted_total", "counter", "TCP connections accepted.");
    sample("roomcast_connections_accepted_total", accepted);
    family("roomcast_joins_total", "counter", "Joins the server accepted.");
    sample("roomcast_joins_total", joins);
    family("roomcast_leaves_total", "counter", "Peers that left a room (leave, close, keepalive).");
    sample("roomcast_leaves_total", leaves);
    family("roomcast_messages_relayed_total", "counter",
           "Offers, answers, candidates, byes and prefers "
           "relayed.");
    sample("roomcast_messages_relayed_total", counters.relayed);
    family("roomcast_refusals_total", "counter",
           "Refusals by code: error messages sent (the protocol's codes) and connections refused "
           "(origin-not-allowed, host-not-allowed, connection-limit).");
    std::map<std::string, std::uint64_t> codes = refusals;
    for (const auto &e : p::spec::kErrors)
      codes.emplace(std::string(e.name), 0);
    for (const char *k : {kRefusalOrigin, kRefusalHost, kRefusalTcp})
      codes.emplace(k, 0);
    for (const auto &[code, n] : codes)
      sample("roomcast_refusals_total{code=\"" + code + "\"}", n);
    family("roomcast_http_timeouts_total", "counter",
           "Connections closed for not finishing a request in time (--http-timeout).");
    sample("roomcast_http_timeouts_total", http_timeouts);
    family("roomcast_connections_shed_total", "counter",
           "Unfinished requests closed early to make room (connection limit, no descriptors).");
    sample("roomcast_connections_shed_total", shed);
    family("roomcast_accept_pauses_total", "counter",
           "Times accepting paused (out of descriptors or memory).");
    sample("roomcast_accept_pauses_total", accept_pauses);
    return out;
  }

  // GET /rooms (docs/protocol.md#room-list): the rooms a start page may offer, as JSON. Live
  // rooms with a host (and how many watch), meetings (and how many are in them); never a room a
  // host or member marked private, and nothing when the server lists no rooms (--no-room-list)
  // or admits only peers with a token (a page without one could join none of them).
  std::string room_list_json() const {
    const bool listed = opts.list_rooms && token_policy != rules::TokenPolicy::All;
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "listed");
    json_builder_add_boolean_value(b, listed);
    json_builder_set_member_name(b, "rooms");
    json_builder_begin_array(b);
    std::size_t n = 0, more = 0;
    for (const auto &[name, r] : rooms) {
      if (!listed) break;
      const bool live = r->kind == p::RoomKind::Live;
      if (r->unlisted || (live && !r->host)) continue;
      if (n == p::kRoomListMax) {
        more++;
        continue;
      }
      n++;
      const auto audience = std::count_if(r->peers.begin(), r->peers.end(), [&](const Conn *c) {
        return c->role == (live ? p::Role::Viewer : p::Role::Member);
      });
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "name");
      json_builder_add_string_value(b, name.c_str());
      json_builder_set_member_name(b, "kind");
      json_builder_add_string_value(b, p::to_string(r->kind));
      json_builder_set_member_name(b, live ? "viewers" : "members");
      json_builder_add_int_value(b, audience);
      if (live && !r->host->name.empty()) {
        json_builder_set_member_name(b, "host");
        json_builder_add_string_value(b, r->host->name.c_str());
      }
      json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "more");
    json_builder_add_int_value(b, more);
    json_builder_end_object(b);
    return json_text(b);
  }

  void serve_room_list(SoupServerMessage *msg) const {
    const std::string body = room_list_json();
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
                                 "no-store");
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body.data(),
                                     body.size());
  }

  void serve_file(SoupServerMessage *msg, const char *path) {
    const char *method = soup_server_message_get_method(msg);
    if (g_strcmp0(method, "GET") != 0 && g_strcmp0(method, "HEAD") != 0) {
      soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, nullptr);
      return;
    }
    // The room list is the server's own answer (docs/protocol.md#room-list); every other path
    // is routed by web::route.
    if (path && path == p::kRoomListPath) return serve_room_list(msg);
    const web::Route route = web::route(path ? path : "");
    if (route.kind == web::Route::Kind::Health) {
      g_autofree char *body =
          g_strdup_printf("{\"ok\":true,\"version\":%d,\"connections\":%zu,\"rooms\":%zu}",
                          p::kVersion, conns.size(), rooms.size());
      soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
      soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, body,
                                       strlen(body));
      return;
    }
    if (route.kind == web::Route::Kind::Metrics &&
        (opts.public_metrics || is_loopback(soup_server_message_get_remote_address(msg)))) {
      std::string body = metrics_text();
      if (sfu) body += sfu->metrics();
      if (extra_metrics) body += extra_metrics();
      soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
      soup_server_message_set_response(msg, "text/plain; version=0.0.4; charset=utf-8",
                                       SOUP_MEMORY_COPY, body.data(), body.size());
      return;
    }
    // A file (or "metrics" when /metrics is not open to this client), or nothing.
    const std::string &rel = route.file;
    if (rel.empty()) {
      soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, nullptr);
      return;
    }
    g_autoptr(GBytes) bytes = nullptr;
    if (!web_root_real.empty()) {
      g_autofree char *file = g_build_filename(web_root_real.c_str(), rel.c_str(), nullptr);
      // Nothing outside the web root, symbolic links included: the file's real path must lie
      // below the root's.
      g_autofree char *real = realpath(file, nullptr);
      if (real && g_str_has_prefix(real, (web_root_real + "/").c_str())) {
        char *contents = nullptr;
        gsize len = 0;
        if (g_file_get_contents(real, &contents, &len, nullptr))
          bytes = g_bytes_new_take(contents, len);
      } else if (real) {
        g_debug("not serving %s: it resolves to %s, outside the web root", file, real);
      }
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
    auto *self = static_cast<Impl *>(data);
    if (self->whep && self->whep->handle(msg, path)) return;
    self->serve_file(msg, path);
  }

  bool fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(3, 4) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, ROOMCAST_SERVER_ERROR, ROOMCAST_SERVER_ERROR_BAD_OPTION, text);
    return false;
  }

  // Certificate, tokens, browser policy and web root from the options.
  bool prepare(GError **error) {
    if (opts.max_message_size < 1024)
      return fail(error, "max message size must be at least 1024 bytes");
    if (opts.ping_interval_s == 0 || opts.ping_timeout_s <= opts.ping_interval_s)
      return fail(error, "ping timeout (%u s) must be longer than the ping interval (%u s)",
                  opts.ping_timeout_s, opts.ping_interval_s);
    if (opts.http_timeout_s == 0) return fail(error, "the HTTP timeout must be at least 1 s");
    if (std::string why; !ice::check_setup(opts.ice, &why)) return fail(error, "%s", why.c_str());

    const bool files = !opts.tls_cert_file.empty() || !opts.tls_key_file.empty();
    if (files && opts.tls_self_signed)
      return fail(error, "give either --tls-cert/--tls-key or --tls self-signed, not both");
    if (files && (opts.tls_cert_file.empty() || opts.tls_key_file.empty()))
      return fail(error, "--tls-cert and --tls-key go together");
    if (files) {
      cert = GRef<GTlsCertificate>::adopt(tls::load(opts.tls_cert_file, opts.tls_key_file, error));
      if (!cert) return false;
    } else if (opts.tls_self_signed) {
      std::vector<std::string> names = {"localhost"};
      if (const char *h = g_get_host_name(); h && g_strcmp0(h, "localhost") != 0) {
        names.emplace_back(h);
        if (!strchr(h, '.')) names.push_back(std::string(h) + ".local");
      }
      std::vector<std::string> ips = {"127.0.0.1", "::1"};
      if (opts.host == "0.0.0.0" || opts.host == "::")
        for (auto &a : tls::local_addresses())
          ips.push_back(a);
      else if (std::find(ips.begin(), ips.end(), opts.host) == ips.end())
        ips.push_back(opts.host);
      cert = GRef<GTlsCertificate>::adopt(tls::make_self_signed(names, ips, error));
      if (!cert) return false;
    }
    if (cert) fingerprint = tls::fingerprint(cert.get());

    if (!opts.token_secret.empty() && opts.token_secret.size() < token::kMinSecret)
      return fail(error, "the token secret is %zu bytes; it must be at least %zu",
                  opts.token_secret.size(), token::kMinSecret);
    if (opts.require_token && *opts.require_token != rules::TokenPolicy::None &&
        opts.token_secret.empty())
      return fail(error,
                  "--require-token %s needs a token secret (--token-secret-file FILE or "
                  "ROOMCAST_TOKEN_SECRET)",
                  rules::to_string(*opts.require_token));
    token_policy = opts.require_token.value_or(
        opts.token_secret.empty() ? rules::TokenPolicy::None : rules::TokenPolicy::Host);

    web.tls = static_cast<bool>(cert);
    web.hosts.clear();
    web.origins.clear();
    for (const auto &h : opts.allowed_hosts) {
      if (h == "*") {
        web.hosts.push_back(h);
        continue;
      }
      auto name = web::host_of(h);
      if (!name) return fail(error, "--allowed-host '%s' is not a host name", h.c_str());
      web.hosts.push_back(*name);
    }
    for (const auto &o : opts.allowed_origins) {
      if (o == "*") {
        web.origins.push_back(o);
        continue;
      }
      auto origin = web::normalize_origin(o);
      if (!origin)
        return fail(error, "--allowed-origin '%s' is not an origin (http[s]://HOST[:PORT])",
                    o.c_str());
      web.origins.push_back(*origin);
      web.hosts.push_back(*web::host_of(origin->substr(origin->find("//") + 2)));
    }
    // The machine's own names are not an attacker's: a page under them is ours.
    if (auto name = web::host_of(g_get_host_name())) {
      web.hosts.push_back(*name);
      if (name->find('.') == std::string::npos) web.hosts.push_back(*name + ".local");
    }
    if (cert)
      for (auto &n : tls::dns_names(cert.get()))
        web.hosts.push_back(n);

    web_root_real.clear();
    if (!opts.web_root.empty()) {
      g_autofree char *real = realpath(opts.web_root.c_str(), nullptr);
      if (!real || !g_file_test(real, G_FILE_TEST_IS_DIR))
        return fail(error, "--web-root %s is not a folder", opts.web_root.c_str());
      web_root_real = real;
    }
    return true;
  }
};

Server::Server(ServerOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
}

Server::~Server() = default;

bool Server::start(GError **error) {
  Impl &s = *impl_;
  if (!s.prepare(error)) return false;
  g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(s.opts.host.c_str());
  if (!addr) {
    g_set_error(error, ROOMCAST_SERVER_ERROR, ROOMCAST_SERVER_ERROR_BAD_ADDRESS,
                "'%s' is not an IP address", s.opts.host.c_str());
    return false;
  }
  raise_fd_limit(s.opts.max_connections);
  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(addr, s.opts.port);
  g_autoptr(GSocket) sock = listen_socket(sa, error);
  if (!sock) {
    g_prefix_error(error, "cannot listen on %s:%u: ", s.opts.host.c_str(), s.opts.port);
    return false;
  }
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address(sock, error);
  if (!bound) return false;
  s.bound_port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));

  s.soup = GRef<SoupServer>::adopt(soup_server_new("server-header", "roomcast", nullptr));
  g_signal_connect(s.soup.get(), "request-read", G_CALLBACK(Impl::on_request_read), &s);
  soup_server_add_websocket_handler(s.soup.get(), "/ws", nullptr, nullptr, Impl::on_websocket, &s,
                                    nullptr);
  soup_server_add_handler(s.soup.get(), nullptr, Impl::on_http, &s, nullptr);
  s.listener = GRef<GSocket>::adopt(static_cast<GSocket *>(g_steal_pointer(&sock)));
  s.watch_listener();
  s.ping_source = g_timeout_add_seconds(1, Impl::on_ping_tick, &s);
  // A WHEP player's POST waits for the host's answer, within the request's --http-timeout.
  const unsigned http_ms = s.opts.http_timeout_s * 1000;
  // A WHEP session's WebSocket comes from this server itself: it names its player's address,
  // proven by a secret of this process, and counts against that address's limits.
  unsigned char rnd[16];
  gnutls_rnd(GNUTLS_RND_KEY, rnd, sizeof rnd);
  for (unsigned char b : rnd)
    s.whep_secret += "0123456789abcdef"[b >> 4], s.whep_secret += "0123456789abcdef"[b & 15];
  s.whep = std::make_unique<whep::Endpoint>(
      ws_url(), s.fingerprint, http_ms > 3000 ? http_ms - 1500 : http_ms / 2, s.whep_secret);
  if (!s.opts.sfu_janus.empty()) {
    janus::Bridge::Hooks hooks;
    hooks.send = [&s](const std::string &id, const p::Message &m) {
      if (auto it = s.by_id.find(id); it != s.by_id.end()) Impl::send(*it->second, m);
    };
    hooks.show_to_host = [&s](const std::string &viewer) {
      auto it = s.by_id.find(viewer);
      if (it == s.by_id.end() || !it->second->room || !it->second->room->host) return;
      Impl::send(*it->second->room->host, p::PeerJoined{Impl::info(*it->second)});
    };
    s.sfu = std::make_unique<janus::Bridge>(s.opts.sfu_janus, std::move(hooks));
    s.sfu->start();
  }
  if (s.token_policy != rules::TokenPolicy::None)
    g_message("room tokens required for: %s", s.token_policy == rules::TokenPolicy::All
                                                  ? "everyone"
                                                  : "hosts and members (viewers join open rooms)");
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
  return std::string(impl_->cert ? "wss://" : "ws://") + host_for_url(impl_->opts.host) + ":" +
         std::to_string(port()) + "/ws";
}

std::string Server::http_url() const {
  return std::string(impl_->cert ? "https://" : "http://") + host_for_url(impl_->opts.host) + ":" +
         std::to_string(port()) + "/";
}

std::string Server::tls_fingerprint() const {
  return impl_->fingerprint;
}

rules::TokenPolicy Server::token_policy() const {
  return impl_->token_policy;
}

void Server::set_extra_metrics(std::function<std::string()> fn) {
  impl_->extra_metrics = std::move(fn);
}

ServerStats Server::stats() const {
  ServerStats st = impl_->counters;
  st.connections = impl_->conns.size();
  st.peers = impl_->by_id.size();
  st.rooms = impl_->rooms.size();
  st.tcp = impl_->tcp_live;
  return st;
}

} // namespace roomcast
