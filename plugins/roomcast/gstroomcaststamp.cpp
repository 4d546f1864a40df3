/**
 * SECTION:element-roomcaststamp
 * @title: roomcaststamp
 * @see_also: roomcaststampread
 *
 * Writes the wall-clock time (g_get_real_time(), microseconds) into every frame as a strip of
 * 16x16 black and white blocks at the top-left corner (256x96 pixels), with a marker and a
 * CRC, in a form that survives lossy coding (VP8 or H.264 at 1 Mbit/s). The time is taken when
 * the frame passes this element, so put it right after the source ("capture" time for
 * glass-to-glass measurement); `roomcaststampread` after the decoder, or a browser reading a
 * canvas, computes now − stamp. Sender and reader must share a wall clock (one machine, or
 * NTP-synchronised hosts). The block layout is documented in stamp.cpp and docs/benchmarks.md.
 *
 * Frames must be at least 256x96; 8-bit YUV, RGB and GRAY8 formats are accepted.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
 *     roomcaststamp ! roomcastsink signaller::uri=ws://127.0.0.1:8443/ws room=demo
 * ]|
 */
#include "gstroomcaststamp.h"

#include "stamp.h"

#include <atomic>

GST_DEBUG_CATEGORY_STATIC(roomcaststamp_debug);
#define GST_CAT_DEFAULT roomcaststamp_debug

namespace {

struct Private {
  std::atomic<guint64> count{0};
};

} // namespace

struct _GstRoomcastStamp {
  GstVideoFilter parent;
  Private *priv;
};

G_DEFINE_TYPE_WITH_CODE(GstRoomcastStamp, gst_roomcast_stamp, GST_TYPE_VIDEO_FILTER,
                        GST_DEBUG_CATEGORY_INIT(roomcaststamp_debug, "roomcaststamp", 0,
                                                "roomcast latency stamp writer"))
GST_ELEMENT_REGISTER_DEFINE(roomcaststamp, "roomcaststamp", GST_RANK_NONE, GST_TYPE_ROOMCAST_STAMP)

enum {
  PROP_0,
  PROP_COUNT,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(ROOMCAST_STAMP_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(ROOMCAST_STAMP_CAPS));

static GstFlowReturn gst_roomcast_stamp_transform_frame_ip(GstVideoFilter *filter,
                                                           GstVideoFrame *frame) {
  auto *self = GST_ROOMCAST_STAMP(filter);
  const gint64 now = g_get_real_time();
  roomcast::stamp::write(frame, guint64(now));
  guint64 n = ++self->priv->count;
  GST_LOG_OBJECT(self, "frame %" G_GUINT64_FORMAT " stamped %" G_GINT64_FORMAT, n, now);
  return GST_FLOW_OK;
}

static gboolean gst_roomcast_stamp_start(GstBaseTransform *trans) {
  GST_ROOMCAST_STAMP(trans)->priv->count = 0;
  return TRUE;
}

static void gst_roomcast_stamp_get_property(GObject *object, guint id, GValue *value,
                                            GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_STAMP(object);
  switch (id) {
  case PROP_COUNT:
    g_value_set_uint64(value, self->priv->count);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_stamp_init(GstRoomcastStamp *self) {
  self->priv = new Private;
}

static void gst_roomcast_stamp_finalize(GObject *object) {
  delete GST_ROOMCAST_STAMP(object)->priv;
  G_OBJECT_CLASS(gst_roomcast_stamp_parent_class)->finalize(object);
}

static void gst_roomcast_stamp_class_init(GstRoomcastStampClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS(klass);
  gobject_class->get_property = gst_roomcast_stamp_get_property;
  gobject_class->finalize = gst_roomcast_stamp_finalize;
  trans_class->start = gst_roomcast_stamp_start;
  filter_class->transform_frame_ip = gst_roomcast_stamp_transform_frame_ip;

  g_object_class_install_property(
      gobject_class, PROP_COUNT,
      g_param_spec_uint64("count", "Count", "Frames stamped since the element started", 0,
                          G_MAXUINT64, 0, GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "roomcast latency stamp", "Filter/Effect/Video",
      "Writes the wall-clock time into each frame as blocks that survive video coding",
      "roomcast developers");
}
