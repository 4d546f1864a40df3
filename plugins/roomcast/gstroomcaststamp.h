// roomcaststamp: writes the wall-clock time into each frame's pixels (for latency measurement).
#pragma once

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_ROOMCAST_STAMP (gst_roomcast_stamp_get_type())
G_DECLARE_FINAL_TYPE(GstRoomcastStamp, gst_roomcast_stamp, GST, ROOMCAST_STAMP, GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE(roomcaststamp);

G_END_DECLS
