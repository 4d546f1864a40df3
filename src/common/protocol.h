// roomcast signalling protocol: one small library shared by the server and every client.
// The wire format is documented in docs/protocol.md. The names, codes, limits and rules come from
// one table, src/common/protocol-spec.json, which tools/gen-protocol.py turns into
// protocol-spec.h (included here) and the web client's protocol.js at build time: change the
// protocol there, and bump its version on any incompatible change.
#pragma once

#include "protocol-spec.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace roomcast::proto {

// Wire names ("host", "peer-joined", "room-full", "max-peers", ...); "?" for a value outside the
// table.
const char *to_string(Role r);
const char *to_string(RoomKind k);
const char *to_string(Type t);
const char *to_string(ErrorCode c);
const char *to_string(EndReason r);
const char *to_string(IceScheme s);
std::optional<Role> role_from_string(std::string_view s);
std::optional<RoomKind> kind_from_string(std::string_view s);
std::optional<Type> type_from_string(std::string_view s);
std::optional<ErrorCode> error_code_from_string(std::string_view s);
std::optional<EndReason> end_reason_from_string(std::string_view s);
std::optional<IceScheme> ice_scheme_from_string(std::string_view s);

// The kind of room a role creates or may enter.
RoomKind kind_for_role(Role r);
// Who may send a message type, and whether the server relays it to the peer named in `to`.
Sender sender_of(Type t);
bool is_relay(Type t);

// A short sentence for people about an error code (the table's text).
std::string_view error_text(ErrorCode c);

// Join-error policy: what a client does when its join is refused with `c` (the table's flag).
// Fatal: no retry can fix it (wrong kind, host taken, bad version, a malformed join, ...): stop and
// tell the user. Retry: the refusal may go away (room full, too many rooms, server full): join
// again after retry_delay_ms().
JoinAction join_action(ErrorCode c);
inline bool join_error_is_fatal(ErrorCode c) {
  return join_action(c) == JoinAction::Fatal;
}
// Delay before retry number `attempt` (0 for the first): kRetryFirstMs doubled per attempt, at
// most kRetryMaxMs.
unsigned retry_delay_ms(unsigned attempt);

// The sentence for people about an end-peer reason. `who` is the peer that ended the session
// ("The host"), `peers` what it serves ("viewers").
std::string end_reason_text(EndReason r, std::string_view who, std::string_view peers = "peers");

struct PeerInfo {
  std::string id;
  Role role = Role::Viewer;
  std::string name;
  // A viewer that makes the offer itself (join field "offers"; a WHEP player): its host answers
  // instead of offering. Sent only when true.
  bool offers = false;
  bool operator==(const PeerInfo &) const = default;
};

// One entry of welcome.ice_servers, as RTCPeerConnection takes it (RTCIceServer): URLs in the form
// of RFC 7064/7065 (`stun:HOST:PORT`, `turn:HOST:PORT?transport=udp`, `turns:HOST:PORT`), and the
// credentials that every TURN URL of the entry uses. src/common/ice-servers.h reads and makes them.
struct IceServer {
  std::vector<std::string> urls; // 1 to kMaxIceUrls
  std::string username;          // optional for STUN, required with a TURN URL
  std::string credential;
  bool operator==(const IceServer &) const = default;
};

// ---- messages: one struct per type -----------------------------------------------------------

// client -> server
struct Join {
  static constexpr Type kType = Type::Join;
  int version = kVersion;
  std::string room;
  Role role = Role::Viewer;
  std::string name;  // optional
  std::string token; // optional: a room token (token.h), printable ASCII
  // optional "private": a host or member asks that its room never be listed (GET /rooms)
  bool private_room = false;
  // optional "offers": a viewer that will send the offer to its host (which answers): WHEP
  bool offers = false;
  bool operator==(const Join &) const = default;
};

struct Leave {
  static constexpr Type kType = Type::Leave;
  bool operator==(const Leave &) const = default;
};

// Relayed to one peer: the client names it in `to`, the server replaces `to` with `from`.
struct Relay {
  std::string to;
  std::string from;
  bool operator==(const Relay &) const = default;
};

template <Type T> struct Description : Relay {
  static constexpr Type kType = T;
  std::string sdp; // never empty
  bool operator==(const Description &) const = default;
};
using Offer = Description<Type::Offer>;
using Answer = Description<Type::Answer>;

struct Ice : Relay {
  static constexpr Type kType = Type::Ice;
  std::string candidate; // empty: end of candidates
  int mline_index = 0;
  std::string mid; // optional
  bool operator==(const Ice &) const = default;
};

// The sender ended its session with `to`, and says why.
struct Bye : Relay {
  static constexpr Type kType = Type::Bye;
  EndReason reason = EndReason::Closed;
  std::string message; // optional, for people
  bool operator==(const Bye &) const = default;
};

// A viewer asks its host for a ladder layer (docs/protocol.md, "prefer"): either `layer`, the
// largest layer it wants counted from the top (0: full size, no limit), or `max_height`, the
// largest picture height in pixels it wants (the host picks the largest layer that fits, else its
// smallest). Exactly one of them is set (the other is -1). The host clamps to its ladder; a host
// without one ignores it.
struct Prefer : Relay {
  static constexpr Type kType = Type::Prefer;
  int layer = -1;      // 0..kMaxPreferLayer, or -1
  int max_height = -1; // 1..kMaxPreferHeight, or -1
  bool operator==(const Prefer &) const = default;
};

// both directions (keepalive)
struct Ping {
  static constexpr Type kType = Type::Ping;
  bool operator==(const Ping &) const = default;
};
struct Pong {
  static constexpr Type kType = Type::Pong;
  bool operator==(const Pong &) const = default;
};

// server -> client
struct Welcome {
  static constexpr Type kType = Type::Welcome;
  std::string id; // your id
  std::string room;
  RoomKind kind = RoomKind::Live;
  Role role = Role::Viewer;
  unsigned ping_interval_s = 0;
  std::uint64_t max_message_size = 0;
  std::vector<PeerInfo> peers; // the peers you can see, oldest first
  // STUN and TURN servers the server suggests (optional; empty: none). TURN credentials may be
  // made for this client and expire (docs/protocol.md).
  std::vector<IceServer> ice_servers;
  bool operator==(const Welcome &) const = default;
};

struct PeerJoined {
  static constexpr Type kType = Type::PeerJoined;
  PeerInfo peer;
  bool operator==(const PeerJoined &) const = default;
};

struct PeerLeft {
  static constexpr Type kType = Type::PeerLeft;
  std::string id;
  bool operator==(const PeerLeft &) const = default;
};

struct Error {
  static constexpr Type kType = Type::Error;
  ErrorCode code = ErrorCode::BadMessage;
  std::string message;
  std::string ref; // type of the message that caused the error, when known
  bool operator==(const Error &) const = default;
};

// One message. The alternatives are in the order of `Type`, so index() is the type.
using Message = std::variant<Join, Leave, Offer, Answer, Ice, Bye, Prefer, Ping, Pong, Welcome,
                             PeerJoined, PeerLeft, Error>;

namespace detail {
template <std::size_t... I> constexpr bool alternatives_in_order(std::index_sequence<I...>) {
  return ((std::variant_alternative_t<I, Message>::kType == static_cast<Type>(I)) && ...);
}
} // namespace detail
static_assert(std::variant_size_v<Message> == spec::kTypes.size(),
              "every message type of protocol-spec.json needs a struct in Message");
static_assert(
    detail::alternatives_in_order(std::make_index_sequence<std::variant_size_v<Message>>{}),
    "Message's alternatives must follow the order of Type");

inline Type type_of(const Message &m) {
  return static_cast<Type>(m.index());
}

// The routing fields of a relayed message (offer, answer, ice, bye, prefer); nullptr for the
// others.
Relay *relay_of(Message &m);
const Relay *relay_of(const Message &m);

// For std::visit: overloaded{[](const Join &) {...}, [](const auto &) {...}}.
template <typename... F> struct overloaded : F... { using F::operator()...; };
template <typename... F> overloaded(F...) -> overloaded<F...>;

struct ParseError {
  ErrorCode code = ErrorCode::BadJson;
  std::string message;
  std::string ref; // the message's type when it could be read
};

// Parses and validates one message. On failure returns nullopt and fills `err`.
std::optional<Message> parse(std::string_view text, ParseError &err);
// Serialises a message with exactly the fields its type defines.
std::string serialize(const Message &m);

// Validators shared by parse() and by callers that build messages (rules from the table).
bool valid_room_name(std::string_view s);
bool valid_peer_name(std::string_view s);
bool valid_peer_id(std::string_view s);
// A join's token field: at most kMaxToken bytes of printable ASCII (what any JWT is).
bool valid_token_text(std::string_view s);
// Free text of at most `max_bytes` (peer names, bye messages): UTF-8, no control characters.
bool valid_text(std::string_view s, std::size_t max_bytes);
// One welcome.ice_servers entry: 1 to kMaxIceUrls URLs in the RFC 7064/7065 form (schemes and
// transports of the table, at most kMaxIceUrl bytes), username and credential text of at most
// kMaxIceCredential bytes, both present when a URL's scheme needs credentials. False with a
// reason in `why` (when given).
bool valid_ice_server(const IceServer &s, std::string *why = nullptr);

// Builders for the common messages.
Join make_join(std::string room, Role role, std::string name = {}, std::string token = {});
Message make_sdp(Type offer_or_answer, std::string to, std::string sdp);
Ice make_ice(std::string to, int mline_index, std::string candidate, std::string mid = {});
Bye make_bye(std::string to, EndReason reason, std::string message = {});
// A prefer for a layer (0: full size) or, with by_height, for a largest picture height.
Prefer make_prefer(std::string to, int value, bool by_height = false);
Error make_error(ErrorCode code, std::string message, std::string ref = {});
Message make_simple(Type t); // leave, ping, pong

} // namespace roomcast::proto
