/**
 * SECTION:roomcast-pad
 * @title: GstRoomcastPad
 *
 * The pad type of every remote stream a roomcast element exposes (`src_<peer>_<n>` on
 * roomcastsink in a meeting, `video_%u`/`audio_%u` on roomcastsrc). Read #GstRoomcastPad:peer-id
 * and #GstRoomcastPad:peer-name to know whose stream it is, e.g. in a `pad-added` handler.
 */
#include "gstroomcastpad.h"

struct _GstRoomcastPad {
  GstGhostPad parent;
  gchar *peer_id;   // construct-only
  gchar *peer_name; // construct-only
};

G_DEFINE_TYPE(GstRoomcastPad, gst_roomcast_pad, GST_TYPE_GHOST_PAD)

enum { PROP_0, PROP_PEER_ID, PROP_PEER_NAME };

static void gst_roomcast_pad_set_property(GObject *object, guint id, const GValue *value,
                                          GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_PAD(object);
  switch (id) {
  case PROP_PEER_ID:
    g_free(self->peer_id);
    self->peer_id = g_value_dup_string(value);
    break;
  case PROP_PEER_NAME:
    g_free(self->peer_name);
    self->peer_name = g_value_dup_string(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_pad_get_property(GObject *object, guint id, GValue *value,
                                          GParamSpec *pspec) {
  auto *self = GST_ROOMCAST_PAD(object);
  switch (id) {
  case PROP_PEER_ID:
    g_value_set_string(value, self->peer_id);
    break;
  case PROP_PEER_NAME:
    g_value_set_string(value, self->peer_name);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void gst_roomcast_pad_finalize(GObject *object) {
  auto *self = GST_ROOMCAST_PAD(object);
  g_free(self->peer_id);
  g_free(self->peer_name);
  G_OBJECT_CLASS(gst_roomcast_pad_parent_class)->finalize(object);
}

static void gst_roomcast_pad_init(GstRoomcastPad *) {}

static void gst_roomcast_pad_class_init(GstRoomcastPadClass *klass) {
  GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
  gobject_class->set_property = gst_roomcast_pad_set_property;
  gobject_class->get_property = gst_roomcast_pad_get_property;
  gobject_class->finalize = gst_roomcast_pad_finalize;
  auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(gobject_class, PROP_PEER_ID,
                                  g_param_spec_string("peer-id", "Peer id",
                                                      "Room id of the peer whose stream this is",
                                                      nullptr, flags));
  g_object_class_install_property(gobject_class, PROP_PEER_NAME,
                                  g_param_spec_string("peer-name", "Peer name",
                                                      "Display name of that peer (may be empty)",
                                                      nullptr, flags));
}

GstPad *gst_roomcast_pad_new(const gchar *name, GstPad *target, GstPadTemplate *templ,
                             const gchar *peer_id, const gchar *peer_name) {
  g_return_val_if_fail(GST_IS_PAD(target), nullptr);
  auto *pad = GST_PAD(g_object_new(GST_TYPE_ROOMCAST_PAD, "name", name, "direction",
                                   GST_PAD_TEMPLATE_DIRECTION(templ), "template", templ, "peer-id",
                                   peer_id, "peer-name", peer_name ? peer_name : "", nullptr));
  if (!gst_ghost_pad_set_target(GST_GHOST_PAD(pad), target)) {
    gst_object_unref(gst_object_ref_sink(pad));
    return nullptr;
  }
  return pad;
}

const gchar *gst_roomcast_pad_get_peer_id(GstRoomcastPad *pad) {
  return pad->peer_id;
}
const gchar *gst_roomcast_pad_get_peer_name(GstRoomcastPad *pad) {
  return pad->peer_name;
}
