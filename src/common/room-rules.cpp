#include "room-rules.h"

namespace roomcast::rules {

namespace p = proto;

namespace {
std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}
} // namespace

std::string Refusal::text() const {
  return std::string(p::to_string(code)) + ": " + message;
}

bool fits(p::Role role, p::RoomKind kind) {
  return p::kind_for_role(role) == kind;
}

bool sees(p::RoomKind kind, p::Role observer, p::Role other) {
  if (kind == p::RoomKind::Meeting) return true;
  return observer == p::Role::Host || other == p::Role::Host;
}

std::optional<Refusal> check_join(std::string_view room, p::Role role,
                                  const std::optional<RoomState> &existing, std::size_t rooms,
                                  const Limits &limits) {
  if (!existing) {
    if (rooms >= limits.max_rooms)
      return Refusal{p::ErrorCode::TooManyRooms, "the server holds its maximum number of rooms"};
    return std::nullopt;
  }
  if (!fits(role, existing->kind))
    return Refusal{p::ErrorCode::WrongKind, "room " + quoted(room) + " is a " +
                                                p::to_string(existing->kind) + " room; role " +
                                                quoted(p::to_string(role)) + " cannot join it"};
  if (role == p::Role::Host && existing->has_host)
    return Refusal{p::ErrorCode::HostTaken, "room " + quoted(room) + " already has a host"};
  if (existing->peers >= limits.max_peers_per_room)
    return Refusal{p::ErrorCode::RoomFull, "room " + quoted(room) + " is full"};
  return std::nullopt;
}

std::optional<Refusal> check_token(TokenPolicy policy, p::Role role, TokenStatus status,
                                   std::string_view why, bool room_exists) {
  if (status == TokenStatus::Invalid)
    return Refusal{p::ErrorCode::BadToken, "room token refused: " + std::string(why)};
  if (status == TokenStatus::Valid || policy == TokenPolicy::None) return std::nullopt;
  if (policy == TokenPolicy::All)
    return Refusal{p::ErrorCode::TokenRequired, "this server admits only peers with a room token"};
  if (role != p::Role::Viewer)
    return Refusal{p::ErrorCode::TokenRequired, std::string("joining as ") + p::to_string(role) +
                                                    " needs a room token on this server"};
  if (!room_exists)
    return Refusal{p::ErrorCode::RoomNotOpen,
                   "the room is not open; a viewer without a token waits for its host"};
  return std::nullopt;
}

const char *to_string(TokenPolicy policy) {
  switch (policy) {
  case TokenPolicy::None:
    return "none";
  case TokenPolicy::Host:
    return "host";
  case TokenPolicy::All:
    return "all";
  }
  return "?";
}

std::optional<TokenPolicy> token_policy_from_string(std::string_view s) {
  if (s == "none") return TokenPolicy::None;
  if (s == "host") return TokenPolicy::Host;
  if (s == "all") return TokenPolicy::All;
  return std::nullopt;
}

std::optional<Refusal> check_relay(std::string_view room, p::RoomKind kind, p::Role from,
                                   std::string_view to, const std::optional<p::Role> &target) {
  if (!target)
    return Refusal{p::ErrorCode::UnknownPeer, "no peer " + quoted(to) + " in room " + quoted(room)};
  if (!sees(kind, from, *target))
    return Refusal{p::ErrorCode::Forbidden, "viewers may only signal with the host"};
  return std::nullopt;
}

std::optional<Refusal> check_prefer(p::Role from, p::Role target) {
  if (from == p::Role::Viewer && target == p::Role::Host) return std::nullopt;
  if (from == p::Role::Member && target == p::Role::Member) return std::nullopt;
  return Refusal{p::ErrorCode::Forbidden, "a layer (prefer) is asked by a viewer of its host, or "
                                          "by a meeting member of another member, only"};
}

} // namespace roomcast::rules
