// GET /rooms against the real `roomcast serve` (docs/protocol.md#room-list): live rooms with a
// host and their viewer counts, meetings with their member counts, never a room a host or member
// marked private (not even after it left), nothing under --require-token all or --no-room-list,
// the usual security headers, no caching. Every test starts its own server.
#include "token.h"
#include "ws-client.h"

#include <json-glib/json-glib.h>

#include <map>
#include <string>

using namespace roomcast::test;
using roomcast::proto::Role;
namespace proto = roomcast::proto;

namespace {

struct Listed {
  std::string kind;
  gint64 count = -1; // viewers (live) or members (meeting)
  std::string host;
};

struct RoomList {
  bool listed = false;
  gint64 more = -1;
  std::map<std::string, Listed> rooms;
  HttpReply reply;
};

RoomList room_list(const ServerProcess &srv) {
  RoomList out;
  out.reply =
      raw_http(srv.port(),
               "GET /rooms HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) + "\r\n\r\n");
  const HttpReply &r = out.reply;
  TEST_CHECK(r.status == 200, "/rooms: %u %s", r.status, r.error.c_str());
  TEST_CHECK(r.header("Content-Type").rfind("application/json", 0) == 0, "%s",
             r.header("Content-Type").c_str());
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) err = nullptr;
  if (!json_parser_load_from_data(parser, r.body.c_str(), gssize(r.body.size()), &err))
    TEST_FAIL("/rooms is not JSON: %s (%s)", r.body.c_str(), err->message);
  JsonNode *root = json_parser_get_root(parser);
  TEST_CHECK(root && JSON_NODE_HOLDS_OBJECT(root), "%s", r.body.c_str());
  JsonObject *o = json_node_get_object(root);
  TEST_CHECK(json_object_has_member(o, "listed") && json_object_has_member(o, "rooms"), "%s",
             r.body.c_str());
  out.listed = json_object_get_boolean_member(o, "listed");
  out.more = json_object_get_int_member_with_default(o, "more", -1);
  JsonArray *a = json_object_get_array_member(o, "rooms");
  TEST_CHECK(a != nullptr, "%s", r.body.c_str());
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *e = json_array_get_object_element(a, i);
    Listed l;
    l.kind = json_object_get_string_member_with_default(e, "kind", "");
    const char *count = l.kind == "live" ? "viewers" : "members";
    l.count = json_object_get_int_member_with_default(e, count, -1);
    l.host = json_object_get_string_member_with_default(e, "host", "");
    const std::string name = json_object_get_string_member_with_default(e, "name", "");
    TEST_CHECK(!out.rooms.contains(name), "%s listed twice: %s", name.c_str(), r.body.c_str());
    out.rooms[name] = l;
  }
  g_test_message("/rooms: %s", r.body.c_str());
  return out;
}

proto::Welcome join_private(WsClient &c, const std::string &room, const char *role) {
  c.send_text(std::string("{\"type\":\"join\",\"version\":") + std::to_string(proto::kVersion) +
              ",\"room\":\"" + room + "\",\"role\":\"" + role + "\",\"private\":true}");
  proto::Welcome w = c.expect_type<proto::Welcome>();
  return w;
}

void test_listing() {
  ServerProcess srv;
  RoomList l = room_list(srv);
  TEST_CHECK(l.listed && l.rooms.empty() && l.more == 0, "%s", l.reply.body.c_str());
  // The page's own policy and no caching.
  TEST_CHECK(l.reply.header("Content-Security-Policy").find("default-src 'none'") !=
                 std::string::npos,
             "%s", l.reply.head.c_str());
  TEST_CHECK(l.reply.header("X-Content-Type-Options") == "nosniff");
  TEST_CHECK(l.reply.header("Cache-Control") == "no-store", "%s", l.reply.head.c_str());

  WsClient h("host"), v1("v1"), v2("v2"), m1("m1"), m2("m2"), w("waiting viewer");
  for (WsClient *c : {&h, &v1, &v2, &m1, &m2, &w})
    c->connect(srv.ws_url());
  h.join("show", Role::Host, "Ana");
  v1.join("show", Role::Viewer);
  v2.join("show", Role::Viewer);
  m1.join("talk", Role::Member, "Bo");
  m2.join("talk", Role::Member);
  w.join("early", Role::Viewer); // a live room without a host has nothing to watch yet
  l = room_list(srv);
  TEST_CHECK(l.listed && l.rooms.size() == 2, "%s", l.reply.body.c_str());
  TEST_CHECK(l.rooms["show"].kind == "live" && l.rooms["show"].count == 2 &&
                 l.rooms["show"].host == "Ana",
             "%s", l.reply.body.c_str());
  TEST_CHECK(l.rooms["talk"].kind == "meeting" && l.rooms["talk"].count == 2, "%s",
             l.reply.body.c_str());
  TEST_CHECK(!l.rooms.contains("early"), "%s", l.reply.body.c_str());

  // Counts follow leaves; a room whose host left is off the list, and back with a host.
  v2.send(proto::make_simple(proto::Type::Leave));
  v2.sync();
  l = room_list(srv);
  TEST_CHECK(l.rooms["show"].count == 1, "%s", l.reply.body.c_str());
  h.send(proto::make_simple(proto::Type::Leave));
  h.sync();
  l = room_list(srv);
  TEST_CHECK(!l.rooms.contains("show") && l.rooms.contains("talk"), "%s", l.reply.body.c_str());
  h.join("show", Role::Host);
  l = room_list(srv);
  TEST_CHECK(l.rooms.contains("show") && l.rooms["show"].count == 1 && l.rooms["show"].host.empty(),
             "%s", l.reply.body.c_str());

  // Only GET and HEAD.
  HttpReply post =
      raw_http(srv.port(), "POST /rooms HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) +
                               "\r\nContent-Length: 0\r\n\r\n");
  TEST_CHECK(post.status == 405, "%u", post.status);
}

void test_private() {
  ServerProcess srv;
  WsClient h("private host"), v("viewer"), m("private member"), m2("member"), pub("public host");
  for (WsClient *c : {&h, &v, &m, &m2, &pub})
    c->connect(srv.ws_url());
  // A viewer may come first; the host's private join hides the room.
  v.join("secret", Role::Viewer);
  join_private(h, "secret", "host");
  join_private(m, "hidden-talk", "member");
  m2.join("hidden-talk", Role::Member);
  pub.join("open", Role::Host);
  RoomList l = room_list(srv);
  TEST_CHECK(l.rooms.size() == 1 && l.rooms.contains("open"), "%s", l.reply.body.c_str());
  // It stays hidden when its host leaves and another (not private) comes: the room was marked.
  h.send(proto::make_simple(proto::Type::Leave));
  h.sync();
  WsClient h2("second host");
  h2.connect(srv.ws_url());
  h2.join("secret", Role::Host);
  l = room_list(srv);
  TEST_CHECK(!l.rooms.contains("secret") && !l.rooms.contains("hidden-talk"), "%s",
             l.reply.body.c_str());
  // A viewer's "private" does not hide a room.
  WsClient v2("private viewer");
  v2.connect(srv.ws_url());
  join_private(v2, "open", "viewer");
  l = room_list(srv);
  TEST_CHECK(l.rooms.contains("open") && l.rooms["open"].count == 1, "%s", l.reply.body.c_str());
  // "private" must be a boolean.
  WsClient bad("bad");
  bad.connect(srv.ws_url());
  bad.send_text(std::string("{\"type\":\"join\",\"version\":") + std::to_string(proto::kVersion) +
                ",\"room\":\"x\",\"role\":\"host\",\"private\":\"yes\"}");
  bad.expect_error(proto::ErrorCode::BadMessage);
}

// Where nobody without a token could join, nothing is listed; --no-room-list lists nothing.
void test_not_listed() {
  const std::string secret = "test-secret-0123456789abcdef";
  {
    ServerProcess srv({"--require-token", "all"}, {"ROOMCAST_TOKEN_SECRET=" + secret});
    WsClient h("host");
    h.connect(srv.ws_url());
    const gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    h.send(proto::make_join("show", Role::Host, "",
                            roomcast::token::sign({"show", Role::Host, now, now + 600}, secret)));
    h.expect_type<proto::Welcome>();
    RoomList l = room_list(srv);
    TEST_CHECK(!l.listed && l.rooms.empty(), "%s", l.reply.body.c_str());
  }
  {
    // Hosts need a token, viewers do not: the list is there.
    ServerProcess srv({"--require-token", "host"}, {"ROOMCAST_TOKEN_SECRET=" + secret});
    WsClient h("host");
    h.connect(srv.ws_url());
    const gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    h.send(proto::make_join("show", Role::Host, "",
                            roomcast::token::sign({"show", Role::Host, now, now + 600}, secret)));
    h.expect_type<proto::Welcome>();
    RoomList l = room_list(srv);
    TEST_CHECK(l.listed && l.rooms.contains("show"), "%s", l.reply.body.c_str());
  }
  {
    ServerProcess srv({"--no-room-list"});
    WsClient h("host");
    h.connect(srv.ws_url());
    h.join("show", Role::Host);
    RoomList l = room_list(srv);
    TEST_CHECK(!l.listed && l.rooms.empty(), "%s", l.reply.body.c_str());
  }
}

// At most kRoomListMax entries; "more" counts the rest.
void test_cap() {
  ServerProcess srv;
  const std::size_t n = proto::kRoomListMax + 3;
  std::vector<std::unique_ptr<WsClient>> hosts;
  for (std::size_t i = 0; i < n; i++) {
    hosts.push_back(std::make_unique<WsClient>("host" + std::to_string(i)));
    hosts.back()->connect(srv.ws_url());
    hosts.back()->join("r" + std::to_string(i), Role::Host);
  }
  RoomList l = room_list(srv);
  TEST_CHECK(l.rooms.size() == proto::kRoomListMax && l.more == 3,
             "%zu rooms, more %" G_GINT64_FORMAT, l.rooms.size(), l.more);
}

} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  if (!g_getenv("ROOMCAST_TEST_VERBOSE")) {
    static GLogFunc previous = nullptr;
    previous = g_log_set_default_handler(
        [](const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data) {
          if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) return;
          previous(domain, level, message, data);
        },
        nullptr);
  }
  g_test_add_func("/rooms/listing", test_listing);
  g_test_add_func("/rooms/private", test_private);
  g_test_add_func("/rooms/not-listed", test_not_listed);
  g_test_add_func("/rooms/cap", test_cap);
  return g_test_run();
}
