// roomcast signalling protocol: one small library shared by the server and every client.
// The wire format is documented in docs/protocol.md; keep both in step and bump kVersion on
// any incompatible change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roomcast::proto {

inline constexpr int kVersion = 1;
inline constexpr std::size_t kMaxRoomName = 64;
inline constexpr std::size_t kMaxPeerName = 64;
inline constexpr std::size_t kMaxIdLength = 32;

enum class Role { Host, Viewer, Member };
enum class RoomKind { Live, Meeting };

enum class Type {
  // client -> server
  Join,
  Leave,
  // both directions (relayed to a named peer; `from` is set by the server)
  Offer,
  Answer,
  Ice,
  // both directions (keepalive: any side may ping, the other answers pong)
  Ping,
  Pong,
  // server -> client
  Welcome,
  PeerJoined,
  PeerLeft,
  Error,
};

// Error codes carried by `error` messages (and produced by parse()).
enum class ErrorCode {
  BadJson,       // not JSON, or not a JSON object
  BadMessage,    // missing or wrong-typed field, or a bad value
  UnknownType,   // `type` names no message
  TooLarge,      // message over the size limit
  Binary,        // binary frame
  BadVersion,    // join with an unsupported protocol version
  NotJoined,     // message that needs a room before join
  AlreadyJoined, // second join on the same socket
  UnknownPeer,   // relay to a peer not in your room
  Forbidden,     // relay the room kind does not allow (viewer to viewer)
  HostTaken,     // second host in a live room
  WrongKind,     // role does not fit the room's kind
  RoomFull,      // max peers per room reached
  TooManyRooms,  // max rooms reached
  RateLimited,   // message rate over the limit; the message was dropped
  ServerFull,    // too many connections
};

const char *to_string(Role r);
const char *to_string(RoomKind k);
const char *to_string(Type t);
const char *to_string(ErrorCode c);
std::optional<Role> role_from_string(std::string_view s);
std::optional<RoomKind> kind_from_string(std::string_view s);
std::optional<Type> type_from_string(std::string_view s);
std::optional<ErrorCode> error_code_from_string(std::string_view s);
// The kind of room a role creates or may enter.
RoomKind kind_for_role(Role r);

struct PeerInfo {
  std::string id;
  Role role = Role::Viewer;
  std::string name;
  bool operator==(const PeerInfo &) const = default;
};

// One message, flat: which fields matter depends on `type` (see docs/protocol.md).
struct Message {
  Type type = Type::Ping;

  // join
  int version = kVersion;
  std::string room;
  Role role = Role::Viewer;
  std::string name;

  // offer / answer / ice (relay)
  std::string to;
  std::string from;
  std::string sdp;
  std::string candidate; // empty: end of candidates
  int mline_index = 0;
  std::string mid; // may be empty

  // welcome / peer-joined / peer-left
  std::string id; // welcome: your id; peer-left: who left
  RoomKind kind = RoomKind::Live;
  std::vector<PeerInfo> peers;
  PeerInfo peer;
  unsigned ping_interval_s = 0;
  std::uint64_t max_message_size = 0;

  // error
  ErrorCode code = ErrorCode::BadMessage;
  std::string message;
  std::string ref; // type of the message that caused the error, when known

  bool operator==(const Message &) const = default;
};

struct ParseError {
  ErrorCode code = ErrorCode::BadJson;
  std::string message;
  std::string ref; // the message's type when it could be read
};

// Parses and validates one message. On failure returns nullopt and fills `err`.
std::optional<Message> parse(std::string_view text, ParseError &err);
// Serialises a message with exactly the fields its type defines.
std::string serialize(const Message &m);

// Validators shared by parse() and by callers that build messages.
bool valid_room_name(std::string_view s);
bool valid_peer_name(std::string_view s);
bool valid_peer_id(std::string_view s);

// Builders for the common messages.
Message make_join(std::string room, Role role, std::string name = {});
Message make_sdp(Type offer_or_answer, std::string to, std::string sdp);
Message make_ice(std::string to, int mline_index, std::string candidate, std::string mid = {});
Message make_error(ErrorCode code, std::string message, std::string ref = {});
Message make_simple(Type t); // leave, ping, pong

} // namespace roomcast::proto
