// Table tests for the elements' pure policies (plugins/roomcast): the keyframe limiter (time is
// passed in, so no test sleeps), the peer plan (who is served, who offers) and the viewer's media
// watch (when to join again). Each row is one
// decision; a row that does not hold names itself in the failure.
#include "encoder-pool.h"
#include "keyframe-limiter.h"
#include "latency-fit.h"
#include "media-watch.h"
#include "rtx-budget.h"
#include "peer-plan.h"
#include "sdp-match.h"

#include <glib.h>

#include <cstring>

#include <optional>
#include <tuple>
#include <string>
#include <vector>

using roomcast::KeyframeLimiter;
using roomcast::PeerPlan;
using Verdict = KeyframeLimiter::Verdict;

namespace {

const char *name(Verdict v) {
  switch (v) {
  case Verdict::Forward:
    return "forward";
  case Verdict::Defer:
    return "defer";
  case Verdict::Merge:
    return "merge";
  }
  return "?";
}

void fail_row(const std::string &table, size_t row, const std::string &what) {
  g_autofree char *msg = g_strdup_printf("%s, row %zu: %s", table.c_str(), row, what.c_str());
  g_assertion_message(nullptr, __FILE__, __LINE__, table.c_str(), msg);
}

// ---- keyframe limiter -------------------------------------------------------------------------

// One event in a scenario: a request at `t_ms` (expecting a verdict, and for Defer the time
// the merged request is due), or the deferred request being sent at `t_ms`.
struct Step {
  enum { Request, Sent } kind;
  std::int64_t t_ms;
  Verdict want = Verdict::Forward;
  std::int64_t due_ms = 0;
};

struct Scenario {
  const char *name;
  std::int64_t interval_ms;
  std::vector<Step> steps;
  std::uint64_t forwarded, merged;
};

void test_keyframe_limiter() {
  const std::vector<Scenario> scenarios = {
      {"first request passes at time zero", 500, {{Step::Request, 0, Verdict::Forward}}, 1, 0},
      {"requests spaced by the interval all pass",
       500,
       {{Step::Request, 1000, Verdict::Forward},
        {Step::Request, 1500, Verdict::Forward},
        {Step::Request, 2000, Verdict::Forward}},
       3,
       0},
      {"a burst becomes one now and one deferred to the interval's end",
       500,
       {{Step::Request, 1000, Verdict::Forward},
        {Step::Request, 1001, Verdict::Defer, 1500},
        {Step::Request, 1100, Verdict::Merge},
        {Step::Request, 1499, Verdict::Merge},
        {Step::Sent, 1500}},
       2,
       3},
      {"after the deferred one is sent, the next request waits a full interval",
       300,
       {{Step::Request, 0, Verdict::Forward},
        {Step::Request, 10, Verdict::Defer, 300},
        {Step::Sent, 301},
        {Step::Request, 400, Verdict::Defer, 601},
        {Step::Sent, 601},
        {Step::Request, 901, Verdict::Forward}},
       4,
       2},
      {"while a deferred request is pending even a late request merges",
       200,
       {{Step::Request, 0, Verdict::Forward},
        {Step::Request, 50, Verdict::Defer, 200},
        {Step::Request, 5000, Verdict::Merge}},
       1,
       2},
      {"interval zero forwards everything",
       0,
       {{Step::Request, 5, Verdict::Forward},
        {Step::Request, 5, Verdict::Forward},
        {Step::Request, 6, Verdict::Forward}},
       3,
       0},
      {"ten viewers asking at once cost the encoder two keyframes",
       500,
       {{Step::Request, 100, Verdict::Forward},
        {Step::Request, 100, Verdict::Defer, 600},
        {Step::Request, 101, Verdict::Merge},
        {Step::Request, 102, Verdict::Merge},
        {Step::Request, 103, Verdict::Merge},
        {Step::Request, 104, Verdict::Merge},
        {Step::Request, 105, Verdict::Merge},
        {Step::Request, 106, Verdict::Merge},
        {Step::Request, 107, Verdict::Merge},
        {Step::Request, 108, Verdict::Merge},
        {Step::Sent, 600}},
       2,
       9},
  };
  for (const Scenario &sc : scenarios) {
    KeyframeLimiter lim(sc.interval_ms * 1000);
    for (size_t i = 0; i < sc.steps.size(); i++) {
      const Step &st = sc.steps[i];
      if (st.kind == Step::Sent) {
        lim.deferred_sent(st.t_ms * 1000);
        if (lim.pending()) fail_row(sc.name, i, "still pending after the deferred one was sent");
        continue;
      }
      auto d = lim.request(st.t_ms * 1000);
      if (d.verdict != st.want)
        fail_row(sc.name, i, std::string("got ") + name(d.verdict) + ", wanted " + name(st.want));
      if (st.want == Verdict::Defer && d.at_us != st.due_ms * 1000)
        fail_row(sc.name, i,
                 "deferred to " + std::to_string(d.at_us / 1000) + " ms, wanted " +
                     std::to_string(st.due_ms));
    }
    if (lim.forwarded() != sc.forwarded || lim.merged() != sc.merged)
      fail_row(sc.name, sc.steps.size(),
               "counted " + std::to_string(lim.forwarded()) + " forwarded / " +
                   std::to_string(lim.merged()) + " merged, wanted " +
                   std::to_string(sc.forwarded) + " / " + std::to_string(sc.merged));
  }
}

void test_keyframe_limiter_interval_change() {
  KeyframeLimiter lim(1000 * 1000);
  g_assert_true(lim.request(0).verdict == Verdict::Forward);
  lim.set_interval(100 * 1000); // live change: the shorter interval applies at once
  g_assert_true(lim.request(150 * 1000).verdict == Verdict::Forward);
  lim.reset();
  g_assert_true(lim.request(151 * 1000).verdict == Verdict::Forward);
}

// ---- peer plan ----------------------------------------------------------------------------------

struct PlanRow {
  GstRoomcastRole self, peer;
  bool existing;
  std::optional<PeerPlan> want;
};

const char *role(GstRoomcastRole r) {
  return r == GST_ROOMCAST_ROLE_HOST ? "host" : r == GST_ROOMCAST_ROLE_MEMBER ? "member" : "viewer";
}

void test_peer_plan() {
  const auto H = GST_ROOMCAST_ROLE_HOST, V = GST_ROOMCAST_ROLE_VIEWER, M = GST_ROOMCAST_ROLE_MEMBER;
  // PeerPlan{offerer, send, receive}
  const std::vector<PlanRow> rows = {
      {H, V, false, PeerPlan{true, true, false}}, // a viewer joins a live room: the host offers
      {H, V, true, PeerPlan{true, true, false}},  // viewers already there when the host comes
      {H, H, true, std::nullopt},                 // another host is not ours
      {H, M, false, std::nullopt},                // members do not belong to live rooms
      {M, M, true, PeerPlan{true, true, true}},   // a newcomer offers to those already there
      {M, M, false, PeerPlan{false, true, true}}, // ... and answers those who come later
      {M, V, false, std::nullopt},
      {M, H, true, std::nullopt},
      {V, H, true, std::nullopt}, // a viewer waits for its host's offer
      {V, V, false, std::nullopt},
      {V, M, false, std::nullopt},
      {H, GST_ROOMCAST_ROLE_PLAYER, false, std::nullopt}, // a player offers itself
      {H, GST_ROOMCAST_ROLE_PLAYER, true, std::nullopt},
  };
  for (size_t i = 0; i < rows.size(); i++) {
    const PlanRow &r = rows[i];
    auto got = roomcast::plan_peer(r.self, r.peer, r.existing);
    if (got != r.want)
      fail_row(std::string("plan_peer ") + role(r.self) + " sees " + role(r.peer) +
                   (r.existing ? " (existing)" : " (new)"),
               i,
               got ? g_strdup_printf("got offerer=%d send=%d receive=%d", got->offerer, got->send,
                                     got->receive)
                   : "got no plan");
  }
  // Offers that start a session: only a viewer's host.
  const std::vector<std::tuple<GstRoomcastRole, GstRoomcastRole, std::optional<PeerPlan>>> offers =
      {
          {V, H, PeerPlan{false, false, true}},
          {V, V, std::nullopt},
          {V, M, std::nullopt},
          {H, V, std::nullopt},
          {M, M, std::nullopt}, // members answer only peers they were told about
          // A player (a viewer that offers: WHEP) gets the host's streams in an answer.
          {H, GST_ROOMCAST_ROLE_PLAYER, PeerPlan{false, true, false}},
          {V, GST_ROOMCAST_ROLE_PLAYER, std::nullopt},
          {M, GST_ROOMCAST_ROLE_PLAYER, std::nullopt},
      };
  for (size_t i = 0; i < offers.size(); i++) {
    auto &[self, peer, want] = offers[i];
    if (roomcast::plan_for_offer(self, peer) != want)
      fail_row(std::string("plan_for_offer ") + role(self) + " from " + role(peer), i,
               "wrong plan");
  }
}

// ---- H.264 profile-level-id
// ----------------------------------------------------------------------

void test_h264_profile_level_id() {
  struct Row {
    const char *caps;
    const char *want;
  };
  const std::vector<Row> rows = {
      // our encoder (no profile in the caps): constrained baseline, level by size
      {"video/x-h264,width=640,height=360,framerate=30/1", "42e01f"},
      {"video/x-h264,width=1280,height=720,framerate=30/1", "42e01f"},
      {"video/x-h264,width=1280,height=720,framerate=60/1", "42e020"},
      {"video/x-h264,width=1920,height=1080,framerate=30/1", "42e028"},
      {"video/x-h264,width=1920,height=1080,framerate=60/1", "42e02a"},
      {"video/x-h264,width=3840,height=2160,framerate=30/1", "42e033"},
      // encoded input: its profile
      {"video/x-h264,profile=constrained-baseline,width=1280,height=720,framerate=30/1", "42e01f"},
      {"video/x-h264,profile=baseline,width=1280,height=720,framerate=30/1", "42001f"},
      {"video/x-h264,profile=main,width=1280,height=720,framerate=30/1", "4d001f"},
      {"video/x-h264,profile=high,width=1280,height=720,framerate=30/1", "64001f"},
      {"video/x-h264,profile=high,width=1920,height=1080,framerate=30/1", "640028"},
      {"video/x-h264,profile=progressive-high,width=320,height=240,framerate=30/1", "64001f"},
      // a declared level above what the size needs wins
      {"video/x-h264,profile=main,level=(string)4.1,width=640,height=360,framerate=30/1", "4d0029"},
      {"video/x-h264,profile=high,level=(string)3,width=1920,height=1080,framerate=30/1", "640028"},
      // nothing known: 1280x720@30
      {"video/x-h264", "42e01f"},
  };
  for (size_t i = 0; i < rows.size(); i++) {
    GstCaps *caps = gst_caps_from_string(rows[i].caps);
    std::string got = roomcast::h264_profile_level_id(caps);
    gst_caps_unref(caps);
    if (got != rows[i].want)
      fail_row("h264_profile_level_id", i,
               std::string(rows[i].caps) + ": got " + got + ", wanted " + rows[i].want);
  }
}

// ---- offered payload: which entry of an offer we send with --------------------------------------

// Offers as browsers and webrtcbin write them (trimmed to the lines that matter).
const char *kChromiumOffer =
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 104 108 116 98\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    "a=rtpmap:102 H264/90000\r\n"
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
    "a=rtpmap:104 H264/90000\r\n"
    "a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n"
    "a=rtpmap:108 H264/90000\r\n"
    "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
    "a=rtpmap:116 H264/90000\r\n"
    "a=fmtp:116 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n"
    "a=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\n";
const char *kFirefoxOffer =
    "v=0\r\no=mozilla 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "a=rtpmap:120 VP8/90000\r\na=rtpmap:124 rtx/90000\r\na=fmtp:124 apt=120\r\n"
    "a=rtpmap:121 VP9/90000\r\na=rtpmap:125 rtx/90000\r\na=fmtp:125 apt=121\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
    "a=rtpmap:109 opus/48000/2\r\na=rtpmap:9 G722/8000/1\r\na=rtpmap:0 PCMU/8000\r\n";
// webrtcbin under max-bundle: the second m-line at port 0 with bundle-only.
const char *kWebrtcbinOffer =
    "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE video0 audio1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:video0\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=bundle-only\r\na=mid:audio1\r\n"
    "a=rtpmap:111 OPUS/48000/2\r\n";
// An answer-like refusal: video at port 0 without bundle-only; and an H.264 offer with
// baseline and main only, packetization-mode 0 for constrained-baseline.
const char *kRefusedVideo = "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
                            "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
                            "a=rtpmap:96 VP8/90000\r\n";
const char *kH264NoConstrained =
    "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 102 104 116\r\nc=IN IP4 0.0.0.0\r\n"
    "a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42001f\r\n"
    "a=rtpmap:104 H264/90000\r\na=fmtp:104 packetization-mode=0;profile-level-id=42e01f\r\n"
    "a=rtpmap:116 H264/90000\r\na=fmtp:116 packetization-mode=1;profile-level-id=4d001f\r\n";

void test_offered_payload() {
  struct Row {
    const char *offer, *ours;
    int want;
  };
  const char *vp8 = "application/x-rtp,media=video,encoding-name=VP8,payload=96";
  const char *vp9 = "application/x-rtp,media=video,encoding-name=VP9,payload=98";
  const char *opus = "application/x-rtp,media=audio,encoding-name=OPUS,payload=111";
  const char *cb = "application/x-rtp,media=video,encoding-name=H264,payload=102,"
                   "packetization-mode=(string)1,profile-level-id=(string)42e01f";
  const char *main_ = "application/x-rtp,media=video,encoding-name=H264,payload=102,"
                      "packetization-mode=(string)1,profile-level-id=(string)4d0028";
  const char *high = "application/x-rtp,media=video,encoding-name=H264,payload=102,"
                     "packetization-mode=(string)1,profile-level-id=(string)64001f";
  const std::vector<Row> rows = {
      {kChromiumOffer, vp8, 96},
      {kChromiumOffer, vp9, 98},
      {kChromiumOffer, opus, 111},
      {kChromiumOffer, cb, 108},    // not 102 (baseline, listed first) nor 104 (mode 0)
      {kChromiumOffer, main_, 116}, // the profile decides, not the level
      {kChromiumOffer, high,
       102}, // no High offered: the first mode-1 entry (webrtcbin answers recvonly)
      {kFirefoxOffer, vp8, 120},
      {kFirefoxOffer, vp9, 121},
      {kFirefoxOffer, opus, 109},
      {kFirefoxOffer, cb, -1},      // no H.264 at all
      {kWebrtcbinOffer, opus, 111}, // port 0 with bundle-only is offered
      {kWebrtcbinOffer, vp9, -1},
      {kRefusedVideo, vp8, -1},      // port 0 without bundle-only is
                                     // refused
      {kH264NoConstrained, cb, 102}, // no constrained-baseline in mode 1: the first mode-1 entry
  };
  for (size_t i = 0; i < rows.size(); i++) {
    GstSDPMessage *sdp = nullptr;
    gst_sdp_message_new(&sdp);
    if (gst_sdp_message_parse_buffer(reinterpret_cast<const guint8 *>(rows[i].offer),
                                     strlen(rows[i].offer), sdp) != GST_SDP_OK)
      fail_row("offered payload", i, "the offer does not parse");
    GstCaps *ours = gst_caps_from_string(rows[i].ours);
    int got = roomcast::offered_payload(sdp, ours);
    if (got != rows[i].want)
      fail_row("offered payload", i,
               std::string(rows[i].ours) + ": got " + std::to_string(got) + ", want " +
                   std::to_string(rows[i].want));
    gst_caps_unref(ours);
    gst_sdp_message_free(sdp);
  }
  const std::vector<std::pair<const char *, const char *>> names = {
      {"42001f", "baseline"},
      {"42e01f", "constrained-baseline"},
      {"4d0028", "main"},
      {"640c1f", "constrained-high"},
      {"64081f", "progressive-high"},
      {"64001f", "high"},
      {"zz", nullptr}};
  for (size_t i = 0; i < names.size(); i++)
    if (g_strcmp0(roomcast::h264_profile_name(names[i].first), names[i].second) != 0)
      fail_row("h264 profile name", i, names[i].first);
}

// ---- media watch ----------------------------------------------------------------------------

// One look of a scenario, at `t_s` (seconds, 5 s timeout): what the viewer sees, and whether the
// watch says "join again". `restart` marks a (re)join before the look.
struct WatchStep {
  double t_s;
  roomcast::MediaWatch::Sample sample;
  bool want;
  bool restart = false;
};

void test_media_watch() {
  using S = roomcast::MediaWatch::Sample;
  const S none{}, host{"pH"}, refused{"pH", true};
  // A connected session with the host that received `bytes` so far.
  auto us = [](double t_s) { return static_cast<std::int64_t>(t_s * 1e6); };
  auto media = [](std::uint64_t bytes, std::int64_t rtcp = 0) {
    return S{"pH", false, "pH", 0, 1, bytes, rtcp};
  };
  // A session made at `t_s` that has not connected; one made at `t_s` that connected at `c_s`.
  auto offered = [&](double t_s) { return S{"pH", false, "pH", us(t_s)}; };
  auto connected = [&](double t_s, double c_s) { return S{"pH", false, "pH", us(t_s), us(c_s)}; };
  const std::vector<std::pair<const char *, std::vector<WatchStep>>> scenarios = {
      {"no host: nothing to wait for, ever",
       {{0, none, false, true}, {5, none, false}, {60, none, false}}},
      {"media flowing: never",
       {{0, media(0), false, true},
        {3, media(100), false},
        {6, media(200), false},
        {9, media(300), false},
        {12, media(400), false}}},
      {"media stops: after the timeout, counted from the last byte",
       {{0, media(100), false, true},
        {1, media(200), false},
        {5, media(200), false},
        {5.9, media(200), false},
        {6, media(200), true}}},
      {"RTCP alone counts as life (a host sending nothing new)",
       {{0, media(100, 1), false, true},
        {4, media(100, 2), false},
        {8, media(100, 3), false},
        {12, media(100, 3), false},
        {13, media(100, 3), true}}},
      {"counters that fall (stats of a timed-out source dropped) are no life",
       {{0, media(900), false, true},
        {1, media(1000), false},
        {2, media(990), false},
        {3, media(0), false},
        {4, media(500), false},
        {5.9, media(1000), false},
        {6, media(1000), true}}},
      {"a host that never offers", {{0, host, false, true}, {4.9, host, false}, {5, host, true}}},
      {"once a connection was seen, a session not connected 3 s after it was made will not",
       {{0, media(10), false, true},
        {1, offered(1), false, true},
        {3.9, offered(1), false},
        {4, offered(1), true}}},
      {"... counted from when it was made, not from our first look at it",
       {{0, media(10), false, true},
        {1, host, false, true},
        {2, offered(1.5), false},
        {4.4, offered(1.5), false},
        {4.5, offered(1.5), true}}},
      {"... but never sooner than 3 s after a rejoin",
       {{0, media(10), false, true},
        {1, offered(0.5), false, true},
        {3.9, offered(0.5), false},
        {4, offered(0.5), true}}},
      {"before any connection was seen, a session gets the media timeout",
       {{0, host, false, true},
        {1, offered(1), false},
        {5.9, offered(1), false},
        {6, offered(1), true}}},
      {"a slow path keeps its chance: twice the slowest connection seen",
       {{0, host, false, true},
        {1, offered(1), false},
        {4, connected(1, 3.5), false},
        {4.5, media(100), false},
        {5, offered(5), false, true},
        {9.9, offered(5), false},
        {10, offered(5), true}}},
      {"a session that connects in time gets the media timeout",
       {{0, host, false, true},
        {1, offered(1), false},
        {2, connected(1, 1.5), false},
        {3, media(100), false},
        {7.9, media(100), false},
        {8, media(100), true}}},
      {"the host arrives late: the clock starts when it comes",
       {{0, none, false, true},
        {30, none, false},
        {31, host, false},
        {35, host, false},
        {36, host, true}}},
      {"a refused viewer does not rejoin; a new host is tried",
       {{0, refused, false, true},
        {30, refused, false},
        {31, S{"pH2"}, false},
        {35.9, S{"pH2"}, false},
        {36, S{"pH2"}, true}}},
      {"a rejoin starts a whole timeout again",
       {{0, media(100), false, true},
        {5, media(100), true},
        {5, host, false, true},
        {9.9, host, false},
        {10, host, true}}},
      {"a new session (new host id, bytes from 0) is life",
       {{0, media(500), false, true},
        {4, media(500), false},
        {4.5, S{"pH2", false, "pH2", 0, 1}, false},
        {9, S{"pH2", false, "pH2", 0, 1}, false},
        {9.5, S{"pH2", false, "pH2", 0, 1}, true}}},
  };
  for (const auto &[name, steps] : scenarios) {
    roomcast::MediaWatch watch(5'000'000);
    for (size_t i = 0; i < steps.size(); i++) {
      const WatchStep &st = steps[i];
      auto now = static_cast<std::int64_t>(st.t_s * 1e6);
      if (st.restart) watch.restart(now);
      bool got = watch.stalled(now, st.sample);
      if (got != st.want)
        fail_row(std::string("media watch: ") + name, i,
                 g_strdup_printf("at %.1f s: got %s", st.t_s, got ? "rejoin" : "wait"));
    }
  }
  // Fruitless rejoins in a row: after kFastTries of them the watch waits kSlowFactor times
  // longer (and no longer allows an immediate rejoin), until media flows again.
  {
    roomcast::MediaWatch watch(5'000'000);
    std::int64_t t = 0;
    watch.restart(t);
    watch.stalled(t, host);
    for (unsigned i = 0; i < roomcast::MediaWatch::kFastTries; i++) {
      if (!watch.may_rejoin_now()) fail_row("media watch: fruitless rejoins", i, "slowed early");
      t += 5'000'000;
      if (!watch.stalled(t, host))
        fail_row("media watch: fruitless rejoins", i, "no rejoin at 5 s");
      watch.rejoining();
      watch.restart(t);
      watch.stalled(t, host);
    }
    if (watch.may_rejoin_now()) fail_row("media watch: fruitless rejoins", 12, "not slowed");
    if (watch.stalled(t + 29'000'000, host)) fail_row("media watch: slowed", 0, "rejoin at 29 s");
    if (!watch.stalled(t + 30'000'000, host)) fail_row("media watch: slowed", 1, "none at 30 s");
    watch.rejoining();
    watch.restart(t + 30'000'000);
    // Media flows again: fast again.
    watch.stalled(t + 31'000'000, media(10));
    watch.stalled(t + 32'000'000, media(20));
    if (!watch.may_rejoin_now() || watch.timeout() != 5'000'000)
      fail_row("media watch: slowed", 2, "media did not make it fast again");
  }
  // Timeout 0: never.
  roomcast::MediaWatch off(0);
  off.restart(0);
  for (std::int64_t t = 0; t < 100'000'000; t += 1'000'000)
    if (off.stalled(t, host)) fail_row("media watch: timeout 0", 0, "rejoined");
}

// The jitterbuffer latency fitted to the link: up at once, down only after a quiet while.
void test_latency_fit() {
  using roomcast::LatencyFit;
  struct Step {
    unsigned rtt_ms, jitter_ms;
    bool lossy;
    std::optional<unsigned> want; // the new latency, or none (unchanged)
  };
  struct Case {
    const char *name;
    LatencyFit::Limits limits;
    std::vector<Step> steps;
  };
  // needed = 3 jitter + 20, and with loss + 50 + 30 + 4 rtt; within [floor, ceiling]
  const Step quiet{0, 0, false, {}};
  const std::vector<Case> cases = {
      {"a clean link keeps the floor", {50, 1000}, {quiet, {1, 5, false, {}}, quiet}},
      {"jitter alone raises it (3 x 20 + 20)", {50, 1000}, {{0, 20, false, 80}}},
      {"loss on loopback: 104 ms (a frame's wait and the feedback)",
       {50, 1000},
       {{1, 0, true, 104}}},
      {"less than 10 ms more is not worth a change",
       {100, 1000},
       {{2, 0, true, {}}, {3, 0, true, 112}}},
      {"a lossy 100 ms round trip with 10 ms jitter: 530 ms at once",
       {50, 1000},
       {quiet, {100, 10, true, 530}, {100, 10, true, {}}}},
      {"more jitter raises it further; a little less changes nothing",
       {50, 1000},
       {{100, 10, true, 530}, {100, 20, true, 560}, {90, 15, true, {}}}},
      {"the ceiling holds", {50, 400}, {{300, 50, true, 400}, {500, 0, true, {}}}},
      {"a floor above the need is kept", {300, 1000}, {{40, 5, true, {}}, {45, 5, true, {}}}},
      {"down only after ten quiet samples",
       {50, 1000},
       {{100, 10, true, 530},
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        {0, 0, false, 50}}},
      {"a lossy sample in between starts the quiet count again",
       {50, 1000},
       {{100, 10, true, 530},
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        {100, 10, true, {}},
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        quiet,
        {0, 0, false, 50}}},
      {"a small drop (under 50 ms) is not worth a change",
       {50, 1000},
       {{100, 10, true, 530},
        {100, 0, true, {}},
        {100, 0, true, {}},
        {100, 0, true, {}},
        {100, 0, true, {}},
        {100, 0, true, {}},
        {100, 0, true, {}},
        {100, 0, true, {}},
        {100, 0, true, {}},
        {100, 0, true, {}},
        {100, 0, true, {}},
        {100, 0, true, {}}}},
  };
  for (const auto &c : cases) {
    LatencyFit fit(c.limits);
    for (size_t i = 0; i < c.steps.size(); i++) {
      const Step &st = c.steps[i];
      auto got = fit.sample(st.rtt_ms, st.jitter_ms, st.lossy);
      bool same = got.has_value() == st.want.has_value() && (!got || *got == *st.want);
      if (!same) {
        g_autofree char *what =
            g_strdup_printf("got %s%u, want %s%u", got ? "" : "none/", got ? *got : 0u,
                            st.want ? "" : "none/", st.want ? *st.want : 0u);
        fail_row(std::string("latency fit: ") + c.name, i, what);
      }
    }
  }
}

// The retransmission budget: earned by packets sent, spent by requests, capped at a burst.
void test_rtx_budget() {
  struct Step {
    const char *what;
    unsigned sent;                           // packets sent first
    unsigned asked;                          // then requests
    unsigned granted;                        // how many of them were granted
    bool empty = false;                      // empty() first (congestion)
    unsigned extras = 0, extras_granted = 0; // then second copies asked, granted
    double limit = -1;                       // >= 0: limit(it) first (a failed padding probe)
  };
  struct Case {
    const char *name;
    double per_packet, burst;
    std::vector<Step> steps;
  };
  const std::vector<Case> cases = {
      {"the burst is there from the start", 0.5, 10, {{"start", 0, 12, 10}}},
      {"half a retransmission per packet sent",
       0.5,
       10,
       {{"spend the burst", 0, 10, 10},
        {"20 sent earn 10", 20, 15, 10},
        {"1 sent earns half", 1, 1, 0},
        {"another half makes one", 1, 1, 1}}},
      {"savings stop at the burst", 0.5, 10, {{"spend", 0, 10, 10}, {"1000 sent", 1000, 50, 10}}},
      {"5% loss fits: 100 sent, 10 asked, always granted",
       0.5,
       200,
       {{"1", 100, 10, 10}, {"2", 100, 10, 10}, {"3", 100, 10, 10}, {"4", 100, 10, 10}}},
      {"a slow viewer asking for everything gets half",
       0.5,
       50,
       {{"1", 100, 100, 50}, {"2", 100, 100, 50}}},
      {"congestion spends the savings",
       0.5,
       200,
       {{"saved", 0, 0, 0}, {"congested", 0, 50, 0, true}, {"then earned again", 20, 50, 10}}},
      {"a failed padding probe leaves a few, then earns as before",
       0.5,
       200,
       {{"saved", 0, 0, 0},
        {"limited to 10", 0, 50, 10, false, 0, 0, 10},
        {"then earned again", 20, 50, 10},
        {"a limit above the savings takes nothing", 0, 0, 0, false, 0, 0, 10},
        {"none left", 0, 5, 0}}},
      {"second copies while more than half the savings are left",
       0.5,
       10,
       {{"copies only", 0, 0, 0, false, 8, 5}, {"requests still have the rest", 0, 6, 5}}},
      {"5% loss: every retransmission has its copy",
       0.5,
       200,
       {{"1", 100, 10, 10, false, 10, 10},
        {"2", 100, 10, 10, false, 10, 10},
        {"3", 100, 10, 10, false, 10, 10}}},
      {"a slow viewer asking for everything gets no copies",
       0.5,
       50,
       {{"1", 100, 100, 50, false, 50, 0}, {"2", 100, 100, 50, false, 50, 0}}},
  };
  for (const auto &c : cases) {
    roomcast::RtxBudget b(c.per_packet, c.burst);
    std::uint64_t refused = 0;
    for (size_t i = 0; i < c.steps.size(); i++) {
      const Step &st = c.steps[i];
      if (st.empty) b.empty();
      if (st.limit >= 0) b.limit(st.limit);
      b.sent(st.sent);
      unsigned granted = 0;
      for (unsigned k = 0; k < st.asked; k++)
        granted += b.take() ? 1 : 0;
      refused += st.asked - granted;
      unsigned extras = 0;
      for (unsigned k = 0; k < st.extras; k++)
        extras += b.take_extra() ? 1 : 0;
      if (extras != st.extras_granted) {
        g_autofree char *what =
            g_strdup_printf("%s: %u copies, want %u", st.what, extras, st.extras_granted);
        fail_row(std::string("rtx budget: ") + c.name, i, what);
      }
      if (granted != st.granted) {
        g_autofree char *what =
            g_strdup_printf("%s: granted %u, want %u", st.what, granted, st.granted);
        fail_row(std::string("rtx budget: ") + c.name, i, what);
      }
    }
    if (b.refused() != refused) fail_row(std::string("rtx budget: ") + c.name, 99, "refused count");
  }
}

} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  gst_init(&argc, &argv);
  g_test_add_func("/policy/keyframe-limiter/scenarios", test_keyframe_limiter);
  g_test_add_func("/policy/keyframe-limiter/interval-change",
                  test_keyframe_limiter_interval_change);
  g_test_add_func("/policy/peer-plan", test_peer_plan);
  g_test_add_func("/policy/h264-profile-level-id", test_h264_profile_level_id);
  g_test_add_func("/policy/offered-payload", test_offered_payload);
  g_test_add_func("/policy/media-watch", test_media_watch);
  g_test_add_func("/policy/latency-fit", test_latency_fit);
  g_test_add_func("/policy/rtx-budget", test_rtx_budget);
  return g_test_run();
}
