// The WebSocket signaller against a real `roomcast serve`: end-peer goes out as a `bye` the
// protocol accepts (known reasons only, text made valid and cut to the limit), a `bye` that
// arrives is emitted as peer-ended, and a refused join follows the join-error policy (room-full:
// not fatal, joined again after the backoff; wrong-kind: fatal). Refusals start with their code.
// A lost server is got back (one warning, no peer-left, `joined` again with a new id once a
// server listens on the same port), a server that was never there is a fatal error at once, and
// rejoin leaves and joins on the same connection. The welcome's ICE servers come out as
// `ice-servers` before `joined`, TURN REST credentials made for this connection.
#include "gstroomcastwssignaller.h"
#include "ice-servers.h"
#include "signal-recorder.h"
#include "ws-client.h"

#include <gst/gst.h>

#include <memory>

using namespace roomcast::test;
using roomcast::proto::EndReason;
using roomcast::proto::ErrorCode;
using roomcast::proto::Role;
namespace proto = roomcast::proto;

namespace {

GstRoomcastSignaller *ws_signaller(const ServerProcess &srv) {
  return GST_ROOMCAST_SIGNALLER(
      g_object_new(GST_TYPE_ROOMCAST_WS_SIGNALLER, "uri", srv.ws_url().c_str(), nullptr));
}

void test_bye_both_ways() {
  ServerProcess srv;
  Peer host("host", ws_signaller(srv));
  host.join("w-bye", GST_ROOMCAST_ROLE_HOST);
  WsClient viewer("viewer");
  viewer.connect(srv.ws_url());
  viewer.join("w-bye", Role::Viewer);
  TEST_CHECK(host.expect("peer-joined").a == viewer.id());
  auto bye_from_host = [&] {
    return viewer.expect<proto::Bye>([&](const proto::Bye &b) { return b.from == host.id(); },
                                     "bye from the host");
  };

  // end-peer -> bye on the wire; control characters become spaces.
  gst_roomcast_signaller_end_peer(host.sig(), viewer.id().c_str(), "max-peers",
                                  "serving 1 viewer\nat most");
  proto::Bye bye = bye_from_host();
  TEST_CHECK(bye.reason == EndReason::MaxPeers, "%s", proto::to_string(bye.reason));
  TEST_CHECK(bye.message == "serving 1 viewer at most", "%s", bye.message.c_str());
  // Too long: cut at a character boundary to the protocol's limit.
  std::string wide;
  for (int i = 0; i < 200; i++)
    wide += "\xc3\xa9";
  gst_roomcast_signaller_end_peer(host.sig(), viewer.id().c_str(), "timeout", wide.c_str());
  bye = bye_from_host();
  TEST_CHECK(bye.reason == EndReason::Timeout);
  TEST_CHECK(bye.message == wide.substr(0, proto::kMaxByeMessage), "%zu bytes", bye.message.size());
  // No message at all.
  gst_roomcast_signaller_end_peer(host.sig(), viewer.id().c_str(), "closed", nullptr);
  bye = bye_from_host();
  TEST_CHECK(bye.reason == EndReason::Closed && bye.message.empty());
  // A reason outside the protocol is not sent (the server would refuse it).
  gst_roomcast_signaller_end_peer(host.sig(), viewer.id().c_str(), "bored", "x");
  viewer.expect_nothing("(a bye with an unknown reason is not sent)");

  // bye on the wire -> peer-ended.
  viewer.send(proto::make_bye(host.id(), EndReason::IceFailed, "no route \xe2\x9c\x93"));
  Event e = host.expect("peer-ended");
  TEST_CHECK(e.a == viewer.id() && e.b == "ice-failed" && e.c == "no route \xe2\x9c\x93",
             "%s %s %s", e.a.c_str(), e.b.c_str(), e.c.c_str());
  viewer.send(proto::make_bye(host.id(), EndReason::NoCommonCodec));
  e = host.expect("peer-ended");
  TEST_CHECK(e.b == "no-common-codec" && e.c.empty());

  // A refused relay is not fatal, and names its code first.
  gst_roomcast_signaller_end_peer(host.sig(), "pnobody", "closed", nullptr);
  host.expect_error(ErrorCode::UnknownPeer, false);
  host.expect_nothing();
  viewer.expect_nothing();
}

// send-prefer goes out as a `prefer` (by layer or by height, clamped to the protocol's ranges),
// and a `prefer` that arrives is emitted as the `prefer` signal.
void test_prefer() {
  ServerProcess srv;
  Peer host("host", ws_signaller(srv)), viewer("viewer", ws_signaller(srv));
  host.join("w-prefer", GST_ROOMCAST_ROLE_HOST);
  viewer.join("w-prefer", GST_ROOMCAST_ROLE_VIEWER);
  TEST_CHECK(host.expect("peer-joined").a == viewer.id());
  viewer.expect("peer-joined");
  const std::pair<std::pair<int, int>, std::pair<std::string, std::string>> rows[] = {
      {{2, -1}, {"2", "-1"}},
      {{0, -1}, {"0", "-1"}},
      {{99, -1}, {std::to_string(proto::kMaxPreferLayer), "-1"}},
      {{-1, 180}, {"-1", "180"}},
      {{-1, 0}, {"-1", "1"}},
      {{-1, 1 << 20}, {"-1", std::to_string(proto::kMaxPreferHeight)}},
  };
  for (const auto &[in, want] : rows) {
    gst_roomcast_signaller_send_prefer(viewer.sig(), host.id().c_str(), in.first, in.second);
    Event e = host.expect("prefer");
    TEST_CHECK(e.a == viewer.id() && e.b == want.first && e.c == want.second,
               "sent (%d, %d): got %s %s %s", in.first, in.second, e.a.c_str(), e.b.c_str(),
               e.c.c_str());
  }
  // From a host the server refuses it (forbidden), as a warning.
  gst_roomcast_signaller_send_prefer(host.sig(), viewer.id().c_str(), 1, -1);
  host.expect_error(ErrorCode::Forbidden, false);
  host.expect_nothing();
  viewer.expect_nothing();
}

void test_join_policy() {
  ServerProcess srv({"--max-peers", "1"});
  Peer host("host", ws_signaller(srv)), viewer("viewer", ws_signaller(srv)),
      member("member", ws_signaller(srv));
  host.join("w-full", GST_ROOMCAST_ROLE_HOST);

  // room-full: retryable, so not fatal; the signaller joins again after the backoff.
  viewer.start("w-full", GST_ROOMCAST_ROLE_VIEWER);
  Event e = viewer.expect_error(ErrorCode::RoomFull, false);
  TEST_CHECK(e.a == "room-full: room 'w-full' is full", "%s", e.a.c_str());
  gst_roomcast_signaller_stop(host.sig());
  viewer.expect("joined", 5000);

  // wrong-kind: no retry can fix it, so it is fatal (and nothing is tried again).
  member.start("w-full", GST_ROOMCAST_ROLE_MEMBER);
  member.expect_error(ErrorCode::WrongKind, true);
  member.expect_nothing(1000);
  viewer.expect_nothing();
}

// The server goes away under a host and a viewer, and another one comes up on the same port.
void test_reconnect_after_server_restart() {
  auto srv = std::make_unique<ServerProcess>();
  const std::string port = std::to_string(srv->port()), url = srv->ws_url();
  auto sig = [&] {
    return GST_ROOMCAST_SIGNALLER(
        g_object_new(GST_TYPE_ROOMCAST_WS_SIGNALLER, "uri", url.c_str(), nullptr));
  };
  Peer host("host", sig()), viewer("viewer", sig());
  host.join("w-back", GST_ROOMCAST_ROLE_HOST);
  viewer.join("w-back", GST_ROOMCAST_ROLE_VIEWER);
  std::string old_host = host.id(), old_viewer = viewer.id();
  TEST_CHECK(host.expect("peer-joined").a == old_viewer);
  TEST_CHECK(viewer.expect("peer-joined").a == old_host);

  srv->stop();
  srv.reset();
  // Said once, not fatal; nothing about the peers (no peer-left), however many connects fail.
  for (Peer *p : {&host, &viewer}) {
    Event e = p->expect("error", 3000);
    TEST_CHECK(!e.fatal && e.a.rfind("signalling connection lost", 0) == 0 &&
                   g_str_has_suffix(e.a.c_str(), "; reconnecting"),
               "%s", e.a.c_str());
  }
  host.expect_nothing(2000); // the backoff's first connects (0.5 s, 1.5 s) find nobody
  viewer.expect_nothing(0);

  ServerProcess again({"--port", port});
  TEST_CHECK(again.ws_url() == url, "%s", again.ws_url().c_str());
  // Back within the backoff (at most 8 s between tries): joined with new ids, and each sees the
  // other again.
  std::string new_host = host.expect("joined", 10000).a;
  std::string new_viewer = viewer.expect("joined", 10000).a;
  TEST_CHECK(new_host != old_host && new_viewer != old_viewer);
  TEST_CHECK(host.expect("peer-joined", 5000).a == new_viewer);
  TEST_CHECK(viewer.expect("peer-joined", 5000).a == new_host);
  // Relays work again.
  gst_roomcast_signaller_end_peer(host.sig(), new_viewer.c_str(), "closed", "again");
  Event e = viewer.expect("peer-ended");
  TEST_CHECK(e.a == new_host && e.b == "closed" && e.c == "again");
  host.expect_nothing();
  viewer.expect_nothing();
}

// A server that never was: the first connect fails at once, and for good.
void test_first_connect_is_fatal() {
  // A port nobody listens on: bind one, read its number, close it.
  g_autoptr(GSocket) s =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, nullptr);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
  TEST_CHECK(g_socket_bind(s, any, FALSE, nullptr));
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address(s, nullptr);
  guint16 port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_socket_close(s, nullptr);
  std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/ws";
  Peer viewer("viewer", GST_ROOMCAST_SIGNALLER(g_object_new(GST_TYPE_ROOMCAST_WS_SIGNALLER, "uri",
                                                            url.c_str(), nullptr)));
  gint64 t0 = g_get_monotonic_time();
  viewer.start("w-never", GST_ROOMCAST_ROLE_VIEWER);
  Event e = viewer.expect("error", 3000);
  TEST_CHECK(e.fatal && e.a.rfind("cannot reach the signalling server", 0) == 0, "%s", e.a.c_str());
  TEST_CHECK(g_get_monotonic_time() - t0 < 2 * G_USEC_PER_SEC);
  viewer.expect_nothing(1500); // and it does not try again
}

// rejoin: leave and join on the same connection; the room sees a viewer go and a new one come.
void test_rejoin() {
  ServerProcess srv;
  Peer host("host", ws_signaller(srv)), viewer("viewer", ws_signaller(srv));
  host.join("w-rejoin", GST_ROOMCAST_ROLE_HOST);
  viewer.join("w-rejoin", GST_ROOMCAST_ROLE_VIEWER);
  std::string first = viewer.id();
  TEST_CHECK(host.expect("peer-joined").a == first);
  TEST_CHECK(viewer.expect("peer-joined").a == host.id());
  TEST_CHECK(gst_roomcast_signaller_rejoin(viewer.sig()));
  std::string second = viewer.expect("joined").a;
  TEST_CHECK(second != first);
  TEST_CHECK(viewer.expect("peer-joined").a == host.id());
  TEST_CHECK(host.expect("peer-left").a == first);
  TEST_CHECK(host.expect("peer-joined").a == second);
  host.expect_nothing();
  viewer.expect_nothing();
}

} // namespace

// serve --stun/--turn/--turn-secret: the signaller emits the server's STUN server and the TURN
// server with this connection's REST credentials (user "<expiry>:<our id>", expiring a TTL from
// now), in webrtcbin's form, before each `joined`; a server without any emits empty ones.
void test_ice_servers_from_welcome() {
  const char *secret = "unit-test secret";
  g_setenv("ROOMCAST_TEST_TURN_SECRET", secret, TRUE);
  ServerProcess srv({"--stun", "stun://192.0.2.1:3478", "--turn", "turn://192.0.2.1:3478", "--turn",
                     "turn:192.0.2.1:3478?transport=tcp", "--turn-secret",
                     "env:ROOMCAST_TEST_TURN_SECRET", "--turn-ttl", "600"});
  g_unsetenv("ROOMCAST_TEST_TURN_SECRET");
  Peer host("host", ws_signaller(srv));
  const gint64 before = g_get_real_time() / G_USEC_PER_SEC;
  host.join("w-ice", GST_ROOMCAST_ROLE_HOST);
  const gint64 after = g_get_real_time() / G_USEC_PER_SEC;
  TEST_CHECK(host.ice_count() == 1, "%d", host.ice_count());
  TEST_CHECK(host.ice_stun() == "stun://192.0.2.1:3478", "%s", host.ice_stun().c_str());
  auto turn = host.ice_turn();
  TEST_CHECK(turn.size() == 2, "%zu", turn.size());
  // turn://EXPIRY%3AID:CREDENTIAL@192.0.2.1:3478
  auto u = roomcast::ice::parse_uri(turn[0]);
  TEST_CHECK(u && u->host == "192.0.2.1" && u->port == 3478 && u->transport.empty(), "%s",
             turn[0].c_str());
  std::size_t colon = u->username.find(':');
  TEST_CHECK(colon != std::string::npos && u->username.substr(colon + 1) == host.id(), "%s",
             u->username.c_str());
  gint64 expiry = g_ascii_strtoll(u->username.substr(0, colon).c_str(), nullptr, 10);
  TEST_CHECK(expiry >= before + 600 && expiry <= after + 600, "%" G_GINT64_FORMAT, expiry);
  TEST_CHECK(u->password ==
             roomcast::ice::turn_rest_credentials(secret, expiry, host.id()).credential);
  auto tcp = roomcast::ice::parse_uri(turn[1]);
  TEST_CHECK(tcp && tcp->transport == "tcp" && tcp->username == u->username &&
             tcp->password == u->password);
  // Every connection gets its own user name.
  Peer viewer("viewer", ws_signaller(srv));
  viewer.join("w-ice", GST_ROOMCAST_ROLE_VIEWER);
  auto v = roomcast::ice::parse_uri(viewer.ice_turn().at(0));
  TEST_CHECK(v && v->username.find(viewer.id()) != std::string::npos && v->password != u->password);

  // Without ICE servers: emitted all the same, empty.
  ServerProcess plain;
  Peer other("other", ws_signaller(plain));
  other.join("w-ice", GST_ROOMCAST_ROLE_HOST);
  TEST_CHECK(other.ice_count() == 1 && other.ice_stun().empty() && other.ice_turn().empty());
}

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/ws-signaller/bye", test_bye_both_ways);
  g_test_add_func("/ws-signaller/prefer", test_prefer);
  g_test_add_func("/ws-signaller/join-policy", test_join_policy);
  g_test_add_func("/ws-signaller/reconnect", test_reconnect_after_server_restart);
  g_test_add_func("/ws-signaller/first-connect", test_first_connect_is_fatal);
  g_test_add_func("/ws-signaller/rejoin", test_rejoin);
  g_test_add_func("/ws-signaller/ice-servers", test_ice_servers_from_welcome);
  return g_test_run();
}
