#include "gstroomcastdirectsignaller.h"

#include "common.h"

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

/**
 * SECTION:roomcast-direct-signaller
 * @title: GstRoomcastDirectSignaller
 *
 * An in-process signaller: every instance in the process shares one set of rooms. All signals
 * are emitted on one hub thread, in the order things happened, as the WebSocket signaller
 * emits on its own thread.
 */

GST_DEBUG_CATEGORY_STATIC(roomcast_direct_debug);
#define GST_CAT_DEFAULT roomcast_direct_debug

struct _GstRoomcastDirectSignaller {
  GstObject parent;
  // Hub thread only:
  std::string *id;
  std::string *room;
  GstRoomcastRole role;
};

static void direct_iface_init(GstRoomcastSignallerInterface *iface);

G_DEFINE_TYPE_WITH_CODE(GstRoomcastDirectSignaller, gst_roomcast_direct_signaller, GST_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_ROOMCAST_SIGNALLER, direct_iface_init)
                            GST_DEBUG_CATEGORY_INIT(roomcast_direct_debug, "roomcastdirect", 0,
                                                    "roomcast in-process signaller"))

namespace {

struct Member {
  GstRoomcastDirectSignaller *sig; // ref
  std::string id;
  GstRoomcastRole role;
  std::string name;
};

// The process-wide rooms. Touched only on the hub thread, which never stops.
struct Hub {
  roomcast::Worker worker;
  std::map<std::string, std::vector<Member>> rooms;
  unsigned next_id = 1;

  static Hub &get() {
    static Hub *hub = [] {
      auto *h = new Hub();
      h->worker.start("roomcast-direct");
      return h;
    }();
    return *hub;
  }

  template <typename F> void run(F &&fn) {
    roomcast::invoke_on(worker.context(), std::forward<F>(fn));
  }

  static bool sees(GstRoomcastRole observer, GstRoomcastRole other) {
    if (observer == GST_ROOMCAST_ROLE_MEMBER || other == GST_ROOMCAST_ROLE_MEMBER) return true;
    return observer == GST_ROOMCAST_ROLE_HOST || other == GST_ROOMCAST_ROLE_HOST;
  }

  Member *find(const std::string &room, const std::string &id) {
    auto it = rooms.find(room);
    if (it == rooms.end()) return nullptr;
    for (auto &m : it->second)
      if (m.id == id) return &m;
    return nullptr;
  }
};

} // namespace

static void direct_start(GstRoomcastSignaller *sig, const gchar *room, GstRoomcastRole ro,
                         const gchar *name) {
  auto *self = GST_ROOMCAST_DIRECT_SIGNALLER(gst_object_ref(sig));
  std::string r = room ? room : "default", n = name ? name : "";
  Hub::get().run([self, r, ro, n]() {
    Hub &hub = Hub::get();
    auto *s = GST_ROOMCAST_SIGNALLER(self);
    if (!self->id->empty()) {
      gst_object_unref(self);
      return;
    }
    auto &members = hub.rooms[r];
    for (auto &m : members)
      if (ro == GST_ROOMCAST_ROLE_HOST && m.role == GST_ROOMCAST_ROLE_HOST) {
        gst_roomcast_signaller_emit_error(s, "host-taken: the room already has a host", TRUE);
        gst_object_unref(self);
        return;
      }
    *self->id = "d" + std::to_string(hub.next_id++);
    *self->room = r;
    self->role = ro;
    gst_roomcast_signaller_emit_joined(s, self->id->c_str(),
                                       ro == GST_ROOMCAST_ROLE_MEMBER
                                           ? GST_ROOMCAST_ROOM_KIND_MEETING
                                           : GST_ROOMCAST_ROOM_KIND_LIVE);
    for (auto &m : members)
      if (Hub::sees(ro, m.role))
        gst_roomcast_signaller_emit_peer_joined(s, m.id.c_str(), m.role, m.name.c_str(), TRUE);
    for (auto &m : members)
      if (Hub::sees(m.role, ro))
        gst_roomcast_signaller_emit_peer_joined(GST_ROOMCAST_SIGNALLER(m.sig), self->id->c_str(),
                                                ro, n.c_str(), FALSE);
    members.push_back(Member{self, *self->id, ro, n}); // keeps the ref taken above
  });
}

static void direct_stop(GstRoomcastSignaller *sig) {
  auto *self = GST_ROOMCAST_DIRECT_SIGNALLER(gst_object_ref(sig));
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  Hub::get().run([&, self]() {
    Hub &hub = Hub::get();
    if (!self->id->empty()) {
      auto &members = hub.rooms[*self->room];
      for (auto it = members.begin(); it != members.end(); ++it)
        if (it->sig == self) {
          gst_object_unref(it->sig);
          members.erase(it);
          break;
        }
      for (auto &other : members)
        if (Hub::sees(other.role, self->role))
          gst_roomcast_signaller_emit_peer_left(GST_ROOMCAST_SIGNALLER(other.sig),
                                                self->id->c_str());
      if (members.empty()) hub.rooms.erase(*self->room);
      self->id->clear();
    }
    gst_object_unref(self);
    std::lock_guard l(m);
    done = true;
    cv.notify_one();
  });
  // Stopped means stopped: wait, unless called from a handler on the hub thread itself.
  if (Hub::get().worker.on_worker()) return;
  std::unique_lock l(m);
  cv.wait(l, [&] { return done; });
}

template <typename F> static void relay(GstRoomcastSignaller *sig, const gchar *peer_id, F &&emit) {
  auto *self = GST_ROOMCAST_DIRECT_SIGNALLER(gst_object_ref(sig));
  std::string to = peer_id ? peer_id : "";
  Hub::get().run([self, to, emit = std::forward<F>(emit)]() {
    Hub &hub = Hub::get();
    Member *target = self->id->empty() ? nullptr : hub.find(*self->room, to);
    if (!target)
      gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self),
                                        ("unknown-peer: no peer '" + to + "'").c_str(), FALSE);
    else
      emit(GST_ROOMCAST_SIGNALLER(target->sig), self->id->c_str());
    gst_object_unref(self);
  });
}

static void direct_send_sdp(GstRoomcastSignaller *sig, const gchar *peer_id,
                            const GstWebRTCSessionDescription *sdp) {
  GstWebRTCSessionDescription *copy = gst_webrtc_session_description_copy(sdp);
  auto holder =
      std::shared_ptr<GstWebRTCSessionDescription>(copy, gst_webrtc_session_description_free);
  relay(sig, peer_id, [holder](GstRoomcastSignaller *target, const char *from) {
    gst_roomcast_signaller_emit_sdp(target, from, holder.get());
  });
}

static void direct_send_ice(GstRoomcastSignaller *sig, const gchar *peer_id, guint mline,
                            const gchar *candidate, const gchar *mid) {
  std::string c = candidate ? candidate : "", m = mid ? mid : "";
  relay(sig, peer_id, [c, m, mline](GstRoomcastSignaller *target, const char *from) {
    gst_roomcast_signaller_emit_ice(target, from, mline, c.c_str(), m.c_str());
  });
}

static void direct_end_peer(GstRoomcastSignaller *sig, const gchar *peer_id, const gchar *reason,
                            const gchar *message) {
  std::string r = reason ? reason : "", m = message ? message : "";
  relay(sig, peer_id, [r, m](GstRoomcastSignaller *target, const char *from) {
    gst_roomcast_signaller_emit_peer_ended(target, from, r.c_str(), m.c_str());
  });
}

static void direct_iface_init(GstRoomcastSignallerInterface *iface) {
  iface->start = direct_start;
  iface->stop = direct_stop;
  iface->send_sdp = direct_send_sdp;
  iface->send_ice = direct_send_ice;
  iface->end_peer = direct_end_peer;
}

static void gst_roomcast_direct_signaller_init(GstRoomcastDirectSignaller *self) {
  self->id = new std::string();
  self->room = new std::string();
}

static void gst_roomcast_direct_signaller_finalize(GObject *object) {
  auto *self = GST_ROOMCAST_DIRECT_SIGNALLER(object);
  delete self->id;
  delete self->room;
  G_OBJECT_CLASS(gst_roomcast_direct_signaller_parent_class)->finalize(object);
}

static void gst_roomcast_direct_signaller_class_init(GstRoomcastDirectSignallerClass *klass) {
  G_OBJECT_CLASS(klass)->finalize = gst_roomcast_direct_signaller_finalize;
}
