#include "common.h"

#include "gstroomcastsignaller.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <mutex>

namespace roomcast {

GType roomcast_codec_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(Codec::VP8), "VP8", "vp8"},
      {static_cast<gint>(Codec::VP9), "VP9", "vp9"},
      {static_cast<gint>(Codec::H264), "H.264 constrained baseline", "h264"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstRoomcastCodec", values));
  return type;
}

namespace {
GstChildProxyInterface *bin_child_proxy = nullptr; // GstBin's, set at interface init

GObject *get_child_by_name(GstChildProxy *proxy, const gchar *name) {
  if (g_strcmp0(name, "signaller") == 0) {
    GObject *sig = nullptr;
    g_object_get(proxy, "signaller", &sig, nullptr);
    return sig;
  }
  return bin_child_proxy->get_child_by_name(proxy, name);
}
} // namespace

void child_proxy_init_with_signaller(GstChildProxyInterface *iface) {
  bin_child_proxy = static_cast<GstChildProxyInterface *>(g_type_interface_peek_parent(iface));
  iface->get_child_by_index = bin_child_proxy->get_child_by_index;
  iface->get_children_count = bin_child_proxy->get_children_count;
  iface->get_child_by_name = get_child_by_name;
}

namespace {
std::mutex warm_up_lock; // guards warm_up_thread and warm_up_started
GThread *warm_up_thread = nullptr;
bool warm_up_started = false;
} // namespace

void warm_up_dtls() {
  std::lock_guard l(warm_up_lock);
  if (warm_up_started) return;
  warm_up_started = true;
  // The DTLS elements guard their shared certificate with a once-initialiser: a webrtcbin that
  // needs it meanwhile waits for this thread instead of generating a second key.
  warm_up_thread = g_thread_try_new(
      "roomcast-dtls",
      [](gpointer) -> gpointer {
        if (GstElement *dec = gst_element_factory_make("dtlsdec", nullptr))
          gst_object_unref(gst_object_ref_sink(dec));
        return nullptr;
      },
      nullptr, nullptr);
}

void finish_warm_up_dtls() {
  GThread *t;
  {
    std::lock_guard l(warm_up_lock);
    t = std::exchange(warm_up_thread, nullptr);
  }
  if (t) g_thread_join(t);
}

std::vector<std::string> local_addresses() {
  std::vector<std::string> out{"127.0.0.1"};
  struct ifaddrs *list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (struct ifaddrs *i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    char host[NI_MAXHOST];
    int family = i->ifa_addr->sa_family;
    if (family == AF_INET6) {
      auto *a6 = reinterpret_cast<struct sockaddr_in6 *>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) continue; // needs a scope; browsers skip them
    } else if (family != AF_INET) {
      continue;
    }
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (getnameinfo(i->ifa_addr, len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) == 0)
      out.emplace_back(host);
  }
  freeifaddrs(list);
  return out;
}

void configure_webrtcbin(GstElement *webrtc, const IceConfig &cfg) {
  g_object_set(webrtc, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, "latency",
               cfg.latency_ms, nullptr);
  if (!cfg.stun_server.empty())
    g_object_set(webrtc, "stun-server", cfg.stun_server.c_str(), nullptr);
  for (const std::string &turn : cfg.turn_servers) {
    gboolean ok = FALSE;
    g_signal_emit_by_name(webrtc, "add-turn-server", turn.c_str(), &ok);
    // (Not the URI itself: it carries the credentials.)
    if (!ok) GST_WARNING_OBJECT(webrtc, "a TURN server was refused (see webrtcbin's log)");
  }
  if (cfg.loopback) {
    GstObject *ice = nullptr;
    g_object_get(webrtc, "ice-agent", &ice, nullptr);
    if (ice) {
      // Once an address is added, libnice gathers only the added ones: add the machine's own
      // addresses too, so peers elsewhere (and a browser on this machine, which never pairs
      // with 127.0.0.1) still get real candidates.
      for (const std::string &addr : local_addresses()) {
        gboolean ok = FALSE;
        g_signal_emit_by_name(ice, "add-local-ip-address", addr.c_str(), &ok);
      }
      g_object_set(ice, "ice-tcp", FALSE, nullptr);
      gst_object_unref(ice);
    }
  }
}

namespace {
struct Answering {
  GstElement *webrtc; // ref
  AnswerDone done;
  ~Answering() { gst_object_unref(webrtc); }
};

void on_answer_created(GstPromise *promise, gpointer data) {
  auto *a = static_cast<Answering *>(data);
  const GstStructure *reply = gst_promise_get_reply(promise);
  GstWebRTCSessionDescription *answer = nullptr;
  if (reply)
    gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, nullptr);
  gst_promise_unref(promise);
  if (answer) g_signal_emit_by_name(a->webrtc, "set-local-description", answer, nullptr);
  a->done(answer);
  if (answer) gst_webrtc_session_description_free(answer);
}

void on_remote_set(GstPromise *promise, gpointer data) {
  auto *a = static_cast<Answering *>(data);
  gst_promise_unref(promise);
  // Hand the state on to the next promise.
  auto *next = new Answering{GST_ELEMENT(gst_object_ref(a->webrtc)), std::move(a->done)};
  GstPromise *p = gst_promise_new_with_change_func(
      on_answer_created, next, [](gpointer d) { delete static_cast<Answering *>(d); });
  g_signal_emit_by_name(next->webrtc, "create-answer", nullptr, p);
}
} // namespace

void answer_offer(GstElement *webrtc, const GstWebRTCSessionDescription *offer, AnswerDone done) {
  auto *a = new Answering{GST_ELEMENT(gst_object_ref(webrtc)), std::move(done)};
  GstPromise *p = gst_promise_new_with_change_func(
      on_remote_set, a, [](gpointer d) { delete static_cast<Answering *>(d); });
  g_signal_emit_by_name(webrtc, "set-remote-description", offer, p);
}

void quit_loop_on(GMainContext *ctx, GMainLoop *loop) {
  // Through a source, so a quit that comes before the loop runs is not lost.
  g_main_context_invoke_full(
      ctx, G_PRIORITY_LOW,
      [](gpointer d) -> gboolean {
        g_main_loop_quit(static_cast<GMainLoop *>(d));
        return G_SOURCE_REMOVE;
      },
      g_main_loop_ref(loop), reinterpret_cast<GDestroyNotify>(g_main_loop_unref));
}

void Worker::start(const char *name) {
  std::lock_guard l(lock_);
  if (thread_) return;
  ctx_ = g_main_context_new();
  loop_ = g_main_loop_new(ctx_, FALSE);
  thread_ = g_thread_new(
      name,
      [](gpointer d) -> gpointer {
        auto *w = static_cast<Worker *>(d);
        // Set before the thread starts and cleared only after it is joined: no lock needed.
        GMainContext *ctx = w->ctx_;
        g_main_context_push_thread_default(ctx);
        g_main_loop_run(w->loop_);
        // Run what was queued before the stop.
        while (g_main_context_iteration(ctx, FALSE)) {
        }
        g_main_context_pop_thread_default(ctx);
        return nullptr;
      },
      this);
}

void Worker::stop() {
  GThread *thread;
  GMainLoop *loop;
  GMainContext *ctx;
  {
    std::lock_guard l(lock_);
    if (!thread_) return;
    thread = thread_;
    loop = loop_;
    ctx = ctx_;
  }
  quit_loop_on(ctx, loop);
  g_thread_join(thread);
  {
    std::lock_guard l(lock_);
    thread_ = nullptr;
    loop_ = nullptr;
    ctx_ = nullptr;
  }
  g_main_loop_unref(loop);
  // Whoever posted meanwhile holds its own reference; what it queued after the last iteration
  // is destroyed unrun with the context's last reference.
  g_main_context_unref(ctx);
}

GMainContext *Worker::ref_context() const {
  std::lock_guard l(lock_);
  return ctx_ ? g_main_context_ref(ctx_) : nullptr;
}

bool Worker::running() const {
  std::lock_guard l(lock_);
  return thread_ != nullptr;
}

bool Worker::on_worker() const {
  std::lock_guard l(lock_);
  return thread_ != nullptr && g_thread_self() == thread_;
}

} // namespace roomcast
