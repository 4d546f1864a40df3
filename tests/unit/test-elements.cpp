// Element tests with gst-check: roomcastsink and roomcastsrc in one process, joined through the
// in-process signaller (no server), real webrtcbin on both sides.
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "gstroomcastdirectsignaller.h"
#include "gstroomcastsink.h"
#include "gstroomcastsrc.h"

#include <atomic>

static GstElement *make_sink(const char *room) {
  GstElement *sink = gst_element_factory_make("roomcastsink", nullptr);
  fail_unless(sink != nullptr);
  GObject *sig = G_OBJECT(g_object_new(GST_TYPE_ROOMCAST_DIRECT_SIGNALLER, nullptr));
  g_object_set(sink, "signaller", sig, "room", room, "ice-loopback", TRUE, nullptr);
  return sink;
}

// The encoder sees every raw frame once: stats count what was encoded.
GST_START_TEST(test_sink_encodes_raw_input) {
  GstElement *sink = make_sink("harness");
  GstHarness *h = gst_harness_new_with_element(sink, "video_0", nullptr);
  gst_harness_use_systemclock(h);
  gst_harness_play(h);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=I420,width=320,height=240,framerate=30/1");
  // The input queue keeps only the newest frames (no latency before the encoder), so push one
  // frame at a time, like a live source, and see each one encoded.
  auto encoded = [&]() {
    GstStructure *stats = nullptr;
    g_object_get(sink, "stats", &stats, nullptr);
    fail_unless(stats != nullptr);
    guint64 n = 0;
    guint peers = 99;
    gst_structure_get_uint64(stats, "frames", &n);
    gst_structure_get_uint(stats, "peer-count", &peers);
    fail_unless_equals_int(peers, 0);
    gst_structure_free(stats);
    return n;
  };
  guint64 frames = 0;
  for (int i = 0; i < 10; i++) {
    GstBuffer *buf = gst_buffer_new_allocate(nullptr, 320 * 240 * 3 / 2, nullptr);
    gst_buffer_memset(buf, 0, 16 * i, 320 * 240 * 3 / 2);
    GST_BUFFER_PTS(buf) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION(buf) = GST_SECOND / 30;
    fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
    for (int tries = 0; tries < 200 && (frames = encoded()) < guint64(i + 1); tries++)
      g_usleep(5000);
  }
  fail_unless_equals_uint64(frames, 10);
  gst_harness_teardown(h);
  gst_object_unref(sink);
}
GST_END_TEST;

// Many keyframe requests within the interval reach the encoder as one now and one later.
static GstPadProbeReturn count_fku(GstPad *, GstPadProbeInfo *info, gpointer data) {
  if (gst_video_event_is_force_key_unit(GST_PAD_PROBE_INFO_EVENT(info)))
    (*static_cast<std::atomic<int> *>(data))++;
  return GST_PAD_PROBE_OK;
}

GST_START_TEST(test_keyframe_requests_are_coalesced) {
  GstElement *sink = make_sink("keyframes");
  g_object_set(sink, "min-keyframe-interval", 300u, nullptr);
  // The encoder reaches us through the encoder-setup hook (before it starts).
  std::atomic<GstElement *> setup{nullptr};
  g_signal_connect(sink, "encoder-setup",
                   G_CALLBACK(+[](GstElement *, const char *codec, GstElement *enc, gpointer d) {
                     if (g_str_equal(codec, "vp8"))
                       static_cast<std::atomic<GstElement *> *>(d)->store(enc);
                   }),
                   &setup);
  GstHarness *h = gst_harness_new_with_element(sink, "video_0", nullptr);
  gst_harness_play(h);
  gst_harness_set_src_caps_str(h, "video/x-raw,format=I420,width=160,height=120,framerate=30/1");
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, 160 * 120 * 3 / 2, nullptr);
  gst_buffer_memset(buf, 0, 0, 160 * 120 * 3 / 2);
  GST_BUFFER_PTS(buf) = 0;
  fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_OK);
  // Wait for the chain to exist, then find the encoder and the tee.
  GstElement *enc = nullptr, *tee = nullptr;
  for (int tries = 0; tries < 100 && !(enc && tee); tries++) {
    if (!enc) enc = gst_bin_get_by_name(GST_BIN(sink), "vp8-encoder-0");
    if (!tee) {
      GstIterator *it = gst_bin_iterate_elements(GST_BIN(sink));
      GValue v = G_VALUE_INIT;
      while (gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
        auto *e = GST_ELEMENT(g_value_get_object(&v));
        if (g_str_equal(GST_OBJECT_NAME(gst_element_get_factory(e)), "tee"))
          tee = GST_ELEMENT(gst_object_ref(e));
        g_value_reset(&v);
      }
      g_value_unset(&v);
      gst_iterator_free(it);
    }
    g_usleep(20000);
  }
  fail_unless(enc && tee);
  fail_unless(setup.load() == enc, "encoder-setup did not hand out the encoder in use");
  std::atomic<int> reached{0};
  GstPad *enc_src = gst_element_get_static_pad(enc, "src");
  gst_pad_add_probe(enc_src, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, count_fku, &reached, nullptr);
  GstPad *tee_src = gst_element_request_pad_simple(tee, "src_%u");
  for (int i = 0; i < 10; i++)
    gst_pad_send_event(tee_src,
                       gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, i));
  fail_unless_equals_int(reached.load(), 1);
  g_usleep(600000); // past the interval: the coalesced request has gone out
  fail_unless_equals_int(reached.load(), 2);
  GstStructure *stats = nullptr;
  g_object_get(sink, "stats", &stats, nullptr);
  guint64 coalesced = 0;
  gst_structure_get_uint64(stats, "keyframes-coalesced", &coalesced);
  fail_unless_equals_uint64(coalesced, 9);
  gst_structure_free(stats);
  gst_element_release_request_pad(tee, tee_src);
  gst_object_unref(tee_src);
  gst_object_unref(enc_src);
  gst_object_unref(enc);
  gst_object_unref(tee);
  gst_harness_teardown(h);
  gst_object_unref(sink);
}
GST_END_TEST;

GST_START_TEST(test_signaller_child_property) {
  GstElement *sink = gst_element_factory_make("roomcastsink", nullptr);
  gst_child_proxy_set(GST_CHILD_PROXY(sink), "signaller::uri", "ws://127.0.0.1:1/ws", nullptr);
  gchar *uri = nullptr;
  gst_child_proxy_get(GST_CHILD_PROXY(sink), "signaller::uri", &uri, nullptr);
  fail_unless_equals_string(uri, "ws://127.0.0.1:1/ws");
  g_free(uri);
  // Launch-line syntax too.
  GError *err = nullptr;
  GstElement *p = gst_parse_launch(
      "roomcastsrc name=r signaller::uri=ws://127.0.0.1:2/ws room=x ! fakesink", &err);
  fail_unless(p != nullptr, "%s", err ? err->message : "");
  GstElement *r = gst_bin_get_by_name(GST_BIN(p), "r");
  gst_child_proxy_get(GST_CHILD_PROXY(r), "signaller::uri", &uri, nullptr);
  fail_unless_equals_string(uri, "ws://127.0.0.1:2/ws");
  g_free(uri);
  gst_object_unref(r);
  gst_object_unref(p);
  gst_object_unref(sink);
}
GST_END_TEST;

struct Viewer {
  std::atomic<int> frames{0};
  std::atomic<int> width{0};
  GMainLoop *loop = nullptr;
};

static GstPadProbeReturn count_frames(GstPad *pad, GstPadProbeInfo *, gpointer data) {
  auto *v = static_cast<Viewer *>(data);
  if (v->width == 0) {
    GstCaps *caps = gst_pad_get_current_caps(pad);
    int w = 0;
    if (caps) {
      gst_structure_get_int(gst_caps_get_structure(caps, 0), "width", &w);
      gst_caps_unref(caps);
    }
    v->width = w;
  }
  if (++v->frames == 30) g_main_loop_quit(v->loop);
  return GST_PAD_PROBE_OK;
}

static void on_src_pad(GstElement *src, GstPad *pad, gpointer data) {
  GstElement *pipeline = GST_ELEMENT(gst_element_get_parent(src));
  GstElement *fake = gst_element_factory_make("fakesink", nullptr);
  g_object_set(fake, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(pipeline), fake);
  gst_element_sync_state_with_parent(fake);
  GstPad *sinkpad = gst_element_get_static_pad(fake, "sink");
  fail_unless_equals_int(gst_pad_link(pad, sinkpad), GST_PAD_LINK_OK);
  gst_object_unref(sinkpad);
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, count_frames, data, nullptr);
  gst_object_unref(pipeline);
}

// Host and viewer back to back in one process: a real WebRTC session over loopback.
GST_START_TEST(test_sink_to_src_in_process) {
  GstElement *host = gst_parse_launch(
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "roomcastsink name=s room=inproc ice-loopback=true",
      nullptr);
  fail_unless(host != nullptr);
  GstElement *s = gst_bin_get_by_name(GST_BIN(host), "s");
  g_object_set(s, "signaller", g_object_new(GST_TYPE_ROOMCAST_DIRECT_SIGNALLER, nullptr), nullptr);
  std::atomic<int> added{0}, removed{0};
  g_signal_connect(s, "peer-added",
                   G_CALLBACK(+[](GstElement *, const char *, GstElement *w, gpointer d) {
                     fail_unless(GST_IS_ELEMENT(w));
                     (*static_cast<std::atomic<int> *>(d))++;
                   }),
                   &added);
  g_signal_connect(s, "peer-removed", G_CALLBACK(+[](GstElement *, const char *, gpointer d) {
                     (*static_cast<std::atomic<int> *>(d))++;
                   }),
                   &removed);

  GstElement *viewer = gst_pipeline_new("viewer");
  GstElement *src = gst_element_factory_make("roomcastsrc", nullptr);
  g_object_set(src, "signaller", g_object_new(GST_TYPE_ROOMCAST_DIRECT_SIGNALLER, nullptr), "room",
               "inproc", "ice-loopback", TRUE, nullptr);
  gst_bin_add(GST_BIN(viewer), src);
  Viewer v;
  v.loop = g_main_loop_new(nullptr, FALSE);
  g_signal_connect(src, "pad-added", G_CALLBACK(on_src_pad), &v);

  fail_unless(gst_element_set_state(host, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless(gst_element_set_state(viewer, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  guint timer = g_timeout_add_seconds(
      30,
      [](gpointer l) -> gboolean {
        g_main_loop_quit(static_cast<GMainLoop *>(l));
        return G_SOURCE_REMOVE;
      },
      v.loop);
  g_main_loop_run(v.loop);
  fail_unless(v.frames >= 30, "viewer decoded %d frames", v.frames.load());
  g_source_remove(timer);
  fail_unless_equals_int(v.width.load(), 320);
  fail_unless_equals_int(added.load(), 1);

  // The viewer leaves: the host removes its branch and goes on.
  gst_element_set_state(viewer, GST_STATE_NULL);
  for (int i = 0; i < 200 && removed == 0; i++)
    g_usleep(25000);
  fail_unless_equals_int(removed.load(), 1);
  GstStructure *stats = nullptr;
  g_object_get(s, "stats", &stats, nullptr);
  guint peers = 99;
  gst_structure_get_uint(stats, "peer-count", &peers);
  fail_unless_equals_int(peers, 0);
  gst_structure_free(stats);

  gst_element_set_state(host, GST_STATE_NULL);
  gst_object_unref(s);
  gst_object_unref(host);
  gst_object_unref(viewer);
  g_main_loop_unref(v.loop);
}
GST_END_TEST;

static Suite *roomcast_elements_suite() {
  Suite *s = suite_create("roomcast-elements");
  TCase *tc = tcase_create("elements");
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_signaller_child_property);
  tcase_add_test(tc, test_sink_encodes_raw_input);
  tcase_add_test(tc, test_keyframe_requests_are_coalesced);
  tcase_add_test(tc, test_sink_to_src_in_process);
  return s;
}

int main(int argc, char **argv) {
  gst_check_init(&argc, &argv);
  // Register the elements from the linked code (no plugin scan needed).
  gst_element_register(nullptr, "roomcastsink", GST_RANK_NONE, GST_TYPE_ROOMCAST_SINK);
  gst_element_register(nullptr, "roomcastsrc", GST_RANK_NONE, GST_TYPE_ROOMCAST_SRC);
  Suite *s = roomcast_elements_suite();
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
