// The web client's protocol.js and the C++ protocol library come from one table
// (src/common/protocol-spec.json); this test checks that they agree. It runs node on the built
// protocol.js ($PROTOCOL_JS) and compares every constant, every table row and the verdicts of
// the JS name rules on sample strings with the C++ tables and validators. Without node
// ($NODE empty) it skips.
#include "check-str.h"
#include "protocol.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include <string>
#include <vector>

using namespace roomcast::proto;

namespace {

const char *kScript = R"JS(
const P = await import(process.env.PROTOCOL_JS_URL);
let text = '';
for await (const chunk of process.stdin) text += chunk;
const input = JSON.parse(text);
const out = {
  version: P.PROTOCOL_VERSION,
  limits: P.LIMITS,
  kinds: P.KINDS,
  roles: P.ROLES,
  types: P.TYPES,
  errors: P.ERRORS,
  reasons: P.END_REASONS,
  retry: P.RETRY,
  roomList: P.ROOM_LIST,
  iceSchemes: P.ICE_SCHEMES,
  roomRule: P.ROOM_RULE,
  peerIdRule: P.PEER_ID_RULE,
  rooms: input.strings.map((s) => P.ROOM_RE.test(s)),
  ids: input.strings.map((s) => P.PEER_ID_RE.test(s)),
  names: input.strings.map((s) => P.validPeerName(s)),
  byeTexts: input.strings.map((s) => P.validText(s, P.LIMITS.bye_message)),
  joinActions: Object.keys(P.ERRORS).map((c) => P.joinAction(c)),
  unknownJoinAction: P.joinAction('no-such-code'),
  delays: input.attempts.map((a) => P.retryDelayMs(a)),
  reasonTexts: Object.keys(P.END_REASONS).map((r) => P.endReasonText(r, 'The host', 'viewers')),
  cleaned: P.cleanText(' a\u0001b\u007f ' + '\u00e9'.repeat(40), P.LIMITS.peer_name),
};
process.stdout.write(JSON.stringify(out));
)JS";

// Sample strings for the name rules: valid and invalid rooms, ids, names and texts.
std::vector<std::string> samples() {
  std::vector<std::string> v = {
      "",
      "a",
      "demo",
      "Room-1_b.c",
      "a.b",
      "a b",
      "a/b",
      "a:b",
      "../x",
      "r%20",
      "p0123abcd",
      "A-z_9",
      "caf\xc3\xa9",
      "Zo\xc3\xab \xf0\x9f\x8e\xa5",
      "a\nb",
      "a\tb",
      "\x01",
      "a\x7f",
      "\x1f",
      " space ",
      "\xe2\x80\xa6",
      std::string(31, 'x'),
      std::string(32, 'x'),
      std::string(33, 'x'),
      std::string(63, 'r'),
      std::string(64, 'r'),
      std::string(65, 'r'),
      std::string(255, 'm'),
      std::string(256, 'm'),
      std::string(257, 'm'),
  };
  std::string wide32, wide33;
  for (int i = 0; i < 32; i++)
    wide32 += "\xc3\xa9"; // 64 bytes
  wide33 = wide32 + "\xc3\xa9";
  v.push_back(wide32);
  v.push_back(wide33);
  std::string emoji16; // 16 four-byte characters: 64 bytes
  for (int i = 0; i < 16; i++)
    emoji16 += "\xf0\x9f\x8e\xa5";
  v.push_back(emoji16);
  v.push_back(emoji16 + "x");
  return v;
}

const std::vector<unsigned> kAttempts = {0, 1, 2, 3, 4, 5, 10, 30};

JsonNode *member(JsonObject *o, const char *name) {
  JsonNode *n = json_object_get_member(o, name);
  if (!n) {
    g_autofree char *msg = g_strdup_printf("protocol.js gave no '%s'", name);
    g_assertion_message(nullptr, __FILE__, __LINE__, G_STRFUNC, msg);
  }
  return n;
}

JsonObject *object(JsonObject *o, const char *name) {
  JsonNode *n = member(o, name);
  g_assert_true(JSON_NODE_HOLDS_OBJECT(n));
  return json_node_get_object(n);
}

JsonArray *array(JsonObject *o, const char *name) {
  JsonNode *n = member(o, name);
  g_assert_true(JSON_NODE_HOLDS_ARRAY(n));
  return json_node_get_array(n);
}

// The member names of a JSON object, in order.
std::vector<std::string> keys(JsonObject *o) {
  std::vector<std::string> out;
  GList *names = json_object_get_members(o);
  for (GList *l = names; l; l = l->next)
    out.emplace_back(static_cast<const char *>(l->data));
  g_list_free(names);
  return out;
}

std::string str(JsonObject *o, const char *name) {
  return json_object_get_string_member(o, name);
}

// Runs the script; returns its output as a parsed object (owned by `parser`), or nullptr after
// marking the test skipped.
JsonObject *run_node(JsonParser *parser) {
  const char *node = g_getenv("NODE");
  const char *js = g_getenv("PROTOCOL_JS");
  if (!node || !*node) {
    g_test_skip("node is not installed");
    return nullptr;
  }
  g_assert_nonnull(js);
  g_autofree char *url = g_filename_to_uri(js, nullptr, nullptr);
  g_assert_nonnull(url);

  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "strings");
  json_builder_begin_array(b);
  for (const auto &s : samples())
    json_builder_add_string_value(b, s.c_str());
  json_builder_end_array(b);
  json_builder_set_member_name(b, "attempts");
  json_builder_begin_array(b);
  for (unsigned a : kAttempts)
    json_builder_add_int_value(b, a);
  json_builder_end_array(b);
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  g_autofree char *generated = json_generator_to_data(gen, nullptr);
  // (json-glib 1.6 writes U+001F raw; escape it as protocol.cpp does.)
  std::string input;
  for (const char *c = generated; *c; c++)
    input += *c == '\x1f' ? std::string("\\u001f") : std::string(1, *c);

  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
      GSubprocessFlags(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE));
  g_subprocess_launcher_setenv(launcher, "PROTOCOL_JS_URL", url, TRUE);
  g_autoptr(GError) err = nullptr;
  g_autoptr(GSubprocess) proc = g_subprocess_launcher_spawn(
      launcher, &err, node, "--input-type=module", "-e", kScript, nullptr);
  g_assert_no_error(err);
  g_autofree char *out = nullptr;
  g_subprocess_communicate_utf8(proc, input.c_str(), nullptr, &out, nullptr, &err);
  g_assert_no_error(err);
  g_assert_true(g_subprocess_get_if_exited(proc));
  g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 0);
  g_assert_true(json_parser_load_from_data(parser, out, -1, &err));
  g_assert_no_error(err);
  JsonNode *r = json_parser_get_root(parser);
  g_assert_true(JSON_NODE_HOLDS_OBJECT(r));
  return json_node_get_object(r);
}

void test_tables_agree() {
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonObject *o = run_node(parser);
  if (!o) return;

  g_assert_cmpint(json_object_get_int_member(o, "version"), ==, kVersion);
  JsonObject *limits = object(o, "limits");
  g_assert_cmpint(json_object_get_int_member(limits, "room_name"), ==, kMaxRoomName);
  g_assert_cmpint(json_object_get_int_member(limits, "peer_name"), ==, kMaxPeerName);
  g_assert_cmpint(json_object_get_int_member(limits, "peer_id"), ==, kMaxPeerId);
  g_assert_cmpint(json_object_get_int_member(limits, "bye_message"), ==, kMaxByeMessage);
  g_assert_cmpint(json_object_get_int_member(limits, "mline_index"), ==, kMaxMlineIndex);
  g_assert_cmpint(json_object_get_int_member(limits, "ice_servers"), ==, kMaxIceServers);
  g_assert_cmpint(json_object_get_int_member(limits, "ice_urls"), ==, kMaxIceUrls);
  g_assert_cmpint(json_object_get_int_member(limits, "ice_url"), ==, kMaxIceUrl);
  g_assert_cmpint(json_object_get_int_member(limits, "ice_credential"), ==, kMaxIceCredential);
  g_assert_cmpint(json_object_get_int_member(limits, "token"), ==, kMaxToken);
  g_assert_cmpint(json_object_get_int_member(limits, "prefer_layer"), ==, kMaxPreferLayer);
  g_assert_cmpint(json_object_get_int_member(limits, "prefer_height"), ==, kMaxPreferHeight);
  g_assert_cmpuint(json_object_get_size(limits), ==, 12);
  JsonObject *retry = object(o, "retry");
  g_assert_cmpint(json_object_get_int_member(retry, "firstMs"), ==, kRetryFirstMs);
  g_assert_cmpint(json_object_get_int_member(retry, "maxMs"), ==, kRetryMaxMs);
  JsonObject *room_list = object(o, "roomList");
  CHECK_STR(str(room_list, "path"), std::string(kRoomListPath));
  g_assert_cmpint(json_object_get_int_member(room_list, "max"), ==, kRoomListMax);
  g_assert_cmpint(json_object_get_int_member(room_list, "pollMs"), >, 0);
  CHECK_STR(str(o, "roomRule"), std::string(spec::kRoomNameRule));
  CHECK_STR(str(o, "peerIdRule"), std::string(spec::kPeerIdRule));

  // Kinds and roles, in table order.
  JsonArray *kinds = array(o, "kinds");
  g_assert_cmpuint(json_array_get_length(kinds), ==, spec::kKinds.size());
  for (const auto &row : spec::kKinds)
    CHECK_STR(json_array_get_string_element(kinds, static_cast<guint>(row.value)), row.name.data());
  JsonObject *roles = object(o, "roles");
  g_assert_cmpuint(keys(roles).size(), ==, spec::kRoles.size());
  for (const auto &row : spec::kRoles) {
    CHECK_STR(keys(roles)[static_cast<std::size_t>(row.value)], row.name.data());
    CHECK_STR(str(object(roles, row.name.data()), "kind"), to_string(row.kind));
  }

  // Message types: names, senders, relays.
  JsonObject *types = object(o, "types");
  g_assert_cmpuint(keys(types).size(), ==, spec::kTypes.size());
  for (const auto &row : spec::kTypes) {
    CHECK_STR(keys(types)[static_cast<std::size_t>(row.value)], row.name.data());
    JsonObject *t = object(types, row.name.data());
    const char *from = row.from == Sender::Client   ? "client"
                       : row.from == Sender::Server ? "server"
                                                    : "both";
    CHECK_STR(str(t, "from"), from);
    g_assert_true(json_object_get_boolean_member(t, "relay") == row.relay);
  }

  // Error codes: names, texts, join actions.
  JsonObject *errors = object(o, "errors");
  g_assert_cmpuint(keys(errors).size(), ==, spec::kErrors.size());
  JsonArray *actions = array(o, "joinActions");
  for (const auto &row : spec::kErrors) {
    const auto i = static_cast<std::size_t>(row.value);
    CHECK_STR(keys(errors)[i], row.name.data());
    JsonObject *e = object(errors, row.name.data());
    CHECK_STR(str(e, "text"), std::string(error_text(row.value)));
    const char *join = join_error_is_fatal(row.value) ? "fatal" : "retry";
    CHECK_STR(str(e, "join"), join);
    CHECK_STR(json_array_get_string_element(actions, static_cast<guint>(i)), join);
    g_assert_true(json_object_get_boolean_member(e, "detail") == row.detail);
  }
  CHECK_STR(str(o, "unknownJoinAction"), "fatal");

  // ICE server URL schemes: names, default ports, credentials, transports.
  JsonObject *schemes = object(o, "iceSchemes");
  g_assert_cmpuint(keys(schemes).size(), ==, spec::kIceSchemes.size());
  for (const auto &row : spec::kIceSchemes) {
    CHECK_STR(keys(schemes)[static_cast<std::size_t>(row.value)], row.name.data());
    JsonObject *sc = object(schemes, row.name.data());
    g_assert_cmpint(json_object_get_int_member(sc, "port"), ==, row.port);
    g_assert_true(json_object_get_boolean_member(sc, "credentials") == row.credentials);
    std::string joined;
    JsonArray *ts = array(sc, "transports");
    for (guint i = 0; i < json_array_get_length(ts); i++)
      joined += (i ? " " : "") + std::string(json_array_get_string_element(ts, i));
    CHECK_STR(joined, std::string(row.transports));
  }

  // End-peer reasons: names and the sentence with its blanks filled.
  JsonObject *reasons = object(o, "reasons");
  JsonArray *texts = array(o, "reasonTexts");
  g_assert_cmpuint(keys(reasons).size(), ==, spec::kReasons.size());
  for (const auto &row : spec::kReasons) {
    const auto i = static_cast<guint>(row.value);
    CHECK_STR(keys(reasons)[i], row.name.data());
    CHECK_STR(json_array_get_string_element(texts, i),
              end_reason_text(row.value, "The host", "viewers"));
  }

  // Backoff.
  JsonArray *delays = array(o, "delays");
  for (guint i = 0; i < kAttempts.size(); i++)
    g_assert_cmpint(json_array_get_int_element(delays, i), ==, retry_delay_ms(kAttempts[i]));

  // cleanText: forbidden characters out, trimmed, cut at a character to the byte limit.
  std::string cleaned = str(o, "cleaned");
  g_assert_true(valid_peer_name(cleaned));
  g_assert_true(g_str_has_prefix(cleaned.c_str(), "ab \xc3\xa9"));
  g_assert_cmpuint(cleaned.size(), ==, 3 + 30 * 2); // "ab " and 30 two-byte characters
}

void test_rules_agree() {
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonObject *o = run_node(parser);
  if (!o) return;
  const auto strings = samples();
  JsonArray *rooms = array(o, "rooms"), *ids = array(o, "ids"), *names = array(o, "names"),
            *bye = array(o, "byeTexts");
  g_assert_cmpuint(json_array_get_length(rooms), ==, strings.size());
  int valid_rooms = 0, valid_ids = 0, valid_names = 0;
  for (guint i = 0; i < strings.size(); i++) {
    const std::string &s = strings[i];
    g_autofree char *shown = g_strescape(s.c_str(), nullptr);
    g_test_message("\"%s\": room %d, id %d, name %d", shown, valid_room_name(s), valid_peer_id(s),
                   valid_peer_name(s));
    if (bool(json_array_get_boolean_element(rooms, i)) != valid_room_name(s))
      g_error("room rule differs for \"%s\"", shown);
    if (bool(json_array_get_boolean_element(ids, i)) != valid_peer_id(s))
      g_error("peer id rule differs for \"%s\"", shown);
    if (bool(json_array_get_boolean_element(names, i)) != valid_peer_name(s))
      g_error("peer name rule differs for \"%s\"", shown);
    if (bool(json_array_get_boolean_element(bye, i)) != valid_text(s, kMaxByeMessage))
      g_error("bye message rule differs for \"%s\"", shown);
    valid_rooms += valid_room_name(s);
    valid_ids += valid_peer_id(s);
    valid_names += valid_peer_name(s);
  }
  // The samples cover both verdicts of every rule.
  g_assert_cmpint(valid_rooms, >, 3);
  g_assert_cmpint(valid_rooms, <, int(strings.size()) - 3);
  g_assert_cmpint(valid_ids, >, 3);
  g_assert_cmpint(valid_ids, <, int(strings.size()) - 3);
  g_assert_cmpint(valid_names, >, 3);
  g_assert_cmpint(valid_names, <, int(strings.size()) - 3);
}

} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/protocol-js/tables", test_tables_agree);
  g_test_add_func("/protocol-js/rules", test_rules_agree);
  return g_test_run();
}
