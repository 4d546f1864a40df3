// GstRoomcastDirectSignaller: rooms inside one process, no server. For tests and for
// applications that run both ends in one process. Follows the same rules as the server
// (src/common/room-rules.h): live rooms (the host sees viewers, viewers see the host) and
// meetings (everyone sees everyone); host-taken, wrong-kind, room-full and too-many-rooms refuse
// a join, viewer to viewer a relay, each with an error message that starts with the protocol's
// error code.
#pragma once

#include "gstroomcastsignaller.h"

G_BEGIN_DECLS

#define GST_TYPE_ROOMCAST_DIRECT_SIGNALLER (gst_roomcast_direct_signaller_get_type())
G_DECLARE_FINAL_TYPE(GstRoomcastDirectSignaller, gst_roomcast_direct_signaller, GST,
                     ROOMCAST_DIRECT_SIGNALLER, GstObject)

// Limits of the process-wide rooms (default: the server's, 1000 rooms of 200 peers); joins
// after the call follow them.
void gst_roomcast_direct_signaller_set_limits(guint max_rooms, guint max_peers_per_room);

G_END_DECLS
