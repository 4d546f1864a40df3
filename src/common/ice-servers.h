// ICE servers (STUN and TURN): reading and writing their URIs, the TURN REST credentials a server
// hands out, what a server puts in its welcome and what an element uses. Pure: no I/O, no clock
// (times are passed in), no GStreamer; table-tested in tests/unit/test-ice-servers.cpp.
//
// Two URI forms meet here:
// - GStreamer's (webrtcbin's `stun-server` and `add-turn-server`, and our command line):
//   `stun://HOST:PORT`, `turn://USER:PASSWORD@HOST:PORT[?transport=tcp]`, `turns://…`, user and
//   password percent-encoded;
// - RFC 7064/7065's (browsers' RTCIceServer.urls, and so the protocol's welcome.ice_servers):
//   `stun:HOST:PORT`, `turn:HOST:PORT?transport=udp`, with the credentials beside the URL.
// parse_uri() reads both; gst_uri() and rtc_url() write one each.
#pragma once

#include "protocol.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::ice {

using proto::IceScheme;

struct Uri {
  IceScheme scheme = IceScheme::Stun;
  std::string host;      // a name or an address (IPv6 without its brackets)
  unsigned port = 0;     // the scheme's default when the URI gave none
  std::string transport; // "udp", "tcp", or "" (the scheme's default)
  std::string username;  // decoded; only the scheme://USER:PASSWORD@HOST form carries them
  std::string password;
  bool operator==(const Uri &) const = default;
  bool is_turn() const { return scheme != IceScheme::Stun; }
  bool has_credentials() const { return !username.empty() || !password.empty(); }
};

enum class Form {
  Any, // scheme://[user:password@]host[:port][?transport=T] or scheme:host[:port][?transport=T]
  Rtc, // scheme:host[:port][?transport=T] only (RFC 7064/7065; welcome.ice_servers)
};

// Reads one URI. nullopt (with the reason in `why`) for an unknown scheme, a missing or bad host
// (names of letters, digits, '.', '-' and '_'; IPv4; IPv6 in brackets), a port outside 1-65535,
// a transport the scheme does not take (STUN: none; turn: udp or tcp; turns: tcp), any other
// query or a fragment, credentials on a STUN URI or in the RFC form, bad percent-encoding.
std::optional<Uri> parse_uri(std::string_view text, Form form = Form::Any,
                             std::string *why = nullptr);

// webrtcbin's form: `stun://HOST:PORT`, `turn://USER:PASSWORD@HOST:PORT[?transport=T]` (user and
// password percent-encoded, so a TURN REST user name's ':' is %3A; the transport only when set).
std::string gst_uri(const Uri &u);
// The RFC 7064/7065 form, without credentials: `turn:HOST:PORT?transport=udp`.
std::string rtc_url(const Uri &u);

// TURN REST credentials (coturn's --use-auth-secret): the user name is "<expiry>:<id>" (the expiry
// in Unix seconds; just "<expiry>" when `id` is empty), the credential the base64 of the
// HMAC-SHA1 of the user name keyed with the shared secret.
struct Credentials {
  std::string username, credential;
  bool operator==(const Credentials &) const = default;
};
Credentials turn_rest_credentials(std::string_view secret, std::int64_t expires_unix,
                                  std::string_view id);

// What a signalling server was told to hand out (serve --stun/--turn/--turn-secret).
struct ServerSetup {
  std::vector<Uri> stun;      // no credentials
  std::vector<Uri> turn;      // with their own credentials; without any when `secret` is set
  std::string secret;         // TURN REST shared secret; empty: the TURN URIs carry their own
  std::int64_t ttl_s = 86400; // how long REST credentials are valid
  bool empty() const { return stun.empty() && turn.empty(); }
};

// Checks a setup before a server starts: every TURN URI needs credentials of its own, or none
// when a secret is set; STUN URIs none. False with the reason in `why`.
bool check_setup(const ServerSetup &s, std::string *why);

// The welcome's ice_servers for the client `id` at `now_unix`: one entry with every STUN URL,
// then with a secret one entry with every TURN URL and REST credentials for `id` expiring at
// now + ttl, without one an entry per TURN URI with its own credentials. Empty setup: none.
std::vector<proto::IceServer> welcome_servers(const ServerSetup &s, std::int64_t now_unix,
                                              std::string_view id);

// Servers in webrtcbin's form: the STUN server (webrtcbin takes one) and the TURN servers.
struct GstServers {
  std::string stun;              // stun://HOST:PORT, or empty
  std::vector<std::string> turn; // turn(s)://USER:PASSWORD@HOST:PORT[?transport=T]
  bool operator==(const GstServers &) const = default;
};

// The welcome's entries in webrtcbin's form: the first STUN URL, and every TURN URL with its
// entry's credentials. URLs that cannot be used (unreadable; TURN without credentials) are
// left out and named in `skipped`.
GstServers gst_servers(const std::vector<proto::IceServer> &servers,
                       std::vector<std::string> *skipped = nullptr);

// What an element uses: its own settings (the `stun-server` and `turn-server` properties, in
// either form) win over the room's, kind by kind: its own STUN server replaces the room's, its
// own TURN list replaces the room's. Own URIs are written in webrtcbin's form when they can be
// read, and passed on as given otherwise (webrtcbin then says what is wrong with them).
GstServers choose_servers(const std::string &own_stun, const std::vector<std::string> &own_turn,
                          const GstServers &room);

// The `turn-server` property's list: URIs separated by white space.
std::vector<std::string> split_list(std::string_view text);
std::string join_list(const std::vector<std::string> &uris);

} // namespace roomcast::ice
