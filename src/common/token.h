// Room tokens: JSON Web Tokens signed with HMAC-SHA256 (JWT "HS256", RFC 7519), the form users of
// other tools know. A token says which room it opens, for which role, until when:
//
//   base64url({"alg":"HS256","typ":"JWT"}) . base64url({"room":R,"role":ROLE,"iat":T,"exp":T}) .
//   base64url(HMAC-SHA256(secret, first two parts))
//
// `roomcast token` issues them, the server checks them at `join` (docs/protocol.md, "Room
// tokens"). Pure functions over GLib (GHmac, json-glib): no clock (the caller passes `now`), no
// I/O.
#pragma once

#include "protocol.h"

#include <glib.h>

#include <optional>
#include <string>
#include <string_view>

namespace roomcast::token {

struct Claims {
  std::string room;
  proto::Role role = proto::Role::Viewer;
  gint64 iat = 0; // issued at, seconds since the epoch
  gint64 exp = 0; // expires at, seconds since the epoch
  // Optional: the token's id (JWT "jti"), and the most peers that may be in the room with this
  // token at once ("max", ours; 0: no limit of its own). Left out of the token when empty / 0.
  std::string jti;
  unsigned max_joins = 0;
  bool operator==(const Claims &) const = default;
};

// The largest `max` claim a token may carry (the server refuses a token with a larger one as
// malformed).
inline constexpr unsigned kMaxJoinsClaim = 1000000;

// What the server counts a token's joins by: its `jti` when it has one, else its signature (the
// third part), so two tokens are one only if they are the same token (or share an id).
std::string identity(std::string_view token, const Claims &claims);
// A name for a token in logs that does not give it away: its `jti` (which its holders can read
// anyway), else the first 12 hex digits of the SHA-256 of its signature.
std::string log_name(std::string_view token, const Claims &claims);

// The shortest secret the server and `roomcast token` take (bytes).
inline constexpr std::size_t kMinSecret = 16;

// base64url without padding (RFC 4648 §5), as JWT writes it.
std::string base64url_encode(std::string_view bytes);
// Decodes base64url without padding; nullopt on any other character or an impossible length.
std::optional<std::string> base64url_decode(std::string_view text);
// HMAC-SHA256 of `data` with `secret`, base64url-encoded (a JWT's third part).
std::string hs256(std::string_view secret, std::string_view data);

// The token for `claims`, signed with `secret`.
std::string sign(const Claims &claims, std::string_view secret);

// Why verify() refused a token.
enum class Fault { Malformed, Algorithm, Signature, Expired, NotYetValid, Room, Role };

struct Verdict {
  std::optional<Fault> fault; // nullopt: accepted
  std::string why;            // for people, when refused
  Claims claims;              // what the token said (as far as it could be read)
  explicit operator bool() const { return !fault; }
};

// Checks the signature, the algorithm (HS256 only: "none" and every other is refused), the
// expiry (`exp` must be there; 60 s of clock skew are allowed either way), and that the token is
// for `room` and `role`.
Verdict verify(std::string_view token, std::string_view secret, std::string_view room,
               proto::Role role, gint64 now_s);

// "90", "90s", "15m", "12h", "7d" as seconds; nullopt when not a positive duration.
std::optional<gint64> parse_duration(std::string_view text);

} // namespace roomcast::token
