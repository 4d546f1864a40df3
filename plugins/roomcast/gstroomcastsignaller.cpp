#include "gstroomcastsignaller.h"

/**
 * SECTION:roomcast-signaller
 * @title: GstRoomcastSignaller
 *
 * The interface between the roomcast elements and a room. Signals:
 *
 * - `joined (own-id, kind)`: the room accepted us; kind is "live" or "meeting".
 * - `peer-joined (id, role, name, existing)`: a peer we may signal with is in the room;
 *   existing is TRUE for peers that were there before us.
 * - `peer-left (id)`: it left, or its connection to the server went away.
 * - `sdp (peer-id, GstWebRTCSessionDescription)` and `ice (peer-id, mline, candidate, mid)`:
 *   negotiation from a peer.
 * - `error (message, fatal)`: fatal errors end the session (join refused, connection lost).
 *
 * All signals are emitted on the implementation's own thread.
 */

G_DEFINE_INTERFACE(GstRoomcastSignaller, gst_roomcast_signaller, G_TYPE_OBJECT)

enum { SIG_JOINED, SIG_PEER_JOINED, SIG_PEER_LEFT, SIG_SDP, SIG_ICE, SIG_ERROR, N_SIGNALS };
static guint signals[N_SIGNALS];

static void gst_roomcast_signaller_default_init(GstRoomcastSignallerInterface *iface) {
  GType type = G_TYPE_FROM_INTERFACE(iface);
  signals[SIG_JOINED] = g_signal_new("joined", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                                     nullptr, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIG_PEER_JOINED] =
      g_signal_new("peer-joined", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                   G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_BOOLEAN);
  signals[SIG_PEER_LEFT] = g_signal_new("peer-left", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                                        nullptr, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIG_SDP] =
      g_signal_new("sdp", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr, G_TYPE_NONE, 2,
                   G_TYPE_STRING, GST_TYPE_WEBRTC_SESSION_DESCRIPTION);
  signals[SIG_ICE] =
      g_signal_new("ice", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr, G_TYPE_NONE, 4,
                   G_TYPE_STRING, G_TYPE_UINT, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIG_ERROR] = g_signal_new("error", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                                    G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BOOLEAN);
}

void gst_roomcast_signaller_start(GstRoomcastSignaller *self, const gchar *room, const gchar *role,
                                  const gchar *name) {
  g_return_if_fail(GST_IS_ROOMCAST_SIGNALLER(self));
  GST_ROOMCAST_SIGNALLER_GET_IFACE(self)->start(self, room, role, name);
}

void gst_roomcast_signaller_stop(GstRoomcastSignaller *self) {
  g_return_if_fail(GST_IS_ROOMCAST_SIGNALLER(self));
  GST_ROOMCAST_SIGNALLER_GET_IFACE(self)->stop(self);
}

void gst_roomcast_signaller_send_sdp(GstRoomcastSignaller *self, const gchar *peer_id,
                                     const GstWebRTCSessionDescription *sdp) {
  g_return_if_fail(GST_IS_ROOMCAST_SIGNALLER(self));
  GST_ROOMCAST_SIGNALLER_GET_IFACE(self)->send_sdp(self, peer_id, sdp);
}

void gst_roomcast_signaller_send_ice(GstRoomcastSignaller *self, const gchar *peer_id,
                                     guint mline_index, const gchar *candidate, const gchar *mid) {
  g_return_if_fail(GST_IS_ROOMCAST_SIGNALLER(self));
  GST_ROOMCAST_SIGNALLER_GET_IFACE(self)->send_ice(self, peer_id, mline_index, candidate, mid);
}

void gst_roomcast_signaller_emit_joined(GstRoomcastSignaller *self, const gchar *own_id,
                                        const gchar *kind) {
  g_signal_emit(self, signals[SIG_JOINED], 0, own_id, kind);
}
void gst_roomcast_signaller_emit_peer_joined(GstRoomcastSignaller *self, const gchar *id,
                                             const gchar *role, const gchar *name,
                                             gboolean existing) {
  g_signal_emit(self, signals[SIG_PEER_JOINED], 0, id, role, name, existing);
}
void gst_roomcast_signaller_emit_peer_left(GstRoomcastSignaller *self, const gchar *id) {
  g_signal_emit(self, signals[SIG_PEER_LEFT], 0, id);
}
void gst_roomcast_signaller_emit_sdp(GstRoomcastSignaller *self, const gchar *peer_id,
                                     GstWebRTCSessionDescription *sdp) {
  g_signal_emit(self, signals[SIG_SDP], 0, peer_id, sdp);
}
void gst_roomcast_signaller_emit_ice(GstRoomcastSignaller *self, const gchar *peer_id,
                                     guint mline_index, const gchar *candidate, const gchar *mid) {
  g_signal_emit(self, signals[SIG_ICE], 0, peer_id, mline_index, candidate, mid);
}
void gst_roomcast_signaller_emit_error(GstRoomcastSignaller *self, const gchar *message,
                                       gboolean fatal) {
  g_signal_emit(self, signals[SIG_ERROR], 0, message, fatal);
}
