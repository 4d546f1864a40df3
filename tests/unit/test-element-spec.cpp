// The element spec (issue 13, item 6): roomcastsink and roomcastsrc as an application sees them
// (properties, signals, pads, the bus, `stats`, the in-process signaller), through the harness in
// element-harness.h. These cases are what a rewrite of the elements' internals must pass.
//
// Written against the elements before the redesign, as its spec: the cases the old code failed
// (release_pad deadlock, no end-peer, no roomcastsrc signals/stats, orphaned webrtcbins when a
// stop met a leave, a healthy viewer timed out by its 5 s RTCP interval) pass since.
#include <algorithm>
#include <atomic>
#include <map>
#include <set>

#include <gst/sdp/sdp.h>

#include "element-harness.h"
#include "gstroomcastsink.h"
#include "gstroomcastsrc.h"
#include "sdp-checks.h"

// Last: gstcheck.h defines macros (fail, ...) that clash with names in the C++ library headers.
#include <gst/check/gstcheck.h>

#include <unistd.h>

using namespace spec;
namespace sdpc = spec::sdp;

static const GstWebRTCSDPType OFFER = GST_WEBRTC_SDP_TYPE_OFFER;
static const GstWebRTCSDPType ANSWER = GST_WEBRTC_SDP_TYPE_ANSWER;

using SdpCheck = std::function<sdpc::Problems(const GstSDPMessage *)>;

// Parses a captured SDP and fails with every problem `check` finds (and the SDP itself).
static void assert_sdp(const SdpRecord &r, const SdpCheck &check, const char *what) {
  GstSDPMessage *msg = sdpc::parse(r.text);
  fail_unless(msg != nullptr, "%s is not SDP:\n%s", what, r.text.c_str());
  sdpc::Problems problems = check(msg);
  gst_sdp_message_free(msg);
  fail_unless(problems.empty(), "%s: %s\n%s", what, sdpc::describe(problems).c_str(),
              r.text.c_str());
}

// What an offer must say: direction, one video codec with an rtpmap for every payload, the
// feedback a sender needs (retransmission requests, picture loss, full intra requests), and for
// H.264 the profile-level-id of the stream.
static const std::vector<std::string> kOfferFeedback = {"nack", "nack pli", "ccm fir"};
// An answer (webrtcbin writes it from the offer) must keep keyframe requests working. webrtcbin
// drops plain "nack" and H.264's profile-level-id from answers unless asked (do-nack, codec
// preferences), so they are not required there.
static const std::vector<std::string> kAnswerFeedback = {"nack pli", "ccm fir"};

static SdpCheck video_sdp(const std::string &dir, const std::string &codec,
                          const std::vector<std::string> &feedback,
                          const std::string &h264_prefix = "") {
  return [=](const GstSDPMessage *m) {
    sdpc::Problems p = sdpc::check_directions(m, dir);
    sdpc::add(p, sdpc::check_rtpmaps(m));
    sdpc::add(p, sdpc::check_codecs(m, "video", {codec}));
    sdpc::add(p, sdpc::check_feedback(m, "video", codec, feedback));
    if (!h264_prefix.empty()) sdpc::add(p, sdpc::check_h264(m, h264_prefix));
    return p;
  };
}

static std::string replaced(std::string s, const std::string &from, const std::string &to) {
  auto at = s.find(from);
  fail_unless(at != std::string::npos, "'%s' not in the test SDP", from.c_str());
  return s.replace(at, from.size(), to);
}

static bool ended_with(Harness &h, const std::string &at, const std::string &from,
                       const std::string &reason) {
  for (const auto &e : h.peer_ended(at))
    if (e.from == from && e.reason == reason) return true;
  return false;
}

// ---- the validators and the harness themselves --------------------------------------------------

static const char *kVp8Offer = "v=0\r\n"
                               "o=- 1 0 IN IP4 0.0.0.0\r\n"
                               "s=-\r\n"
                               "t=0 0\r\n"
                               "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
                               "c=IN IP4 0.0.0.0\r\n"
                               "a=mid:video0\r\n"
                               "a=sendonly\r\n"
                               "a=rtpmap:96 VP8/90000\r\n"
                               "a=rtcp-fb:96 nack\r\n"
                               "a=rtcp-fb:96 nack pli\r\n"
                               "a=rtcp-fb:96 ccm fir\r\n"
                               "a=rtpmap:97 rtx/90000\r\n"
                               "a=fmtp:97 apt=96\r\n";

static const char *kH264Offer =
    "v=0\r\n"
    "o=- 1 0 IN IP4 0.0.0.0\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 102\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:video0\r\n"
    "a=sendonly\r\n"
    "a=rtpmap:102 H264/90000\r\n"
    "a=rtcp-fb:102 nack\r\n"
    "a=rtcp-fb:102 nack pli\r\n"
    "a=rtcp-fb:* ccm fir\r\n"
    "a=fmtp:102 packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1\r\n";

// Each validator accepts a good SDP and finds each kind of damage.
GST_START_TEST(test_sdp_validators_find_problems) {
  auto problems = [](const std::string &text, const SdpCheck &check) {
    GstSDPMessage *msg = sdpc::parse(text);
    fail_unless(msg != nullptr);
    sdpc::Problems p = check(msg);
    gst_sdp_message_free(msg);
    return sdpc::describe(p);
  };
  auto vp8 = video_sdp("sendonly", "VP8", kOfferFeedback);
  auto h264 = video_sdp("sendonly", "H264", kOfferFeedback, "42e0");
  fail_unless_equals_string(problems(kVp8Offer, vp8).c_str(), "ok");
  fail_unless_equals_string(problems(kH264Offer, h264).c_str(), "ok");

  struct Damage {
    const char *base, *from, *to, *found;
    bool h264;
  } damages[] = {
      {kVp8Offer, "a=sendonly", "a=recvonly", "is recvonly, expected sendonly", false},
      {kVp8Offer, "a=sendonly\r\n", "", "is sendrecv, expected sendonly", false},
      {kVp8Offer, "m=video 9", "m=video 0", "rejected (port 0)", false},
      {kVp8Offer, "a=rtpmap:97 rtx/90000\r\n", "", "payload 97 has no rtpmap", false},
      {kVp8Offer, "96 97\r\n", "96 97 98\r\n", "payload 98 has no rtpmap", false},
      {kVp8Offer, "a=fmtp:97", "a=fmtp:99", "payload 99 which the m-line does not list", false},
      {kVp8Offer, "a=rtcp-fb:96 nack pli\r\n", "", "lacks a=rtcp-fb nack pli", false},
      {kVp8Offer, "a=rtcp-fb:96 ccm fir\r\n", "", "lacks a=rtcp-fb ccm fir", false},
      {kVp8Offer, "a=rtcp-fb:96 nack\r\n", "", "lacks a=rtcp-fb nack", false},
      {kVp8Offer, "VP8/90000", "VP9/90000", "offers {VP9}, expected {VP8}", false},
      {kH264Offer, "42e01f", "42e01", "not six hex digits", true},
      {kH264Offer, "42e01f", "42e01g", "not six hex digits", true},
      {kH264Offer, "42e01f", "4d001f", "expected 42e0xx", true},
      {kH264Offer, "42e01f", "42001f", "expected 42e0xx", true},
      {kH264Offer, "packetization-mode=1", "packetization-mode=0", "packetization-mode '0'", true},
      {kH264Offer, "a=fmtp:102 ", "a=fmtp:102 x=1;", "ok", true}, // extra params are fine
      {kH264Offer, "H264/90000", "VP8/90000", "no H264 payload", true},
  };
  for (const auto &d : damages) {
    std::string text = replaced(d.base, d.from, d.to);
    std::string got = problems(text, d.h264 ? h264 : vp8);
    fail_unless(got.find(d.found) != std::string::npos, "'%s' -> '%s': expected '%s', got '%s'",
                d.from, d.to, d.found, got.c_str());
  }

  // Session-level direction applies where an m-line has none.
  std::string session =
      replaced(replaced(kVp8Offer, "a=sendonly\r\n", ""), "t=0 0\r\n", "t=0 0\r\na=recvonly\r\n");
  GstSDPMessage *msg = sdpc::parse(session);
  fail_unless_equals_string(sdpc::direction(msg, 0).c_str(), "recvonly");
  gst_sdp_message_free(msg);
  fail_unless(sdpc::parse("not an sdp") == nullptr);
  fail_unless_equals_string(sdpc::h264_profile_prefix("high").c_str(), "6400");
}
GST_END_TEST;

static GstPadProbeReturn pass(GstPad *, GstPadProbeInfo *, gpointer) {
  return GST_PAD_PROBE_OK;
}

// The default hooks see what they must (an ERROR, an undeclared WARNING, a pad removal, a
// peer-removed), the declared things pass, and a wait ends at its deadline, not before.
GST_START_TEST(test_harness_hooks_catch_the_unexpected) {
  Harness h;
  gint64 t0 = g_get_monotonic_time();
  fail_if(h.becomes_true_within(0.3, []() { return false; }));
  double waited = (g_get_monotonic_time() - t0) / 1e6;
  fail_unless(waited >= 0.3 && waited < 2.0, "waited %.2f s for a 0.3 s deadline", waited);
  h.run_with_deadline("a quick job", 5, []() {});

  GstElement *p = h.pipeline("bus", "fakesrc name=src ! fakesink");
  GstElement *src = gst_bin_get_by_name(GST_BIN(p), "src");
  auto post = [&](bool error, const char *text) {
    GError *err = g_error_new_literal(GST_CORE_ERROR, GST_CORE_ERROR_FAILED, text);
    gst_element_post_message(src, error
                                      ? gst_message_new_error(GST_OBJECT(src), err, "provoked")
                                      : gst_message_new_warning(GST_OBJECT(src), err, "provoked"));
    g_error_free(err);
  };
  h.allow_warning("src", "tolerable");
  post(false, "a tolerable warning");
  fail_unless_equals_int(h.violations().size(), 0);
  fail_unless_equals_int(h.warnings().size(), 1);
  post(false, "a surprising warning");
  fail_unless_equals_int(h.violations().size(), 1);
  post(true, "an error");
  fail_unless_equals_int(h.violations().size(), 2);
  gst_object_unref(src);

  GstElement *sink =
      GST_ELEMENT(gst_object_ref_sink(gst_element_factory_make("roomcastsink", nullptr)));
  h.watch(sink, "lonely");
  GstPad *pad = gst_element_request_pad_simple(sink, "audio_%u");
  fail_unless(pad != nullptr);
  h.run_with_deadline("releasing audio_0", 5,
                      [&]() { gst_element_release_request_pad(sink, pad); });
  gst_object_unref(pad);
  fail_unless_equals_int(h.violations().size(), 3);
  g_signal_emit_by_name(sink, "peer-removed", "d42");
  auto v = h.violations();
  fail_unless_equals_int(v.size(), 5); // without a peer-added, and not expected
  fail_unless(v[2].find("unexpected removal of pad audio_0") != std::string::npos, "%s",
              v[2].c_str());
  fail_unless(v[4].find("unexpected peer-removed(d42)") != std::string::npos, "%s", v[4].c_str());
  gst_object_unref(sink);
}
GST_END_TEST;

// ---- host and viewer ----------------------------------------------------------------------------

// A host, a roomcastsrc viewer, VP8: frames, pads, the SDPs both ways, stats.
GST_START_TEST(test_host_to_viewer_vp8) {
  Harness h;
  Node &host = h.host("host", "vp8");
  h.viewer("viewer", "vp8");
  std::string host_id = h.id_of("host"), viewer_id = h.id_of("viewer");
  h.set_stage(Stage::Negotiating);
  h.wait_frames("viewer", host_id, 30, 20);
  h.set_stage(Stage::Streaming);

  auto pads = h.pads("viewer");
  fail_unless_equals_int(pads.size(), 1);
  fail_unless(pads[0].roomcast_pad, "roomcastsrc's %s is not a GstRoomcastPad",
              pads[0].name.c_str());
  fail_unless(g_str_has_prefix(pads[0].name.c_str(), "video_"), "%s", pads[0].name.c_str());
  fail_unless_equals_string(pads[0].peer_id.c_str(), host_id.c_str());
  fail_unless_equals_string(pads[0].media.c_str(), "video/x-raw");
  fail_unless_equals_int(h.peer_added("host"), 1);
  fail_unless_equals_int(h.peer_added("host", viewer_id), 1);
  fail_unless(h.webrtcbin_inside("host", viewer_id));

  SdpRecord offer = h.wait_sdp("viewer", host_id, OFFER, 5);
  assert_sdp(offer, video_sdp("sendonly", "VP8", kOfferFeedback), "the host's offer");
  SdpRecord answer = h.wait_sdp("host", viewer_id, ANSWER, 5);
  assert_sdp(answer, video_sdp("recvonly", "VP8", kAnswerFeedback), "the viewer's answer");
  fail_unless_equals_int(h.count_sdp("viewer", host_id, OFFER), 1);
  fail_unless_equals_int(h.count_sdp("host", viewer_id, ANSWER), 1);

  Stats st;
  h.wait_for("host stats: one connected peer, bitrate > 0", 15, [&]() {
    st = read_stats(host.element);
    const PeerStats *p = st.peer(viewer_id);
    return st.peer_count == 1 && p && p->connected && p->bitrate > 0;
  });
  fail_unless(st.frames > 0, "%s", st.text.c_str());
  h.finish();
}
GST_END_TEST;

// H.264: raw input encoded by the sink (codec=h264), and input already encoded by x264enc in
// three profiles. The offer's profile-level-id must say what the stream is.
struct H264Case {
  const char *what;
  const char *profile; // x264enc's output profile; nullptr: raw input, the sink encodes
  const char *props;
  const char *prefix;
};
static const H264Case h264_cases[] = {
    {"raw input, codec=h264", nullptr, "codec=h264", "42e0"},
    {"x264enc constrained-baseline", "constrained-baseline", "", "42e0"},
    {"x264enc main", "main", "", "4d00"},
    {"x264enc high", "high", "", "6400"},
};

GST_START_TEST(test_h264_profile_level_id) {
  const H264Case &c = h264_cases[__i__];
  GST_INFO("case: %s", c.what);
  std::string source = kVideoSource;
  if (c.profile)
    source += std::string(" ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 "
                          "threads=1 ! video/x-h264,profile=") +
              c.profile;
  Harness h;
  Node &host = h.host("host", "h264", c.props, source);
  h.viewer("viewer", "h264");
  std::string host_id = h.id_of("host"), viewer_id = h.id_of("viewer");
  h.set_stage(Stage::Negotiating);
  h.wait_frames("viewer", host_id, 20, 25);
  h.set_stage(Stage::Streaming);

  if (c.profile) { // the input really is what the case says
    GstPad *in = gst_element_get_static_pad(host.element, "video_0");
    fail_unless(in != nullptr);
    GstCaps *caps = gst_pad_get_current_caps(in);
    fail_unless(caps != nullptr);
    const char *profile = gst_structure_get_string(gst_caps_get_structure(caps, 0), "profile");
    fail_unless_equals_string(profile, c.profile);
    fail_unless_equals_string(sdpc::h264_profile_prefix(profile).c_str(), c.prefix);
    gst_caps_unref(caps);
    gst_object_unref(in);
  }
  SdpRecord offer = h.wait_sdp("viewer", host_id, OFFER, 5);
  std::string what = std::string(c.what) + ": the host's offer";
  assert_sdp(offer, video_sdp("sendonly", "H264", kOfferFeedback, c.prefix), what.c_str());
  SdpRecord answer = h.wait_sdp("host", viewer_id, ANSWER, 5);
  what = std::string(c.what) + ": the viewer's answer";
  assert_sdp(answer, video_sdp("recvonly", "H264", kAnswerFeedback), what.c_str());
  h.finish();
}
GST_END_TEST;

// ---- meeting ------------------------------------------------------------------------------------

// Three roomcastsink role=member, one pipeline each: every member exposes src_<peer>_<n> for the
// two others (peer-id, peer-name right), every pair negotiates sendrecv once, all decode.
GST_START_TEST(test_meeting_three_members) {
  Harness h;
  const std::vector<std::string> names = {"alice", "bob", "carol"};
  std::map<std::string, std::string> id;
  for (const auto &n : names) {
    h.host(n, "meet", "role=member display-name=" + n);
    id[n] = h.id_of(n);
  }
  h.set_stage(Stage::Negotiating);
  for (const auto &a : names)
    for (const auto &b : names)
      if (a != b) h.wait_frames(a, id[b], 15, 40);
  h.set_stage(Stage::Streaming);

  for (const auto &a : names) {
    std::set<std::string> others, added;
    for (const auto &b : names)
      if (b != a) others.insert(id[b]);
    for (const auto &p : h.peers_added(a))
      fail_unless(added.insert(p).second, "%s: peer-added(%s) twice", a.c_str(), p.c_str());
    fail_unless(added == others, "%s added %zu peers", a.c_str(), added.size());
    for (const auto &p : h.pads(a)) {
      fail_unless(p.roomcast_pad, "%s: %s is not a GstRoomcastPad", a.c_str(), p.name.c_str());
      fail_unless(others.contains(p.peer_id), "%s: pad %s for unknown peer '%s'", a.c_str(),
                  p.name.c_str(), p.peer_id.c_str());
      std::string from_name;
      for (const auto &b : names)
        if (id[b] == p.peer_id) from_name = b;
      std::string prefix = "src_" + p.peer_id + "_";
      fail_unless(g_str_has_prefix(p.name.c_str(), prefix.c_str()), "%s: pad %s, expected %s<n>",
                  a.c_str(), p.name.c_str(), prefix.c_str());
      fail_unless_equals_string(p.peer_name.c_str(), from_name.c_str());
    }
  }
  // One offer and one answer per pair, the other way round, both sendrecv.
  for (size_t i = 0; i < names.size(); i++)
    for (size_t j = i + 1; j < names.size(); j++) {
      const std::string &a = names[i], &b = names[j];
      int ab = h.count_sdp(b, id[a], OFFER), ba = h.count_sdp(a, id[b], OFFER);
      fail_unless(ab + ba == 1, "%s/%s: %d offers", a.c_str(), b.c_str(), ab + ba);
      const std::string &offerer = ab ? a : b, &answerer = ab ? b : a;
      fail_unless_equals_int(h.count_sdp(offerer, id[answerer], ANSWER), 1);
      std::string what = offerer + "'s offer to " + answerer;
      assert_sdp(h.wait_sdp(answerer, id[offerer], OFFER, 1),
                 video_sdp("sendrecv", "VP8", kOfferFeedback), what.c_str());
      what = answerer + "'s answer to " + offerer;
      assert_sdp(h.wait_sdp(offerer, id[answerer], ANSWER, 1),
                 video_sdp("sendrecv", "VP8", kAnswerFeedback), what.c_str());
    }
  h.finish();
}
GST_END_TEST;

// ---- peers that come early, go quiet, are too many ----------------------------------------------

// A viewer that joins while the host's input has no caps yet gets its offer once they arrive.
// Iteration 0: host first, viewer joins before caps. Iteration 1: the viewer is in the room
// before the host starts.
GST_START_TEST(test_viewer_waits_for_caps) {
  bool viewer_first = __i__ == 1;
  Harness h;
  std::string viewer_id;
  if (viewer_first) {
    h.viewer("viewer", "early");
    viewer_id = h.id_of("viewer");
  }
  Node &host = h.host("host", "early", "",
                      "videotestsrc name=vsrc is-live=true pattern=ball ! "
                      "video/x-raw,format=I420,width=320,height=240,framerate=15/1",
                      false);
  // Hold the source back: not even its caps reach the sink.
  GstElement *vsrc = gst_bin_get_by_name(GST_BIN(host.pipeline), "vsrc");
  GstPad *out = gst_element_get_static_pad(vsrc, "src");
  gulong block =
      gst_pad_add_probe(out, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM, pass, nullptr, nullptr);
  h.play(host.pipeline);
  std::string host_id = h.id_of("host");
  if (!viewer_first) {
    h.viewer("viewer", "early");
    viewer_id = h.id_of("viewer");
  }
  h.wait_for("the host to see the viewer", 10,
             [&]() { return h.saw_peer_joined("host", viewer_id); });
  h.set_stage(Stage::Negotiating);
  fail_if(h.becomes_true_within(1.0, [&]() { return h.count_sdp("viewer", host_id, OFFER) > 0; }),
          "the host offered before its input had caps");
  gst_pad_remove_probe(out, block);
  h.wait_frames("viewer", host_id, 20, 20);
  h.set_stage(Stage::Streaming);
  fail_unless_equals_int(h.count_sdp("viewer", host_id, OFFER), 1);
  fail_unless_equals_int(h.peer_added("host", viewer_id), 1);
  gst_object_unref(out);
  gst_object_unref(vsrc);
  h.finish();
}
GST_END_TEST;

// peer-timeout: a peer that stops sending RTCP (its webrtcbin goes to NULL; it stays in the room)
// is removed within bounds while another viewer keeps decoding, and healthy peers outlive the
// timeout. The test peer sends RTCP like a browser (about every second); the other viewer is a
// roomcastsrc.
//
// Iteration 0 is the spec, peer-timeout=2. On today's code it fails early: roomcastsrc's
// webrtcbin sends regular RTCP only every ~5 s (rtpsession's minimum interval) and the host
// counts only SR/RR report blocks (on-ssrc-active) as signs of life, so it drops the healthy
// roomcastsrc viewer. Iteration 1, peer-timeout=8, is above that interval (randomised to at most
// ~6.2 s): it checks the removal itself on today's code.
struct TimeoutCase {
  guint timeout_s;
  double max_s; // removal at most this long after the peer went quiet
};
static const TimeoutCase timeout_cases[] = {{2, 8.0}, {8, 16.0}};

GST_START_TEST(test_peer_timeout_removes_a_quiet_peer) {
  const TimeoutCase &c = timeout_cases[__i__];
  Harness h;
  Node &host = h.host("host", "quiet", "peer-timeout=" + std::to_string(c.timeout_s));
  h.viewer("viewer", "quiet");
  TestPeer &quiet = h.test_peer("quiet", "quiet");
  quiet.join();
  std::string host_id = h.id_of("host"), viewer_id = h.id_of("viewer"), quiet_id = h.id_of("quiet");
  h.set_stage(Stage::Negotiating);
  h.wait_for("the test peer to connect and get media", 20,
             [&]() { return quiet.has(PEER_CONNECTED | PEER_MEDIA); });
  h.wait_frames("viewer", host_id, 15, 20);
  h.wait_for("host stats: the test peer connected", 10, [&]() {
    const PeerStats *p = read_stats(host.element).peer(quiet_id);
    return p && p->connected;
  });
  // Healthy peers outlive the timeout (an unexpected peer-removed fails here).
  h.set_stage(Stage::Streaming);
  fail_if(h.becomes_true_within(c.timeout_s + 1.5, [&]() { return h.peer_removed("host") > 0; }));

  h.set_stage(Stage::Disturbing);
  h.expect_peer_removed("host", quiet_id);
  guint64 f0 = h.frames("viewer");
  gint64 t0 = g_get_monotonic_time();
  quiet.stop_media();
  h.wait_peer_removed("host", quiet_id, c.max_s + 4);
  double dt = (h.peer_removed_at("host", quiet_id) - t0) / 1e6;
  fail_unless(dt >= 0.5 && dt <= c.max_s, "removed %.2f s after it went quiet (peer-timeout=%u)",
              dt, c.timeout_s);
  guint64 f1 = h.frames("viewer");
  fail_unless(f1 >= f0 + guint64(dt * 15 / 2),
              "the viewer decoded %" G_GUINT64_FORMAT " frames in %.1f s meanwhile", f1 - f0, dt);
  h.wait_frames("viewer", host_id, f1 + 15, 5);
  Stats st = read_stats(host.element);
  fail_unless(st.peer_count == 1 && st.peer(viewer_id), "%s", st.text.c_str());
  fail_if(h.webrtcbin_inside("host", quiet_id), "the quiet peer's webrtcbin is still in the host");

  // The host tells the peer why (end_peer -> peer-ended).
  h.wait_for("peer-ended(reason=timeout) from the host at the test peer", 3,
             [&]() { return ended_with(h, "quiet", host_id, "timeout"); });
  h.finish();
}
GST_END_TEST;

// max-peers=1: one viewer is served, the second is not (and is told so), and the host goes on
// after the first leaves.
GST_START_TEST(test_max_peers) {
  Harness h;
  Node &host = h.host("host", "full", "max-peers=1");
  Node &first = h.viewer("first", "full");
  std::string host_id = h.id_of("host"), first_id = h.id_of("first");
  h.set_stage(Stage::Negotiating);
  h.wait_frames("first", host_id, 10, 20);

  h.set_stage(Stage::Disturbing);
  TestPeer &second = h.test_peer("second", "full");
  second.join();
  std::string second_id = h.id_of("second");
  h.wait_for("the host to see the second viewer", 10,
             [&]() { return h.saw_peer_joined("host", second_id); });
  fail_if(
      h.becomes_true_within(
          2.0, [&]() { return h.peer_added("host", second_id) > 0 || second.has(PEER_OFFERED); }),
      "the host served a second peer with max-peers=1");
  fail_unless_equals_int(h.peer_added("host"), 1);
  fail_unless_equals_int(read_stats(host.element).peer_count, 1);

  // The first leaves: nothing breaks.
  h.expect_peer_removed("host", first_id);
  h.expect_peer_removed("first", host_id); // its own session ends as it stops
  h.expect_pad_removed("first");
  h.stop(first.pipeline);
  h.wait_peer_removed("host", first_id, 10);
  guint64 encoded = read_stats(host.element).frames;
  h.wait_for("the host to go on encoding", 5,
             [&]() { return read_stats(host.element).frames >= encoded + 15; });

  // The refused viewer is told why (end-peer).
  h.wait_for("peer-ended(reason=max-peers) from the host at the second viewer", 3,
             [&]() { return ended_with(h, "second", host_id, "max-peers"); });
  h.finish();
}
GST_END_TEST;

// A peer that answers late (1.5 s after the offer, its candidates trickled meanwhile) is served
// like any other.
GST_START_TEST(test_late_answer_is_accepted) {
  Harness h;
  Node &host = h.host("host", "slow");
  TestPeer &slow = h.test_peer("slow", "slow", Behaviour{.answer_delay_ms = 1500});
  slow.join();
  std::string host_id = h.id_of("host"), slow_id = h.id_of("slow");
  h.set_stage(Stage::Negotiating);
  h.wait_for("the host's offer", 10, [&]() { return slow.has(PEER_OFFERED); });
  fail_if(h.becomes_true_within(1.0, [&]() { return slow.has(PEER_ANSWERED); }),
          "the test peer answered early");
  h.wait_for("the late peer to connect and get media", 20,
             [&]() { return slow.has(PEER_ANSWERED | PEER_CONNECTED | PEER_MEDIA); });
  h.set_stage(Stage::Streaming);
  h.wait_for("host stats: the late peer connected", 10, [&]() {
    const PeerStats *p = read_stats(host.element).peer(slow_id);
    return p && p->connected;
  });
  fail_unless_equals_int(h.peer_added("host", slow_id), 1);
  assert_sdp(h.wait_sdp("host", slow_id, ANSWER, 1), video_sdp("recvonly", "VP8", kAnswerFeedback),
             "the late answer");
  h.finish();
}
GST_END_TEST;

// ---- request pads -------------------------------------------------------------------------------

// Releasing the request pads while a pad-removed handler reads a property of the element must
// not deadlock (the element must not hold its own lock while the pad goes).
GST_START_TEST(test_release_pad_does_not_deadlock) {
  Harness h;
  GstElement *sink =
      GST_ELEMENT(gst_object_ref_sink(gst_element_factory_make("roomcastsink", nullptr)));
  GstPad *video = gst_element_request_pad_simple(sink, "video_%u");
  GstPad *audio = gst_element_request_pad_simple(sink, "audio_%u");
  fail_unless(video && audio);
  fail_unless_equals_string(GST_PAD_NAME(video), "video_0");
  fail_unless_equals_string(GST_PAD_NAME(audio), "audio_0");
  static std::atomic<int> removed, stats_read;
  removed = 0;
  stats_read = 0;
  g_signal_connect(sink, "pad-removed", G_CALLBACK(+[](GstElement *e, GstPad *, gpointer) {
                     GstStructure *s = nullptr;
                     g_object_get(e, "stats", &s, nullptr);
                     if (s) {
                       stats_read++;
                       gst_structure_free(s);
                     }
                     removed++;
                   }),
                   nullptr);
  h.run_with_deadline("releasing video_0 while a pad-removed handler reads `stats`", 5,
                      [&]() { gst_element_release_request_pad(sink, video); });
  h.run_with_deadline("releasing audio_0 while a pad-removed handler reads `stats`", 5,
                      [&]() { gst_element_release_request_pad(sink, audio); });
  fail_unless_equals_int(removed.load(), 2);
  fail_unless_equals_int(stats_read.load(), 2);
  GstPad *left = gst_element_get_static_pad(sink, "video_0");
  fail_unless(left == nullptr);
  gst_object_unref(video);
  gst_object_unref(audio);
  gst_object_unref(sink);
}
GST_END_TEST;

// One video and one audio stream: a second request of either fails cleanly (NULL, no critical).
GST_START_TEST(test_second_video_pad_refused) {
  GstElement *sink =
      GST_ELEMENT(gst_object_ref_sink(gst_element_factory_make("roomcastsink", nullptr)));
  GstPad *video = gst_element_request_pad_simple(sink, "video_%u");
  fail_unless(video != nullptr);
  fail_unless(gst_element_request_pad_simple(sink, "video_%u") == nullptr);
  fail_unless(gst_element_request_pad_simple(sink, "video_1") == nullptr);
  GstPad *audio = gst_element_request_pad_simple(sink, "audio_%u");
  fail_unless(audio != nullptr);
  fail_unless(gst_element_request_pad_simple(sink, "audio_%u") == nullptr);
  guint pads = 0;
  GST_OBJECT_LOCK(sink);
  pads = sink->numsinkpads;
  GST_OBJECT_UNLOCK(sink);
  fail_unless_equals_int(pads, 2);
  gst_object_unref(video);
  gst_object_unref(audio);
  gst_object_unref(sink);
}
GST_END_TEST;

// Streams are requested before the element starts: a request while PLAYING fails cleanly and the
// running host is not disturbed.
GST_START_TEST(test_request_pad_after_start_refused) {
  Harness h;
  Node &host = h.host("host", "late");
  h.id_of("host");
  h.wait_for("the host to encode", 10, [&]() { return read_stats(host.element).frames > 0; });
  h.set_stage(Stage::Disturbing);
  GstPad *late = gst_element_request_pad_simple(host.element, "audio_%u");
  fail_unless(late == nullptr, "got %s while PLAYING", late ? GST_PAD_NAME(late) : "");
  fail_unless(gst_element_request_pad_simple(host.element, "video_%u") == nullptr);
  guint64 encoded = read_stats(host.element).frames;
  h.wait_for("the host to go on encoding", 5,
             [&]() { return read_stats(host.element).frames >= encoded + 10; });
  h.finish();
}
GST_END_TEST;

// ---- bad input from the signaller ---------------------------------------------------------------

static GstWebRTCSessionDescription *description(GstWebRTCSDPType type, const std::string &text) {
  GstSDPMessage *msg = sdpc::parse(text);
  fail_unless(msg != nullptr);
  return gst_webrtc_session_description_new(type, msg);
}

// What no peer should send: SDP and ICE from ids nobody knows, an offer to the offerer, a second
// answer, an answer to the answerer, a broken candidate. The elements ignore it (a WARNING is
// allowed), nobody is dropped, the viewer keeps decoding.
GST_START_TEST(test_bad_signalling_input_is_ignored) {
  Harness h;
  Node &host = h.host("host", "bad");
  Node &viewer = h.viewer("viewer", "bad");
  std::string host_id = h.id_of("host"), viewer_id = h.id_of("viewer");
  h.set_stage(Stage::Negotiating);
  h.wait_frames("viewer", host_id, 15, 20);
  SdpRecord offer = h.wait_sdp("viewer", host_id, OFFER, 5);
  SdpRecord answer = h.wait_sdp("host", viewer_id, ANSWER, 5);

  h.set_stage(Stage::Disturbing);
  h.allow_warning("host");
  h.allow_warning("viewer");
  const char *cand = "candidate:1 1 UDP 2122260223 127.0.0.1 40000 typ host";
  const char *empty = "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
  auto sdp_to = [&](GstRoomcastSignaller *sig, const std::string &from, GstWebRTCSDPType type,
                    const std::string &text) {
    GstWebRTCSessionDescription *d = description(type, text);
    gst_roomcast_signaller_emit_sdp(sig, from.c_str(), d);
    gst_webrtc_session_description_free(d);
  };
  // At the host (it offers to viewers).
  sdp_to(host.sig, "nobody", OFFER, offer.text);
  sdp_to(host.sig, "nobody", ANSWER, answer.text);
  sdp_to(host.sig, "nobody", OFFER, empty);
  gst_roomcast_signaller_emit_ice(host.sig, "nobody", 0, cand, "video0");
  sdp_to(host.sig, viewer_id, OFFER, offer.text);   // an offer to the offerer
  sdp_to(host.sig, viewer_id, ANSWER, answer.text); // a second answer, in stable state
  gst_roomcast_signaller_emit_ice(host.sig, viewer_id.c_str(), 0, "candidate:garbage", nullptr);
  // At the viewer (it answers).
  sdp_to(viewer.sig, host_id, ANSWER, answer.text); // an answer to the answerer
  gst_roomcast_signaller_emit_ice(viewer.sig, "nobody", 0, cand, nullptr);

  guint64 f = h.frames("viewer");
  h.wait_frames("viewer", host_id, f + 30, 15);
  fail_unless_equals_int(h.peer_added("host"), 1);
  Stats st = read_stats(host.element);
  fail_unless(st.peer_count == 1 && st.peer(viewer_id) && st.peer(viewer_id)->connected, "%s",
              st.text.c_str());
  h.finish();
}
GST_END_TEST;

// A peer that leaves after the offer, before answering: the host removes its branch completely.
GST_START_TEST(test_peer_vanishes_mid_negotiation) {
  Harness h;
  Node &host = h.host("host", "vanish");
  std::string host_id = h.id_of("host");
  h.wait_for("the host to encode", 10, [&]() { return read_stats(host.element).frames > 0; });
  guint before = children_of(host.element);
  TestPeer &ghost = h.test_peer("ghost", "vanish", Behaviour{.answer = false});
  ghost.join();
  std::string ghost_id = h.id_of("ghost");
  h.set_stage(Stage::Negotiating);
  h.wait_for("the host's offer at the test peer", 10, [&]() { return ghost.has(PEER_OFFERED); });
  h.wait_peer_added("host", ghost_id, 5);
  fail_unless(children_of(host.element) > before, "no branch for the peer in the host");

  h.set_stage(Stage::Disturbing);
  h.expect_peer_removed("host", ghost_id);
  // The host may still trickle a candidate to it as it goes; the in-process signaller answers
  // that with a non-fatal "unknown-peer" error, which the host reports as a WARNING.
  h.allow_warning("host", "unknown-peer");
  ghost.leave();
  h.wait_peer_removed("host", ghost_id, 10);
  h.wait_for("host stats: peer-count back to 0", 5,
             [&]() { return read_stats(host.element).peer_count == 0; });
  h.wait_for("the peer's branch to leave the host's bin", 5,
             [&]() { return children_of(host.element) == before; });
  fail_if(h.webrtcbin_inside("host", ghost_id));
  guint64 encoded = read_stats(host.element).frames;
  h.wait_for("the host to go on encoding", 5,
             [&]() { return read_stats(host.element).frames >= encoded + 10; });
  h.finish();
}
GST_END_TEST;

// The application stops the host while a viewer is leaving: the viewer's branch must end in NULL
// (finish() checks that no webrtcbin peer-added handed out still runs). The host's stop starts
// at an exact point of the branch's removal, seen on the bus: when the viewer's webrtcbin inside
// the host reaches PAUSED, READY or NULL on its way out (iterations 0, 1, 2).
static const GstState kWayOut[] = {GST_STATE_PAUSED, GST_STATE_READY, GST_STATE_NULL};

GST_START_TEST(test_host_stops_while_a_viewer_leaves) {
  const GstState trigger = kWayOut[__i__];
  Harness h;
  Node &host = h.host("host", "race");
  Node &viewer = h.viewer("viewer", "race");
  std::string host_id = h.id_of("host"), viewer_id = h.id_of("viewer");
  h.set_stage(Stage::Negotiating);
  h.wait_frames("viewer", host_id, 10, 20);
  GstElement *branch = h.webrtcbin_of("host", viewer_id);
  fail_unless(branch != nullptr);

  static std::atomic<GThread *> stopper;
  stopper = nullptr;
  GstElement *host_pipeline = host.pipeline;
  h.tap("host", [branch, trigger, host_pipeline](GstMessage *m) {
    if (GST_MESSAGE_TYPE(m) != GST_MESSAGE_STATE_CHANGED ||
        GST_MESSAGE_SRC(m) != GST_OBJECT(branch))
      return;
    GstState from, to;
    gst_message_parse_state_changed(m, &from, &to, nullptr);
    if (to != trigger || to >= from || stopper.load()) return;
    // Not here: this thread is inside the branch's own state change.
    stopper = g_thread_new(
        "stop-host",
        [](gpointer p) -> gpointer {
          gst_element_set_state(GST_ELEMENT(p), GST_STATE_NULL);
          return nullptr;
        },
        host_pipeline);
  });
  h.set_stage(Stage::Teardown);
  h.stop(viewer.pipeline);
  h.wait_for("the host's stop to begin with the branch's removal", 10,
             [&]() { return stopper.load() != nullptr; });
  h.run_with_deadline("stopping the host while the viewer's branch is removed", 20,
                      [&]() { g_thread_join(stopper.load()); });
  gst_object_unref(branch);
  h.finish();
}
GST_END_TEST;

// The same on the receiving side: the application stops a roomcastsrc while its host leaves. The
// viewer's stop starts when the webrtcbin inside it (roomcastsrc answers with one) reaches PAUSED,
// READY or NULL on its way out; nothing that lived inside the viewer may still run afterwards.
GST_START_TEST(test_viewer_stops_while_its_host_leaves) {
  const GstState trigger = kWayOut[__i__];
  Harness h;
  Node &viewer = h.viewer("viewer", "race2");
  Node &host = h.host("host", "race2");
  std::string host_id = h.id_of("host");
  h.set_stage(Stage::Negotiating);
  h.wait_frames("viewer", host_id, 10, 20);

  static std::atomic<GThread *> stopper;
  stopper = nullptr;
  GstElement *viewer_pipeline = viewer.pipeline;
  h.tap("viewer", [trigger, viewer_pipeline](GstMessage *m) {
    if (GST_MESSAGE_TYPE(m) != GST_MESSAGE_STATE_CHANGED || !GST_IS_ELEMENT(GST_MESSAGE_SRC(m)))
      return;
    GstElementFactory *f = gst_element_get_factory(GST_ELEMENT(GST_MESSAGE_SRC(m)));
    if (!f || !g_str_equal(GST_OBJECT_NAME(f), "webrtcbin")) return;
    GstState from, to;
    gst_message_parse_state_changed(m, &from, &to, nullptr);
    if (to != trigger || to >= from || stopper.load()) return;
    stopper = g_thread_new(
        "stop-viewer",
        [](gpointer p) -> gpointer {
          gst_element_set_state(GST_ELEMENT(p), GST_STATE_NULL);
          return nullptr;
        },
        viewer_pipeline);
  });
  h.set_stage(Stage::Teardown);
  h.stop(host.pipeline);
  h.wait_for("the viewer's stop to begin with the session's end", 10,
             [&]() { return stopper.load() != nullptr; });
  h.run_with_deadline("stopping the viewer while its session ends", 20,
                      [&]() { g_thread_join(stopper.load()); });
  h.finish();
}
GST_END_TEST;

// ---- roomcastsrc's own signals and stats
// ----------------------------------------------------------

// roomcastsrc has peer-added (id, webrtcbin), peer-removed (id) and a `stats` property, like
// roomcastsink.
GST_START_TEST(test_src_reports_its_peer) {
  GstElement *probe = gst_element_factory_make("roomcastsrc", nullptr);
  fail_unless(probe != nullptr);
  GType type = G_OBJECT_TYPE(probe);
  bool added = g_signal_lookup("peer-added", type) != 0;
  bool removed = g_signal_lookup("peer-removed", type) != 0;
  bool stats = g_object_class_find_property(G_OBJECT_GET_CLASS(probe), "stats") != nullptr;
  gst_object_unref(gst_object_ref_sink(probe));
  fail_unless(added && removed && stats, "roomcastsrc lacks%s%s%s", added ? "" : " peer-added",
              removed ? "" : " peer-removed", stats ? "" : " stats");

  Harness h;
  Node &host = h.host("host", "srcspec");
  Node &viewer = h.viewer("viewer", "srcspec");
  std::string host_id = h.id_of("host"), viewer_id = h.id_of("viewer");
  h.set_stage(Stage::Negotiating);
  h.wait_frames("viewer", host_id, 15, 20);
  h.set_stage(Stage::Streaming);
  fail_unless_equals_int(h.peer_added("viewer"), 1);
  fail_unless_equals_int(h.peer_added("viewer", host_id), 1);
  fail_unless(h.webrtcbin_inside("viewer", host_id));
  h.wait_for("viewer stats: the host, connected", 10, [&]() {
    Stats st = read_stats(viewer.element);
    const PeerStats *p = st.peer(host_id);
    return st.peer_count == 1 && p && p->connected;
  });

  // The host leaves: the viewer reports it and drops the host's pads.
  h.set_stage(Stage::Disturbing);
  h.expect_peer_removed("host", viewer_id);
  h.expect_peer_removed("viewer", host_id);
  h.expect_pad_removed("viewer", "video_");
  h.stop(host.pipeline);
  h.wait_peer_removed("viewer", host_id, 10);
  h.wait_for("viewer stats: no peer", 5,
             [&]() { return read_stats(viewer.element).peer_count == 0; });
  fail_if(h.webrtcbin_inside("viewer", host_id));
  h.finish();
}
GST_END_TEST;

// Each test runs in a child process (check's fork mode). A test that passed ends its child here,
// without the exit handlers: OpenSSL's exit-time cleanup (libcrypto, via the DTLS elements) freed
// its tables while GStreamer's and libnice's threads of the finished test were still ending, and
// the child died with "double free or corruption" after its test had passed (about 1 full run in
// 3 under load; a core showed exit() -> OPENSSL_cleanup on one thread, tcache_thread_shutdown on
// another). The result is already with the parent; the exit status says "passed".
static void end_child_quietly() {
  fflush(stdout);
  fflush(stderr);
  _exit(EXIT_SUCCESS);
}

static Suite *element_spec_suite() {
  Suite *s = suite_create("roomcast-element-spec");
  TCase *tc = tcase_create("spec");
  tcase_set_timeout(tc, 60);
  if (g_strcmp0(g_getenv("CK_FORK"), "no") != 0)
    tcase_add_checked_fixture(tc, nullptr, end_child_quietly);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_sdp_validators_find_problems);
  tcase_add_test(tc, test_harness_hooks_catch_the_unexpected);
  tcase_add_test(tc, test_host_to_viewer_vp8);
  tcase_add_loop_test(tc, test_h264_profile_level_id, 0, G_N_ELEMENTS(h264_cases));
  tcase_add_test(tc, test_meeting_three_members);
  tcase_add_loop_test(tc, test_viewer_waits_for_caps, 0, 2);
  tcase_add_loop_test(tc, test_peer_timeout_removes_a_quiet_peer, 0, G_N_ELEMENTS(timeout_cases));
  tcase_add_test(tc, test_max_peers);
  tcase_add_test(tc, test_late_answer_is_accepted);
  tcase_add_test(tc, test_release_pad_does_not_deadlock);
  tcase_add_test(tc, test_second_video_pad_refused);
  tcase_add_test(tc, test_request_pad_after_start_refused);
  tcase_add_test(tc, test_bad_signalling_input_is_ignored);
  tcase_add_test(tc, test_peer_vanishes_mid_negotiation);
  tcase_add_loop_test(tc, test_host_stops_while_a_viewer_leaves, 0, G_N_ELEMENTS(kWayOut));
  tcase_add_loop_test(tc, test_viewer_stops_while_its_host_leaves, 0, G_N_ELEMENTS(kWayOut));
  tcase_add_test(tc, test_src_reports_its_peer);

  return s;
}

int main(int argc, char **argv) {
  gst_check_init(&argc, &argv);
  // The elements come from the linked code (as in test-elements.cpp).
  gst_element_register(nullptr, "roomcastsink", GST_RANK_NONE, GST_TYPE_ROOMCAST_SINK);
  gst_element_register(nullptr, "roomcastsrc", GST_RANK_NONE, GST_TYPE_ROOMCAST_SRC);
  SRunner *sr = srunner_create(element_spec_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
