// roomcastsink: encodes once and sends to every peer of a room, one webrtcbin per peer.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_ROOMCAST_SINK (gst_roomcast_sink_get_type())
G_DECLARE_FINAL_TYPE(GstRoomcastSink, gst_roomcast_sink, GST, ROOMCAST_SINK, GstBin)

GST_ELEMENT_REGISTER_DECLARE(roomcastsink);

G_END_DECLS
