#include "protocol.h"

#include "ice-servers.h"
#include "json-text.h"

#include <json-glib/json-glib.h>

#include <algorithm>
#include <array>
#include <utility>

namespace roomcast::proto {

namespace {

// The generated tables list each enum's values in order (protocol-spec.h checks it).
template <typename Table, typename E> const char *name_of(const Table &table, E v) {
  auto i = static_cast<std::size_t>(v);
  return i < table.size() ? table[i].name.data() : "?";
}

template <typename E, typename Table>
std::optional<E> value_of(const Table &table, std::string_view s) {
  for (const auto &row : table)
    if (s == row.name) return row.value;
  return std::nullopt;
}

// Reads typed fields out of one JSON object and remembers the first problem.
class Reader {
public:
  Reader(JsonObject *obj, ParseError &err) : obj_(obj), err_(err) {}

  bool ok() const { return ok_; }

  bool fail(ErrorCode code, std::string msg) {
    if (ok_) {
      ok_ = false;
      err_.code = code;
      err_.message = std::move(msg);
    }
    return false;
  }

  // A string field; absent and !required leaves `out` untouched.
  bool str(const char *field, std::string &out, bool required) {
    JsonNode *n = json_object_get_member(obj_, field);
    if (!n)
      return required ? fail(ErrorCode::BadMessage, std::string("missing field '") + field + "'")
                      : true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
      return fail(ErrorCode::BadMessage, std::string("field '") + field + "' must be a string");
    const char *s = json_node_get_string(n);
    // json-glib decodes an unpaired surrogate escape followed by a character ("\ud800x") into
    // bytes that are not UTF-8; relayed, they would make the receiver's WebSocket fail (text frames
    // must be UTF-8).
    if (!g_utf8_validate(s, -1, nullptr))
      return fail(ErrorCode::BadMessage, std::string("field '") + field + "' is not valid UTF-8");
    out = s;
    return true;
  }

  bool integer(const char *field, std::int64_t &out, bool required, std::int64_t lo,
               std::int64_t hi) {
    JsonNode *n = json_object_get_member(obj_, field);
    if (!n)
      return required ? fail(ErrorCode::BadMessage, std::string("missing field '") + field + "'")
                      : true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
      return fail(ErrorCode::BadMessage, std::string("field '") + field + "' must be an integer");
    std::int64_t v = json_node_get_int(n);
    if (v < lo || v > hi)
      return fail(ErrorCode::BadMessage, std::string("field '") + field + "' is out of range");
    out = v;
    return true;
  }

  bool boolean(const char *field, bool &out) {
    JsonNode *n = json_object_get_member(obj_, field);
    if (!n) return true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
      return fail(ErrorCode::BadMessage,
                  std::string("field '") + field + "' must be true or false");
    out = json_node_get_boolean(n);
    return true;
  }

  template <typename E>
  bool enumerated(const char *field, E &out, std::optional<E> (*conv)(std::string_view)) {
    std::string s;
    if (!str(field, s, true)) return false;
    auto v = conv(s);
    if (!v)
      return fail(ErrorCode::BadMessage,
                  std::string("field '") + field + "' has an unknown value '" + s + "'");
    out = *v;
    return true;
  }

  bool peer_id(const char *field, std::string &out, bool required) {
    std::string s;
    JsonNode *n = json_object_get_member(obj_, field);
    if (!n && !required) return true;
    if (!str(field, s, true)) return false;
    if (!valid_peer_id(s))
      return fail(ErrorCode::BadMessage, std::string("field '") + field + "' is not a peer id");
    out = std::move(s);
    return true;
  }

  bool has(const char *field) const { return json_object_has_member(obj_, field); }

private:
  JsonObject *obj_;
  ParseError &err_;
  bool ok_ = true;
};

bool read_peer(JsonNode *n, PeerInfo &out, ParseError &err) {
  if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
    err.code = ErrorCode::BadMessage;
    err.message = "peer entry must be an object";
    return false;
  }
  Reader r(json_node_get_object(n), err);
  r.peer_id("id", out.id, true) && r.enumerated("role", out.role, role_from_string) &&
      r.str("name", out.name, false) && r.boolean("offers", out.offers);
  if (r.ok() && !valid_peer_name(out.name)) return r.fail(ErrorCode::BadMessage, "bad peer name");
  return r.ok();
}

// True when the JSON text holds the escape \u0000 inside a string. (Outside strings valid JSON
// has no backslashes, so every backslash starts an escape of exactly one more character or \uXXXX.)
bool has_escaped_nul(std::string_view text) {
  for (std::size_t i = 0; i + 1 < text.size(); i++) {
    if (text[i] != '\\') continue;
    if (text[i + 1] == 'u' && text.substr(i + 2, 4) == "0000") return true;
    i++; // skip the escaped character
  }
  return false;
}

// At most `max` bytes of `s`, cut at a character boundary (so that valid UTF-8 stays valid).
std::string clip(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  while (max > 0 && (static_cast<unsigned char>(s[max]) & 0xc0) == 0x80)
    max--;
  return std::string(s.substr(0, max));
}

bool no_control_chars(std::string_view s) {
  for (unsigned char c : s)
    if (spec::text_forbidden_byte(c)) return false;
  return true;
}

} // namespace

const char *to_string(Role r) {
  return name_of(spec::kRoles, r);
}
const char *to_string(RoomKind k) {
  return name_of(spec::kKinds, k);
}
const char *to_string(Type t) {
  return name_of(spec::kTypes, t);
}
const char *to_string(ErrorCode c) {
  return name_of(spec::kErrors, c);
}
const char *to_string(EndReason r) {
  return name_of(spec::kReasons, r);
}
const char *to_string(IceScheme s) {
  return name_of(spec::kIceSchemes, s);
}
std::optional<Role> role_from_string(std::string_view s) {
  return value_of<Role>(spec::kRoles, s);
}
std::optional<RoomKind> kind_from_string(std::string_view s) {
  return value_of<RoomKind>(spec::kKinds, s);
}
std::optional<Type> type_from_string(std::string_view s) {
  return value_of<Type>(spec::kTypes, s);
}
std::optional<ErrorCode> error_code_from_string(std::string_view s) {
  return value_of<ErrorCode>(spec::kErrors, s);
}
std::optional<EndReason> end_reason_from_string(std::string_view s) {
  return value_of<EndReason>(spec::kReasons, s);
}
std::optional<IceScheme> ice_scheme_from_string(std::string_view s) {
  return value_of<IceScheme>(spec::kIceSchemes, s);
}

RoomKind kind_for_role(Role r) {
  return spec::kRoles.at(static_cast<std::size_t>(r)).kind;
}

Sender sender_of(Type t) {
  return spec::kTypes.at(static_cast<std::size_t>(t)).from;
}

bool is_relay(Type t) {
  return spec::kTypes.at(static_cast<std::size_t>(t)).relay;
}

std::string_view error_text(ErrorCode c) {
  return spec::kErrors.at(static_cast<std::size_t>(c)).text;
}

JoinAction join_action(ErrorCode c) {
  auto i = static_cast<std::size_t>(c);
  // A value outside the table is nothing a retry could fix.
  return i < spec::kErrors.size() ? spec::kErrors[i].join : JoinAction::Fatal;
}

unsigned retry_delay_ms(unsigned attempt) {
  std::uint64_t ms = kRetryFirstMs;
  for (unsigned i = 0; i < attempt && ms < kRetryMaxMs; i++)
    ms *= 2;
  return static_cast<unsigned>(std::min<std::uint64_t>(ms, kRetryMaxMs));
}

std::string end_reason_text(EndReason r, std::string_view who, std::string_view peers) {
  auto i = static_cast<std::size_t>(r);
  std::string_view tmpl =
      spec::kReasons.at(i < spec::kReasons.size() ? i : static_cast<std::size_t>(EndReason::Closed))
          .text;
  std::string out;
  for (std::size_t pos = 0; pos < tmpl.size();) {
    if (tmpl.substr(pos, 5) == "{who}") {
      out += who;
      pos += 5;
    } else if (tmpl.substr(pos, 7) == "{peers}") {
      out += peers;
      pos += 7;
    } else {
      out += tmpl[pos++];
    }
  }
  return out;
}

Relay *relay_of(Message &m) {
  return std::visit(
      [](auto &msg) -> Relay * {
        if constexpr (std::is_base_of_v<Relay, std::decay_t<decltype(msg)>>)
          return &msg;
        else
          return nullptr;
      },
      m);
}

const Relay *relay_of(const Message &m) {
  return relay_of(const_cast<Message &>(m));
}

bool valid_text(std::string_view s, std::size_t max_bytes) {
  return s.size() <= max_bytes && g_utf8_validate(s.data(), s.size(), nullptr) &&
         no_control_chars(s);
}

bool valid_ice_server(const IceServer &s, std::string *why) {
  auto no = [&](std::string text) {
    if (why) *why = std::move(text);
    return false;
  };
  if (s.urls.empty() || s.urls.size() > kMaxIceUrls)
    return no("'urls' must hold 1 to " + std::to_string(kMaxIceUrls) + " URLs");
  if (!valid_text(s.username, kMaxIceCredential) || !valid_text(s.credential, kMaxIceCredential))
    return no("'username' and 'credential' must be at most " + std::to_string(kMaxIceCredential) +
              " bytes of printable UTF-8");
  for (const auto &url : s.urls) {
    std::string reason;
    auto u = url.size() <= kMaxIceUrl ? ice::parse_uri(url, ice::Form::Rtc, &reason) : std::nullopt;
    if (!u)
      return no("bad ICE server URL '" + clip(url, 64) + "': " +
                (reason.empty() ? "longer than " + std::to_string(kMaxIceUrl) + " bytes" : reason));
    if (spec::kIceSchemes.at(static_cast<std::size_t>(u->scheme)).credentials &&
        (s.username.empty() || s.credential.empty()))
      return no("'" + clip(url, 64) + "' needs 'username' and 'credential'");
  }
  return true;
}

bool valid_room_name(std::string_view s) {
  if (s.size() < spec::kRoomNameMin || s.size() > kMaxRoomName) return false;
  for (char c : s)
    if (!spec::room_name_char(c)) return false;
  return true;
}

bool valid_peer_name(std::string_view s) {
  return valid_text(s, kMaxPeerName);
}

bool valid_token_text(std::string_view s) {
  if (s.size() > kMaxToken) return false;
  for (char c : s)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

bool valid_peer_id(std::string_view s) {
  if (s.size() < spec::kPeerIdMin || s.size() > kMaxPeerId) return false;
  for (char c : s)
    if (!spec::peer_id_char(c)) return false;
  return true;
}

namespace {

// Reads `to` and `from` of a relayed message: at least one of them (a client names `to`, the
// server delivers `from`).
bool read_route(Reader &r, Relay &m) {
  if (!r.peer_id("to", m.to, false) || !r.peer_id("from", m.from, false)) return false;
  if (m.to.empty() && m.from.empty()) return r.fail(ErrorCode::BadMessage, "missing field 'to'");
  return true;
}

// The fields of each type, read from a JSON object whose type is already known.
struct Fields {
  Reader &r;
  JsonObject *obj;
  ParseError &err;

  bool operator()(Join &m) {
    std::int64_t version = 0;
    if (!r.integer("version", version, true, 0, G_MAXINT32)) return false;
    m.version = static_cast<int>(version);
    if (!r.str("room", m.room, true)) return false;
    if (!valid_room_name(m.room))
      return r.fail(ErrorCode::BadMessage, "room must be " + std::string(spec::kRoomNameRule));
    if (!r.enumerated("role", m.role, role_from_string)) return false;
    if (!r.str("name", m.name, false)) return false;
    if (!valid_peer_name(m.name))
      return r.fail(ErrorCode::BadMessage, "name must be at most " + std::to_string(kMaxPeerName) +
                                               " bytes of printable UTF-8");
    if (!r.str("token", m.token, false)) return false;
    if (!valid_token_text(m.token))
      return r.fail(ErrorCode::BadMessage, "token must be at most " + std::to_string(kMaxToken) +
                                               " printable ASCII characters");
    if (!r.boolean("private", m.private_room)) return false;
    if (!r.boolean("offers", m.offers)) return false;
    // Checked last: a malformed message is reported as such before a foreign one.
    if (m.version != kVersion)
      return r.fail(ErrorCode::BadVersion, "unsupported protocol version " +
                                               std::to_string(m.version) + " (server speaks " +
                                               std::to_string(kVersion) + ")");
    return true;
  }

  template <Type T> bool operator()(Description<T> &m) {
    if (!read_route(r, m) || !r.str("sdp", m.sdp, true)) return false;
    if (m.sdp.empty()) return r.fail(ErrorCode::BadMessage, "field 'sdp' must not be empty");
    return true;
  }

  bool operator()(Ice &m) {
    std::int64_t idx = 0;
    if (!read_route(r, m) || !r.str("candidate", m.candidate, true) ||
        !r.integer("sdpMLineIndex", idx, true, 0, kMaxMlineIndex) || !r.str("sdpMid", m.mid, false))
      return false;
    m.mline_index = static_cast<int>(idx);
    if (!no_control_chars(m.candidate)) return r.fail(ErrorCode::BadMessage, "bad candidate");
    return true;
  }

  bool operator()(Bye &m) {
    if (!read_route(r, m) || !r.enumerated("reason", m.reason, end_reason_from_string) ||
        !r.str("message", m.message, false))
      return false;
    if (!valid_text(m.message, kMaxByeMessage))
      return r.fail(ErrorCode::BadMessage, "message must be at most " +
                                               std::to_string(kMaxByeMessage) +
                                               " bytes of printable UTF-8");
    return true;
  }

  bool operator()(Prefer &m) {
    if (!read_route(r, m)) return false;
    const bool by_layer = r.has("layer"), by_height = r.has("maxHeight");
    if (by_layer == by_height)
      return r.fail(ErrorCode::BadMessage, "a prefer takes exactly one of 'layer' and 'maxHeight'");
    std::int64_t v = 0;
    if (by_layer) {
      if (!r.integer("layer", v, true, 0, kMaxPreferLayer)) return false;
      m.layer = static_cast<int>(v);
    } else {
      if (!r.integer("maxHeight", v, true, 1, kMaxPreferHeight)) return false;
      m.max_height = static_cast<int>(v);
    }
    return true;
  }

  bool operator()(Welcome &m) {
    std::int64_t interval = 0, max_size = 0;
    if (!r.peer_id("id", m.id, true) || !r.str("room", m.room, true) ||
        !r.enumerated("kind", m.kind, kind_from_string) ||
        !r.enumerated("role", m.role, role_from_string) ||
        !r.integer("ping_interval", interval, false, 0, 86400) ||
        !r.integer("max_message_size", max_size, false, 0, G_MAXINT64))
      return false;
    m.ping_interval_s = static_cast<unsigned>(interval);
    m.max_message_size = static_cast<std::uint64_t>(max_size);
    JsonNode *peers = json_object_get_member(obj, "peers");
    if (!peers || !JSON_NODE_HOLDS_ARRAY(peers))
      return r.fail(ErrorCode::BadMessage, "field 'peers' must be an array");
    JsonArray *arr = json_node_get_array(peers);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
      PeerInfo p;
      if (!read_peer(json_array_get_element(arr, i), p, err)) return false;
      m.peers.push_back(std::move(p));
    }
    return read_ice_servers(m.ice_servers);
  }

  // welcome.ice_servers: optional; an array of at most kMaxIceServers valid entries.
  bool read_ice_servers(std::vector<IceServer> &out) {
    JsonNode *list = json_object_get_member(obj, "ice_servers");
    if (!list) return true;
    if (!JSON_NODE_HOLDS_ARRAY(list) ||
        json_array_get_length(json_node_get_array(list)) > kMaxIceServers)
      return r.fail(ErrorCode::BadMessage, "field 'ice_servers' must be an array of at most " +
                                               std::to_string(kMaxIceServers) + " entries");
    JsonArray *arr = json_node_get_array(list);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
      JsonNode *n = json_array_get_element(arr, i);
      if (!JSON_NODE_HOLDS_OBJECT(n))
        return r.fail(ErrorCode::BadMessage, "an ice_servers entry must be an object");
      JsonObject *o = json_node_get_object(n);
      Reader er(o, err);
      IceServer s;
      JsonNode *urls = json_object_get_member(o, "urls");
      if (!urls || !JSON_NODE_HOLDS_ARRAY(urls))
        return r.fail(ErrorCode::BadMessage, "an ice_servers entry needs 'urls', an array");
      JsonArray *ua = json_node_get_array(urls);
      for (guint j = 0; j < json_array_get_length(ua); j++) {
        JsonNode *u = json_array_get_element(ua, j);
        if (!JSON_NODE_HOLDS_VALUE(u) || json_node_get_value_type(u) != G_TYPE_STRING ||
            !g_utf8_validate(json_node_get_string(u), -1, nullptr))
          return r.fail(ErrorCode::BadMessage, "ICE server URLs must be strings");
        s.urls.emplace_back(json_node_get_string(u));
      }
      if (!er.str("username", s.username, false) || !er.str("credential", s.credential, false))
        return r.fail(ErrorCode::BadMessage, err.message);
      std::string why;
      if (!valid_ice_server(s, &why)) return r.fail(ErrorCode::BadMessage, why);
      out.push_back(std::move(s));
    }
    return true;
  }

  bool operator()(PeerJoined &m) {
    return read_peer(json_object_get_member(obj, "peer"), m.peer, err);
  }

  bool operator()(PeerLeft &m) { return r.peer_id("id", m.id, true); }

  bool operator()(Error &m) {
    std::string code;
    if (!r.str("code", code, true) || !r.str("message", m.message, true) ||
        !r.str("ref", m.ref, false))
      return false;
    auto c = error_code_from_string(code);
    if (!c) return r.fail(ErrorCode::BadMessage, "unknown error code '" + clip(code, 64) + "'");
    m.code = *c;
    return true;
  }

  // leave, ping, pong: no fields
  template <typename M> bool operator()(M &) { return true; }
};

// A default-constructed message of type `t`.
template <std::size_t I = 0> Message blank(Type t) {
  if constexpr (I < std::variant_size_v<Message>) {
    if (static_cast<std::size_t>(t) == I) return Message(std::in_place_index<I>);
    return blank<I + 1>(t);
  } else {
    return Message(); // not reached: t comes from the table
  }
}

} // namespace

std::optional<Message> parse(std::string_view text, ParseError &err) {
  err = {};
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) gerr = nullptr;
  if (!g_utf8_validate(text.data(), text.size(), nullptr)) {
    err.code = ErrorCode::BadJson;
    err.message = "message is not valid UTF-8";
    return std::nullopt;
  }
  if (!json_parser_load_from_data(parser, text.data(), static_cast<gssize>(text.size()), &gerr)) {
    err.code = ErrorCode::BadJson;
    // json-glib quotes the input in its message, and may quote bytes that are not UTF-8 (an
    // unpaired surrogate escape): the message goes back to the sender in an error message.
    g_autofree char *why = g_utf8_make_valid(gerr ? gerr->message : "unknown error", -1);
    err.message = std::string("malformed JSON: ") + why;
    return std::nullopt;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    err.code = ErrorCode::BadJson;
    err.message = "message must be a JSON object";
    return std::nullopt;
  }
  JsonObject *obj = json_node_get_object(root);
  Reader r(obj, err);
  std::string type;
  if (!r.str("type", type, true)) return std::nullopt;
  auto t = type_from_string(type);
  if (!t) {
    err.code = ErrorCode::UnknownType;
    err.message = "unknown message type '" + clip(type, 64) + "'";
    return std::nullopt;
  }
  err.ref = type;
  // json-glib hands strings out NUL-terminated, so an escaped U+0000 would silently cut a field
  // short (room "a\u0000b" would join room "a"): refuse the message instead.
  if (has_escaped_nul(text)) {
    err.code = ErrorCode::BadMessage;
    err.message = "strings must not contain U+0000";
    return std::nullopt;
  }
  Message m = blank(*t);
  if (!std::visit(Fields{r, obj, err}, m)) return std::nullopt;
  return m;
}

namespace {

void add_str(JsonBuilder *b, const char *k, const std::string &v) {
  json_builder_set_member_name(b, k);
  json_builder_add_string_value(b, v.c_str());
}

void add_int(JsonBuilder *b, const char *k, std::int64_t v) {
  json_builder_set_member_name(b, k);
  json_builder_add_int_value(b, v);
}

void add_peer(JsonBuilder *b, const PeerInfo &p) {
  json_builder_begin_object(b);
  add_str(b, "id", p.id);
  add_str(b, "role", to_string(p.role));
  add_str(b, "name", p.name);
  if (p.offers) {
    json_builder_set_member_name(b, "offers");
    json_builder_add_boolean_value(b, TRUE);
  }
  json_builder_end_object(b);
}

void add_route(JsonBuilder *b, const Relay &m) {
  if (!m.to.empty()) add_str(b, "to", m.to);
  if (!m.from.empty()) add_str(b, "from", m.from);
}

// json-glib 1.6 escapes every control character in strings but U+001F, which it writes raw:
// invalid JSON that browsers refuse. Raw control bytes only ever appear inside strings (and
// never inside a multi-byte UTF-8 character), so escaping them afterwards is exact.
std::string escape_unit_separator(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '\x1f')
      out += "\\u001f";
    else
      out += c;
  }
  return out;
}

// The fields of each type, after "type".
struct Writer {
  JsonBuilder *b;

  void operator()(const Join &m) {
    add_int(b, "version", m.version);
    add_str(b, "room", m.room);
    add_str(b, "role", to_string(m.role));
    if (!m.name.empty()) add_str(b, "name", m.name);
    if (!m.token.empty()) add_str(b, "token", m.token);
    if (m.private_room) {
      json_builder_set_member_name(b, "private");
      json_builder_add_boolean_value(b, TRUE);
    }
    if (m.offers) {
      json_builder_set_member_name(b, "offers");
      json_builder_add_boolean_value(b, TRUE);
    }
  }
  template <Type T> void operator()(const Description<T> &m) {
    add_route(b, m);
    add_str(b, "sdp", m.sdp);
  }
  void operator()(const Ice &m) {
    add_route(b, m);
    add_str(b, "candidate", m.candidate);
    add_int(b, "sdpMLineIndex", m.mline_index);
    if (!m.mid.empty()) add_str(b, "sdpMid", m.mid);
  }
  void operator()(const Bye &m) {
    add_route(b, m);
    add_str(b, "reason", to_string(m.reason));
    if (!m.message.empty()) add_str(b, "message", m.message);
  }
  void operator()(const Prefer &m) {
    add_route(b, m);
    if (m.max_height >= 0)
      add_int(b, "maxHeight", m.max_height);
    else
      add_int(b, "layer", m.layer < 0 ? 0 : m.layer);
  }
  void operator()(const Welcome &m) {
    add_int(b, "version", kVersion);
    add_str(b, "id", m.id);
    add_str(b, "room", m.room);
    add_str(b, "kind", to_string(m.kind));
    add_str(b, "role", to_string(m.role));
    add_int(b, "ping_interval", m.ping_interval_s);
    add_int(b, "max_message_size", static_cast<std::int64_t>(m.max_message_size));
    json_builder_set_member_name(b, "peers");
    json_builder_begin_array(b);
    for (const auto &p : m.peers)
      add_peer(b, p);
    json_builder_end_array(b);
    if (m.ice_servers.empty()) return;
    json_builder_set_member_name(b, "ice_servers");
    json_builder_begin_array(b);
    for (const auto &s : m.ice_servers) {
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "urls");
      json_builder_begin_array(b);
      for (const auto &u : s.urls)
        json_builder_add_string_value(b, u.c_str());
      json_builder_end_array(b);
      if (!s.username.empty()) add_str(b, "username", s.username);
      if (!s.credential.empty()) add_str(b, "credential", s.credential);
      json_builder_end_object(b);
    }
    json_builder_end_array(b);
  }
  void operator()(const PeerJoined &m) {
    json_builder_set_member_name(b, "peer");
    add_peer(b, m.peer);
  }
  void operator()(const PeerLeft &m) { add_str(b, "id", m.id); }
  void operator()(const Error &m) {
    add_str(b, "code", to_string(m.code));
    add_str(b, "message", m.message);
    if (!m.ref.empty()) add_str(b, "ref", m.ref);
  }
  // leave, ping, pong: no fields
  template <typename M> void operator()(const M &) {}
};

} // namespace

std::string serialize(const Message &m) {
  g_autoptr(JsonBuilder) b = json_builder_new_immutable();
  json_builder_begin_object(b);
  add_str(b, "type", to_string(type_of(m)));
  std::visit(Writer{b}, m);
  json_builder_end_object(b);
  return escape_unit_separator(json_text(b));
}

Join make_join(std::string room, Role role, std::string name, std::string token) {
  Join m;
  m.token = std::move(token);
  m.room = std::move(room);
  m.role = role;
  m.name = std::move(name);
  return m;
}

Message make_sdp(Type offer_or_answer, std::string to, std::string sdp) {
  if (offer_or_answer == Type::Offer) {
    Offer m;
    m.to = std::move(to);
    m.sdp = std::move(sdp);
    return m;
  }
  g_return_val_if_fail(offer_or_answer == Type::Answer, Message());
  Answer m;
  m.to = std::move(to);
  m.sdp = std::move(sdp);
  return m;
}

Ice make_ice(std::string to, int mline_index, std::string candidate, std::string mid) {
  Ice m;
  m.to = std::move(to);
  m.mline_index = mline_index;
  m.candidate = std::move(candidate);
  m.mid = std::move(mid);
  return m;
}

Bye make_bye(std::string to, EndReason reason, std::string message) {
  Bye m;
  m.to = std::move(to);
  m.reason = reason;
  m.message = std::move(message);
  return m;
}

Prefer make_prefer(std::string to, int value, bool by_height) {
  Prefer m;
  m.to = std::move(to);
  (by_height ? m.max_height : m.layer) = value;
  return m;
}

Error make_error(ErrorCode code, std::string message, std::string ref) {
  Error m;
  m.code = code;
  m.message = std::move(message);
  m.ref = std::move(ref);
  return m;
}

Message make_simple(Type t) {
  switch (t) {
  case Type::Leave:
    return Leave{};
  case Type::Pong:
    return Pong{};
  case Type::Ping:
    return Ping{};
  default:
    g_return_val_if_fail(t == Type::Ping, Message(Ping{}));
    return Ping{};
  }
}

} // namespace roomcast::proto
