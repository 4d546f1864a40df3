/**
 * SECTION:element-roomcastsink
 * @title: roomcastsink
 *
 * Broadcasts its input to every peer of a roomcast room. Raw input is encoded once (VP8 by
 * default; VP9 or H.264 constrained baseline with #GstRoomcastSink:codec), already-encoded
 * VP8/VP9/H.264/Opus is payloaded as it is. A `tee` per stream feeds one `queue ! webrtcbin`
 * branch per peer. The element joins the room as host when it goes to PAUSED, offers to every
 * viewer that joins, trickles ICE both ways, forces a keyframe when a peer connects and forwards
 * viewers' picture loss reports to the encoder, at most one keyframe per
 * #GstRoomcastSink:min-keyframe-interval. A peer that leaves, fails ICE or sends no RTCP for
 * #GstRoomcastSink:peer-timeout seconds is removed without pausing the others.
 *
 * Non-live input (a file) must be paced by the pipeline, e.g. with `clocksync`.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
 *     roomcastsink signaller::uri=ws://127.0.0.1:8443/ws room=demo
 * gst-launch-1.0 ximagesrc use-damage=false ! video/x-raw,framerate=30/1 ! videoconvert ! \
 *     roomcastsink name=s room=demo codec=h264 bitrate=3000 \
 *     audiotestsrc is-live=true ! s.audio_0
 * ]|
 */
#include "gstroomcastsink.h"

#include "common.h"
#include "gstroomcastpad.h"
#include "gstroomcastsignaller.h"
#include "gstroomcastwssignaller.h"

#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(roomcastsink_debug);
#define GST_CAT_DEFAULT roomcastsink_debug

using roomcast::Codec;

namespace {

enum class Media { Video, Audio };

struct Stream {
  GstElement *owner = nullptr; // the roomcastsink (no ref: streams live as long as it)
  Media media = Media::Video;
  GstPad *ghost = nullptr;       // the element's sink pad (owned by the element)
  GstElement *inq = nullptr;     // owned by the bin
  GstElement *tee = nullptr;     // owned by the bin, set once the chain is built
  GstElement *encoder = nullptr; // owned by the bin; null for encoded input
  GstCaps *codec_caps = nullptr; // (lock) what peers are offered, set at the first caps
  bool ready = false;            // (lock)
};

struct Branch {
  GstPad *tee_pad = nullptr;   // ref
  GstElement *queue = nullptr; // ref
};

struct Peer {
  std::string id;
  std::string name;
  bool offerer = true;          // we offer (host; meeting newcomer) or we answer (meeting)
  GstElement *webrtc = nullptr; // ref
  std::vector<Branch> branches;
  // Meeting: what the peer sends us, decoded and exposed as src_<id>_<n>. (lock)
  std::vector<GstElement *> decoders; // refs
  std::vector<GstPad *> pads;         // refs
  guint next_pad = 0;
  gint64 created_us = 0;
  // Written on webrtcbin's threads, read on the worker.
  std::atomic<gint64> connected_us{0};
  std::atomic<gint64> last_rtcp_us{0};
  std::atomic<int> state{GST_WEBRTC_PEER_CONNECTION_STATE_NEW};
  // (lock) stats from the last get-stats
  guint64 bytes_sent = 0;
  double bitrate_bps = 0;
  double rtt_s = 0;
  double fraction_lost = 0;
  gint64 packets_lost = 0;
  guint64 nacks = 0, plis = 0;
  gint64 stats_us = 0;
};

// A peer we may not serve yet (the streams have no caps): kept with the signalling that came
// for it, replayed in order once the peer exists.
struct Waiting {
  std::string id, name;
  bool offerer = true;
  std::vector<std::function<void()>> stashed;
};

struct Settings {
  bool member = false; // role: host (live) or member (meeting)
  std::string room = "default";
  std::string name;
  roomcast::IceConfig ice;
  Codec codec = Codec::VP8;
  guint bitrate_kbps = 2000;
  guint max_peers = 100;
  guint min_keyframe_interval_ms = 500;
  guint peer_timeout_s = 15;
};

struct Private {
  // Lock order: `lock` is a leaf. Never hold it while calling into webrtcbin, the signaller,
  // a pad (link, push, probe add) or while emitting a signal.
  std::mutex lock;
  Settings settings;                         // (lock)
  GstRoomcastSignaller *signaller = nullptr; // (lock) ref
  std::vector<gulong> signaller_handlers;
  std::map<std::string, std::shared_ptr<Peer>> peers; // (lock)
  std::vector<Waiting> waiting;                       // (lock) joined before the streams were ready
  std::vector<std::unique_ptr<Stream>> streams;       // (lock) for the vector; fields as marked
  bool active = false;                                // (lock) between PAUSED and READY
  std::string own_id;                                 // (lock)

  roomcast::Worker worker; // control work: peers come and go here
  GSource *tick = nullptr; // 1 s stats and liveness tick on the worker

  // Keyframe limiter (lock)
  gint64 last_keyframe_us = 0;
  bool keyframe_pending = false;
  std::atomic<guint64> frames{0};
  std::atomic<guint64> keyframes_forwarded{0}, keyframes_coalesced{0};
};

} // namespace

struct _GstRoomcastSink {
  GstBin parent;
  Private *priv;
};

static void gst_roomcast_sink_child_proxy_init(GstChildProxyInterface *iface);

G_DEFINE_TYPE_WITH_CODE(GstRoomcastSink, gst_roomcast_sink, GST_TYPE_BIN,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_CHILD_PROXY,
                                              gst_roomcast_sink_child_proxy_init)
                            GST_DEBUG_CATEGORY_INIT(roomcastsink_debug, "roomcastsink", 0,
                                                    "roomcast sink"))
GST_ELEMENT_REGISTER_DEFINE(roomcastsink, "roomcastsink", GST_RANK_NONE, GST_TYPE_ROOMCAST_SINK)

enum {
  PROP_0,
  PROP_ROLE,
  PROP_SIGNALLER,
  PROP_ROOM,
  PROP_NAME_IN_ROOM,
  PROP_STUN_SERVER,
  PROP_TURN_SERVER,
  PROP_ICE_LOOPBACK,
  PROP_CODEC,
  PROP_BITRATE,
  PROP_MAX_PEERS,
  PROP_LATENCY,
  PROP_MIN_KEYFRAME_INTERVAL,
  PROP_PEER_TIMEOUT,
  PROP_STATS,
};

enum { SIGNAL_PEER_ADDED, SIGNAL_PEER_REMOVED, N_SIGNALS };
static guint sink_signals[N_SIGNALS];

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS("video/x-raw(ANY); video/x-vp8; video/x-vp9; "
                    "video/x-h264, stream-format=(string){ avc, byte-stream }, "
                    "alignment=(string)au"));
static GstStaticPadTemplate remote_template =
    GST_STATIC_PAD_TEMPLATE("src_%s_%u", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio_%u", GST_PAD_SINK, GST_PAD_REQUEST, GST_STATIC_CAPS("audio/x-raw(ANY); audio/x-opus"));

static GType sink_role_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {{0, "Host of a live room", "host"},
                                      {1, "Member of a meeting", "member"},
                                      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstRoomcastSinkRole", values));
  return type;
}

static GstElement *make(const char *factory, const char *name = nullptr) {
  GstElement *e = gst_element_factory_make(factory, name);
  if (!e) GST_ERROR("missing element '%s' (is its GStreamer plugin installed?)", factory);
  return e;
}

// ---- encoding chain ----------------------------------------------------------------------------

static const char *encoding_name(Codec c) {
  switch (c) {
  case Codec::VP9:
    return "VP9";
  case Codec::H264:
    return "H264";
  default:
    return "VP8";
  }
}

static int payload_type(Codec c) {
  switch (c) {
  case Codec::VP9:
    return 98;
  case Codec::H264:
    return 102;
  default:
    return 96;
  }
}

// The profile-level-id we advertise for an H.264 stream: its profile at level 3.1. The level is
// pinned (see build_chain) so a change of resolution never changes the RTP caps mid-stream.
static const char *h264_profile_level_id(const GstCaps *input) {
  const char *profile = nullptr;
  if (input) profile = gst_structure_get_string(gst_caps_get_structure(input, 0), "profile");
  if (!profile || g_str_equal(profile, "constrained-baseline")) return "42e01f";
  if (g_str_equal(profile, "baseline")) return "42001f";
  if (g_str_equal(profile, "main")) return "4d001f";
  return "64001f"; // high and above
}

// What a peer is offered for a stream. Kept minimal: webrtcbin adds the rest.
static GstCaps *codec_caps_for(Media media, Codec codec, const char *profile_level_id) {
  if (media == Media::Audio)
    return gst_caps_from_string("application/x-rtp,media=audio,encoding-name=OPUS,payload=111,"
                                "clock-rate=48000,encoding-params=(string)2");
  GstCaps *caps = gst_caps_new_simple(
      "application/x-rtp", "media", G_TYPE_STRING, "video", "encoding-name", G_TYPE_STRING,
      encoding_name(codec), "payload", G_TYPE_INT, payload_type(codec), "clock-rate", G_TYPE_INT,
      90000, "rtcp-fb-nack-pli", G_TYPE_BOOLEAN, TRUE, "rtcp-fb-ccm-fir", G_TYPE_BOOLEAN, TRUE,
      "rtcp-fb-nack", G_TYPE_BOOLEAN, TRUE, nullptr);
  if (codec == Codec::H264)
    gst_caps_set_simple(caps, "packetization-mode", G_TYPE_STRING, "1", "profile-level-id",
                        G_TYPE_STRING, profile_level_id, "level-asymmetry-allowed", G_TYPE_STRING,
                        "1", nullptr);
  return caps;
}

// libvpx encoder threads for a picture size. Its threads meet at every macroblock row by spinning,
// and on a loaded machine a spinning thread burns the core its partner needs: measured here
// (VP8 realtime, 2 cores), 640x360@15 costs 8% of a core on one thread and 23% on two; 1280x720@30
// 52% and 72%. One thread keeps up to 1280x720@30 (about 17 ms a frame); above that, two.
static int vpx_threads_for(int width, int height) {
  return (width > 0 && height > 0 && gint64(width) * height > 1280 * 720) ? 2 : 1;
}

static GstElement *make_video_encoder(Codec codec, guint kbps, int width, int height) {
  GstElement *enc = nullptr;
  switch (codec) {
  case Codec::VP8:
  case Codec::VP9:
    enc = make(codec == Codec::VP8 ? "vp8enc" : "vp9enc", "encoder");
    if (!enc) return nullptr;
    // Realtime: no lookahead, CBR, a long GOP (peers ask for keyframes when they need them).
    g_object_set(enc, "deadline", G_GINT64_CONSTANT(1), "target-bitrate", gint(kbps * 1000),
                 "lag-in-frames", 0, "keyframe-max-dist", 600, "threads",
                 vpx_threads_for(width, height), nullptr);
    gst_util_set_object_arg(G_OBJECT(enc), "end-usage", "cbr");
    gst_util_set_object_arg(G_OBJECT(enc), "error-resilient", "default");
    g_object_set(enc, "cpu-used", codec == Codec::VP8 ? 8 : 8, nullptr);
    if (codec == Codec::VP9) g_object_set(enc, "row-mt", TRUE, nullptr);
    break;
  case Codec::H264:
    enc = make("x264enc", "encoder");
    if (!enc) return nullptr;
    gst_util_set_object_arg(G_OBJECT(enc), "tune", "zerolatency");
    gst_util_set_object_arg(G_OBJECT(enc), "speed-preset", "ultrafast");
    g_object_set(enc, "bitrate", kbps, "key-int-max", 600, "b-adapt", FALSE, "bframes", 0, nullptr);
    break;
  }
  return enc;
}

static void set_encoder_bitrate(GstElement *enc, guint kbps) {
  if (!enc) return;
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(enc), "target-bitrate"))
    g_object_set(enc, "target-bitrate", gint(kbps * 1000), nullptr);
  else if (g_object_class_find_property(G_OBJECT_GET_CLASS(enc), "bitrate"))
    g_object_set(enc, "bitrate", kbps, nullptr);
}

static GstPadProbeReturn on_tee_caps(GstPad *pad, GstPadProbeInfo *info, gpointer data);
static GstPadProbeReturn on_keyframe_request(GstPad *pad, GstPadProbeInfo *info, gpointer data);
static GstPadProbeReturn on_frame(GstPad *pad, GstPadProbeInfo *info, gpointer data);

// Builds `[convert ! encoder !] payloader ! tee` for a stream whose caps are now known. Runs on
// the streaming thread of the stream's input queue, before the first data leaves it.
static bool build_chain(GstRoomcastSink *self, Stream *st, GstCaps *caps) {
  Private *priv = self->priv;
  const GstStructure *s = gst_caps_get_structure(caps, 0);
  const char *name = gst_structure_get_name(s);
  Codec codec;
  guint kbps;
  {
    std::lock_guard l(priv->lock);
    codec = priv->settings.codec;
    kbps = priv->settings.bitrate_kbps;
  }
  std::vector<GstElement *> chain;
  GstElement *counted = nullptr; // where frames are counted (encoded video)
  const char *plid = h264_profile_level_id(g_str_equal(name, "video/x-h264") ? caps : nullptr);
  if (st->media == Media::Video) {
    if (g_str_equal(name, "video/x-raw")) {
      GstElement *conv = make("videoconvert");
      GstElement *filter = make("capsfilter");
      int width = 0, height = 0;
      gst_structure_get_int(s, "width", &width);
      gst_structure_get_int(s, "height", &height);
      GstElement *enc = make_video_encoder(codec, kbps, width, height);
      if (!conv || !filter || !enc) return false;
      GstCaps *fc = gst_caps_from_string("video/x-raw,format=I420");
      g_object_set(filter, "caps", fc, nullptr);
      gst_caps_unref(fc);
      chain = {conv, filter, enc};
      st->encoder = enc;
      if (codec == Codec::H264) {
        GstElement *profile = make("capsfilter");
        GstCaps *pc = gst_caps_from_string("video/x-h264,profile=constrained-baseline");
        g_object_set(profile, "caps", pc, nullptr);
        gst_caps_unref(pc);
        chain.push_back(profile);
      }
      counted = chain.back();
    } else {
      if (g_str_equal(name, "video/x-vp8"))
        codec = Codec::VP8;
      else if (g_str_equal(name, "video/x-vp9"))
        codec = Codec::VP9;
      else if (g_str_equal(name, "video/x-h264")) {
        codec = Codec::H264;
        GstElement *parse = make("h264parse");
        if (!parse) return false;
        g_object_set(parse, "config-interval", -1, nullptr);
        chain.push_back(parse);
      } else {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("unsupported video input %s", name), (nullptr));
        return false;
      }
    }
    const char *pay_name = codec == Codec::VP8   ? "rtpvp8pay"
                           : codec == Codec::VP9 ? "rtpvp9pay"
                                                 : "rtph264pay";
    GstElement *pay = make(pay_name, "video-pay");
    if (!pay) return false;
    g_object_set(pay, "pt", payload_type(codec), "mtu", 1200, nullptr);
    if (!counted) counted = pay;
    chain.push_back(pay);
    if (codec == Codec::H264) {
      g_object_set(pay, "config-interval", -1, nullptr);
      gst_util_set_object_arg(G_OBJECT(pay), "aggregate-mode", "zero-latency");
      // The payloader derives profile-level-id from each SPS; webrtcbin refuses caps that differ
      // from what was negotiated (and not-negotiated would stop every peer). Pin it.
      GstElement *pin = make("capssetter");
      if (!pin) return false;
      GstCaps *pc = gst_caps_new_simple("application/x-rtp", "profile-level-id", G_TYPE_STRING,
                                        plid, nullptr);
      g_object_set(pin, "caps", pc, nullptr);
      gst_caps_unref(pc);
      chain.push_back(pin);
    } else {
      gst_util_set_object_arg(G_OBJECT(pay), "picture-id-mode", "15-bit");
    }
  } else {
    if (g_str_equal(name, "audio/x-raw")) {
      GstElement *conv = make("audioconvert"), *res = make("audioresample"), *enc = make("opusenc");
      if (!conv || !res || !enc) return false;
      g_object_set(enc, "bitrate", 64000, nullptr);
      gst_util_set_object_arg(G_OBJECT(enc), "audio-type", "voice");
      chain = {conv, res, enc};
    }
    GstElement *pay = make("rtpopuspay", "audio-pay");
    if (!pay) return false;
    g_object_set(pay, "pt", 111, "mtu", 1200, nullptr);
    chain.push_back(pay);
  }
  GstElement *tee = make("tee");
  if (!tee) return false;
  g_object_set(tee, "allow-not-linked", TRUE, nullptr);
  chain.push_back(tee);

  for (GstElement *e : chain)
    gst_bin_add(GST_BIN(self), e);
  GstElement *prev = st->inq;
  for (GstElement *e : chain) {
    if (!gst_element_link(prev, e)) {
      GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("cannot link the encoding chain"),
                        ("%s ! %s", GST_ELEMENT_NAME(prev), GST_ELEMENT_NAME(e)));
      return false;
    }
    prev = e;
  }
  GstPad *tee_sink = gst_element_get_static_pad(tee, "sink");
  gst_pad_add_probe(tee_sink, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_tee_caps, st, nullptr);
  if (st->media == Media::Video)
    gst_pad_add_probe(tee_sink, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, on_keyframe_request, self,
                      nullptr);
  gst_object_unref(tee_sink);
  if (st->media == Media::Video && counted) {
    GstPad *src = gst_element_get_static_pad(counted, "src");
    gst_pad_add_probe(src, GST_PAD_PROBE_TYPE_BUFFER, on_frame, self, nullptr);
    gst_object_unref(src);
  }
  for (GstElement *e : chain)
    gst_element_sync_state_with_parent(e);
  st->tee = tee;
  {
    std::lock_guard l(priv->lock);
    gst_caps_replace(&st->codec_caps, nullptr);
    st->codec_caps = codec_caps_for(st->media, codec, plid);
  }
  GST_INFO_OBJECT(self, "%s chain built for %s", st->media == Media::Video ? "video" : "audio",
                  name);
  return true;
}

static GstPadProbeReturn on_input_caps(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *st = static_cast<Stream *>(data);
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(ev) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
  if (st->tee) return GST_PAD_PROBE_REMOVE;
  GstCaps *caps = nullptr;
  gst_event_parse_caps(ev, &caps);
  if (!build_chain(GST_ROOMCAST_SINK(st->owner), st, caps)) return GST_PAD_PROBE_DROP;
  // Linked now: the caps event goes on to the new chain.
  return GST_PAD_PROBE_REMOVE;
}

// ---- frames, keyframes --------------------------------------------------------------------------

static GstPadProbeReturn on_frame(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *self = GST_ROOMCAST_SINK(data);
  // Encoder output is one buffer a frame; for payloaded passthrough count RTP marker-less.
  self->priv->frames.fetch_add(1, std::memory_order_relaxed);
  return GST_PAD_PROBE_OK;
}

static GstEvent *new_keyframe_request(bool limited) {
  GstEvent *ev = gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0);
  if (limited) {
    GstStructure *s = gst_event_writable_structure(ev);
    gst_structure_set(s, "roomcast-passed", G_TYPE_BOOLEAN, TRUE, nullptr);
  }
  return ev;
}

static Stream *video_stream(Private *priv) {
  for (auto &s : priv->streams)
    if (s->media == Media::Video) return s.get();
  return nullptr;
}

// Sends one coalesced keyframe request when the limiter's interval has passed.
static gboolean send_deferred_keyframe(gpointer data) {
  auto *self = GST_ROOMCAST_SINK(data);
  Private *priv = self->priv;
  GstElement *tee = nullptr;
  {
    std::lock_guard l(priv->lock);
    priv->keyframe_pending = false;
    priv->last_keyframe_us = g_get_monotonic_time();
    if (Stream *st = video_stream(priv); st && st->tee) tee = GST_ELEMENT(gst_object_ref(st->tee));
  }
  if (tee) {
    GstPad *sink = gst_element_get_static_pad(tee, "sink");
    gst_pad_push_event(sink, new_keyframe_request(true));
    gst_object_unref(sink);
    gst_object_unref(tee);
    priv->keyframes_forwarded++;
  }
  return G_SOURCE_REMOVE;
}

// Upstream force-key-unit requests (peers connecting, viewers' PLI/FIR) pass here on their way
// to the shared encoder: at most one per interval; the rest are coalesced into one request
// sent when the interval ends, so every viewer gets its keyframe and the encoder no storm.
static GstPadProbeReturn on_keyframe_request(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *self = GST_ROOMCAST_SINK(data);
  Private *priv = self->priv;
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (!gst_video_event_is_force_key_unit(ev)) return GST_PAD_PROBE_OK;
  const GstStructure *s = gst_event_get_structure(ev);
  if (s && gst_structure_has_field(s, "roomcast-passed")) return GST_PAD_PROBE_OK;
  gint64 now = g_get_monotonic_time();
  std::lock_guard l(priv->lock);
  gint64 interval = gint64(priv->settings.min_keyframe_interval_ms) * 1000;
  if (now - priv->last_keyframe_us >= interval) {
    priv->last_keyframe_us = now;
    priv->keyframes_forwarded++;
    return GST_PAD_PROBE_OK;
  }
  priv->keyframes_coalesced++;
  if (!priv->keyframe_pending && priv->worker.running()) {
    priv->keyframe_pending = true;
    guint delay_ms = guint((interval - (now - priv->last_keyframe_us)) / 1000) + 1;
    GSource *src = g_timeout_source_new(delay_ms);
    g_source_set_callback(src, send_deferred_keyframe, gst_object_ref(self), gst_object_unref);
    g_source_attach(src, priv->worker.context());
    g_source_unref(src);
  }
  return GST_PAD_PROBE_DROP;
}

// ---- peers ------------------------------------------------------------------------------------

static std::shared_ptr<Peer> find_peer(Private *priv, const std::string &id) {
  std::lock_guard l(priv->lock);
  auto it = priv->peers.find(id);
  return it == priv->peers.end() ? nullptr : it->second;
}

static GstRoomcastSignaller *ref_signaller(Private *priv) {
  std::lock_guard l(priv->lock);
  return priv->signaller ? GST_ROOMCAST_SIGNALLER(g_object_ref(priv->signaller)) : nullptr;
}

// What webrtcbin callbacks carry: the element (weakly) and the peer id. Looked up again on use.
struct PeerRef {
  GWeakRef sink;
  std::string id;
  static PeerRef *make(GstRoomcastSink *self, const std::string &id) {
    auto *r = new PeerRef{{}, id};
    g_weak_ref_init(&r->sink, self);
    return r;
  }
  static void destroy(gpointer p) {
    auto *r = static_cast<PeerRef *>(p);
    g_weak_ref_clear(&r->sink);
    delete r;
  }
  static void closure_destroy(gpointer p, GClosure *) { destroy(p); }
  GstRoomcastSink *get() { return static_cast<GstRoomcastSink *>(g_weak_ref_get(&sink)); }
};

static void remove_peer(GstRoomcastSink *self, const std::string &id, const char *why);

// Queues `remove_peer` on the worker (from any thread).
static void schedule_remove(GstRoomcastSink *self, const std::string &id, const char *why) {
  Private *priv = self->priv;
  if (!priv->worker.running()) return;
  gst_object_ref(self);
  roomcast::invoke_on(priv->worker.context(), [self, id, why]() {
    remove_peer(self, id, why);
    gst_object_unref(self);
  });
}

static void on_offer_created(GstPromise *promise, gpointer data) {
  auto *ref = static_cast<PeerRef *>(data);
  g_autoptr(GstRoomcastSink) self = ref->get();
  const GstStructure *reply = gst_promise_get_reply(promise);
  GstWebRTCSessionDescription *offer = nullptr;
  if (reply)
    gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
  gst_promise_unref(promise);
  if (!self) return;
  auto peer = find_peer(self->priv, ref->id);
  if (!offer || !peer) {
    if (!offer) GST_WARNING_OBJECT(self, "could not create an offer for %s", ref->id.c_str());
    if (offer) gst_webrtc_session_description_free(offer);
    return;
  }
  g_signal_emit_by_name(peer->webrtc, "set-local-description", offer, nullptr);
  if (GstRoomcastSignaller *sig = ref_signaller(self->priv)) {
    gst_roomcast_signaller_send_sdp(sig, ref->id.c_str(), offer);
    g_object_unref(sig);
  }
  GST_DEBUG_OBJECT(self, "offer sent to %s", ref->id.c_str());
  gst_webrtc_session_description_free(offer);
}

static void on_negotiation_needed(GstElement *webrtc, gpointer data) {
  auto *ref = static_cast<PeerRef *>(data);
  g_autoptr(GstRoomcastSink) self = ref->get();
  if (!self) return;
  auto peer = find_peer(self->priv, ref->id);
  if (!peer || !peer->offerer) return; // answerers wait for the remote offer
  GstPromise *promise = gst_promise_new_with_change_func(
      on_offer_created, PeerRef::make(self, ref->id), PeerRef::destroy);
  g_signal_emit_by_name(webrtc, "create-offer", nullptr, promise);
}

static void on_ice_candidate(GstElement *, guint mline, gchar *candidate, gpointer data) {
  auto *ref = static_cast<PeerRef *>(data);
  g_autoptr(GstRoomcastSink) self = ref->get();
  if (!self) return;
  if (GstRoomcastSignaller *sig = ref_signaller(self->priv)) {
    gst_roomcast_signaller_send_ice(sig, ref->id.c_str(), mline, candidate, nullptr);
    g_object_unref(sig);
  }
}

static void on_connection_state(GstElement *webrtc, GParamSpec *, gpointer data) {
  auto *ref = static_cast<PeerRef *>(data);
  g_autoptr(GstRoomcastSink) self = ref->get();
  if (!self) return;
  GstWebRTCPeerConnectionState state;
  g_object_get(webrtc, "connection-state", &state, nullptr);
  auto peer = find_peer(self->priv, ref->id);
  if (!peer) return;
  peer->state = state;
  GST_INFO_OBJECT(self, "peer %s: connection %d", ref->id.c_str(), state);
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED && peer->connected_us == 0) {
    peer->connected_us = g_get_monotonic_time();
    peer->last_rtcp_us = peer->connected_us.load();
    // A new peer must see a picture at once.
    std::vector<GstPad *> pads;
    {
      std::lock_guard l(self->priv->lock);
      for (const Branch &b : peer->branches)
        if (b.tee_pad) pads.push_back(GST_PAD(gst_object_ref(b.tee_pad)));
    }
    for (GstPad *pad : pads) {
      gst_pad_send_event(pad, new_keyframe_request(false));
      gst_object_unref(pad);
    }
  } else if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) {
    schedule_remove(self, ref->id, "connection failed");
  }
}

static void on_ssrc_active(GstElement *, guint, guint, gpointer data) {
  auto *ref = static_cast<PeerRef *>(data);
  g_autoptr(GstRoomcastSink) self = ref->get();
  if (!self) return;
  if (auto peer = find_peer(self->priv, ref->id)) peer->last_rtcp_us = g_get_monotonic_time();
}

// Meeting: a decoded remote stream becomes src_<peer>_<n> on the element.
static void on_remote_decoded(GstElement *, GstPad *pad, gpointer data) {
  auto *ref = static_cast<PeerRef *>(data);
  g_autoptr(GstRoomcastSink) self = ref->get();
  auto peer = self ? find_peer(self->priv, ref->id) : nullptr;
  if (!peer) return;
  g_autofree char *name = nullptr;
  {
    std::lock_guard l(self->priv->lock);
    name = g_strdup_printf("src_%s_%u", peer->id.c_str(), peer->next_pad++);
  }
  GstPadTemplate *templ =
      gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(self), "src_%s_%u");
  GstPad *ghost = gst_roomcast_pad_new(name, pad, templ, peer->id.c_str(), peer->name.c_str());
  gst_pad_set_active(ghost, TRUE);
  {
    std::lock_guard l(self->priv->lock);
    peer->pads.push_back(GST_PAD(gst_object_ref(ghost)));
  }
  GST_INFO_OBJECT(self, "exposing %s", name);
  gst_element_add_pad(GST_ELEMENT(self), ghost);
}

// webrtcbin's thread: a remote stream arrived. Its decoder is added and linked on the worker.
static void on_remote_pad(GstElement *, GstPad *pad, gpointer data) {
  auto *ref = static_cast<PeerRef *>(data);
  g_autoptr(GstRoomcastSink) self = ref->get();
  if (!self || GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  std::shared_ptr<PeerRef> weak(PeerRef::make(self, ref->id), PeerRef::destroy);
  roomcast::link_on(self->priv->worker.context(), pad, [weak](GstPad *remote) {
    g_autoptr(GstRoomcastSink) s = weak->get();
    const std::string &id = weak->id;
    auto peer = s ? find_peer(s->priv, id) : nullptr;
    if (!peer) return; // left meanwhile: its webrtcbin goes, and the pad with it
    GstElement *dec = make("decodebin");
    if (!dec) return;
    g_signal_connect_data(dec, "pad-added", G_CALLBACK(on_remote_decoded), PeerRef::make(s, id),
                          PeerRef::closure_destroy, GConnectFlags(0));
    {
      std::lock_guard l(s->priv->lock);
      peer->decoders.push_back(GST_ELEMENT(gst_object_ref(dec)));
    }
    gst_bin_add(GST_BIN(s), dec);
    gst_element_sync_state_with_parent(dec);
    GstPad *sink = gst_element_get_static_pad(dec, "sink");
    if (gst_pad_link(remote, sink) != GST_PAD_LINK_OK)
      GST_WARNING_OBJECT(s, "cannot decode a stream from %s", id.c_str());
    gst_object_unref(sink);
  });
}

// Worker: builds `queue ! webrtcbin` for every stream and links it to the tees.
static void create_peer(GstRoomcastSink *self, const std::string &id, const std::string &name,
                        bool offerer) {
  Private *priv = self->priv;
  roomcast::IceConfig ice;
  std::vector<std::pair<Stream *, GstCaps *>> streams;
  bool member;
  {
    std::lock_guard l(priv->lock);
    if (!priv->active || priv->peers.contains(id)) return;
    member = priv->settings.member;
    if (priv->peers.size() >= priv->settings.max_peers) {
      GST_WARNING_OBJECT(self, "max-peers (%u) reached; not sending to %s",
                         priv->settings.max_peers, id.c_str());
      return;
    }
    ice = priv->settings.ice;
    for (auto &st : priv->streams)
      streams.emplace_back(st.get(), gst_caps_ref(st->codec_caps));
  }
  auto peer = std::make_shared<Peer>();
  peer->id = id;
  peer->name = name;
  peer->offerer = offerer;
  peer->created_us = g_get_monotonic_time();
  g_autofree char *wname = g_strdup_printf("webrtc-%s", id.c_str());
  peer->webrtc = GST_ELEMENT(gst_object_ref_sink(make("webrtcbin", wname)));
  roomcast::configure_webrtcbin(peer->webrtc, ice);
  // Signals first, state changes after.
  g_signal_connect_data(peer->webrtc, "on-negotiation-needed", G_CALLBACK(on_negotiation_needed),
                        PeerRef::make(self, id), PeerRef::closure_destroy, GConnectFlags(0));
  g_signal_connect_data(peer->webrtc, "on-ice-candidate", G_CALLBACK(on_ice_candidate),
                        PeerRef::make(self, id), PeerRef::closure_destroy, GConnectFlags(0));
  g_signal_connect_data(peer->webrtc, "notify::connection-state", G_CALLBACK(on_connection_state),
                        PeerRef::make(self, id), PeerRef::closure_destroy, GConnectFlags(0));
  if (member)
    g_signal_connect_data(peer->webrtc, "pad-added", G_CALLBACK(on_remote_pad),
                          PeerRef::make(self, id), PeerRef::closure_destroy, GConnectFlags(0));
  if (GstElement *rtpbin = gst_bin_get_by_name(GST_BIN(peer->webrtc), "rtpbin")) {
    g_signal_connect_data(rtpbin, "on-ssrc-active", G_CALLBACK(on_ssrc_active),
                          PeerRef::make(self, id), PeerRef::closure_destroy, GConnectFlags(0));
    gst_object_unref(rtpbin);
  }
  {
    // Visible before negotiation starts: callbacks look the peer up by id.
    std::lock_guard l(priv->lock);
    priv->peers.emplace(id, peer);
  }
  gst_bin_add(GST_BIN(self), peer->webrtc); // takes its own ref (ours is not floating)
  for (auto &[st, caps] : streams) {
    Branch b;
    b.queue = GST_ELEMENT(gst_object_ref_sink(make("queue")));
    g_object_set(b.queue, "max-size-buffers", 0, "max-size-bytes", 0, "max-size-time", GST_SECOND,
                 nullptr);
    gst_util_set_object_arg(G_OBJECT(b.queue), "leaky", "downstream");
    gst_bin_add(GST_BIN(self), b.queue); // takes its own ref (ours is not floating)
    GstPad *wpad = gst_element_request_pad_simple(peer->webrtc, "sink_%u");
    GstPad *qsrc = gst_element_get_static_pad(b.queue, "src");
    gst_pad_link(qsrc, wpad);
    gst_object_unref(qsrc);
    GstWebRTCRTPTransceiver *trans = nullptr;
    g_object_get(wpad, "transceiver", &trans, nullptr);
    if (trans) {
      g_object_set(trans, "direction",
                   member ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
                          : GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                   "codec-preferences", caps, nullptr);
      gst_object_unref(trans);
    }
    gst_object_unref(wpad);
    gst_caps_unref(caps);
    std::lock_guard l(priv->lock);
    peer->branches.push_back(b);
  }
  gst_element_sync_state_with_parent(peer->webrtc);
  // `branches` only grows here (worker) and is emptied by finish_remove; others read it under
  // the lock.
  for (size_t i = 0; i < streams.size(); i++) {
    GstElement *queue;
    {
      std::lock_guard l(priv->lock);
      queue = peer->branches[i].queue;
    }
    gst_element_sync_state_with_parent(queue);
    GstPad *tee_pad = gst_element_request_pad_simple(streams[i].first->tee, "src_%u");
    GstPad *qsink = gst_element_get_static_pad(queue, "sink");
    {
      std::lock_guard l(priv->lock);
      peer->branches[i].tee_pad = tee_pad;
    }
    if (gst_pad_link(tee_pad, qsink) != GST_PAD_LINK_OK)
      GST_WARNING_OBJECT(self, "cannot link peer %s to the tee", id.c_str());
    gst_object_unref(qsink);
  }
  GST_INFO_OBJECT(self, "peer %s added", id.c_str());
  g_signal_emit(self, sink_signals[SIGNAL_PEER_ADDED], 0, id.c_str(), peer->webrtc);
}

// Last step of a removal, off the streaming threads: release, stop and drop the branch.
static void finish_remove(GstRoomcastSink *self, std::shared_ptr<Peer> peer) {
  // webrtcbin first: if the pipeline is passing through PAUSED, the branch queue's thread may
  // be waiting for preroll in webrtcbin's network sink, holding the queue's stream lock;
  // stopping webrtcbin releases it. Stopping the queue first would wait on it forever.
  gst_element_set_state(peer->webrtc, GST_STATE_NULL);
  std::vector<Branch> branches;
  {
    std::lock_guard l(self->priv->lock);
    branches = std::exchange(peer->branches, {});
  }
  for (Branch &b : branches) {
    if (GstElement *tee = gst_pad_get_parent_element(b.tee_pad)) {
      gst_element_release_request_pad(tee, b.tee_pad);
      gst_object_unref(tee);
    }
    gst_element_set_state(b.queue, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(self), b.queue);
    gst_object_unref(b.tee_pad);
    gst_object_unref(b.queue);
  }
  std::vector<GstElement *> decoders;
  std::vector<GstPad *> pads;
  {
    std::lock_guard l(self->priv->lock);
    decoders = std::exchange(peer->decoders, {});
    pads = std::exchange(peer->pads, {});
  }
  for (GstElement *d : decoders)
    gst_element_set_state(d, GST_STATE_NULL);
  for (GstPad *pad : pads) {
    // The remote stream ended; never flush downstream (a flushed sink waits for preroll).
    gst_pad_push_event(pad, gst_event_new_eos());
    gst_element_remove_pad(GST_ELEMENT(self), pad);
    gst_object_unref(pad);
  }
  for (GstElement *d : decoders) {
    gst_bin_remove(GST_BIN(self), d);
    gst_object_unref(d);
  }
  gst_bin_remove(GST_BIN(self), peer->webrtc);
  gst_object_unref(peer->webrtc);
  peer->webrtc = nullptr;
  GST_INFO_OBJECT(self, "peer %s removed", peer->id.c_str());
  g_signal_emit(self, sink_signals[SIGNAL_PEER_REMOVED], 0, peer->id.c_str());
}

struct Removal {
  GstRoomcastSink *self; // ref
  std::shared_ptr<Peer> peer;
  std::atomic<int> left;
};

static GstPadProbeReturn on_branch_idle(GstPad *tee_pad, GstPadProbeInfo *, gpointer data) {
  auto *r = static_cast<Removal *>(data);
  // The tee is not pushing on this pad now: unlink, so the others go on at once.
  GstPad *peer_pad = gst_pad_get_peer(tee_pad);
  if (peer_pad) {
    gst_pad_unlink(tee_pad, peer_pad);
    gst_object_unref(peer_pad);
  }
  if (--r->left == 0) {
    // State changes and removal never on a streaming thread.
    gst_element_call_async(
        GST_ELEMENT(r->self),
        [](GstElement *, gpointer d) {
          auto *rm = static_cast<Removal *>(d);
          finish_remove(rm->self, rm->peer);
        },
        r,
        [](gpointer d) {
          auto *rm = static_cast<Removal *>(d);
          gst_object_unref(rm->self);
          delete rm;
        });
  }
  return GST_PAD_PROBE_REMOVE;
}

static void remove_peer(GstRoomcastSink *self, const std::string &id, const char *why) {
  Private *priv = self->priv;
  std::shared_ptr<Peer> peer;
  {
    std::lock_guard l(priv->lock);
    std::erase_if(priv->waiting, [&](const Waiting &w) { return w.id == id; });
    auto it = priv->peers.find(id);
    if (it == priv->peers.end()) return;
    peer = std::move(it->second);
    priv->peers.erase(it);
  }
  GST_INFO_OBJECT(self, "removing peer %s (%s)", id.c_str(), why);
  // Snapshot first: an IDLE probe may fire at once and hand the peer to finish_remove on another
  // thread, which empties `branches`.
  std::vector<GstPad *> tee_pads;
  {
    std::lock_guard l(priv->lock);
    for (Branch &b : peer->branches)
      tee_pads.push_back(GST_PAD(gst_object_ref(b.tee_pad)));
  }
  if (tee_pads.empty()) {
    finish_remove(self, peer);
    return;
  }
  auto *r = new Removal{GST_ROOMCAST_SINK(gst_object_ref(self)), peer, {}};
  r->left = static_cast<int>(tee_pads.size());
  for (GstPad *pad : tee_pads) {
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_IDLE, on_branch_idle, r, nullptr);
    gst_object_unref(pad);
  }
}

// Worker: every second, refresh stats and drop peers that went quiet.
static void on_stats(GstPromise *promise, gpointer data) {
  auto *ref = static_cast<PeerRef *>(data);
  g_autoptr(GstRoomcastSink) self = ref->get();
  const GstStructure *reply = gst_promise_get_reply(promise);
  auto peer = self ? find_peer(self->priv, ref->id) : nullptr;
  if (!reply || !peer) {
    gst_promise_unref(promise);
    return;
  }
  guint64 bytes = 0, nacks = 0, plis = 0;
  double rtt = 0, fraction = 0;
  gint64 lost = 0;
  std::tuple<guint64 *, double *, double *, gint64 *, guint64 *, guint64 *> acc{
      &bytes, &rtt, &fraction, &lost, &nacks, &plis};
  gst_structure_foreach(
      reply,
      [](GQuark, const GValue *v, gpointer d) -> gboolean {
        if (!GST_VALUE_HOLDS_STRUCTURE(v)) return TRUE;
        auto *acc = static_cast<
            std::tuple<guint64 *, double *, double *, gint64 *, guint64 *, guint64 *> *>(d);
        const GstStructure *s = gst_value_get_structure(v);
        GstWebRTCStatsType type;
        if (!gst_structure_get(s, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, nullptr)) return TRUE;
        if (type == GST_WEBRTC_STATS_OUTBOUND_RTP) {
          guint64 b = 0;
          guint n = 0;
          if (gst_structure_get_uint64(s, "bytes-sent", &b)) *std::get<0>(*acc) += b;
          if (gst_structure_get_uint(s, "nack-count", &n)) *std::get<4>(*acc) += n;
          if (gst_structure_get_uint(s, "pli-count", &n)) *std::get<5>(*acc) += n;
        } else if (type == GST_WEBRTC_STATS_REMOTE_INBOUND_RTP) {
          double r = 0, f = 0;
          gint64 l = 0;
          if (gst_structure_get_double(s, "round-trip-time", &r)) *std::get<1>(*acc) = r;
          if (gst_structure_get_double(s, "fraction-lost", &f)) *std::get<2>(*acc) = f;
          if (gst_structure_get_int64(s, "packets-lost", &l)) *std::get<3>(*acc) += l;
        }
        return TRUE;
      },
      &acc);
  gst_promise_unref(promise);
  gint64 now = g_get_monotonic_time();
  std::lock_guard l(self->priv->lock);
  if (peer->stats_us && bytes >= peer->bytes_sent)
    peer->bitrate_bps = (bytes - peer->bytes_sent) * 8.0 * 1e6 / double(now - peer->stats_us);
  peer->bytes_sent = bytes;
  peer->stats_us = now;
  peer->rtt_s = rtt;
  peer->fraction_lost = fraction;
  peer->packets_lost = lost;
  peer->nacks = nacks;
  peer->plis = plis;
}

static gboolean on_tick(gpointer data) {
  auto *self = GST_ROOMCAST_SINK(data);
  Private *priv = self->priv;
  std::vector<std::shared_ptr<Peer>> peers;
  gint64 timeout;
  {
    std::lock_guard l(priv->lock);
    for (auto &[id, p] : priv->peers)
      peers.push_back(p);
    timeout = gint64(priv->settings.peer_timeout_s) * G_USEC_PER_SEC;
  }
  gint64 now = g_get_monotonic_time();
  for (auto &p : peers) {
    if (timeout > 0 && p->connected_us && now - p->last_rtcp_us > timeout) {
      remove_peer(self, p->id, "no RTCP");
      continue;
    }
    if (timeout > 0 && !p->connected_us && now - p->created_us > 2 * timeout) {
      remove_peer(self, p->id, "never connected");
      continue;
    }
    GstPromise *promise =
        gst_promise_new_with_change_func(on_stats, PeerRef::make(self, p->id), PeerRef::destroy);
    g_signal_emit_by_name(p->webrtc, "get-stats", nullptr, promise);
  }
  return G_SOURCE_CONTINUE;
}

// Worker: peers that joined before every stream had caps.
static void flush_waiting(GstRoomcastSink *self) {
  std::vector<Waiting> waiting;
  {
    std::lock_guard l(self->priv->lock);
    for (auto &st : self->priv->streams)
      if (!st->ready) return;
    waiting = std::exchange(self->priv->waiting, {});
  }
  for (auto &w : waiting) {
    create_peer(self, w.id, w.name, w.offerer);
    for (auto &fn : w.stashed)
      fn();
  }
}

// Worker: runs `fn` for a peer now, or once it exists if it is waiting for the streams' caps.
// False when the peer is unknown.
static bool when_peer_ready(GstRoomcastSink *self, const std::string &id,
                            std::function<void()> fn) {
  {
    std::lock_guard l(self->priv->lock);
    if (!self->priv->peers.contains(id)) {
      for (auto &w : self->priv->waiting)
        if (w.id == id) {
          w.stashed.push_back(std::move(fn));
          return true;
        }
      return false;
    }
  }
  fn();
  return true;
}

static GstPadProbeReturn on_tee_caps(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *st = static_cast<Stream *>(data);
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(ev) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
  auto *self = GST_ROOMCAST_SINK(st->owner);
  Private *priv = self->priv;
  bool flush = true;
  {
    std::lock_guard l(priv->lock);
    st->ready = true;
    for (auto &other : priv->streams)
      flush = flush && other->ready;
    flush = flush && !priv->waiting.empty() && priv->worker.running();
  }
  if (flush) {
    gst_object_ref(self);
    roomcast::invoke_on(priv->worker.context(), [self]() {
      flush_waiting(self);
      gst_object_unref(self);
    });
  }
  return GST_PAD_PROBE_OK;
}

// ---- signaller events (signaller thread) --------------------------------------------------------

static void on_sig_joined(GstRoomcastSignaller *, const gchar *id, GstRoomcastRoomKind kind,
                          gpointer data) {
  auto *self = GST_ROOMCAST_SINK(data);
  std::lock_guard l(self->priv->lock);
  self->priv->own_id = id;
  GST_INFO_OBJECT(self, "joined as %s (%s room)", id, gst_roomcast_room_kind_to_string(kind));
}

// Runs `fn(self)` on the element's worker.
template <typename F> static void on_worker(GstRoomcastSink *self, F &&fn) {
  if (!self->priv->worker.running()) return;
  gst_object_ref(self);
  roomcast::invoke_on(self->priv->worker.context(), [self, fn = std::forward<F>(fn)]() mutable {
    fn(self);
    gst_object_unref(self);
  });
}

static void on_sig_peer_joined(GstRoomcastSignaller *, const gchar *id, GstRoomcastRole role,
                               const gchar *name, gboolean existing, gpointer data) {
  auto *self = GST_ROOMCAST_SINK(data);
  Private *priv = self->priv;
  bool member;
  {
    std::lock_guard l(priv->lock);
    member = priv->settings.member;
  }
  // A host sends to viewers. In a meeting each pair shares one connection, offered by the
  // newcomer: we offer to members already there (existing) and answer those who come later.
  if (role != (member ? GST_ROOMCAST_ROLE_MEMBER : GST_ROOMCAST_ROLE_VIEWER)) return;
  Waiting w{id, name ? name : "", member ? bool(existing) : true, {}};
  on_worker(self, [w = std::move(w)](GstRoomcastSink *s) mutable {
    {
      std::lock_guard l(s->priv->lock);
      bool ready = !s->priv->streams.empty();
      for (auto &st : s->priv->streams)
        ready = ready && st->ready;
      if (!ready) {
        GST_DEBUG_OBJECT(s, "peer %s waits for the streams' caps", w.id.c_str());
        s->priv->waiting.push_back(std::move(w));
        return;
      }
    }
    create_peer(s, w.id, w.name, w.offerer);
  });
}

static void on_sig_peer_left(GstRoomcastSignaller *, const gchar *id, gpointer data) {
  schedule_remove(GST_ROOMCAST_SINK(data), id, "left the room");
}

// Worker: an offer or answer from a peer.
static void apply_sdp(GstRoomcastSink *self, const std::string &id,
                      std::shared_ptr<GstWebRTCSessionDescription> sdp) {
  auto peer = find_peer(self->priv, id);
  if (!peer) return;
  if (sdp->type == GST_WEBRTC_SDP_TYPE_ANSWER && peer->offerer) {
    g_signal_emit_by_name(peer->webrtc, "set-remote-description", sdp.get(), nullptr);
  } else if (sdp->type == GST_WEBRTC_SDP_TYPE_OFFER && !peer->offerer) {
    std::shared_ptr<PeerRef> ref(PeerRef::make(self, id), PeerRef::destroy);
    roomcast::answer_offer(peer->webrtc, sdp.get(), [ref](GstWebRTCSessionDescription *answer) {
      g_autoptr(GstRoomcastSink) s = ref->get();
      if (!s) return;
      if (!answer) {
        GST_WARNING_OBJECT(s, "could not answer %s", ref->id.c_str());
        return;
      }
      if (GstRoomcastSignaller *sig = ref_signaller(s->priv)) {
        gst_roomcast_signaller_send_sdp(sig, ref->id.c_str(), answer);
        g_object_unref(sig);
      }
    });
  } else {
    GST_WARNING_OBJECT(self, "unexpected %s from %s ignored",
                       sdp->type == GST_WEBRTC_SDP_TYPE_OFFER ? "offer" : "answer", id.c_str());
  }
}

// Negotiation goes to the worker too, so it always comes after the peer was created.
static void on_sig_sdp(GstRoomcastSignaller *, const gchar *id, GstWebRTCSessionDescription *sdp,
                       gpointer data) {
  std::shared_ptr<GstWebRTCSessionDescription> copy(gst_webrtc_session_description_copy(sdp),
                                                    gst_webrtc_session_description_free);
  on_worker(GST_ROOMCAST_SINK(data), [pid = std::string(id), copy](GstRoomcastSink *self) {
    if (!when_peer_ready(self, pid, [self, pid, copy]() { apply_sdp(self, pid, copy); }))
      GST_WARNING_OBJECT(self, "SDP from unknown peer %s ignored", pid.c_str());
  });
}

static void on_sig_ice(GstRoomcastSignaller *, const gchar *id, guint mline, const gchar *cand,
                       const gchar *, gpointer data) {
  if (!cand || !*cand) return;
  on_worker(GST_ROOMCAST_SINK(data),
            [pid = std::string(id), c = std::string(cand), mline](GstRoomcastSink *self) {
              when_peer_ready(self, pid, [self, pid, c, mline]() {
                if (auto peer = find_peer(self->priv, pid))
                  g_signal_emit_by_name(peer->webrtc, "add-ice-candidate", mline, c.c_str());
              });
            });
}

static void on_sig_error(GstRoomcastSignaller *, const gchar *message, gboolean fatal,
                         gpointer data) {
  auto *self = GST_ROOMCAST_SINK(data);
  if (fatal)
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("%s", message), ("signaller error"));
  else
    GST_ELEMENT_WARNING(self, RESOURCE, READ, ("%s", message), ("signaller warning"));
}

// ---- element ---------------------------------------------------------------------------------

static void connect_signaller(GstRoomcastSink *self) {
  Private *priv = self->priv;
  GstRoomcastSignaller *sig = ref_signaller(priv);
  if (!sig) return;
  priv->signaller_handlers = {
      g_signal_connect(sig, "joined", G_CALLBACK(on_sig_joined), self),
      g_signal_connect(sig, "peer-joined", G_CALLBACK(on_sig_peer_joined), self),
      g_signal_connect(sig, "peer-left", G_CALLBACK(on_sig_peer_left), self),
      g_signal_connect(sig, "sdp", G_CALLBACK(on_sig_sdp), self),
      g_signal_connect(sig, "ice", G_CALLBACK(on_sig_ice), self),
      g_signal_connect(sig, "error", G_CALLBACK(on_sig_error), self),
  };
  g_object_unref(sig);
}

static void disconnect_signaller(GstRoomcastSink *self) {
  Private *priv = self->priv;
  GstRoomcastSignaller *sig = ref_signaller(priv);
  if (!sig) return;
  for (gulong h : priv->signaller_handlers)
    g_signal_handler_disconnect(sig, h);
  priv->signaller_handlers.clear();
  g_object_unref(sig);
}

// Runs `fn` on the worker and waits for it.
template <typename F> static void run_on_worker_sync(GstRoomcastSink *self, F &&fn) {
  Private *priv = self->priv;
  if (!priv->worker.running()) {
    fn();
    return;
  }
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  roomcast::invoke_on(priv->worker.context(), [&]() {
    fn();
    std::lock_guard l(m);
    done = true;
    cv.notify_one();
  });
  std::unique_lock l(m);
  cv.wait(l, [&] { return done; });
}

static GstStateChangeReturn gst_roomcast_sink_change_state(GstElement *element,
                                                           GstStateChange transition) {
  auto *self = GST_ROOMCAST_SINK(element);
  Private *priv = self->priv;
  switch (transition) {
  case GST_STATE_CHANGE_NULL_TO_READY:
    priv->worker.start("roomcastsink");
    roomcast::warm_up_dtls();
    connect_signaller(self);
    break;
  case GST_STATE_CHANGE_READY_TO_PAUSED: {
    std::string room, name;
    bool member;
    {
      std::lock_guard l(priv->lock);
      priv->active = true;
      member = priv->settings.member;
      room = priv->settings.room;
      name = priv->settings.name;
    }
    priv->tick = g_timeout_source_new_seconds(1);
    g_source_set_callback(priv->tick, on_tick, self, nullptr);
    g_source_attach(priv->tick, priv->worker.context());
    if (GstRoomcastSignaller *sig = ref_signaller(priv)) {
      gst_roomcast_signaller_start(sig, room.c_str(),
                                   member ? GST_ROOMCAST_ROLE_MEMBER : GST_ROOMCAST_ROLE_HOST,
                                   name.c_str());
      g_object_unref(sig);
    }
    break;
  }
  case GST_STATE_CHANGE_PAUSED_TO_READY:
    if (GstRoomcastSignaller *sig = ref_signaller(priv)) {
      gst_roomcast_signaller_stop(sig);
      g_object_unref(sig);
    }
    // Stop making peers (after what the worker already queued).
    run_on_worker_sync(self, [priv]() {
      std::lock_guard l(priv->lock);
      priv->active = false;
      priv->waiting.clear();
    });
    break;
  default:
    break;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_roomcast_sink_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    // Only now, with every child in READY (streaming stopped, nothing blocked in a paused sink),
    // take the peers down: doing it earlier deadlocks against a thread waiting for preroll.
    run_on_worker_sync(self, [self, priv]() {
      std::vector<std::shared_ptr<Peer>> peers;
      {
        std::lock_guard l(priv->lock);
        for (auto &[id, p] : priv->peers)
          peers.push_back(p);
        priv->peers.clear();
      }
      for (auto &peer : peers) {
        for (Branch &b : peer->branches)
          if (GstPad *pp = gst_pad_get_peer(b.tee_pad)) {
            gst_pad_unlink(b.tee_pad, pp);
            gst_object_unref(pp);
          }
        finish_remove(self, peer);
      }
      if (priv->tick) {
        g_source_destroy(priv->tick);
        g_source_unref(priv->tick);
        priv->tick = nullptr;
      }
    });
  }
  if (transition == GST_STATE_CHANGE_READY_TO_NULL) {
    disconnect_signaller(self);
    priv->worker.stop();
    roomcast::finish_warm_up_dtls();
  }
  // A network sink never prerolls: data flows only in PLAYING from live sources.
  if (ret == GST_STATE_CHANGE_SUCCESS && (transition == GST_STATE_CHANGE_READY_TO_PAUSED ||
                                          transition == GST_STATE_CHANGE_PLAYING_TO_PAUSED))
    ret = GST_STATE_CHANGE_SUCCESS;
  return ret;
}

static GstPad *gst_roomcast_sink_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                                 const gchar *, const GstCaps *) {
  auto *self = GST_ROOMCAST_SINK(element);
  Private *priv = self->priv;
  Media media = g_str_has_prefix(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "video") ? Media::Video
                                                                                 : Media::Audio;
  {
    std::lock_guard l(priv->lock);
    for (auto &st : priv->streams)
      if (st->media == media) {
        GST_ERROR_OBJECT(self, "only one %s stream is supported",
                         media == Media::Video ? "video" : "audio");
        return nullptr;
      }
    if (priv->active) {
      GST_ERROR_OBJECT(self, "streams must be requested before the element starts");
      return nullptr;
    }
  }
  auto st = std::make_unique<Stream>();
  st->owner = element;
  st->media = media;
  g_autofree char *qname = g_strdup_printf("%s-in", media == Media::Video ? "video" : "audio");
  st->inq = make("queue", qname);
  // Never build latency before the encoder: keep the newest frames.
  g_object_set(st->inq, "max-size-buffers", 3, "max-size-bytes", 0, "max-size-time", guint64(0),
               nullptr);
  gst_util_set_object_arg(G_OBJECT(st->inq), "leaky", "downstream");
  gst_bin_add(GST_BIN(self), st->inq);
  GstPad *qsink = gst_element_get_static_pad(st->inq, "sink");
  g_autofree char *pname = g_strdup_printf("%s_0", media == Media::Video ? "video" : "audio");
  st->ghost = gst_ghost_pad_new_from_template(pname, qsink, templ);
  gst_object_unref(qsink);
  GstPad *qsrc = gst_element_get_static_pad(st->inq, "src");
  gst_pad_add_probe(qsrc, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_input_caps, st.get(), nullptr);
  gst_object_unref(qsrc);
  gst_pad_set_active(st->ghost, TRUE);
  GstPad *ghost = st->ghost;
  {
    std::lock_guard l(priv->lock);
    priv->streams.push_back(std::move(st));
  }
  gst_element_add_pad(element, ghost);
  return ghost;
}

static void gst_roomcast_sink_release_pad(GstElement *element, GstPad *pad) {
  auto *self = GST_ROOMCAST_SINK(element);
  std::lock_guard l(self->priv->lock);
  for (auto &st : self->priv->streams)
    if (st->ghost == pad) st->ghost = nullptr;
  gst_element_remove_pad(element, pad);
}

static GstStructure *build_stats(GstRoomcastSink *self) {
  Private *priv = self->priv;
  std::lock_guard l(priv->lock);
  GstStructure *s = gst_structure_new("application/x-roomcast-stats", "peer-count", G_TYPE_UINT,
                                      guint(priv->peers.size()), "frames", G_TYPE_UINT64,
                                      priv->frames.load(), "keyframes-forwarded", G_TYPE_UINT64,
                                      priv->keyframes_forwarded.load(), "keyframes-coalesced",
                                      G_TYPE_UINT64, priv->keyframes_coalesced.load(), nullptr);
  GValue list = G_VALUE_INIT;
  gst_value_list_init(&list, priv->peers.size());
  double total = 0;
  for (auto &[id, p] : priv->peers) {
    GstStructure *ps = gst_structure_new(
        "peer", "id", G_TYPE_STRING, id.c_str(), "state", G_TYPE_INT, p->state.load(), "connected",
        G_TYPE_BOOLEAN, p->connected_us != 0, "bitrate", G_TYPE_DOUBLE, p->bitrate_bps,
        "bytes-sent", G_TYPE_UINT64, p->bytes_sent, "rtt", G_TYPE_DOUBLE, p->rtt_s, "fraction-lost",
        G_TYPE_DOUBLE, p->fraction_lost, "packets-lost", G_TYPE_INT64, p->packets_lost,
        "nack-count", G_TYPE_UINT64, p->nacks, "pli-count", G_TYPE_UINT64, p->plis, nullptr);
    total += p->bitrate_bps;
    GValue v = G_VALUE_INIT;
    g_value_init(&v, GST_TYPE_STRUCTURE);
    g_value_take_boxed(&v, ps);
    gst_value_list_append_and_take_value(&list, &v);
  }
  gst_structure_set(s, "bitrate", G_TYPE_DOUBLE, total, nullptr);
  gst_structure_take_value(s, "peers", &list);
  return s;
}

static void gst_roomcast_sink_set_property(GObject *object, guint id, const GValue *value,
                                           GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_SINK(object);
  Private *priv = self->priv;
  if (id == PROP_BITRATE) {
    // A live change: reach the encoder outside our lock.
    GstElement *enc = nullptr;
    {
      std::lock_guard l(priv->lock);
      priv->settings.bitrate_kbps = g_value_get_uint(value);
      if (Stream *st = video_stream(priv); st && st->encoder)
        enc = GST_ELEMENT(gst_object_ref(st->encoder));
    }
    if (enc) {
      set_encoder_bitrate(enc, g_value_get_uint(value));
      gst_object_unref(enc);
    }
    return;
  }
  std::lock_guard l(priv->lock);
  Settings &s = priv->settings;
  switch (id) {
  case PROP_SIGNALLER: {
    auto *sig = static_cast<GstRoomcastSignaller *>(g_value_get_object(value));
    if (!sig) break;
    if (priv->active || !priv->signaller_handlers.empty()) {
      GST_WARNING_OBJECT(self, "the signaller can only be changed in the NULL state");
      break;
    }
    g_clear_object(&priv->signaller);
    priv->signaller = GST_ROOMCAST_SIGNALLER(gst_object_ref_sink(sig));
    break;
  }
  case PROP_ROLE:
    s.member = g_value_get_enum(value) == 1;
    break;
  case PROP_ROOM:
    s.room = g_value_get_string(value) ? g_value_get_string(value) : "default";
    break;
  case PROP_NAME_IN_ROOM:
    s.name = g_value_get_string(value) ? g_value_get_string(value) : "";
    break;
  case PROP_STUN_SERVER:
    s.ice.stun_server = g_value_get_string(value) ? g_value_get_string(value) : "";
    break;
  case PROP_TURN_SERVER:
    s.ice.turn_server = g_value_get_string(value) ? g_value_get_string(value) : "";
    break;
  case PROP_ICE_LOOPBACK:
    s.ice.loopback = g_value_get_boolean(value);
    break;
  case PROP_CODEC:
    s.codec = static_cast<Codec>(g_value_get_enum(value));
    break;
  case PROP_BITRATE:
    s.bitrate_kbps = g_value_get_uint(value);
    break;
  case PROP_MAX_PEERS:
    s.max_peers = g_value_get_uint(value);
    break;
  case PROP_LATENCY:
    s.ice.latency_ms = g_value_get_uint(value);
    break;
  case PROP_MIN_KEYFRAME_INTERVAL:
    s.min_keyframe_interval_ms = g_value_get_uint(value);
    break;
  case PROP_PEER_TIMEOUT:
    s.peer_timeout_s = g_value_get_uint(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_sink_get_property(GObject *object, guint id, GValue *value,
                                           GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_SINK(object);
  Private *priv = self->priv;
  if (id == PROP_STATS) {
    g_value_take_boxed(value, build_stats(self));
    return;
  }
  std::lock_guard l(priv->lock);
  const Settings &s = priv->settings;
  switch (id) {
  case PROP_SIGNALLER:
    g_value_set_object(value, priv->signaller);
    break;
  case PROP_ROLE:
    g_value_set_enum(value, s.member ? 1 : 0);
    break;
  case PROP_ROOM:
    g_value_set_string(value, s.room.c_str());
    break;
  case PROP_NAME_IN_ROOM:
    g_value_set_string(value, s.name.c_str());
    break;
  case PROP_STUN_SERVER:
    g_value_set_string(value, s.ice.stun_server.empty() ? nullptr : s.ice.stun_server.c_str());
    break;
  case PROP_TURN_SERVER:
    g_value_set_string(value, s.ice.turn_server.empty() ? nullptr : s.ice.turn_server.c_str());
    break;
  case PROP_ICE_LOOPBACK:
    g_value_set_boolean(value, s.ice.loopback);
    break;
  case PROP_CODEC:
    g_value_set_enum(value, static_cast<gint>(s.codec));
    break;
  case PROP_BITRATE:
    g_value_set_uint(value, s.bitrate_kbps);
    break;
  case PROP_MAX_PEERS:
    g_value_set_uint(value, s.max_peers);
    break;
  case PROP_LATENCY:
    g_value_set_uint(value, s.ice.latency_ms);
    break;
  case PROP_MIN_KEYFRAME_INTERVAL:
    g_value_set_uint(value, s.min_keyframe_interval_ms);
    break;
  case PROP_PEER_TIMEOUT:
    g_value_set_uint(value, s.peer_timeout_s);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_sink_init(GstRoomcastSink *self) {
  self->priv = new Private();
  self->priv->signaller = GST_ROOMCAST_SIGNALLER(
      gst_object_ref_sink(g_object_new(GST_TYPE_ROOMCAST_WS_SIGNALLER, nullptr)));
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
  // Decoders and webrtcbins come and go while PLAYING; their async state changes stay in here.
  // (Passed up, the pipeline would lose its state: live sources stop in PAUSED, so a new
  // decodebin would never get the data it needs to preroll, and everything would stall.)
  g_object_set(self, "async-handling", TRUE, nullptr);
}

static void gst_roomcast_sink_dispose(GObject *object) {
  auto *self = GST_ROOMCAST_SINK(object);
  self->priv->worker.stop();
  g_clear_object(&self->priv->signaller);
  G_OBJECT_CLASS(gst_roomcast_sink_parent_class)->dispose(object);
}

static void gst_roomcast_sink_finalize(GObject *object) {
  auto *self = GST_ROOMCAST_SINK(object);
  for (auto &st : self->priv->streams)
    gst_caps_replace(&st->codec_caps, nullptr);
  delete self->priv;
  G_OBJECT_CLASS(gst_roomcast_sink_parent_class)->finalize(object);
}

static void gst_roomcast_sink_child_proxy_init(GstChildProxyInterface *iface) {
  roomcast::child_proxy_init_with_signaller(iface);
}

static void gst_roomcast_sink_class_init(GstRoomcastSinkClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = gst_roomcast_sink_set_property;
  gobject_class->get_property = gst_roomcast_sink_get_property;
  gobject_class->dispose = gst_roomcast_sink_dispose;
  gobject_class->finalize = gst_roomcast_sink_finalize;
  element_class->change_state = gst_roomcast_sink_change_state;
  element_class->request_new_pad = gst_roomcast_sink_request_new_pad;
  element_class->release_pad = gst_roomcast_sink_release_pad;

  auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  auto null_only = GParamFlags(flags | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(gobject_class, PROP_SIGNALLER,
                                  roomcast::pspec_signaller(null_only));
  g_object_class_install_property(
      gobject_class, PROP_ROLE,
      g_param_spec_enum("role", "Role",
                        "host: broadcast to the viewers of a live room; member: join a meeting, "
                        "send to every member and expose each one's streams as src_<id>_<n>",
                        sink_role_get_type(), 0, null_only));
  g_object_class_install_property(
      gobject_class, PROP_ROOM,
      g_param_spec_string("room", "Room", "Room to broadcast to", "default", null_only));
  g_object_class_install_property(gobject_class, PROP_NAME_IN_ROOM,
                                  roomcast::pspec_display_name(null_only));
  g_object_class_install_property(gobject_class, PROP_STUN_SERVER,
                                  roomcast::pspec_stun_server(null_only));
  g_object_class_install_property(gobject_class, PROP_TURN_SERVER,
                                  roomcast::pspec_turn_server(null_only));
  g_object_class_install_property(gobject_class, PROP_ICE_LOOPBACK,
                                  roomcast::pspec_ice_loopback(null_only));
  g_object_class_install_property(gobject_class, PROP_CODEC,
                                  g_param_spec_enum("codec", "Codec", "Video codec for raw input",
                                                    GST_TYPE_ROOMCAST_CODEC,
                                                    static_cast<gint>(Codec::VP8), null_only));
  g_object_class_install_property(
      gobject_class, PROP_BITRATE,
      g_param_spec_uint("bitrate", "Bitrate", "Video bitrate in kbit/s (raw input)", 50, 100000,
                        2000, GParamFlags(flags | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property(
      gobject_class, PROP_MAX_PEERS,
      g_param_spec_uint("max-peers", "Max peers", "Most peers served at once", 1, 10000, 100,
                        GParamFlags(flags | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property(gobject_class, PROP_LATENCY, roomcast::pspec_latency(null_only));
  g_object_class_install_property(
      gobject_class, PROP_MIN_KEYFRAME_INTERVAL,
      g_param_spec_uint("min-keyframe-interval", "Min keyframe interval",
                        "Keyframe requests closer than this (ms) are merged into one", 0, 60000,
                        500, GParamFlags(flags | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property(
      gobject_class, PROP_PEER_TIMEOUT,
      g_param_spec_uint("peer-timeout", "Peer timeout",
                        "Drop a connected peer after this many seconds without RTCP (0: never)", 0,
                        3600, 15, GParamFlags(flags | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed(
          "stats", "Stats", "Per-peer state, bitrate (bit/s), RTT (s), loss; frames encoded",
          GST_TYPE_STRUCTURE, GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  /**
   * GstRoomcastSink::peer-added:
   * @id: the peer's id in the room
   * @webrtcbin: its webrtcbin, before negotiation
   *
   * Emitted from an internal thread when a branch for a peer was added.
   */
  sink_signals[SIGNAL_PEER_ADDED] =
      g_signal_new("peer-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                   nullptr, G_TYPE_NONE, 2, G_TYPE_STRING, GST_TYPE_ELEMENT);
  /**
   * GstRoomcastSink::peer-removed:
   * @id: the peer's id
   *
   * Emitted from an internal thread once a peer's branch is gone.
   */
  sink_signals[SIGNAL_PEER_REMOVED] =
      g_signal_new("peer-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                   nullptr, G_TYPE_NONE, 1, G_TYPE_STRING);

  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_add_static_pad_template(element_class, &remote_template);
  gst_element_class_set_static_metadata(
      element_class, "roomcast sink", "Sink/Network/WebRTC",
      "Encodes once and broadcasts to every viewer of a roomcast room over WebRTC",
      "roomcast developers");
  gst_type_mark_as_plugin_api(GST_TYPE_ROOMCAST_CODEC, GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(sink_role_get_type(), GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ROOMCAST_SIGNALLER, GstPluginAPIFlags(0));
}
