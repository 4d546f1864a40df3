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
 * #GstRoomcastSink:peer-timeout seconds, or is not connected #GstRoomcastSink:negotiation-timeout
 * seconds after its offer, is removed without pausing the others, and told why.
 *
 * With `role=member` it joins a meeting instead: it offers to the members already there,
 * answers those who come later, sends to all of them and exposes what each one sends as a
 * `src_<peer>_<n>` #GstRoomcastPad (read its `peer-id` and `peer-name`).
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
#include "encoder-pool.h"
#include "gstroomcastpad.h"
#include "gstroomcastsignaller.h"
#include "protocol.h"
#include "room-client.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(roomcastsink_debug);
#define GST_CAT_DEFAULT roomcastsink_debug

using roomcast::Codec;
using roomcast::EncoderPool;
using roomcast::Media;

namespace {

enum class SinkRole { Host = 0, Member = 1 };

struct Settings {
  SinkRole role = SinkRole::Host;
  Codec codec = Codec::VP8;
  guint bitrate_kbps = 2000;
  std::string ladder = "off";        // the property as set
  std::vector<double> ladder_scales; // parsed (empty: a single stream)
  bool twcc = true, remb = true;     // congestion-feedback
  guint min_keyframe_interval_ms = 500;
};

enum {
  SIGNAL_PEER_ADDED,
  SIGNAL_PEER_REMOVED,
  SIGNAL_REQUEST_ENCODER,
  SIGNAL_ENCODER_SETUP,
  N_SIGNALS
};
guint sink_signals[N_SIGNALS];

// Lock order (RoomClient::lock, then the pool's and peers' locks) as in room-client.h.
struct Private : roomcast::RoomClient {
  explicit Private(GstElement *sink);

  Settings settings;                     // (lock)
  std::map<std::string, guint> next_pad; // (lock) per peer, for src_<id>_<n>
  EncoderPool pool;

protected:
  GstRoomcastRole role() const override {
    std::lock_guard l(lock);
    return settings.role == SinkRole::Member ? GST_ROOMCAST_ROLE_MEMBER : GST_ROOMCAST_ROLE_HOST;
  }
  bool streams_ready() override { return pool.inputs_ready(); }
  std::vector<roomcast::SendSource> send_sources() override { return pool.sources(); }
  std::vector<const char *> required_factories() const override;
  void peer_added(roomcast::Peer &peer) override;
  void peer_removed(const std::string &id) override;
  GstPad *peer_expose(roomcast::Peer &peer, GstPad *stream) override;
  void started(GMainContext *ctx) override { pool.set_context(ctx); }
  void stopping() override { pool.set_context(nullptr); }
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

// After RoomClient's common properties (signaller, room, display-name, ICE, latency).
enum {
  PROP_ROLE = roomcast::RoomClient::kCommonProps + 1,
  PROP_CODEC,
  PROP_BITRATE,
  PROP_MAX_PEERS,
  PROP_MIN_KEYFRAME_INTERVAL,
  PROP_PEER_TIMEOUT,
  PROP_NEGOTIATION_TIMEOUT,
  PROP_FEC_PERCENTAGE,
  PROP_LADDER,
  PROP_CONGESTION_FEEDBACK,
  PROP_STATS,
  PROP_PREFER_LAYER,
};

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
  static const GEnumValue values[] = {
      {static_cast<gint>(SinkRole::Host), "Host of a live room", "host"},
      {static_cast<gint>(SinkRole::Member), "Member of a meeting", "member"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstRoomcastSinkRole", values));
  return type;
}

// ---- the element's part of the room client ------------------------------------------------------

static EncoderPool::Hooks pool_hooks(GstElement *sink) {
  EncoderPool::Hooks hooks;
  hooks.input_settings = [sink](Codec &codec, roomcast::EncoderParams &params) {
    Private *priv = GST_ROOMCAST_SINK(sink)->priv;
    std::lock_guard l(priv->lock);
    codec = priv->settings.codec;
    params.kbps = priv->settings.bitrate_kbps;
    params.ladder = priv->settings.ladder_scales;
    // Viewers of a host only: a meeting member's ladder carries no transport-cc extension (a
    // Firefox member offering to a ladder member with it failed to connect: Firefox numbers
    // sdes:mid 3, our extension's id) and offers neither (see congestion-feedback).
    const bool host = priv->settings.role == SinkRole::Host;
    params.twcc = host && priv->settings.twcc;
    params.remb = host && priv->settings.remb;
  };
  hooks.inputs_ready = [sink]() {
    Private *priv = GST_ROOMCAST_SINK(sink)->priv;
    priv->on_worker([priv]() { priv->serve_waiting(); });
  };
  hooks.build_failed = [sink](const GError *err) {
    GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("%s", err->message), (nullptr));
  };
  hooks.create_encoder = [sink](const roomcast::CodecSpec &spec) -> GstElement * {
    GstElement *enc = nullptr;
    g_signal_emit(sink, sink_signals[SIGNAL_REQUEST_ENCODER], 0, spec.nick, &enc);
    return enc;
  };
  hooks.encoder_setup = [sink](const roomcast::CodecSpec &spec, GstElement *enc) {
    g_signal_emit(sink, sink_signals[SIGNAL_ENCODER_SETUP], 0, spec.nick, enc);
  };
  return hooks;
}

Private::Private(GstElement *sink)
    : roomcast::RoomClient(sink, "roomcastsink"), pool(sink, pool_hooks(sink)) {
  common.peer_timeout_s = 15;
  common.negotiation_timeout_s = 15;
  common.max_peers = 100;
}

std::vector<const char *> Private::required_factories() const {
  auto f = RoomClient::required_factories();
  f.insert(f.end(), {"tee", "decodebin"});
  return f;
}

void Private::peer_added(roomcast::Peer &peer) {
  g_autoptr(GstElement) webrtc = peer.webrtcbin();
  g_signal_emit(element(), sink_signals[SIGNAL_PEER_ADDED], 0, peer.id().c_str(), webrtc);
}

void Private::peer_removed(const std::string &id) {
  {
    std::lock_guard l(lock);
    next_pad.erase(id);
  }
  GST_INFO_OBJECT(element(), "peer %s removed", id.c_str());
  g_signal_emit(element(), sink_signals[SIGNAL_PEER_REMOVED], 0, id.c_str());
}

// Meeting: a decoded remote stream becomes src_<peer>_<n> on the element.
GstPad *Private::peer_expose(roomcast::Peer &peer, GstPad *stream) {
  g_autofree char *name = nullptr;
  {
    std::lock_guard l(lock);
    name = g_strdup_printf("src_%s_%u", peer.id().c_str(), next_pad[peer.id()]++);
  }
  GstPadTemplate *templ =
      gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(element()), "src_%s_%u");
  GstPad *ghost = gst_roomcast_pad_new(name, stream, templ, peer.id().c_str(), peer.name().c_str());
  if (!ghost) return nullptr;
  gst_object_ref(ghost);
  gst_pad_set_active(ghost, TRUE);
  GST_INFO_OBJECT(element(), "exposing %s", name);
  gst_element_add_pad(element(), ghost);
  return ghost;
}

// ---- pads ---------------------------------------------------------------------------------------

static GstPad *gst_roomcast_sink_request_new_pad(GstElement *element, GstPadTemplate *templ,
                                                 const gchar *, const GstCaps *) {
  auto *self = GST_ROOMCAST_SINK(element);
  Private *priv = self->priv;
  Media media = g_str_has_prefix(GST_PAD_TEMPLATE_NAME_TEMPLATE(templ), "video") ? Media::Video
                                                                                 : Media::Audio;
  const char *kind = media == Media::Video ? "video" : "audio";
  if (priv->pool.has_input(media)) {
    GST_WARNING_OBJECT(self, "only one %s stream is supported", kind);
    return nullptr;
  }
  if (priv->active()) {
    GST_WARNING_OBJECT(self, "streams must be requested before the element starts");
    return nullptr;
  }
  g_autoptr(GError) err = nullptr;
  GstPad *target = priv->pool.add_input(media, &err);
  if (!target) {
    GST_ELEMENT_ERROR(self, CORE, MISSING_PLUGIN, ("%s", err->message), (nullptr));
    return nullptr;
  }
  g_autofree char *pname = g_strdup_printf("%s_0", kind);
  GstPad *ghost = gst_ghost_pad_new_from_template(pname, target, templ);
  gst_pad_set_active(ghost, TRUE);
  gst_element_add_pad(element, ghost);
  return ghost;
}

static void gst_roomcast_sink_release_pad(GstElement *element, GstPad *pad) {
  auto *self = GST_ROOMCAST_SINK(element);
  g_autoptr(GstPad) target = gst_ghost_pad_get_target(GST_GHOST_PAD(pad));
  // Never under our lock: removing a pad emits pad-removed, whose handlers may call us.
  gst_element_remove_pad(element, pad);
  // Not started: the input goes entirely (a new pad may be requested). Started: its chain stays
  // until the element is disposed.
  if (target) self->priv->pool.remove_input(target);
}

// ---- element
// --------------------------------------------------------------------------------------

static GstStateChangeReturn gst_roomcast_sink_change_state(GstElement *element,
                                                           GstStateChange transition) {
  return GST_ROOMCAST_SINK(element)->priv->change_state(transition, [&]() {
    return GST_ELEMENT_CLASS(gst_roomcast_sink_parent_class)->change_state(element, transition);
  });
}

static GstStructure *build_stats(GstRoomcastSink *self) {
  namespace f = roomcast::stats_field;
  auto c = self->priv->pool.counters();
  GstStructure *s =
      gst_structure_new("application/x-roomcast-stats", f::kFrames, G_TYPE_UINT64, c.frames,
                        f::kKeyframesForwarded, G_TYPE_UINT64, c.keyframes_forwarded,
                        f::kKeyframesCoalesced, G_TYPE_UINT64, c.keyframes_merged, nullptr);
  if (!c.layer_frames.empty()) {
    GValue frames = G_VALUE_INIT, holders = G_VALUE_INIT, v = G_VALUE_INIT;
    gst_value_array_init(&frames, c.layer_frames.size());
    gst_value_array_init(&holders, c.layer_holders.size());
    for (guint64 n : c.layer_frames) {
      g_value_init(&v, G_TYPE_UINT64);
      g_value_set_uint64(&v, n);
      gst_value_array_append_and_take_value(&frames, &v);
    }
    for (int n : c.layer_holders) {
      g_value_init(&v, G_TYPE_INT);
      g_value_set_int(&v, n);
      gst_value_array_append_and_take_value(&holders, &v);
    }
    gst_structure_take_value(s, "layer-frames", &frames);
    gst_structure_take_value(s, "layer-viewers", &holders);
  }
  self->priv->add_peer_stats(s);
  return s;
}

static void gst_roomcast_sink_set_property(GObject *object, guint id, const GValue *value,
                                           GParamSpec *pspec) {
  Private *priv = GST_ROOMCAST_SINK(object)->priv;
  if (priv->set_common_property(object, id, value)) return;
  if (id == PROP_PREFER_LAYER) {
    priv->set_prefer_layer(g_value_get_int(value)); // takes the lock, tells the members
    return;
  }
  guint u = G_VALUE_HOLDS_UINT(value) ? g_value_get_uint(value) : 0;
  {
    std::lock_guard l(priv->lock);
    switch (id) {
    case PROP_ROLE:
      priv->settings.role = static_cast<SinkRole>(g_value_get_enum(value));
      return;
    case PROP_CODEC:
      priv->settings.codec = static_cast<Codec>(g_value_get_enum(value));
      return;
    case PROP_MAX_PEERS:
      priv->common.max_peers = u;
      return;
    case PROP_PEER_TIMEOUT:
      priv->common.peer_timeout_s = u;
      return;
    case PROP_NEGOTIATION_TIMEOUT:
      priv->common.negotiation_timeout_s = u;
      return;
    case PROP_FEC_PERCENTAGE:
      priv->common.fec_percentage = u;
      return;
    case PROP_LADDER: {
      const char *text = g_value_get_string(value);
      std::vector<double> scales;
      std::string error;
      if (!roomcast::parse_ladder(text ? text : "off", scales, error)) {
        g_warning("roomcastsink: %s; the ladder stays '%s'", error.c_str(),
                  priv->settings.ladder.c_str());
        return;
      }
      priv->settings.ladder = text ? text : "off";
      priv->settings.ladder_scales = scales;
      return;
    }
    case PROP_CONGESTION_FEEDBACK: {
      bool twcc = false, remb = false;
      if (!roomcast::parse_congestion_feedback(g_value_get_string(value), twcc, remb)) {
        g_warning("roomcastsink: congestion-feedback '%s' is not 'twcc,remb', 'twcc', 'remb' or "
                  "'none'; unchanged",
                  g_value_get_string(value));
        return;
      }
      priv->settings.twcc = twcc;
      priv->settings.remb = remb;
      return;
    }
    case PROP_BITRATE:
      priv->settings.bitrate_kbps = u;
      break;
    case PROP_MIN_KEYFRAME_INTERVAL:
      priv->settings.min_keyframe_interval_ms = u;
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
      return;
    }
  }
  // Live changes reach the encoders outside our lock.
  if (id == PROP_BITRATE) priv->pool.set_bitrate(u);
  if (id == PROP_MIN_KEYFRAME_INTERVAL) priv->pool.set_keyframe_interval(u);
}

static void gst_roomcast_sink_get_property(GObject *object, guint id, GValue *value,
                                           GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_SINK(object);
  Private *priv = self->priv;
  if (priv->get_common_property(id, value)) return;
  if (id == PROP_STATS) {
    g_value_take_boxed(value, build_stats(self));
    return;
  }
  std::lock_guard l(priv->lock);
  switch (id) {
  case PROP_ROLE:
    g_value_set_enum(value, static_cast<gint>(priv->settings.role));
    break;
  case PROP_CODEC:
    g_value_set_enum(value, static_cast<gint>(priv->settings.codec));
    break;
  case PROP_BITRATE:
    g_value_set_uint(value, priv->settings.bitrate_kbps);
    break;
  case PROP_MAX_PEERS:
    g_value_set_uint(value, priv->common.max_peers);
    break;
  case PROP_MIN_KEYFRAME_INTERVAL:
    g_value_set_uint(value, priv->settings.min_keyframe_interval_ms);
    break;
  case PROP_PEER_TIMEOUT:
    g_value_set_uint(value, priv->common.peer_timeout_s);
    break;
  case PROP_NEGOTIATION_TIMEOUT:
    g_value_set_uint(value, priv->common.negotiation_timeout_s);
    break;
  case PROP_FEC_PERCENTAGE:
    g_value_set_uint(value, priv->common.fec_percentage);
    break;
  case PROP_LADDER:
    g_value_set_string(value, priv->settings.ladder.c_str());
    break;
  case PROP_CONGESTION_FEEDBACK:
    g_value_set_string(value, priv->settings.twcc   ? (priv->settings.remb ? "twcc,remb" : "twcc")
                              : priv->settings.remb ? "remb"
                                                    : "none");
    break;
  case PROP_PREFER_LAYER:
    g_value_set_int(value, priv->common.prefer_layer);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_sink_init(GstRoomcastSink *self) {
  self->priv = new Private(GST_ELEMENT(self));
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SINK);
}

static void gst_roomcast_sink_dispose(GObject *object) {
  GST_ROOMCAST_SINK(object)->priv->shutdown();
  G_OBJECT_CLASS(gst_roomcast_sink_parent_class)->dispose(object);
}

static void gst_roomcast_sink_finalize(GObject *object) {
  delete GST_ROOMCAST_SINK(object)->priv;
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
  auto live = GParamFlags(flags | GST_PARAM_MUTABLE_PLAYING);
  roomcast::RoomClient::install_common_properties(gobject_class, "Room to broadcast to");
  g_object_class_install_property(
      gobject_class, PROP_ROLE,
      g_param_spec_enum("role", "Role",
                        "host: broadcast to the viewers of a live room; member: join a meeting, "
                        "send to every member and expose each one's streams as src_<id>_<n>",
                        sink_role_get_type(), 0, null_only));
  g_object_class_install_property(gobject_class, PROP_CODEC,
                                  g_param_spec_enum("codec", "Codec", "Video codec for raw input",
                                                    GST_TYPE_ROOMCAST_CODEC,
                                                    static_cast<gint>(Codec::VP8), null_only));
  g_object_class_install_property(gobject_class, PROP_BITRATE,
                                  g_param_spec_uint("bitrate", "Bitrate",
                                                    "Video bitrate in kbit/s (raw input)", 50,
                                                    100000, 2000, live));
  g_object_class_install_property(
      gobject_class, PROP_MAX_PEERS,
      g_param_spec_uint("max-peers", "Max peers",
                        "Most peers served at once; one more is told max-peers and not served", 1,
                        10000, 100, live));
  g_object_class_install_property(
      gobject_class, PROP_MIN_KEYFRAME_INTERVAL,
      g_param_spec_uint("min-keyframe-interval", "Min keyframe interval",
                        "Keyframe requests closer than this (ms) are merged into one", 0, 60000,
                        500, live));
  g_object_class_install_property(
      gobject_class, PROP_PEER_TIMEOUT,
      g_param_spec_uint("peer-timeout", "Peer timeout",
                        "End a connected peer after this many seconds without RTCP (0: never)", 0,
                        3600, 15, live));
  g_object_class_install_property(
      gobject_class, PROP_NEGOTIATION_TIMEOUT,
      g_param_spec_uint("negotiation-timeout", "Negotiation timeout",
                        "End a peer that is not connected (ICE and DTLS) this many seconds after "
                        "our first offer (or its creation, while there is none), telling it "
                        "timeout, so a peer that never answers does not hold a place of max-peers "
                        "(0: never)",
                        0, 3600, 15, live));
  g_object_class_install_property(
      gobject_class, PROP_FEC_PERCENTAGE,
      g_param_spec_uint("fec-percentage", "FEC percentage",
                        "Forward error correction (ULPFEC in RED) for peers that accept it: "
                        "this much protection, in percent of the media packets (0: off; applies to "
                        "peers that join later)",
                        0, 100, 0, live));
  /**
   * GstRoomcastSink:ladder:
   *
   * Raw VP8 input encoded once per size; each viewer is sent the largest layer its link carries
   * (a bandwidth estimate per viewer). A viewer may ask for less with the protocol's `prefer`
   * (roomcastsrc `prefer-layer`, `roomcast watch --prefer N`, the web viewer's
   * `window.roomcast.prefer()`): a layer from the top, clamped to the ladder, or a largest height
   * in pixels; that viewer is then never sent more (its `layer-cap` in `stats`). Without a ladder
   * `prefer` is ignored. With `role=member` the same holds for every other member of the meeting:
   * each one is sent the layer its link carries, at most the one it asked for (a web member asks
   * for its tile's height, roomcastsink asks with #GstRoomcastSink:prefer-layer).
   */
  g_object_class_install_property(
      gobject_class, PROP_LADDER,
      g_param_spec_string(
          "ladder", "Ladder",
          "Raw VP8 input encoded once per size, each viewer sent the largest its link carries: "
          "the sizes as shares of the input, descending (\"1,0.5,0.25\": full, half and quarter "
          "size at 100%, ~35% and ~12% of the bitrate), or \"off\" for one stream",
          "off", null_only));
  /**
   * GstRoomcastSink:congestion-feedback:
   *
   * What a ladder's viewers are offered to tell us about their link, besides receiver reports
   * and NACKs: `twcc` (transport-wide congestion control: a header extension on every packet and
   * `transport-cc` feedback; the estimate reads rtpsession's `twcc-stats`), `remb` (`goog-remb`
   * feedback: the viewer's own estimate of what its link carries). Chromium and Firefox offered
   * both send transport-cc only; `remb` alone makes them send REMB. `none`: receiver reports and
   * NACKs only (what a webrtcbin viewer such as `roomcast watch` sends anyway). Applies to
   * ladders built later (the `ladder` property), in the host role only: a member's ladder offers
   * neither.
   */
  g_object_class_install_property(
      gobject_class, PROP_CONGESTION_FEEDBACK,
      g_param_spec_string("congestion-feedback", "Congestion feedback",
                          "Feedback a ladder's viewers are offered for their bandwidth estimate: "
                          "\"twcc,remb\", \"twcc\", \"remb\" or \"none\"",
                          "twcc,remb", null_only));
  /**
   * GstRoomcastSink:prefer-layer:
   *
   * `role=member` only: the largest layer of every other member's ladder to receive, counted
   * from the top (0: full size, no limit; 1: the next smaller; ...): the protocol's `prefer`
   * message, sent to each member with our first offer or answer to it, and at once to every
   * member when changed. A member with a ladder clamps it and still goes lower when the link
   * needs it; a web member scales its picture for us down by 2 per layer; a member without
   * either ignores it. -1: ask for nothing (set back from a layer, it asks for 0). A host
   * ignores the property (its viewers ask it, it asks nobody).
   */
  g_object_class_install_property(
      gobject_class, PROP_PREFER_LAYER,
      g_param_spec_int("prefer-layer", "Preferred layer",
                       "Member: ask every other member for at most this layer of its ladder (0: "
                       "full size; -1: do not ask)",
                       -1, int(roomcast::proto::kMaxPreferLayer), -1,
                       GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstRoomcastSink:stats:
   *
   * An `application/x-roomcast-stats` structure: `frames` (guint64, video frames sent into the
   * shared encoder's payloader; with a ladder, frames the ladder took from the input),
   * `layer-frames` and `layer-viewers` (a ladder only: arrays, top layer first, of the frames each
   * layer's encoder made (guint64) and of the viewers' branches that hold the layer (int: the one
   * they are sent and the one they are switching to); an encoder runs only while its layer is
   * held), `keyframes-forwarded` and `keyframes-coalesced` (guint64: what
   * the keyframe limiter let through and merged), `peer-count` (guint), `bitrate` (double, bit/s
   * sent to all peers) and `peers`, a list of `peer` structures: `id`, `name`, `state`
   * (GstWebRTCPeerConnectionState), `connected` (boolean), `bitrate` (double, bit/s sent),
   * `bytes-sent`, `rtt` (double, s), `fraction-lost`, `packets-lost`, `nack-count`, `pli-count`
   * (what the peer reported), `recv-bitrate`, `bytes-received`, `packets-received`,
   * `recv-packets-lost`, `jitter` (what we receive from it, in a meeting), `offers` (how many
   * offers we made it), and `local-candidate-type` and `remote-candidate-type` (strings: `host`,
   * `srflx`, `prflx` or `relay`, the candidates of the pair ICE selected; empty until known: a
   * `relay` means the media goes through a TURN server). With a ladder (the `ladder` property),
   * each peer also has `layer` (int, 0: full size), `layer-target`, `layer-width`,
   * `layer-height`, `layer-switches` (guint64), `layer-cap` (the top layer it asked for with
   * `prefer`), `bwe` (double, bit/s: the bandwidth estimate), `bwe-state` (`steady`,
   * `probing`, `holding`, `padding`), `nacked-share` (double: packets the peer asked for again
   * per packet sent, over the last poll), `bwe-source` (what the estimate read at the last poll
   * beyond receiver reports and NACKs: `twcc` (transport-cc feedback), `remb` (a REMB of the last
   * 2 s, where offered) or `rtcp` (neither)), `remb-bps` (double: the peer's latest REMB, 0: none)
   * and `remb-count` (guint64), `twcc-bitrate-recv`, `twcc-bitrate-sent` (double, bit/s) and
   * `twcc-packet-loss` (double, 0..1) (rtpsession's `twcc-stats` over its last window, 0 until
   * transport-cc feedback came), `twcc-feedback` (guint64: polls that found fresh ones). See
   * `congestion-feedback`. Refreshed every second (twice a second with a ladder).
   */
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Stats",
                         "Per-peer state, bitrate (bit/s), RTT (s), loss; frames encoded (see the "
                         "documentation for every field)",
                         GST_TYPE_STRUCTURE,
                         GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

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
  /**
   * GstRoomcastSink::request-encoder:
   * @codec: "vp8", "vp9", "h264" or "opus"
   *
   * Emitted (from an internal thread) when a shared encoder is about to be made. Return an
   * encoder element of your choice (e.g. a hardware one) to use it instead of ours; its
   * `bitrate`/`target-bitrate` is set from #GstRoomcastSink:bitrate. Return %NULL for ours.
   *
   * Returns: (transfer full) (nullable): the encoder, or %NULL
   */
  sink_signals[SIGNAL_REQUEST_ENCODER] = g_signal_new(
      "request-encoder", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
      g_signal_accumulator_first_wins, nullptr, nullptr, GST_TYPE_ELEMENT, 1, G_TYPE_STRING);
  /**
   * GstRoomcastSink::encoder-setup:
   * @codec: "vp8", "vp9", "h264" or "opus"
   * @encoder: the encoder, configured by us, not yet started
   *
   * Emitted (from an internal thread) for every shared encoder, so applications can change its
   * settings.
   */
  sink_signals[SIGNAL_ENCODER_SETUP] =
      g_signal_new("encoder-setup", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr,
                   nullptr, nullptr, G_TYPE_NONE, 2, G_TYPE_STRING, GST_TYPE_ELEMENT);

  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_add_static_pad_template_with_gtype(element_class, &remote_template,
                                                       GST_TYPE_ROOMCAST_PAD);
  gst_element_class_set_static_metadata(
      element_class, "roomcast sink", "Sink/Network/WebRTC",
      "Encodes once and broadcasts to every viewer of a roomcast room over WebRTC",
      "roomcast developers");
  gst_type_mark_as_plugin_api(GST_TYPE_ROOMCAST_CODEC, GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(sink_role_get_type(), GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ROOMCAST_SIGNALLER, GstPluginAPIFlags(0));
  gst_type_mark_as_plugin_api(GST_TYPE_ROOMCAST_PAD, GstPluginAPIFlags(0));
}
