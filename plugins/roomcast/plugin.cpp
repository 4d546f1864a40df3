// Registers the roomcast elements; nothing else lives here.
#include "gstroomcastsink.h"
#include "gstroomcastsrc.h"
#include "gstroomcaststamp.h"
#include "gstroomcaststampread.h"

#include "early-types.h"

#include "roomcast-config.h"

static gboolean plugin_init(GstPlugin *plugin) {
  // Before any element starts its threads (gst-launch users get this too).
  roomcast::ensure_early_types();
  gboolean ok = FALSE;
  ok |= GST_ELEMENT_REGISTER(roomcastsink, plugin);
  ok |= GST_ELEMENT_REGISTER(roomcastsrc, plugin);
  ok |= GST_ELEMENT_REGISTER(roomcaststamp, plugin);
  ok |= GST_ELEMENT_REGISTER(roomcaststampread, plugin);
  return ok;
}

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, roomcast,
                  "Screen broadcasting and mesh meetings over WebRTC", plugin_init, VERSION, "LGPL",
                  PACKAGE, GST_PACKAGE_ORIGIN)
