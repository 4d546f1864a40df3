// roomcaststampread: reads roomcaststamp's time from decoded frames and reports the latency.
#pragma once

#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_ROOMCAST_STAMP_READ (gst_roomcast_stamp_read_get_type())
G_DECLARE_FINAL_TYPE(GstRoomcastStampRead, gst_roomcast_stamp_read, GST, ROOMCAST_STAMP_READ,
                     GstVideoFilter)

GST_ELEMENT_REGISTER_DECLARE(roomcaststampread);

G_END_DECLS
