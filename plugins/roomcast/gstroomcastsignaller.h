// GstRoomcastSignaller: how roomcast elements talk to a room.
//
// The elements call down (start, stop, send-sdp, send-ice) from any thread; implementations
// marshal to their own context. Implementations report up with signals, emitted on their own
// thread: handlers must not block and must hop to their own context for topology changes.
#pragma once

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

G_BEGIN_DECLS

#define GST_TYPE_ROOMCAST_SIGNALLER (gst_roomcast_signaller_get_type())
G_DECLARE_INTERFACE(GstRoomcastSignaller, gst_roomcast_signaller, GST, ROOMCAST_SIGNALLER, GObject)

struct _GstRoomcastSignallerInterface {
  GTypeInterface parent_iface;

  // Joins `room` with `role` ("host", "viewer" or "member") and display `name` (may be NULL).
  void (*start)(GstRoomcastSignaller *self, const gchar *room, const gchar *role,
                const gchar *name);
  void (*stop)(GstRoomcastSignaller *self);
  void (*send_sdp)(GstRoomcastSignaller *self, const gchar *peer_id,
                   const GstWebRTCSessionDescription *sdp);
  // An empty or NULL candidate means end of candidates.
  void (*send_ice)(GstRoomcastSignaller *self, const gchar *peer_id, guint mline_index,
                   const gchar *candidate, const gchar *mid);
};

void gst_roomcast_signaller_start(GstRoomcastSignaller *self, const gchar *room, const gchar *role,
                                  const gchar *name);
void gst_roomcast_signaller_stop(GstRoomcastSignaller *self);
void gst_roomcast_signaller_send_sdp(GstRoomcastSignaller *self, const gchar *peer_id,
                                     const GstWebRTCSessionDescription *sdp);
void gst_roomcast_signaller_send_ice(GstRoomcastSignaller *self, const gchar *peer_id,
                                     guint mline_index, const gchar *candidate, const gchar *mid);

// For implementations: emit the interface's signals.
void gst_roomcast_signaller_emit_joined(GstRoomcastSignaller *self, const gchar *own_id,
                                        const gchar *kind);
void gst_roomcast_signaller_emit_peer_joined(GstRoomcastSignaller *self, const gchar *id,
                                             const gchar *role, const gchar *name,
                                             gboolean existing);
void gst_roomcast_signaller_emit_peer_left(GstRoomcastSignaller *self, const gchar *id);
void gst_roomcast_signaller_emit_sdp(GstRoomcastSignaller *self, const gchar *peer_id,
                                     GstWebRTCSessionDescription *sdp);
void gst_roomcast_signaller_emit_ice(GstRoomcastSignaller *self, const gchar *peer_id,
                                     guint mline_index, const gchar *candidate, const gchar *mid);
void gst_roomcast_signaller_emit_error(GstRoomcastSignaller *self, const gchar *message,
                                       gboolean fatal);

G_END_DECLS
