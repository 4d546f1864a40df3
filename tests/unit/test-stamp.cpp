// roomcaststamp and roomcaststampread with gst-check: the stamp reads back exactly in every
// format, survives VP8 at 1 Mbit/s, and a damaged strip counts as a misread, never a latency.
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "gstroomcaststamp.h"
#include "gstroomcaststampread.h"
#include "stamp.h"

#include <vector>

namespace {

// One frame of `format` through roomcaststamp, then `damage` on it, then roomcaststampread.
struct Pair {
  GstHarness *stamp, *read;
  GstVideoInfo info;
  Pair(const char *format, int width = 320, int height = 240) {
    stamp = gst_harness_new("roomcaststamp");
    read = gst_harness_new("roomcaststampread");
    g_autofree char *caps = g_strdup_printf(
        "video/x-raw,format=%s,width=%d,height=%d,framerate=30/1", format, width, height);
    gst_harness_set_caps_str(stamp, caps, caps);
    gst_harness_set_caps_str(read, caps, caps);
    g_autoptr(GstCaps) c = gst_caps_from_string(caps);
    fail_unless(gst_video_info_from_caps(&info, c));
  }
  ~Pair() {
    gst_harness_teardown(stamp);
    gst_harness_teardown(read);
  }
  // A mid-grey frame through the stamp; returns the stamped buffer.
  GstBuffer *stamped() {
    GstBuffer *in = gst_buffer_new_allocate(nullptr, info.size, nullptr);
    gst_buffer_memset(in, 0, 0x80, info.size);
    GstBuffer *out = gst_harness_push_and_pull(stamp, in);
    fail_unless(out != nullptr);
    return out;
  }
  void pass_to_reader(GstBuffer *buf) {
    GstBuffer *out = gst_harness_push_and_pull(read, buf);
    fail_unless(out != nullptr);
    gst_buffer_unref(out);
  }
  guint64 prop(const char *name) {
    guint64 v = 0;
    g_object_get(read->element, name, &v, nullptr);
    return v;
  }
};

// Sets luma (or R, G, B) of the pixels in [x0, x1) x [y0, y1) with fn(x, y).
template <typename F>
void paint(GstBuffer *buf, const GstVideoInfo *info, int x0, int y0, int x1, int y1, F fn) {
  GstVideoFrame frame;
  fail_unless(gst_video_frame_map(&frame, const_cast<GstVideoInfo *>(info), buf, GST_MAP_WRITE));
  const bool rgb = GST_VIDEO_INFO_IS_RGB(info);
  for (int c = 0; c < (rgb ? 3 : 1); c++) {
    auto *data = static_cast<guint8 *>(GST_VIDEO_FRAME_COMP_DATA(&frame, c));
    int stride = GST_VIDEO_FRAME_COMP_STRIDE(&frame, c);
    int pstride = GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, c);
    for (int y = y0; y < y1; y++)
      for (int x = x0; x < x1; x++)
        data[y * stride + x * pstride] = fn(x, y);
  }
  gst_video_frame_unmap(&frame);
}

} // namespace

// The stamp reads back exactly, in every format both elements accept, and quickly.
GST_START_TEST(test_roundtrip_every_format) {
  const char *formats[] = {"I420", "YV12", "NV12", "NV21",  "Y42B", "Y444", "YUY2", "UYVY",
                           "YVYU", "AYUV", "v308", "GRAY8", "RGBx", "BGRx", "xRGB", "xBGR",
                           "RGBA", "BGRA", "ARGB", "ABGR",  "RGB",  "BGR"};
  for (const char *format : formats) {
    Pair p(format);
    const gint64 before = g_get_real_time();
    GstBuffer *buf = p.stamped();
    const gint64 after = g_get_real_time();
    // Read the stamp directly too: it must be the time the frame passed.
    GstVideoFrame frame;
    fail_unless(gst_video_frame_map(&frame, &p.info, buf, GST_MAP_READ));
    guint64 micros = 0;
    auto r = roomcast::stamp::read(&frame, &micros);
    gst_video_frame_unmap(&frame);
    fail_unless(r == roomcast::stamp::Read::Ok, "%s: %s", format, roomcast::stamp::describe(r));
    fail_unless(gint64(micros) >= before && gint64(micros) <= after, "%s: stamp out of range",
                format);
    p.pass_to_reader(buf);
    fail_unless_equals_uint64(p.prop("count"), 1);
    fail_unless_equals_uint64(p.prop("misreads"), 0);
    gint64 latency = -1;
    g_object_get(p.read->element, "last-latency", &latency, nullptr);
    fail_unless(latency >= 0 && latency < 1000000, "%s: latency %" G_GINT64_FORMAT, format,
                latency);
  }
}
GST_END_TEST;

// Frames without a stamp, with noise over the strip, with one block flipped (a clean read that
// fails the CRC) or one block mid-grey: all misreads, no latency.
GST_START_TEST(test_damaged_stamps_are_misreads) {
  for (const char *format : {"I420", "NV12", "BGRx"}) {
    Pair p(format);
    // No stamp at all (mid-grey frame).
    GstBuffer *plain = gst_buffer_new_allocate(nullptr, p.info.size, nullptr);
    gst_buffer_memset(plain, 0, 0x80, p.info.size);
    p.pass_to_reader(plain);
    // Noise over the strip.
    GRand *rand = g_rand_new_with_seed(7);
    GstBuffer *noisy = p.stamped();
    paint(noisy, &p.info, 0, 0, roomcast::stamp::kWidth, roomcast::stamp::kHeight,
          [&](int, int) { return guint8(g_rand_int_range(rand, 0, 256)); });
    p.pass_to_reader(noisy);
    g_rand_free(rand);
    // One timestamp block (the last bit, block 79: column 15, row 4) inverted.
    GstBuffer *flipped = p.stamped();
    {
      GstVideoFrame frame;
      fail_unless(gst_video_frame_map(&frame, &p.info, flipped, GST_MAP_READ));
      const guint8 *y = static_cast<const guint8 *>(GST_VIDEO_FRAME_COMP_DATA(&frame, 0));
      int v = y[(4 * 16 + 8) * GST_VIDEO_FRAME_COMP_STRIDE(&frame, 0) +
                (15 * 16 + 8) * GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, 0)];
      gst_video_frame_unmap(&frame);
      const bool yuv = GST_VIDEO_INFO_IS_YUV(&p.info);
      guint8 inverted = v > 128 ? (yuv ? 16 : 0) : (yuv ? 235 : 255);
      paint(flipped, &p.info, 240, 64, 256, 80, [&](int, int) { return inverted; });
    }
    p.pass_to_reader(flipped);
    // One block mid-grey.
    GstBuffer *grey = p.stamped();
    paint(grey, &p.info, 32, 32, 48, 48, [](int, int) { return guint8(126); });
    p.pass_to_reader(grey);

    fail_unless_equals_uint64(p.prop("misreads"), 4);
    fail_unless_equals_uint64(p.prop("count"), 0);
    // A clean frame after them still reads.
    p.pass_to_reader(p.stamped());
    fail_unless_equals_uint64(p.prop("count"), 1);
  }
}
GST_END_TEST;

GST_START_TEST(test_too_small_frames_do_not_negotiate) {
  GstHarness *h = gst_harness_new("roomcaststamp");
  gst_harness_set_src_caps_str(h, "video/x-raw,format=I420,width=160,height=120,framerate=30/1");
  GstBuffer *buf = gst_buffer_new_allocate(nullptr, 160 * 120 * 3 / 2, nullptr);
  fail_unless_equals_int(gst_harness_push(h, buf), GST_FLOW_NOT_NEGOTIATED);
  gst_harness_teardown(h);
}
GST_END_TEST;

namespace {

struct Run {
  std::vector<gint64> latencies;
  guint64 misread_messages = 0;
  guint64 count = 0, misreads = 0, stamped = 0;
};

// Pads probe: noise over the strip's luma (I420) of every frame.
GstPadProbeReturn add_noise(GstPad *pad, GstPadProbeInfo *info, gpointer) {
  GstBuffer *buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  GstVideoInfo vinfo;
  fail_unless(gst_video_info_from_caps(&vinfo, caps));
  static GRand *rand = g_rand_new_with_seed(11);
  paint(buf, &vinfo, 0, 0, roomcast::stamp::kWidth, roomcast::stamp::kHeight,
        [&](int, int) { return guint8(g_rand_int_range(rand, 0, 256)); });
  return GST_PAD_PROBE_OK;
}

// 60 frames of a moving 640x360 test pattern: stamp ! vp8enc (1 Mbit/s) ! vp8dec ! read.
Run run_vp8(bool noise) {
  g_autoptr(GError) err = nullptr;
  GstElement *pipe = gst_parse_launch(
      "videotestsrc is-live=true num-buffers=60 pattern=ball ! "
      "video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! roomcaststamp name=stamp ! "
      "identity name=damage ! vp8enc deadline=1 target-bitrate=1000000 lag-in-frames=0 ! "
      "vp8dec ! roomcaststampread name=read ! fakesink sync=false",
      &err);
  fail_unless(pipe != nullptr, "%s", err ? err->message : "?");
  if (noise) {
    GstElement *damage = gst_bin_get_by_name(GST_BIN(pipe), "damage");
    GstPad *pad = gst_element_get_static_pad(damage, "src");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, add_noise, nullptr, nullptr);
    gst_object_unref(pad);
    gst_object_unref(damage);
  }
  GstBus *bus = gst_element_get_bus(pipe);
  fail_unless(gst_element_set_state(pipe, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  Run run;
  for (bool done = false; !done;) {
    GstMessage *msg = gst_bus_timed_pop(bus, 20 * GST_SECOND);
    fail_unless(msg != nullptr, "the pipeline stalled");
    switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_EOS:
      done = true;
      break;
    case GST_MESSAGE_ERROR: {
      g_autoptr(GError) e = nullptr;
      gst_message_parse_error(msg, &e, nullptr);
      fail("pipeline error: %s", e->message);
      break;
    }
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure(msg);
      if (gst_structure_has_name(s, "roomcast-latency")) {
        gint64 l = 0;
        fail_unless(gst_structure_get_int64(s, "latency", &l));
        run.latencies.push_back(l);
      } else if (gst_structure_has_name(s, "roomcast-stamp-misread")) {
        run.misread_messages++;
      }
      break;
    }
    default:
      break;
    }
    gst_message_unref(msg);
  }
  GstElement *read = gst_bin_get_by_name(GST_BIN(pipe), "read");
  GstElement *stamp = gst_bin_get_by_name(GST_BIN(pipe), "stamp");
  g_object_get(read, "count", &run.count, "misreads", &run.misreads, nullptr);
  g_object_get(stamp, "count", &run.stamped, nullptr);
  gst_object_unref(read);
  gst_object_unref(stamp);
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(pipe);
  return run;
}

} // namespace

// Every frame's stamp survives VP8 at 1 Mbit/s; the latency is the encode + decode time.
GST_START_TEST(test_stamp_survives_vp8) {
  Run run = run_vp8(false);
  fail_unless_equals_uint64(run.stamped, 60);
  fail_unless_equals_uint64(run.misreads, 0);
  fail_unless_equals_uint64(run.misread_messages, 0);
  fail_unless_equals_uint64(run.count, 60);
  fail_unless_equals_int(run.latencies.size(), 60);
  for (gint64 l : run.latencies)
    fail_unless(l >= 0 && l < 500000, "latency %" G_GINT64_FORMAT " us", l);
}
GST_END_TEST;

// Noise over the strip before the encoder: every frame is a misread, none a latency.
GST_START_TEST(test_noisy_strip_through_vp8_is_misread) {
  Run run = run_vp8(true);
  fail_unless_equals_uint64(run.stamped, 60);
  fail_unless_equals_uint64(run.count, 0);
  fail_unless_equals_int(run.latencies.size(), 0);
  fail_unless_equals_uint64(run.misreads, 60);
  fail_unless_equals_uint64(run.misread_messages, 60);
}
GST_END_TEST;

static Suite *roomcast_stamp_suite() {
  Suite *s = suite_create("roomcast-stamp");
  TCase *tc = tcase_create("stamp");
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tcase_add_test(tc, test_roundtrip_every_format);
  tcase_add_test(tc, test_damaged_stamps_are_misreads);
  tcase_add_test(tc, test_too_small_frames_do_not_negotiate);
  tcase_add_test(tc, test_stamp_survives_vp8);
  tcase_add_test(tc, test_noisy_strip_through_vp8_is_misread);
  return s;
}

int main(int argc, char **argv) {
  gst_check_init(&argc, &argv);
  gst_element_register(nullptr, "roomcaststamp", GST_RANK_NONE, GST_TYPE_ROOMCAST_STAMP);
  gst_element_register(nullptr, "roomcaststampread", GST_RANK_NONE, GST_TYPE_ROOMCAST_STAMP_READ);
  Suite *s = roomcast_stamp_suite();
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
