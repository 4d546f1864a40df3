// Room rules: which role fits which kind of room, who sees whom, and when a join or a relay is
// refused (with the protocol's error code). A pure policy over plain data: no I/O, no clock, no
// main loop. The signalling server (src/server/server.cpp) and the in-process signaller
// (plugins/roomcast/gstroomcastdirectsignaller.cpp) both decide with it; docs/protocol.md
// describes the rules, tests/unit/test-policies-room.cpp checks them row by row.
#pragma once

#include "protocol.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace roomcast::rules {

struct Limits {
  std::size_t max_rooms = 1000;
  std::size_t max_peers_per_room = 200;
};

// What a join needs to know about an existing room.
struct RoomState {
  proto::RoomKind kind = proto::RoomKind::Live;
  bool has_host = false;
  std::size_t peers = 0;
};

// Why something was refused: the protocol's code and a short explanation for people.
struct Refusal {
  proto::ErrorCode code = proto::ErrorCode::BadMessage;
  std::string message;
  bool operator==(const Refusal &) const = default;
  // "CODE: message", for interfaces that carry errors as text (the signaller's `error` signal).
  std::string text() const;
};

// A role fits the kind of room it would create: host and viewer a live room, member a meeting.
bool fits(proto::Role role, proto::RoomKind kind);

// Whether `observer` is told about `other` (welcome's peer list, peer-joined, peer-left) and may
// signal with it. A meeting: everyone sees everyone. A live room: the host sees every viewer and
// the viewers see the host, never each other (so a big audience costs O(n), not O(n^2)).
bool sees(proto::RoomKind kind, proto::Role observer, proto::Role other);

// Decides whether `role` may join the room named `room`. `existing` describes the room of that
// name, or is nullopt when there is none (the join would create it, of the role's kind); `rooms`
// is how many rooms there are now. Checked in this order: wrong-kind, host-taken, room-full
// (existing room), too-many-rooms (new room). nullopt: the join is allowed.
std::optional<Refusal> check_join(std::string_view room, proto::Role role,
                                  const std::optional<RoomState> &existing, std::size_t rooms,
                                  const Limits &limits);

// Who needs a room token (token.h) to join: nobody; hosts and members (the roles that own a
// room's picture); everyone.
enum class TokenPolicy { None, Host, All };

// What a join's token showed: none given, one the server accepted for this room and role, or
// one it refused (expired, another room or role, a bad signature, ...).
enum class TokenStatus { Absent, Valid, Invalid };

// Decides whether a join passes the token policy, before check_join. `why` says what was wrong
// with an Invalid token; `room_exists` whether the room is there already. Invalid: bad-token,
// whatever the policy (a wrong token is never ignored). Absent under All: token-required. Absent
// under Host: token-required for a host or a member; a viewer may join an existing room but not
// create one (room-not-open, retryable: it joins when the host has opened the room), so nobody
// without a token can decide a room's kind before its owner. nullopt: go on.
std::optional<Refusal> check_token(TokenPolicy policy, proto::Role role, TokenStatus status,
                                   std::string_view why, bool room_exists);
const char *to_string(TokenPolicy p);
std::optional<TokenPolicy> token_policy_from_string(std::string_view s);

// Decides whether a peer with role `from`, in room `room` of kind `kind`, may relay a message
// (offer, answer, ice, bye) to the peer whose id is `to`. `target` is that peer's role, or nullopt
// when `to` names no other peer of the room (an unknown id, a peer of another room, the sender
// itself): unknown-peer. A target the sender does not see: forbidden (viewer to viewer).
std::optional<Refusal> check_relay(std::string_view room, proto::RoomKind kind, proto::Role from,
                                   std::string_view to, const std::optional<proto::Role> &target);

// Decides whether a `prefer` (a ladder layer asked for) may go from a peer of role `from` to one
// of role `target`, after check_relay allowed the relay: a viewer asks its host (the host's
// ladder), a meeting member asks another member (that member's ladder for this pair, or a
// browser's own scaling). Anything else (a host, a viewer naming a viewer): forbidden.
std::optional<Refusal> check_prefer(proto::Role from, proto::Role target);

} // namespace roomcast::rules
