#include "protocol.h"

#include <json-glib/json-glib.h>

#include <array>
#include <utility>

namespace roomcast::proto {

namespace {

template <typename E, std::size_t N>
const char *name_of(const std::array<std::pair<E, const char *>, N> &table, E v) {
  for (const auto &[e, s] : table)
    if (e == v) return s;
  return "?";
}

template <typename E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, const char *>, N> &table,
                          std::string_view s) {
  for (const auto &[e, name] : table)
    if (s == name) return e;
  return std::nullopt;
}

constexpr std::array kRoles{
    std::pair{Role::Host, "host"},
    std::pair{Role::Viewer, "viewer"},
    std::pair{Role::Member, "member"},
};
constexpr std::array kKinds{
    std::pair{RoomKind::Live, "live"},
    std::pair{RoomKind::Meeting, "meeting"},
};
constexpr std::array kTypes{
    std::pair{Type::Join, "join"},
    std::pair{Type::Leave, "leave"},
    std::pair{Type::Offer, "offer"},
    std::pair{Type::Answer, "answer"},
    std::pair{Type::Ice, "ice"},
    std::pair{Type::Ping, "ping"},
    std::pair{Type::Pong, "pong"},
    std::pair{Type::Welcome, "welcome"},
    std::pair{Type::PeerJoined, "peer-joined"},
    std::pair{Type::PeerLeft, "peer-left"},
    std::pair{Type::Error, "error"},
};
constexpr std::array kCodes{
    std::pair{ErrorCode::BadJson, "bad-json"},
    std::pair{ErrorCode::BadMessage, "bad-message"},
    std::pair{ErrorCode::UnknownType, "unknown-type"},
    std::pair{ErrorCode::TooLarge, "too-large"},
    std::pair{ErrorCode::Binary, "binary-frame"},
    std::pair{ErrorCode::BadVersion, "bad-version"},
    std::pair{ErrorCode::NotJoined, "not-joined"},
    std::pair{ErrorCode::AlreadyJoined, "already-joined"},
    std::pair{ErrorCode::UnknownPeer, "unknown-peer"},
    std::pair{ErrorCode::Forbidden, "forbidden"},
    std::pair{ErrorCode::HostTaken, "host-taken"},
    std::pair{ErrorCode::WrongKind, "wrong-kind"},
    std::pair{ErrorCode::RoomFull, "room-full"},
    std::pair{ErrorCode::TooManyRooms, "too-many-rooms"},
    std::pair{ErrorCode::RateLimited, "rate-limited"},
    std::pair{ErrorCode::ServerFull, "server-full"},
};

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
    out = json_node_get_string(n);
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
      r.str("name", out.name, false);
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

bool no_control_chars(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

} // namespace

const char *to_string(Role r) {
  return name_of(kRoles, r);
}
const char *to_string(RoomKind k) {
  return name_of(kKinds, k);
}
const char *to_string(Type t) {
  return name_of(kTypes, t);
}
const char *to_string(ErrorCode c) {
  return name_of(kCodes, c);
}
std::optional<Role> role_from_string(std::string_view s) {
  return value_of(kRoles, s);
}
std::optional<RoomKind> kind_from_string(std::string_view s) {
  return value_of(kKinds, s);
}
std::optional<Type> type_from_string(std::string_view s) {
  return value_of(kTypes, s);
}
std::optional<ErrorCode> error_code_from_string(std::string_view s) {
  return value_of(kCodes, s);
}

RoomKind kind_for_role(Role r) {
  return r == Role::Member ? RoomKind::Meeting : RoomKind::Live;
}

bool valid_room_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxRoomName) return false;
  for (char c : s)
    if (!g_ascii_isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

bool valid_peer_name(std::string_view s) {
  return s.size() <= kMaxPeerName && g_utf8_validate(s.data(), s.size(), nullptr) &&
         no_control_chars(s);
}

bool valid_peer_id(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdLength) return false;
  for (char c : s)
    if (!g_ascii_isalnum(c) && c != '-' && c != '_') return false;
  return true;
}

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
    err.message = std::string("malformed JSON: ") + (gerr ? gerr->message : "unknown error");
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
  Message m;
  std::string type;
  if (!r.str("type", type, true)) return std::nullopt;
  auto t = type_from_string(type);
  if (!t) {
    err.code = ErrorCode::UnknownType;
    err.message = "unknown message type '" + type.substr(0, 64) + "'";
    return std::nullopt;
  }
  m.type = *t;
  err.ref = type;
  // json-glib hands strings out NUL-terminated, so an escaped U+0000 would silently cut a field
  // short (room "a\u0000b" would join room "a"): refuse the message instead.
  if (has_escaped_nul(text)) {
    err.code = ErrorCode::BadMessage;
    err.message = "strings must not contain U+0000";
    return std::nullopt;
  }

  switch (m.type) {
  case Type::Join: {
    std::int64_t version = 0;
    if (!r.integer("version", version, true, 0, G_MAXINT32)) break;
    m.version = static_cast<int>(version);
    if (!r.str("room", m.room, true)) break;
    if (!valid_room_name(m.room)) {
      r.fail(ErrorCode::BadMessage, "room must be 1-64 characters of A-Z a-z 0-9 - _ .");
      break;
    }
    if (!r.enumerated("role", m.role, role_from_string)) break;
    if (!r.str("name", m.name, false)) break;
    if (!valid_peer_name(m.name))
      r.fail(ErrorCode::BadMessage, "name must be at most 64 printable characters");
    if (r.ok() && m.version != kVersion)
      r.fail(ErrorCode::BadVersion, "unsupported protocol version " + std::to_string(m.version) +
                                        " (server speaks " + std::to_string(kVersion) + ")");
    break;
  }
  case Type::Offer:
  case Type::Answer:
  case Type::Ice: {
    if (!r.peer_id("to", m.to, false) || !r.peer_id("from", m.from, false)) break;
    if (m.to.empty() && m.from.empty()) {
      r.fail(ErrorCode::BadMessage, "missing field 'to'");
      break;
    }
    if (m.type == Type::Ice) {
      std::int64_t idx = 0;
      if (!r.str("candidate", m.candidate, true) ||
          !r.integer("sdpMLineIndex", idx, true, 0, 1023) || !r.str("sdpMid", m.mid, false))
        break;
      m.mline_index = static_cast<int>(idx);
      if (!no_control_chars(m.candidate)) r.fail(ErrorCode::BadMessage, "bad candidate");
    } else {
      if (!r.str("sdp", m.sdp, true)) break;
      if (m.sdp.empty()) r.fail(ErrorCode::BadMessage, "field 'sdp' must not be empty");
    }
    break;
  }
  case Type::Welcome: {
    std::int64_t interval = 0, max_size = 0;
    if (!r.peer_id("id", m.id, true) || !r.str("room", m.room, true) ||
        !r.enumerated("kind", m.kind, kind_from_string) ||
        !r.enumerated("role", m.role, role_from_string) ||
        !r.integer("ping_interval", interval, false, 0, 86400) ||
        !r.integer("max_message_size", max_size, false, 0, G_MAXINT64))
      break;
    m.ping_interval_s = static_cast<unsigned>(interval);
    m.max_message_size = static_cast<std::uint64_t>(max_size);
    JsonNode *peers = json_object_get_member(obj, "peers");
    if (!peers || !JSON_NODE_HOLDS_ARRAY(peers)) {
      r.fail(ErrorCode::BadMessage, "field 'peers' must be an array");
      break;
    }
    JsonArray *arr = json_node_get_array(peers);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
      PeerInfo p;
      if (!read_peer(json_array_get_element(arr, i), p, err)) return std::nullopt;
      m.peers.push_back(std::move(p));
    }
    break;
  }
  case Type::PeerJoined:
    if (!read_peer(json_object_get_member(obj, "peer"), m.peer, err)) return std::nullopt;
    break;
  case Type::PeerLeft:
    r.peer_id("id", m.id, true);
    break;
  case Type::Error: {
    std::string code;
    if (!r.str("code", code, true) || !r.str("message", m.message, true) ||
        !r.str("ref", m.ref, false))
      break;
    auto c = error_code_from_string(code);
    if (!c) {
      r.fail(ErrorCode::BadMessage, "unknown error code '" + code.substr(0, 64) + "'");
      break;
    }
    m.code = *c;
    break;
  }
  case Type::Leave:
  case Type::Ping:
  case Type::Pong:
    break;
  }
  if (!r.ok()) return std::nullopt;
  return m;
}

namespace {
void add_peer(JsonBuilder *b, const PeerInfo &p) {
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "id");
  json_builder_add_string_value(b, p.id.c_str());
  json_builder_set_member_name(b, "role");
  json_builder_add_string_value(b, to_string(p.role));
  json_builder_set_member_name(b, "name");
  json_builder_add_string_value(b, p.name.c_str());
  json_builder_end_object(b);
}

void add_str(JsonBuilder *b, const char *k, const std::string &v) {
  json_builder_set_member_name(b, k);
  json_builder_add_string_value(b, v.c_str());
}

void add_int(JsonBuilder *b, const char *k, std::int64_t v) {
  json_builder_set_member_name(b, k);
  json_builder_add_int_value(b, v);
}
} // namespace

std::string serialize(const Message &m) {
  g_autoptr(JsonBuilder) b = json_builder_new_immutable();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, to_string(m.type));
  switch (m.type) {
  case Type::Join:
    add_int(b, "version", m.version);
    add_str(b, "room", m.room);
    add_str(b, "role", to_string(m.role));
    if (!m.name.empty()) add_str(b, "name", m.name);
    break;
  case Type::Offer:
  case Type::Answer:
  case Type::Ice:
    if (!m.to.empty()) add_str(b, "to", m.to);
    if (!m.from.empty()) add_str(b, "from", m.from);
    if (m.type == Type::Ice) {
      add_str(b, "candidate", m.candidate);
      add_int(b, "sdpMLineIndex", m.mline_index);
      if (!m.mid.empty()) add_str(b, "sdpMid", m.mid);
    } else {
      add_str(b, "sdp", m.sdp);
    }
    break;
  case Type::Welcome:
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
    break;
  case Type::PeerJoined:
    json_builder_set_member_name(b, "peer");
    add_peer(b, m.peer);
    break;
  case Type::PeerLeft:
    add_str(b, "id", m.id);
    break;
  case Type::Error:
    add_str(b, "code", to_string(m.code));
    add_str(b, "message", m.message);
    if (!m.ref.empty()) add_str(b, "ref", m.ref);
    break;
  case Type::Leave:
  case Type::Ping:
  case Type::Pong:
    break;
  }
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  g_autofree char *s = json_generator_to_data(gen, nullptr);
  return s;
}

Message make_join(std::string room, Role role, std::string name) {
  Message m;
  m.type = Type::Join;
  m.room = std::move(room);
  m.role = role;
  m.name = std::move(name);
  return m;
}

Message make_sdp(Type offer_or_answer, std::string to, std::string sdp) {
  Message m;
  m.type = offer_or_answer;
  m.to = std::move(to);
  m.sdp = std::move(sdp);
  return m;
}

Message make_ice(std::string to, int mline_index, std::string candidate, std::string mid) {
  Message m;
  m.type = Type::Ice;
  m.to = std::move(to);
  m.mline_index = mline_index;
  m.candidate = std::move(candidate);
  m.mid = std::move(mid);
  return m;
}

Message make_error(ErrorCode code, std::string message, std::string ref) {
  Message m;
  m.type = Type::Error;
  m.code = code;
  m.message = std::move(message);
  m.ref = std::move(ref);
  return m;
}

Message make_simple(Type t) {
  Message m;
  m.type = t;
  return m;
}

} // namespace roomcast::proto
