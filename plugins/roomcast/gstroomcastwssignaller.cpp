#include "gstroomcastwssignaller.h"

#include "common.h"
#include "proto-enums.h"
#include "gref.h"
#include "protocol.h"

#include <libsoup/soup.h>

#include <mutex>
#include <string>

/**
 * SECTION:roomcast-ws-signaller
 * @title: GstRoomcastWsSignaller
 *
 * Joins a room on a roomcast signalling server over a WebSocket (docs/protocol.md). It owns one
 * thread with its own GMainContext: libsoup is only ever used there, every send from another
 * thread is marshalled onto it, and every signal is emitted from it.
 */

GST_DEBUG_CATEGORY_STATIC(roomcast_ws_debug);
#define GST_CAT_DEFAULT roomcast_ws_debug

namespace p = roomcast::proto;
using roomcast::GRef;
using roomcast::to_gst;
using roomcast::to_proto;

namespace {

struct Private {
  // `lock` guards uri and the thread handles. Leaf lock: never held while emitting signals or
  // waiting for the thread.
  std::mutex lock;
  std::string uri = "ws://127.0.0.1:8443/ws";
  GMainContext *ctx = nullptr;
  GMainLoop *loop = nullptr;
  GThread *thread = nullptr;

  // Used only on the signaller thread.
  std::string room, name;
  GstRoomcastRole role = GST_ROOMCAST_ROLE_VIEWER;
  GRef<SoupSession> session;
  GRef<SoupWebsocketConnection> ws;
  GCancellable *cancel = nullptr;
  std::string own_id;
  bool stopping = false;
  // A join refused with a retryable code is sent again after a backoff (join-error policy).
  GSource *rejoin = nullptr;
  unsigned join_attempt = 0;
};
} // namespace

struct _GstRoomcastWsSignaller {
  GstObject parent;
  Private *priv;
};

static void gst_roomcast_ws_signaller_iface_init(GstRoomcastSignallerInterface *iface);

G_DEFINE_TYPE_WITH_CODE(GstRoomcastWsSignaller, gst_roomcast_ws_signaller, GST_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_ROOMCAST_SIGNALLER,
                                              gst_roomcast_ws_signaller_iface_init)
                            GST_DEBUG_CATEGORY_INIT(roomcast_ws_debug, "roomcastsignaller", 0,
                                                    "roomcast WebSocket signaller"))

enum { PROP_0, PROP_URI };

// ---- signaller thread ------------------------------------------------------------------------

static void fail(GstRoomcastWsSignaller *self, const std::string &msg) {
  GST_ERROR_OBJECT(self, "%s", msg.c_str());
  gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self), msg.c_str(), TRUE);
}

static void send_text(GstRoomcastWsSignaller *self, const std::string &text) {
  Private *priv = self->priv;
  if (!priv->ws ||
      soup_websocket_connection_get_state(priv->ws.get()) != SOUP_WEBSOCKET_STATE_OPEN) {
    GST_WARNING_OBJECT(self, "not connected; dropping %s", text.substr(0, 60).c_str());
    return;
  }
  soup_websocket_connection_send_text(priv->ws.get(), text.c_str());
}

static void send_join(GstRoomcastWsSignaller *self) {
  Private *priv = self->priv;
  send_text(self, p::serialize(p::make_join(priv->room, to_proto(priv->role), priv->name)));
}

static void cancel_rejoin(Private *priv) {
  if (!priv->rejoin) return;
  g_source_destroy(priv->rejoin);
  g_source_unref(std::exchange(priv->rejoin, nullptr));
}

// The join was refused with a code the join-error policy calls retryable (room full, too many
// rooms): join again on this thread after the protocol's backoff.
static void schedule_rejoin(GstRoomcastWsSignaller *self) {
  Private *priv = self->priv;
  cancel_rejoin(priv);
  unsigned delay = p::retry_delay_ms(priv->join_attempt++);
  GST_INFO_OBJECT(self, "joining again in %u ms", delay);
  priv->rejoin = g_timeout_source_new(delay);
  // The source lives on our context and is destroyed before the thread ends (signaller_thread),
  // so it never outlives `self`.
  g_source_set_callback(
      priv->rejoin,
      [](gpointer data) -> gboolean {
        auto *s = GST_ROOMCAST_WS_SIGNALLER(data);
        g_source_unref(std::exchange(s->priv->rejoin, nullptr));
        send_join(s);
        return G_SOURCE_REMOVE;
      },
      self, nullptr);
  g_source_attach(priv->rejoin, g_main_context_get_thread_default());
}

static void on_sdp(GstRoomcastWsSignaller *self, const std::string &from, const std::string &text,
                   GstWebRTCSDPType type) {
  auto *sig = GST_ROOMCAST_SIGNALLER(self);
  GstSDPMessage *sdp = nullptr;
  gst_sdp_message_new(&sdp);
  if (gst_sdp_message_parse_buffer(reinterpret_cast<const guint8 *>(text.data()), text.size(),
                                   sdp) != GST_SDP_OK) {
    gst_sdp_message_free(sdp);
    GST_WARNING_OBJECT(self, "unparsable SDP from %s", from.c_str());
    gst_roomcast_signaller_emit_error(sig, "unparsable SDP from a peer", FALSE);
    return;
  }
  GstWebRTCSessionDescription *desc = gst_webrtc_session_description_new(type, sdp);
  gst_roomcast_signaller_emit_sdp(sig, from.c_str(), desc);
  gst_webrtc_session_description_free(desc);
}

static void on_error(GstRoomcastWsSignaller *self, const p::Error &e) {
  // "CODE: message", like the in-process signaller's refusals.
  std::string text = std::string(p::to_string(e.code)) + ": " + e.message;
  if (e.ref != "join") {
    // Not about our join (a peer that just left, a dropped message): the session goes on.
    GST_WARNING_OBJECT(self, "server: %s", text.c_str());
    gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self), text.c_str(), FALSE);
    return;
  }
  // A refused join: the join-error policy (protocol-spec.json) says whether trying again helps.
  if (p::join_error_is_fatal(e.code)) {
    fail(self, text);
    return;
  }
  GST_WARNING_OBJECT(self, "join refused: %s", text.c_str());
  gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self), text.c_str(), FALSE);
  schedule_rejoin(self);
}

static void handle_message(GstRoomcastWsSignaller *self, const p::Message &msg) {
  Private *priv = self->priv;
  auto *sig = GST_ROOMCAST_SIGNALLER(self);
  std::visit(
      p::overloaded{
          [&](const p::Welcome &m) {
            priv->own_id = m.id;
            priv->join_attempt = 0;
            GST_INFO_OBJECT(self, "joined room %s as %s (%s, %zu peers)", m.room.c_str(),
                            m.id.c_str(), p::to_string(m.kind), m.peers.size());
            gst_roomcast_signaller_emit_joined(sig, m.id.c_str(), to_gst(m.kind));
            for (const auto &peer : m.peers)
              gst_roomcast_signaller_emit_peer_joined(sig, peer.id.c_str(), to_gst(peer.role),
                                                      peer.name.c_str(), TRUE);
          },
          [&](const p::PeerJoined &m) {
            gst_roomcast_signaller_emit_peer_joined(sig, m.peer.id.c_str(), to_gst(m.peer.role),
                                                    m.peer.name.c_str(), FALSE);
          },
          [&](const p::PeerLeft &m) { gst_roomcast_signaller_emit_peer_left(sig, m.id.c_str()); },
          [&](const p::Offer &m) { on_sdp(self, m.from, m.sdp, GST_WEBRTC_SDP_TYPE_OFFER); },
          [&](const p::Answer &m) { on_sdp(self, m.from, m.sdp, GST_WEBRTC_SDP_TYPE_ANSWER); },
          [&](const p::Ice &m) {
            gst_roomcast_signaller_emit_ice(sig, m.from.c_str(), m.mline_index, m.candidate.c_str(),
                                            m.mid.c_str());
          },
          [&](const p::Bye &m) {
            GST_INFO_OBJECT(self, "%s ended its session with us: %s %s", m.from.c_str(),
                            p::to_string(m.reason), m.message.c_str());
            gst_roomcast_signaller_emit_peer_ended(sig, m.from.c_str(), p::to_string(m.reason),
                                                   m.message.c_str());
          },
          [&](const p::Ping &) { send_text(self, p::serialize(p::Pong{})); },
          [&](const p::Pong &) {},
          [&](const p::Error &m) { on_error(self, m); },
          [&](const auto &m) {
            GST_WARNING_OBJECT(self, "unexpected '%s' from the server",
                               p::to_string(std::decay_t<decltype(m)>::kType));
          },
      },
      msg);
}

static void on_ws_message(SoupWebsocketConnection *, gint type, GBytes *bytes, gpointer data) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(data);
  if (type != SOUP_WEBSOCKET_DATA_TEXT) return;
  gsize len = 0;
  const char *text = static_cast<const char *>(g_bytes_get_data(bytes, &len));
  p::ParseError err;
  auto m = p::parse(std::string_view(text ? text : "", len), err);
  if (!m) {
    GST_WARNING_OBJECT(self, "bad message from the server: %s", err.message.c_str());
    return;
  }
  handle_message(self, *m);
}

static void on_ws_closed(SoupWebsocketConnection *ws, gpointer data) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(data);
  if (self->priv->stopping) return;
  const char *reason = soup_websocket_connection_get_close_data(ws);
  fail(self, std::string("signalling connection closed") +
                 (reason && *reason ? std::string(": ") + reason : std::string()));
}

static void on_ws_connected(GObject *source, GAsyncResult *res, gpointer data) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(data);
  Private *priv = self->priv;
  g_autoptr(GError) err = nullptr;
  SoupWebsocketConnection *ws =
      soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &err);
  if (!ws) {
    if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      fail(self, std::string("cannot reach the signalling server: ") + err->message);
    gst_object_unref(self);
    return;
  }
  priv->ws = GRef<SoupWebsocketConnection>::adopt(ws);
  soup_websocket_connection_set_max_incoming_payload_size(ws, 4 * 1024 * 1024);
  g_signal_connect_object(ws, "message", G_CALLBACK(on_ws_message), self, GConnectFlags(0));
  g_signal_connect_object(ws, "closed", G_CALLBACK(on_ws_closed), self, GConnectFlags(0));
  send_join(self);
  gst_object_unref(self);
}

struct ThreadArgs {
  GstRoomcastWsSignaller *self;
  GMainContext *ctx;
  GMainLoop *loop;
};

static gpointer signaller_thread(gpointer data) {
  // The thread keeps its own references on ctx and loop: stop() may drop the element's while
  // the thread is still finishing (when stop() is called from one of our signal handlers).
  auto *args = static_cast<ThreadArgs *>(data);
  auto *self = args->self;
  GMainContext *ctx = args->ctx;
  GMainLoop *loop = args->loop;
  delete args;
  Private *priv = self->priv;
  g_main_context_push_thread_default(ctx);
  std::string uri;
  {
    std::lock_guard l(priv->lock);
    uri = priv->uri;
  }
  priv->session = GRef<SoupSession>::adopt(soup_session_new());
  priv->cancel = g_cancellable_new();
  SoupMessage *msg = soup_message_new(SOUP_METHOD_GET, uri.c_str());
  if (!msg) {
    fail(self, "bad signaller uri '" + uri + "'");
  } else {
    GST_INFO_OBJECT(self, "connecting to %s", uri.c_str());
    soup_session_websocket_connect_async(priv->session.get(), msg, nullptr, nullptr,
                                         G_PRIORITY_DEFAULT, priv->cancel, on_ws_connected,
                                         gst_object_ref(self));
    g_object_unref(msg);
  }
  g_main_loop_run(loop);

  // Shut down on this thread: libsoup objects die where they were made.
  priv->stopping = true;
  cancel_rejoin(priv);
  g_cancellable_cancel(priv->cancel);
  if (priv->ws) {
    g_signal_handlers_disconnect_by_data(priv->ws.get(), self);
    if (soup_websocket_connection_get_state(priv->ws.get()) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close(priv->ws.get(), SOUP_WEBSOCKET_CLOSE_NORMAL, "bye");
    priv->ws.reset();
  }
  if (priv->session) soup_session_abort(priv->session.get());
  // Let pending callbacks (cancelled connects) run and drop their references.
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  priv->session.reset();
  g_clear_object(&priv->cancel);
  g_main_context_pop_thread_default(ctx);
  g_main_loop_unref(loop);
  g_main_context_unref(ctx);
  return nullptr;
}

// Runs `fn(self)` on the signaller thread.
template <typename F> static void invoke(GstRoomcastWsSignaller *self, F &&fn) {
  GMainContext *ctx;
  {
    std::lock_guard l(self->priv->lock);
    ctx = self->priv->ctx ? g_main_context_ref(self->priv->ctx) : nullptr;
  }
  if (!ctx) {
    GST_DEBUG_OBJECT(self, "not started; dropping a send");
    return;
  }
  struct Call {
    GstRoomcastWsSignaller *self;
    F fn;
  };
  auto *call = new Call{GST_ROOMCAST_WS_SIGNALLER(gst_object_ref(self)), std::forward<F>(fn)};
  g_main_context_invoke_full(
      ctx, G_PRIORITY_DEFAULT,
      [](gpointer d) -> gboolean {
        auto *c = static_cast<Call *>(d);
        c->fn(c->self);
        return G_SOURCE_REMOVE;
      },
      call,
      [](gpointer d) {
        auto *c = static_cast<Call *>(d);
        gst_object_unref(c->self);
        delete c;
      });
  g_main_context_unref(ctx);
}

// ---- interface -------------------------------------------------------------------------------

static void ws_start(GstRoomcastSignaller *sig, const gchar *room, GstRoomcastRole role,
                     const gchar *name) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(sig);
  Private *priv = self->priv;
  std::lock_guard l(priv->lock);
  if (priv->thread) return;
  priv->room = room ? room : "";
  priv->role = role;
  priv->name = name ? name : "";
  priv->stopping = false;
  priv->own_id.clear();
  priv->join_attempt = 0;
  priv->ctx = g_main_context_new();
  priv->loop = g_main_loop_new(priv->ctx, FALSE);
  priv->thread = g_thread_new(
      "roomcast-signal", signaller_thread,
      new ThreadArgs{self, g_main_context_ref(priv->ctx), g_main_loop_ref(priv->loop)});
}

static void ws_stop(GstRoomcastSignaller *sig) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(sig);
  Private *priv = self->priv;
  GThread *thread;
  GMainLoop *loop;
  GMainContext *ctx;
  {
    std::lock_guard l(priv->lock);
    thread = std::exchange(priv->thread, nullptr);
    loop = std::exchange(priv->loop, nullptr);
    ctx = std::exchange(priv->ctx, nullptr);
  }
  if (!thread) return;
  roomcast::quit_loop_on(ctx, loop);
  if (g_thread_self() == thread) {
    // Called from one of our own signal handlers: the thread ends when the handler returns.
    g_thread_unref(thread);
  } else {
    g_thread_join(thread);
  }
  g_main_loop_unref(loop);
  g_main_context_unref(ctx);
}

static void ws_send_sdp(GstRoomcastSignaller *sig, const gchar *peer_id,
                        const GstWebRTCSessionDescription *sdp) {
  g_autofree gchar *text = gst_sdp_message_as_text(sdp->sdp);
  p::Type type = sdp->type == GST_WEBRTC_SDP_TYPE_OFFER ? p::Type::Offer : p::Type::Answer;
  std::string msg = p::serialize(p::make_sdp(type, peer_id, text));
  invoke(GST_ROOMCAST_WS_SIGNALLER(sig),
         [msg = std::move(msg)](GstRoomcastWsSignaller *s) { send_text(s, msg); });
}

static void ws_send_ice(GstRoomcastSignaller *sig, const gchar *peer_id, guint mline_index,
                        const gchar *candidate, const gchar *mid) {
  std::string msg = p::serialize(p::make_ice(peer_id, static_cast<int>(mline_index),
                                             candidate ? candidate : "", mid ? mid : ""));
  invoke(GST_ROOMCAST_WS_SIGNALLER(sig),
         [msg = std::move(msg)](GstRoomcastWsSignaller *s) { send_text(s, msg); });
}

// Tells `peer_id` (through the server) that we ended our session with it, and why.
static void ws_end_peer(GstRoomcastSignaller *sig, const gchar *peer_id, const gchar *reason,
                        const gchar *message) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(sig);
  auto code = p::end_reason_from_string(reason ? reason : "");
  if (!code) {
    // The server would refuse it (bad-message), so it goes nowhere: a bug in the caller.
    GST_WARNING_OBJECT(self, "end-peer %s: '%s' is no end-peer reason of the protocol; not sent",
                       peer_id ? peer_id : "(null)", reason ? reason : "(null)");
    return;
  }
  // Text the protocol accepts rather than a refused bye: valid UTF-8, control characters as
  // spaces, cut at a character boundary to the protocol's limit.
  g_autofree gchar *valid = g_utf8_make_valid(message ? message : "", -1);
  std::string text = valid;
  for (char &c : text)
    if (p::spec::text_forbidden_byte(static_cast<unsigned char>(c))) c = ' ';
  if (text.size() > p::kMaxByeMessage) {
    std::size_t cut = p::kMaxByeMessage;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
      cut--;
    text.resize(cut);
  }
  std::string msg = p::serialize(p::make_bye(peer_id ? peer_id : "", *code, std::move(text)));
  invoke(self, [msg = std::move(msg)](GstRoomcastWsSignaller *s) { send_text(s, msg); });
}

static void gst_roomcast_ws_signaller_iface_init(GstRoomcastSignallerInterface *iface) {
  iface->start = ws_start;
  iface->stop = ws_stop;
  iface->send_sdp = ws_send_sdp;
  iface->send_ice = ws_send_ice;
  iface->end_peer = ws_end_peer;
}

// ---- GObject ---------------------------------------------------------------------------------

static void gst_roomcast_ws_signaller_init(GstRoomcastWsSignaller *self) {
  self->priv = new Private();
}

static void gst_roomcast_ws_signaller_dispose(GObject *object) {
  ws_stop(GST_ROOMCAST_SIGNALLER(object));
  G_OBJECT_CLASS(gst_roomcast_ws_signaller_parent_class)->dispose(object);
}

static void gst_roomcast_ws_signaller_finalize(GObject *object) {
  delete GST_ROOMCAST_WS_SIGNALLER(object)->priv;
  G_OBJECT_CLASS(gst_roomcast_ws_signaller_parent_class)->finalize(object);
}

static void gst_roomcast_ws_signaller_set_property(GObject *object, guint id, const GValue *value,
                                                   GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(object);
  switch (id) {
  case PROP_URI: {
    std::lock_guard l(self->priv->lock);
    const char *s = g_value_get_string(value);
    self->priv->uri = s ? s : "";
    break;
  }
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_ws_signaller_get_property(GObject *object, guint id, GValue *value,
                                                   GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(object);
  switch (id) {
  case PROP_URI: {
    std::lock_guard l(self->priv->lock);
    g_value_set_string(value, self->priv->uri.c_str());
    break;
  }
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_ws_signaller_class_init(GstRoomcastWsSignallerClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  gobject_class->dispose = gst_roomcast_ws_signaller_dispose;
  gobject_class->finalize = gst_roomcast_ws_signaller_finalize;
  gobject_class->set_property = gst_roomcast_ws_signaller_set_property;
  gobject_class->get_property = gst_roomcast_ws_signaller_get_property;
  g_object_class_install_property(
      gobject_class, PROP_URI,
      g_param_spec_string("uri", "URI", "WebSocket URI of the roomcast signalling server",
                          "ws://127.0.0.1:8443/ws",
                          GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
}
