#include "gstroomcastdirectsignaller.h"

#include "common.h"
#include "proto-enums.h"
#include "room-rules.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

/**
 * SECTION:roomcast-direct-signaller
 * @title: GstRoomcastDirectSignaller
 *
 * An in-process signaller: every instance in the process shares one set of rooms. All signals
 * are emitted on one hub thread, in the order things happened, as the WebSocket signaller
 * emits on its own thread. The rooms follow the server's rules (src/common/room-rules.h): a
 * refused join or relay is reported by the `error` signal with a message that starts with the
 * protocol's error code ("host-taken: ...", "wrong-kind: ...", "room-full: ..."); a refused
 * join is fatal unless the protocol's join-error policy calls its code retryable (room-full,
 * too-many-rooms), in which case the join is tried again after the protocol's backoff.
 */

GST_DEBUG_CATEGORY_STATIC(roomcast_direct_debug);
#define GST_CAT_DEFAULT roomcast_direct_debug

namespace p = roomcast::proto;
using roomcast::to_gst;
using roomcast::to_proto;
namespace rules = roomcast::rules;

struct _GstRoomcastDirectSignaller {
  GstObject parent;
  // Hub thread only:
  std::string *id;
  std::string *room;
  GstRoomcastRole role;
  GSource *rejoin;       // a join waiting to be tried again (holds a ref on us)
  unsigned join_attempt; // retries since the last successful join
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

struct Room {
  p::RoomKind kind = p::RoomKind::Live;
  std::vector<Member> members; // in join order
};

// The process-wide rooms. Touched only on the hub thread, which never stops.
struct Hub {
  roomcast::Worker worker;
  std::map<std::string, Room> rooms;
  rules::Limits limits;
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

  static bool sees(const Room &room, GstRoomcastRole observer, GstRoomcastRole other) {
    return rules::sees(room.kind, to_proto(observer), to_proto(other));
  }

  Room *find_room(const std::string &name) {
    auto it = rooms.find(name);
    return it == rooms.end() ? nullptr : &it->second;
  }

  Member *find(Room &room, const std::string &id) {
    for (auto &m : room.members)
      if (m.id == id) return &m;
    return nullptr;
  }
};

void cancel_rejoin(GstRoomcastDirectSignaller *self) {
  if (!self->rejoin) return;
  g_source_destroy(self->rejoin);
  g_source_unref(std::exchange(self->rejoin, nullptr));
}

// Hub thread: `self` joins room `r` as `ro` with display name `n`, by the room rules.
void join_on_hub(GstRoomcastDirectSignaller *self, const std::string &r, GstRoomcastRole ro,
                 const std::string &n) {
  Hub &hub = Hub::get();
  auto *s = GST_ROOMCAST_SIGNALLER(self);
  if (!self->id->empty()) return;
  Room *room = hub.find_room(r);
  std::optional<rules::RoomState> state;
  if (room) {
    bool has_host = false;
    for (auto &m : room->members)
      has_host = has_host || m.role == GST_ROOMCAST_ROLE_HOST;
    state = rules::RoomState{room->kind, has_host, room->members.size()};
  }
  if (auto refusal = rules::check_join(r, to_proto(ro), state, hub.rooms.size(), hub.limits)) {
    const bool fatal = p::join_error_is_fatal(refusal->code);
    GST_INFO_OBJECT(self, "join refused: %s", refusal->text().c_str());
    if (!fatal) {
      // Retryable (room-full, too-many-rooms): try again after the protocol's backoff.
      cancel_rejoin(self);
      self->rejoin = g_timeout_source_new(p::retry_delay_ms(self->join_attempt++));
      struct Args {
        GstRoomcastDirectSignaller *self;
        std::string room, name;
        GstRoomcastRole role;
      };
      g_source_set_callback(
          self->rejoin,
          [](gpointer data) -> gboolean {
            auto *a = static_cast<Args *>(data);
            g_source_unref(std::exchange(a->self->rejoin, nullptr));
            join_on_hub(a->self, a->room, a->role, a->name);
            return G_SOURCE_REMOVE;
          },
          new Args{GST_ROOMCAST_DIRECT_SIGNALLER(gst_object_ref(self)), r, n, ro},
          [](gpointer data) {
            auto *a = static_cast<Args *>(data);
            gst_object_unref(a->self);
            delete a;
          });
      g_source_attach(self->rejoin, hub.worker.context());
    }
    gst_roomcast_signaller_emit_error(s, refusal->text().c_str(), fatal);
    return;
  }
  if (!room) {
    room = &hub.rooms[r];
    room->kind = p::kind_for_role(to_proto(ro));
  }
  *self->id = "d" + std::to_string(hub.next_id++);
  *self->room = r;
  self->role = ro;
  self->join_attempt = 0;
  gst_roomcast_signaller_emit_joined(s, self->id->c_str(), to_gst(room->kind));
  for (auto &m : room->members)
    if (Hub::sees(*room, ro, m.role))
      gst_roomcast_signaller_emit_peer_joined(s, m.id.c_str(), m.role, m.name.c_str(), TRUE);
  for (auto &m : room->members)
    if (Hub::sees(*room, m.role, ro))
      gst_roomcast_signaller_emit_peer_joined(GST_ROOMCAST_SIGNALLER(m.sig), self->id->c_str(), ro,
                                              n.c_str(), FALSE);
  room->members.push_back(
      Member{GST_ROOMCAST_DIRECT_SIGNALLER(gst_object_ref(self)), *self->id, ro, n});
}

} // namespace

/**
 * gst_roomcast_direct_signaller_set_limits:
 * @max_rooms: how many rooms the process may hold at once
 * @max_peers_per_room: how many peers one room may hold
 *
 * Sets the limits of the process-wide rooms (by default the server's: 1000 rooms of 200 peers).
 * Joins after the call follow them.
 */
void gst_roomcast_direct_signaller_set_limits(guint max_rooms, guint max_peers_per_room) {
  Hub::get().run([max_rooms, max_peers_per_room]() {
    Hub::get().limits = rules::Limits{max_rooms, max_peers_per_room};
  });
}

static void direct_start(GstRoomcastSignaller *sig, const gchar *room, GstRoomcastRole ro,
                         const gchar *name) {
  auto *self = GST_ROOMCAST_DIRECT_SIGNALLER(gst_object_ref(sig));
  std::string r = room ? room : "default", n = name ? name : "";
  Hub::get().run([self, r, ro, n]() {
    join_on_hub(self, r, ro, n);
    gst_object_unref(self);
  });
}

static void direct_stop(GstRoomcastSignaller *sig) {
  auto *self = GST_ROOMCAST_DIRECT_SIGNALLER(gst_object_ref(sig));
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  Hub::get().run([&, self]() {
    Hub &hub = Hub::get();
    cancel_rejoin(self);
    self->join_attempt = 0;
    Room *room = self->id->empty() ? nullptr : hub.find_room(*self->room);
    if (room) {
      auto &members = room->members;
      for (auto it = members.begin(); it != members.end(); ++it)
        if (it->sig == self) {
          gst_object_unref(it->sig);
          members.erase(it);
          break;
        }
      for (auto &other : members)
        if (Hub::sees(*room, other.role, self->role))
          gst_roomcast_signaller_emit_peer_left(GST_ROOMCAST_SIGNALLER(other.sig),
                                                self->id->c_str());
      if (members.empty()) hub.rooms.erase(*self->room);
    }
    self->id->clear();
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

// Passes something to the peer `peer_id` of our room if the room rules allow it (as the server
// relays offer, answer, ice, bye and prefer); otherwise reports the refusal by a non-fatal error.
template <typename F>
static void relay(GstRoomcastSignaller *sig, const gchar *peer_id, F &&emit, bool prefer = false) {
  auto *self = GST_ROOMCAST_DIRECT_SIGNALLER(gst_object_ref(sig));
  std::string to = peer_id ? peer_id : "";
  Hub::get().run([self, to, prefer, emit = std::forward<F>(emit)]() {
    Hub &hub = Hub::get();
    Room *room = self->id->empty() ? nullptr : hub.find_room(*self->room);
    std::optional<rules::Refusal> refusal;
    Member *target = nullptr;
    if (!room) {
      refusal = rules::Refusal{p::ErrorCode::NotJoined, "join a room first"};
    } else {
      target = hub.find(*room, to);
      if (target && target->sig == self) target = nullptr;
      std::optional<p::Role> target_role;
      if (target) target_role = to_proto(target->role);
      refusal = rules::check_relay(*self->room, room->kind, to_proto(self->role), to, target_role);
      if (!refusal && prefer) refusal = rules::check_prefer(to_proto(self->role), *target_role);
    }
    if (refusal) {
      GST_INFO_OBJECT(self, "relay refused: %s", refusal->text().c_str());
      gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self), refusal->text().c_str(),
                                        FALSE);
    } else {
      emit(GST_ROOMCAST_SIGNALLER(target->sig), self->id->c_str());
    }
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
  if (!p::end_reason_from_string(r)) {
    // What the server answers to a bye with a reason outside the protocol.
    std::string text = "bad-message: '" + r + "' is no end-peer reason";
    GST_WARNING_OBJECT(sig, "%s", text.c_str());
    auto *self = GST_ROOMCAST_DIRECT_SIGNALLER(gst_object_ref(sig));
    Hub::get().run([self, text]() {
      gst_roomcast_signaller_emit_error(GST_ROOMCAST_SIGNALLER(self), text.c_str(), FALSE);
      gst_object_unref(self);
    });
    return;
  }
  relay(sig, peer_id, [r, m](GstRoomcastSignaller *target, const char *from) {
    gst_roomcast_signaller_emit_peer_ended(target, from, r.c_str(), m.c_str());
  });
}

static void direct_send_prefer(GstRoomcastSignaller *sig, const gchar *peer_id, gint layer,
                               gint max_height) {
  // What the server would take (the host clamps to its ladder).
  if (layer >= 0)
    layer = std::min<gint>(layer, p::kMaxPreferLayer);
  else
    max_height = std::clamp<gint>(max_height, 1, p::kMaxPreferHeight);
  relay(
      sig, peer_id,
      [layer, max_height](GstRoomcastSignaller *target, const char *from) {
        gst_roomcast_signaller_emit_prefer(target, from, layer, layer >= 0 ? -1 : max_height);
      },
      true);
}

static void direct_iface_init(GstRoomcastSignallerInterface *iface) {
  iface->start = direct_start;
  iface->stop = direct_stop;
  iface->send_sdp = direct_send_sdp;
  iface->send_ice = direct_send_ice;
  iface->end_peer = direct_end_peer;
  iface->send_prefer = direct_send_prefer;
}

static void gst_roomcast_direct_signaller_init(GstRoomcastDirectSignaller *self) {
  self->id = new std::string();
  self->room = new std::string();
}

static void gst_roomcast_direct_signaller_finalize(GObject *object) {
  auto *self = GST_ROOMCAST_DIRECT_SIGNALLER(object);
  // (A pending rejoin holds a reference, so there is none here.)
  delete self->id;
  delete self->room;
  G_OBJECT_CLASS(gst_roomcast_direct_signaller_parent_class)->finalize(object);
}

static void gst_roomcast_direct_signaller_class_init(GstRoomcastDirectSignallerClass *klass) {
  G_OBJECT_CLASS(klass)->finalize = gst_roomcast_direct_signaller_finalize;
}
