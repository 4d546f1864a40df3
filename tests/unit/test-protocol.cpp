// Unit tests for the signalling protocol library (src/common/protocol.*): the enum name tables
// (generated from src/common/protocol-spec.json), the validators, serialize() -> parse() round
// trips of every message struct and every way parse() can refuse a message.
#include "check-str.h"
#include "protocol.h"

#include <glib.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <set>
#include <variant>
#include <string>
#include <vector>

using namespace roomcast::proto;

namespace {

// ---- helpers ----------------------------------------------------------------------------------

// Parses `text`, which must succeed.
Message parse_ok(std::string_view text) {
  ParseError err;
  auto m = parse(text, err);
  if (!m) {
    g_autofree char *msg =
        g_strdup_printf("parse() refused %.*s: %s: %s", static_cast<int>(text.size()), text.data(),
                        to_string(err.code), err.message.c_str());
    g_assertion_message(nullptr, __FILE__, __LINE__, G_STRFUNC, msg);
  }
  return *m;
}

// Parses `text`, which must succeed with a message of type T.
template <typename T> T parse_as(std::string_view text) {
  Message m = parse_ok(text);
  if (!std::holds_alternative<T>(m)) {
    g_autofree char *msg =
        g_strdup_printf("parse() read %.*s as a '%s', wanted '%s'", static_cast<int>(text.size()),
                        text.data(), to_string(type_of(m)), to_string(T::kType));
    g_assertion_message(nullptr, __FILE__, __LINE__, G_STRFUNC, msg);
  }
  return std::get<T>(std::move(m));
}

// Parses `text`, which must fail with `code` (and, when given, name `ref` as the culprit's type).
void parse_fails(std::string_view text, ErrorCode code, const char *ref = nullptr) {
  ParseError err;
  err.ref = "stale"; // parse() must reset the whole error
  auto m = parse(text, err);
  g_autofree char *shown = g_strescape(std::string(text.substr(0, 200)).c_str(), nullptr);
  if (m) {
    g_autofree char *msg =
        g_strdup_printf("parse() accepted \"%s\" (wanted error %s)", shown, to_string(code));
    g_assertion_message(nullptr, __FILE__, __LINE__, G_STRFUNC, msg);
  }
  if (err.code != code) {
    g_autofree char *msg =
        g_strdup_printf("parse(\"%s\") failed with %s (%s), wanted %s", shown, to_string(err.code),
                        err.message.c_str(), to_string(code));
    g_assertion_message(nullptr, __FILE__, __LINE__, G_STRFUNC, msg);
  }
  // Every refusal explains itself, briefly.
  g_assert_false(err.message.empty());
  g_assert_cmpuint(err.message.size(), <, 300);
  g_assert_true(g_utf8_validate(err.message.data(), err.message.size(), nullptr));
  if (ref)
    CHECK_STR(err.ref, ref);
  else
    g_assert_cmpstr(err.ref.c_str(), !=, "stale");
}

// serialize() then parse() must give back an equal message.
void round_trip(const Message &m) {
  std::string text = serialize(m);
  Message back = parse_ok(text);
  if (!(back == m)) {
    g_autofree char *msg = g_strdup_printf("round trip changed the message: %s -> %s", text.c_str(),
                                           serialize(back).c_str());
    g_assertion_message(nullptr, __FILE__, __LINE__, G_STRFUNC, msg);
  }
  // Serialising again gives the very same text.
  std::string again = serialize(back);
  CHECK_STR(again, text.c_str());
}

// The member names of a serialised message, sorted and comma-separated.
std::string members_of(const std::string &json) {
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) err = nullptr;
  g_assert_true(json_parser_load_from_data(parser, json.c_str(), -1, &err));
  g_assert_no_error(err);
  JsonNode *root = json_parser_get_root(parser);
  g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
  GList *names = json_object_get_members(json_node_get_object(root));
  std::vector<std::string> v;
  for (GList *l = names; l; l = l->next)
    v.emplace_back(static_cast<const char *>(l->data));
  g_list_free(names);
  std::sort(v.begin(), v.end());
  std::string out;
  for (const auto &s : v)
    out += (out.empty() ? "" : ",") + s;
  return out;
}

// A message of type `t` with every field its struct has set to something other than its default.
Message everything_set(Type t) {
  switch (t) {
  case Type::Join:
    return Join{7, "room", Role::Member, "name"};
  case Type::Offer: {
    Offer m;
    m.to = "pto";
    m.from = "pfrom";
    m.sdp = "v=0";
    return m;
  }
  case Type::Answer: {
    Answer m;
    m.to = "pto";
    m.from = "pfrom";
    m.sdp = "v=0";
    return m;
  }
  case Type::Ice: {
    Ice m = make_ice("pto", 3, "candidate:1", "3");
    m.from = "pfrom";
    return m;
  }
  case Type::Bye: {
    Bye m = make_bye("pto", EndReason::MaxPeers, "text");
    m.from = "pfrom";
    return m;
  }
  case Type::Prefer: {
    Prefer m = make_prefer("pto", 2);
    m.from = "pfrom";
    return m;
  }
  case Type::Welcome:
    return Welcome{"pid",
                   "room",
                   RoomKind::Meeting,
                   Role::Member,
                   5,
                   4096,
                   {{"pa", Role::Member, "a"}},
                   {{{"turn:192.0.2.1:3478"}, "1700000000:pid", "c"}}};
  case Type::PeerJoined:
    return PeerJoined{{"pb", Role::Member, "b"}};
  case Type::PeerLeft:
    return PeerLeft{"pid"};
  case Type::Error:
    return make_error(ErrorCode::Forbidden, "text", "offer");
  default:
    return make_simple(t);
  }
}

const std::string k64(64, 'a');
const std::string k65(65, 'a');

std::string join_with(const std::string &fields) {
  return "{\"type\":\"join\"" + (fields.empty() ? "" : "," + fields) + "}";
}

constexpr const char *kJoinOk = R"("version":1,"room":"r1","role":"host")";

// ---- enum tables ------------------------------------------------------------------------------

template <typename E> void check_table(int count, std::optional<E> (*from)(std::string_view)) {
  std::set<std::string> seen;
  for (int i = 0; i < count; i++) {
    E v = static_cast<E>(i);
    const char *s = to_string(v);
    g_assert_nonnull(s);
    g_assert_cmpstr(s, !=, "?");
    g_assert_cmpuint(strlen(s), >, 0);
    g_assert_true(seen.insert(s).second); // names are distinct
    auto back = from(s);
    g_assert_true(back.has_value());
    g_assert_true(*back == v);
    // Names are exact: no case folding, no surrounding space.
    g_autofree char *upper = g_ascii_strup(s, -1);
    g_assert_false(from(upper).has_value());
    g_assert_false(from(std::string(" ") + s).has_value());
    g_assert_false(from(std::string(s) + "x").has_value());
  }
  g_assert_false(from("").has_value());
  g_assert_false(from("?").has_value());
  // Past the last value the tables answer "?" rather than crash.
  g_assert_cmpstr(to_string(static_cast<E>(count)), ==, "?");
}

void test_enum_tables() {
  check_table<Role>(3, role_from_string);
  check_table<RoomKind>(2, kind_from_string);
  check_table<Type>(static_cast<int>(Type::Error) + 1, type_from_string);
  check_table<ErrorCode>(static_cast<int>(ErrorCode::TokenLimit) + 1, error_code_from_string);
  check_table<EndReason>(static_cast<int>(EndReason::Closed) + 1, end_reason_from_string);
  g_assert_cmpuint(spec::kTypes.size(), ==, static_cast<std::size_t>(Type::Error) + 1);
  g_assert_cmpuint(spec::kErrors.size(), ==, static_cast<std::size_t>(ErrorCode::TokenLimit) + 1);
  g_assert_cmpuint(spec::kReasons.size(), ==, static_cast<std::size_t>(EndReason::Closed) + 1);

  // The wire names the docs promise.
  g_assert_cmpstr(to_string(Role::Host), ==, "host");
  g_assert_cmpstr(to_string(Role::Viewer), ==, "viewer");
  g_assert_cmpstr(to_string(Role::Member), ==, "member");
  g_assert_cmpstr(to_string(RoomKind::Live), ==, "live");
  g_assert_cmpstr(to_string(RoomKind::Meeting), ==, "meeting");
  const std::pair<Type, const char *> types[] = {
      {Type::Join, "join"},
      {Type::Leave, "leave"},
      {Type::Offer, "offer"},
      {Type::Answer, "answer"},
      {Type::Ice, "ice"},
      {Type::Bye, "bye"},
      {Type::Prefer, "prefer"},
      {Type::Ping, "ping"},
      {Type::Pong, "pong"},
      {Type::Welcome, "welcome"},
      {Type::PeerJoined, "peer-joined"},
      {Type::PeerLeft, "peer-left"},
      {Type::Error, "error"},
  };
  for (const auto &[t, s] : types)
    g_assert_cmpstr(to_string(t), ==, s);
  const std::pair<ErrorCode, const char *> codes[] = {
      {ErrorCode::BadJson, "bad-json"},         {ErrorCode::BadMessage, "bad-message"},
      {ErrorCode::UnknownType, "unknown-type"}, {ErrorCode::TooLarge, "too-large"},
      {ErrorCode::Binary, "binary-frame"},      {ErrorCode::BadVersion, "bad-version"},
      {ErrorCode::NotJoined, "not-joined"},     {ErrorCode::AlreadyJoined, "already-joined"},
      {ErrorCode::UnknownPeer, "unknown-peer"}, {ErrorCode::Forbidden, "forbidden"},
      {ErrorCode::HostTaken, "host-taken"},     {ErrorCode::WrongKind, "wrong-kind"},
      {ErrorCode::RoomFull, "room-full"},       {ErrorCode::TooManyRooms, "too-many-rooms"},
      {ErrorCode::RateLimited, "rate-limited"}, {ErrorCode::ServerFull, "server-full"},
  };
  for (const auto &[c, s] : codes)
    g_assert_cmpstr(to_string(c), ==, s);
  const std::pair<EndReason, const char *> reasons[] = {
      {EndReason::Timeout, "timeout"},
      {EndReason::MaxPeers, "max-peers"},
      {EndReason::IceFailed, "ice-failed"},
      {EndReason::NoCommonCodec, "no-common-codec"},
      {EndReason::NegotiationFailed, "negotiation-failed"},
      {EndReason::Closed, "closed"},
  };
  for (const auto &[r, s] : reasons)
    g_assert_cmpstr(to_string(r), ==, s);

  // Who sends what, and what the server relays.
  for (Type t : {Type::Join, Type::Leave})
    g_assert_true(sender_of(t) == Sender::Client && !is_relay(t));
  for (Type t : {Type::Offer, Type::Answer, Type::Ice, Type::Bye, Type::Prefer})
    g_assert_true(sender_of(t) == Sender::Client && is_relay(t));
  for (Type t : {Type::Ping, Type::Pong})
    g_assert_true(sender_of(t) == Sender::Both && !is_relay(t));
  for (Type t : {Type::Welcome, Type::PeerJoined, Type::PeerLeft, Type::Error})
    g_assert_true(sender_of(t) == Sender::Server && !is_relay(t));

  // Every error code and end-peer reason has words for people.
  for (const auto &row : spec::kErrors) {
    g_assert_cmpuint(error_text(row.value).size(), >, 5);
    g_assert_true(g_utf8_validate(row.text.data(), row.text.size(), nullptr));
  }
  for (const auto &row : spec::kReasons) {
    std::string text = end_reason_text(row.value, "The host", "viewers");
    g_assert_true(g_str_has_prefix(text.c_str(), "The host "));
    g_assert_null(strchr(text.c_str(), '{'));
  }
  CHECK_STR(end_reason_text(EndReason::MaxPeers, "The host", "viewers"),
            "The host is serving as many viewers as it can; try again later.");
  CHECK_STR(end_reason_text(EndReason::Closed, "Ann"), "Ann ended the connection.");
}

void test_kind_for_role() {
  g_assert_true(kind_for_role(Role::Host) == RoomKind::Live);
  g_assert_true(kind_for_role(Role::Viewer) == RoomKind::Live);
  g_assert_true(kind_for_role(Role::Member) == RoomKind::Meeting);
}

// ---- validators -------------------------------------------------------------------------------

void test_validators() {
  g_assert_true(valid_room_name("a"));
  g_assert_true(valid_room_name("Room-1_b.c"));
  g_assert_true(valid_room_name(k64));
  g_assert_false(valid_room_name(""));
  g_assert_false(valid_room_name(k65));
  for (const char *bad :
       {"a/b", "a b", "a\\b", "a:b", "a?b", "a#b", "r%20", "caf\xc3\xa9", "a\tb", "a\nb"})
    g_assert_false(valid_room_name(bad));
  g_assert_false(valid_room_name(std::string_view("a\0b", 3)));

  g_assert_true(valid_peer_id("p0123abcd"));
  g_assert_true(valid_peer_id("A-z_9"));
  g_assert_true(valid_peer_id(std::string(32, 'x')));
  g_assert_false(valid_peer_id(""));
  g_assert_false(valid_peer_id(std::string(33, 'x')));
  for (const char *bad : {"a.b", "a b", "a/b", "a:b", "\xc3\xa9"})
    g_assert_false(valid_peer_id(bad));

  g_assert_true(valid_peer_name(""));
  g_assert_true(valid_peer_name("Alice"));
  g_assert_true(valid_peer_name("Zo\xc3\xab \xf0\x9f\x8e\xa5")); // "Zoë 🎥"
  g_assert_true(valid_peer_name(k64));
  g_assert_false(valid_peer_name(k65));
  // The limit is in bytes: 33 two-byte characters are 66 bytes.
  std::string wide;
  for (int i = 0; i < 33; i++)
    wide += "\xc3\xa9";
  g_assert_false(valid_peer_name(wide));
  for (const char *bad : {"a\nb", "a\tb", "\x01", "a\x7f", "\xff", "\xc3"})
    g_assert_false(valid_peer_name(bad));
  g_assert_false(valid_peer_name(std::string_view("a\0b", 3)));

  // Free text (names, bye messages): the limit is the caller's, in bytes.
  g_assert_true(valid_text("", 0));
  g_assert_true(valid_text("abc", 3));
  g_assert_false(valid_text("abcd", 3));
  g_assert_true(valid_text("\xc3\xa9", 2));
  g_assert_false(valid_text("\xc3\xa9", 1));
  for (const char *bad : {"a\nb", "\r", "\x1f", "\x7f", "\xff", "\xc3"})
    g_assert_false(valid_text(bad, 100));
  g_assert_true(valid_text(std::string(kMaxByeMessage, 'm'), kMaxByeMessage));

  // The rules' descriptions say what the checks do.
  CHECK_STR(std::string(spec::kRoomNameRule), "1 to 64 characters from A-Z a-z 0-9 _ . -");
  CHECK_STR(std::string(spec::kPeerIdRule), "1 to 32 characters from A-Z a-z 0-9 _ -");
  // Every ASCII character: the generated predicates against the documented sets.
  for (int c = 0; c < 256; c++) {
    const bool alnum = g_ascii_isalnum(c);
    g_assert_true(spec::room_name_char(char(c)) == (alnum || c == '-' || c == '_' || c == '.'));
    g_assert_true(spec::peer_id_char(char(c)) == (alnum || c == '-' || c == '_'));
    g_assert_true(spec::text_forbidden_byte(c) == (c < 0x20 || c == 0x7f));
  }
}

// ---- builders ---------------------------------------------------------------------------------

void test_builders() {
  Join j = make_join("r", Role::Member, "Bob");
  g_assert_cmpint(j.version, ==, kVersion);
  CHECK_STR(j.room, "r");
  g_assert_true(j.role == Role::Member);
  CHECK_STR(j.name, "Bob");

  Message o = make_sdp(Type::Answer, "p1", "v=0");
  const auto *answer = std::get_if<Answer>(&o);
  g_assert_nonnull(answer);
  CHECK_STR(answer->to, "p1");
  CHECK_STR(answer->sdp, "v=0");
  g_assert_true(answer->from.empty());
  g_assert_true(std::holds_alternative<Offer>(make_sdp(Type::Offer, "p1", "v=0")));

  Ice i = make_ice("p2", 1, "candidate:x", "video");
  CHECK_STR(i.to, "p2");
  g_assert_cmpint(i.mline_index, ==, 1);
  CHECK_STR(i.candidate, "candidate:x");
  CHECK_STR(i.mid, "video");

  Bye b = make_bye("p3", EndReason::Timeout, "no RTCP for 10 s");
  CHECK_STR(b.to, "p3");
  g_assert_true(b.reason == EndReason::Timeout);
  CHECK_STR(b.message, "no RTCP for 10 s");
  g_assert_true(make_bye("p3", EndReason::Closed).message.empty());

  Error e = make_error(ErrorCode::RoomFull, "full", "join");
  g_assert_true(e.code == ErrorCode::RoomFull);
  CHECK_STR(e.message, "full");
  CHECK_STR(e.ref, "join");

  for (Type t : {Type::Leave, Type::Ping, Type::Pong})
    g_assert_true(type_of(make_simple(t)) == t);

  // The variant's alternatives follow Type, so the index is the type.
  for (std::size_t i = 0; i < spec::kTypes.size(); i++)
    g_assert_true(type_of(everything_set(static_cast<Type>(i))) == static_cast<Type>(i));
  // The relayed types share their routing fields.
  for (const auto &row : spec::kTypes) {
    Message m = everything_set(row.value);
    g_assert_true((relay_of(m) != nullptr) == row.relay);
    if (row.relay) CHECK_STR(relay_of(m)->to, "pto");
  }
}

// ---- round trips ------------------------------------------------------------------------------

void test_round_trip_join_leave() {
  round_trip(make_join("r1", Role::Host, "Alice"));
  round_trip(make_join("r1", Role::Viewer));
  round_trip(make_join(k64, Role::Member, "Zo\xc3\xab \"quoted\" \\ \xf0\x9f\x8e\xa5"));
  round_trip(make_join("a.b-c_d", Role::Member, k64));
  round_trip(make_simple(Type::Leave));

  // A join with another version serialises that version, and parse() refuses it.
  Join v2 = make_join("r", Role::Host);
  v2.version = 2;
  std::string text = serialize(v2);
  g_assert_nonnull(strstr(text.c_str(), "\"version\":2"));
  parse_fails(text, ErrorCode::BadVersion, "join");
}

void test_round_trip_relay() {
  const std::string sdp =
      "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=\"quoted\" \\ \xc3\xa9\r\n"
      "t=0 0\r\na=group:BUNDLE 0\r\n";
  for (Type t : {Type::Offer, Type::Answer}) {
    round_trip(make_sdp(t, "p1", sdp));
    Message both = make_sdp(t, "p1", "v=0");
    relay_of(both)->from = "p2";
    round_trip(both);
    Message from_only = make_sdp(t, "", sdp); // as the server delivers it
    relay_of(from_only)->from = "p12345678";
    round_trip(from_only);
  }
  round_trip(make_ice("p1", 0, "candidate:1 1 UDP 2122252543 192.168.1.2 50000 typ host", "0"));
  round_trip(make_ice("p1", 1023, "candidate:2 1 TCP 1 ::1 9 typ host tcptype active"));
  round_trip(make_ice(std::string(32, 'z'), 2, "", "")); // end of candidates
  Ice ice_from = make_ice("", 1, "candidate:3", "audio");
  ice_from.from = "p-1_A";
  round_trip(ice_from);

  // bye: every reason, with and without a message, as sent and as delivered.
  for (const auto &row : spec::kReasons) {
    round_trip(make_bye("p1", row.value));
    round_trip(make_bye("p1", row.value, "Zo\xc3\xab \"quoted\" \\ \xf0\x9f\x8e\xa5"));
    Bye delivered = make_bye("", row.value, std::string(kMaxByeMessage, 'm'));
    delivered.from = "p2";
    round_trip(delivered);
  }
  // Every control character a string may hold is written escaped (json-glib 1.6 writes U+001F
  // raw unless told otherwise), so any JSON reader takes it.
  std::string controls;
  for (char c = 1; c < 0x20; c++)
    controls += c;
  Message ctl = make_sdp(Type::Offer, "p1", "v=0 " + controls + "\x7f");
  std::string ctl_text = serialize(ctl);
  for (unsigned char c : ctl_text)
    g_assert_cmpuint(c, >=, 0x20);
  g_assert_nonnull(strstr(ctl_text.c_str(), "\\u001f"));
  round_trip(ctl);
  CHECK_STR(serialize(make_bye("p1", EndReason::MaxPeers, "busy")),
            R"({"type":"bye","to":"p1","reason":"max-peers","message":"busy"})");
}

void test_round_trip_keepalive() {
  round_trip(make_simple(Type::Ping));
  round_trip(make_simple(Type::Pong));
  g_assert_true(serialize(make_simple(Type::Ping)) == "{\"type\":\"ping\"}");
  g_assert_true(serialize(make_simple(Type::Pong)) == "{\"type\":\"pong\"}");
}

void test_round_trip_server_messages() {
  Welcome w;
  w.id = "p0000abcd";
  w.room = "r1";
  w.kind = RoomKind::Live;
  w.role = Role::Host;
  w.ping_interval_s = 10;
  w.max_message_size = 65536;
  round_trip(w); // no peers

  w.role = Role::Viewer;
  w.peers = {{"p1", Role::Host, "Alice"}};
  round_trip(w);

  w.kind = RoomKind::Meeting;
  w.role = Role::Member;
  w.peers = {{"p1", Role::Member, ""},
             {"p2", Role::Member,
              "B\xc3\xb6"
              "b"},
             {"p3", Role::Member, k64}};
  w.ping_interval_s = 86400;
  w.max_message_size = std::uint64_t(1) << 40;
  round_trip(w);

  // ICE servers: a STUN entry without credentials, TURN entries with them.
  w.ice_servers = {{{"stun:192.0.2.1:3478"}, "", ""},
                   {{"turn:192.0.2.1:3478", "turn:[2001:db8::1]:3478?transport=tcp",
                     "turns:turn.example.org:5349?transport=tcp"},
                    "1700000000:p0000abcd",
                    "OyIc0yoF57Oj+rJ25P27kRYkqa0="}};
  round_trip(w);
  CHECK_STR(members_of(serialize(w)),
            "ice_servers,id,kind,max_message_size,peers,ping_interval,role,room,type,version");
  g_assert_nonnull(
      strstr(serialize(w).c_str(), R"("ice_servers":[{"urls":["stun:192.0.2.1:3478"]},)"));

  // Welcome always states the server's protocol version.
  std::string text = serialize(w);
  g_assert_nonnull(strstr(text.c_str(), ("\"version\":" + std::to_string(kVersion)).c_str()));

  round_trip(PeerJoined{{"p9", Role::Viewer, "Carol"}});
  round_trip(PeerJoined{{"p9", Role::Host, ""}});
  round_trip(PeerLeft{"p9"});

  for (int i = 0; i <= static_cast<int>(ErrorCode::ServerFull); i++) {
    auto code = static_cast<ErrorCode>(i);
    round_trip(make_error(code, std::string("about ") + to_string(code)));
    round_trip(make_error(code, "with a ref \xe2\x9c\x93", "offer"));
  }
  round_trip(make_error(ErrorCode::BadJson, "")); // an empty message text is still a message
}

// serialize() writes exactly the fields of the message's type, whatever else the struct holds.
void test_serialize_fields() {
  const std::pair<Type, const char *> expected[] = {
      {Type::Join, "name,role,room,type,version"},
      {Type::Leave, "type"},
      {Type::Offer, "from,sdp,to,type"},
      {Type::Answer, "from,sdp,to,type"},
      {Type::Ice, "candidate,from,sdpMLineIndex,sdpMid,to,type"},
      {Type::Bye, "from,message,reason,to,type"},
      {Type::Prefer, "from,layer,to,type"},
      {Type::Ping, "type"},
      {Type::Pong, "type"},
      {Type::Welcome,
       "ice_servers,id,kind,max_message_size,peers,ping_interval,role,room,type,version"},
      {Type::PeerJoined, "peer,type"},
      {Type::PeerLeft, "id,type"},
      {Type::Error, "code,message,ref,type"},
  };
  static_assert(std::size(expected) == spec::kTypes.size());
  for (const auto &[t, fields] : expected) {
    std::string text = serialize(everything_set(t));
    g_test_message("%s", text.c_str());
    CHECK_STR(members_of(text), fields);
  }
  // Optional fields are left out when empty.
  CHECK_STR(members_of(serialize(make_join("r", Role::Host))), "role,room,type,version");
  CHECK_STR(members_of(serialize(make_sdp(Type::Offer, "p1", "v=0"))), "sdp,to,type");
  CHECK_STR(members_of(serialize(make_ice("p1", 0, ""))), "candidate,sdpMLineIndex,to,type");
  CHECK_STR(members_of(serialize(make_error(ErrorCode::BadJson, "x"))), "code,message,type");
  CHECK_STR(members_of(serialize(make_bye("p1", EndReason::Closed))), "reason,to,type");
  // Peer entries always carry id, role and name.
  PeerJoined pj{{"p1", Role::Host, ""}};
  g_assert_nonnull(strstr(serialize(pj).c_str(), R"("peer":{"id":"p1","role":"host","name":""})"));
}

// ---- parse() errors ---------------------------------------------------------------------------

void test_parse_not_utf8() {
  parse_fails("{\"type\":\"ping\",\"x\":\"\xff\"}", ErrorCode::BadJson);
  parse_fails(
      "{\"type\":\"join\",\"version\":1,\"room\":\"r\",\"role\":\"host\",\"name\":\"\xc3\x28\"}",
      ErrorCode::BadJson);
  parse_fails("\xef\xbb", ErrorCode::BadJson);
  parse_fails(std::string_view("{\"type\":\"ping\"}\0", 16), ErrorCode::BadJson); // NUL byte
  // Overlong encoding of '/'.
  parse_fails("{\"type\":\"ping\",\"x\":\"\xc0\xaf\"}", ErrorCode::BadJson);
}

void test_parse_malformed_json() {
  for (const char *bad : {"", " ", "{", "}", "{\"type\":\"ping\"", "{\"type\":\"ping\",}",
                          "{type:\"ping\"}", "{\"type\" \"ping\"}", "{\"type\":ping}",
                          "{\"type\":\"ping\"}}", "nul", "[1,", "{\"type\":\"ping\" \"x\":1}"})
    parse_fails(bad, ErrorCode::BadJson);
}

void test_parse_not_an_object() {
  for (const char *bad :
       {"[]", "[{\"type\":\"ping\"}]", "42", "-1.5", "\"ping\"", "true", "false", "null"})
    parse_fails(bad, ErrorCode::BadJson);
}

void test_parse_type_field() {
  // Missing type.
  parse_fails("{}", ErrorCode::BadMessage);
  parse_fails("{\"Type\":\"ping\"}", ErrorCode::BadMessage);
  parse_fails("{\"kind\":\"ping\",\"id\":\"p1\"}", ErrorCode::BadMessage);
  // Not a string.
  for (const char *bad :
       {"{\"type\":1}", "{\"type\":null}", "{\"type\":true}", "{\"type\":[\"ping\"]}",
        "{\"type\":{\"name\":\"ping\"}}", "{\"type\":1.5}"})
    parse_fails(bad, ErrorCode::BadMessage);
  // Unknown names: exact, case-sensitive.
  for (const char *bad :
       {"{\"type\":\"\"}", "{\"type\":\"Ping\"}", "{\"type\":\"hello\"}", "{\"type\":\" ping\"}",
        "{\"type\":\"peer_joined\"}", "{\"type\":\"candidate\"}"})
    parse_fails(bad, ErrorCode::UnknownType, "");
  // A huge unknown type name is not echoed back whole.
  parse_fails("{\"type\":\"" + std::string(10000, 'x') + "\"}", ErrorCode::UnknownType, "");
}

void test_parse_join() {
  Join ok = parse_as<Join>(join_with(kJoinOk));
  g_assert_true(ok == make_join("r1", Role::Host));

  // version
  parse_fails(join_with(R"("room":"r1","role":"host")"), ErrorCode::BadMessage, "join");
  for (const char *v : {"\"1\"", "1.0", "1.5", "true", "null", "[1]", "{}", "-1", "4294967297"})
    parse_fails(join_with(std::string("\"version\":") + v + R"(,"room":"r1","role":"host")"),
                ErrorCode::BadMessage, "join");
  for (const char *v : {"0", "2", "99", "2147483647"})
    parse_fails(join_with(std::string("\"version\":") + v + R"(,"room":"r1","role":"host")"),
                ErrorCode::BadVersion, "join");
  // A bad field wins over a bad version: the message is broken before it is foreign.
  parse_fails(join_with(R"("version":2,"room":"a/b","role":"host")"), ErrorCode::BadMessage,
              "join");

  // room
  parse_fails(join_with(R"("version":1,"role":"host")"), ErrorCode::BadMessage, "join");
  for (const char *v : {"5", "null", "[\"r1\"]", "true"})
    parse_fails(join_with(std::string(R"("version":1,"role":"host","room":)") + v),
                ErrorCode::BadMessage, "join");
  for (const std::string &room :
       {std::string(), k65, std::string("a/b"), std::string("a b"), std::string("../x"),
        std::string("caf\\u00e9"), std::string("a\\u0000b"), std::string("a\\nb")})
    parse_fails(join_with(R"("version":1,"role":"host","room":")" + room + "\""),
                ErrorCode::BadMessage, "join");
  CHECK_STR(parse_as<Join>(join_with(R"("version":1,"role":"host","room":")" + k64 + "\"")).room,
            k64.c_str());

  // role
  parse_fails(join_with(R"("version":1,"room":"r1")"), ErrorCode::BadMessage, "join");
  for (const char *v : {"\"admin\"", "\"Host\"", "\"\"", "1", "null", "[\"host\"]"})
    parse_fails(join_with(std::string(R"("version":1,"room":"r1","role":)") + v),
                ErrorCode::BadMessage, "join");
  g_assert_true(parse_as<Join>(join_with(R"("version":1,"room":"r1","role":"viewer")")).role ==
                Role::Viewer);
  g_assert_true(parse_as<Join>(join_with(R"("version":1,"room":"r1","role":"member")")).role ==
                Role::Member);

  // name
  parse_fails(join_with(std::string(kJoinOk) + R"(,"name":5)"), ErrorCode::BadMessage, "join");
  parse_fails(join_with(std::string(kJoinOk) + R"(,"name":null)"), ErrorCode::BadMessage, "join");
  parse_fails(join_with(std::string(kJoinOk) + R"(,"name":")" + k65 + "\""), ErrorCode::BadMessage,
              "join");
  for (const char *v : {"a\\u0001b", "a\\nb", "tab\\t", "del\\u007f", "nul\\u0000"})
    parse_fails(join_with(std::string(kJoinOk) + R"(,"name":")" + v + "\""), ErrorCode::BadMessage,
                "join");
  CHECK_STR(parse_as<Join>(join_with(std::string(kJoinOk) + R"(,"name":")" + k64 + "\"")).name,
            k64.c_str());
  CHECK_STR(parse_as<Join>(join_with(std::string(kJoinOk) + R"(,"name":"Zo\u00eb")")).name,
            "Zo\xc3\xab");

  // token: optional, printable ASCII, at most kMaxToken bytes; written only when there is one.
  const std::string jwt = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoicjEifQ.c2ln-_";
  Join with_token = parse_as<Join>(join_with(std::string(kJoinOk) + R"(,"token":")" + jwt + "\""));
  CHECK_STR(with_token.token, jwt);
  g_assert_true(with_token == make_join("r1", Role::Host, "", jwt));
  CHECK_STR(serialize(with_token),
            R"({"type":"join","version":1,"room":"r1","role":"host","token":")" + jwt + "\"}");
  CHECK_STR(serialize(make_join("r1", Role::Host)),
            R"({"type":"join","version":1,"room":"r1","role":"host"})");
  const std::string max(kMaxToken, 'a');
  CHECK_STR(parse_as<Join>(join_with(std::string(kJoinOk) + R"(,"token":")" + max + "\"")).token,
            max);
  for (const std::string &v : {max + "a", std::string("a b"), std::string("caf\\u00e9"),
                               std::string("a\\u0001"), std::string("tab\\t")})
    parse_fails(join_with(std::string(kJoinOk) + R"(,"token":")" + v + "\""), ErrorCode::BadMessage,
                "join");
  for (const char *v : {"5", "null", "[\"t\"]", "{}"})
    parse_fails(join_with(std::string(kJoinOk) + R"(,"token":)" + v), ErrorCode::BadMessage,
                "join");

  // private: optional boolean, written only when true.
  g_assert_false(parse_as<Join>(join_with(kJoinOk)).private_room);
  Join priv = parse_as<Join>(join_with(std::string(kJoinOk) + R"(,"private":true)"));
  g_assert_true(priv.private_room);
  CHECK_STR(serialize(priv),
            R"({"type":"join","version":1,"room":"r1","role":"host","private":true})");
  g_assert_false(
      parse_as<Join>(join_with(std::string(kJoinOk) + R"(,"private":false)")).private_room);
  for (const char *v : {"1", "\"true\"", "null", "[]"})
    parse_fails(join_with(std::string(kJoinOk) + R"(,"private":)" + v), ErrorCode::BadMessage,
                "join");

  // offers (a viewer that offers itself: WHEP): optional boolean, written only when true.
  g_assert_false(parse_as<Join>(join_with(kJoinOk)).offers);
  Join offers = parse_as<Join>(join_with(std::string(kJoinOk) + R"(,"offers":true)"));
  g_assert_true(offers.offers);
  CHECK_STR(serialize(offers),
            R"({"type":"join","version":1,"room":"r1","role":"host","offers":true})");
  for (const char *v : {"1", "\"yes\"", "null", "{}"})
    parse_fails(join_with(std::string(kJoinOk) + R"(,"offers":)" + v), ErrorCode::BadMessage,
                "join");
}

void test_parse_relay() {
  for (const char *type : {"offer", "answer"}) {
    auto msg = [&](const std::string &fields) {
      return std::string("{\"type\":\"") + type + "\"," + fields + "}";
    };
    g_assert_true(parse_ok(msg(R"("to":"p1","sdp":"v=0")")) ==
                  make_sdp(*type_from_string(type), "p1", "v=0"));
    Message from_only = parse_ok(msg(R"("from":"p2","sdp":"v=0")"));
    CHECK_STR(relay_of(from_only)->from, "p2");
    g_assert_true(relay_of(from_only)->to.empty());
    // Neither to nor from.
    parse_fails(msg(R"("sdp":"v=0")"), ErrorCode::BadMessage, type);
    // Bad peer ids.
    for (const char *id : {"\"\"", "\"a/b\"", "\"a b\"", "\"a.b\"", "5", "null", "[\"p1\"]"}) {
      parse_fails(msg(std::string("\"to\":") + id + R"(,"sdp":"v=0")"), ErrorCode::BadMessage,
                  type);
      parse_fails(msg(std::string(R"("to":"p1","from":)") + id + R"(,"sdp":"v=0")"),
                  ErrorCode::BadMessage, type);
    }
    parse_fails(msg("\"to\":\"" + std::string(33, 'p') + R"(","sdp":"v=0")"), ErrorCode::BadMessage,
                type);
    // sdp
    parse_fails(msg(R"("to":"p1")"), ErrorCode::BadMessage, type);
    parse_fails(msg(R"("to":"p1","sdp":"")"), ErrorCode::BadMessage, type);
    for (const char *sdp : {"5", "null", "true", "[\"v=0\"]", "{\"sdp\":\"v=0\"}"})
      parse_fails(msg(std::string(R"("to":"p1","sdp":)") + sdp), ErrorCode::BadMessage, type);
  }

  auto ice = [](const std::string &fields) { return "{\"type\":\"ice\"," + fields + "}"; };
  g_assert_true(parse_as<Ice>(ice(R"("to":"p1","candidate":"c","sdpMLineIndex":2,"sdpMid":"v")")) ==
                make_ice("p1", 2, "c", "v"));
  g_assert_true(parse_as<Ice>(ice(R"("to":"p1","candidate":"","sdpMLineIndex":0)")) ==
                make_ice("p1", 0, ""));
  g_assert_cmpint(
      parse_as<Ice>(ice(R"("to":"p1","candidate":"c","sdpMLineIndex":1023)")).mline_index, ==,
      1023);
  parse_fails(ice(R"("candidate":"c","sdpMLineIndex":0)"), ErrorCode::BadMessage, "ice");
  parse_fails(ice(R"("to":"p/1","candidate":"c","sdpMLineIndex":0)"), ErrorCode::BadMessage, "ice");
  // candidate
  parse_fails(ice(R"("to":"p1","sdpMLineIndex":0)"), ErrorCode::BadMessage, "ice");
  parse_fails(ice(R"("to":"p1","candidate":5,"sdpMLineIndex":0)"), ErrorCode::BadMessage, "ice");
  parse_fails(ice(R"("to":"p1","candidate":null,"sdpMLineIndex":0)"), ErrorCode::BadMessage, "ice");
  parse_fails(ice(R"("to":"p1","candidate":"a\nb","sdpMLineIndex":0)"), ErrorCode::BadMessage,
              "ice");
  parse_fails(ice(R"("to":"p1","candidate":"a\u0000b","sdpMLineIndex":0)"), ErrorCode::BadMessage,
              "ice");
  // sdpMLineIndex
  parse_fails(ice(R"("to":"p1","candidate":"c")"), ErrorCode::BadMessage, "ice");
  for (const char *idx :
       {"-1", "1.0", "0.5", "\"0\"", "null", "true", "1024", "1e2", "9223372036854775807"})
    parse_fails(ice(std::string(R"("to":"p1","candidate":"c","sdpMLineIndex":)") + idx),
                ErrorCode::BadMessage, "ice");
  // sdpMid
  parse_fails(ice(R"("to":"p1","candidate":"c","sdpMLineIndex":0,"sdpMid":0)"),
              ErrorCode::BadMessage, "ice");
}

void test_parse_bye() {
  auto bye = [](const std::string &fields) { return "{\"type\":\"bye\"," + fields + "}"; };
  g_assert_true(parse_as<Bye>(bye(R"("to":"p1","reason":"timeout","message":"no RTCP")")) ==
                make_bye("p1", EndReason::Timeout, "no RTCP"));
  for (const auto &row : spec::kReasons) {
    Bye b = parse_as<Bye>(bye(R"("to":"p1","reason":")" + std::string(row.name) + "\""));
    g_assert_true(b.reason == row.value);
    g_assert_true(b.message.empty());
  }
  Bye from_only = parse_as<Bye>(bye(R"("from":"p2","reason":"closed")"));
  CHECK_STR(from_only.from, "p2");
  g_assert_true(from_only.to.empty());

  // to / from
  parse_fails(bye(R"("reason":"closed")"), ErrorCode::BadMessage, "bye");
  for (const char *id : {"\"\"", "\"a b\"", "\"a.b\"", "5", "null"})
    parse_fails(bye(std::string("\"to\":") + id + R"(,"reason":"closed")"), ErrorCode::BadMessage,
                "bye");
  // reason: required, one of the table's codes, exactly
  parse_fails(bye(R"("to":"p1")"), ErrorCode::BadMessage, "bye");
  parse_fails(bye(R"("to":"p1","message":"m")"), ErrorCode::BadMessage, "bye");
  for (const char *reason : {"\"bored\"", "\"Closed\"", "\"\"", "\"closed \"", "\"max_peers\"",
                             "\"ICE-FAILED\"", "5", "null", "true", "[\"closed\"]", "{}"})
    parse_fails(bye(std::string(R"("to":"p1","reason":)") + reason), ErrorCode::BadMessage, "bye");
  // message: optional text of at most kMaxByeMessage bytes, no control characters
  for (const char *v : {"5", "null", "[]", "{}", "\"a\\nb\"", "\"tab\\t\"", "\"\\u0001\"",
                        "\"del\\u007f\"", "\"nul\\u0000\""})
    parse_fails(bye(std::string(R"("to":"p1","reason":"closed","message":)") + v),
                ErrorCode::BadMessage, "bye");
  parse_fails(bye(R"("to":"p1","reason":"closed","message":")" +
                  std::string(kMaxByeMessage + 1, 'm') + "\""),
              ErrorCode::BadMessage, "bye");
  std::string wide; // two bytes a character: the limit is in bytes
  for (std::size_t i = 0; i < kMaxByeMessage / 2; i++)
    wide += "\xc3\xa9";
  CHECK_STR(parse_as<Bye>(bye(R"("to":"p1","reason":"closed","message":")" + wide + "\"")).message,
            wide);
  parse_fails(bye(R"("to":"p1","reason":"closed","message":")" + wide + "\xc3\xa9\""),
              ErrorCode::BadMessage, "bye");
}

void test_parse_prefer() {
  auto prefer = [](const std::string &fields) { return "{\"type\":\"prefer\"," + fields + "}"; };
  g_assert_true(parse_as<Prefer>(prefer(R"("to":"p1","layer":2)")) == make_prefer("p1", 2));
  g_assert_true(parse_as<Prefer>(prefer(R"("to":"p1","layer":0)")) == make_prefer("p1", 0));
  g_assert_true(parse_as<Prefer>(prefer(R"("to":"p1","maxHeight":180)")) ==
                make_prefer("p1", 180, true));
  Prefer got = parse_as<Prefer>(prefer(R"("from":"p2","layer":1)"));
  CHECK_STR(got.from, "p2");
  g_assert_cmpint(got.layer, ==, 1);
  g_assert_cmpint(got.max_height, ==, -1);
  // The limits themselves are taken.
  g_assert_cmpint(
      parse_as<Prefer>(prefer(R"("to":"p1","layer":)" + std::to_string(kMaxPreferLayer))).layer, ==,
      int(kMaxPreferLayer));
  g_assert_cmpint(
      parse_as<Prefer>(prefer(R"("to":"p1","maxHeight":)" + std::to_string(kMaxPreferHeight)))
          .max_height,
      ==, int(kMaxPreferHeight));
  round_trip(make_prefer("p1", 3));
  round_trip(make_prefer("p1", 1, true));
  CHECK_STR(serialize(make_prefer("p1", 2)), R"({"type":"prefer","to":"p1","layer":2})");
  CHECK_STR(serialize(make_prefer("p1", 360, true)),
            R"({"type":"prefer","to":"p1","maxHeight":360})");

  // to / from
  parse_fails(prefer(R"("layer":1)"), ErrorCode::BadMessage, "prefer");
  for (const char *id : {"\"\"", "\"a b\"", "5", "null"})
    parse_fails(prefer(std::string("\"to\":") + id + R"(,"layer":1)"), ErrorCode::BadMessage,
                "prefer");
  // exactly one of layer and maxHeight
  parse_fails(prefer(R"("to":"p1")"), ErrorCode::BadMessage, "prefer");
  parse_fails(prefer(R"("to":"p1","layer":1,"maxHeight":180)"), ErrorCode::BadMessage, "prefer");
  // integers in range, nothing else
  for (const char *v :
       {"-1", "16", "1.5", "\"1\"", "null", "true", "[1]", "{}", "1e3", "99999999999999999999"})
    parse_fails(prefer(std::string(R"("to":"p1","layer":)") + v), ErrorCode::BadMessage, "prefer");
  for (const char *v : {"0", "-180", "16385", "180.5", "\"180\"", "null", "false", "[]"})
    parse_fails(prefer(std::string(R"("to":"p1","maxHeight":)") + v), ErrorCode::BadMessage,
                "prefer");
}

void test_parse_error_messages() {
  auto err = [](const std::string &fields) { return "{\"type\":\"error\"," + fields + "}"; };
  Error e = parse_as<Error>(err(R"("code":"room-full","message":"full","ref":"join")"));
  g_assert_true(e == make_error(ErrorCode::RoomFull, "full", "join"));
  parse_fails(err(R"("code":"oops","message":"x")"), ErrorCode::BadMessage, "error");
  parse_fails(err(R"("code":"Room-Full","message":"x")"), ErrorCode::BadMessage, "error");
  parse_fails(err(R"("code":"","message":"x")"), ErrorCode::BadMessage, "error");
  parse_fails(err(R"("message":"x")"), ErrorCode::BadMessage, "error");
  parse_fails(err(R"("code":5,"message":"x")"), ErrorCode::BadMessage, "error");
  parse_fails(err(R"("code":"bad-json")"), ErrorCode::BadMessage, "error");
  parse_fails(err(R"("code":"bad-json","message":null)"), ErrorCode::BadMessage, "error");
  parse_fails(err(R"("code":"bad-json","message":"x","ref":1)"), ErrorCode::BadMessage, "error");
}

void test_parse_welcome() {
  const std::string head =
      R"({"type":"welcome","version":1,"id":"p1","room":"r1","kind":"live","role":"viewer")";
  auto welcome = [&](const std::string &rest) { return head + rest + "}"; };
  Welcome w = parse_as<Welcome>(
      welcome(R"(,"peers":[{"id":"p2","role":"host","name":"A"},{"id":"p3","role":"viewer"}])"));
  g_assert_cmpuint(w.peers.size(), ==, 2);
  g_assert_true(w.peers[0] == (PeerInfo{"p2", Role::Host, "A"}));
  g_assert_true(w.peers[1] == (PeerInfo{"p3", Role::Viewer, ""}));
  g_assert_cmpuint(w.ping_interval_s, ==, 0); // optional
  g_assert_cmpuint(w.max_message_size, ==, 0);

  // peers must be an array of peer objects
  parse_fails(welcome(""), ErrorCode::BadMessage, "welcome");
  for (const char *peers : {"{}", "null", "\"p2\"", "5", "{\"id\":\"p2\",\"role\":\"host\"}"})
    parse_fails(welcome(std::string(",\"peers\":") + peers), ErrorCode::BadMessage, "welcome");
  for (const char *entry :
       {"1", "null", "\"p2\"", "[]", R"({"role":"host"})", R"({"id":"p 2","role":"host"})",
        R"({"id":5,"role":"host"})", R"({"id":"p2"})", R"({"id":"p2","role":"king"})",
        R"({"id":"p2","role":"host","name":5})", R"({"id":"p2","role":"host","name":"a\nb"})"})
    parse_fails(welcome(std::string(R"(,"peers":[{"id":"p9","role":"viewer"},)") + entry + "]"),
                ErrorCode::BadMessage, "welcome");
  parse_fails(welcome(R"(,"peers":[{"id":"p2","role":"host","name":")" + k65 + "\"}]"),
              ErrorCode::BadMessage, "welcome");

  // the other fields
  const char *peers = R"("peers":[])";
  parse_fails(std::string(R"({"type":"welcome","room":"r1","kind":"live","role":"host",)") + peers +
                  "}",
              ErrorCode::BadMessage, "welcome");
  parse_fails(std::string(R"({"type":"welcome","id":"p1","kind":"live","role":"host",)") + peers +
                  "}",
              ErrorCode::BadMessage, "welcome");
  parse_fails(
      std::string(R"({"type":"welcome","id":"p1","room":"r1","kind":"party","role":"host",)") +
          peers + "}",
      ErrorCode::BadMessage, "welcome");
  parse_fails(std::string(R"({"type":"welcome","id":"p1","room":"r1","kind":"live",)") + peers +
                  "}",
              ErrorCode::BadMessage, "welcome");
  for (const char *extra :
       {R"("ping_interval":-1)", R"("ping_interval":86401)", R"("ping_interval":"10")",
        R"("max_message_size":-1)", R"("max_message_size":1.5)"})
    parse_fails(welcome(std::string(",") + extra + "," + peers), ErrorCode::BadMessage, "welcome");

  // ice_servers: optional; when there, an array of valid entries.
  Welcome with = parse_as<Welcome>(welcome(
      std::string(",") + peers +
      R"(,"ice_servers":[{"urls":["stun:192.0.2.1:3478"]},{"urls":["turn:192.0.2.1?transport=tcp"],"username":"1:p1","credential":"x"}])"));
  g_assert_cmpuint(with.ice_servers.size(), ==, 2);
  g_assert_true(with.ice_servers[0] == (IceServer{{"stun:192.0.2.1:3478"}, "", ""}));
  g_assert_true(with.ice_servers[1] == (IceServer{{"turn:192.0.2.1?transport=tcp"}, "1:p1", "x"}));
  g_assert_true(parse_as<Welcome>(welcome(std::string(",") + peers + R"(,"ice_servers":[])"))
                    .ice_servers.empty());
  std::string nine = R"(,"ice_servers":[)";
  for (int i = 0; i < 9; i++)
    nine += std::string(i ? "," : "") + R"({"urls":["stun:h"]})";
  std::string long_url = "stun:" + std::string(kMaxIceUrl, 'h');
  std::string long_user(kMaxIceCredential + 1, 'u');
  for (
      const std::string &bad : {
          std::string(R"(,"ice_servers":{})"),
          std::string(R"(,"ice_servers":"stun:h")"),
          std::string(R"(,"ice_servers":[5])"),
          std::string(R"(,"ice_servers":[{}])"),
          std::string(R"(,"ice_servers":[{"urls":"stun:h"}])"),
          std::string(R"(,"ice_servers":[{"urls":[]}])"),
          std::string(R"(,"ice_servers":[{"urls":[5]}])"),
          std::string(R"(,"ice_servers":[{"urls":["http://h"]}])"),
          std::string(R"(,"ice_servers":[{"urls":["stun://h:3478"]}])"),
          std::string(R"(,"ice_servers":[{"urls":["stun:h:0"]}])"),
          std::string(R"(,"ice_servers":[{"urls":["turn:h"]}])"),
          std::string(R"(,"ice_servers":[{"urls":["turn:h"],"username":"u"}])"),
          std::string(R"(,"ice_servers":[{"urls":["turn:h"],"username":"u","credential":5}])"),
          std::string(R"(,"ice_servers":[{"urls":["turn:h"],"username":"u
v","credential":"c"}])"),
          std::string(R"(,"ice_servers":[{"urls":["turn:h"],"username":")") + long_user +
              R"(","credential":"c"}])",
          std::string(
              R"(,"ice_servers":[{"urls":["turns:h?transport=udp"],"username":"u","credential":"c"}])"),
          std::string(R"(,"ice_servers":[{"urls":[")") + long_url + R"("]}])",
          std::string(
              R"(,"ice_servers":[{"urls":["stun:a","stun:b","stun:c","stun:d","stun:e","stun:f","stun:g","stun:h","stun:i"]}])"),
          nine + "]",
      })
    parse_fails(welcome(std::string(",") + peers + bad), ErrorCode::BadMessage, "welcome");
}

void test_parse_peer_notices() {
  PeerJoined pj = parse_as<PeerJoined>(
      R"({"type":"peer-joined","peer":{"id":"p2","role":"member","name":"B"}})");
  g_assert_true(pj.peer == (PeerInfo{"p2", Role::Member, "B"}));
  // A viewer that offers itself (join "offers"): said in its peer entry, only when true.
  PeerJoined player = parse_as<PeerJoined>(
      R"({"type":"peer-joined","peer":{"id":"p3","role":"viewer","name":"W","offers":true}})");
  g_assert_true(player.peer == (PeerInfo{"p3", Role::Viewer, "W", true}));
  CHECK_STR(
      serialize(player),
      R"({"type":"peer-joined","peer":{"id":"p3","role":"viewer","name":"W","offers":true}})");
  CHECK_STR(serialize(pj),
            R"({"type":"peer-joined","peer":{"id":"p2","role":"member","name":"B"}})");
  parse_fails(R"({"type":"peer-joined","peer":{"id":"p2","role":"viewer","offers":"yes"}})",
              ErrorCode::BadMessage, "peer-joined");
  parse_fails(R"({"type":"peer-joined"})", ErrorCode::BadMessage, "peer-joined");
  parse_fails(R"({"type":"peer-joined","peer":"p2"})", ErrorCode::BadMessage, "peer-joined");
  parse_fails(R"({"type":"peer-joined","peer":[{"id":"p2","role":"member"}]})",
              ErrorCode::BadMessage, "peer-joined");
  parse_fails(R"({"type":"peer-joined","peer":{"id":"","role":"member"}})", ErrorCode::BadMessage,
              "peer-joined");
  parse_fails(R"({"type":"peer-joined","peer":{"id":"p2","role":"boss"}})", ErrorCode::BadMessage,
              "peer-joined");

  CHECK_STR(parse_as<PeerLeft>(R"({"type":"peer-left","id":"p2"})").id, "p2");
  parse_fails(R"({"type":"peer-left"})", ErrorCode::BadMessage, "peer-left");
  parse_fails(R"({"type":"peer-left","id":"p 2"})", ErrorCode::BadMessage, "peer-left");
  parse_fails(R"({"type":"peer-left","id":2})", ErrorCode::BadMessage, "peer-left");
}

// Fields a message type does not define are ignored, whatever their type.
void test_parse_ignores_unknown_fields() {
  g_assert_true(parse_ok(R"({"type":"ping","extra":{"deep":[1,2,{"x":null}]},"n":1.5})") ==
                make_simple(Type::Ping));
  g_assert_true(parse_ok(R"({"x":1,"type":"pong","y":"z"})") == make_simple(Type::Pong));
  g_assert_true(parse_ok(R"({"type":"leave","room":"ignored","to":5})") ==
                make_simple(Type::Leave));
  g_assert_true(parse_as<Join>(
                    join_with(std::string(kJoinOk) + R"(,"ticket":"secret","sdp":7,"peers":{})")) ==
                make_join("r1", Role::Host));
  g_assert_true(
      parse_ok(
          R"({"type":"offer","to":"p1","sdp":"v=0","room":"x","candidate":5,"version":"nope"})") ==
      make_sdp(Type::Offer, "p1", "v=0"));
  g_assert_true(
      parse_as<Ice>(R"({"type":"ice","to":"p1","candidate":"c","sdpMLineIndex":0,"sdp":null})") ==
      make_ice("p1", 0, "c"));
  g_assert_true(
      parse_as<Error>(R"({"type":"error","code":"forbidden","message":"m","extra":[]})") ==
      make_error(ErrorCode::Forbidden, "m"));
  g_assert_true(
      parse_as<Bye>(R"({"type":"bye","to":"p1","reason":"closed","sdp":5,"code":"x","ref":[]})") ==
      make_bye("p1", EndReason::Closed));
  PeerLeft pl = parse_as<PeerLeft>(R"({"type":"peer-left","id":"p3","reason":"timeout"})");
  CHECK_STR(pl.id, "p3");
  // Including the fields that are only meaningful in other directions: a client-sent join's
  // "version" is read, but a welcome's is not.
  Welcome w = parse_as<Welcome>(
      R"({"type":"welcome","version":"x","id":"p1","room":"r","kind":"meeting","role":"member","peers":[]})");
  g_assert_true(w.kind == RoomKind::Meeting);
}

// json-glib cuts strings at U+0000, so a message holding one is refused rather than read short.
void test_parse_escaped_nul() {
  parse_fails(join_with(R"("version":1,"role":"host","room":"a\u0000b")"), ErrorCode::BadMessage,
              "join");
  parse_fails(R"({"type":"offer","to":"p1","sdp":"v=0\u0000junk"})", ErrorCode::BadMessage,
              "offer");
  parse_fails(R"({"type":"ping\u0000x"})", ErrorCode::BadMessage, "ping");
  parse_fails(R"({"type":"ping","ignored":"\u0000"})", ErrorCode::BadMessage, "ping");
  // An escaped backslash followed by the letters u0000 is just text.
  Offer m = parse_as<Offer>(R"({"type":"offer","to":"p1","sdp":"v=0 \\u0000 \\\\u0000"})");
  CHECK_STR(m.sdp, "v=0 \\u0000 \\\\u0000");
  // Other escapes of control characters are read, then refused where the field forbids them.
  CHECK_STR(parse_as<Offer>(R"({"type":"offer","to":"p1","sdp":"a\u0001b"})").sdp, "a\x01"
                                                                                   "b");
}

// json-glib decodes an unpaired surrogate escape followed by a character ("\ud800x") into bytes
// that are not UTF-8 (and drops the character); relayed, they would break the receiver's WebSocket
// (text frames must be UTF-8). Found by tests/fuzz/fuzz-protocol.cpp (a parsed message must
// serialise to UTF-8 and parse back equal; an error's text is UTF-8).
void test_parse_lone_surrogate() {
  parse_fails(R"({"type":"offer","to":"p1","sdp":"v=0 \ud800x"})", ErrorCode::BadMessage, "offer");
  parse_fails(R"({"type":"ice","to":"p1","candidate":"\udc00x","sdpMLineIndex":0})",
              ErrorCode::BadMessage, "ice");
  parse_fails(R"({"type":"error","code":"forbidden","message":"\ud83dx"})", ErrorCode::BadMessage,
              "error");
  parse_fails(
      R"({"type":"welcome","id":"p1","room":"\ud800x","kind":"live","role":"host","peers":[]})",
      ErrorCode::BadMessage, "welcome");
  parse_fails(R"({"type":"welcome","id":"p1","room":"r","kind":"live","role":"host","peers":[],)"
              R"("ice_servers":[{"urls":["stun:\ud800x"]}]})",
              ErrorCode::BadMessage, "welcome");
  // A pair is one character, and fine.
  CHECK_STR(parse_as<Offer>(R"({"type":"offer","to":"p1","sdp":"\ud83d\ude00"})").sdp,
            "\xf0\x9f\x98\x80");
  // Error texts stay UTF-8: json-glib's own (it quotes the input) and our clipped quotes.
  ParseError err;
  g_assert_false(parse(
      R"({"type":"error","code":"forbidden","message":"\u002f\ud83dturn:0"",ref":"offer"})", err));
  g_assert_true(g_utf8_validate(err.message.c_str(), -1, nullptr));
  g_assert_false(parse(R"({"type":")" + std::string(63, 'a') + "\u00e9\"}", err));
  g_assert_true(err.code == ErrorCode::UnknownType);
  g_assert_true(g_utf8_validate(err.message.c_str(), -1, nullptr));
  g_assert_false(parse(
      R"({"type":"error","code":")" + std::string(63, 'a') + "\u00e9\",\"message\":\"m\"}", err));
  g_assert_true(g_utf8_validate(err.message.c_str(), -1, nullptr));
}

// A ParseError left over from an earlier failure is reset by the next call.
void test_parse_resets_error() {
  ParseError err;
  g_assert_false(parse("{", err).has_value());
  g_assert_true(err.code == ErrorCode::BadJson);
  g_assert_false(parse(R"({"type":"offer","sdp":"v=0"})", err).has_value());
  g_assert_true(err.code == ErrorCode::BadMessage);
  CHECK_STR(err.ref, "offer");
  g_assert_false(parse(R"({"type":"nope"})", err).has_value());
  g_assert_true(err.code == ErrorCode::UnknownType);
  CHECK_STR(err.ref, "");
  g_assert_true(parse(R"({"type":"ping"})", err).has_value());
}

} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/protocol/enum-tables", test_enum_tables);
  g_test_add_func("/protocol/kind-for-role", test_kind_for_role);
  g_test_add_func("/protocol/validators", test_validators);
  g_test_add_func("/protocol/builders", test_builders);
  g_test_add_func("/protocol/round-trip/join-leave", test_round_trip_join_leave);
  g_test_add_func("/protocol/round-trip/relay", test_round_trip_relay);
  g_test_add_func("/protocol/round-trip/keepalive", test_round_trip_keepalive);
  g_test_add_func("/protocol/round-trip/server-messages", test_round_trip_server_messages);
  g_test_add_func("/protocol/serialize/fields", test_serialize_fields);
  g_test_add_func("/protocol/parse/not-utf8", test_parse_not_utf8);
  g_test_add_func("/protocol/parse/malformed-json", test_parse_malformed_json);
  g_test_add_func("/protocol/parse/not-an-object", test_parse_not_an_object);
  g_test_add_func("/protocol/parse/type-field", test_parse_type_field);
  g_test_add_func("/protocol/parse/join", test_parse_join);
  g_test_add_func("/protocol/parse/relay", test_parse_relay);
  g_test_add_func("/protocol/parse/bye", test_parse_bye);
  g_test_add_func("/protocol/parse/prefer", test_parse_prefer);
  g_test_add_func("/protocol/parse/error", test_parse_error_messages);
  g_test_add_func("/protocol/parse/welcome", test_parse_welcome);
  g_test_add_func("/protocol/parse/peer-notices", test_parse_peer_notices);
  g_test_add_func("/protocol/parse/unknown-fields", test_parse_ignores_unknown_fields);
  g_test_add_func("/protocol/parse/escaped-nul", test_parse_escaped_nul);
  g_test_add_func("/protocol/parse/lone-surrogate", test_parse_lone_surrogate);
  g_test_add_func("/protocol/parse/resets-error", test_parse_resets_error);
  return g_test_run();
}
