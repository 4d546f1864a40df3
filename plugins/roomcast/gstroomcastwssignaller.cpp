#include "gstroomcastwssignaller.h"

#include "common.h"
#include "ice-servers.h"
#include "proto-enums.h"
#include "gref.h"
#include "protocol.h"
#include "tls-pin.h"

#include <libsoup/soup.h>

#include <algorithm>
#include <mutex>
#include <string>

/**
 * SECTION:roomcast-ws-signaller
 * @title: GstRoomcastWsSignaller
 *
 * Joins a room on a roomcast signalling server over a WebSocket (docs/protocol.md). It owns one
 * thread with its own GMainContext: libsoup is only ever used there, every send from another
 * thread is marshalled onto it, and every signal is emitted from it.
 *
 * A lost connection is got back: once a WebSocket of this run has opened, a close (the server
 * stopped, restarted, dropped us at its keepalive timeout, or went silent for three of its ping
 * intervals) is reported once as a non-fatal `error` ("signalling connection lost; reconnecting")
 * and the signaller connects again with the protocol's backoff (0.5 s doubling to 8 s, for as
 * long as it runs) and joins the same room with the same role and name. The server gives a new
 * id: `joined` is emitted again. Nothing is emitted about the peers of the old session. A server
 * that cannot be reached at the very first connect is a fatal error at once, so a wrong address
 * fails clearly. After a reconnect, `host-taken` is retried a few times: the server may not yet
 * have noticed that our previous connection is gone.
 *
 * The welcome's `ice_servers` (STUN and TURN servers, TURN credentials possibly made for this
 * connection) are emitted as `ice-servers` in webrtcbin's form before each `joined`.
 *
 * `wss://` servers: the certificate is checked against the system's authorities, or against the
 * certificates of `tls-ca-file` when it is set; with `tls-pin` (a SHA-256 fingerprint, as
 * `roomcast serve` prints it) only a certificate with that fingerprint is taken, whoever signed
 * it (a self-signed certificate on a LAN). A certificate that is refused is a fatal error, at
 * the first connect and at every reconnect alike, with the fingerprint the server showed.
 *
 * `token` (a room token from `roomcast token`) goes into every `join`; so does `private`, which
 * keeps a host's or member's room off the server's room list (GET /rooms).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 roomcastsrc signaller::uri=wss://192.0.2.7:8443/ws \
 *     signaller::tls-pin=AB:12:…:EF signaller::token=eyJ… room=demo ! videoconvert ! autovideosink
 * ]|
 */

GST_DEBUG_CATEGORY_STATIC(roomcast_ws_debug);
#define GST_CAT_DEFAULT roomcast_ws_debug

namespace p = roomcast::proto;
using roomcast::GRef;
using roomcast::to_gst;
using roomcast::to_proto;

namespace {

// A viewer that offers itself (a WHEP player) is a player to the elements: its host answers it.
GstRoomcastRole peer_role(const p::PeerInfo &peer) {
  return peer.offers && peer.role == p::Role::Viewer ? GST_ROOMCAST_ROLE_PLAYER : to_gst(peer.role);
}

// A `host-taken` right after a reconnect is tried again this many times (with the join backoff,
// about 40 s in all) before the join-error policy (fatal) counts: a server whose end of our old
// connection went silent drops it only at its keepalive timeout (30 s by default).
constexpr unsigned kHostTakenRetries = 8;
// The server is given up on when it said nothing for three of its ping intervals and did not
// answer our own ping within this time.
constexpr gint64 kPingAnswerUs = 5 * G_USEC_PER_SEC;

struct Private {
  // `lock` guards the properties (uri, tls-ca-file, tls-pin, token) and the thread handles. Leaf
  // lock: never held while emitting signals or waiting for the thread.
  std::mutex lock;
  std::string uri = "ws://127.0.0.1:8443/ws";
  std::string tls_ca_file, tls_pin, token; // properties
  bool private_room = false;               // property "private"

  GMainContext *ctx = nullptr;
  GMainLoop *loop = nullptr;
  GThread *thread = nullptr;

  // Used only on the signaller thread (set by start before the thread runs).
  std::string room, name, server;              // server: the uri of this run
  std::string run_ca_file, run_pin, run_token; // the properties for this run (pin normalised)
  SoupMessage *connecting = nullptr;           // the handshake under way
  std::string tls_refusal;                     // why its certificate was refused, if it was
  GstRoomcastRole role = GST_ROOMCAST_ROLE_VIEWER;
  bool run_private = false; // the "private" property for this run
  GRef<SoupSession> session;
  GRef<SoupWebsocketConnection> ws;
  GCancellable *cancel = nullptr;
  std::string own_id;
  bool stopping = false;
  // A join refused with a retryable code is sent again after a backoff (join-error policy).
  GSource *join_retry = nullptr;
  unsigned join_attempt = 0;
  // Getting a lost connection back.
  bool opened = false;      // a WebSocket of this run opened: from then on a lost one is got back
  bool joined = false;      // welcomed on the current connection
  bool ever_joined = false; // welcomed at least once in this run
  bool lost = false;        // the outage was reported; cleared by the next welcome
  unsigned connect_attempt = 0;
  unsigned host_taken_tries = 0;
  GSource *reconnect = nullptr;
  // Our side of the keepalive: a server silent for three ping intervals is given up on.
  GSource *keepalive = nullptr;
  unsigned ping_interval_s = 10;
  gint64 last_heard_us = 0, ping_sent_us = 0, last_tick_us = 0;
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

enum { PROP_0, PROP_URI, PROP_TLS_CA_FILE, PROP_TLS_PIN, PROP_TOKEN, PROP_PRIVATE };

// ---- signaller thread ------------------------------------------------------------------------

static void fail(GstRoomcastWsSignaller *self, const std::string &msg) {
  GST_ERROR_OBJECT(self, "%s", msg.c_str());
  gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self), msg.c_str(), TRUE);
}

static void clear_source(GSource **slot) {
  if (!*slot) return;
  g_source_destroy(*slot);
  g_source_unref(std::exchange(*slot, nullptr));
}

// Runs fn(self) once, `ms` from now, on this thread; the source is kept in `slot` (cleared when
// it fires, so fn may arm it again). Every slot is cleared before the thread ends
// (signaller_thread), so no source outlives `self`.
static void arm_once(GstRoomcastWsSignaller *self, GSource **slot, guint ms,
                     void (*fn)(GstRoomcastWsSignaller *)) {
  struct Timer {
    GstRoomcastWsSignaller *self;
    GSource **slot;
    void (*fn)(GstRoomcastWsSignaller *);
  };
  clear_source(slot);
  *slot = g_timeout_source_new(ms);
  g_source_set_callback(
      *slot,
      [](gpointer data) -> gboolean {
        auto *t = static_cast<Timer *>(data);
        g_source_unref(std::exchange(*t->slot, nullptr));
        t->fn(t->self);
        return G_SOURCE_REMOVE;
      },
      new Timer{self, slot, fn}, [](gpointer data) { delete static_cast<Timer *>(data); });
  g_source_attach(*slot, g_main_context_get_thread_default());
}

static void send_text(GstRoomcastWsSignaller *self, const std::string &text) {
  Private *priv = self->priv;
  if (!priv->ws ||
      soup_websocket_connection_get_state(priv->ws.get()) != SOUP_WEBSOCKET_STATE_OPEN) {
    GST_DEBUG_OBJECT(self, "not connected; dropping %s", text.substr(0, 60).c_str());
    return;
  }
  soup_websocket_connection_send_text(priv->ws.get(), text.c_str());
}

// Offers, answers, candidates and byes name peers of the current session: they go out only
// while we are in the room (between a lost connection and the next welcome every id is void).
static void send_relay(GstRoomcastWsSignaller *self, const std::string &text) {
  if (!self->priv->joined) {
    GST_DEBUG_OBJECT(self, "not in the room; dropping %s", text.substr(0, 60).c_str());
    return;
  }
  send_text(self, text);
}

static void send_join(GstRoomcastWsSignaller *self) {
  Private *priv = self->priv;
  p::Join join = p::make_join(priv->room, to_proto(priv->role), priv->name, priv->run_token);
  join.private_room = priv->run_private;
  send_text(self, p::serialize(join));
}

// The join was refused with a code the join-error policy calls retryable (room full, too many
// rooms): join again on this thread after the protocol's backoff.
static void schedule_join_retry(GstRoomcastWsSignaller *self) {
  Private *priv = self->priv;
  unsigned delay = p::retry_delay_ms(priv->join_attempt++);
  GST_INFO_OBJECT(self, "joining again in %u ms", delay);
  arm_once(self, &priv->join_retry, delay, send_join);
}

static void connect_ws(GstRoomcastWsSignaller *self);
static void connection_lost(GstRoomcastWsSignaller *self, const std::string &why);

static void schedule_reconnect(GstRoomcastWsSignaller *self) {
  Private *priv = self->priv;
  unsigned delay = p::retry_delay_ms(priv->connect_attempt++);
  GST_INFO_OBJECT(self, "connecting again in %u ms", delay);
  arm_once(self, &priv->reconnect, delay, connect_ws);
}

static void send_ping(GstRoomcastWsSignaller *self, gint64 now) {
  self->priv->ping_sent_us = now;
  send_text(self, p::serialize(p::Ping{}));
}

// Once a second while a WebSocket is open: the server pings us when we are quiet; we ping it
// when it is quiet, and give up on it when it stays silent (a connection that vanished without
// a close, e.g. behind a NAT that forgot it).
static gboolean keepalive_tick(gpointer data) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(data);
  Private *priv = self->priv;
  gint64 now = g_get_monotonic_time();
  gint64 interval = gint64(priv->ping_interval_s) * G_USEC_PER_SEC;
  gint64 quiet = now - priv->last_heard_us;
  bool late = priv->last_tick_us && now - priv->last_tick_us > 3 * G_USEC_PER_SEC;
  priv->last_tick_us = now;
  if (late) {
    // We did not run for a while (SIGSTOP, a suspended machine): what the server sent meanwhile
    // may still be unread. Ask, and judge at a later tick.
    send_ping(self, now);
  } else if (priv->ping_sent_us && quiet > 3 * interval &&
             now - priv->ping_sent_us > kPingAnswerUs) {
    connection_lost(self, "the server went silent");
  } else if (quiet > interval && (!priv->ping_sent_us || now - priv->ping_sent_us > interval)) {
    send_ping(self, now);
  }
  return G_SOURCE_CONTINUE;
}

static void start_keepalive(GstRoomcastWsSignaller *self) {
  Private *priv = self->priv;
  clear_source(&priv->keepalive);
  priv->last_heard_us = priv->last_tick_us = g_get_monotonic_time();
  priv->ping_sent_us = 0;
  priv->keepalive = g_timeout_source_new(1000);
  g_source_set_callback(priv->keepalive, keepalive_tick, self, nullptr);
  g_source_attach(priv->keepalive, g_main_context_get_thread_default());
}

// Forgets the current WebSocket (closing it if it is still open) and what was tied to it.
static void drop_connection(GstRoomcastWsSignaller *self, const char *close_reason) {
  Private *priv = self->priv;
  clear_source(&priv->join_retry);
  clear_source(&priv->keepalive);
  priv->joined = false;
  priv->own_id.clear();
  if (!priv->ws) return;
  g_signal_handlers_disconnect_by_data(priv->ws.get(), self);
  if (soup_websocket_connection_get_state(priv->ws.get()) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close(priv->ws.get(), SOUP_WEBSOCKET_CLOSE_NORMAL, close_reason);
  priv->ws.reset();
}

// The WebSocket closed or went silent: say so once, then connect again with backoff. The
// elements keep their peers meanwhile (media is peer to peer) and start over at the next
// `joined`.
static void connection_lost(GstRoomcastWsSignaller *self, const std::string &why) {
  Private *priv = self->priv;
  if (priv->stopping) return;
  drop_connection(self, "going away");
  if (!priv->lost) {
    priv->lost = true;
    std::string text = "signalling connection lost" +
                       (why.empty() ? std::string() : " (" + why + ")") + "; reconnecting";
    GST_WARNING_OBJECT(self, "%s", text.c_str());
    gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self), text.c_str(), FALSE);
  } else {
    GST_INFO_OBJECT(self, "connection lost again (%s)", why.c_str());
  }
  schedule_reconnect(self);
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
  Private *priv = self->priv;
  // "CODE: message", like the in-process signaller's refusals.
  std::string text = std::string(p::to_string(e.code)) + ": " + e.message;
  if (e.ref != "join") {
    // Not about our join (a peer that just left, a dropped message): the session goes on.
    GST_WARNING_OBJECT(self, "server: %s", text.c_str());
    gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self), text.c_str(), FALSE);
    return;
  }
  if (e.code == p::ErrorCode::HostTaken && priv->ever_joined &&
      priv->host_taken_tries < kHostTakenRetries) {
    // Most likely ourselves: the server has not yet noticed that our old connection is gone.
    priv->host_taken_tries++;
    text += " (our previous connection may still be open there); trying again";
    GST_WARNING_OBJECT(self, "join refused: %s", text.c_str());
    gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self), text.c_str(), FALSE);
    schedule_join_retry(self);
    return;
  }
  // A refused join: the join-error policy (protocol-spec.json) says whether trying again helps.
  if (p::join_error_is_fatal(e.code)) {
    fail(self, text);
    return;
  }
  GST_WARNING_OBJECT(self, "join refused: %s", text.c_str());
  gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self), text.c_str(), FALSE);
  schedule_join_retry(self);
}

// The welcome's ICE servers, in webrtcbin's form, for the elements (before `joined`).
static void emit_ice_servers(GstRoomcastWsSignaller *self, const std::vector<p::IceServer> &list) {
  std::vector<std::string> skipped;
  roomcast::ice::GstServers servers = roomcast::ice::gst_servers(list, &skipped);
  for (const auto &s : skipped)
    GST_WARNING_OBJECT(self, "ICE server of the welcome not used: %s", s.c_str());
  // (The TURN URIs carry credentials: only counted here.)
  GST_INFO_OBJECT(self, "the room suggests %s STUN server and %zu TURN servers",
                  servers.stun.empty() ? "no" : "a", servers.turn.size());
  std::vector<const gchar *> turn;
  for (const auto &t : servers.turn)
    turn.push_back(t.c_str());
  turn.push_back(nullptr);
  gst_roomcast_signaller_emit_ice_servers(GST_ROOMCAST_SIGNALLER(self),
                                          servers.stun.empty() ? nullptr : servers.stun.c_str(),
                                          turn.data());
}

static void handle_message(GstRoomcastWsSignaller *self, const p::Message &msg) {
  Private *priv = self->priv;
  auto *sig = GST_ROOMCAST_SIGNALLER(self);
  std::visit(
      p::overloaded{
          [&](const p::Welcome &m) {
            bool back = priv->ever_joined;
            priv->own_id = m.id;
            priv->joined = priv->ever_joined = true;
            priv->lost = false;
            priv->connect_attempt = priv->join_attempt = priv->host_taken_tries = 0;
            clear_source(&priv->join_retry);
            if (m.ping_interval_s > 0) priv->ping_interval_s = m.ping_interval_s;
            GST_INFO_OBJECT(self, "%s room %s as %s (%s, %zu peers)", back ? "back in" : "joined",
                            m.room.c_str(), m.id.c_str(), p::to_string(m.kind), m.peers.size());
            emit_ice_servers(self, m.ice_servers);
            gst_roomcast_signaller_emit_joined(sig, m.id.c_str(), to_gst(m.kind));
            for (const auto &peer : m.peers)
              gst_roomcast_signaller_emit_peer_joined(sig, peer.id.c_str(), peer_role(peer),
                                                      peer.name.c_str(), TRUE);
          },
          [&](const p::PeerJoined &m) {
            gst_roomcast_signaller_emit_peer_joined(sig, m.peer.id.c_str(), peer_role(m.peer),
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
          [&](const p::Prefer &m) {
            GST_DEBUG_OBJECT(self, "%s prefers layer %d / height %d", m.from.c_str(), m.layer,
                             m.max_height);
            gst_roomcast_signaller_emit_prefer(sig, m.from.c_str(), m.layer, m.max_height);
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
  self->priv->last_heard_us = g_get_monotonic_time();
  self->priv->ping_sent_us = 0;
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
  GST_INFO_OBJECT(self, "signalling connection closed (code %u%s%s)",
                  soup_websocket_connection_get_close_code(ws), reason && *reason ? ": " : "",
                  reason ? reason : "");
  connection_lost(self, reason ? reason : "");
}

// What is wrong with a certificate, for people.
static std::string describe_tls_errors(GTlsCertificateFlags flags) {
  std::string out;
  auto add = [&](GTlsCertificateFlags f, const char *text) {
    if (!(flags & f)) return;
    if (!out.empty()) out += ", ";
    out += text;
  };
  add(G_TLS_CERTIFICATE_UNKNOWN_CA, "signed by an unknown authority");
  add(G_TLS_CERTIFICATE_BAD_IDENTITY, "not made for this host name");
  add(G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet");
  add(G_TLS_CERTIFICATE_EXPIRED, "expired");
  add(G_TLS_CERTIFICATE_REVOKED, "revoked");
  add(G_TLS_CERTIFICATE_INSECURE, "insecure");
  add(G_TLS_CERTIFICATE_GENERIC_ERROR, "invalid");
  return out.empty() ? "not trusted" : out;
}

static std::string fingerprint_of(GTlsCertificate *cert) {
  if (!cert) return "?";
  GByteArray *der = nullptr;
  g_object_get(cert, "certificate", &der, nullptr);
  if (!der) return "?";
  std::string fp = roomcast::tls::sha256_fingerprint(der->data, der->len);
  g_byte_array_unref(der);
  return fp;
}

// The handshake found a certificate it cannot trust (with a pin and no CA file it never trusts
// one: the pin decides). Only the pinned certificate is taken.
static gboolean on_accept_certificate(SoupMessage *, GTlsCertificate *cert,
                                      GTlsCertificateFlags errors, gpointer data) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(data);
  Private *priv = self->priv;
  std::string fp = fingerprint_of(cert);
  if (!priv->run_pin.empty() && fp == priv->run_pin) {
    GST_INFO_OBJECT(self, "server certificate %s matches the pin", fp.c_str());
    return TRUE;
  }
  if (!priv->run_pin.empty())
    priv->tls_refusal = "the signalling server's TLS certificate does not match the pinned "
                        "fingerprint (server: " +
                        fp + "; pinned: " + priv->run_pin + "); refusing to connect";
  else
    priv->tls_refusal = "the signalling server's TLS certificate is " +
                        describe_tls_errors(errors) + " (SHA-256 fingerprint " + fp +
                        "); give its authority (tls-ca-file, roomcast --tls-ca FILE) or pin it "
                        "(tls-pin, roomcast --tls-pin FINGERPRINT)";
  return FALSE;
}

static void on_ws_connected(GObject *source, GAsyncResult *res, gpointer data) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(data);
  Private *priv = self->priv;
  g_autoptr(GError) err = nullptr;
  SoupWebsocketConnection *ws =
      soup_session_websocket_connect_finish(SOUP_SESSION(source), res, &err);
  g_autoptr(SoupMessage) msg = std::exchange(priv->connecting, nullptr);
  if (ws && !priv->run_pin.empty() && msg) {
    // A certificate the authorities vouch for never reaches on_accept_certificate: check the pin
    // here too.
    std::string fp = fingerprint_of(soup_message_get_tls_peer_certificate(msg));
    if (fp != priv->run_pin) {
      priv->tls_refusal = "the signalling server's TLS certificate does not match the pinned "
                          "fingerprint (server: " +
                          fp + "; pinned: " + priv->run_pin + "); refusing to connect";
      soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, "bad certificate");
      g_clear_object(&ws);
    }
  }
  if (!ws && !priv->stopping &&
      (!priv->tls_refusal.empty() || (err && err->domain == G_TLS_ERROR))) {
    // A refused certificate is never retried: it will not change by itself, and going on
    // could mean talking to someone else.
    std::string why = !priv->tls_refusal.empty()
                          ? std::exchange(priv->tls_refusal, std::string())
                          : std::string("TLS with the signalling server failed: ") + err->message;
    fail(self, why);
    gst_object_unref(self);
    return;
  }
  if (!ws) {
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED) || priv->stopping) {
      // stopped meanwhile
    } else if (priv->opened) {
      GST_INFO_OBJECT(self, "cannot reach the signalling server yet: %s", err->message);
      schedule_reconnect(self);
    } else {
      // The very first connect: a server that was never there fails clearly, at once.
      fail(self, std::string("cannot reach the signalling server: ") + err->message);
    }
    gst_object_unref(self);
    return;
  }
  if (priv->stopping) {
    soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL, "bye");
    g_object_unref(ws);
    gst_object_unref(self);
    return;
  }
  priv->opened = true;
  priv->ws = GRef<SoupWebsocketConnection>::adopt(ws);
  soup_websocket_connection_set_max_incoming_payload_size(ws, 4 * 1024 * 1024);
  g_signal_connect_object(ws, "message", G_CALLBACK(on_ws_message), self, GConnectFlags(0));
  g_signal_connect_object(ws, "closed", G_CALLBACK(on_ws_closed), self, GConnectFlags(0));
  start_keepalive(self);
  send_join(self);
  gst_object_unref(self);
}

static void connect_ws(GstRoomcastWsSignaller *self) {
  Private *priv = self->priv;
  SoupMessage *msg = soup_message_new(SOUP_METHOD_GET, priv->server.c_str());
  if (!msg) {
    fail(self, "bad signaller uri '" + priv->server + "'");
    return;
  }
  GST_INFO_OBJECT(self, "connecting to %s", priv->server.c_str());
  priv->tls_refusal.clear();
  g_signal_connect(msg, "accept-certificate", G_CALLBACK(on_accept_certificate), self);
  g_clear_object(&priv->connecting);
  priv->connecting = SOUP_MESSAGE(g_object_ref(msg));
  soup_session_websocket_connect_async(priv->session.get(), msg, nullptr, nullptr,
                                       G_PRIORITY_DEFAULT, priv->cancel, on_ws_connected,
                                       gst_object_ref(self));
  g_object_unref(msg);
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
  priv->session = GRef<SoupSession>::adopt(soup_session_new());
  priv->cancel = g_cancellable_new();
  bool ok = true;
  if (!priv->run_ca_file.empty()) {
    g_autoptr(GError) err = nullptr;
    g_autoptr(GTlsDatabase) db = g_tls_file_database_new(priv->run_ca_file.c_str(), &err);
    if (!db) {
      fail(self, "cannot read the TLS authority file " + priv->run_ca_file + ": " + err->message);
      ok = false;
    } else {
      soup_session_set_tls_database(priv->session.get(), db);
    }
  } else if (!priv->run_pin.empty()) {
    // No database: every certificate fails validation, so on_accept_certificate decides, by
    // the pin alone.
    soup_session_set_tls_database(priv->session.get(), nullptr);
  }
  if (ok) connect_ws(self);
  g_main_loop_run(loop);

  // Shut down on this thread: libsoup objects die where they were made.
  priv->stopping = true;
  clear_source(&priv->reconnect);
  g_cancellable_cancel(priv->cancel);
  drop_connection(self, "bye");
  if (priv->session) soup_session_abort(priv->session.get());
  // Let pending callbacks (cancelled connects) run and drop their references.
  while (g_main_context_iteration(ctx, FALSE)) {
  }
  priv->session.reset();
  g_clear_object(&priv->connecting);
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
  priv->server = priv->uri;
  priv->run_ca_file = priv->tls_ca_file;
  priv->run_token = priv->token;
  priv->run_private = priv->private_room;
  priv->run_pin.clear();
  if (!priv->tls_pin.empty()) {
    // Checked when the property was set; an unreadable pin pins nothing that can match.
    auto pin = roomcast::tls::normalize_pin(priv->tls_pin);
    priv->run_pin = pin ? *pin : "(invalid pin " + priv->tls_pin + ")";
  }
  priv->stopping = false;
  priv->own_id.clear();
  priv->join_attempt = priv->connect_attempt = priv->host_taken_tries = 0;
  priv->opened = priv->joined = priv->ever_joined = priv->lost = false;
  priv->ping_interval_s = 10;
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
         [msg = std::move(msg)](GstRoomcastWsSignaller *s) { send_relay(s, msg); });
}

static void ws_send_ice(GstRoomcastSignaller *sig, const gchar *peer_id, guint mline_index,
                        const gchar *candidate, const gchar *mid) {
  std::string msg = p::serialize(p::make_ice(peer_id, static_cast<int>(mline_index),
                                             candidate ? candidate : "", mid ? mid : ""));
  invoke(GST_ROOMCAST_WS_SIGNALLER(sig),
         [msg = std::move(msg)](GstRoomcastWsSignaller *s) { send_relay(s, msg); });
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
  invoke(self, [msg = std::move(msg)](GstRoomcastWsSignaller *s) { send_relay(s, msg); });
}

static void ws_send_prefer(GstRoomcastSignaller *sig, const gchar *peer_id, gint layer,
                           gint max_height) {
  auto *self = GST_ROOMCAST_WS_SIGNALLER(sig);
  // Clamped to what the protocol takes (the host clamps to its ladder).
  p::Prefer m =
      layer >= 0 ? p::make_prefer(peer_id ? peer_id : "", std::min<int>(layer, p::kMaxPreferLayer))
                 : p::make_prefer(peer_id ? peer_id : "",
                                  std::clamp<int>(max_height, 1, p::kMaxPreferHeight), true);
  std::string msg = p::serialize(m);
  invoke(self, [msg = std::move(msg)](GstRoomcastWsSignaller *s) { send_relay(s, msg); });
}

// Leaves the room and joins it again on the same connection (the server gives a new id). While
// not in the room (reconnecting, or a join being retried) there is nothing to do: the welcome
// that ends it is a new session already.
static void ws_rejoin(GstRoomcastSignaller *sig) {
  invoke(GST_ROOMCAST_WS_SIGNALLER(sig), [](GstRoomcastWsSignaller *s) {
    Private *priv = s->priv;
    if (!priv->joined) {
      GST_INFO_OBJECT(s, "rejoin: not in the room now; the next welcome starts a new session");
      return;
    }
    GST_INFO_OBJECT(s, "leaving room %s and joining it again", priv->room.c_str());
    send_text(s, p::serialize(p::Leave{}));
    priv->joined = false;
    priv->own_id.clear();
    send_join(s);
  });
}

static void gst_roomcast_ws_signaller_iface_init(GstRoomcastSignallerInterface *iface) {
  iface->start = ws_start;
  iface->stop = ws_stop;
  iface->send_sdp = ws_send_sdp;
  iface->send_ice = ws_send_ice;
  iface->end_peer = ws_end_peer;
  iface->rejoin = ws_rejoin;
  iface->send_prefer = ws_send_prefer;
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
  case PROP_TLS_CA_FILE: {
    std::lock_guard l(self->priv->lock);
    const char *s = g_value_get_string(value);
    self->priv->tls_ca_file = s ? s : "";
    break;
  }
  case PROP_TLS_PIN: {
    const char *s = g_value_get_string(value);
    if (s && *s && !roomcast::tls::normalize_pin(s))
      GST_WARNING_OBJECT(self,
                         "tls-pin '%s' is not a SHA-256 fingerprint (64 hex digits); no "
                         "certificate will match it",
                         s);
    std::lock_guard l(self->priv->lock);
    self->priv->tls_pin = s ? s : "";
    break;
  }
  case PROP_TOKEN: {
    const char *s = g_value_get_string(value);
    std::lock_guard l(self->priv->lock);
    self->priv->token = s ? s : "";
    break;
  }
  case PROP_PRIVATE: {
    std::lock_guard l(self->priv->lock);
    self->priv->private_room = g_value_get_boolean(value);
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
  case PROP_TLS_CA_FILE: {
    std::lock_guard l(self->priv->lock);
    g_value_set_string(value,
                       self->priv->tls_ca_file.empty() ? nullptr : self->priv->tls_ca_file.c_str());
    break;
  }
  case PROP_TLS_PIN: {
    std::lock_guard l(self->priv->lock);
    g_value_set_string(value, self->priv->tls_pin.empty() ? nullptr : self->priv->tls_pin.c_str());
    break;
  }
  case PROP_TOKEN: {
    std::lock_guard l(self->priv->lock);
    g_value_set_string(value, self->priv->token.empty() ? nullptr : self->priv->token.c_str());
    break;
  }
  case PROP_PRIVATE: {
    std::lock_guard l(self->priv->lock);
    g_value_set_boolean(value, self->priv->private_room);
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
  g_object_class_install_property(
      gobject_class, PROP_TLS_CA_FILE,
      g_param_spec_string("tls-ca-file", "TLS authorities",
                          "PEM file of the certificate authorities (or the certificate itself) a "
                          "wss:// server's certificate must chain to, instead of the system's",
                          nullptr, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      gobject_class, PROP_TLS_PIN,
      g_param_spec_string("tls-pin", "TLS pin",
                          "SHA-256 fingerprint of the only certificate a wss:// server may show "
                          "(hex, colons optional, as roomcast serve prints it); it replaces the "
                          "authorities' check unless tls-ca-file is set too",
                          nullptr, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      gobject_class, PROP_TOKEN,
      g_param_spec_string("token", "Room token",
                          "Room token (from roomcast token) sent with every join; servers that "
                          "require tokens refuse a join without the right one",
                          nullptr, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      gobject_class, PROP_PRIVATE,
      g_param_spec_boolean("private", "Private room",
                           "A host or member joins with \"private\": the server never lists the "
                           "room on its start page (GET /rooms)",
                           FALSE, GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
}
