// A fixture for roomcastsink/roomcastsrc tests that uses only what an application can see:
// properties, the peer-added/peer-removed signals, pads (GstRoomcastPad's peer-id/peer-name),
// the bus, the `stats` structure and the in-process signaller (GstRoomcastDirectSignaller).
//
// In the spirit of webrtcbin's own tests: the test advances a Stage; every callback records what
// happened and wakes the test; the test waits for conditions with a deadline (GMutex/GCond, never
// a sleep); and default hooks turn anything unexpected into a failure: a bus ERROR or WARNING, a
// peer-removed or a pad removal, unless the test declared it (expect_*, allow_warning). Hooks run
// on GStreamer's threads, so they record a violation and wake the test, which fails at its next
// wait or check() with every violation in the message.
//
// Besides the elements, a test can join a room itself with a TestPeer: its own
// GstRoomcastDirectSignaller and its own webrtcbin, which it can make misbehave (never answer,
// answer late, stop its media while staying in the room, leave mid-negotiation).
//
// ROOMCAST_SPEC_DUMP_SDP=1 prints every SDP a harness signaller receives (to stderr).
#pragma once

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include "gstroomcastsignaller.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace spec {

// Small, live, cheap: what every host sends unless a test says otherwise.
inline constexpr const char *kVideoSource =
    "videotestsrc is-live=true pattern=ball ! "
    "video/x-raw,format=I420,width=320,height=240,framerate=15/1";

// What the test is doing; violations name the stage they happened in. Only Teardown relaxes the
// hooks (peers and pads go away then).
enum class Stage { Setup, Negotiating, Streaming, Disturbing, Teardown };
const char *stage_name(Stage s);

// Seen by a signaller the harness made (labelled like the element or peer that uses it).
struct SdpRecord {
  std::string at;   // label of the receiving signaller
  std::string to;   // its own id in the room
  std::string from; // the sender's id
  GstWebRTCSDPType type = GST_WEBRTC_SDP_TYPE_OFFER;
  std::string text;
};
struct PeerEnded {
  std::string at, from, reason, message;
};

// A src pad a watched element exposed (roomcastsrc video_%u/audio_%u, roomcastsink src_*).
struct PadInfo {
  std::string element, name;
  bool roomcast_pad = false; // a GstRoomcastPad
  std::string peer_id, peer_name;
  std::string media; // caps name at exposure ("video/x-raw", ...)
  guint64 buffers = 0;
  bool removed = false;
};

// The `stats` property, read through its documented fields.
struct PeerStats {
  std::string id;
  bool connected = false;
  double bitrate = 0;
};
struct Stats {
  bool present = false; // the element has a `stats` property and returned a structure
  guint peer_count = 0;
  guint64 frames = 0;
  std::vector<PeerStats> peers;
  std::string text; // the whole structure, for messages
  const PeerStats *peer(const std::string &id) const;
};
Stats read_stats(GstElement *element);

// A pipeline the harness made around one roomcast element.
struct Node {
  std::string label;
  GstElement *pipeline = nullptr;      // owned by the harness
  GstElement *element = nullptr;       // the roomcastsink/roomcastsrc (owned by the pipeline)
  GstRoomcastSignaller *sig = nullptr; // owned by the harness
};

class Harness;

// How a TestPeer behaves when the host offers.
struct Behaviour {
  bool answer = true;        // false: keep the offer, answer only on answer_now()
  guint answer_delay_ms = 0; // answer this late
  bool send_ice = true;      // trickle our candidates to the offerer
  // Regular RTCP at least this often, like a browser (about 1 s); 0 keeps webrtcbin's default
  // (rtpsession's 5 s minimum), which is what roomcastsrc sends today.
  guint rtcp_interval_ms = 1000;
};

// TestPeer states (a bit mask; has() tests all given bits).
enum PeerState : unsigned {
  PEER_JOINED = 1u << 0,    // the room accepted us
  PEER_OFFERED = 1u << 1,   // an offer arrived
  PEER_ANSWERED = 1u << 2,  // our answer went out
  PEER_CONNECTED = 1u << 3, // webrtcbin connection-state CONNECTED
  PEER_MEDIA = 1u << 4,     // RTP reached one of our src pads
  PEER_STOPPED = 1u << 5,   // stop_media(): webrtcbin in NULL, still in the room
  PEER_LEFT = 1u << 6,      // leave(): out of the room
  PEER_FAILED = 1u << 7,    // connection-state FAILED
};

// The test itself in a room: a raw webrtcbin on loopback ICE and its own signaller.
class TestPeer {
public:
  TestPeer(Harness &h, const std::string &label, const std::string &room, GstRoomcastRole role,
           Behaviour behaviour);
  ~TestPeer();
  TestPeer(const TestPeer &) = delete;
  TestPeer &operator=(const TestPeer &) = delete;

  void join();       // webrtcbin to PLAYING, then join the room
  void answer_now(); // answer the kept offer (Behaviour::answer == false)
  void stop_media(); // webrtcbin to NULL (no more RTCP), without leaving the room
  void leave();      // leave the room (webrtcbin untouched)

  const std::string &label() const { return label_; }
  std::string id() const;      // own id in the room ("" before joined)
  std::string offerer() const; // who sent the offer ("" before)
  bool has(unsigned states) const { return (state_.load() & states) == states; }
  guint64 rtp_buffers() const { return rtp_.load(); }
  GstRoomcastSignaller *signaller() const { return sig_; }
  GstElement *pipeline() const { return pipeline_; }

private:
  friend struct TestPeerCalls;
  void set(unsigned bits);
  Harness &h_;
  std::string label_, room_;
  GstRoomcastRole role_;
  Behaviour b_;
  GstRoomcastSignaller *sig_ = nullptr; // owned by the harness
  GstElement *pipeline_ = nullptr;      // owned by the harness
  GstElement *webrtc_ = nullptr;        // owned by the pipeline
  std::vector<gulong> handlers_;        // on sig_
  std::atomic<unsigned> state_{0};
  std::atomic<guint64> rtp_{0};
  std::atomic<bool> stopped_{false};
  mutable GMutex lock_;                          // guards what follows (leaf)
  GstWebRTCSessionDescription *offer_ = nullptr; // kept until answered
  std::string offerer_;
  std::string id_;
  bool remote_set_ = false; // candidates wait in pending_ice_ until the offer is applied
  std::vector<std::pair<guint, std::string>> pending_ice_;
};

class Harness {
public:
  Harness();
  ~Harness(); // stops everything still running (no assertions)
  Harness(const Harness &) = delete;
  Harness &operator=(const Harness &) = delete;

  // ---- stage, expectations, violations -------------------------------------------------------
  void set_stage(Stage s);
  Stage stage();
  // A peer-removed on `element` for `id` ("" any) is part of the test.
  void expect_peer_removed(const std::string &element, const std::string &id = "");
  // A pad removal on `element` whose name starts with `prefix` ("" any) is part of the test.
  void expect_pad_removed(const std::string &element, const std::string &prefix = "");
  // A bus WARNING whose source path contains `source` and whose text (message or debug)
  // contains `text` ("" any) is tolerated.
  void allow_warning(const std::string &source, const std::string &text = "");
  // Records a violation and wakes the test (any thread).
  void violate(const std::string &what);
  std::vector<std::string> violations();
  std::vector<std::string> warnings(); // every bus WARNING seen, tolerated or not
  // Fails the test if any violation was recorded.
  void check();
  // check(), then Teardown: stops the pipelines one by one, newest first, each under a deadline
  // (a hang is a failure); after each, every element that had it as a peer must emit
  // peer-removed for it; at the end no webrtcbin that peer-added handed out may still run.
  void finish();

  // ---- waiting -------------------------------------------------------------------------------
  // Waits until `pred` holds; fails the test after `seconds`, or at once on a violation.
  // `pred` runs on the test's thread without the harness lock; it is evaluated again whenever
  // something is recorded, and at least every 100 ms (for polled things such as `stats`).
  void wait_for(const std::string &what, double seconds, const std::function<bool()> &pred);
  // Like wait_for, but returns whether `pred` held within `seconds` (for "X must not happen").
  bool becomes_true_within(double seconds, const std::function<bool()> &pred);
  // Runs `fn` on a new thread; fails the test (naming `what`) unless it returns in `seconds`.
  // A deadlock in the element becomes a failure instead of a hang.
  void run_with_deadline(const std::string &what, double seconds, std::function<void()> fn);
  // Runs `fn` after `ms` on the harness's own thread (for late answers and the like).
  void after(guint ms, std::function<void()> fn);
  // Wakes waiters (any thread).
  void notify();

  // ---- building blocks -----------------------------------------------------------------------
  // A new in-process signaller whose signals the harness records under `label`.
  GstRoomcastSignaller *signaller(const std::string &label);
  GstRoomcastSignaller *signaller_of(const std::string &label);
  // Takes `pipeline` (floating or not): bus hook, stopped at teardown.
  GstElement *adopt_pipeline(const std::string &label, GstElement *pipeline);
  // gst_parse_launch into a pipeline (a single element is put into one).
  GstElement *pipeline(const std::string &label, const std::string &launch);
  // Watches a roomcastsink/roomcastsrc: peer-added/peer-removed (if it has them), pad-added
  // (src pads get a fakesink and a buffer counter), pad-removed.
  void watch(GstElement *element, const std::string &label);
  // Calls `fn` for every message on the bus of pipeline `label`, on the thread that posts it
  // (before the hooks judge it). For tests that act at an exact moment (a state change).
  void tap(const std::string &label, std::function<void(GstMessage *)> fn);
  void play(GstElement *pipeline);
  void stop(GstElement *pipeline);

  // `source ! roomcastsink name=<label> room=<room> ice-loopback=true <props>` with its own
  // signaller; started unless start == false.
  Node &host(const std::string &label, const std::string &room, const std::string &props = "",
             const std::string &source = kVideoSource, bool start = true);
  // A pipeline with `roomcastsrc room=<room> ice-loopback=true <props>`, started.
  Node &viewer(const std::string &label, const std::string &room, const std::string &props = "");
  // A TestPeer (not joined yet: call join()).
  TestPeer &test_peer(const std::string &label, const std::string &room, Behaviour b = {},
                      GstRoomcastRole role = GST_ROOMCAST_ROLE_VIEWER);
  Node &node(const std::string &label);

  // ---- observations --------------------------------------------------------------------------
  // The own id of signaller `label` (waits for its `joined`).
  std::string id_of(const std::string &label, double seconds = 10);
  std::string id_now(const std::string &label); // "" if not joined
  bool saw_peer_joined(const std::string &at, const std::string &id);
  std::vector<SdpRecord> sdps(const std::string &at);
  int count_sdp(const std::string &at, const std::string &from, GstWebRTCSDPType type);
  SdpRecord wait_sdp(const std::string &at, const std::string &from, GstWebRTCSDPType type,
                     double seconds);
  std::vector<PeerEnded> peer_ended(const std::string &at);
  int peer_added(const std::string &element, const std::string &id = "");
  int peer_removed(const std::string &element, const std::string &id = "");
  std::vector<std::string> peers_added(const std::string &element);
  gint64 peer_removed_at(const std::string &element, const std::string &id); // 0 if not yet
  void wait_peer_added(const std::string &element, const std::string &id, double seconds);
  void wait_peer_removed(const std::string &element, const std::string &id, double seconds);
  std::vector<PadInfo> pads(const std::string &element);
  // Buffers through the video pads of `element` (from `peer_id` if not empty).
  guint64 frames(const std::string &element, const std::string &peer_id = "");
  void wait_frames(const std::string &element, const std::string &peer_id, guint64 at_least,
                   double seconds);
  // Whether the webrtcbin that peer-added handed out for `id` is still alive inside `element`.
  bool webrtcbin_inside(const std::string &element, const std::string &id);
  // That webrtcbin (a new ref), or nullptr if gone.
  GstElement *webrtcbin_of(const std::string &element, const std::string &id);

  struct Impl;
  Impl &impl() { return *d_; } // for the hooks in element-harness.cpp

private:
  std::unique_ptr<Impl> d_;
};

// Number of children of a bin (elements inside roomcastsink/roomcastsrc).
guint children_of(GstElement *bin);

} // namespace spec
