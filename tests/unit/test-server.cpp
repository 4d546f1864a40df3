// Server tests against the real `roomcast serve` process: every test starts its own server
// (with the limits it needs) on a free loopback port and talks to it with libsoup WebSocket
// clients, exactly as a browser or `roomcast live` would.
#include "ws-client.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace roomcast::test;
using roomcast::proto::EndReason;
using roomcast::proto::ErrorCode;
using roomcast::proto::Message;
using roomcast::proto::PeerInfo;
using roomcast::proto::Role;
using roomcast::proto::RoomKind;
using roomcast::proto::Type;
namespace proto = roomcast::proto;

namespace {

gint64 now_ms() {
  return g_get_monotonic_time() / 1000;
}

std::string peers_text(const std::vector<PeerInfo> &peers) {
  std::string out = "[";
  for (const auto &p : peers)
    out += (out.size() > 1 ? ", " : "") + p.id + "/" + proto::to_string(p.role) + "/" + p.name;
  return out + "]";
}

// The welcome's peer list must be exactly `want`, in this order.
void check_peers(const proto::Welcome &welcome, const std::vector<PeerInfo> &want,
                 const char *who) {
  if (welcome.peers != want)
    TEST_FAIL("%s: welcome lists %s, wanted %s", who, peers_text(welcome.peers).c_str(),
              peers_text(want).c_str());
}

void check_welcome(const proto::Welcome &w, const WsClient &c, const char *room, RoomKind kind,
                   Role role) {
  TEST_CHECK(w.id == c.id(), "%s", c.label().c_str());
  TEST_CHECK(w.room == room, "%s: room %s", c.label().c_str(), w.room.c_str());
  TEST_CHECK(w.kind == kind, "%s: kind %s", c.label().c_str(), proto::to_string(w.kind));
  TEST_CHECK(w.role == role, "%s: role %s", c.label().c_str(), proto::to_string(w.role));
}

proto::Offer offer(const std::string &to, const std::string &sdp,
                   const std::string &forged_from = {}) {
  proto::Offer m;
  m.to = to;
  m.from = forged_from;
  m.sdp = sdp;
  return m;
}

// Waits for a relayed message of type T from `from` and checks the server's rewrite of it.
template <typename T> T expect_relay(WsClient &c, const std::string &from) {
  T m = c.expect<T>([&](const T &m) { return m.from == from; },
                    std::string(proto::to_string(T::kType)) + " from " + from);
  TEST_CHECK(m.to.empty(), "%s: the server must strip 'to' (got %s)", c.label().c_str(),
             m.to.c_str());
  return m;
}

// `from` sends an offer to `to`, which must arrive intact and attributed to `from`.
void check_relay(WsClient &from, WsClient &to, const char *tag) {
  std::string sdp = std::string("v=0\r\ns=") + tag + "\r\n";
  from.send(offer(to.id(), sdp));
  auto m = expect_relay<proto::Offer>(to, from.id());
  TEST_CHECK(m.sdp == sdp, "%s", tag);
}

// Parses a JSON object; fails the test if it is not one.
JsonObject *parse_object(JsonParser *parser, const std::string &text) {
  g_autoptr(GError) err = nullptr;
  if (!json_parser_load_from_data(parser, text.c_str(), static_cast<gssize>(text.size()), &err))
    TEST_FAIL("not JSON: %s (%s)", text.c_str(), err->message);
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) TEST_FAIL("not a JSON object: %s", text.c_str());
  return json_node_get_object(root);
}

struct Health {
  gint64 connections = -1, rooms = -1;
};

Health healthz(const ServerProcess &srv) {
  HttpReply r = http_get(srv.http_url("/healthz"));
  TEST_CHECK(r.status == 200, "status %u %s", r.status, r.error.c_str());
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonObject *o = parse_object(parser, r.body);
  TEST_CHECK(json_object_get_boolean_member_with_default(o, "ok", FALSE), "%s", r.body.c_str());
  return {json_object_get_int_member_with_default(o, "connections", -1),
          json_object_get_int_member_with_default(o, "rooms", -1)};
}

std::string join_text(const std::string &fields) {
  return "{\"type\":\"join\"," + fields + "}";
}

// ---- joining ----------------------------------------------------------------------------------

void test_join_live() {
  ServerProcess srv;
  WsClient h("host"), v1("viewer1"), v2("viewer2");
  h.connect(srv.ws_url());
  v1.connect(srv.ws_url());
  v2.connect(srv.ws_url());

  proto::Welcome wh = h.join("live1", Role::Host, "Hosty");
  check_welcome(wh, h, "live1", RoomKind::Live, Role::Host);
  check_peers(wh, {}, "host");
  TEST_CHECK(wh.ping_interval_s == 10, "%u", wh.ping_interval_s);
  TEST_CHECK(wh.max_message_size == 65536, "%" G_GUINT64_FORMAT, wh.max_message_size);
  const PeerInfo host_info{h.id(), Role::Host, "Hosty"};

  // A viewer's welcome lists the host only; the host hears about the viewer.
  proto::Welcome w1 = v1.join("live1", Role::Viewer, "Viewer \xc3\xa9ins");
  check_welcome(w1, v1, "live1", RoomKind::Live, Role::Viewer);
  check_peers(w1, {host_info}, "viewer1");
  TEST_CHECK(v1.id() != h.id());
  proto::PeerJoined pj = h.expect_peer_joined(v1.id());
  TEST_CHECK(pj.peer == (PeerInfo{v1.id(), Role::Viewer, "Viewer \xc3\xa9ins"}), "%s",
             proto::serialize(pj).c_str());

  // The second viewer does not see the first, and the first is not told about the second.
  proto::Welcome w2 = v2.join("live1", Role::Viewer);
  check_peers(w2, {host_info}, "viewer2");
  TEST_CHECK(v2.id() != v1.id() && v2.id() != h.id());
  pj = h.expect_peer_joined(v2.id());
  TEST_CHECK(pj.peer == (PeerInfo{v2.id(), Role::Viewer, ""}));
  v1.expect_nothing("(viewers are not told about other viewers)");
  h.expect_nothing();

  // leave: only the host hears about a viewer leaving.
  const std::string v1_old = v1.id();
  v1.send(proto::make_simple(Type::Leave));
  h.expect_peer_left(v1_old);
  v2.expect_nothing("(viewers are not told about other viewers leaving)");
  v1.expect_nothing("(no reply to leave)");

  // The same socket may join again after leaving.
  w1 = v1.join("live1", Role::Viewer);
  check_peers(w1, {host_info}, "viewer1 again");
  h.expect_peer_joined(v1.id());

  // The host leaving is news to every viewer.
  h.send(proto::make_simple(Type::Leave));
  v1.expect_peer_left(host_info.id);
  v2.expect_peer_left(host_info.id);
  h.expect_nothing();
  v1.expect_nothing();
  v2.expect_nothing();

  // A host may come back (the room is still live: viewers are in it).
  proto::Welcome wh2 = h.join("live1", Role::Host, "Hosty");
  check_peers(wh2, {{v2.id(), Role::Viewer, ""}, {v1.id(), Role::Viewer, ""}}, "host again");
  v1.expect_peer_joined(h.id());
  v2.expect_peer_joined(h.id());

  // Everyone leaves: the room goes away, and the name can become a meeting.
  for (WsClient *c : {&h, &v1, &v2})
    c->send(proto::make_simple(Type::Leave));
  for (WsClient *c : {&h, &v1, &v2})
    c->sync();
  // (they may have heard each other leave)
  for (WsClient *c : {&h, &v1, &v2})
    for (const Message &m : c->take_all())
      TEST_CHECK(proto::type_of(m) == Type::PeerLeft, "%s", proto::serialize(m).c_str());
  TEST_CHECK(healthz(srv).rooms == 0);
  WsClient m("member");
  m.connect(srv.ws_url());
  proto::Welcome wm = m.join("live1", Role::Member, "M");
  check_welcome(wm, m, "live1", RoomKind::Meeting, Role::Member);
  check_peers(wm, {}, "member");
  for (WsClient *c : {&h, &v1, &v2})
    c->expect_nothing("(nobody is left in the old room)");
}

void test_join_viewer_before_host() {
  ServerProcess srv;
  WsClient v1("viewer1"), v2("viewer2"), h("host"), v3("viewer3");
  for (WsClient *c : {&v1, &v2, &h, &v3})
    c->connect(srv.ws_url());

  // The first viewer makes the room (live); nobody is there yet.
  proto::Welcome w1 = v1.join("early", Role::Viewer, "one");
  check_welcome(w1, v1, "early", RoomKind::Live, Role::Viewer);
  check_peers(w1, {}, "viewer1");
  proto::Welcome w2 = v2.join("early", Role::Viewer, "two");
  check_peers(w2, {}, "viewer2 (viewers do not see viewers)");
  v1.expect_nothing();

  // The host's welcome lists both viewers, in join order; each viewer hears about the host.
  proto::Welcome wh = h.join("early", Role::Host, "H");
  check_welcome(wh, h, "early", RoomKind::Live, Role::Host);
  check_peers(wh, {{v1.id(), Role::Viewer, "one"}, {v2.id(), Role::Viewer, "two"}}, "host");
  for (WsClient *v : {&v1, &v2}) {
    proto::PeerJoined pj = v->expect_peer_joined(h.id());
    TEST_CHECK(pj.peer == (PeerInfo{h.id(), Role::Host, "H"}));
  }

  // A later viewer sees only the host.
  proto::Welcome w3 = v3.join("early", Role::Viewer);
  check_peers(w3, {{h.id(), Role::Host, "H"}}, "viewer3");
  h.expect_peer_joined(v3.id());

  // And the viewers that were first can now signal with the host.
  check_relay(v1, h, "v1-to-host");
  check_relay(h, v2, "host-to-v2");
  for (WsClient *c : {&v1, &v2, &h, &v3})
    c->expect_nothing();
}

void test_join_meeting() {
  ServerProcess srv;
  WsClient a("a"), b("b"), c("c"), d("d");
  for (WsClient *x : {&a, &b, &c, &d})
    x->connect(srv.ws_url());

  proto::Welcome wa = a.join("meet", Role::Member, "A");
  check_welcome(wa, a, "meet", RoomKind::Meeting, Role::Member);
  check_peers(wa, {}, "a");
  proto::Welcome wb = b.join("meet", Role::Member, "B");
  check_peers(wb, {{a.id(), Role::Member, "A"}}, "b");
  a.expect_peer_joined(b.id());
  proto::Welcome wc = c.join("meet", Role::Member, "C");
  check_peers(wc, {{a.id(), Role::Member, "A"}, {b.id(), Role::Member, "B"}}, "c");
  proto::PeerJoined pj = a.expect_peer_joined(c.id());
  TEST_CHECK(pj.peer == (PeerInfo{c.id(), Role::Member, "C"}));
  b.expect_peer_joined(c.id());
  for (WsClient *x : {&a, &b, &c})
    x->expect_nothing();

  // Everyone hears about everyone leaving.
  b.send(proto::make_simple(Type::Leave));
  a.expect_peer_left(b.id());
  c.expect_peer_left(b.id());
  proto::Welcome wd = d.join("meet", Role::Member);
  check_peers(wd, {{a.id(), Role::Member, "A"}, {c.id(), Role::Member, "C"}}, "d");
  a.expect_peer_joined(d.id());
  c.expect_peer_joined(d.id());
  for (WsClient *x : {&a, &b, &c, &d})
    x->expect_nothing();
}

void test_join_wrong_kind() {
  ServerProcess srv;
  WsClient h("host"), m("member"), a("member-a"), v("viewer"), x("host-x");
  for (WsClient *c : {&h, &m, &a, &v, &x})
    c->connect(srv.ws_url());
  h.join("stage", Role::Host);
  a.join("table", Role::Member);

  // The first joiner fixed each room's kind.
  m.send(proto::make_join("stage", Role::Member));
  proto::Error e = m.expect_error(ErrorCode::WrongKind);
  TEST_CHECK(e.ref == "join", "%s", e.ref.c_str());
  v.send(proto::make_join("table", Role::Viewer));
  v.expect_error(ErrorCode::WrongKind);
  x.send(proto::make_join("table", Role::Host));
  x.expect_error(ErrorCode::WrongKind);
  h.expect_nothing("(a refused join is not announced)");
  a.expect_nothing("(a refused join is not announced)");

  // A refused join leaves the socket free to join elsewhere.
  check_peers(m.join("table", Role::Member), {{a.id(), Role::Member, ""}}, "member");
  a.expect_peer_joined(m.id());
  check_peers(v.join("stage", Role::Viewer), {{h.id(), Role::Host, ""}}, "viewer");
  h.expect_peer_joined(v.id());
  for (WsClient *c : {&h, &m, &a, &v, &x})
    c->expect_nothing();
}

// ---- relaying ---------------------------------------------------------------------------------

void test_relay_live() {
  ServerProcess srv;
  WsClient h("host"), v1("viewer1"), v2("viewer2"), o("other-host"), ov("other-viewer"),
      n("not-joined");
  for (WsClient *c : {&h, &v1, &v2, &o, &ov, &n})
    c->connect(srv.ws_url());
  h.join("roomA", Role::Host);
  v1.join("roomA", Role::Viewer);
  v2.join("roomA", Role::Viewer);
  o.join("roomB", Role::Host);
  ov.join("roomB", Role::Viewer);
  h.expect_peer_joined(v1.id());
  h.expect_peer_joined(v2.id());
  o.expect_peer_joined(ov.id());

  // offer with a forged `from`: the server puts the real sender there and strips `to`.
  const std::string sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=\"x\" \xc3\xa9\r\nt=0 0\r\n";
  v1.send(offer(h.id(), sdp, "pforged1"));
  auto got = expect_relay<proto::Offer>(h, v1.id());
  TEST_CHECK(got.sdp == sdp);

  proto::Answer answer;
  answer.to = v1.id();
  answer.sdp = "v=0\r\ns=answer\r\n";
  answer.from = v2.id(); // impersonating another peer does not work either
  h.send(answer);
  TEST_CHECK(expect_relay<proto::Answer>(v1, h.id()).sdp == "v=0\r\ns=answer\r\n");

  // ice both ways, including the end-of-candidates marker.
  v1.send(
      proto::make_ice(h.id(), 1, "candidate:1 1 UDP 2122252543 127.0.0.1 40000 typ host", "video"));
  auto ice = expect_relay<proto::Ice>(h, v1.id());
  TEST_CHECK(ice.candidate == "candidate:1 1 UDP 2122252543 127.0.0.1 40000 typ host");
  TEST_CHECK(ice.mline_index == 1);
  TEST_CHECK(ice.mid == "video");
  v1.send(proto::make_ice(h.id(), 0, ""));
  ice = expect_relay<proto::Ice>(h, v1.id());
  TEST_CHECK(ice.candidate.empty() && ice.mid.empty() && ice.mline_index == 0);
  h.send(proto::make_ice(v1.id(), 0, "candidate:2 1 TCP 1 127.0.0.1 9 typ host", "0"));
  ice = expect_relay<proto::Ice>(v1, h.id());
  TEST_CHECK(ice.mid == "0");
  check_relay(h, v2, "host-to-v2");

  // viewer -> viewer is forbidden, and the target hears nothing.
  v1.send(offer(v2.id(), "v=0"));
  proto::Error e = v1.expect_error(ErrorCode::Forbidden);
  TEST_CHECK(e.ref == "offer", "%s", e.ref.c_str());
  v1.send(proto::make_ice(v2.id(), 0, "candidate:x"));
  TEST_CHECK(v1.expect_error(ErrorCode::Forbidden).ref == "ice");
  v2.expect_nothing("(forbidden relay must not arrive)");

  // Unknown ids, peers of other rooms and yourself are all unknown-peer.
  v1.send(offer("pdeadbeef", "v=0"));
  TEST_CHECK(v1.expect_error(ErrorCode::UnknownPeer).ref == "offer");
  h.send(offer(o.id(), "v=0"));
  h.expect_error(ErrorCode::UnknownPeer);
  h.send(proto::make_sdp(Type::Answer, ov.id(), "v=0"));
  TEST_CHECK(h.expect_error(ErrorCode::UnknownPeer).ref == "answer");
  h.send(offer(h.id(), "v=0"));
  h.expect_error(ErrorCode::UnknownPeer);
  o.expect_nothing("(relay across rooms must not arrive)");
  ov.expect_nothing("(relay across rooms must not arrive)");
  h.expect_nothing();

  // Relay before join.
  n.send(offer(h.id(), "v=0"));
  TEST_CHECK(n.expect_error(ErrorCode::NotJoined).ref == "offer");
  n.send(proto::make_ice(h.id(), 0, "c"));
  TEST_CHECK(n.expect_error(ErrorCode::NotJoined).ref == "ice");
  h.expect_nothing("(relay from a socket that never joined)");

  // Room B works on its own and room A never sees its traffic.
  check_relay(ov, o, "B-viewer-to-host");
  check_relay(o, ov, "B-host-to-viewer");
  for (WsClient *c : {&h, &v1, &v2, &o, &ov, &n})
    c->expect_nothing("(isolation)");
}

void test_relay_meeting() {
  ServerProcess srv;
  WsClient a("a"), b("b"), c("c"), x("x");
  for (WsClient *m : {&a, &b, &c, &x})
    m->connect(srv.ws_url());
  a.join("mesh", Role::Member);
  b.join("mesh", Role::Member);
  a.expect_peer_joined(b.id());
  x.join("mesh2", Role::Member);
  // The newcomer offers to every member its welcome listed; each answers.
  proto::Welcome wc = c.join("mesh", Role::Member);
  a.expect_peer_joined(c.id());
  b.expect_peer_joined(c.id());
  TEST_CHECK(wc.peers.size() == 2);
  for (const PeerInfo &p : wc.peers)
    c.send(offer(p.id, "v=0\r\ns=from-c-to-" + p.id + "\r\n", "p00000000"));
  for (WsClient *m : {&a, &b}) {
    auto o = expect_relay<proto::Offer>(*m, c.id());
    TEST_CHECK(o.sdp == "v=0\r\ns=from-c-to-" + m->id() + "\r\n", "%s", o.sdp.c_str());
    m->send(proto::make_sdp(Type::Answer, c.id(), "v=0\r\ns=answer-from-" + m->id() + "\r\n"));
    m->send(proto::make_ice(c.id(), 0, "candidate:" + m->id()));
  }
  for (WsClient *m : {&a, &b}) {
    TEST_CHECK(expect_relay<proto::Answer>(c, m->id()).sdp ==
               "v=0\r\ns=answer-from-" + m->id() + "\r\n");
    TEST_CHECK(expect_relay<proto::Ice>(c, m->id()).candidate == "candidate:" + m->id());
  }
  // Members may signal with any member, not only the newest.
  check_relay(a, b, "a-to-b");
  // Other meetings are other rooms.
  a.send(offer(x.id(), "v=0"));
  a.expect_error(ErrorCode::UnknownPeer);
  for (WsClient *m : {&a, &b, &c, &x})
    m->expect_nothing();
}

// bye is relayed like offer, answer and ice: to the peer named in `to`, from the real sender, by
// the same room rules; a reason outside the protocol's table is bad-message.
void test_relay_bye() {
  ServerProcess srv;
  WsClient h("host"), v1("viewer1"), v2("viewer2"), a("member-a"), b("member-b"), n("not-joined");
  for (WsClient *c : {&h, &v1, &v2, &a, &b, &n})
    c->connect(srv.ws_url());
  h.join("byes", Role::Host);
  v1.join("byes", Role::Viewer);
  v2.join("byes", Role::Viewer);
  h.expect_peer_joined(v1.id());
  h.expect_peer_joined(v2.id());
  a.join("byes-m", Role::Member);
  b.join("byes-m", Role::Member);
  a.expect_peer_joined(b.id());

  // Every reason of the table goes through with its message; a forged `from` is replaced.
  for (const auto &row : proto::spec::kReasons) {
    const std::string text = "because " + std::string(row.name) + " \xe2\x9c\x93";
    proto::Bye bye = proto::make_bye(v1.id(), row.value, text);
    bye.from = v2.id();
    h.send(bye);
    auto got = expect_relay<proto::Bye>(v1, h.id());
    TEST_CHECK(got.reason == row.value && got.message == text, "%s", proto::serialize(got).c_str());
  }
  // The wire form the docs show.
  h.send_text(R"({"type":"bye","to":")" + v2.id() +
              R"(","reason":"max-peers","message":"The host serves 1 viewer at most."})");
  auto raw = expect_relay<proto::Bye>(v2, h.id());
  TEST_CHECK(raw.reason == EndReason::MaxPeers &&
             raw.message == "The host serves 1 viewer at most.");
  // Without a message; from a viewer to its host; between members.
  v2.send(proto::make_bye(h.id(), EndReason::IceFailed));
  auto up = expect_relay<proto::Bye>(h, v2.id());
  TEST_CHECK(up.reason == EndReason::IceFailed && up.message.empty());
  b.send(proto::make_bye(a.id(), EndReason::NoCommonCodec, "no VP8 here"));
  TEST_CHECK(expect_relay<proto::Bye>(a, b.id()).reason == EndReason::NoCommonCodec);

  // The room rules: viewer to viewer is forbidden; unknown ids, other rooms and yourself are
  // unknown-peer; a socket that never joined is not-joined.
  v1.send(proto::make_bye(v2.id(), EndReason::Closed));
  TEST_CHECK(v1.expect_error(ErrorCode::Forbidden).ref == "bye");
  h.send(proto::make_bye(a.id(), EndReason::Closed));
  TEST_CHECK(h.expect_error(ErrorCode::UnknownPeer).ref == "bye");
  h.send(proto::make_bye(h.id(), EndReason::Closed));
  h.expect_error(ErrorCode::UnknownPeer);
  n.send(proto::make_bye(h.id(), EndReason::Closed));
  TEST_CHECK(n.expect_error(ErrorCode::NotJoined).ref == "bye");

  // Malformed byes: reasons outside the table, no reason, bad text.
  const std::string head = R"({"type":"bye","to":")" + v1.id() + "\"";
  for (const char *reason : {R"("bored")", R"("Timeout")", R"("")", R"(" timeout")", "5", "null"}) {
    h.send_text(head + R"(,"reason":)" + reason + "}");
    TEST_CHECK(h.expect_error(ErrorCode::BadMessage).ref == "bye", "reason %s", reason);
  }
  for (const std::string &bad : {head + "}", head + R"(,"reason":"closed","message":5})",
                                 head + R"(,"reason":"closed","message":"two\nlines"})",
                                 head + R"(,"reason":"closed","message":")" +
                                     std::string(proto::kMaxByeMessage + 1, 'm') + "\"}",
                                 std::string(R"({"type":"bye","reason":"closed"})")}) {
    h.send_text(bad);
    TEST_CHECK(h.expect_error(ErrorCode::BadMessage).ref == "bye", "%s", bad.c_str());
  }
  h.send_text(head + R"(,"reason":"closed","message":")" + std::string(proto::kMaxByeMessage, 'm') +
              "\"}");
  TEST_CHECK(expect_relay<proto::Bye>(v1, h.id()).message.size() == proto::kMaxByeMessage);

  // A bye ends a session, not a membership: everyone is still in the room and can signal.
  check_relay(h, v1, "after-bye");
  check_relay(v2, h, "after-bye-2");
  for (WsClient *c : {&h, &v1, &v2, &a, &b, &n})
    c->expect_nothing("(a bye reaches its target only)");
}

// ---- disconnects and keepalive ----------------------------------------------------------------

void test_abrupt_disconnect() {
  ServerProcess srv;
  WsClient h("host"), v1("viewer1"), v2("viewer2"), a("member-a"), b("member-b");
  for (WsClient *c : {&h, &v1, &v2, &a, &b})
    c->connect(srv.ws_url());
  h.join("crash", Role::Host);
  v1.join("crash", Role::Viewer);
  v2.join("crash", Role::Viewer);
  h.expect_peer_joined(v1.id());
  h.expect_peer_joined(v2.id());
  a.join("crash-m", Role::Member);
  b.join("crash-m", Role::Member);
  a.expect_peer_joined(b.id());

  // A viewer's TCP connection vanishes (no close frame): the host hears promptly.
  gint64 t0 = now_ms();
  v1.abort();
  h.expect_peer_left(v1.id(), 5000);
  g_test_message("peer-left after abrupt close: %" G_GINT64_FORMAT " ms", now_ms() - t0);
  TEST_CHECK(now_ms() - t0 < 3000, "took %" G_GINT64_FORMAT " ms", now_ms() - t0);
  v2.expect_nothing("(viewers do not hear about viewers)");

  // The host vanishes: the remaining viewer hears.
  h.abort();
  v2.expect_peer_left(h.id(), 5000);

  // A meeting member vanishes.
  b.abort();
  a.expect_peer_left(b.id(), 5000);
  // The server counted the dead sockets out.
  TEST_CHECK(iterate_until([&] { return healthz(srv).connections == 2; }, 3000),
             "connections %" G_GINT64_FORMAT, healthz(srv).connections);
  a.expect_nothing();
  v2.expect_nothing();
}

// The server pings quiet connections; one that never answers is dropped (and its room told),
// one that answers, or that keeps talking on its own, stays.
void test_keepalive() {
  ServerProcess srv({"--ping-interval", "1", "--ping-timeout", "3"});
  WsClient h("host"), silent("silent-viewer"), answering("answering-viewer"),
      chatty("chatty-viewer");
  silent.auto_pong = false;
  chatty.auto_pong = false;
  for (WsClient *c : {&h, &silent, &answering, &chatty})
    c->connect(srv.ws_url());
  proto::Welcome w = h.join("ka", Role::Host);
  TEST_CHECK(w.ping_interval_s == 1, "%u", w.ping_interval_s);
  answering.join("ka", Role::Viewer);
  chatty.join("ka", Role::Viewer);
  silent.join("ka", Role::Viewer);
  const gint64 silent_since = now_ms(); // the silent viewer's last message was its join
  for (WsClient *c : {&answering, &chatty, &silent})
    h.expect_peer_joined(c->id());

  // The chatty viewer ignores the server's pings but sends its own every 700 ms.
  gint64 next_chat = now_ms();
  auto chat = [&] {
    if (now_ms() >= next_chat) {
      chatty.send(proto::make_simple(Type::Ping));
      next_chat = now_ms() + 700;
    }
  };
  auto left = [&](const std::string &id) {
    return std::any_of(h.queue().begin(), h.queue().end(), [&](const Message &m) {
      const auto *left = std::get_if<proto::PeerLeft>(&m);
      return left && left->id == id;
    });
  };
  bool dropped = iterate_until(
      [&] {
        chat();
        return left(silent.id());
      },
      7000);
  const gint64 after = now_ms() - silent_since;
  g_test_message("silent viewer dropped after %" G_GINT64_FORMAT " ms (%d pings)", after,
                 silent.server_pings());
  TEST_CHECK(dropped, "the silent viewer was not dropped within 7 s; host got:%s",
             h.describe_queue().c_str());
  h.expect_peer_left(silent.id(), 0);
  // Not before the timeout (3 s, less a tick of slack), and within ~5 s.
  TEST_CHECK(after >= 2500, "dropped after only %" G_GINT64_FORMAT " ms", after);
  TEST_CHECK(after <= 5500, "dropped only after %" G_GINT64_FORMAT " ms", after);
  TEST_CHECK(silent.server_pings() >= 1, "the server never pinged the silent viewer");
  // The server closes the dropped connection.
  TEST_CHECK(iterate_until(
                 [&] {
                   chat();
                   return silent.closed();
                 },
                 5000),
             "the dropped connection was not closed");
  g_test_message("dropped connection closed with code %u", silent.close_code());

  // Keep going until the others have been quiet or chatty for well over the timeout.
  iterate_until(
      [&] {
        chat();
        return now_ms() - silent_since >= 6500;
      },
      10000);
  TEST_CHECK(!left(answering.id()) && !left(chatty.id()), "a live viewer was dropped:%s",
             h.describe_queue().c_str());
  TEST_CHECK(answering.server_pings() >= 3, "%d pings", answering.server_pings());
  TEST_CHECK(h.server_pings() >= 3, "%d pings", h.server_pings());
  TEST_CHECK(answering.is_open() && chatty.is_open() && h.is_open());
  // Everyone still in the room can still signal.
  check_relay(h, answering, "after-pings-1");
  check_relay(chatty, h, "after-pings-2");
  // The chatty viewer got a pong for each of its pings (and nothing else).
  for (const Message &m : chatty.take_all())
    TEST_CHECK(std::holds_alternative<proto::Pong>(m), "%s", proto::serialize(m).c_str());
  for (WsClient *c : {&h, &answering, &chatty})
    c->expect_nothing();
}

// Each bad message gets an error with the right code; the sender stays connected and working,
// and nobody else hears anything.
// prefer is relayed like the others, but only from a viewer to its host or from a member to
// another member: a host asks nobody, a viewer no other viewer (forbidden); bad values are
// bad-message; nothing refused reaches anyone.
void test_relay_prefer() {
  ServerProcess srv;
  WsClient h("host"), v1("viewer1"), v2("viewer2"), a("member-a"), b("member-b"), n("not-joined");
  for (WsClient *c : {&h, &v1, &v2, &a, &b, &n})
    c->connect(srv.ws_url());
  h.join("prefs", Role::Host);
  v1.join("prefs", Role::Viewer);
  v2.join("prefs", Role::Viewer);
  h.expect_peer_joined(v1.id());
  h.expect_peer_joined(v2.id());
  a.join("prefs-m", Role::Member);
  b.join("prefs-m", Role::Member);
  a.expect_peer_joined(b.id());

  // By layer and by height, from the real sender (a forged `from` is replaced).
  proto::Prefer p = proto::make_prefer(h.id(), 2);
  p.from = v2.id();
  v1.send(p);
  auto got = expect_relay<proto::Prefer>(h, v1.id());
  TEST_CHECK(got.layer == 2 && got.max_height == -1, "%s", proto::serialize(got).c_str());
  v2.send_text(R"({"type":"prefer","to":")" + h.id() + R"(","maxHeight":180})");
  got = expect_relay<proto::Prefer>(h, v2.id());
  TEST_CHECK(got.layer == -1 && got.max_height == 180, "%s", proto::serialize(got).c_str());
  v1.send(proto::make_prefer(h.id(), 0)); // back to no limit
  TEST_CHECK(expect_relay<proto::Prefer>(h, v1.id()).layer == 0);

  // Roles: the host to a viewer, a viewer to a viewer: forbidden; a member to a member (both
  // ways, by layer and by height): relayed.
  h.send(proto::make_prefer(v1.id(), 1));
  TEST_CHECK(h.expect_error(ErrorCode::Forbidden).ref == "prefer");
  v1.send(proto::make_prefer(v2.id(), 1));
  TEST_CHECK(v1.expect_error(ErrorCode::Forbidden).ref == "prefer");
  a.send(proto::make_prefer(b.id(), 1));
  got = expect_relay<proto::Prefer>(b, a.id());
  TEST_CHECK(got.layer == 1 && got.max_height == -1, "%s", proto::serialize(got).c_str());
  b.send_text(R"({"type":"prefer","to":")" + a.id() + R"(","maxHeight":90})");
  got = expect_relay<proto::Prefer>(a, b.id());
  TEST_CHECK(got.layer == -1 && got.max_height == 90, "%s", proto::serialize(got).c_str());
  // Unknown peers, other rooms, yourself; not joined.
  v1.send(proto::make_prefer("nosuchpeer", 1));
  TEST_CHECK(v1.expect_error(ErrorCode::UnknownPeer).ref == "prefer");
  v1.send(proto::make_prefer(a.id(), 1));
  TEST_CHECK(v1.expect_error(ErrorCode::UnknownPeer).ref == "prefer");
  v1.send(proto::make_prefer(v1.id(), 1));
  TEST_CHECK(v1.expect_error(ErrorCode::UnknownPeer).ref == "prefer");
  n.send(proto::make_prefer(h.id(), 1));
  TEST_CHECK(n.expect_error(ErrorCode::NotJoined).ref == "prefer");

  // Malformed: no target, neither or both of the values, wrong types, out of range.
  const std::string head = R"({"type":"prefer","to":")" + h.id() + "\"";
  for (const std::string &bad :
       {head + "}", head + R"(,"layer":1,"maxHeight":90})", head + R"(,"layer":-1})",
        head + R"(,"layer":)" + std::to_string(proto::kMaxPreferLayer + 1) + "}",
        head + R"(,"layer":"2"})", head + R"(,"layer":1.5})", head + R"(,"layer":null})",
        head + R"(,"layer":true})", head + R"(,"layer":[2]})", head + R"(,"maxHeight":0})",
        head + R"(,"maxHeight":)" + std::to_string(proto::kMaxPreferHeight + 1) + "}",
        head + R"(,"maxHeight":"180"})", std::string(R"({"type":"prefer","layer":1})"),
        std::string(R"({"type":"prefer","to":5,"layer":1})")}) {
    v1.send_text(bad);
    TEST_CHECK(v1.expect_error(ErrorCode::BadMessage).ref == "prefer", "%s", bad.c_str());
  }
  // None of it reached anyone; the room goes on.
  for (WsClient *c : {&h, &v2, &a, &b})
    c->expect_nothing("refused prefers");
  v1.send(proto::make_prefer(h.id(), proto::kMaxPreferLayer));
  TEST_CHECK(expect_relay<proto::Prefer>(h, v1.id()).layer == int(proto::kMaxPreferLayer));
  check_relay(h, v1, "after-prefer");
}

void test_bad_input() {
  ServerProcess srv({"--max-message-size", "2048"});
  WsClient a("a-host"), b("b-viewer"), o("other-room"), n("never-joined");
  for (WsClient *c : {&a, &b, &o, &n})
    c->connect(srv.ws_url());
  proto::Welcome wa = a.join("bad", Role::Host);
  TEST_CHECK(wa.max_message_size == 2048, "%" G_GUINT64_FORMAT, wa.max_message_size);
  b.join("bad", Role::Viewer);
  a.expect_peer_joined(b.id());
  o.join("other", Role::Host);
  int round = 0;

  // Sends `text` from `c`, expects `code` (with `ref` unless null), then checks that c and the
  // room still work and that nobody else heard a thing.
  auto refuse = [&](WsClient &c, const std::string &text, ErrorCode code, const char *ref) {
    g_test_message("bad input %d: %.80s -> %s", ++round, text.c_str(), proto::to_string(code));
    c.send_text(text);
    proto::Error e = c.expect_error(code);
    if (ref)
      TEST_CHECK(e.ref == ref, "ref '%s', wanted '%s' for %s", e.ref.c_str(), ref, text.c_str());
    TEST_CHECK(c.is_open(), "the connection was closed after %s", text.c_str());
    c.sync();
    if (&c == &a || &c == &b) {
      WsClient &peer = &c == &a ? b : a;
      check_relay(c, peer, ("after-bad-" + std::to_string(round)).c_str());
    }
    for (WsClient *x : {&a, &b, &o, &n})
      x->expect_nothing(("after bad input " + std::to_string(round)).c_str());
  };

  refuse(a, "{not json", ErrorCode::BadJson, "");
  refuse(a, "[1,2,3]", ErrorCode::BadJson, "");
  refuse(a, "\"offer\"", ErrorCode::BadJson, "");
  refuse(a, "", ErrorCode::BadJson, "");
  refuse(a, R"({"type":"dance"})", ErrorCode::UnknownType, "");
  refuse(a, R"({"to":")" + b.id() + R"(","sdp":"v=0"})", ErrorCode::BadMessage, "");
  refuse(a, R"({"type":7})", ErrorCode::BadMessage, "");
  refuse(a, R"({"type":"offer","to":")" + b.id() + R"(","sdp":5})", ErrorCode::BadMessage, "offer");
  refuse(a, R"({"type":"offer","sdp":"v=0"})", ErrorCode::BadMessage, "offer");
  refuse(a, R"({"type":"answer","to":")" + b.id() + R"("})", ErrorCode::BadMessage, "answer");
  refuse(a, R"({"type":"ice","to":")" + b.id() + R"(","candidate":"c"})", ErrorCode::BadMessage,
         "ice");
  refuse(a, R"({"type":"ice","to":")" + b.id() + R"(","candidate":"c","sdpMLineIndex":-1})",
         ErrorCode::BadMessage, "ice");
  refuse(a, R"({"type":"offer","to":")" + b.id() + R"(","sdp":"v=0\u0000x"})",
         ErrorCode::BadMessage, "offer");
  // join on a joined socket, to the same room or another: already-joined (nothing changes).
  refuse(a, proto::serialize(proto::make_join("bad", Role::Host)), ErrorCode::AlreadyJoined,
         "join");
  refuse(b, proto::serialize(proto::make_join("other", Role::Viewer)), ErrorCode::AlreadyJoined,
         "join");
  // Messages only the server may send.
  proto::Welcome fake_welcome;
  fake_welcome.id = "p00000001";
  fake_welcome.room = "bad";
  refuse(a, proto::serialize(fake_welcome), ErrorCode::Forbidden, "welcome");
  refuse(a, proto::serialize(proto::PeerLeft{b.id()}), ErrorCode::Forbidden, "peer-left");
  refuse(b, proto::serialize(proto::PeerJoined{{"p00000002", Role::Host, "fake"}}),
         ErrorCode::Forbidden, "peer-joined");
  refuse(b, proto::serialize(proto::make_error(ErrorCode::RoomFull, "fake")), ErrorCode::Forbidden,
         "error");

  // A NUL byte is valid UTF-8 but never valid JSON text.
  {
    g_test_message("bad input: NUL byte");
    a.send_raw_text(std::string_view("{\"type\":\"ping\"}\0", 16));
    a.expect_error(ErrorCode::BadJson);
    check_relay(a, b, "after-nul");
    for (WsClient *x : {&a, &b, &o, &n})
      x->expect_nothing("after a NUL byte");
  }

  // Binary frames.
  {
    g_test_message("bad input: binary frame");
    const guint8 bin[] = {0x7b, 0x00, 0xff, 0x10};
    a.send_binary(bin, sizeof bin);
    proto::Error e = a.expect_error(ErrorCode::Binary);
    TEST_CHECK(e.ref.empty(), "%s", e.ref.c_str());
    check_relay(a, b, "after-binary");
    for (WsClient *x : {&a, &b, &o, &n})
      x->expect_nothing("after a binary frame");
  }

  // Over the size limit (2048), under libsoup's hard cap: refused, not relayed, still connected.
  for (std::size_t size : {2049u, 3000u, 60000u}) {
    std::string head = R"({"type":"offer","to":")" + b.id() + R"(","sdp":")";
    std::string big = head + std::string(size - head.size() - 2, 'x') + "\"}";
    TEST_CHECK(big.size() == size);
    refuse(a, big, ErrorCode::TooLarge, "");
  }
  // Exactly at the limit is fine.
  {
    std::string head = R"({"type":"offer","to":")" + b.id() + R"(","sdp":")";
    std::string sdp(2048 - head.size() - 2, 's');
    a.send_text(head + sdp + "\"}");
    TEST_CHECK(expect_relay<proto::Offer>(b, a.id()).sdp == sdp);
  }

  // Before join.
  refuse(n, proto::serialize(proto::make_simple(Type::Leave)), ErrorCode::NotJoined, "leave");
  refuse(n, proto::serialize(offer(a.id(), "v=0")), ErrorCode::NotJoined, "offer");
  refuse(n, proto::serialize(proto::make_sdp(Type::Answer, a.id(), "v=0")), ErrorCode::NotJoined,
         "answer");
  refuse(n, proto::serialize(proto::make_ice(a.id(), 0, "c")), ErrorCode::NotJoined, "ice");
  // Bad joins leave the socket unjoined.
  proto::Join v2 = proto::make_join("bad", Role::Viewer);
  v2.version = 2;
  refuse(n, proto::serialize(v2), ErrorCode::BadVersion, "join");
  refuse(n, join_text(R"("version":"1","room":"bad","role":"viewer")"), ErrorCode::BadMessage,
         "join");
  refuse(n, join_text(R"("version":1,"room":"a/b","role":"viewer")"), ErrorCode::BadMessage,
         "join");
  refuse(n, join_text(R"("version":1,"room":"bad","role":"admin")"), ErrorCode::BadMessage, "join");
  refuse(n, join_text(R"("version":1,"room":"bad")"), ErrorCode::BadMessage, "join");
  refuse(n,
         join_text(R"("version":1,"room":"bad","role":"viewer","name":")" + std::string(65, 'n') +
                   "\""),
         ErrorCode::BadMessage, "join");
  refuse(n, proto::serialize(proto::make_join("bad", Role::Host)), ErrorCode::HostTaken, "join");
  refuse(n, proto::serialize(proto::make_join("bad", Role::Member)), ErrorCode::WrongKind, "join");
  // After all that, n may join properly.
  check_peers(n.join("bad", Role::Viewer, "late"), {{a.id(), Role::Host, ""}}, "never-joined");
  a.expect_peer_joined(n.id());
  check_relay(n, a, "late-joiner");

  // A pong from a client is fine and gets no answer; a ping gets a pong.
  a.send(proto::make_simple(Type::Pong));
  a.expect_nothing("(pong needs no answer)");

  // Far over libsoup's hard cap (max(4 x limit, 64 KiB)): the server closes the connection.
  WsClient c("huge-sender");
  c.connect(srv.ws_url());
  c.join("bad", Role::Viewer);
  a.expect_peer_joined(c.id());
  c.send_text(R"({"type":"offer","to":")" + a.id() + R"(","sdp":")" + std::string(300000, 'x') +
              "\"}");
  TEST_CHECK(c.wait_closed(5000), "the server kept a connection that sent 300 kB");
  g_test_message("huge message: connection closed with code %u", c.close_code());
  a.expect_peer_left(c.id());
  TEST_CHECK(!std::any_of(a.queue().begin(), a.queue().end(),
                          [](const Message &m) { return proto::type_of(m) == Type::Offer; }));

  // After all of it the server runs on and takes newcomers.
  spin(200);
  TEST_CHECK(srv.alive(), "the server process exited");
  WsClient z("newcomer");
  z.connect(srv.ws_url());
  check_peers(z.join("bad", Role::Viewer), {{a.id(), Role::Host, ""}}, "newcomer");
  a.expect_peer_joined(z.id());
  check_relay(a, z, "newcomer");
  for (WsClient *x : {&a, &b, &o, &n, &z})
    x->expect_nothing("(end)");
  TEST_CHECK(healthz(srv).rooms == 2);
}

// A flood is cut down to the rate limit; the flooder stays connected and others do not notice.
void test_rate_limit() {
  ServerProcess srv({"--max-rate", "20", "--max-burst", "20"});
  WsClient f("flooder"), fv("flood-viewer"), o("other");
  for (WsClient *c : {&f, &fv, &o})
    c->connect(srv.ws_url());
  f.join("flood", Role::Host);
  fv.join("flood", Role::Viewer);
  f.expect_peer_joined(fv.id());
  o.join("calm", Role::Host);
  spin(1100); // let the joins' tokens come back

  const std::string ping = proto::serialize(proto::make_simple(Type::Ping));
  for (int i = 0; i < 500; i++)
    f.send_text(ping);
  // The other room is served promptly during the flood.
  gint64 t0 = now_ms();
  o.sync(1000);
  TEST_CHECK(now_ms() - t0 < 1000);
  f.expect_error(ErrorCode::RateLimited, 3000);
  o.sync(1000);
  spin(1500);
  int pongs = 0, limited = 1; // one rate-limited error taken above
  auto rate_limited = [](const Message &m) {
    const auto *e = std::get_if<proto::Error>(&m);
    return e && e->code == ErrorCode::RateLimited;
  };
  for (const Message &m : f.take_all()) {
    if (std::holds_alternative<proto::Pong>(m))
      pongs++;
    else if (rate_limited(m))
      limited++;
    else
      TEST_FAIL("unexpected reply to a flood: %s", proto::serialize(m).c_str());
  }
  g_test_message("500 pings: %d pongs, %d rate-limited errors", pongs, limited);
  TEST_CHECK(pongs >= 20, "only %d pongs: the burst should pass", pongs);
  TEST_CHECK(pongs + limited < 500, "nothing was dropped");
  // burst (20) + 20/s for however long the server took to read the flood; generous for slow
  // machines.
  TEST_CHECK(pongs <= 100, "%d pongs: the limit let through far more than burst + rate", pongs);
  TEST_CHECK(limited <= 4, "%d rate-limited errors: at most one a second", limited);
  // The flooder is still connected and, after a pause, served again.
  TEST_CHECK(f.is_open());
  f.sync(2000);

  // Relayed floods are dropped too: the target sees about a burst's worth.
  spin(1100);
  for (int i = 0; i < 200; i++)
    f.send(offer(fv.id(), "v=0\r\ns=" + std::to_string(i) + "\r\n"));
  f.expect_error(ErrorCode::RateLimited, 3000);
  spin(300);
  int relayed = 0;
  for (const Message &m : fv.take_all()) {
    const auto *o = std::get_if<proto::Offer>(&m);
    TEST_CHECK(o && o->from == f.id(), "%s", proto::serialize(m).c_str());
    relayed++;
  }
  g_test_message("200 offers: %d relayed", relayed);
  TEST_CHECK(relayed >= 15 && relayed <= 100, "%d offers relayed", relayed);
  spin(1100);
  check_relay(f, fv, "after-flood");
  for (const Message &m : f.take_all())
    TEST_CHECK(rate_limited(m), "%s", proto::serialize(m).c_str());
  for (WsClient *c : {&f, &fv, &o})
    c->expect_nothing();
  TEST_CHECK(srv.alive());
}

void test_limit_peers() {
  ServerProcess srv({"--max-peers", "2"});
  WsClient h("host"), v1("viewer1"), v2("viewer2"), a("member-a"), b("member-b"), c("member-c");
  for (WsClient *x : {&h, &v1, &v2, &a, &b, &c})
    x->connect(srv.ws_url());
  h.join("full", Role::Host);
  v1.join("full", Role::Viewer);
  h.expect_peer_joined(v1.id());
  v2.send(proto::make_join("full", Role::Viewer));
  TEST_CHECK(v2.expect_error(ErrorCode::RoomFull).ref == "join");
  h.expect_nothing();
  v1.expect_nothing();
  v2.sync();
  // A seat frees up.
  v1.send(proto::make_simple(Type::Leave));
  h.expect_peer_left(v1.id());
  v2.join("full", Role::Viewer);
  h.expect_peer_joined(v2.id());
  // The same limit holds in meetings.
  a.join("fullmeet", Role::Member);
  b.join("fullmeet", Role::Member);
  a.expect_peer_joined(b.id());
  c.send(proto::make_join("fullmeet", Role::Member));
  c.expect_error(ErrorCode::RoomFull);
  // Other rooms are not affected.
  c.join("another", Role::Member);
  for (WsClient *x : {&h, &v1, &v2, &a, &b, &c})
    x->expect_nothing();
}

void test_limit_rooms() {
  ServerProcess srv({"--max-rooms", "1"});
  WsClient a("a"), b("b");
  a.connect(srv.ws_url());
  b.connect(srv.ws_url());
  a.join("one", Role::Host);
  b.send(proto::make_join("two", Role::Host));
  TEST_CHECK(b.expect_error(ErrorCode::TooManyRooms).ref == "join");
  a.expect_nothing();
  // Joining the existing room is fine.
  b.join("one", Role::Viewer);
  a.expect_peer_joined(b.id());
  // Once the room is gone, another may take its place.
  a.send(proto::make_simple(Type::Leave));
  b.expect_peer_left(a.id());
  b.send(proto::make_simple(Type::Leave));
  b.sync();
  a.sync();
  b.join("two", Role::Host);
  a.send(proto::make_join("three", Role::Member));
  a.expect_error(ErrorCode::TooManyRooms);
  for (WsClient *x : {&a, &b})
    x->expect_nothing();
}

void test_limit_connections() {
  ServerProcess srv({"--max-connections", "2"});
  WsClient a("a"), b("b"), c("c-over-limit");
  a.connect(srv.ws_url());
  b.connect(srv.ws_url());
  a.join("conns", Role::Host);
  // The third connection is told why and closed.
  std::string error;
  if (c.try_connect(srv.ws_url(), error)) {
    TEST_CHECK(c.wait_closed(5000), "the server kept a connection over the limit");
    g_test_message("over-limit connection closed with code %u; got:%s", c.close_code(),
                   c.describe_queue().c_str());
    TEST_CHECK(c.queue().size() == 1, "%s", c.describe_queue().c_str());
    const auto *e = std::get_if<proto::Error>(&c.queue().front());
    TEST_CHECK(e && e->code == ErrorCode::ServerFull, "%s", c.describe_queue().c_str());
    TEST_CHECK(c.close_code() == SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "close code %u",
               c.close_code());
  } else {
    TEST_FAIL("the over-limit connection was refused at the handshake (%s); the server should say "
              "server-full",
              error.c_str());
  }
  // The two that fit still work.
  b.join("conns", Role::Viewer);
  a.expect_peer_joined(b.id());
  check_relay(a, b, "within-limit");
  // A closed connection makes room for a new one.
  b.close();
  a.expect_peer_left(b.id());
  WsClient d("d");
  d.connect(srv.ws_url());
  d.join("conns", Role::Viewer);
  a.expect_peer_joined(d.id());
  check_relay(d, a, "replacement");
  for (WsClient *x : {&a, &d})
    x->expect_nothing();
}

// ---- HTTP -------------------------------------------------------------------------------------

void test_http() {
  ServerProcess srv;
  Health h0 = healthz(srv);
  TEST_CHECK(h0.connections == 0 && h0.rooms == 0);
  HttpReply r = http_get(srv.http_url("/healthz"));
  TEST_CHECK(r.status == 200);
  TEST_CHECK(r.content_type == "application/json", "%s", r.content_type.c_str());
  {
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o = parse_object(parser, r.body);
    TEST_CHECK(json_object_has_member(o, "ok") &&
                   json_node_get_value_type(json_object_get_member(o, "ok")) == G_TYPE_BOOLEAN &&
                   json_object_get_boolean_member(o, "ok"),
               "%s", r.body.c_str());
    TEST_CHECK(json_object_get_int_member_with_default(o, "version", -1) == proto::kVersion, "%s",
               r.body.c_str());
  }
  WsClient a("a"), b("b");
  a.connect(srv.ws_url());
  b.connect(srv.ws_url());
  a.join("h1", Role::Host);
  b.join("h2", Role::Member);
  Health h1 = healthz(srv);
  TEST_CHECK(h1.connections == 2 && h1.rooms == 2, "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
             h1.connections, h1.rooms);

  r = http_get(srv.http_url("/"));
  TEST_CHECK(r.status == 200, "%u %s", r.status, r.error.c_str());
  TEST_CHECK(g_str_has_prefix(r.content_type.c_str(), "text/html"), "%s", r.content_type.c_str());
  TEST_CHECK(r.body.find("<html") != std::string::npos, "%s", r.body.substr(0, 100).c_str());
  r = http_get(srv.http_url("/room/some-room"));
  TEST_CHECK(r.status == 200 && r.body.find("<html") != std::string::npos, "%u", r.status);
  r = http_get(srv.http_url("/style.css"));
  TEST_CHECK(r.status == 200 && g_str_has_prefix(r.content_type.c_str(), "text/css"), "%u %s",
             r.status, r.content_type.c_str());
  // The protocol's table for the web client, generated at build time.
  r = http_get(srv.http_url("/protocol.js"));
  TEST_CHECK(r.status == 200 && g_str_has_prefix(r.content_type.c_str(), "text/javascript"),
             "%u %s", r.status, r.content_type.c_str());
  TEST_CHECK(r.body.find("export const PROTOCOL_VERSION = " + std::to_string(proto::kVersion) +
                         ";") != std::string::npos,
             "%s", r.body.substr(0, 200).c_str());
  r = http_get(srv.http_url("/no-such-file.js"));
  TEST_CHECK(r.status == 404, "%u", r.status);

  // Paths that try to leave the web root, sent raw so nothing normalises them on our side.
  for (const char *path :
       {"/../etc/passwd", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/.%2e/etc/passwd",
        "/....//etc/passwd", "/.hidden", "//etc/passwd", "/%2fetc%2fpasswd"}) {
    HttpReply t = raw_http_get(srv.port(), path);
    g_test_message("GET %s -> %u", path, t.status);
    TEST_CHECK(t.status == 404 || t.status == 400, "GET %s gave %u (%s)", path, t.status,
               t.error.c_str());
    TEST_CHECK(t.body.find("root:") == std::string::npos, "GET %s leaked a file", path);
  }
  TEST_CHECK(raw_http_get(srv.port(), "/../etc/passwd").status == 404);
  // (The raw client itself works.)
  TEST_CHECK(raw_http_get(srv.port(), "/").status == 200);
  a.expect_nothing();
  b.expect_nothing();
}

// With --web-root the files come from disk; nothing outside that folder can be reached.
void test_http_web_root() {
  g_autoptr(GError) err = nullptr;
  g_autofree char *tmp = g_dir_make_tmp("roomcast-webroot-XXXXXX", &err);
  g_assert_no_error(err);
  g_autofree char *web = g_build_filename(tmp, "web", nullptr);
  g_autofree char *index = g_build_filename(web, "index.html", nullptr);
  g_autofree char *hidden = g_build_filename(web, ".hidden", nullptr);
  g_autofree char *secret = g_build_filename(tmp, "secret.txt", nullptr);
  g_assert_cmpint(g_mkdir(web, 0700), ==, 0);
  g_assert_true(g_file_set_contents(index, "<html>custom index</html>", -1, nullptr));
  g_assert_true(g_file_set_contents(hidden, "HIDDEN-CONTENT", -1, nullptr));
  g_assert_true(g_file_set_contents(secret, "TOP-SECRET", -1, nullptr));
  {
    ServerProcess srv({"--web-root", web});
    HttpReply r = http_get(srv.http_url("/"));
    TEST_CHECK(r.status == 200 && r.body == "<html>custom index</html>", "%u %s", r.status,
               r.body.c_str());
    r = http_get(srv.http_url("/index.html"));
    TEST_CHECK(r.status == 200 && r.body == "<html>custom index</html>", "%u", r.status);
    // Files of the built-in copy that the folder lacks are not served...
    TEST_CHECK(http_get(srv.http_url("/room.js")).status == 404);
    // ...except the generated protocol.js, which a source folder never holds.
    r = http_get(srv.http_url("/protocol.js"));
    TEST_CHECK(r.status == 200 && r.body.find("PROTOCOL_VERSION") != std::string::npos, "%u",
               r.status);
    for (const char *path : {"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
                             "/%2e%2e%2fsecret.txt", "/.%2e/secret.txt", "/room/../../secret.txt",
                             "/.hidden", "/%2ehidden", "/web/../../secret.txt"}) {
      HttpReply t = raw_http_get(srv.port(), path);
      g_test_message("GET %s -> %u", path, t.status);
      TEST_CHECK(t.status == 404 || t.status == 400, "GET %s gave %u (%s)", path, t.status,
                 t.error.c_str());
      TEST_CHECK(t.body.find("TOP-SECRET") == std::string::npos &&
                     t.body.find("HIDDEN") == std::string::npos,
                 "GET %s leaked a file: %s", path, t.body.c_str());
    }
  }
  for (const char *f : {index, hidden, secret})
    g_remove(f);
  g_rmdir(web);
  g_rmdir(tmp);
}
} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  // GTest prints every g_log() debug line; libsoup's per-frame ones drown the log.
  // ROOMCAST_TEST_VERBOSE=1 brings them back (and makes the servers verbose too).
  if (!g_getenv("ROOMCAST_TEST_VERBOSE")) {
    static GLogFunc previous = nullptr;
    previous = g_log_set_default_handler(
        [](const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data) {
          if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) return;
          previous(domain, level, message, data);
        },
        nullptr);
  }
  g_test_add_func("/server/join/live", test_join_live);
  g_test_add_func("/server/join/viewer-before-host", test_join_viewer_before_host);
  g_test_add_func("/server/join/meeting", test_join_meeting);
  g_test_add_func("/server/join/wrong-kind", test_join_wrong_kind);
  g_test_add_func("/server/relay/live", test_relay_live);
  g_test_add_func("/server/relay/meeting", test_relay_meeting);
  g_test_add_func("/server/relay/bye", test_relay_bye);
  g_test_add_func("/server/relay/prefer", test_relay_prefer);
  g_test_add_func("/server/disconnect/abrupt", test_abrupt_disconnect);
  g_test_add_func("/server/keepalive", test_keepalive);
  g_test_add_func("/server/bad-input", test_bad_input);
  g_test_add_func("/server/limits/rate", test_rate_limit);
  g_test_add_func("/server/limits/peers", test_limit_peers);
  g_test_add_func("/server/limits/rooms", test_limit_rooms);
  g_test_add_func("/server/limits/connections", test_limit_connections);
  g_test_add_func("/server/http/pages", test_http);
  g_test_add_func("/server/http/web-root", test_http_web_root);
  return g_test_run();
}
