#include "gstroomcastsignaller.h"

/**
 * SECTION:roomcast-signaller
 * @title: GstRoomcastSignaller
 *
 * The interface between the roomcast elements and a room. Signals:
 *
 * - `joined (own-id, GstRoomcastRoomKind kind)`: the room accepted us.
 * - `peer-joined (id, GstRoomcastRole role, name, existing)`: a peer we may signal with is in
 *   the room; existing is TRUE for peers that were there before us.
 * - `peer-left (id)`: it left, or its connection to the server went away.
 * - `peer-ended (id, reason, message)`: the peer ended its session with us and said why
 *   (it called end-peer: e.g. "timeout", "max-peers"); it may still be in the room.
 * - `sdp (peer-id, GstWebRTCSessionDescription)` and `ice (peer-id, mline, candidate, mid)`:
 *   negotiation from a peer.
 * - `prefer (peer-id, layer, max-height)`: a viewer asks us (its host) for a ladder layer:
 *   `layer` counted from the top (0: full size, no limit), or, when it is -1, the largest layer
 *   at most `max-height` pixels high (then -1 is `layer`).
 * - `error (message, fatal)`: fatal errors end the session (a join refused for good, a server
 *   that cannot be reached at start). Non-fatal ones are warnings, among them a lost connection
 *   that the implementation is getting back (the WebSocket signaller: "signalling connection
 *   lost; reconnecting", once per outage).
 * - `ice-servers (stun-server, turn-servers)`: the STUN server (a string, or NULL) and TURN
 *   servers (a GStrv, or NULL) the room suggests, in webrtcbin's form (`stun://HOST:PORT`,
 *   `turn(s)://USER:PASSWORD@HOST:PORT[?transport=tcp]`). Emitted before each `joined` by a
 *   signaller whose room hands ICE servers out (the WebSocket one: the welcome's
 *   `ice_servers`), with an empty list when there are none; it replaces the last one. The
 *   elements use it for peers made from then on, unless their own `stun-server` or
 *   `turn-server` is set (those win, kind by kind).
 *
 * A signaller that loses its connection to the room and gets it back (the WebSocket one does)
 * emits `joined` again, with a new id: every id from before is void, and nothing is said about
 * the peers of the old session (no `peer-left`): the element ends those sessions itself when
 * the new one starts. Until then media between peers goes on; only signalling is down.
 *
 * All signals are emitted on the implementation's own thread.
 */

G_DEFINE_INTERFACE(GstRoomcastSignaller, gst_roomcast_signaller, G_TYPE_OBJECT)

GType gst_roomcast_role_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ROOMCAST_ROLE_HOST, "Host of a live room", "host"},
      {GST_ROOMCAST_ROLE_VIEWER, "Viewer of a live room", "viewer"},
      {GST_ROOMCAST_ROLE_MEMBER, "Member of a meeting", "member"},
      {GST_ROOMCAST_ROLE_PLAYER, "Viewer that offers itself (a WHEP player)", "player"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstRoomcastRole", values));
  return type;
}

GType gst_roomcast_room_kind_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {GST_ROOMCAST_ROOM_KIND_LIVE, "Live room (one host, viewers)", "live"},
      {GST_ROOMCAST_ROOM_KIND_MEETING, "Meeting (members only)", "meeting"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstRoomcastRoomKind", values));
  return type;
}

const gchar *gst_roomcast_role_to_string(GstRoomcastRole role) {
  GEnumValue *v = g_enum_get_value(
      static_cast<GEnumClass *>(g_type_class_peek_static(GST_TYPE_ROOMCAST_ROLE)), role);
  return v ? v->value_nick : "?";
}

gboolean gst_roomcast_role_from_string(const gchar *s, GstRoomcastRole *role) {
  g_type_class_unref(g_type_class_ref(GST_TYPE_ROOMCAST_ROLE));
  GEnumValue *v =
      s ? g_enum_get_value_by_nick(
              static_cast<GEnumClass *>(g_type_class_peek_static(GST_TYPE_ROOMCAST_ROLE)), s)
        : nullptr;
  if (!v) return FALSE;
  *role = static_cast<GstRoomcastRole>(v->value);
  return TRUE;
}

const gchar *gst_roomcast_room_kind_to_string(GstRoomcastRoomKind kind) {
  return kind == GST_ROOMCAST_ROOM_KIND_MEETING ? "meeting" : "live";
}

enum {
  SIG_JOINED,
  SIG_PEER_JOINED,
  SIG_PEER_LEFT,
  SIG_PEER_ENDED,
  SIG_SDP,
  SIG_ICE,
  SIG_PREFER,
  SIG_ERROR,
  SIG_ICE_SERVERS,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void gst_roomcast_signaller_default_init(GstRoomcastSignallerInterface *iface) {
  GType type = G_TYPE_FROM_INTERFACE(iface);
  // The enums' classes stay alive for the to/from-string helpers.
  g_type_class_ref(GST_TYPE_ROOMCAST_ROLE);
  g_type_class_ref(GST_TYPE_ROOMCAST_ROOM_KIND);
  signals[SIG_JOINED] =
      g_signal_new("joined", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr, G_TYPE_NONE, 2,
                   G_TYPE_STRING, GST_TYPE_ROOMCAST_ROOM_KIND);
  signals[SIG_PEER_JOINED] = g_signal_new("peer-joined", type, G_SIGNAL_RUN_LAST, 0, nullptr,
                                          nullptr, nullptr, G_TYPE_NONE, 4, G_TYPE_STRING,
                                          GST_TYPE_ROOMCAST_ROLE, G_TYPE_STRING, G_TYPE_BOOLEAN);
  signals[SIG_PEER_LEFT] = g_signal_new("peer-left", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                                        nullptr, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIG_PEER_ENDED] =
      g_signal_new("peer-ended", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr, G_TYPE_NONE,
                   3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIG_SDP] =
      g_signal_new("sdp", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr, G_TYPE_NONE, 2,
                   G_TYPE_STRING, GST_TYPE_WEBRTC_SESSION_DESCRIPTION);
  signals[SIG_ICE] =
      g_signal_new("ice", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr, G_TYPE_NONE, 4,
                   G_TYPE_STRING, G_TYPE_UINT, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIG_PREFER] =
      g_signal_new("prefer", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr, G_TYPE_NONE, 3,
                   G_TYPE_STRING, G_TYPE_INT, G_TYPE_INT);
  signals[SIG_ERROR] = g_signal_new("error", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                                    G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BOOLEAN);
  signals[SIG_ICE_SERVERS] =
      g_signal_new("ice-servers", type, G_SIGNAL_RUN_LAST, 0, nullptr, nullptr, nullptr,
                   G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRV);
}

void gst_roomcast_signaller_start(GstRoomcastSignaller *self, const gchar *room,
                                  GstRoomcastRole role, const gchar *name) {
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

void gst_roomcast_signaller_end_peer(GstRoomcastSignaller *self, const gchar *peer_id,
                                     const gchar *reason, const gchar *message) {
  g_return_if_fail(GST_IS_ROOMCAST_SIGNALLER(self));
  auto *iface = GST_ROOMCAST_SIGNALLER_GET_IFACE(self);
  if (iface->end_peer) iface->end_peer(self, peer_id, reason, message);
}

void gst_roomcast_signaller_send_prefer(GstRoomcastSignaller *self, const gchar *peer_id,
                                        gint layer, gint max_height) {
  g_return_if_fail(GST_IS_ROOMCAST_SIGNALLER(self));
  auto *iface = GST_ROOMCAST_SIGNALLER_GET_IFACE(self);
  if (iface->send_prefer) iface->send_prefer(self, peer_id, layer, max_height);
}

gboolean gst_roomcast_signaller_rejoin(GstRoomcastSignaller *self) {
  g_return_val_if_fail(GST_IS_ROOMCAST_SIGNALLER(self), FALSE);
  auto *iface = GST_ROOMCAST_SIGNALLER_GET_IFACE(self);
  if (!iface->rejoin) return FALSE;
  iface->rejoin(self);
  return TRUE;
}

void gst_roomcast_signaller_emit_joined(GstRoomcastSignaller *self, const gchar *own_id,
                                        GstRoomcastRoomKind kind) {
  g_signal_emit(self, signals[SIG_JOINED], 0, own_id, kind);
}
void gst_roomcast_signaller_emit_peer_joined(GstRoomcastSignaller *self, const gchar *id,
                                             GstRoomcastRole role, const gchar *name,
                                             gboolean existing) {
  g_signal_emit(self, signals[SIG_PEER_JOINED], 0, id, role, name, existing);
}
void gst_roomcast_signaller_emit_peer_left(GstRoomcastSignaller *self, const gchar *id) {
  g_signal_emit(self, signals[SIG_PEER_LEFT], 0, id);
}
void gst_roomcast_signaller_emit_peer_ended(GstRoomcastSignaller *self, const gchar *id,
                                            const gchar *reason, const gchar *message) {
  g_signal_emit(self, signals[SIG_PEER_ENDED], 0, id, reason, message);
}
void gst_roomcast_signaller_emit_sdp(GstRoomcastSignaller *self, const gchar *peer_id,
                                     GstWebRTCSessionDescription *sdp) {
  g_signal_emit(self, signals[SIG_SDP], 0, peer_id, sdp);
}
void gst_roomcast_signaller_emit_ice(GstRoomcastSignaller *self, const gchar *peer_id,
                                     guint mline_index, const gchar *candidate, const gchar *mid) {
  g_signal_emit(self, signals[SIG_ICE], 0, peer_id, mline_index, candidate, mid);
}
void gst_roomcast_signaller_emit_prefer(GstRoomcastSignaller *self, const gchar *peer_id,
                                        gint layer, gint max_height) {
  g_signal_emit(self, signals[SIG_PREFER], 0, peer_id, layer, max_height);
}
void gst_roomcast_signaller_emit_error(GstRoomcastSignaller *self, const gchar *message,
                                       gboolean fatal) {
  g_signal_emit(self, signals[SIG_ERROR], 0, message, fatal);
}
void gst_roomcast_signaller_emit_ice_servers(GstRoomcastSignaller *self, const gchar *stun_server,
                                             const gchar *const *turn_servers) {
  g_signal_emit(self, signals[SIG_ICE_SERVERS], 0, stun_server, turn_servers);
}
