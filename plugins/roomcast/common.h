// Pieces shared by roomcastsink and roomcastsrc.
#pragma once

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include "gst-threads.h"

#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace roomcast {

enum class Codec { VP8, VP9, H264 };

#define GST_TYPE_ROOMCAST_CODEC (roomcast::roomcast_codec_get_type())
GType roomcast_codec_get_type();

struct IceConfig {
  std::string stun_server;               // stun://host:port, empty for none
  std::vector<std::string> turn_servers; // turn(s)://user:pass@host:port, each added
  bool loopback = true;  // gather on 127.0.0.1 as well as every interface; no TCP candidates
  guint latency_ms = 50; // receive jitterbuffer
};

// GstChildProxy for our bins: the name "signaller" gives the element's signaller (read through
// its "signaller" property), so `signaller::uri=...` works on a launch line; every other name
// is looked up by GstBin.
void child_proxy_init_with_signaller(GstChildProxyInterface *iface);

// Starts making this process's DTLS certificate on a background thread, once per process.
// webrtcbin's DTLS elements generate an RSA key the first time one is created (0.4-0.7 s of CPU
// here, seconds on a loaded machine) and share it afterwards; without this, the first offer or
// answer of every process waits for it, and in a meeting both sides of a pair did so in turn.
void warm_up_dtls();
// Waits for that thread (if any) to end. Called when an element goes back to NULL, so a process
// never exits while the key is being made (the TLS library's exit-time cleanup would race it).
void finish_warm_up_dtls();

// 127.0.0.1 and the machine's addresses (up, not loopback; IPv6 without link-local).
std::vector<std::string> local_addresses();

// Applies ICE and jitterbuffer settings to a new webrtcbin (before it negotiates).
void configure_webrtcbin(GstElement *webrtc, const IceConfig &cfg);

// Answers a remote offer: sets it as the remote description, creates the answer, sets that as
// the local description and hands it to `done` (on webrtcbin's thread; nullptr on failure).
using AnswerDone = std::function<void(GstWebRTCSessionDescription *answer)>;
void answer_offer(GstElement *webrtc, const GstWebRTCSessionDescription *offer, AnswerDone done);

// Quits `loop` from within `ctx`, even if the loop has not started running yet.
void quit_loop_on(GMainContext *ctx, GMainLoop *loop);

// A thread with its own main context: where an element does its control work.
//
// start() and stop() are called by the thread that owns the worker (an element's state
// changes, or dispose); everything else may be called from any thread at any time, stop()
// included: a pool thread finishing a peer's detach, a signaller or webrtcbin thread, a
// streaming thread. So those read the fields under `lock_` and hold their own reference to the
// context while they post to it (before, they read `ctx_` unlocked and could post to a context
// stop() had just freed: heap corruption, see docs/architecture.md, "Peer lifecycle").
class Worker {
public:
  void start(const char *name);
  void stop(); // joins; must not be called from the worker itself
  // The worker's context; only for the owning thread and the worker itself.
  GMainContext *context() const { return ctx_; }
  // Any thread: a new reference to the context while the worker runs, else nullptr.
  GMainContext *ref_context() const;
  bool running() const;
  bool on_worker() const;
  // Any thread: runs `fn` on the worker (inline when called on it). False, and `fn` dropped
  // unrun, when the worker is not running; a call that races stop() may also be dropped unrun
  // (destroyed when the context goes).
  template <typename F> bool invoke(F &&fn) {
    GMainContext *ctx = ref_context();
    if (!ctx) return false;
    invoke_on(ctx, std::forward<F>(fn));
    g_main_context_unref(ctx);
    return true;
  }

private:
  mutable std::mutex lock_; // leaf: guards the three fields below; never held while posting
  GMainContext *ctx_ = nullptr;
  GMainLoop *loop_ = nullptr;
  GThread *thread_ = nullptr;
};

} // namespace roomcast
