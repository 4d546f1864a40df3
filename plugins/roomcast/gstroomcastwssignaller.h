// GstRoomcastWsSignaller: the default signaller, a WebSocket client of `roomcast serve`.
#pragma once

#include "gstroomcastsignaller.h"

G_BEGIN_DECLS

#define GST_TYPE_ROOMCAST_WS_SIGNALLER (gst_roomcast_ws_signaller_get_type())
G_DECLARE_FINAL_TYPE(GstRoomcastWsSignaller, gst_roomcast_ws_signaller, GST, ROOMCAST_WS_SIGNALLER,
                     GstObject)

G_END_DECLS
