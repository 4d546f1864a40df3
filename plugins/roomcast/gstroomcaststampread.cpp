/**
 * SECTION:element-roomcaststampread
 * @title: roomcaststampread
 * @see_also: roomcaststamp
 *
 * Reads the time that `roomcaststamp` wrote into a frame (after decoding) and computes the
 * latency: now − stamp, in microseconds, on the wall clock (g_get_real_time()). For each frame
 * whose stamp reads cleanly (marker, every block clearly black or white, CRC) it posts an
 * element message `roomcast-latency` with:
 *
 * - `latency` (gint64, µs): now − stamp when the frame passes this element (decoded, before the
 *   sink waits for its presentation time);
 * - `render-latency` (gint64, µs, only once the pipeline configured its latency): the latency at
 *   the moment a sink with sync=true will present the frame (base time + running time of the
 *   frame + pipeline latency), or `latency` if that moment has already passed. This is what a
 *   viewer sees; the sink's own rendering (and a display's refresh) come on top;
 * - `pipeline-latency` (gint64, µs, with `render-latency`): the latency the pipeline configured
 *   (what a sync=true sink adds to each frame's running time);
 * - `stamp` (guint64, µs), `count` (guint64, frames read) and `misreads` (guint64).
 *
 * Frames without a readable stamp are counted in #GstRoomcastStampRead:misreads (and post
 * `roomcast-stamp-misread` with `reason` (`unclear-block`, `no-marker` or `bad-crc`), `count` and
 * `misreads`), never as a latency.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m roomcastsrc signaller::uri=ws://127.0.0.1:8443/ws room=demo ! \
 *     roomcaststampread ! fakesink sync=true
 * ]|
 */
#include "gstroomcaststampread.h"

#include "stamp.h"

#include <atomic>

GST_DEBUG_CATEGORY_STATIC(roomcaststampread_debug);
#define GST_CAT_DEFAULT roomcaststampread_debug

namespace {

struct Private {
  std::atomic<guint64> count{0}, misreads{0};
  std::atomic<gint64> last_latency{0}, last_render_latency{0};
  std::atomic<bool> post_messages{true};
  std::atomic<GstClockTime> pipeline_latency{GST_CLOCK_TIME_NONE}; // from the LATENCY event
};

} // namespace

struct _GstRoomcastStampRead {
  GstVideoFilter parent;
  Private *priv;
};

G_DEFINE_TYPE_WITH_CODE(GstRoomcastStampRead, gst_roomcast_stamp_read, GST_TYPE_VIDEO_FILTER,
                        GST_DEBUG_CATEGORY_INIT(roomcaststampread_debug, "roomcaststampread", 0,
                                                "roomcast latency stamp reader"))
GST_ELEMENT_REGISTER_DEFINE(roomcaststampread, "roomcaststampread", GST_RANK_NONE,
                            GST_TYPE_ROOMCAST_STAMP_READ)

enum {
  PROP_0,
  PROP_LAST_LATENCY,
  PROP_LAST_RENDER_LATENCY,
  PROP_COUNT,
  PROP_MISREADS,
  PROP_POST_MESSAGES,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(ROOMCAST_STAMP_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(ROOMCAST_STAMP_CAPS));

// Microseconds from now until a sync=true sink presents `pts` (negative: it is late), or
// G_MININT64 when that is unknown (no clock, no timestamp, no configured latency yet).
static gint64 until_presentation(GstRoomcastStampRead *self, GstClockTime pts) {
  GstClockTime latency = self->priv->pipeline_latency;
  if (!GST_CLOCK_TIME_IS_VALID(pts) || !GST_CLOCK_TIME_IS_VALID(latency)) return G_MININT64;
  GstBaseTransform *trans = GST_BASE_TRANSFORM(self);
  GstClockTime running = gst_segment_to_running_time(&trans->segment, GST_FORMAT_TIME, pts);
  g_autoptr(GstClock) clock = gst_element_get_clock(GST_ELEMENT(self));
  if (!clock || !GST_CLOCK_TIME_IS_VALID(running)) return G_MININT64;
  GstClockTime at = gst_element_get_base_time(GST_ELEMENT(self)) + running + latency;
  GstClockTime now = gst_clock_get_time(clock);
  return GST_CLOCK_DIFF(now, at) / 1000;
}

static GstFlowReturn gst_roomcast_stamp_read_transform_frame_ip(GstVideoFilter *filter,
                                                                GstVideoFrame *frame) {
  auto *self = GST_ROOMCAST_STAMP_READ(filter);
  Private *priv = self->priv;
  const gint64 now = g_get_real_time();
  guint64 stamp = 0;
  auto result = roomcast::stamp::read(frame, &stamp);
  const bool post = priv->post_messages;
  if (result != roomcast::stamp::Read::Ok) {
    guint64 misreads = ++priv->misreads;
    GST_DEBUG_OBJECT(self, "misread: %s", roomcast::stamp::describe(result));
    if (post)
      gst_element_post_message(
          GST_ELEMENT(self),
          gst_message_new_element(
              GST_OBJECT(self), gst_structure_new("roomcast-stamp-misread", "reason", G_TYPE_STRING,
                                                  roomcast::stamp::describe(result), "count",
                                                  G_TYPE_UINT64, guint64(priv->count), "misreads",
                                                  G_TYPE_UINT64, misreads, nullptr)));
    return GST_FLOW_OK;
  }
  const gint64 latency = now - gint64(stamp);
  const gint64 wait = until_presentation(self, GST_BUFFER_PTS(frame->buffer));
  const gint64 render = wait == G_MININT64 ? G_MININT64 : latency + MAX(wait, 0);
  guint64 count = ++priv->count;
  priv->last_latency = latency;
  if (render != G_MININT64) priv->last_render_latency = render;
  GST_LOG_OBJECT(self, "frame %" G_GUINT64_FORMAT ": latency %" G_GINT64_FORMAT " us", count,
                 latency);
  if (post) {
    GstStructure *s = gst_structure_new(
        "roomcast-latency", "latency", G_TYPE_INT64, latency, "stamp", G_TYPE_UINT64, stamp,
        "count", G_TYPE_UINT64, count, "misreads", G_TYPE_UINT64, guint64(priv->misreads), nullptr);
    if (render != G_MININT64)
      gst_structure_set(s, "render-latency", G_TYPE_INT64, render, "pipeline-latency", G_TYPE_INT64,
                        gint64(GstClockTime(priv->pipeline_latency) / 1000), nullptr);
    gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
  }
  return GST_FLOW_OK;
}

// The pipeline's configured latency travels upstream through us to the sources.
static gboolean gst_roomcast_stamp_read_src_event(GstBaseTransform *trans, GstEvent *event) {
  if (GST_EVENT_TYPE(event) == GST_EVENT_LATENCY) {
    GstClockTime latency = GST_CLOCK_TIME_NONE;
    gst_event_parse_latency(event, &latency);
    GST_DEBUG_OBJECT(trans, "pipeline latency %" GST_TIME_FORMAT, GST_TIME_ARGS(latency));
    GST_ROOMCAST_STAMP_READ(trans)->priv->pipeline_latency = latency;
  }
  return GST_BASE_TRANSFORM_CLASS(gst_roomcast_stamp_read_parent_class)->src_event(trans, event);
}

static gboolean gst_roomcast_stamp_read_start(GstBaseTransform *trans) {
  Private *priv = GST_ROOMCAST_STAMP_READ(trans)->priv;
  priv->count = 0;
  priv->misreads = 0;
  priv->last_latency = 0;
  priv->last_render_latency = 0;
  return TRUE;
}

static void gst_roomcast_stamp_read_set_property(GObject *object, guint id, const GValue *value,
                                                 GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_STAMP_READ(object);
  switch (id) {
  case PROP_POST_MESSAGES:
    self->priv->post_messages = g_value_get_boolean(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_stamp_read_get_property(GObject *object, guint id, GValue *value,
                                                 GParamSpec *pspec) {
  Private *priv = GST_ROOMCAST_STAMP_READ(object)->priv;
  switch (id) {
  case PROP_LAST_LATENCY:
    g_value_set_int64(value, priv->last_latency);
    break;
  case PROP_LAST_RENDER_LATENCY:
    g_value_set_int64(value, priv->last_render_latency);
    break;
  case PROP_COUNT:
    g_value_set_uint64(value, priv->count);
    break;
  case PROP_MISREADS:
    g_value_set_uint64(value, priv->misreads);
    break;
  case PROP_POST_MESSAGES:
    g_value_set_boolean(value, priv->post_messages);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_stamp_read_init(GstRoomcastStampRead *self) {
  self->priv = new Private;
}

static void gst_roomcast_stamp_read_finalize(GObject *object) {
  delete GST_ROOMCAST_STAMP_READ(object)->priv;
  G_OBJECT_CLASS(gst_roomcast_stamp_read_parent_class)->finalize(object);
}

static void gst_roomcast_stamp_read_class_init(GstRoomcastStampReadClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS(klass);
  gobject_class->set_property = gst_roomcast_stamp_read_set_property;
  gobject_class->get_property = gst_roomcast_stamp_read_get_property;
  gobject_class->finalize = gst_roomcast_stamp_read_finalize;
  trans_class->start = gst_roomcast_stamp_read_start;
  trans_class->src_event = gst_roomcast_stamp_read_src_event;
  filter_class->transform_frame_ip = gst_roomcast_stamp_read_transform_frame_ip;

  auto ro = GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      gobject_class, PROP_LAST_LATENCY,
      g_param_spec_int64("last-latency", "Last latency",
                         "now − stamp of the last frame read, in microseconds (as it passed)",
                         G_MININT64, G_MAXINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_LAST_RENDER_LATENCY,
      g_param_spec_int64("last-render-latency", "Last render latency",
                         "Latency of the last frame read at its presentation time by a "
                         "sync=true sink, in microseconds (0 until the pipeline has a latency)",
                         G_MININT64, G_MAXINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_COUNT,
      g_param_spec_uint64("count", "Count", "Frames whose stamp was read", 0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_MISREADS,
      g_param_spec_uint64("misreads", "Misreads",
                          "Frames without a readable stamp (missing, damaged or failing its CRC)",
                          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean(
          "post-messages", "Post messages",
          "Post a roomcast-latency (or roomcast-stamp-misread) message per frame", TRUE,
          GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "roomcast latency stamp reader", "Filter/Analyzer/Video",
      "Reads roomcaststamp's time from decoded frames and reports now - stamp",
      "roomcast developers");
}
