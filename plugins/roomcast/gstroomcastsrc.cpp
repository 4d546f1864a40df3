/**
 * SECTION:element-roomcastsrc
 * @title: roomcastsrc
 *
 * Joins a roomcast room as a viewer. When the host offers, it answers (receive only) and
 * exposes one sometimes src pad per remote stream: `video_%u` and `audio_%u`, decoded by
 * default, or depayloaded and parsed with #GstRoomcastSrc:encoded. When the host leaves, each
 * pad gets EOS and is removed (applications should drop what they linked to it on
 * `pad-removed`); when it comes back (or a new host arrives) new pads appear.
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
#include "gstroomcastwssignaller.h"

#include <gst/webrtc/webrtc.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC(roomcastsrc_debug);
#define GST_CAT_DEFAULT roomcastsrc_debug

namespace {

struct Session {
  std::string host_id;
  GstElement *webrtc = nullptr;       // ref
  std::vector<GstElement *> decoders; // refs
  std::vector<GstPad *> pads;         // our ghost pads (refs)
};

struct Private {
  // Lock order: leaf. Never held while calling into webrtcbin, the signaller, pads or while
  // emitting signals.
  std::mutex lock;
  std::string room = "default";
  std::string name;
  roomcast::IceConfig ice;
  bool encoded = false;
  GstRoomcastSignaller *signaller = nullptr; // (lock) ref
  std::vector<gulong> handlers;
  std::shared_ptr<Session> session;     // (lock)
  bool active = false;                  // (lock)
  guint video_pads = 0, audio_pads = 0; // (lock) for pad names
  roomcast::Worker worker;
};

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

enum {
  PROP_0,
  PROP_SIGNALLER,
  PROP_ROOM,
  PROP_NAME_IN_ROOM,
  PROP_STUN_SERVER,
  PROP_TURN_SERVER,
  PROP_ICE_LOOPBACK,
  PROP_LATENCY,
  PROP_ENCODED,
};

static GstStaticPadTemplate video_template =
    GST_STATIC_PAD_TEMPLATE("video_%u", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE("audio_%u", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS_ANY);

static GstRoomcastSignaller *ref_signaller(Private *priv) {
  std::lock_guard l(priv->lock);
  return priv->signaller ? GST_ROOMCAST_SIGNALLER(g_object_ref(priv->signaller)) : nullptr;
}

static std::shared_ptr<Session> current(Private *priv, const char *host_id = nullptr) {
  std::lock_guard l(priv->lock);
  if (!priv->session || (host_id && priv->session->host_id != host_id)) return nullptr;
  return priv->session;
}

// Callback data for webrtcbin and decodebin signals: the element and the session it was for.
struct SessionRef {
  GWeakRef src;
  std::weak_ptr<Session> session;
  static SessionRef *make(GstRoomcastSrc *self, const std::shared_ptr<Session> &s) {
    auto *r = new SessionRef{{}, s};
    g_weak_ref_init(&r->src, self);
    return r;
  }
  static void destroy(gpointer p) {
    auto *r = static_cast<SessionRef *>(p);
    g_weak_ref_clear(&r->src);
    delete r;
  }
  static void closure_destroy(gpointer p, GClosure *) { destroy(p); }
  GstRoomcastSrc *get() { return static_cast<GstRoomcastSrc *>(g_weak_ref_get(&src)); }
};

// Worker (or state change): take a session down and its pads with it.
static void teardown(GstRoomcastSrc *self, std::shared_ptr<Session> s) {
  if (!s) return;
  GST_INFO_OBJECT(self, "closing the session with %s", s->host_id.c_str());
  gst_element_set_state(s->webrtc, GST_STATE_NULL);
  for (GstElement *d : s->decoders)
    gst_element_set_state(d, GST_STATE_NULL);
  std::vector<GstPad *> pads;
  {
    std::lock_guard l(self->priv->lock);
    pads = std::exchange(s->pads, {});
  }
  for (GstPad *pad : pads) {
    // The stream ended for downstream; never flush it (a flushed sink in PLAYING waits for a
    // new preroll buffer and would hold the whole pipeline in PAUSED).
    gst_pad_push_event(pad, gst_event_new_eos());
    gst_element_remove_pad(GST_ELEMENT(self), pad);
    gst_object_unref(pad);
  }
  for (GstElement *d : s->decoders) {
    gst_bin_remove(GST_BIN(self), d);
    gst_object_unref(d);
  }
  s->decoders.clear();
  gst_bin_remove(GST_BIN(self), s->webrtc);
  gst_object_unref(s->webrtc);
  s->webrtc = nullptr;
}

static void end_session(GstRoomcastSrc *self, const char *host_id) {
  std::shared_ptr<Session> s;
  {
    std::lock_guard l(self->priv->lock);
    if (!self->priv->session || (host_id && self->priv->session->host_id != host_id)) return;
    s = std::exchange(self->priv->session, nullptr);
  }
  teardown(self, s);
}

static void on_decoded_pad(GstElement *, GstPad *pad, gpointer data) {
  auto *ref = static_cast<SessionRef *>(data);
  g_autoptr(GstRoomcastSrc) self = ref->get();
  auto s = ref->session.lock();
  if (!self || !s) return;
  Private *priv = self->priv;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const char *media = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  bool video = g_str_has_prefix(media, "video/");
  if (!video && !g_str_has_prefix(media, "audio/")) {
    GST_WARNING_OBJECT(self, "ignoring a %s stream", media);
    return;
  }
  g_autofree char *name = nullptr;
  {
    std::lock_guard l(priv->lock);
    name = g_strdup_printf("%s_%u", video ? "video" : "audio",
                           video ? priv->video_pads++ : priv->audio_pads++);
  }
  GstPadTemplate *templ = gst_element_class_get_pad_template(GST_ELEMENT_GET_CLASS(self),
                                                             video ? "video_%u" : "audio_%u");
  GstPad *ghost = gst_roomcast_pad_new(name, pad, templ, s->host_id.c_str(), nullptr);
  gst_pad_set_active(ghost, TRUE);
  {
    std::lock_guard l(priv->lock);
    s->pads.push_back(GST_PAD(gst_object_ref(ghost)));
  }
  GST_INFO_OBJECT(self, "exposing %s (%s)", name, media);
  gst_element_add_pad(GST_ELEMENT(self), ghost);
}

// webrtcbin's thread: a remote stream arrived. Its decoder (or parser) is added and linked on
// the worker.
static void on_webrtc_pad(GstElement *, GstPad *pad, gpointer data) {
  auto *ref = static_cast<SessionRef *>(data);
  g_autoptr(GstRoomcastSrc) self = ref->get();
  auto s = ref->session.lock();
  if (!self || !s || GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  std::shared_ptr<SessionRef> weak(SessionRef::make(self, s), SessionRef::destroy);
  roomcast::link_on(self->priv->worker.context(), pad, [weak](GstPad *remote) {
    g_autoptr(GstRoomcastSrc) src = weak->get();
    auto session = weak->session.lock();
    if (!src || !session) return; // torn down meanwhile: its webrtcbin and pad go with it
    bool encoded;
    {
      std::lock_guard l(src->priv->lock);
      encoded = src->priv->encoded;
    }
    GstElement *dec = gst_element_factory_make(encoded ? "parsebin" : "decodebin", nullptr);
    g_signal_connect_data(dec, "pad-added", G_CALLBACK(on_decoded_pad),
                          SessionRef::make(src, session), SessionRef::closure_destroy,
                          GConnectFlags(0));
    {
      std::lock_guard l(src->priv->lock);
      session->decoders.push_back(GST_ELEMENT(gst_object_ref(dec)));
    }
    gst_bin_add(GST_BIN(src), dec);
    gst_element_sync_state_with_parent(dec);
    GstPad *sink = gst_element_get_static_pad(dec, "sink");
    if (gst_pad_link(remote, sink) != GST_PAD_LINK_OK)
      GST_WARNING_OBJECT(src, "cannot link a remote stream to its decoder");
    gst_object_unref(sink);
  });
}

static void on_ice_candidate(GstElement *, guint mline, gchar *candidate, gpointer data) {
  auto *ref = static_cast<SessionRef *>(data);
  g_autoptr(GstRoomcastSrc) self = ref->get();
  auto s = ref->session.lock();
  if (!self || !s) return;
  if (GstRoomcastSignaller *sig = ref_signaller(self->priv)) {
    gst_roomcast_signaller_send_ice(sig, s->host_id.c_str(), mline, candidate, nullptr);
    g_object_unref(sig);
  }
}

static void on_connection_state(GstElement *webrtc, GParamSpec *, gpointer data) {
  auto *ref = static_cast<SessionRef *>(data);
  g_autoptr(GstRoomcastSrc) self = ref->get();
  auto s = ref->session.lock();
  if (!self || !s) return;
  GstWebRTCPeerConnectionState state;
  g_object_get(webrtc, "connection-state", &state, nullptr);
  GST_INFO_OBJECT(self, "connection with %s: %d", s->host_id.c_str(), state);
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) {
    GST_ELEMENT_WARNING(self, RESOURCE, READ, ("the connection to the host failed"), (nullptr));
    std::string id = s->host_id;
    gst_object_ref(self);
    roomcast::invoke_on(self->priv->worker.context(), [self, id]() {
      end_session(self, id.c_str());
      gst_object_unref(self);
    });
  }
}

// Worker: an offer from a host starts a new session (replacing any older one).
static void start_session(GstRoomcastSrc *self, const std::string &host_id,
                          GstWebRTCSessionDescription *offer) {
  Private *priv = self->priv;
  roomcast::IceConfig ice;
  std::shared_ptr<Session> old;
  auto s = std::make_shared<Session>();
  s->host_id = host_id;
  {
    std::lock_guard l(priv->lock);
    if (!priv->active) return;
    ice = priv->ice;
    old = std::exchange(priv->session, s);
  }
  teardown(self, old);
  GST_INFO_OBJECT(self, "offer from %s", host_id.c_str());
  g_autofree char *wname = g_strdup_printf("webrtc-%s", host_id.c_str());
  s->webrtc = GST_ELEMENT(gst_object_ref_sink(gst_element_factory_make("webrtcbin", wname)));
  roomcast::configure_webrtcbin(s->webrtc, ice);
  auto notify = SessionRef::closure_destroy;
  g_signal_connect_data(s->webrtc, "pad-added", G_CALLBACK(on_webrtc_pad),
                        SessionRef::make(self, s), notify, GConnectFlags(0));
  g_signal_connect_data(s->webrtc, "on-ice-candidate", G_CALLBACK(on_ice_candidate),
                        SessionRef::make(self, s), notify, GConnectFlags(0));
  g_signal_connect_data(s->webrtc, "notify::connection-state", G_CALLBACK(on_connection_state),
                        SessionRef::make(self, s), notify, GConnectFlags(0));
  gst_bin_add(GST_BIN(self), s->webrtc); // takes its own ref (ours is not floating)
  // webrtcbin holds network sinks, which makes a bin a sink: a pipeline would then wait for an
  // EOS from us that never comes. We are a source.
  GST_OBJECT_FLAG_UNSET(self, GST_ELEMENT_FLAG_SINK);
  gst_element_sync_state_with_parent(s->webrtc);
  std::shared_ptr<SessionRef> ref(SessionRef::make(self, s), SessionRef::destroy);
  roomcast::answer_offer(s->webrtc, offer, [ref](GstWebRTCSessionDescription *answer) {
    g_autoptr(GstRoomcastSrc) src = ref->get();
    auto session = ref->session.lock();
    if (!src || !session) return;
    if (!answer) {
      GST_ELEMENT_WARNING(src, STREAM, FAILED, ("could not answer the host's offer"), (nullptr));
      return;
    }
    if (GstRoomcastSignaller *sig = ref_signaller(src->priv)) {
      gst_roomcast_signaller_send_sdp(sig, session->host_id.c_str(), answer);
      g_object_unref(sig);
    }
  });
}

// ---- signaller (its thread) ----------------------------------------------------------------

static void on_sig_sdp(GstRoomcastSignaller *, const gchar *id, GstWebRTCSessionDescription *sdp,
                       gpointer data) {
  auto *self = GST_ROOMCAST_SRC(data);
  if (sdp->type != GST_WEBRTC_SDP_TYPE_OFFER) {
    GST_WARNING_OBJECT(self, "viewer got a non-offer SDP from %s; ignored", id);
    return;
  }
  GstWebRTCSessionDescription *copy = gst_webrtc_session_description_copy(sdp);
  std::string host = id;
  gst_object_ref(self);
  roomcast::invoke_on(self->priv->worker.context(), [self, host, copy]() {
    start_session(self, host, copy);
    gst_webrtc_session_description_free(copy);
    gst_object_unref(self);
  });
}

static void on_sig_ice(GstRoomcastSignaller *, const gchar *id, guint mline, const gchar *cand,
                       const gchar *, gpointer data) {
  auto *self = GST_ROOMCAST_SRC(data);
  if (!cand || !*cand) return;
  // In order after the offer: the offer's session is created on the worker, so go there too.
  std::string host = id, c = cand;
  gst_object_ref(self);
  roomcast::invoke_on(self->priv->worker.context(), [self, host, c, mline]() {
    if (auto s = current(self->priv, host.c_str()))
      g_signal_emit_by_name(s->webrtc, "add-ice-candidate", mline, c.c_str());
    gst_object_unref(self);
  });
}

static void on_sig_peer_left(GstRoomcastSignaller *, const gchar *id, gpointer data) {
  auto *self = GST_ROOMCAST_SRC(data);
  std::string host = id;
  gst_object_ref(self);
  roomcast::invoke_on(self->priv->worker.context(), [self, host]() {
    end_session(self, host.c_str());
    gst_object_unref(self);
  });
}

static void on_sig_error(GstRoomcastSignaller *, const gchar *message, gboolean fatal,
                         gpointer data) {
  auto *self = GST_ROOMCAST_SRC(data);
  if (fatal)
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ, ("%s", message), ("signaller error"));
  else
    GST_ELEMENT_WARNING(self, RESOURCE, READ, ("%s", message), ("signaller warning"));
}

// ---- element ---------------------------------------------------------------------------------

static GstStateChangeReturn gst_roomcast_src_change_state(GstElement *element,
                                                          GstStateChange transition) {
  auto *self = GST_ROOMCAST_SRC(element);
  Private *priv = self->priv;
  switch (transition) {
  case GST_STATE_CHANGE_NULL_TO_READY:
    priv->worker.start("roomcastsrc");
    roomcast::warm_up_dtls();
    if (GstRoomcastSignaller *sig = ref_signaller(priv)) {
      priv->handlers = {
          g_signal_connect(sig, "sdp", G_CALLBACK(on_sig_sdp), self),
          g_signal_connect(sig, "ice", G_CALLBACK(on_sig_ice), self),
          g_signal_connect(sig, "peer-left", G_CALLBACK(on_sig_peer_left), self),
          g_signal_connect(sig, "error", G_CALLBACK(on_sig_error), self),
      };
      g_object_unref(sig);
    }
    break;
  case GST_STATE_CHANGE_READY_TO_PAUSED: {
    std::string room, name;
    {
      std::lock_guard l(priv->lock);
      priv->active = true;
      room = priv->room;
      name = priv->name;
    }
    if (GstRoomcastSignaller *sig = ref_signaller(priv)) {
      gst_roomcast_signaller_start(sig, room.c_str(), GST_ROOMCAST_ROLE_VIEWER, name.c_str());
      g_object_unref(sig);
    }
    break;
  }
  case GST_STATE_CHANGE_PAUSED_TO_READY:
    if (GstRoomcastSignaller *sig = ref_signaller(priv)) {
      gst_roomcast_signaller_stop(sig);
      g_object_unref(sig);
    }
    break;
  default:
    break;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_roomcast_src_parent_class)->change_state(element, transition);
  switch (transition) {
  case GST_STATE_CHANGE_PAUSED_TO_READY:
    // Everything queued on the worker runs first; then the session goes.
    priv->worker.stop();
    {
      std::lock_guard l(priv->lock);
      priv->active = false;
    }
    end_session(self, nullptr);
    priv->worker.start("roomcastsrc");
    break;
  case GST_STATE_CHANGE_READY_TO_NULL:
    if (GstRoomcastSignaller *sig = ref_signaller(priv)) {
      for (gulong h : priv->handlers)
        g_signal_handler_disconnect(sig, h);
      priv->handlers.clear();
      g_object_unref(sig);
    }
    priv->worker.stop();
    roomcast::finish_warm_up_dtls();
    break;
  default:
    break;
  }
  // A live network source: no preroll.
  if (ret != GST_STATE_CHANGE_FAILURE && (transition == GST_STATE_CHANGE_READY_TO_PAUSED ||
                                          transition == GST_STATE_CHANGE_PLAYING_TO_PAUSED))
    ret = GST_STATE_CHANGE_NO_PREROLL;
  return ret;
}

static void gst_roomcast_src_set_property(GObject *object, guint id, const GValue *value,
                                          GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_SRC(object);
  Private *priv = self->priv;
  std::lock_guard l(priv->lock);
  auto str = [&]() { return g_value_get_string(value) ? g_value_get_string(value) : ""; };
  switch (id) {
  case PROP_SIGNALLER: {
    auto *sig = static_cast<GstRoomcastSignaller *>(g_value_get_object(value));
    if (!sig || !priv->handlers.empty()) {
      GST_WARNING_OBJECT(self, "the signaller can only be changed in the NULL state");
      break;
    }
    g_clear_object(&priv->signaller);
    priv->signaller = GST_ROOMCAST_SIGNALLER(gst_object_ref_sink(sig));
    break;
  }
  case PROP_ROOM:
    priv->room = *str() ? str() : "default";
    break;
  case PROP_NAME_IN_ROOM:
    priv->name = str();
    break;
  case PROP_STUN_SERVER:
    priv->ice.stun_server = str();
    break;
  case PROP_TURN_SERVER:
    priv->ice.turn_server = str();
    break;
  case PROP_ICE_LOOPBACK:
    priv->ice.loopback = g_value_get_boolean(value);
    break;
  case PROP_LATENCY:
    priv->ice.latency_ms = g_value_get_uint(value);
    break;
  case PROP_ENCODED:
    priv->encoded = g_value_get_boolean(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_src_get_property(GObject *object, guint id, GValue *value,
                                          GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_SRC(object);
  Private *priv = self->priv;
  std::lock_guard l(priv->lock);
  auto opt = [](const std::string &s) { return s.empty() ? nullptr : s.c_str(); };
  switch (id) {
  case PROP_SIGNALLER:
    g_value_set_object(value, priv->signaller);
    break;
  case PROP_ROOM:
    g_value_set_string(value, priv->room.c_str());
    break;
  case PROP_NAME_IN_ROOM:
    g_value_set_string(value, priv->name.c_str());
    break;
  case PROP_STUN_SERVER:
    g_value_set_string(value, opt(priv->ice.stun_server));
    break;
  case PROP_TURN_SERVER:
    g_value_set_string(value, opt(priv->ice.turn_server));
    break;
  case PROP_ICE_LOOPBACK:
    g_value_set_boolean(value, priv->ice.loopback);
    break;
  case PROP_LATENCY:
    g_value_set_uint(value, priv->ice.latency_ms);
    break;
  case PROP_ENCODED:
    g_value_set_boolean(value, priv->encoded);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_src_init(GstRoomcastSrc *self) {
  self->priv = new Private();
  self->priv->signaller = GST_ROOMCAST_SIGNALLER(
      gst_object_ref_sink(g_object_new(GST_TYPE_ROOMCAST_WS_SIGNALLER, nullptr)));
  GST_OBJECT_FLAG_SET(self, GST_ELEMENT_FLAG_SOURCE);
  // Decoders and webrtcbins come and go while PLAYING; their async state changes stay in here.
  // (Passed up, the pipeline would lose its state: live sources stop in PAUSED, so a new
  // decodebin would never get the data it needs to preroll, and everything would stall.)
  g_object_set(self, "async-handling", TRUE, nullptr);
}

static void gst_roomcast_src_dispose(GObject *object) {
  auto *self = GST_ROOMCAST_SRC(object);
  self->priv->worker.stop();
  g_clear_object(&self->priv->signaller);
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
  g_object_class_install_property(gobject_class, PROP_SIGNALLER, roomcast::pspec_signaller(flags));
  g_object_class_install_property(
      gobject_class, PROP_ROOM,
      g_param_spec_string("room", "Room", "Room to watch", "default", flags));
  g_object_class_install_property(gobject_class, PROP_NAME_IN_ROOM,
                                  roomcast::pspec_display_name(flags));
  g_object_class_install_property(gobject_class, PROP_STUN_SERVER,
                                  roomcast::pspec_stun_server(flags));
  g_object_class_install_property(gobject_class, PROP_TURN_SERVER,
                                  roomcast::pspec_turn_server(flags));
  g_object_class_install_property(gobject_class, PROP_ICE_LOOPBACK,
                                  roomcast::pspec_ice_loopback(flags));
  g_object_class_install_property(gobject_class, PROP_LATENCY, roomcast::pspec_latency(flags));
  g_object_class_install_property(
      gobject_class, PROP_ENCODED,
      g_param_spec_boolean("encoded", "Encoded",
                           "Expose encoded (depayloaded, parsed) streams instead of decoded ones",
                           FALSE, flags));

  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_set_static_metadata(element_class, "roomcast source", "Source/Network/WebRTC",
                                        "Watches a roomcast room: one src pad per remote stream",
                                        "roomcast developers");
}
