// GstRoomcastPad: the src pads roomcastsink (meeting) and roomcastsrc expose for remote
// streams. A ghost pad that says whose stream it carries.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_ROOMCAST_PAD (gst_roomcast_pad_get_type())
G_DECLARE_FINAL_TYPE(GstRoomcastPad, gst_roomcast_pad, GST, ROOMCAST_PAD, GstGhostPad)

// A new src ghost pad on `target` from `templ`, for the stream of peer `peer_id` (`peer_name`
// may be NULL or empty).
GstPad *gst_roomcast_pad_new(const gchar *name, GstPad *target, GstPadTemplate *templ,
                             const gchar *peer_id, const gchar *peer_name);
const gchar *gst_roomcast_pad_get_peer_id(GstRoomcastPad *pad);
const gchar *gst_roomcast_pad_get_peer_name(GstRoomcastPad *pad);

G_END_DECLS
