// GstRoomcastDirectSignaller: rooms inside one process, no server. For tests and for
// applications that run both ends in one process. Follows the same rules as the server:
// live rooms (the host sees viewers, viewers see the host) and meetings (everyone sees everyone).
#pragma once

#include "gstroomcastsignaller.h"

G_BEGIN_DECLS

#define GST_TYPE_ROOMCAST_DIRECT_SIGNALLER (gst_roomcast_direct_signaller_get_type())
G_DECLARE_FINAL_TYPE(GstRoomcastDirectSignaller, gst_roomcast_direct_signaller, GST,
                     ROOMCAST_DIRECT_SIGNALLER, GstObject)

G_END_DECLS
