// The WebSocket signaller against a real `roomcast serve`: end-peer goes out as a `bye` the
// protocol accepts (known reasons only, text made valid and cut to the limit), a `bye` that
// arrives is emitted as peer-ended, and a refused join follows the join-error policy (room-full:
// not fatal, joined again after the backoff; wrong-kind: fatal). Refusals start with their code.
#include "gstroomcastwssignaller.h"
#include "signal-recorder.h"
#include "ws-client.h"

#include <gst/gst.h>

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

} // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/ws-signaller/bye", test_bye_both_ways);
  g_test_add_func("/ws-signaller/join-policy", test_join_policy);
  return g_test_run();
}
