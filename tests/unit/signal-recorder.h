// Test helper: records what a GstRoomcastSignaller emits (on its own thread) and lets a test
// wait, bounded, for each emission in order. Used by the signaller tests.
#pragma once

#include "gstroomcastsignaller.h"
#include "protocol.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace roomcast::test {

// One signal emission, as seen by a Peer.
struct Event {
  std::string signal; // joined, peer-joined, peer-left, peer-ended, prefer, error
  std::string a, b, c;
  bool fatal = false;
};

// A signaller and what it emitted (on the signaller's own thread).
class Peer {
public:
  // Takes the (floating or full) reference of `sig`.
  Peer(const char *label, GstRoomcastSignaller *sig) : label_(label) {
    sig_ = GST_ROOMCAST_SIGNALLER(gst_object_ref_sink(sig));
    g_signal_connect(
        sig_, "joined",
        G_CALLBACK(+[](GstRoomcastSignaller *, const char *id, GstRoomcastRoomKind kind, Peer *p) {
          p->push({"joined", id, gst_roomcast_room_kind_to_string(kind)});
        }),
        this);
    g_signal_connect(sig_, "peer-joined",
                     G_CALLBACK(+[](GstRoomcastSignaller *, const char *id, GstRoomcastRole role,
                                    const char *, gboolean, Peer *p) {
                       p->push({"peer-joined", id, gst_roomcast_role_to_string(role)});
                     }),
                     this);
    g_signal_connect(sig_, "peer-left",
                     G_CALLBACK(+[](GstRoomcastSignaller *, const char *id, Peer *p) {
                       p->push({"peer-left", id});
                     }),
                     this);
    g_signal_connect(sig_, "peer-ended",
                     G_CALLBACK(+[](GstRoomcastSignaller *, const char *id, const char *reason,
                                    const char *message, Peer *p) {
                       p->push({"peer-ended", id, reason, message});
                     }),
                     this);
    g_signal_connect(sig_, "prefer",
                     G_CALLBACK(+[](GstRoomcastSignaller *, const char *id, gint layer,
                                    gint max_height, Peer *p) {
                       p->push({"prefer", id, std::to_string(layer), std::to_string(max_height)});
                     }),
                     this);
    g_signal_connect(
        sig_, "error",
        G_CALLBACK(+[](GstRoomcastSignaller *, const char *message, gboolean fatal, Peer *p) {
          p->push({"error", message, "", "", bool(fatal)});
        }),
        this);
    // Not an event in the queue (it comes before every `joined`): the last one is kept.
    g_signal_connect(
        sig_, "ice-servers",
        G_CALLBACK(+[](GstRoomcastSignaller *, const char *stun, const char *const *turn, Peer *p) {
          std::lock_guard l(p->lock_);
          p->ice_stun_ = stun ? stun : "";
          p->ice_turn_.clear();
          for (const char *const *t = turn; t && *t; t++)
            p->ice_turn_.emplace_back(*t);
          p->ice_count_++;
        }),
        this);
  }
  ~Peer() {
    gst_roomcast_signaller_stop(sig_);
    g_signal_handlers_disconnect_by_data(sig_, this);
    gst_object_unref(sig_);
  }
  Peer(const Peer &) = delete;
  Peer &operator=(const Peer &) = delete;

  GstRoomcastSignaller *sig() const { return sig_; }
  // The last `ice-servers` emission, and how many there were.
  std::string ice_stun() {
    std::lock_guard l(lock_);
    return ice_stun_;
  }
  std::vector<std::string> ice_turn() {
    std::lock_guard l(lock_);
    return ice_turn_;
  }
  int ice_count() {
    std::lock_guard l(lock_);
    return ice_count_;
  }
  const std::string &id() const { return id_; }

  void start(const char *room, GstRoomcastRole role) {
    gst_roomcast_signaller_start(sig_, room, role, label_.c_str());
  }
  // Starts and waits for `joined`.
  void join(const char *room, GstRoomcastRole role) {
    start(room, role);
    id_ = expect("joined").a;
  }

  // The next event, which must be `signal` and arrive within timeout_ms. The thread-default
  // main context is iterated meanwhile (for test clients that live there).
  Event expect(const char *signal, int timeout_ms = 3000) {
    if (!wait(timeout_ms)) g_error("%s: no %s within %d ms", label_.c_str(), signal, timeout_ms);
    std::lock_guard l(lock_);
    Event e = events_.front();
    events_.pop_front();
    if (e.signal != signal)
      g_error("%s: got %s(%s, %s, %s), wanted %s", label_.c_str(), e.signal.c_str(), e.a.c_str(),
              e.b.c_str(), e.c.c_str(), signal);
    return e;
  }
  // An error whose message starts with the protocol's code `code`.
  Event expect_error(roomcast::proto::ErrorCode code, bool fatal, int timeout_ms = 3000) {
    Event e = expect("error", timeout_ms);
    std::string prefix = std::string(roomcast::proto::to_string(code)) + ": ";
    if (e.a.rfind(prefix, 0) != 0 || e.a.size() <= prefix.size())
      g_error("%s: error '%s', wanted one starting with '%s'", label_.c_str(), e.a.c_str(),
              prefix.c_str());
    if (e.fatal != fatal)
      g_error("%s: error '%s' is %sfatal", label_.c_str(), e.a.c_str(), e.fatal ? "" : "not ");
    return e;
  }
  // Nothing arrives within `ms` (signallers emit in order, so a short wait after the last
  // expected event is enough).
  void expect_nothing(int ms = 200) {
    if (!wait(ms)) return;
    std::lock_guard l(lock_);
    g_error("%s: unexpected %s(%s, %s)", label_.c_str(), events_.front().signal.c_str(),
            events_.front().a.c_str(), events_.front().b.c_str());
  }

private:
  // True once an event is queued; false after timeout_ms.
  bool wait(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      {
        std::unique_lock l(lock_);
        if (cond_.wait_for(l, std::chrono::milliseconds(5), [&] { return !events_.empty(); }))
          return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      while (g_main_context_iteration(nullptr, FALSE)) {
      }
    }
  }

  void push(Event e) {
    std::lock_guard l(lock_);
    events_.push_back(std::move(e));
    cond_.notify_all();
  }

  std::string label_, id_;
  GstRoomcastSignaller *sig_ = nullptr;
  std::mutex lock_; // leaf
  std::condition_variable cond_;
  std::deque<Event> events_;
  std::string ice_stun_;
  std::vector<std::string> ice_turn_;
  int ice_count_ = 0;
};

} // namespace roomcast::test
