#include "element-harness.h"

#include <algorithm>
#include <list>
#include <map>
#include <utility>

#include "gstroomcastdirectsignaller.h"
#include "gstroomcastpad.h"

// Last: gstcheck.h defines macros (fail, ...) that clash with names in the C++ library headers.
#include <gst/check/gstcheck.h>

namespace spec {

namespace {

std::string str(const char *s) {
  return s ? s : "";
}

std::string sdp_type_name(GstWebRTCSDPType t) {
  return str(gst_webrtc_sdp_type_to_string(t));
}

bool contains(const std::string &hay, const std::string &needle) {
  return needle.empty() || hay.find(needle) != std::string::npos;
}

// Holds a GMutex for a scope.
class Locked {
public:
  explicit Locked(GMutex *m) : m_(m) { g_mutex_lock(m_); }
  ~Locked() { g_mutex_unlock(m_); }
  Locked(const Locked &) = delete;
  Locked &operator=(const Locked &) = delete;

private:
  GMutex *m_;
};

} // namespace

const char *stage_name(Stage s) {
  switch (s) {
  case Stage::Setup:
    return "Setup";
  case Stage::Negotiating:
    return "Negotiating";
  case Stage::Streaming:
    return "Streaming";
  case Stage::Disturbing:
    return "Disturbing";
  case Stage::Teardown:
    return "Teardown";
  }
  return "?";
}

const PeerStats *Stats::peer(const std::string &id) const {
  for (const auto &p : peers)
    if (p.id == id) return &p;
  return nullptr;
}

Stats read_stats(GstElement *element) {
  Stats out;
  if (!g_object_class_find_property(G_OBJECT_GET_CLASS(element), "stats")) return out;
  GstStructure *s = nullptr;
  g_object_get(element, "stats", &s, nullptr);
  if (!s) return out;
  out.present = true;
  gchar *text = gst_structure_to_string(s);
  out.text = text;
  g_free(text);
  gst_structure_get_uint(s, "peer-count", &out.peer_count);
  gst_structure_get_uint64(s, "frames", &out.frames);
  const GValue *list = gst_structure_get_value(s, "peers");
  if (list && GST_VALUE_HOLDS_LIST(list))
    for (guint i = 0; i < gst_value_list_get_size(list); i++) {
      const GValue *v = gst_value_list_get_value(list, i);
      if (!GST_VALUE_HOLDS_STRUCTURE(v)) continue;
      const GstStructure *ps = gst_value_get_structure(v);
      PeerStats p;
      p.id = str(gst_structure_get_string(ps, "id"));
      gboolean connected = FALSE;
      gst_structure_get_boolean(ps, "connected", &connected);
      p.connected = connected;
      gst_structure_get_double(ps, "bitrate", &p.bitrate);
      out.peers.push_back(p);
    }
  gst_structure_free(s);
  return out;
}

guint children_of(GstElement *bin) {
  GST_OBJECT_LOCK(bin);
  guint n = GST_BIN_NUMCHILDREN(bin);
  GST_OBJECT_UNLOCK(bin);
  return n;
}

// ---- the harness's state --------------------------------------------------------------------

namespace {

struct Ctx { // callback data: the harness and a label
  Harness *h;
  std::string label;
};

struct PadRec {
  Harness *h = nullptr;
  PadInfo info; // buffers/removed live in the fields below
  std::atomic<guint64> buffers{0};
  bool removed = false; // (harness lock)
};

struct PeerEv {
  std::string element, id;
  bool added = false;
  gint64 at_us = 0;
};

struct SigRec {
  std::string label;
  GstRoomcastSignaller *sig = nullptr; // ref
  std::vector<gulong> handlers;
  std::string own_id;
  std::vector<std::string> joined; // peer ids seen in peer-joined
  std::vector<std::string> left;
  std::vector<std::string> errors;
};

struct Expect {
  std::string element, what;
};

struct Actor { // stopped at teardown, in reverse order of creation
  std::string label;
  GstElement *pipeline = nullptr; // ref
  GstBus *bus = nullptr;          // ref, with our sync handler
  TestPeer *peer = nullptr;       // if it is a test peer's pipeline
};

} // namespace

struct Harness::Impl {
  GMutex lock; // leaf: never held while calling into a GStreamer object
  GCond cond;
  guint64 generation = 0;
  Stage stage = Stage::Setup;
  std::vector<std::string> violations;
  std::vector<std::string> warnings;
  std::vector<Expect> expected_peer_removed, expected_pad_removed, allowed_warnings;
  std::list<PadRec> pads;
  std::vector<PeerEv> peer_events;
  std::map<std::string, GWeakRef *> webrtcbins; // "<element>\n<id>" -> peer-added's webrtcbin
  std::map<std::string, GstElement *> watched;  // label -> element (ref)
  // Every element that was ever added anywhere inside a watched element: (label, weak ref).
  std::vector<std::pair<std::string, GWeakRef *>> inner;
  std::list<SigRec> sigs;
  std::vector<SdpRecord> sdps;
  std::vector<PeerEnded> ended;
  std::list<Node> nodes;
  std::list<std::unique_ptr<TestPeer>> peers;
  std::vector<Actor> actors;
  std::map<std::string, std::function<void(GstMessage *)>> taps; // pipeline label -> tap
  std::list<Ctx> ctxs;                                           // stable addresses
  std::vector<std::pair<GObject *, gulong>> element_handlers;    // refs on the objects

  // The harness's own thread, for delayed actions.
  GMainContext *ctx = nullptr;
  GMainLoop *loop = nullptr;
  GThread *thread = nullptr;

  Ctx *ctx_for(Harness *h, const std::string &label) {
    Locked l(&lock);
    ctxs.push_back(Ctx{h, label});
    return &ctxs.back();
  }
  SigRec *sig_rec(const std::string &label) { // lock held
    for (auto &s : sigs)
      if (s.label == label) return &s;
    return nullptr;
  }
  SigRec *sig_rec(GstRoomcastSignaller *sig) { // lock held
    for (auto &s : sigs)
      if (s.sig == sig) return &s;
    return nullptr;
  }
  void bump() { // lock held
    generation++;
    g_cond_broadcast(&cond);
  }
  void violate_locked(const std::string &what) {
    violations.push_back(std::string("[") + stage_name(stage) + "] " + what);
    bump();
  }
  int balance(const std::string &element, const std::string &id) { // lock held
    int n = 0;
    for (const auto &e : peer_events)
      if (e.element == element && e.id == id) n += e.added ? 1 : -1;
    return n;
  }
};

// ---- hooks (GStreamer's threads) ----------------------------------------------------------------

static GstBusSyncReply on_bus_message(GstBus *, GstMessage *msg, gpointer data) {
  auto *c = static_cast<Ctx *>(data);
  std::function<void(GstMessage *)> tap;
  {
    Harness::Impl &d = c->h->impl();
    Locked l(&d.lock);
    if (auto it = d.taps.find(c->label); it != d.taps.end()) tap = it->second;
  }
  if (tap) tap(msg);
  GstMessageType type = GST_MESSAGE_TYPE(msg);
  if (type != GST_MESSAGE_ERROR && type != GST_MESSAGE_WARNING) return GST_BUS_DROP;
  GError *err = nullptr;
  gchar *debug = nullptr;
  if (type == GST_MESSAGE_ERROR)
    gst_message_parse_error(msg, &err, &debug);
  else
    gst_message_parse_warning(msg, &err, &debug);
  gchar *path = GST_MESSAGE_SRC(msg) ? gst_object_get_path_string(GST_MESSAGE_SRC(msg))
                                     : g_strdup("(unknown)");
  std::string source = path;
  std::string body = std::string(err ? err->message : "") + " (" + str(debug) + ")";
  std::string line = std::string(type == GST_MESSAGE_ERROR ? "ERROR" : "WARNING") + " from " +
                     source + " in pipeline " + c->label + ": " + body;
  g_free(path);
  g_free(debug);
  if (err) g_error_free(err);

  Harness::Impl &d = c->h->impl();
  Locked l(&d.lock);
  if (type == GST_MESSAGE_ERROR) {
    d.violate_locked(line);
    return GST_BUS_DROP;
  }
  d.warnings.push_back(line);
  bool allowed = false;
  for (const auto &w : d.allowed_warnings)
    allowed = allowed || (contains(source, w.element) && contains(body, w.what));
  // At teardown peers leave in any order: a host may still trickle a candidate to a viewer that
  // has just left, and the signaller tells it so ("unknown-peer"). Nothing else is excused.
  if (d.stage == Stage::Teardown && contains(body, "unknown-peer")) allowed = true;
  if (!allowed)
    d.violate_locked("unexpected " + line);
  else
    d.bump();
  return GST_BUS_DROP;
}

static void on_peer_added(GstElement *, const gchar *id, GstElement *webrtc, gpointer data) {
  auto *c = static_cast<Ctx *>(data);
  std::string factory = "(nothing)";
  if (webrtc && GST_IS_ELEMENT(webrtc)) {
    GstElementFactory *f = gst_element_get_factory(webrtc);
    factory = f ? GST_OBJECT_NAME(f) : "(no factory)";
  }
  Harness::Impl &d = c->h->impl();
  Locked l(&d.lock);
  std::string pid = str(id);
  if (factory != "webrtcbin")
    d.violate_locked(c->label + ": peer-added(" + pid + ") handed out " + factory +
                     ", not a webrtcbin");
  if (d.balance(c->label, pid) > 0)
    d.violate_locked(c->label + ": peer-added(" + pid + ") twice without peer-removed");
  d.peer_events.push_back(PeerEv{c->label, pid, true, g_get_monotonic_time()});
  std::string key = c->label + "\n" + pid;
  if (auto it = d.webrtcbins.find(key); it != d.webrtcbins.end()) {
    g_weak_ref_clear(it->second);
    delete it->second;
    d.webrtcbins.erase(it);
  }
  if (factory == "webrtcbin") {
    auto *w = new GWeakRef;
    g_weak_ref_init(w, webrtc);
    d.webrtcbins[key] = w;
  }
  d.bump();
}

static void on_peer_removed(GstElement *, const gchar *id, gpointer data) {
  auto *c = static_cast<Ctx *>(data);
  Harness::Impl &d = c->h->impl();
  Locked l(&d.lock);
  std::string pid = str(id);
  if (d.balance(c->label, pid) <= 0)
    d.violate_locked(c->label + ": peer-removed(" + pid + ") without a peer-added");
  bool expected = d.stage == Stage::Teardown;
  for (const auto &e : d.expected_peer_removed)
    expected = expected || (e.element == c->label && (e.what.empty() || e.what == pid));
  if (!expected) d.violate_locked(c->label + ": unexpected peer-removed(" + pid + ")");
  d.peer_events.push_back(PeerEv{c->label, pid, false, g_get_monotonic_time()});
  d.bump();
}

static GstPadProbeReturn count_buffers(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto *rec = static_cast<PadRec *>(data);
  guint n = 1;
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    n = gst_buffer_list_length(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
  rec->buffers += n;
  rec->h->notify();
  return GST_PAD_PROBE_OK;
}

// Gives a new src pad somewhere to go (a fakesink next to the element) and counts its buffers.
static void on_pad_added(GstElement *element, GstPad *pad, gpointer data) {
  auto *c = static_cast<Ctx *>(data);
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  Harness::Impl &d = c->h->impl();
  PadInfo info;
  info.element = c->label;
  info.name = GST_PAD_NAME(pad);
  info.roomcast_pad = GST_IS_ROOMCAST_PAD(pad);
  if (info.roomcast_pad) {
    gchar *id = nullptr, *name = nullptr;
    g_object_get(pad, "peer-id", &id, "peer-name", &name, nullptr);
    info.peer_id = str(id);
    info.peer_name = str(name);
    g_free(id);
    g_free(name);
  }
  GstCaps *caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  if (caps && !gst_caps_is_empty(caps) && !gst_caps_is_any(caps))
    info.media = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  if (caps) gst_caps_unref(caps);

  PadRec *rec;
  {
    Locked l(&d.lock);
    d.pads.emplace_back();
    rec = &d.pads.back();
    rec->h = c->h;
    rec->info = info;
    d.bump();
  }
  gst_pad_add_probe(pad,
                    GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                    count_buffers, rec, nullptr);
  GstObject *parent = gst_object_get_parent(GST_OBJECT(element));
  if (!parent) return;
  GstElement *fake = gst_element_factory_make("fakesink", nullptr);
  g_object_set(fake, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(parent), fake);
  gst_element_sync_state_with_parent(fake);
  GstPad *sink = gst_element_get_static_pad(fake, "sink");
  GstPadLinkReturn ret = gst_pad_link(pad, sink);
  gst_object_unref(sink);
  gst_object_unref(parent);
  if (ret != GST_PAD_LINK_OK)
    c->h->violate(c->label + ": cannot link its pad " + info.name + " to a fakesink (" +
                  gst_pad_link_get_name(ret) + ")");
}

static void on_deep_element_added(GstBin *, GstBin *, GstElement *element, gpointer data) {
  auto *c = static_cast<Ctx *>(data);
  auto *w = new GWeakRef;
  g_weak_ref_init(w, element);
  Harness::Impl &d = c->h->impl();
  Locked l(&d.lock);
  d.inner.emplace_back(c->label, w);
}

static void on_pad_removed(GstElement *, GstPad *pad, gpointer data) {
  auto *c = static_cast<Ctx *>(data);
  Harness::Impl &d = c->h->impl();
  std::string name = GST_PAD_NAME(pad);
  Locked l(&d.lock);
  for (auto &p : d.pads)
    if (p.info.element == c->label && p.info.name == name) p.removed = true;
  bool expected = d.stage == Stage::Teardown;
  for (const auto &e : d.expected_pad_removed)
    expected = expected || (e.element == c->label && name.rfind(e.what, 0) == 0);
  if (!expected) d.violate_locked(c->label + ": unexpected removal of pad " + name);
  d.bump();
}

// Signallers: everything they report is recorded.
static void sig_joined(GstRoomcastSignaller *sig, const gchar *id, gint, gpointer data) {
  Harness::Impl &d = static_cast<Ctx *>(data)->h->impl();
  Locked l(&d.lock);
  if (SigRec *r = d.sig_rec(sig)) r->own_id = str(id);
  d.bump();
}

static void sig_peer_joined(GstRoomcastSignaller *sig, const gchar *id, gint, const gchar *,
                            gboolean, gpointer data) {
  Harness::Impl &d = static_cast<Ctx *>(data)->h->impl();
  Locked l(&d.lock);
  if (SigRec *r = d.sig_rec(sig)) r->joined.push_back(str(id));
  d.bump();
}

static void sig_peer_left(GstRoomcastSignaller *sig, const gchar *id, gpointer data) {
  Harness::Impl &d = static_cast<Ctx *>(data)->h->impl();
  Locked l(&d.lock);
  if (SigRec *r = d.sig_rec(sig)) r->left.push_back(str(id));
  d.bump();
}

static void sig_peer_ended(GstRoomcastSignaller *, const gchar *id, const gchar *reason,
                           const gchar *message, gpointer data) {
  auto *c = static_cast<Ctx *>(data);
  Harness::Impl &d = c->h->impl();
  Locked l(&d.lock);
  d.ended.push_back(PeerEnded{c->label, str(id), str(reason), str(message)});
  d.bump();
}

static void sig_sdp(GstRoomcastSignaller *sig, const gchar *id, GstWebRTCSessionDescription *desc,
                    gpointer data) {
  auto *c = static_cast<Ctx *>(data);
  gchar *text = desc && desc->sdp ? gst_sdp_message_as_text(desc->sdp) : nullptr;
  if (g_getenv("ROOMCAST_SPEC_DUMP_SDP"))
    g_printerr("---- %s from %s at %s\n%s", desc ? sdp_type_name(desc->type).c_str() : "?", id,
               c->label.c_str(), text ? text : "");
  Harness::Impl &d = c->h->impl();
  Locked l(&d.lock);
  SigRec *r = d.sig_rec(sig);
  d.sdps.push_back(SdpRecord{c->label, r ? r->own_id : "", str(id),
                             desc ? desc->type : GST_WEBRTC_SDP_TYPE_OFFER, str(text)});
  g_free(text);
  d.bump();
}

static void sig_error(GstRoomcastSignaller *sig, const gchar *message, gboolean, gpointer data) {
  Harness::Impl &d = static_cast<Ctx *>(data)->h->impl();
  Locked l(&d.lock);
  if (SigRec *r = d.sig_rec(sig)) r->errors.push_back(str(message));
  d.bump();
}

// ---- Harness ------------------------------------------------------------------------------------

Harness::Harness() : d_(std::make_unique<Impl>()) {
  g_mutex_init(&d_->lock);
  g_cond_init(&d_->cond);
  d_->ctx = g_main_context_new();
  d_->loop = g_main_loop_new(d_->ctx, FALSE);
  d_->thread = g_thread_new(
      "harness",
      [](gpointer p) -> gpointer {
        auto *d = static_cast<Impl *>(p);
        g_main_context_push_thread_default(d->ctx);
        g_main_loop_run(d->loop);
        g_main_context_pop_thread_default(d->ctx);
        return nullptr;
      },
      d_.get());
}

Harness::~Harness() {
  {
    Locked l(&d_->lock);
    d_->stage = Stage::Teardown;
  }
  // Everything stops: pipelines (newest first), then every signaller leaves its room.
  for (auto it = d_->actors.rbegin(); it != d_->actors.rend(); ++it)
    gst_element_set_state(it->pipeline, GST_STATE_NULL);
  for (auto &s : d_->sigs)
    gst_roomcast_signaller_stop(s.sig);
  // The in-process signaller emits on one hub thread in order: once a fresh signaller's stop
  // came back, nothing queued before it can reach our handlers any more.
  {
    auto *barrier = GST_ROOMCAST_SIGNALLER(
        gst_object_ref_sink(g_object_new(GST_TYPE_ROOMCAST_DIRECT_SIGNALLER, nullptr)));
    gst_roomcast_signaller_stop(barrier);
    gst_object_unref(barrier);
  }
  d_->peers.clear(); // disconnects the test peers' handlers
  for (auto &s : d_->sigs) {
    for (gulong h : s.handlers)
      g_signal_handler_disconnect(s.sig, h);
    gst_object_unref(s.sig);
  }
  for (auto &[obj, h] : d_->element_handlers) {
    g_signal_handler_disconnect(obj, h);
    g_object_unref(obj);
  }
  {
    Locked l(&d_->lock);
    d_->taps.clear();
  }
  for (auto &a : d_->actors) {
    gst_bus_set_sync_handler(a.bus, nullptr, nullptr, nullptr);
    gst_object_unref(a.bus);
    gst_object_unref(a.pipeline);
  }
  for (auto &[label, e] : d_->watched)
    gst_object_unref(e);
  for (auto &[key, w] : d_->webrtcbins) {
    g_weak_ref_clear(w);
    delete w;
  }
  for (auto &[label, w] : d_->inner) {
    g_weak_ref_clear(w);
    delete w;
  }
  g_main_context_invoke(
      d_->ctx,
      [](gpointer l) -> gboolean {
        g_main_loop_quit(static_cast<GMainLoop *>(l));
        return G_SOURCE_REMOVE;
      },
      d_->loop);
  g_thread_join(d_->thread);
  g_main_loop_unref(d_->loop);
  g_main_context_unref(d_->ctx);
  g_cond_clear(&d_->cond);
  g_mutex_clear(&d_->lock);
}

void Harness::set_stage(Stage s) {
  Locked l(&d_->lock);
  d_->stage = s;
  d_->bump();
}

Stage Harness::stage() {
  Locked l(&d_->lock);
  return d_->stage;
}

void Harness::expect_peer_removed(const std::string &element, const std::string &id) {
  Locked l(&d_->lock);
  d_->expected_peer_removed.push_back(Expect{element, id});
}

void Harness::expect_pad_removed(const std::string &element, const std::string &prefix) {
  Locked l(&d_->lock);
  d_->expected_pad_removed.push_back(Expect{element, prefix});
}

void Harness::allow_warning(const std::string &source, const std::string &text) {
  Locked l(&d_->lock);
  d_->allowed_warnings.push_back(Expect{source, text});
}

void Harness::violate(const std::string &what) {
  Locked l(&d_->lock);
  d_->violate_locked(what);
}

std::vector<std::string> Harness::violations() {
  Locked l(&d_->lock);
  return d_->violations;
}

std::vector<std::string> Harness::warnings() {
  Locked l(&d_->lock);
  return d_->warnings;
}

void Harness::notify() {
  Locked l(&d_->lock);
  d_->bump();
}

void Harness::check() {
  std::string all;
  {
    Locked l(&d_->lock);
    for (const auto &v : d_->violations)
      all += "\n  " + v;
  }
  if (!all.empty()) ck_abort_msg("the harness saw what the test did not expect:%s", all.c_str());
}

void Harness::finish() {
  check();
  set_stage(Stage::Teardown);
  std::vector<Actor> actors;
  {
    Locked l(&d_->lock);
    actors = d_->actors;
  }
  for (auto it = actors.rbegin(); it != actors.rend(); ++it) {
    GstElement *p = it->pipeline;
    run_with_deadline("stopping pipeline " + it->label, 30,
                      [p]() { gst_element_set_state(p, GST_STATE_NULL); });
    if (it->peer) it->peer->leave();
    // Whoever had it as a peer lets it go (peer-removed, and its streams' pads removed) before
    // the next one stops: one departure at a time.
    std::string id = id_now(it->label);
    if (id.empty()) continue;
    auto holders = [&]() {
      std::vector<std::string> out;
      Locked l(&d_->lock);
      for (const auto &[label, e] : d_->watched)
        if (d_->balance(label, id) > 0)
          out.push_back(label + " did not emit peer-removed(" + id + ")");
      for (const auto &p : d_->pads)
        if (!p.removed && p.info.peer_id == id)
          out.push_back(p.info.element + " did not remove its pad " + p.info.name);
      return out;
    };
    if (!becomes_true_within(10, [&]() { return holders().empty(); }))
      for (const auto &what : holders())
        violate(what + " within 10 s after " + it->label + " stopped");
  }
  // Every pipeline is in NULL: so must be every webrtcbin a peer-added handed out (a branch left
  // running keeps its threads, and gst-check's task cleanup would wait for them forever).
  std::vector<std::pair<std::string, GstElement *>> alive;
  {
    Locked l(&d_->lock);
    for (auto &[key, w] : d_->webrtcbins)
      if (auto *e = static_cast<GstElement *>(g_weak_ref_get(w))) alive.emplace_back(key, e);
  }
  for (auto &[key, e] : alive) {
    GstState state = GST_STATE_VOID_PENDING;
    gst_element_get_state(e, &state, nullptr, 0);
    GstObject *parent = gst_object_get_parent(GST_OBJECT(e));
    gchar *where = parent ? gst_object_get_path_string(parent) : g_strdup("no parent");
    if (state != GST_STATE_NULL) {
      std::string k = key;
      std::replace(k.begin(), k.end(), '\n', ' ');
      violate("webrtcbin " + std::string(GST_OBJECT_NAME(e)) + " of peer-added(" + k +
              ") is still in " + gst_element_state_get_name(state) + " (" + where +
              ") after every pipeline went to NULL: a leaked branch");
    }
    g_free(where);
    if (parent) gst_object_unref(parent);
    gst_object_unref(e);
  }
  // The same for everything that ever lived inside a watched element (whatever the element's
  // internals are): alive is fine, running is a leak. Only the outermost leaked element of a
  // leaked subtree is named.
  std::vector<std::pair<std::string, GstElement *>> running;
  {
    Locked l(&d_->lock);
    for (auto &[label, w] : d_->inner)
      if (auto *e = static_cast<GstElement *>(g_weak_ref_get(w))) running.emplace_back(label, e);
  }
  std::erase_if(running, [](auto &le) {
    GstState state = GST_STATE_VOID_PENDING;
    gst_element_get_state(le.second, &state, nullptr, 0);
    if (state != GST_STATE_NULL) return false;
    gst_object_unref(le.second);
    return true;
  });
  for (auto &[label, e] : running) {
    GstObject *parent = gst_object_get_parent(GST_OBJECT(e));
    bool parent_leaked = false;
    for (auto &other : running)
      parent_leaked = parent_leaked || GST_OBJECT(other.second) == parent;
    if (!parent_leaked) {
      GstState state = GST_STATE_VOID_PENDING;
      gst_element_get_state(e, &state, nullptr, 0);
      GstElementFactory *f = gst_element_get_factory(e);
      gchar *where = parent ? gst_object_get_path_string(parent) : g_strdup("no parent");
      violate(std::string(GST_OBJECT_NAME(e)) + " (" + (f ? GST_OBJECT_NAME(f) : "?") +
              "), once inside " + label + ", is still in " + gst_element_state_get_name(state) +
              " (" + where + ") after every pipeline went to NULL: it leaked, running");
      g_free(where);
    }
    if (parent) gst_object_unref(parent);
  }
  for (auto &[label, e] : running)
    gst_object_unref(e);
  check();
}

// ---- waiting ------------------------------------------------------------------------------------

bool Harness::becomes_true_within(double seconds, const std::function<bool()> &pred) {
  gint64 deadline = g_get_monotonic_time() + gint64(seconds * G_USEC_PER_SEC);
  for (;;) {
    guint64 gen;
    {
      Locked l(&d_->lock);
      gen = d_->generation;
    }
    check();
    if (pred()) return true;
    Locked l(&d_->lock);
    gint64 now = g_get_monotonic_time();
    if (now >= deadline) break;
    // Woken by every recorded event; at least every 100 ms for polled conditions.
    gint64 until = std::min(deadline, now + 100 * G_TIME_SPAN_MILLISECOND);
    while (d_->generation == gen)
      if (!g_cond_wait_until(&d_->cond, &d_->lock, until)) break;
  }
  check();
  return pred();
}

void Harness::wait_for(const std::string &what, double seconds, const std::function<bool()> &pred) {
  if (!becomes_true_within(seconds, pred))
    ck_abort_msg("timed out after %.1f s waiting for %s", seconds, what.c_str());
}

namespace {
struct Job {
  std::function<void()> fn;
  GMutex lock;
  GCond cond;
  bool done = false;
};
} // namespace

void Harness::run_with_deadline(const std::string &what, double seconds, std::function<void()> fn) {
  auto *job = new Job{std::move(fn), {}, {}, false};
  g_mutex_init(&job->lock);
  g_cond_init(&job->cond);
  GThread *t = g_thread_new(
      "deadline-job",
      [](gpointer p) -> gpointer {
        auto *j = static_cast<Job *>(p);
        j->fn();
        Locked l(&j->lock);
        j->done = true;
        g_cond_signal(&j->cond);
        return nullptr;
      },
      job);
  bool done;
  {
    Locked l(&job->lock);
    gint64 end = g_get_monotonic_time() + gint64(seconds * G_USEC_PER_SEC);
    while (!job->done)
      if (!g_cond_wait_until(&job->cond, &job->lock, end)) break;
    done = job->done;
  }
  if (!done) {
    // The thread is stuck inside the element: leave it (and its job) behind; the forked test
    // process ends with the failure.
    g_thread_unref(t);
    ck_abort_msg("%s did not return within %.1f s: deadlock", what.c_str(), seconds);
  }
  g_thread_join(t);
  g_cond_clear(&job->cond);
  g_mutex_clear(&job->lock);
  delete job;
}

void Harness::after(guint ms, std::function<void()> fn) {
  GSource *src = g_timeout_source_new(ms);
  g_source_set_callback(
      src,
      [](gpointer p) -> gboolean {
        (*static_cast<std::function<void()> *>(p))();
        return G_SOURCE_REMOVE;
      },
      new std::function<void()>(std::move(fn)),
      [](gpointer p) { delete static_cast<std::function<void()> *>(p); });
  g_source_attach(src, d_->ctx);
  g_source_unref(src);
}

// ---- building blocks ----------------------------------------------------------------------------

GstRoomcastSignaller *Harness::signaller(const std::string &label) {
  auto *sig = GST_ROOMCAST_SIGNALLER(gst_object_ref_sink(
      g_object_new(GST_TYPE_ROOMCAST_DIRECT_SIGNALLER, "name", label.c_str(), nullptr)));
  {
    Locked l(&d_->lock);
    SigRec r;
    r.label = label;
    r.sig = sig;
    d_->sigs.push_back(std::move(r));
  }
  Ctx *c = d_->ctx_for(this, label);
  std::vector<gulong> hs = {
      g_signal_connect(sig, "joined", G_CALLBACK(sig_joined), c),
      g_signal_connect(sig, "peer-joined", G_CALLBACK(sig_peer_joined), c),
      g_signal_connect(sig, "peer-left", G_CALLBACK(sig_peer_left), c),
      g_signal_connect(sig, "peer-ended", G_CALLBACK(sig_peer_ended), c),
      g_signal_connect(sig, "sdp", G_CALLBACK(sig_sdp), c),
      g_signal_connect(sig, "error", G_CALLBACK(sig_error), c),
  };
  Locked l(&d_->lock);
  d_->sig_rec(label)->handlers = hs;
  return sig;
}

GstRoomcastSignaller *Harness::signaller_of(const std::string &label) {
  Locked l(&d_->lock);
  SigRec *r = d_->sig_rec(label);
  return r ? r->sig : nullptr;
}

GstElement *Harness::adopt_pipeline(const std::string &label, GstElement *pipeline) {
  gst_object_ref_sink(pipeline);
  GstBus *bus = gst_element_get_bus(pipeline);
  gst_bus_set_sync_handler(bus, on_bus_message, d_->ctx_for(this, label), nullptr);
  Locked l(&d_->lock);
  d_->actors.push_back(Actor{label, pipeline, bus, nullptr});
  return pipeline;
}

GstElement *Harness::pipeline(const std::string &label, const std::string &launch) {
  GError *err = nullptr;
  GstElement *e = gst_parse_launch(launch.c_str(), &err);
  if (!e || err)
    ck_abort_msg("cannot build '%s': %s", launch.c_str(), err ? err->message : "(no element)");
  if (!GST_IS_PIPELINE(e)) {
    GstElement *p = gst_pipeline_new(label.c_str());
    gst_bin_add(GST_BIN(p), e);
    e = p;
  } else {
    gst_object_set_name(GST_OBJECT(e), label.c_str());
  }
  return adopt_pipeline(label, e);
}

void Harness::watch(GstElement *element, const std::string &label) {
  Ctx *c = d_->ctx_for(this, label);
  std::vector<gulong> hs;
  GType type = G_OBJECT_TYPE(element);
  // roomcastsrc gains peer-added/peer-removed in the redesign; watch them wherever they exist.
  if (g_signal_lookup("peer-added", type))
    hs.push_back(g_signal_connect(element, "peer-added", G_CALLBACK(on_peer_added), c));
  if (g_signal_lookup("peer-removed", type))
    hs.push_back(g_signal_connect(element, "peer-removed", G_CALLBACK(on_peer_removed), c));
  if (GST_IS_BIN(element))
    hs.push_back(
        g_signal_connect(element, "deep-element-added", G_CALLBACK(on_deep_element_added), c));
  hs.push_back(g_signal_connect(element, "pad-added", G_CALLBACK(on_pad_added), c));
  hs.push_back(g_signal_connect(element, "pad-removed", G_CALLBACK(on_pad_removed), c));
  Locked l(&d_->lock);
  for (gulong h : hs)
    d_->element_handlers.emplace_back(G_OBJECT(gst_object_ref(element)), h);
  d_->watched[label] = GST_ELEMENT(gst_object_ref(element));
}

void Harness::tap(const std::string &label, std::function<void(GstMessage *)> fn) {
  Locked l(&d_->lock);
  d_->taps[label] = std::move(fn);
}

void Harness::play(GstElement *pipeline) {
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    ck_abort_msg("%s refused to go to PLAYING", GST_OBJECT_NAME(pipeline));
  check();
}

void Harness::stop(GstElement *pipeline) {
  gst_element_set_state(pipeline, GST_STATE_NULL);
}

Node &Harness::host(const std::string &label, const std::string &room, const std::string &props,
                    const std::string &source, bool start) {
  std::string launch =
      source + " ! roomcastsink name=" + label + " room=" + room + " ice-loopback=true " + props;
  GstElement *p = pipeline(label, launch);
  GstElement *sink = gst_bin_get_by_name(GST_BIN(p), label.c_str());
  fail_unless(sink != nullptr);
  GstRoomcastSignaller *sig = signaller(label);
  g_object_set(sink, "signaller", sig, nullptr);
  watch(sink, label);
  gst_object_unref(sink); // the pipeline keeps it
  {
    Locked l(&d_->lock);
    d_->nodes.push_back(Node{label, p, sink, sig});
  }
  if (start) play(p);
  return node(label);
}

Node &Harness::viewer(const std::string &label, const std::string &room, const std::string &props) {
  GstElement *p = pipeline(label, "roomcastsrc name=" + label + " room=" + room +
                                      " ice-loopback=true " + props);
  GstElement *src = gst_bin_get_by_name(GST_BIN(p), label.c_str());
  fail_unless(src != nullptr);
  GstRoomcastSignaller *sig = signaller(label);
  g_object_set(src, "signaller", sig, nullptr);
  watch(src, label);
  gst_object_unref(src);
  {
    Locked l(&d_->lock);
    d_->nodes.push_back(Node{label, p, src, sig});
  }
  play(p);
  return node(label);
}

TestPeer &Harness::test_peer(const std::string &label, const std::string &room, Behaviour b,
                             GstRoomcastRole role) {
  auto peer = std::make_unique<TestPeer>(*this, label, room, role, b);
  TestPeer *p = peer.get();
  Locked l(&d_->lock);
  for (auto &a : d_->actors)
    if (a.pipeline == p->pipeline()) a.peer = p;
  d_->peers.push_back(std::move(peer));
  return *p;
}

Node &Harness::node(const std::string &label) {
  Locked l(&d_->lock);
  for (auto &n : d_->nodes)
    if (n.label == label) return n;
  ck_abort_msg("no node '%s'", label.c_str());
  return d_->nodes.front();
}

// ---- observations -------------------------------------------------------------------------------

std::string Harness::id_now(const std::string &label) {
  Locked l(&d_->lock);
  SigRec *r = d_->sig_rec(label);
  return r ? r->own_id : "";
}

std::string Harness::id_of(const std::string &label, double seconds) {
  wait_for("signaller '" + label + "' to join its room", seconds,
           [&]() { return !id_now(label).empty(); });
  return id_now(label);
}

bool Harness::saw_peer_joined(const std::string &at, const std::string &id) {
  Locked l(&d_->lock);
  SigRec *r = d_->sig_rec(at);
  return r && std::find(r->joined.begin(), r->joined.end(), id) != r->joined.end();
}

std::vector<SdpRecord> Harness::sdps(const std::string &at) {
  Locked l(&d_->lock);
  std::vector<SdpRecord> out;
  for (const auto &s : d_->sdps)
    if (at.empty() || s.at == at) out.push_back(s);
  return out;
}

int Harness::count_sdp(const std::string &at, const std::string &from, GstWebRTCSDPType type) {
  int n = 0;
  for (const auto &s : sdps(at))
    if (s.from == from && s.type == type) n++;
  return n;
}

SdpRecord Harness::wait_sdp(const std::string &at, const std::string &from, GstWebRTCSDPType type,
                            double seconds) {
  SdpRecord found;
  wait_for("an " + sdp_type_name(type) + " from " + from + " at " + at, seconds, [&]() {
    for (const auto &s : sdps(at))
      if (s.from == from && s.type == type) {
        found = s;
        return true;
      }
    return false;
  });
  return found;
}

std::vector<PeerEnded> Harness::peer_ended(const std::string &at) {
  Locked l(&d_->lock);
  std::vector<PeerEnded> out;
  for (const auto &e : d_->ended)
    if (e.at == at) out.push_back(e);
  return out;
}

int Harness::peer_added(const std::string &element, const std::string &id) {
  Locked l(&d_->lock);
  int n = 0;
  for (const auto &e : d_->peer_events)
    if (e.added && e.element == element && (id.empty() || e.id == id)) n++;
  return n;
}

int Harness::peer_removed(const std::string &element, const std::string &id) {
  Locked l(&d_->lock);
  int n = 0;
  for (const auto &e : d_->peer_events)
    if (!e.added && e.element == element && (id.empty() || e.id == id)) n++;
  return n;
}

std::vector<std::string> Harness::peers_added(const std::string &element) {
  Locked l(&d_->lock);
  std::vector<std::string> out;
  for (const auto &e : d_->peer_events)
    if (e.added && e.element == element) out.push_back(e.id);
  return out;
}

gint64 Harness::peer_removed_at(const std::string &element, const std::string &id) {
  Locked l(&d_->lock);
  for (const auto &e : d_->peer_events)
    if (!e.added && e.element == element && e.id == id) return e.at_us;
  return 0;
}

void Harness::wait_peer_added(const std::string &element, const std::string &id, double seconds) {
  wait_for(element + " to emit peer-added(" + id + ")", seconds,
           [&]() { return peer_added(element, id) > 0; });
}

void Harness::wait_peer_removed(const std::string &element, const std::string &id, double seconds) {
  wait_for(element + " to emit peer-removed(" + id + ")", seconds,
           [&]() { return peer_removed(element, id) > 0; });
}

std::vector<PadInfo> Harness::pads(const std::string &element) {
  Locked l(&d_->lock);
  std::vector<PadInfo> out;
  for (const auto &p : d_->pads)
    if (p.info.element == element) {
      PadInfo i = p.info;
      i.buffers = p.buffers.load();
      i.removed = p.removed;
      out.push_back(i);
    }
  return out;
}

guint64 Harness::frames(const std::string &element, const std::string &peer_id) {
  guint64 n = 0;
  for (const auto &p : pads(element))
    if (p.media.rfind("video/", 0) == 0 && (peer_id.empty() || p.peer_id == peer_id))
      n += p.buffers;
  return n;
}

void Harness::wait_frames(const std::string &element, const std::string &peer_id, guint64 at_least,
                          double seconds) {
  std::string what = std::to_string(at_least) + " video buffers on " + element +
                     (peer_id.empty() ? "" : " from " + peer_id);
  if (!becomes_true_within(seconds, [&]() { return frames(element, peer_id) >= at_least; }))
    ck_abort_msg("timed out after %.1f s waiting for %s (got %" G_GUINT64_FORMAT ")", seconds,
                 what.c_str(), frames(element, peer_id));
}

GstElement *Harness::webrtcbin_of(const std::string &element, const std::string &id) {
  Locked l(&d_->lock);
  auto it = d_->webrtcbins.find(element + "\n" + id);
  return it == d_->webrtcbins.end() ? nullptr
                                    : static_cast<GstElement *>(g_weak_ref_get(it->second));
}

bool Harness::webrtcbin_inside(const std::string &element, const std::string &id) {
  GstElement *w = nullptr, *e = nullptr;
  {
    Locked l(&d_->lock);
    auto it = d_->webrtcbins.find(element + "\n" + id);
    if (it != d_->webrtcbins.end()) w = static_cast<GstElement *>(g_weak_ref_get(it->second));
    auto we = d_->watched.find(element);
    if (we != d_->watched.end()) e = GST_ELEMENT(gst_object_ref(we->second));
  }
  bool inside = false;
  if (w && e) {
    GstObject *parent = gst_object_get_parent(GST_OBJECT(w));
    inside = parent == GST_OBJECT(e);
    if (parent) gst_object_unref(parent);
  }
  if (w) gst_object_unref(w);
  if (e) gst_object_unref(e);
  return inside;
}

// ---- TestPeer -----------------------------------------------------------------------------------

struct TestPeerCalls {
  static void joined(GstRoomcastSignaller *, const gchar *id, gint, gpointer data) {
    auto *p = static_cast<TestPeer *>(data);
    {
      Locked l(&p->lock_);
      p->id_ = str(id);
    }
    p->set(PEER_JOINED);
  }

  static void sdp(GstRoomcastSignaller *, const gchar *from, GstWebRTCSessionDescription *desc,
                  gpointer data) {
    auto *p = static_cast<TestPeer *>(data);
    if (!desc || desc->type != GST_WEBRTC_SDP_TYPE_OFFER) return; // recorded by the harness
    {
      Locked l(&p->lock_);
      if (p->offer_) gst_webrtc_session_description_free(p->offer_);
      p->offer_ = gst_webrtc_session_description_copy(desc);
      p->offerer_ = str(from);
    }
    p->set(PEER_OFFERED);
    if (!p->b_.answer) return;
    if (p->b_.answer_delay_ms)
      p->h_.after(p->b_.answer_delay_ms, [p]() { p->answer_now(); });
    else
      p->answer_now();
  }

  static void ice(GstRoomcastSignaller *, const gchar *, guint mline, const gchar *candidate,
                  const gchar *, gpointer data) {
    auto *p = static_cast<TestPeer *>(data);
    if (!candidate || !*candidate || p->stopped_) return;
    {
      Locked l(&p->lock_);
      if (!p->remote_set_) {
        p->pending_ice_.emplace_back(mline, str(candidate));
        return;
      }
    }
    g_signal_emit_by_name(p->webrtc_, "add-ice-candidate", mline, candidate);
  }

  static void on_remote_set(GstPromise *promise, gpointer data) {
    auto *p = static_cast<TestPeer *>(data);
    const GstStructure *reply = gst_promise_get_reply(promise);
    GError *err = nullptr;
    if (reply && gst_structure_has_field(reply, "error"))
      gst_structure_get(reply, "error", G_TYPE_ERROR, &err, nullptr);
    gst_promise_unref(promise);
    if (p->stopped_) {
      if (err) g_error_free(err);
      return;
    }
    if (err) {
      p->h_.violate(p->label_ + ": the offer could not be applied: " + err->message);
      g_error_free(err);
      return;
    }
    std::vector<std::pair<guint, std::string>> pending;
    {
      Locked l(&p->lock_);
      p->remote_set_ = true;
      pending = std::exchange(p->pending_ice_, {});
    }
    for (auto &[mline, cand] : pending)
      g_signal_emit_by_name(p->webrtc_, "add-ice-candidate", mline, cand.c_str());
    GstPromise *next = gst_promise_new_with_change_func(on_answer_created, p, nullptr);
    g_signal_emit_by_name(p->webrtc_, "create-answer", nullptr, next);
  }

  static void on_answer_created(GstPromise *promise, gpointer data) {
    auto *p = static_cast<TestPeer *>(data);
    const GstStructure *reply = gst_promise_get_reply(promise);
    GstWebRTCSessionDescription *answer = nullptr;
    if (reply)
      gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, nullptr);
    gst_promise_unref(promise);
    if (!answer) {
      if (!p->stopped_) p->h_.violate(p->label_ + ": webrtcbin could not answer the offer");
      return;
    }
    g_signal_emit_by_name(p->webrtc_, "set-local-description", answer, nullptr);
    std::string to;
    {
      Locked l(&p->lock_);
      to = p->offerer_;
    }
    gst_roomcast_signaller_send_sdp(p->sig_, to.c_str(), answer);
    gst_webrtc_session_description_free(answer);
    p->set(PEER_ANSWERED);
  }

  static void on_ice_candidate(GstElement *, guint mline, gchar *candidate, gpointer data) {
    auto *p = static_cast<TestPeer *>(data);
    if (!p->b_.send_ice || p->stopped_) return;
    std::string to;
    {
      Locked l(&p->lock_);
      to = p->offerer_;
    }
    if (!to.empty())
      gst_roomcast_signaller_send_ice(p->sig_, to.c_str(), mline, candidate, nullptr);
  }

  static void on_connection_state(GstElement *webrtc, GParamSpec *, gpointer data) {
    auto *p = static_cast<TestPeer *>(data);
    GstWebRTCPeerConnectionState state;
    g_object_get(webrtc, "connection-state", &state, nullptr);
    if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED) p->set(PEER_CONNECTED);
    if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) p->set(PEER_FAILED);
  }

  static GstPadProbeReturn on_rtp(GstPad *, GstPadProbeInfo *, gpointer data) {
    auto *p = static_cast<TestPeer *>(data);
    if (p->rtp_++ == 0) p->set(PEER_MEDIA);
    p->h_.notify();
    return GST_PAD_PROBE_OK;
  }

  // Browser-like RTCP: every RTP session inside our webrtcbin reports at least this often.
  static void on_element(GstBin *, GstBin *, GstElement *element, gpointer data) {
    auto *p = static_cast<TestPeer *>(data);
    GstElementFactory *f = gst_element_get_factory(element);
    if (f && g_str_equal(GST_OBJECT_NAME(f), "rtpsession"))
      g_object_set(element, "rtcp-min-interval", guint64(p->b_.rtcp_interval_ms) * GST_MSECOND,
                   nullptr);
  }

  static void on_pad(GstElement *, GstPad *pad, gpointer data) {
    auto *p = static_cast<TestPeer *>(data);
    if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
    GstElement *fake = gst_element_factory_make("fakesink", nullptr);
    g_object_set(fake, "sync", FALSE, "async", FALSE, nullptr);
    gst_bin_add(GST_BIN(p->pipeline_), fake);
    gst_element_sync_state_with_parent(fake);
    GstPad *sink = gst_element_get_static_pad(fake, "sink");
    if (gst_pad_link(pad, sink) != GST_PAD_LINK_OK)
      p->h_.violate(p->label_ + ": cannot link its webrtcbin's " + GST_PAD_NAME(pad));
    gst_object_unref(sink);
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_rtp, p, nullptr);
  }
};

TestPeer::TestPeer(Harness &h, const std::string &label, const std::string &room,
                   GstRoomcastRole role, Behaviour behaviour)
    : h_(h), label_(label), room_(room), role_(role), b_(behaviour) {
  g_mutex_init(&lock_);
  sig_ = h.signaller(label);
  pipeline_ = gst_pipeline_new(label.c_str());
  webrtc_ = gst_element_factory_make("webrtcbin", "webrtc");
  fail_unless(webrtc_ != nullptr);
  // Loopback ICE, as the elements do with ice-loopback=true.
  g_object_set(webrtc_, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, "latency", 50u,
               nullptr);
  GstObject *ice = nullptr;
  g_object_get(webrtc_, "ice-agent", &ice, nullptr);
  fail_unless(ice != nullptr);
  gboolean ok = FALSE;
  g_signal_emit_by_name(ice, "add-local-ip-address", "127.0.0.1", &ok);
  fail_unless(ok, "the ICE agent refused 127.0.0.1");
  g_object_set(ice, "ice-tcp", FALSE, nullptr);
  gst_object_unref(ice);
  g_signal_connect(webrtc_, "on-ice-candidate", G_CALLBACK(TestPeerCalls::on_ice_candidate), this);
  g_signal_connect(webrtc_, "notify::connection-state",
                   G_CALLBACK(TestPeerCalls::on_connection_state), this);
  g_signal_connect(webrtc_, "pad-added", G_CALLBACK(TestPeerCalls::on_pad), this);
  if (b_.rtcp_interval_ms)
    g_signal_connect(webrtc_, "deep-element-added", G_CALLBACK(TestPeerCalls::on_element), this);
  gst_bin_add(GST_BIN(pipeline_), webrtc_);
  h.adopt_pipeline(label, pipeline_); // the harness owns it now
  handlers_ = {
      g_signal_connect(sig_, "joined", G_CALLBACK(TestPeerCalls::joined), this),
      g_signal_connect(sig_, "sdp", G_CALLBACK(TestPeerCalls::sdp), this),
      g_signal_connect(sig_, "ice", G_CALLBACK(TestPeerCalls::ice), this),
  };
}

TestPeer::~TestPeer() {
  for (gulong h : handlers_)
    g_signal_handler_disconnect(sig_, h);
  if (offer_) gst_webrtc_session_description_free(offer_);
  g_mutex_clear(&lock_);
}

void TestPeer::set(unsigned bits) {
  state_ |= bits;
  h_.notify();
}

void TestPeer::join() {
  h_.play(pipeline_);
  gst_roomcast_signaller_start(sig_, room_.c_str(), role_, label_.c_str());
}

void TestPeer::answer_now() {
  GstWebRTCSessionDescription *offer;
  {
    Locked l(&lock_);
    offer = std::exchange(offer_, nullptr);
  }
  if (!offer) return;
  if (!stopped_) {
    GstPromise *p = gst_promise_new_with_change_func(TestPeerCalls::on_remote_set, this, nullptr);
    g_signal_emit_by_name(webrtc_, "set-remote-description", offer, p);
  }
  gst_webrtc_session_description_free(offer);
}

void TestPeer::stop_media() {
  stopped_ = true;
  h_.stop(pipeline_);
  set(PEER_STOPPED);
}

void TestPeer::leave() {
  if (has(PEER_LEFT)) return;
  gst_roomcast_signaller_stop(sig_);
  set(PEER_LEFT);
}

std::string TestPeer::id() const {
  Locked l(&lock_);
  return id_;
}

std::string TestPeer::offerer() const {
  Locked l(&lock_);
  return offerer_;
}

} // namespace spec
