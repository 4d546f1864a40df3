#include "token.h"

#include "json-text.h"

#include <json-glib/json-glib.h>

#include <cstdint>
#include <cstring>

namespace roomcast::token {

namespace {

constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";
constexpr gint64 kSkewS = 60;

bool b64url_char(char c) {
  return g_ascii_isalnum(c) || c == '-' || c == '_';
}

// Constant time for equal lengths: a forger learns nothing from how long a comparison took.
bool same_bytes(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); i++)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Verdict refuse(Fault f, std::string why, Claims claims = {}) {
  Verdict v;
  v.fault = f;
  v.why = std::move(why);
  v.claims = std::move(claims);
  return v;
}

std::string payload_json(const Claims &c) {
  g_autoptr(JsonBuilder) b = json_builder_new_immutable();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "room");
  json_builder_add_string_value(b, c.room.c_str());
  json_builder_set_member_name(b, "role");
  json_builder_add_string_value(b, proto::to_string(c.role));
  json_builder_set_member_name(b, "iat");
  json_builder_add_int_value(b, c.iat);
  json_builder_set_member_name(b, "exp");
  json_builder_add_int_value(b, c.exp);
  if (!c.jti.empty()) {
    json_builder_set_member_name(b, "jti");
    json_builder_add_string_value(b, c.jti.c_str());
  }
  if (c.max_joins) {
    json_builder_set_member_name(b, "max");
    json_builder_add_int_value(b, c.max_joins);
  }
  json_builder_end_object(b);
  return json_text(b);
}

// The JSON object in `text`, or nullptr. The parser owns it.
JsonObject *object_of(JsonParser *parser, const std::string &text) {
  if (!g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr)) return nullptr;
  if (!json_parser_load_from_data(parser, text.data(), static_cast<gssize>(text.size()), nullptr))
    return nullptr;
  JsonNode *root = json_parser_get_root(parser);
  return root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : nullptr;
}

const char *member_string(JsonObject *o, const char *name) {
  JsonNode *n = json_object_get_member(o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return nullptr;
  return json_node_get_string(n);
}

std::optional<gint64> member_int(JsonObject *o, const char *name) {
  JsonNode *n = json_object_get_member(o, name);
  if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
    return std::nullopt;
  return json_node_get_int(n);
}

std::string ago(std::uint64_t s) {
  if (s < 120) return std::to_string(s) + " s";
  if (s < 7200) return std::to_string(s / 60) + " min";
  if (s < 172800) return std::to_string(s / 3600) + " h";
  return std::to_string(s / 86400) + " days";
}

} // namespace

std::string base64url_encode(std::string_view bytes) {
  g_autofree char *b64 =
      g_base64_encode(reinterpret_cast<const guchar *>(bytes.data()), bytes.size());
  std::string out;
  for (const char *p = b64; *p; p++) {
    if (*p == '=') break;
    out += *p == '+' ? '-' : *p == '/' ? '_' : *p;
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string b64;
  b64.reserve(text.size() + 3);
  for (char c : text) {
    if (!b64url_char(c)) return std::nullopt;
    b64 += c == '-' ? '+' : c == '_' ? '/' : c;
  }
  while (b64.size() % 4)
    b64 += '=';
  gsize len = 0;
  g_autofree guchar *raw = g_base64_decode(b64.c_str(), &len);
  std::string out(reinterpret_cast<const char *>(raw), len);
  // Only the canonical spelling: the unused low bits of the last character must be zero.
  if (base64url_encode(out) != text) return std::nullopt;
  return out;
}

std::string hs256(std::string_view secret, std::string_view data) {
  g_autoptr(GHmac) hmac =
      g_hmac_new(G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(secret.data()), secret.size());
  g_hmac_update(hmac, reinterpret_cast<const guchar *>(data.data()),
                static_cast<gssize>(data.size()));
  guint8 digest[32];
  gsize n = sizeof digest;
  g_hmac_get_digest(hmac, digest, &n);
  return base64url_encode(std::string_view(reinterpret_cast<const char *>(digest), n));
}

std::string sign(const Claims &claims, std::string_view secret) {
  std::string signed_part =
      base64url_encode(kHeader) + "." + base64url_encode(payload_json(claims));
  return signed_part + "." + hs256(secret, signed_part);
}

Verdict verify(std::string_view token, std::string_view secret, std::string_view room,
               proto::Role role, gint64 now_s) {
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return refuse(Fault::Malformed, "not a token (three dot-separated parts expected)");
  auto header = base64url_decode(token.substr(0, dot1));
  auto payload = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!header || !payload) return refuse(Fault::Malformed, "not a token (bad base64url)");
  g_autoptr(JsonParser) hp = json_parser_new_immutable();
  JsonObject *h = object_of(hp, *header);
  if (!h) return refuse(Fault::Malformed, "not a token (its header is not a JSON object)");
  const char *alg = member_string(h, "alg");
  if (g_strcmp0(alg, "HS256") != 0)
    return refuse(Fault::Algorithm, std::string("signed with '") + (alg ? alg : "(none)") +
                                        "'; only HS256 is accepted");
  // The signature before anything the payload says.
  if (!same_bytes(hs256(secret, token.substr(0, dot2)), token.substr(dot2 + 1)))
    return refuse(Fault::Signature, "bad signature (not issued with this server's secret)");

  g_autoptr(JsonParser) pp = json_parser_new_immutable();
  JsonObject *p = object_of(pp, *payload);
  if (!p) return refuse(Fault::Malformed, "its claims are not a JSON object");
  Claims c;
  const char *r = member_string(p, "room");
  const char *ro = member_string(p, "role");
  auto exp = member_int(p, "exp");
  auto iat = member_int(p, "iat");
  auto parsed_role = ro ? proto::role_from_string(ro) : std::nullopt;
  if (!r || !parsed_role || !exp)
    return refuse(Fault::Malformed, "its claims lack a room, a role or an expiry (exp)");
  c.room = r;
  c.role = *parsed_role;
  c.exp = *exp;
  c.iat = iat.value_or(0);
  // The optional claims: present means well-formed.
  if (json_object_has_member(p, "jti")) {
    const char *jti = member_string(p, "jti");
    if (!jti || !*jti || strlen(jti) > 128)
      return refuse(Fault::Malformed, "its id (jti) is not a string of 1-128 bytes");
    c.jti = jti;
  }
  if (json_object_has_member(p, "max")) {
    auto max = member_int(p, "max");
    if (!max || *max < 1 || *max > kMaxJoinsClaim)
      return refuse(Fault::Malformed,
                    "its 'max' claim is not a number of 1-" + std::to_string(kMaxJoinsClaim));
    c.max_joins = static_cast<unsigned>(*max);
  }
  // `exp` is whatever the signer wrote, up to the limits of int64: no arithmetic on it may
  // overflow (`now_s` is a clock's). Expired means exp < now - skew; the time since then is
  // positive and below 2^64.
  if (c.exp < now_s - kSkewS)
    return refuse(Fault::Expired,
                  "expired " +
                      ago(static_cast<std::uint64_t>(now_s) - static_cast<std::uint64_t>(c.exp)) +
                      " ago",
                  c);
  if (auto nbf = member_int(p, "nbf"); nbf && now_s + kSkewS < *nbf)
    return refuse(Fault::NotYetValid, "not valid yet", c);
  if (c.room != room)
    return refuse(Fault::Room, "it is for room '" + c.room + "', not '" + std::string(room) + "'",
                  c);
  if (c.role != role)
    return refuse(Fault::Role,
                  std::string("it is for role ") + proto::to_string(c.role) + ", not " +
                      proto::to_string(role),
                  c);
  Verdict ok;
  ok.claims = std::move(c);
  return ok;
}

std::string identity(std::string_view token, const Claims &claims) {
  if (!claims.jti.empty()) return "jti:" + claims.jti;
  const std::size_t dot = token.rfind('.');
  return "sig:" + std::string(dot == std::string_view::npos ? token : token.substr(dot + 1));
}

std::string log_name(std::string_view token, const Claims &claims) {
  if (!claims.jti.empty()) return "jti=" + claims.jti;
  const std::size_t dot = token.rfind('.');
  std::string_view sig = dot == std::string_view::npos ? token : token.substr(dot + 1);
  g_autofree char *hex = g_compute_checksum_for_data(
      G_CHECKSUM_SHA256, reinterpret_cast<const guchar *>(sig.data()), sig.size());
  return "sig#" + std::string(hex, 12);
}

std::optional<gint64> parse_duration(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  gint64 unit = 1;
  switch (text.back()) {
  case 's':
    unit = 1;
    text.remove_suffix(1);
    break;
  case 'm':
    unit = 60;
    text.remove_suffix(1);
    break;
  case 'h':
    unit = 3600;
    text.remove_suffix(1);
    break;
  case 'd':
    unit = 86400;
    text.remove_suffix(1);
    break;
  default:
    break;
  }
  if (text.empty()) return std::nullopt;
  gint64 n = 0;
  for (char c : text) {
    if (!g_ascii_isdigit(c)) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n <= 0 || n > G_GINT64_CONSTANT(10) * 365 * 86400 / unit) return std::nullopt;
  return n * unit;
}

} // namespace roomcast::token
