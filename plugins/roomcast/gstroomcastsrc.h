// roomcastsrc: joins a room as a viewer and exposes the host's streams as src pads.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_ROOMCAST_SRC (gst_roomcast_src_get_type())
G_DECLARE_FINAL_TYPE(GstRoomcastSrc, gst_roomcast_src, GST, ROOMCAST_SRC, GstBin)

GST_ELEMENT_REGISTER_DECLARE(roomcastsrc);

G_END_DECLS
