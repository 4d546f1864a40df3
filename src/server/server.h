// roomcast signalling server: rooms, roles, relay and the static web client, on libsoup 3.
//
// Threading: a Server lives on the thread-default GMainContext of the thread that calls start()
// and must only be touched from that thread (libsoup's rule). Everything it does runs there.
#pragma once

#include "ice-servers.h"
#include "room-rules.h"

#include <glib.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace roomcast {

struct ServerOptions {
  std::string host = "127.0.0.1";             // "0.0.0.0" or "::" listens on every interface
  unsigned port = 8443;                       // 0 picks a free port; see Server::port()
  std::uint64_t max_message_size = 64 * 1024; // bytes; larger messages get error too-large
  unsigned max_rooms = 1000;
  unsigned max_peers_per_room = 200;
  unsigned max_connections = 20000;
  // One client address may hold at most this many WebSockets, open this many rooms (rooms it
  // created that still exist) and be this many of one room's peers, so that one client cannot
  // take every slot from the others. Clients on loopback are exempt unless limit_loopback.
  unsigned max_connections_per_address = 64;
  unsigned max_rooms_per_address = 16;
  unsigned max_peers_per_address = 16;
  bool limit_loopback = false;
  // Room tokens: at most this many peers may be in rooms with one token at once (0: no limit of
  // the server's own). A token's own `max` claim (roomcast token --max-joins) limits it too; the
  // smaller wins. A token is one by its jti, else its signature (token::identity). Unlike the
  // per-address limits this one holds on loopback too: it is about the token, not the client.
  unsigned max_joins_per_token = 0;
  double max_rate = 50.0;        // messages per second per connection (sustained)
  unsigned max_burst = 200;      // messages a connection may send at once
  unsigned ping_interval_s = 10; // server pings a quiet connection this often
  unsigned ping_timeout_s = 30;  // and drops it after this long without any message
  std::string web_root; // serve the web client from this folder instead of the built-in copy
  // STUN/TURN servers handed to every client in its welcome (welcome.ice_servers); with a TURN
  // secret each client gets TURN REST credentials of its own (user name "<expiry>:<its id>").
  ice::ServerSetup ice;

  // TLS: https and wss on the same port. A certificate and its key (PEM files), or a self-signed
  // certificate made at start (for a LAN; its fingerprint is printed for pinning).
  std::string tls_cert_file, tls_key_file;
  bool tls_self_signed = false;
  // Room tokens (token.h): the secret (from a file or the environment, never the command line),
  // and who needs one. nullopt: hosts and members when a secret is set, else nobody.
  std::string token_secret;
  std::optional<rules::TokenPolicy> require_token;
  // Browsers (web-policy.h): more origins whose pages may open a WebSocket, and more host names
  // requests may be addressed to.
  std::vector<std::string> allowed_origins;
  std::vector<std::string> allowed_hosts;
  // A connection that has not become a WebSocket is closed this long after it was accepted
  // (half-open requests, slow readers; the web client's files are small).
  unsigned http_timeout_s = 10;
  // GET /rooms lists the rooms not marked private (none under require_token All); false: the
  // list is always empty.
  bool list_rooms = true;
  // /metrics answers loopback clients only, unless this is set.
  bool public_metrics = false;
  // Janus nodes (ws://HOST:PORT of their WebSocket API) that serve the viewers of live rooms
  // (janus-bridge.h); empty: hosts serve their viewers themselves.
  std::vector<std::string> sfu_janus;
};

struct ServerStats {
  std::uint64_t connections = 0; // open WebSocket connections
  std::uint64_t peers = 0;       // connections that joined a room
  std::uint64_t rooms = 0;
  std::uint64_t relayed = 0; // offer/answer/ice messages relayed since start
  std::uint64_t errors = 0;  // error messages sent since start
  std::uint64_t tcp = 0;     // TCP connections held (WebSockets, HTTP requests, TLS handshakes)
};

class Server {
public:
  explicit Server(ServerOptions opts);
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  // Binds and starts serving on the thread-default main context.
  bool start(GError **error);
  void stop();

  unsigned port() const;
  // ws://HOST:PORT/ws and http://HOST:PORT/ for the address bound (wss and https under TLS).
  std::string ws_url() const;
  std::string http_url() const;
  // Under TLS: the certificate's SHA-256 fingerprint ("AB:12:…"); empty without TLS.
  std::string tls_fingerprint() const;
  // Who needs a token (after start()).
  rules::TokenPolicy token_policy() const;
  ServerStats stats() const;
  // More Prometheus text (whole families, each line ending in a newline) for /metrics, after the
  // server's own: `roomcast live` adds its host's numbers. Called on the server's thread at each
  // scrape; nullptr removes it.
  void set_extra_metrics(std::function<std::string()> fn);

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

// GError domain of Server::start() (a named function rather than G_DEFINE_QUARK, whose argument
// clang-format would space apart into another quark name).
GQuark server_error_quark();
#define ROOMCAST_SERVER_ERROR (roomcast::server_error_quark())

// Codes of ROOMCAST_SERVER_ERROR. (Failures to bind or listen carry GIO's own errors.)
enum ServerError {
  ROOMCAST_SERVER_ERROR_BAD_OPTION = 1,  // an option out of range or in conflict with another
  ROOMCAST_SERVER_ERROR_BAD_ADDRESS = 2, // --host is not an IP address
};

} // namespace roomcast
