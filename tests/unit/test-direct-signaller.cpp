// The in-process signaller (GstRoomcastDirectSignaller) follows the server's room rules
// (src/common/room-rules.h): refused joins carry the protocol's code at the start of the error
// message and are fatal or retried by the join-error policy; relays follow who-sees-whom; an
// end-peer reaches its peer as peer-ended. No media, no network: signals only.
#include "gstroomcastdirectsignaller.h"
#include "signal-recorder.h"

#include <gst/gst.h>

namespace {

using roomcast::test::Event;

// A Peer over a new in-process signaller.
struct Peer : roomcast::test::Peer {
  explicit Peer(const char *label)
      : roomcast::test::Peer(label, GST_ROOMCAST_SIGNALLER(g_object_new(
                                        GST_TYPE_ROOMCAST_DIRECT_SIGNALLER, nullptr))) {}
};

using roomcast::proto::ErrorCode;

void test_refused_joins() {
  gst_roomcast_direct_signaller_set_limits(1000, 200);
  Peer host("host"), host2("host2"), member("member"), viewer("viewer");
  host.join("d-live", GST_ROOMCAST_ROLE_HOST);

  host2.start("d-live", GST_ROOMCAST_ROLE_HOST);
  Event e = host2.expect_error(ErrorCode::HostTaken, true);
  g_assert_cmpstr(e.a.c_str(), ==, "host-taken: room 'd-live' already has a host");
  member.start("d-live", GST_ROOMCAST_ROLE_MEMBER);
  member.expect_error(ErrorCode::WrongKind, true);
  host.expect_nothing(); // refused joins are not announced

  // The room's kind is the first joiner's: a meeting refuses hosts and viewers.
  Peer m1("m1"), m2("m2");
  m1.join("d-meet", GST_ROOMCAST_ROLE_MEMBER);
  viewer.start("d-meet", GST_ROOMCAST_ROLE_VIEWER);
  viewer.expect_error(ErrorCode::WrongKind, true);
  m2.join("d-meet", GST_ROOMCAST_ROLE_MEMBER);
  g_assert_true(m2.expect("peer-joined").a == m1.id());
  g_assert_true(m1.expect("peer-joined").a == m2.id());
}

void test_retried_joins() {
  gst_roomcast_direct_signaller_set_limits(2, 2);
  Peer host("host"), v1("viewer1"), v2("viewer2"), other("other"), third("third");
  host.join("d-full", GST_ROOMCAST_ROLE_HOST);
  v1.join("d-full", GST_ROOMCAST_ROLE_VIEWER);
  host.expect("peer-joined");
  v1.expect("peer-joined");

  // room-full is retryable: not fatal, and the join is tried again after the backoff.
  v2.start("d-full", GST_ROOMCAST_ROLE_VIEWER);
  v2.expect_error(ErrorCode::RoomFull, false);
  // A seat frees up: the next try gets in.
  gst_roomcast_signaller_stop(v1.sig());
  g_assert_true(host.expect("peer-left").a == v1.id());
  Event j = v2.expect("joined", 3000);
  g_assert_true(host.expect("peer-joined").a == j.a);

  // too-many-rooms is retryable too; stop() ends the retries.
  other.join("d-other", GST_ROOMCAST_ROLE_MEMBER); // the second and last room
  third.start("d-third", GST_ROOMCAST_ROLE_HOST);
  third.expect_error(ErrorCode::TooManyRooms, false);
  third.expect_error(ErrorCode::TooManyRooms, false, 3000); // tried again, refused again
  gst_roomcast_signaller_stop(third.sig());
  third.expect_nothing(1500);
  gst_roomcast_direct_signaller_set_limits(1000, 200);
}

void test_relays() {
  gst_roomcast_direct_signaller_set_limits(1000, 200);
  Peer host("host"), v1("viewer1"), v2("viewer2"), stranger("stranger");
  host.join("d-relay", GST_ROOMCAST_ROLE_HOST);
  v1.join("d-relay", GST_ROOMCAST_ROLE_VIEWER);
  v2.join("d-relay", GST_ROOMCAST_ROLE_VIEWER);
  v1.expect("peer-joined");
  v2.expect("peer-joined");
  host.expect("peer-joined");
  host.expect("peer-joined");
  v1.expect_nothing(); // viewers do not see viewers

  // end-peer reaches its peer as peer-ended, from the sender.
  gst_roomcast_signaller_end_peer(host.sig(), v1.id().c_str(), "max-peers", "serving 1 at most");
  Event e = v1.expect("peer-ended");
  g_assert_true(e.a == host.id() && e.b == "max-peers" && e.c == "serving 1 at most");
  gst_roomcast_signaller_end_peer(v2.sig(), host.id().c_str(), "ice-failed", nullptr);
  e = host.expect("peer-ended");
  g_assert_true(e.a == v2.id() && e.b == "ice-failed" && e.c.empty());

  // viewer to viewer is forbidden; unknown ids, yourself and other rooms are unknown-peer.
  gst_roomcast_signaller_end_peer(v1.sig(), v2.id().c_str(), "closed", nullptr);
  v1.expect_error(ErrorCode::Forbidden, false);
  gst_roomcast_signaller_send_ice(v1.sig(), v2.id().c_str(), 0, "candidate:1", nullptr);
  v1.expect_error(ErrorCode::Forbidden, false);
  gst_roomcast_signaller_end_peer(host.sig(), "nobody", "closed", nullptr);
  host.expect_error(ErrorCode::UnknownPeer, false);
  gst_roomcast_signaller_end_peer(host.sig(), host.id().c_str(), "closed", nullptr);
  host.expect_error(ErrorCode::UnknownPeer, false);
  stranger.join("d-elsewhere", GST_ROOMCAST_ROLE_HOST);
  gst_roomcast_signaller_end_peer(stranger.sig(), v1.id().c_str(), "closed", nullptr);
  stranger.expect_error(ErrorCode::UnknownPeer, false);
  // prefer: from a viewer to its host only.
  gst_roomcast_signaller_send_prefer(v1.sig(), host.id().c_str(), 2, -1);
  e = host.expect("prefer");
  g_assert_true(e.a == v1.id() && e.b == "2" && e.c == "-1");
  gst_roomcast_signaller_send_prefer(v1.sig(), host.id().c_str(), -1, 180);
  e = host.expect("prefer");
  g_assert_true(e.a == v1.id() && e.b == "-1" && e.c == "180");
  gst_roomcast_signaller_send_prefer(host.sig(), v1.id().c_str(), 1, -1);
  host.expect_error(ErrorCode::Forbidden, false);
  gst_roomcast_signaller_send_prefer(v1.sig(), v2.id().c_str(), 1, -1);
  v1.expect_error(ErrorCode::Forbidden, false);
  // ... and from a meeting member to another member (either way).
  Peer m1("member1"), m2("member2");
  m1.join("d-relay-m", GST_ROOMCAST_ROLE_MEMBER);
  m2.join("d-relay-m", GST_ROOMCAST_ROLE_MEMBER);
  m1.expect("peer-joined");
  m2.expect("peer-joined");
  gst_roomcast_signaller_send_prefer(m1.sig(), m2.id().c_str(), 2, -1);
  e = m2.expect("prefer");
  g_assert_true(e.a == m1.id() && e.b == "2" && e.c == "-1");
  gst_roomcast_signaller_send_prefer(m2.sig(), m1.id().c_str(), -1, 90);
  e = m1.expect("prefer");
  g_assert_true(e.a == m2.id() && e.b == "-1" && e.c == "90");
  // A reason outside the protocol is refused as the server would.
  gst_roomcast_signaller_end_peer(host.sig(), v1.id().c_str(), "bored", nullptr);
  host.expect_error(ErrorCode::BadMessage, false);
  // Before joining (or after leaving) there is nobody to signal with.
  gst_roomcast_signaller_stop(v2.sig());
  host.expect("peer-left");
  gst_roomcast_signaller_end_peer(v2.sig(), host.id().c_str(), "closed", nullptr);
  v2.expect_error(ErrorCode::NotJoined, false);
  for (Peer *p : {&host, &v1, &v2, &stranger, &m1, &m2})
    p->expect_nothing();
}

} // namespace

int main(int argc, char **argv) {
  gst_init(&argc, &argv);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/direct-signaller/refused-joins", test_refused_joins);
  g_test_add_func("/direct-signaller/retried-joins", test_retried_joins);
  g_test_add_func("/direct-signaller/relays", test_relays);
  return g_test_run();
}
