// GstRoomcastSignaller: how roomcast elements talk to a room.
//
// The elements call down (start, stop, send-sdp, send-ice, end-peer) from any thread;
// implementations marshal to their own context. Implementations report up with signals, emitted
// on their own thread: handlers must not block and must hop to their own context for topology
// changes.
#pragma once

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

G_BEGIN_DECLS

/**
 * GstRoomcastRole:
 * @GST_ROOMCAST_ROLE_HOST: sends to every viewer of a live room
 * @GST_ROOMCAST_ROLE_VIEWER: receives from the host of a live room
 * @GST_ROOMCAST_ROLE_MEMBER: sends to and receives from every member of a meeting
 */
typedef enum {
  GST_ROOMCAST_ROLE_HOST = 0,
  GST_ROOMCAST_ROLE_VIEWER = 1,
  GST_ROOMCAST_ROLE_MEMBER = 2,
  // A viewer that sends the offer itself (the protocol's viewer with "offers": a WHEP player):
  // a peer's role only, never one to join with.
  GST_ROOMCAST_ROLE_PLAYER = 3,
} GstRoomcastRole;

/**
 * GstRoomcastRoomKind:
 * @GST_ROOMCAST_ROOM_KIND_LIVE: one host, many viewers
 * @GST_ROOMCAST_ROOM_KIND_MEETING: members only, everyone sees everyone
 */
typedef enum {
  GST_ROOMCAST_ROOM_KIND_LIVE = 0,
  GST_ROOMCAST_ROOM_KIND_MEETING = 1,
} GstRoomcastRoomKind;

#define GST_TYPE_ROOMCAST_ROLE (gst_roomcast_role_get_type())
GType gst_roomcast_role_get_type(void);
#define GST_TYPE_ROOMCAST_ROOM_KIND (gst_roomcast_room_kind_get_type())
GType gst_roomcast_room_kind_get_type(void);
// The protocol's name of a role/kind ("host", "live", ...), and back (FALSE if unknown).
const gchar *gst_roomcast_role_to_string(GstRoomcastRole role);
gboolean gst_roomcast_role_from_string(const gchar *s, GstRoomcastRole *role);
const gchar *gst_roomcast_room_kind_to_string(GstRoomcastRoomKind kind);

#define GST_TYPE_ROOMCAST_SIGNALLER (gst_roomcast_signaller_get_type())
G_DECLARE_INTERFACE(GstRoomcastSignaller, gst_roomcast_signaller, GST, ROOMCAST_SIGNALLER, GObject)

struct _GstRoomcastSignallerInterface {
  GTypeInterface parent_iface;

  // Joins `room` with `role` and display `name` (may be NULL).
  void (*start)(GstRoomcastSignaller *self, const gchar *room, GstRoomcastRole role,
                const gchar *name);
  void (*stop)(GstRoomcastSignaller *self);
  void (*send_sdp)(GstRoomcastSignaller *self, const gchar *peer_id,
                   const GstWebRTCSessionDescription *sdp);
  // An empty or NULL candidate means end of candidates. `mid` may be NULL.
  void (*send_ice)(GstRoomcastSignaller *self, const gchar *peer_id, guint mline_index,
                   const gchar *candidate, const gchar *mid);
  // Tells the room that we ended our session with `peer_id`: the peer is told why (`reason`
  // is a protocol reason code such as "timeout", `message` free text). Optional (default: no-op).
  void (*end_peer)(GstRoomcastSignaller *self, const gchar *peer_id, const gchar *reason,
                   const gchar *message);
  // Leaves the room and joins it again with the room, role and name given to start (the room
  // gives us a new id: `joined` follows). While the implementation is getting a lost connection
  // back it does nothing (it rejoins by itself). Optional: without it the caller stops and starts
  // the signaller (see gst_roomcast_signaller_rejoin).
  void (*rejoin)(GstRoomcastSignaller *self);
  // Asks `peer_id` (our host) for a ladder layer: `layer` counted from the top (0: full size, no
  // limit), or, when `layer` is -1, the largest layer at most `max_height` pixels high (the
  // protocol's `prefer`). Optional (default: no-op).
  void (*send_prefer)(GstRoomcastSignaller *self, const gchar *peer_id, gint layer,
                      gint max_height);
};

void gst_roomcast_signaller_start(GstRoomcastSignaller *self, const gchar *room,
                                  GstRoomcastRole role, const gchar *name);
void gst_roomcast_signaller_stop(GstRoomcastSignaller *self);
void gst_roomcast_signaller_send_sdp(GstRoomcastSignaller *self, const gchar *peer_id,
                                     const GstWebRTCSessionDescription *sdp);
void gst_roomcast_signaller_send_ice(GstRoomcastSignaller *self, const gchar *peer_id,
                                     guint mline_index, const gchar *candidate, const gchar *mid);
void gst_roomcast_signaller_end_peer(GstRoomcastSignaller *self, const gchar *peer_id,
                                     const gchar *reason, const gchar *message);
void gst_roomcast_signaller_send_prefer(GstRoomcastSignaller *self, const gchar *peer_id,
                                        gint layer, gint max_height);
// FALSE when the implementation has no `rejoin`: the caller then stops and starts it.
gboolean gst_roomcast_signaller_rejoin(GstRoomcastSignaller *self);

// For implementations: emit the interface's signals.
void gst_roomcast_signaller_emit_joined(GstRoomcastSignaller *self, const gchar *own_id,
                                        GstRoomcastRoomKind kind);
void gst_roomcast_signaller_emit_peer_joined(GstRoomcastSignaller *self, const gchar *id,
                                             GstRoomcastRole role, const gchar *name,
                                             gboolean existing);
void gst_roomcast_signaller_emit_peer_left(GstRoomcastSignaller *self, const gchar *id);
void gst_roomcast_signaller_emit_peer_ended(GstRoomcastSignaller *self, const gchar *id,
                                            const gchar *reason, const gchar *message);
void gst_roomcast_signaller_emit_sdp(GstRoomcastSignaller *self, const gchar *peer_id,
                                     GstWebRTCSessionDescription *sdp);
void gst_roomcast_signaller_emit_ice(GstRoomcastSignaller *self, const gchar *peer_id,
                                     guint mline_index, const gchar *candidate, const gchar *mid);
// `layer` or `max_height` is -1 (exactly one is set).
void gst_roomcast_signaller_emit_prefer(GstRoomcastSignaller *self, const gchar *peer_id,
                                        gint layer, gint max_height);
void gst_roomcast_signaller_emit_error(GstRoomcastSignaller *self, const gchar *message,
                                       gboolean fatal);
// `stun_server` may be NULL; `turn_servers` is a NULL-terminated array (NULL for none).
void gst_roomcast_signaller_emit_ice_servers(GstRoomcastSignaller *self, const gchar *stun_server,
                                             const gchar *const *turn_servers);

G_END_DECLS
