/**
 * SECTION:element-roomcastsrc
 * @title: roomcastsrc
 *
 * Joins a roomcast room as a viewer. When the host offers, it answers (receive only) and
 * exposes one sometimes src pad per remote stream: `video_%u` and `audio_%u`, decoded by
 * default, or depayloaded and parsed with #GstRoomcastSrc:encoded. When the host leaves, each
 * pad gets EOS and is removed (applications should drop what they linked to it on
 * `pad-removed`); when it comes back (or a new host arrives) new pads appear. The pads are
 * #GstRoomcastPad<!-- -->s: `peer-id` says which host sent the stream. #GstRoomcastSrc:stats
 * and the `peer-added`/`peer-removed` signals work as on roomcastsink.
 *
 * It comes back by itself: a lost signalling connection is got back (the element posts a
 * warning, and a `roomcast-joined` element message with `rejoin` TRUE once it is in the room
 * again; the stream goes on meanwhile), and a session whose media stopped for
 * #GstRoomcastSrc:media-timeout seconds is given up for a new one (leave and join again).
 *
 * A host that encodes a ladder (roomcastsink `ladder`) sends each viewer the largest layer its
 * link carries; #GstRoomcastSrc:prefer-layer asks it for a smaller one at most (a small tile).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 roomcastsrc signaller::uri=ws://127.0.0.1:8443/ws room=demo ! \
 *     videoconvert ! autovideosink
 * ]|
 */
#include "gstroomcastsrc.h"

#include "common.h"
#include "gstroomcastpad.h"
#include "gstroomcastsignaller.h"
#include "protocol.h"
#include "room-client.h"

#include <string>

GST_DEBUG_CATEGORY_STATIC(roomcastsrc_debug);
#define GST_CAT_DEFAULT roomcastsrc_debug

namespace {

enum { SIGNAL_PEER_ADDED, SIGNAL_PEER_REMOVED, N_SIGNALS };
guint src_signals[N_SIGNALS];

// A viewer: its one peer is the host, receive only (the room client does the rest).
struct Private : roomcast::RoomClient {
  explicit Private(GstElement *src) : roomcast::RoomClient(src, "roomcastsrc") {
    common.media_timeout_s = kDefaultMediaTimeout;
  }
  static constexpr guint kDefaultMediaTimeout = 5;
  guint video_pads = 0, audio_pads = 0; // (lock) for pad names

protected:
  GstRoomcastRole role() const override { return GST_ROOMCAST_ROLE_VIEWER; }
  std::vector<const char *> required_factories() const override {
    auto f = RoomClient::required_factories();
    f.insert(f.end(), {"decodebin", "parsebin"});
    return f;
  }
  void peer_added(roomcast::Peer &peer) override {
    // webrtcbin holds network sinks, which makes a bin a sink: a pipeline would then wait for
    // an EOS from us that never comes. We are a source.
    GST_OBJECT_FLAG_UNSET(element(), GST_ELEMENT_FLAG_SINK);
    g_autoptr(GstElement) webrtc = peer.webrtcbin();
    g_signal_emit(element(), src_signals[SIGNAL_PEER_ADDED], 0, peer.id().c_str(), webrtc);
  }
  void peer_removed(const std::string &id) override {
    GST_INFO_OBJECT(element(), "session with %s closed", id.c_str());
    g_signal_emit(element(), src_signals[SIGNAL_PEER_REMOVED], 0, id.c_str());
  }
  GstPad *peer_expose(roomcast::Peer &peer, GstPad *stream) override;
};

GstPad *Private::peer_expose(roomcast::Peer &peer, GstPad *stream) {
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(stream);
  if (!caps) caps = gst_pad_query_caps(stream, nullptr);
  const char *media = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  bool video = g_str_has_prefix(media, "video/");
  if (!video && !g_str_has_prefix(media, "audio/")) {
    GST_WARNING_OBJECT(element(), "ignoring a %s stream", media);
    return nullptr;
  }
  g_autofree char *name = nullptr;
  {
    std::lock_guard l(lock);
    name = g_strdup_printf("%s_%u", video ? "video" : "audio", video ? video_pads++ : audio_pads++);
  }
  GstPadTemplate *templ = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(element()),
                                                             video ? "video_%u" : "audio_%u");
  GstPad *ghost = gst_roomcast_pad_new(name, stream, templ, peer.id().c_str(), peer.name().c_str());
  if (!ghost) return nullptr;
  gst_object_ref(ghost);
  gst_pad_set_active(ghost, TRUE);
  GST_INFO_OBJECT(element(), "exposing %s (%s)", name, media);
  gst_element_add_pad(element(), ghost);
  return ghost;
}

} // namespace

struct _GstRoomcastSrc {
  GstBin parent;
  Private *priv;
};

static void gst_roomcast_src_child_proxy_init(GstChildProxyInterface *iface);

G_DEFINE_TYPE_WITH_CODE(GstRoomcastSrc, gst_roomcast_src, GST_TYPE_BIN,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_CHILD_PROXY,
                                              gst_roomcast_src_child_proxy_init)
                            GST_DEBUG_CATEGORY_INIT(roomcastsrc_debug, "roomcastsrc", 0,
                                                    "roomcast source"))
GST_ELEMENT_REGISTER_DEFINE(roomcastsrc, "roomcastsrc", GST_RANK_NONE, GST_TYPE_ROOMCAST_SRC)

// After RoomClient's common properties (signaller, room, display-name, ICE, latency).
enum {
  PROP_ENCODED = roomcast::RoomClient::kCommonProps + 1,
  PROP_STATS,
  PROP_MEDIA_TIMEOUT,
  PROP_PREFER_LAYER,
};

static GstStaticPadTemplate video_template =
    GST_STATIC_PAD_TEMPLATE("video_%u", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE("audio_%u", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS_ANY);

static GstStateChangeReturn gst_roomcast_src_change_state(GstElement *element,
                                                          GstStateChange transition) {
  GstStateChangeReturn ret = GST_ROOMCAST_SRC(element)->priv->change_state(transition, [&]() {
    return GST_ELEMENT_CLASS(gst_roomcast_src_parent_class)->change_state(element, transition);
  });
  // A live network source: no preroll.
  if (ret != GST_STATE_CHANGE_FAILURE && (transition == GST_STATE_CHANGE_READY_TO_PAUSED ||
                                          transition == GST_STATE_CHANGE_PLAYING_TO_PAUSED))
    ret = GST_STATE_CHANGE_NO_PREROLL;
  return ret;
}

static void gst_roomcast_src_set_property(GObject *object, guint id, const GValue *value,
                                          GParamSpec *pspec) {
  Private *priv = GST_ROOMCAST_SRC(object)->priv;
  if (priv->set_common_property(object, id, value)) return;
  if (id == PROP_PREFER_LAYER) {
    priv->set_prefer_layer(g_value_get_int(value)); // takes the lock, tells the host
    return;
  }
  std::lock_guard l(priv->lock);
  if (id == PROP_ENCODED)
    priv->common.encoded = g_value_get_boolean(value);
  else if (id == PROP_MEDIA_TIMEOUT)
    priv->common.media_timeout_s = g_value_get_uint(value);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
}

static void gst_roomcast_src_get_property(GObject *object, guint id, GValue *value,
                                          GParamSpec *pspec) {
  Private *priv = GST_ROOMCAST_SRC(object)->priv;
  if (priv->get_common_property(id, value)) return;
  if (id == PROP_STATS) {
    GstStructure *s = gst_structure_new_empty("application/x-roomcast-stats");
    priv->add_peer_stats(s);
    g_value_take_boxed(value, s);
  } else if (id == PROP_ENCODED) {
    std::lock_guard l(priv->lock);
    g_value_set_boolean(value, priv->common.encoded);
  } else if (id == PROP_MEDIA_TIMEOUT) {
    std::lock_guard l(priv->lock);
    g_value_set_uint(value, priv->common.media_timeout_s);
  } else if (id == PROP_PREFER_LAYER) {
    std::lock_guard l(priv->lock);
    g_value_set_int(value, priv->common.prefer_layer);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_src_init(GstRoomcastSrc *self) {
  self->priv = new Private(GST_ELEMENT(self));
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SOURCE);
}

static void gst_roomcast_src_dispose(GObject *object) {
  GST_ROOMCAST_SRC(object)->priv->shutdown();
  G_OBJECT_CLASS(gst_roomcast_src_parent_class)->dispose(object);
}

static void gst_roomcast_src_finalize(GObject *object) {
  delete GST_ROOMCAST_SRC(object)->priv;
  G_OBJECT_CLASS(gst_roomcast_src_parent_class)->finalize(object);
}

static void gst_roomcast_src_child_proxy_init(GstChildProxyInterface *iface) {
  roomcast::child_proxy_init_with_signaller(iface);
}

static void gst_roomcast_src_class_init(GstRoomcastSrcClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = gst_roomcast_src_set_property;
  gobject_class->get_property = gst_roomcast_src_get_property;
  gobject_class->dispose = gst_roomcast_src_dispose;
  gobject_class->finalize = gst_roomcast_src_finalize;
  element_class->change_state = gst_roomcast_src_change_state;

  auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  roomcast::RoomClient::install_common_properties(gobject_class, "Room to watch");
  g_object_class_install_property(
      gobject_class, PROP_ENCODED,
      g_param_spec_boolean("encoded", "Encoded",
                           "Expose encoded (depayloaded, parsed) streams instead of decoded ones",
                           FALSE, flags));
  /**
   * GstRoomcastSrc:media-timeout:
   *
   * Seconds without media from the host (no new bytes and no new RTCP on the session, or no
   * session at all while a host is in the room) after which the viewer leaves the room and joins
   * it again, so that the host offers a new session: how a viewer whose network was cut, or
   * whose process was stopped, comes back by itself. A session that has not connected 3 s after
   * it was made (or twice the slowest connection seen, if longer) is given up the same way, and
   * so is one whose ICE failed or that the host ended with `timeout` or `ice-failed`, at once.
   * After twelve such rejoins in a row without media the waits are six times longer. 0: never.
   */
  g_object_class_install_property(
      gobject_class, PROP_MEDIA_TIMEOUT,
      g_param_spec_uint("media-timeout", "Media timeout",
                        "Join the room again after this many seconds without media from the host "
                        "(0: never)",
                        0, 3600, Private::kDefaultMediaTimeout,
                        GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstRoomcastSrc:prefer-layer:
   *
   * The largest layer of the host's ladder to receive, counted from the top (0: full size, no
   * limit; 1: the next smaller; ...): the protocol's `prefer` message, sent to the host with each
   * new session (after a rejoin too), and at once when changed. The host clamps it to its ladder
   * and still moves lower when the link needs it; a host without a ladder ignores it. -1: ask
   * for nothing (set back from a layer, it asks for 0).
   */
  g_object_class_install_property(
      gobject_class, PROP_PREFER_LAYER,
      g_param_spec_int("prefer-layer", "Preferred layer",
                       "Ask the host for at most this layer of its ladder (0: full size; -1: do "
                       "not ask)",
                       -1, int(roomcast::proto::kMaxPreferLayer), -1,
                       GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstRoomcastSrc:stats:
   *
   * An `application/x-roomcast-stats` structure: `peer-count` (0 or 1), `bitrate` (double, bit/s
   * sent: 0 for a viewer) and `peers`, a list of `peer` structures with the fields documented on
   * roomcastsink's `stats`; for a viewer the receive side counts: `recv-bitrate` (bit/s),
   * `bytes-received`, `packets-received`, `recv-packets-lost`, `jitter` (s), and the path:
   * `local-candidate-type`, `remote-candidate-type`. Refreshed every second.
   */
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Stats", "The session with the host: state, what we receive",
                         GST_TYPE_STRUCTURE,
                         GParamFlags(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstRoomcastSrc::peer-added:
   * @id: the host's id in the room
   * @webrtcbin: the session's webrtcbin, before negotiation
   *
   * Emitted from an internal thread when a session with a host starts.
   */
  src_signals[SIGNAL_PEER_ADDED] =
      g_signal_new("peer-added", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                   nullptr, G_TYPE_NONE, 2, G_TYPE_STRING, GST_TYPE_ELEMENT);
  /**
   * GstRoomcastSrc::peer-removed:
   * @id: the host's id
   *
   * Emitted from an internal thread once a session is gone (its pads got EOS and were removed).
   */
  src_signals[SIGNAL_PEER_REMOVED] =
      g_signal_new("peer-removed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                   nullptr, G_TYPE_NONE, 1, G_TYPE_STRING);

  gst_element_class_add_static_pad_template_with_gtype(element_class, &video_template,
                                                       GST_TYPE_ROOMCAST_PAD);
  gst_element_class_add_static_pad_template_with_gtype(element_class, &audio_template,
                                                       GST_TYPE_ROOMCAST_PAD);
  gst_element_class_set_static_metadata(element_class, "roomcast source", "Source/Network/WebRTC",
                                        "Watches a roomcast room: one src pad per remote stream",
                                        "roomcast developers");
}
