#include "room-client.h"

#include "gstroomcastwssignaller.h"
#include "layer-switch.h"

#include <condition_variable>
#include <utility>

GST_DEBUG_CATEGORY_STATIC(roomcast_client_debug);
#define GST_CAT_DEFAULT roomcast_client_debug

namespace roomcast {

namespace {
void init_debug() {
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    GST_DEBUG_CATEGORY_INIT(roomcast_client_debug, "roomcastclient", 0,
                            "roomcast elements' room client");
    g_once_init_leave(&done, 1);
  }
}

// Holds the element while a hop to the worker is pending.
struct ElementRef {
  GstElement *el;
  explicit ElementRef(GstElement *e) : el(GST_ELEMENT(gst_object_ref(e))) {}
  ElementRef(const ElementRef &o) : el(GST_ELEMENT(gst_object_ref(o.el))) {}
  ~ElementRef() { gst_object_unref(el); }
};
} // namespace

RoomClient::RoomClient(GstElement *element, const char *worker_name)
    : element_(element), worker_name_(worker_name) {
  init_debug();
  set_signaller(GST_ROOMCAST_SIGNALLER(g_object_new(GST_TYPE_ROOMCAST_WS_SIGNALLER, nullptr)));
  // Decoders and webrtcbins come and go while PLAYING; their async state changes stay in here.
  // (Passed up, the pipeline would lose its state: live sources stop in PAUSED, so a new
  // decodebin would never get the data it needs to preroll, and everything would stall.)
  g_object_set(element, "async-handling", TRUE, nullptr);
}

GstStateChangeReturn
RoomClient::change_state(GstStateChange transition,
                         const std::function<GstStateChangeReturn()> &chain_up) {
  switch (transition) {
  case GST_STATE_CHANGE_NULL_TO_READY:
    if (!null_to_ready()) return GST_STATE_CHANGE_FAILURE;
    break;
  case GST_STATE_CHANGE_READY_TO_PAUSED:
    ready_to_paused();
    break;
  case GST_STATE_CHANGE_PAUSED_TO_READY:
    paused_to_ready_before();
    break;
  default:
    break;
  }
  GstStateChangeReturn ret = chain_up();
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) paused_to_ready_after();
  if (transition == GST_STATE_CHANGE_READY_TO_NULL) ready_to_null();
  return ret;
}

RoomClient::~RoomClient() {
  if (signaller_) gst_object_unref(signaller_);
}

namespace {
enum CommonProp : guint {
  PROP_SIGNALLER = 1,
  PROP_ROOM,
  PROP_DISPLAY_NAME,
  PROP_STUN_SERVER,
  PROP_TURN_SERVER,
  PROP_ICE_LOOPBACK,
  PROP_LATENCY,
};
static_assert(PROP_LATENCY == RoomClient::kCommonProps);
} // namespace

void RoomClient::install_common_properties(GObjectClass *klass, const char *room_blurb) {
  auto flags = GParamFlags(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      klass, PROP_SIGNALLER,
      g_param_spec_object("signaller", "Signaller",
                          "How the element talks to the room (default: WebSocket; set its "
                          "address with signaller::uri=ws://HOST:PORT/ws)",
                          GST_TYPE_ROOMCAST_SIGNALLER, flags));
  g_object_class_install_property(
      klass, PROP_ROOM, g_param_spec_string("room", "Room", room_blurb, "default", flags));
  g_object_class_install_property(
      klass, PROP_DISPLAY_NAME,
      g_param_spec_string("display-name", "Display name", "Name shown to the room", "", flags));
  g_object_class_install_property(
      klass, PROP_STUN_SERVER,
      g_param_spec_string("stun-server", "STUN server",
                          "stun://HOST:PORT (or stun:HOST:PORT). Set, it replaces the STUN server "
                          "the room suggests (the signalling server's welcome)",
                          nullptr, flags));
  g_object_class_install_property(
      klass, PROP_TURN_SERVER,
      g_param_spec_string("turn-server", "TURN servers",
                          "turn(s)://USER:PASSWORD@HOST:PORT[?transport=tcp], several separated "
                          "by spaces (user and password percent-encoded). Set, they replace the "
                          "TURN servers the room suggests (the signalling server's welcome)",
                          nullptr, flags));
  g_object_class_install_property(
      klass, PROP_ICE_LOOPBACK,
      g_param_spec_boolean("ice-loopback", "ICE loopback",
                           "Gather on 127.0.0.1 as well as on every interface (peers on one "
                           "machine meet even without a network), and no TCP candidates",
                           TRUE, flags));
  g_object_class_install_property(
      klass, PROP_LATENCY,
      g_param_spec_uint("latency", "Latency",
                        "Receive jitterbuffer latency in ms: the floor; raised to fit a lossy or "
                        "jittery link (see stats)",
                        0, 10000, 50, flags));
}

bool RoomClient::set_common_property(GObject *object, guint id, const GValue *value) {
  if (id == PROP_SIGNALLER) {
    if (auto *sig = static_cast<GstRoomcastSignaller *>(g_value_get_object(value));
        sig && !set_signaller(sig))
      GST_WARNING_OBJECT(object, "the signaller can only be changed in the NULL state");
    return true;
  }
  const char *str = G_VALUE_HOLDS_STRING(value) ? g_value_get_string(value) : nullptr;
  std::lock_guard l(lock);
  switch (id) {
  case PROP_ROOM:
    common.room = str && *str ? str : "default";
    return true;
  case PROP_DISPLAY_NAME:
    common.name = str ? str : "";
    return true;
  case PROP_STUN_SERVER:
    common.ice.stun_server = str ? str : "";
    return true;
  case PROP_TURN_SERVER:
    common.ice.turn_servers = ice::split_list(str ? str : "");
    return true;
  case PROP_ICE_LOOPBACK:
    common.ice.loopback = g_value_get_boolean(value);
    return true;
  case PROP_LATENCY:
    common.ice.latency_ms = g_value_get_uint(value);
    return true;
  default:
    return false;
  }
}

bool RoomClient::get_common_property(guint id, GValue *value) const {
  if (id == PROP_SIGNALLER) {
    g_value_take_object(value, ref_signaller());
    return true;
  }
  auto opt = [](const std::string &s) { return s.empty() ? nullptr : s.c_str(); };
  std::lock_guard l(lock);
  switch (id) {
  case PROP_ROOM:
    g_value_set_string(value, common.room.c_str());
    return true;
  case PROP_DISPLAY_NAME:
    g_value_set_string(value, common.name.c_str());
    return true;
  case PROP_STUN_SERVER:
    g_value_set_string(value, opt(common.ice.stun_server));
    return true;
  case PROP_TURN_SERVER:
    g_value_set_string(value, opt(ice::join_list(common.ice.turn_servers)));
    return true;
  case PROP_ICE_LOOPBACK:
    g_value_set_boolean(value, common.ice.loopback);
    return true;
  case PROP_LATENCY:
    g_value_set_uint(value, common.ice.latency_ms);
    return true;
  default:
    return false;
  }
}

bool RoomClient::set_signaller(GstRoomcastSignaller *sig) {
  std::lock_guard l(lock);
  if (active_ || !handlers_.empty()) return false;
  if (signaller_) gst_object_unref(signaller_);
  signaller_ = GST_ROOMCAST_SIGNALLER(gst_object_ref_sink(sig));
  return true;
}

GstRoomcastSignaller *RoomClient::ref_signaller() const {
  std::lock_guard l(lock);
  return signaller_ ? GST_ROOMCAST_SIGNALLER(g_object_ref(signaller_)) : nullptr;
}

bool RoomClient::active() const {
  std::lock_guard l(lock);
  return active_;
}

std::vector<const char *> RoomClient::required_factories() const {
  return {"webrtcbin", "queue", "nicesrc", "dtlssrtpenc"};
}

void RoomClient::on_worker(std::function<void()> fn) {
  // Any thread, and at any time: the pool thread that finishes a detach calls this while the
  // element may be stopping its worker (Worker::invoke holds its own context reference).
  ElementRef hold(element_);
  worker_.invoke([hold, fn = std::move(fn)]() { fn(); });
}

void RoomClient::on_worker_sync(const std::function<void()> &fn) {
  // Only from the state changes, which also start and stop the worker.
  if (!worker_.running() || worker_.on_worker()) {
    fn();
    return;
  }
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  worker_.invoke([&]() {
    fn();
    std::lock_guard l(m);
    done = true;
    cv.notify_one();
  });
  std::unique_lock l(m);
  cv.wait(l, [&] { return done; });
}

// ---- lifecycle ----------------------------------------------------------------------------------

bool RoomClient::null_to_ready() {
  for (const char *f : required_factories()) {
    if (GstElementFactory *factory = gst_element_factory_find(f)) {
      gst_object_unref(factory);
      continue;
    }
    GST_ELEMENT_ERROR(element_, CORE, MISSING_PLUGIN,
                      ("missing element '%s' (is its GStreamer plugin installed?)", f), (nullptr));
    return false;
  }
  GstRoomcastSignaller *sig = ref_signaller();
  if (!sig) {
    GST_ELEMENT_ERROR(element_, CORE, STATE_CHANGE, ("no signaller"), (nullptr));
    return false;
  }
  worker_.start(worker_name_.c_str());
  warm_up_dtls();
  started(worker_.context());
  std::vector<gulong> handlers = {
      g_signal_connect(sig, "joined", G_CALLBACK(on_sig_joined), this),
      g_signal_connect(sig, "peer-joined", G_CALLBACK(on_sig_peer_joined), this),
      g_signal_connect(sig, "peer-left", G_CALLBACK(on_sig_peer_left), this),
      g_signal_connect(sig, "peer-ended", G_CALLBACK(on_sig_peer_ended), this),
      g_signal_connect(sig, "sdp", G_CALLBACK(on_sig_sdp), this),
      g_signal_connect(sig, "ice", G_CALLBACK(on_sig_ice), this),
      g_signal_connect(sig, "prefer", G_CALLBACK(on_sig_prefer), this),
      g_signal_connect(sig, "error", G_CALLBACK(on_sig_error), this),
      g_signal_connect(sig, "ice-servers", G_CALLBACK(on_sig_ice_servers), this),
  };
  {
    std::lock_guard l(lock);
    handlers_ = std::move(handlers);
  }
  g_object_unref(sig);
  return true;
}

void RoomClient::ready_to_paused() {
  std::string room, name;
  {
    std::lock_guard l(lock);
    active_ = true;
    room = common.room;
    name = common.name;
  }
  on_worker_sync([this]() {
    tick_ = g_timeout_source_new_seconds(1);
    g_source_set_callback(
        tick_,
        [](gpointer d) -> gboolean {
          static_cast<RoomClient *>(d)->liveness_and_stats();
          return G_SOURCE_CONTINUE;
        },
        this, nullptr);
    g_source_attach(tick_, worker_.context());
  });
  if (GstRoomcastSignaller *sig = ref_signaller()) {
    gst_roomcast_signaller_start(sig, room.c_str(), role(), name.c_str());
    g_object_unref(sig);
  }
}

void RoomClient::paused_to_ready_before() {
  // Inactive first, on the worker: a rejoin (which runs there and starts the signaller again)
  // cannot come after the stop below. Then no more peers are made either.
  on_worker_sync([this]() {
    std::lock_guard l(lock);
    active_ = false;
  });
  if (GstRoomcastSignaller *sig = ref_signaller()) {
    gst_roomcast_signaller_stop(sig);
    g_object_unref(sig);
  }
  // What the signaller queued before it stopped runs first (and finds us inactive).
  on_worker_sync([this]() {
    std::lock_guard l(lock);
    waiting_.clear();
    roles_.clear();
    own_id_.clear();
    room_ice_ = {};
    refused_ = false;
  });
}

void RoomClient::paused_to_ready_after() {
  // Only now, with every child in READY (streaming stopped, nothing blocked in a paused sink),
  // take the peers down: doing it earlier deadlocks against a thread waiting for preroll.
  on_worker_sync([this]() {
    std::map<std::string, std::shared_ptr<Peer>> peers;
    {
      std::lock_guard l(lock);
      peers = std::exchange(peers_, {});
    }
    for (auto &[id, peer] : peers) {
      peer->detach_now();
      peer_removed(id);
    }
    if (tick_) {
      g_source_destroy(tick_);
      g_source_unref(std::exchange(tick_, nullptr));
    }
  });
}

void RoomClient::ready_to_null() {
  GstRoomcastSignaller *sig = ref_signaller();
  std::vector<gulong> handlers;
  {
    std::lock_guard l(lock);
    handlers = std::exchange(handlers_, {});
  }
  if (sig) {
    for (gulong h : handlers)
      g_signal_handler_disconnect(sig, h);
    g_object_unref(sig);
  }
  stopping();
  worker_.stop();
  finish_warm_up_dtls();
}

void RoomClient::shutdown() {
  stopping();
  worker_.stop();
}

// ---- peers --------------------------------------------------------------------------------------

std::vector<std::shared_ptr<Peer>> RoomClient::peers() const {
  std::vector<std::shared_ptr<Peer>> out;
  std::lock_guard l(lock);
  for (auto &[id, p] : peers_)
    out.push_back(p);
  return out;
}

std::shared_ptr<Peer> RoomClient::find(const std::string &id) const {
  std::lock_guard l(lock);
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second;
}

void RoomClient::add_peer_stats(GstStructure *s) const {
  auto list = peers();
  GValue value = G_VALUE_INIT;
  gst_value_list_init(&value, list.size());
  double total = 0;
  for (auto &p : list) {
    GstStructure *ps = p->stats_structure();
    double b = 0;
    gst_structure_get_double(ps, "bitrate", &b);
    total += b;
    GValue v = G_VALUE_INIT;
    g_value_init(&v, GST_TYPE_STRUCTURE);
    g_value_take_boxed(&v, ps);
    gst_value_list_append_and_take_value(&value, &v);
  }
  gst_structure_set(s, stats_field::kPeerCount, G_TYPE_UINT, guint(list.size()),
                    stats_field::kBitrate, G_TYPE_DOUBLE, total, nullptr);
  gst_structure_take_value(s, stats_field::kPeers, &value);
}

void RoomClient::create_peer(const std::string &id, const std::string &name, GstRoomcastRole role,
                             const PeerPlan &plan) {
  PeerConfig cfg;
  guint full = 0; // the max-peers limit when it is reached
  {
    std::lock_guard l(lock);
    if (!active_ || peers_.contains(id)) return;
    if (common.max_peers && peers_.size() >= common.max_peers) full = common.max_peers;
    cfg.ice = common.ice;
    // Our own STUN and TURN servers win over the room's, kind by kind.
    ice::GstServers use =
        ice::choose_servers(common.ice.stun_server, common.ice.turn_servers, room_ice_);
    cfg.ice.stun_server = use.stun;
    cfg.ice.turn_servers = use.turn;
    cfg.encoded = common.encoded;
    cfg.fec_percentage = common.fec_percentage;
  }
  if (full) {
    // Told at once, so it does not wait for an offer that will never come.
    GST_WARNING_OBJECT(element_, "max-peers (%u) reached; not serving %s", full, id.c_str());
    if (GstRoomcastSignaller *sig = ref_signaller()) {
      g_autofree char *msg = g_strdup_printf("serving %u peers already", full);
      gst_roomcast_signaller_end_peer(sig, id.c_str(), "max-peers", msg);
      g_object_unref(sig);
    }
    return;
  }
  cfg.id = id;
  cfg.name = name;
  cfg.role = role;
  cfg.plan = plan;
  g_autoptr(GError) err = nullptr;
  auto peer = Peer::create(*this, std::move(cfg), &err);
  if (!peer) {
    GST_ELEMENT_ERROR(element_, CORE, MISSING_PLUGIN, ("%s", err->message), (nullptr));
    return;
  }
  {
    // Visible before negotiation starts: callbacks look the peer up by id.
    std::lock_guard l(lock);
    peers_.emplace(id, peer);
  }
  if (!peer->attach(plan.send ? send_sources() : std::vector<SendSource>{}, &err)) {
    GST_ELEMENT_WARNING(element_, CORE, NEGOTIATION, ("%s", err->message), (nullptr));
    end_peer(id, "negotiation-failed", err->message);
    return;
  }
  GST_INFO_OBJECT(element_, "peer %s added (%s)", id.c_str(),
                  plan.offerer ? "we offer" : "it offers");
  peer_added(*peer);
  // A viewer's layer wish goes to each new session with its host (after a rejoin too). A
  // member's goes with its first description to each member (peer_send_sdp): the other side
  // knows the pair only once our offer or answer reached it.
  int prefer;
  {
    std::lock_guard l(lock);
    prefer = common.prefer_layer;
  }
  if (this->role() == GST_ROOMCAST_ROLE_VIEWER && prefer >= 0) send_prefer(*peer, prefer);
}

void RoomClient::send_prefer(const Peer &peer, int layer) {
  GST_INFO_OBJECT(element_, "asking %s for ladder layer %d", peer.id().c_str(), layer);
  if (GstRoomcastSignaller *sig = ref_signaller()) {
    gst_roomcast_signaller_send_prefer(sig, peer.id().c_str(), layer, -1);
    g_object_unref(sig);
  }
}

void RoomClient::set_prefer_layer(int layer) {
  {
    std::lock_guard l(lock);
    if (common.prefer_layer == layer) return;
    common.prefer_layer = layer;
  }
  // A session already there is told now (-1: back to no limit): a viewer's host, or every
  // member of a meeting.
  on_worker([this, layer]() {
    if (role() != GST_ROOMCAST_ROLE_VIEWER && role() != GST_ROOMCAST_ROLE_MEMBER) return;
    for (auto &p : peers())
      if (current(*p)) send_prefer(*p, layer < 0 ? 0 : layer);
  });
}

// Worker: a viewer (of our live room) or a member (of our meeting) asked us for a ladder layer
// (`prefer`), for what we send it. Clamped to our ladder; without one we have nothing to choose
// from. A viewer (roomcastsrc) sends nothing, so it ignores the message (the server relays it
// only to hosts and members anyway).
void RoomClient::handle_prefer(const std::string &id, int layer, int max_height) {
  const GstRoomcastRole me = role();
  if (me != GST_ROOMCAST_ROLE_HOST && me != GST_ROOMCAST_ROLE_MEMBER) {
    GST_DEBUG_OBJECT(element_, "prefer from %s ignored: we send nothing", id.c_str());
    return;
  }
  std::vector<LadderLayer> ladder;
  for (const SendSource &s : send_sources())
    if (s.layers.size() > 1) {
      ladder = s.layers;
      break;
    }
  if (ladder.empty()) {
    GST_DEBUG_OBJECT(element_, "prefer from %s (layer %d, max height %d) ignored: no ladder",
                     id.c_str(), layer, max_height);
    return;
  }
  std::vector<int> heights;
  for (const LadderLayer &l : ladder)
    heights.push_back(l.height);
  const int cap = prefer_to_layer(heights, layer, max_height);
  GST_INFO_OBJECT(element_, "%s %s prefers layer %d (asked: layer %d, max height %d)",
                  me == GST_ROOMCAST_ROLE_MEMBER ? "member" : "viewer", id.c_str(), cap, layer,
                  max_height);
  bool known = when_peer_ready(id, [this, id, cap]() {
    if (auto peer = find(id)) peer->set_layer_cap(cap);
  });
  if (!known) GST_DEBUG_OBJECT(element_, "prefer from unknown peer %s ignored", id.c_str());
}

void RoomClient::end_peer(const std::string &id, const char *reason, const char *message) {
  std::shared_ptr<Peer> peer;
  {
    std::lock_guard l(lock);
    std::erase_if(waiting_, [&](const Waiting &w) { return w.id == id; });
    auto it = peers_.find(id);
    if (it == peers_.end()) return;
    peer = std::move(it->second);
    peers_.erase(it);
  }
  GST_INFO_OBJECT(element_, "ending peer %s (%s%s%s)", id.c_str(), reason ? reason : "left",
                  message ? ": " : "", message ? message : "");
  if (reason) {
    if (GstRoomcastSignaller *sig = ref_signaller()) {
      gst_roomcast_signaller_end_peer(sig, id.c_str(), reason, message);
      g_object_unref(sig);
    }
  }
  {
    std::lock_guard l(lock);
    detaching_[id]++;
  }
  ElementRef hold(element_);
  peer->detach_async([this, hold, id]() {
    peer_removed(id);
    bool gone;
    {
      std::lock_guard l(lock);
      gone = --detaching_[id] <= 0;
      if (gone) detaching_.erase(id);
    }
    // A new session with the same party may wait for this one to be out of the way.
    if (gone) on_worker([this, id]() { serve_waiting_for(id); });
  });
}

// Worker: the new session with `id` that waited for the old one to be removed (see handle_sdp).
void RoomClient::serve_waiting_for(const std::string &id) {
  if (!streams_ready()) return; // serve_waiting() will
  std::optional<Waiting> w;
  {
    std::lock_guard l(lock);
    if (detaching_.contains(id)) return;
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it)
      if (it->id == id) {
        w = std::move(*it);
        waiting_.erase(it);
        break;
      }
  }
  if (!w) return;
  create_peer(w->id, w->name, w->role, w->plan);
  for (auto &fn : w->stashed)
    fn();
}

void RoomClient::end_peer_later(const std::string &id, const char *reason, const char *message) {
  std::string r = reason ? reason : "", m = message ? message : "";
  on_worker([this, id, r, m]() {
    end_peer(id, r.empty() ? nullptr : r.c_str(), m.empty() ? nullptr : m.c_str());
  });
}

void RoomClient::peer_failed(Peer &peer, const char *reason, const char *message) {
  // Only this peer: one that was ended already (a session replaced by a new offer, or one of the
  // session before a rejoin) may fail on its way out, and its id may belong to a new session
  // with the same party by now.
  if (!current(peer)) {
    GST_INFO_OBJECT(element_, "an ended session with %s failed (%s); nothing to do",
                    peer.id().c_str(), message);
    return;
  }
  std::weak_ptr<Peer> weak = peer.weak_from_this();
  std::string id = peer.id(), r = reason ? reason : "", m = message ? message : "";
  on_worker([this, weak, id, r, m]() {
    auto failed = weak.lock();
    if (!failed || find(id) != failed) return;
    std::string text = "the connection with " + id + " failed: " + m;
    // A viewer that found no path to its host tries a new session at once (the host offers
    // again when we join again): a path that came back is found by its first checks.
    bool again =
        role() == GST_ROOMCAST_ROLE_VIEWER && r == "ice-failed" && media_watch_.may_rejoin_now();
    if (!again)
      GST_ELEMENT_WARNING(element_, RESOURCE, READ, ("%s", text.c_str()), ("%s", r.c_str()));
    end_peer(id, r.c_str(), m.c_str());
    if (again) {
      media_watch_.rejoining();
      rejoin(text);
    }
  });
}

bool RoomClient::current(const Peer &peer) const {
  std::lock_guard l(lock);
  auto it = peers_.find(peer.id());
  return it != peers_.end() && it->second.get() == &peer;
}

void RoomClient::peer_send_sdp(Peer &peer, const GstWebRTCSessionDescription *sdp) {
  if (!current(peer)) {
    GST_DEBUG_OBJECT(element_, "not sending a description for ended peer %s", peer.id().c_str());
    return;
  }
  if (GstRoomcastSignaller *sig = ref_signaller()) {
    gst_roomcast_signaller_send_sdp(sig, peer.id().c_str(), sdp);
    g_object_unref(sig);
  }
  // A member's layer wish follows its first description to each member (after it, the other
  // side knows this pair: an answerer makes its peer when our offer comes).
  if (peer.first_description() && role() == GST_ROOMCAST_ROLE_MEMBER) {
    int prefer;
    {
      std::lock_guard l(lock);
      prefer = common.prefer_layer;
    }
    if (prefer >= 0) send_prefer(peer, prefer);
  }
}

void RoomClient::peer_send_ice(Peer &peer, guint mline, const char *candidate, const char *mid) {
  if (!current(peer)) return; // ended (or of a session before a rejoin)
  if (GstRoomcastSignaller *sig = ref_signaller()) {
    gst_roomcast_signaller_send_ice(sig, peer.id().c_str(), mline, candidate, mid);
    g_object_unref(sig);
  }
}

void RoomClient::serve_waiting() {
  std::vector<Waiting> waiting;
  {
    std::lock_guard l(lock);
    if (waiting_.empty()) return;
  }
  if (!streams_ready()) return;
  {
    std::lock_guard l(lock);
    waiting = std::exchange(waiting_, {});
  }
  for (auto &w : waiting) {
    create_peer(w.id, w.name, w.role, w.plan);
    for (auto &fn : w.stashed)
      fn();
  }
}

// Worker: runs `fn` for a peer now, or once it exists if it waits for the streams. False when
// the peer is unknown.
bool RoomClient::when_peer_ready(const std::string &id, std::function<void()> fn) {
  {
    std::lock_guard l(lock);
    if (!peers_.contains(id)) {
      for (auto &w : waiting_)
        if (w.id == id) {
          w.stashed.push_back(std::move(fn));
          return true;
        }
      return false;
    }
  }
  fn();
  return true;
}

void RoomClient::handle_sdp(const std::string &id, GstWebRTCSessionDescription *sdp) {
  std::shared_ptr<GstWebRTCSessionDescription> copy(gst_webrtc_session_description_copy(sdp),
                                                    gst_webrtc_session_description_free);
  auto apply = [this, id, copy]() {
    if (auto peer = find(id)) peer->apply_sdp(copy.get());
  };
  if (sdp->type == GST_WEBRTC_SDP_TYPE_OFFER) {
    GstRoomcastRole from = GST_ROOMCAST_ROLE_HOST;
    bool known;
    {
      std::lock_guard l(lock);
      auto it = roles_.find(id);
      known = it != roles_.end();
      if (known) from = it->second;
    }
    // A viewer's session starts with its host's offer; a new offer replaces the old session
    // (the host came back, or another host took over).
    if (auto plan = plan_for_offer(role(), from); plan && known) {
      // A viewer has one session (with its host); a host answering a player (WHEP) replaces only
      // that player's session, and serves it once its streams are there.
      if (from == GST_ROOMCAST_ROLE_PLAYER) {
        end_peer(id, nullptr, nullptr);
        std::lock_guard l(lock);
        if (detaching_.contains(id) || !streams_ready()) {
          if (active_) waiting_.push_back(Waiting{id, std::string(), from, *plan, {apply}});
          return;
        }
      } else {
        for (auto &p : peers())
          end_peer(p->id(), nullptr, nullptr);
      }
      // The new session cannot start while the old one with the same party (same id: its
      // webrtcbin is named after it) is still in the element: it waits, with the signalling
      // that comes for it, until that one is removed (milliseconds).
      {
        std::lock_guard l(lock);
        if (detaching_.contains(id)) {
          if (active_) waiting_.push_back(Waiting{id, std::string(), from, *plan, {apply}});
          GST_INFO_OBJECT(element_, "the new session with %s waits for the old one to go",
                          id.c_str());
          return;
        }
      }
      create_peer(id, std::string(), from, *plan);
      apply();
      return;
    }
  }
  // Not an error of ours: a peer we ended may still be talking. Logged.
  if (!when_peer_ready(id, apply))
    GST_WARNING_OBJECT(element_, "%s from unknown peer %s ignored",
                       sdp->type == GST_WEBRTC_SDP_TYPE_OFFER ? "offer" : "answer", id.c_str());
}

void RoomClient::liveness_and_stats() {
  gint64 timeout, negotiation;
  {
    std::lock_guard l(lock);
    timeout = gint64(common.peer_timeout_s) * G_USEC_PER_SEC;
    negotiation = gint64(common.negotiation_timeout_s) * G_USEC_PER_SEC;
  }
  gint64 now = g_get_monotonic_time();
  for (auto &p : peers()) {
    if (timeout > 0 && p->connected_us() && now - p->last_rtcp_us() > timeout) {
      g_autofree char *msg =
          g_strdup_printf("no RTCP from the peer for %" G_GINT64_FORMAT " s", timeout / 1000000);
      end_peer(p->id(), "timeout", msg);
      continue;
    }
    // A peer that never answers, or whose connection never forms, gives its slot back. The
    // bound runs from our first offer (its creation, if the offer is late or the peer offers).
    const gint64 since = p->offered_us() ? p->offered_us() : p->created_us();
    if (negotiation > 0 && !p->connected_us() && now - since > negotiation) {
      g_autofree char *msg = g_strdup_printf("no connection within %" G_GINT64_FORMAT
                                             " s (negotiation-timeout; %u offers made)",
                                             negotiation / G_USEC_PER_SEC, p->stats().offers);
      GST_WARNING_OBJECT(element_, "peer %s: %s; ending it", p->id().c_str(), msg);
      end_peer(p->id(), "timeout", msg);
      continue;
    }
    p->poll_stats();
  }
  watch_media();
  tick();
}

// Worker, every second (viewers): no media from the host for media-timeout s -> join again.
void RoomClient::watch_media() {
  if (role() != GST_ROOMCAST_ROLE_VIEWER) return;
  MediaWatch::Sample sample;
  gint64 timeout;
  {
    std::lock_guard l(lock);
    if (!active_ || own_id_.empty()) return;
    timeout = gint64(common.media_timeout_s) * G_USEC_PER_SEC;
    for (auto &[id, r] : roles_)
      if (r == GST_ROOMCAST_ROLE_HOST) sample.host = id;
    sample.refused = refused_;
    if (!peers_.empty()) {
      auto &peer = peers_.begin()->second;
      sample.session = peer->id();
      sample.started_us = peer->created_us();
      sample.connected_us = peer->connected_us();
      sample.bytes = peer->stats().bytes_received;
      sample.rtcp_us = peer->last_rtcp_us();
    }
  }
  media_watch_.set_timeout(timeout);
  GST_LOG_OBJECT(element_,
                 "media watch: host '%s'%s, session '%s', %" G_GUINT64_FORMAT
                 " bytes, rtcp at %" G_GINT64_FORMAT,
                 sample.host.c_str(), sample.refused ? " (refused)" : "", sample.session.c_str(),
                 sample.bytes, sample.rtcp_us);
  const char *rule = "";
  if (!media_watch_.stalled(g_get_monotonic_time(), sample, &rule)) return;
  g_autofree char *why =
      g_str_equal(rule, "no connection")
          ? g_strdup_printf("no connection to the host within %" G_GINT64_FORMAT " s",
                            media_watch_.connect_timeout() / G_USEC_PER_SEC)
          : g_strdup_printf("no media from the host for %" G_GINT64_FORMAT " s",
                            media_watch_.timeout() / G_USEC_PER_SEC);
  media_watch_.rejoining();
  rejoin(why);
}

void RoomClient::rejoin(const std::string &why) {
  std::string room, name;
  {
    std::lock_guard l(lock);
    if (!active_) return;
    room = common.room;
    name = common.name;
  }
  GST_ELEMENT_WARNING(element_, RESOURCE, READ, ("%s; joining the room again", why.c_str()),
                      ("rejoin"));
  media_watch_.restart(g_get_monotonic_time());
  GstRoomcastSignaller *sig = ref_signaller();
  if (!sig) return;
  // Leave and join on the same connection; a signaller that cannot is started over.
  if (!gst_roomcast_signaller_rejoin(sig)) {
    gst_roomcast_signaller_stop(sig);
    gst_roomcast_signaller_start(sig, room.c_str(), role(), name.c_str());
  }
  g_object_unref(sig);
}

// Worker: the room accepted us (`previous` is our id before, if this is a new session after a
// lost connection or a rejoin). The server knows none of the old ids any more: every peer of
// the old session is ended (without a bye, which could not reach it) and the new session is
// served from scratch, by the usual rules (the host offers to viewers as they come back, a
// viewer waits for its host's offer, a meeting's newcomer offers).
void RoomClient::session_started(const std::string &id, const std::string &previous,
                                 GstRoomcastRoomKind kind) {
  std::vector<std::string> old;
  std::string room;
  {
    std::lock_guard l(lock);
    room = common.room;
    if (!previous.empty()) {
      for (auto &[pid, p] : peers_)
        old.push_back(pid);
      waiting_.clear();
    }
  }
  if (!previous.empty())
    GST_INFO_OBJECT(element_, "new session as %s (was %s): ending %zu peers of the old one",
                    id.c_str(), previous.c_str(), old.size());
  for (auto &pid : old)
    end_peer(pid, nullptr, nullptr);
  media_watch_.restart(g_get_monotonic_time());
  GstStructure *s = gst_structure_new(
      kJoinedMessage, "id", G_TYPE_STRING, id.c_str(), "room", G_TYPE_STRING, room.c_str(), "kind",
      G_TYPE_STRING, gst_roomcast_room_kind_to_string(kind), "rejoin", G_TYPE_BOOLEAN,
      !previous.empty(), "previous-id", G_TYPE_STRING, previous.c_str(), nullptr);
  gst_element_post_message(element_, gst_message_new_element(GST_OBJECT(element_), s));
}

// ---- signaller events (signaller thread) --------------------------------------------------------

void RoomClient::on_sig_joined(GstRoomcastSignaller *, const gchar *id, GstRoomcastRoomKind kind,
                               gpointer data) {
  auto *self = static_cast<RoomClient *>(data);
  std::string previous, own = id;
  {
    std::lock_guard l(self->lock);
    previous = std::exchange(self->own_id_, own);
    // The peers the room tells us about from now on are the new session's (their peer-joined
    // follow this signal, on this thread).
    self->roles_.clear();
    self->refused_ = false;
  }
  GST_INFO_OBJECT(self->element_, "joined as %s (%s room)%s%s", id,
                  gst_roomcast_room_kind_to_string(kind), previous.empty() ? "" : ", was ",
                  previous.c_str());
  // In order before the new session's peers (they hop to the worker after this).
  self->on_worker([self, own, previous, kind]() { self->session_started(own, previous, kind); });
}

void RoomClient::on_sig_peer_joined(GstRoomcastSignaller *, const gchar *id, GstRoomcastRole role,
                                    const gchar *name, gboolean existing, gpointer data) {
  auto *self = static_cast<RoomClient *>(data);
  {
    std::lock_guard l(self->lock);
    self->roles_[id] = role;
    if (role == GST_ROOMCAST_ROLE_HOST) self->refused_ = false; // a new host: try it
  }
  auto plan = plan_peer(self->role(), role, existing);
  if (!plan) return;
  Waiting w{id, name ? name : "", role, *plan, {}};
  self->on_worker([self, w = std::move(w)]() mutable {
    if (!self->streams_ready()) {
      GST_DEBUG_OBJECT(self->element_, "peer %s waits for the streams", w.id.c_str());
      std::lock_guard l(self->lock);
      if (self->active_) self->waiting_.push_back(std::move(w));
      return;
    }
    self->create_peer(w.id, w.name, w.role, w.plan);
  });
}

void RoomClient::on_sig_peer_left(GstRoomcastSignaller *, const gchar *id, gpointer data) {
  auto *self = static_cast<RoomClient *>(data);
  std::string pid = id;
  self->on_worker([self, pid]() {
    {
      std::lock_guard l(self->lock);
      self->roles_.erase(pid);
    }
    self->end_peer(pid, nullptr, nullptr);
  });
}

void RoomClient::on_sig_peer_ended(GstRoomcastSignaller *, const gchar *id, const gchar *reason,
                                   const gchar *message, gpointer data) {
  auto *self = static_cast<RoomClient *>(data);
  std::string pid = id, why = reason ? reason : "";
  // A viewer whose host gave up on the connection (no media came through, or no path was
  // found) joins again, so the host offers a new session; other reasons (max-peers,
  // no-common-codec, ...) would only come back.
  bool again =
      self->role() == GST_ROOMCAST_ROLE_VIEWER && (why == "timeout" || why == "ice-failed");
  g_autofree char *text = g_strdup_printf("%s ended the session: %s%s%s", id, why.c_str(),
                                          message && *message ? ": " : "", message ? message : "");
  if (!again) {
    GST_ELEMENT_WARNING(self->element_, RESOURCE, READ, ("%s", text), ("peer-ended"));
    if (self->role() == GST_ROOMCAST_ROLE_VIEWER) {
      std::lock_guard l(self->lock);
      if (self->roles_.contains(pid)) self->refused_ = true;
    }
  }
  std::string t = text;
  self->on_worker([self, pid, again, t]() {
    bool ours = self->find(pid) != nullptr;
    self->end_peer(pid, nullptr, nullptr);
    if (!again || !ours) return;
    if (!self->media_watch_.may_rejoin_now()) {
      // Many fruitless rejoins in a row: the media watch decides when to try again.
      GST_ELEMENT_WARNING(self->element_, RESOURCE, READ, ("%s", t.c_str()), ("peer-ended"));
      return;
    }
    self->media_watch_.rejoining();
    self->rejoin(t);
  });
}

void RoomClient::on_sig_sdp(GstRoomcastSignaller *, const gchar *id,
                            GstWebRTCSessionDescription *sdp, gpointer data) {
  auto *self = static_cast<RoomClient *>(data);
  std::shared_ptr<GstWebRTCSessionDescription> copy(gst_webrtc_session_description_copy(sdp),
                                                    gst_webrtc_session_description_free);
  std::string pid = id;
  // Negotiation goes to the worker too, so it always comes after the peer was created.
  self->on_worker([self, pid, copy]() { self->handle_sdp(pid, copy.get()); });
}

void RoomClient::on_sig_ice(GstRoomcastSignaller *, const gchar *id, guint mline,
                            const gchar *candidate, const gchar *mid, gpointer data) {
  auto *self = static_cast<RoomClient *>(data);
  std::string pid = id, c = candidate ? candidate : "", m = mid ? mid : "";
  self->on_worker([self, pid, c, m, mline]() {
    self->when_peer_ready(pid, [self, pid, c, m, mline]() {
      if (auto peer = self->find(pid)) peer->add_ice(mline, c, m);
    });
  });
}

void RoomClient::on_sig_ice_servers(GstRoomcastSignaller *, const gchar *stun,
                                    const gchar *const *turn, gpointer data) {
  auto *self = static_cast<RoomClient *>(data);
  ice::GstServers servers;
  servers.stun = stun ? stun : "";
  for (const gchar *const *t = turn; t && *t; t++)
    servers.turn.emplace_back(*t);
  GST_INFO_OBJECT(self->element_, "the room suggests %s STUN server and %zu TURN servers",
                  servers.stun.empty() ? "no" : "a", servers.turn.size());
  // Before `joined` (same thread): the new session's peers are made with them.
  std::lock_guard l(self->lock);
  self->room_ice_ = std::move(servers);
}

void RoomClient::on_sig_prefer(GstRoomcastSignaller *, const gchar *id, gint layer, gint max_height,
                               gpointer data) {
  auto *self = static_cast<RoomClient *>(data);
  std::string pid = id ? id : "";
  self->on_worker(
      [self, pid, layer, max_height]() { self->handle_prefer(pid, layer, max_height); });
}

void RoomClient::on_sig_error(GstRoomcastSignaller *, const gchar *message, gboolean fatal,
                              gpointer data) {
  auto *self = static_cast<RoomClient *>(data);
  if (fatal)
    GST_ELEMENT_ERROR(self->element_, RESOURCE, OPEN_READ, ("%s", message), ("signaller error"));
  else
    GST_ELEMENT_WARNING(self->element_, RESOURCE, READ, ("%s", message), ("signaller warning"));
}

} // namespace roomcast
