#include "janus-bridge.h"

#include <algorithm>
#include <utility>

namespace roomcast::janus {

namespace p = proto;

namespace {
constexpr const char *kPlugin = "janus.plugin.videoroom";

JsonObject *object_member(JsonObject *o, const char *name) {
  if (!o || !json_object_has_member(o, name)) return nullptr;
  JsonNode *n = json_object_get_member(o, name);
  return JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : nullptr;
}

// plugindata.data of a plugin's answer or event.
JsonObject *plugin_data(JsonObject *msg) {
  return object_member(object_member(msg, "plugindata"), "data");
}

std::string string_member(JsonObject *o, const char *name) {
  if (!o || !json_object_has_member(o, name)) return {};
  JsonNode *n = json_object_get_member(o, name);
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) return {};
  return json_node_get_string(n);
}

guint64 id_member(JsonObject *o, const char *name) {
  if (!o || !json_object_has_member(o, name)) return 0;
  JsonNode *n = json_object_get_member(o, name);
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) return 0;
  gint64 v = json_node_get_int(n);
  return v > 0 ? guint64(v) : 0;
}

// The plugin's own error in an event ("error" in its data), or empty.
std::string plugin_error(JsonObject *msg) {
  JsonObject *d = plugin_data(msg);
  if (!d) return "no plugin data in the answer";
  return string_member(d, "error").empty() && !json_object_has_member(d, "error_code")
             ? std::string()
             : "videoroom error " + std::to_string(id_member(d, "error_code")) + ": " +
                   string_member(d, "error");
}

// The SDP of a jsep of the given type in a message, or empty.
std::string jsep_sdp(JsonObject *msg, const char *type) {
  JsonObject *j = object_member(msg, "jsep");
  if (!j || string_member(j, "type") != type) return {};
  return string_member(j, "sdp");
}

JsonObject *make_jsep(const char *type, const std::string &sdp) {
  JsonObject *j = json_object_new();
  json_object_set_string_member(j, "type", type);
  json_object_set_string_member(j, "sdp", sdp.c_str());
  return j;
}

std::string hex8() {
  char buf[16];
  g_snprintf(buf, sizeof buf, "%08x", g_random_int());
  return buf;
}
} // namespace

// The host's stream on one node for one room.
struct Bridge::Pub {
  unsigned node = 0;
  std::string vid; // the host sees the node as this viewer
  guint64 handle = 0, jroom = 0, feed = 0;
  bool shown = false; // announced to the host
  bool ready = false; // Janus's PeerConnection with the host is up: viewers may subscribe
  std::uint64_t gen = 0;
  gint64 since_us = 0; // set up since
};

// A viewer served through Janus (or, after falling back, directly).
struct Bridge::Sub {
  std::string viewer, room;
  int node = -1;
  guint64 handle = 0;
  bool direct = false;
  std::uint64_t gen = 0;  // of the current subscription attempt
  std::vector<int> tried; // nodes that failed it
};

struct Bridge::RoomState {
  std::string name, host;
  std::map<unsigned, Pub> pubs;
};

Bridge::Bridge(const std::vector<std::string> &urls, Hooks hooks) : hooks_(std::move(hooks)) {
  for (unsigned i = 0; i < urls.size(); i++) {
    auto node = std::make_unique<Node>(urls[i], i + 1);
    node->on_up = [this, i]() { node_up(i); };
    node->on_down = [this, i]() { node_down(i); };
    node->on_event = [this, i](guint64 sender, JsonObject *msg) { on_event(i, sender, msg); };
    nodes_.push_back(std::move(node));
  }
}

Bridge::~Bridge() {
  if (tick_) g_source_remove(tick_);
}

void Bridge::start() {
  for (auto &n : nodes_)
    n->connect();
  tick_ = g_timeout_add_seconds(1, on_tick, this);
}

// A node that has not got the host's stream up kPubTimeoutUs after it was presented to the host
// (Janus never answered, or the host's connection to it never formed) fails for that room: its
// viewers move to another node, or to the host directly.
gboolean Bridge::on_tick(gpointer data) {
  auto *self = static_cast<Bridge *>(data);
  constexpr gint64 kPubTimeoutUs = 15 * G_USEC_PER_SEC;
  const gint64 now = g_get_monotonic_time();
  std::vector<std::pair<std::string, unsigned>> late;
  for (auto &[name, r] : self->rooms_)
    for (auto &[n, pub] : r->pubs)
      if (!pub.ready && now - pub.since_us > kPubTimeoutUs) late.emplace_back(name, n);
  for (auto &[name, n] : late) {
    RoomState *r = self->room_of(name);
    if (!r) continue;
    g_warning("sfu: janus node %u did not get the host's stream of room %s up within 15 s; not "
              "using it for this room",
              self->nodes_[n]->index(), name.c_str());
    self->failures_++;
    self->end_pub(*r, n, true);
  }
  return G_SOURCE_CONTINUE;
}

Bridge::RoomState *Bridge::room_of(const std::string &name) {
  auto it = rooms_.find(name);
  return it == rooms_.end() ? nullptr : it->second.get();
}

unsigned Bridge::load(unsigned n) const {
  unsigned count = 0;
  for (auto &[id, s] : subs_)
    if (!s->direct && s->node == int(n)) count++;
  return count;
}

// The least loaded node that is up and did not fail this viewer; in a room with a host, one that
// carries (or is setting up) the host's stream.
int Bridge::pick_node(const RoomState *r, int avoid) const {
  int best = -1;
  unsigned best_load = 0;
  for (unsigned n = 0; n < nodes_.size(); n++) {
    if (!nodes_[n]->up() || int(n) == avoid) continue;
    if (r && !r->host.empty() && !r->pubs.contains(n)) continue;
    unsigned l = load(n);
    if (best < 0 || l < best_load) {
      best = int(n);
      best_load = l;
    }
  }
  return best;
}

bool Bridge::hides(const std::string &viewer) const {
  auto it = subs_.find(viewer);
  return it != subs_.end() && !it->second->direct;
}

bool Bridge::viewer_joined(const std::string &room, const std::string &viewer,
                           const std::string &host) {
  RoomState *r = room_of(room);
  int n = pick_node(r, -1);
  if (n < 0) {
    g_message("sfu: viewer %s of room %s is served by its host directly (no Janus node is up%s)",
              viewer.c_str(), room.c_str(), host.empty() ? "" : " with the host's stream");
    return false;
  }
  if (!r) {
    auto state = std::make_unique<RoomState>();
    state->name = room;
    state->host = host;
    r = state.get();
    rooms_.emplace(room, std::move(state));
  }
  auto s = std::make_unique<Sub>();
  s->viewer = viewer;
  s->room = room;
  s->node = n;
  Sub &sub = *s;
  subs_[viewer] = std::move(s);
  g_message("sfu: viewer %s of room %s goes through janus node %u (%u viewers there)",
            viewer.c_str(), room.c_str(), nodes_[n]->index(), load(n));
  auto pub = r->pubs.find(unsigned(n));
  if (pub != r->pubs.end() && pub->second.ready) subscribe(sub);
  return true;
}

bool Bridge::viewer_left(const std::string &viewer) {
  auto it = subs_.find(viewer);
  if (it == subs_.end()) return false;
  std::unique_ptr<Sub> s = std::move(it->second);
  subs_.erase(it);
  if (s->handle && s->node >= 0) nodes_[s->node]->detach(s->handle);
  RoomState *r = room_of(s->room);
  if (r && r->host.empty() &&
      std::none_of(subs_.begin(), subs_.end(), [&](auto &e) { return e.second->room == r->name; }))
    rooms_.erase(r->name);
  return !s->direct;
}

void Bridge::host_joined(const std::string &room, const std::string &host) {
  RoomState *r = room_of(room);
  if (!r) {
    auto state = std::make_unique<RoomState>();
    state->name = room;
    r = state.get();
    rooms_.emplace(room, std::move(state));
  }
  r->host = host;
  for (unsigned n = 0; n < nodes_.size(); n++)
    if (nodes_[n]->up()) setup_pub(*r, n);
}

void Bridge::host_left(const std::string &room) {
  RoomState *r = room_of(room);
  if (!r) return;
  std::vector<unsigned> nodes;
  for (auto &[n, pub] : r->pubs)
    nodes.push_back(n);
  for (unsigned n : nodes)
    end_pub(*r, n, false);
  r->host.clear();
  // Its viewers wait (on their nodes) for the next host.
  bool any = false;
  for (auto &[id, s] : subs_) {
    if (s->room != room) continue;
    any = true;
    if (s->handle && s->node >= 0) nodes_[s->node]->detach(s->handle);
    s->handle = 0;
    s->gen = next_gen_++;
  }
  if (!any) rooms_.erase(room);
}

// Attaches a publisher handle on node n, creates a VideoRoom for the room and presents the node
// to the host as a viewer; the host's offer does the rest (relay()).
void Bridge::setup_pub(RoomState &r, unsigned n) {
  Pub pub;
  pub.node = n;
  pub.gen = next_gen_++;
  pub.since_us = g_get_monotonic_time();
  pub.vid = "sfu" + std::to_string(nodes_[n]->index()) + "-" + hex8();
  r.pubs[n] = pub;
  const std::string room = r.name;
  const std::uint64_t gen = pub.gen;
  auto current = [this, room, n, gen]() -> Pub * {
    RoomState *r = room_of(room);
    if (!r) return nullptr;
    auto it = r->pubs.find(n);
    return it != r->pubs.end() && it->second.gen == gen ? &it->second : nullptr;
  };
  auto fail = [this, room, n, current](const std::string &why) {
    if (!current()) return;
    g_warning("sfu: janus node %u cannot carry room %s: %s", nodes_[n]->index(), room.c_str(),
              why.c_str());
    failures_++;
    end_pub(*room_of(room), n, true);
  };
  nodes_[n]->attach(kPlugin, [this, n, current, fail](JsonObject *a, const std::string &why) {
    Pub *pub = current();
    if (!pub) {
      if (guint64 h = id_member(object_member(a, "data"), "id")) nodes_[n]->detach(h);
      return;
    }
    pub->handle = id_member(object_member(a, "data"), "id");
    if (!pub->handle) {
      fail(a ? "attach answered without a handle id" : why);
      return;
    }
    pub->jroom = (guint64(g_random_int() & 0x1fffff) << 32) | g_random_int();
    JsonObject *body = json_object_new();
    json_object_set_string_member(body, "request", "create");
    json_object_set_int_member(body, "room", gint64(pub->jroom));
    json_object_set_boolean_member(body, "permanent", FALSE);
    json_object_set_boolean_member(body, "is_private", TRUE);
    json_object_set_int_member(body, "publishers", 1);
    json_object_set_string_member(body, "audiocodec", "opus");
    json_object_set_string_member(body, "videocodec", "vp8,vp9,h264");
    // Janus asks the host for a keyframe every 5 s besides passing on its viewers' PLIs: under
    // load, single viewers behind Janus were seen frozen for many seconds while RTP still came
    // (docs/architecture.md, "Scale-out with Janus"); this bounds such a freeze.
    json_object_set_int_member(body, "fir_freq", 5);
    nodes_[n]->message(
        pub->handle, body, nullptr, [this, current, fail](JsonObject *a, const std::string &why) {
          Pub *pub = current();
          if (!pub) return;
          if (!a || !plugin_error(a).empty()) {
            fail(a ? plugin_error(a) : why);
            return;
          }
          if (string_member(plugin_data(a), "videoroom") != "created") {
            fail("unexpected answer to create");
            return;
          }
          RoomState *r = nullptr;
          for (auto &[name, st] : rooms_)
            for (auto &[k, v] : st->pubs)
              if (&v == pub) r = st.get();
          if (!r || r->host.empty()) return;
          pub->shown = true;
          hooks_.send(r->host,
                      p::PeerJoined{{pub->vid, p::Role::Viewer,
                                     "janus node " + std::to_string(nodes_[pub->node]->index())}});
        });
  });
}

// Takes the host's stream off node n (tell_host: the host still has a peer for it, so it hears
// that this "viewer" left); the node's viewers in the room move to another node.
void Bridge::end_pub(RoomState &r, unsigned n, bool tell_host) {
  auto it = r.pubs.find(n);
  if (it == r.pubs.end()) return;
  Pub pub = std::move(it->second);
  r.pubs.erase(it);
  if (pub.handle && nodes_[n]->up()) {
    JsonObject *body = json_object_new();
    json_object_set_string_member(body, "request", "destroy");
    json_object_set_int_member(body, "room", gint64(pub.jroom));
    nodes_[n]->message(pub.handle, body, nullptr, nullptr);
    nodes_[n]->detach(pub.handle);
  }
  if (tell_host && pub.shown && !r.host.empty()) hooks_.send(r.host, p::PeerLeft{pub.vid});
  std::vector<Sub *> moving;
  for (auto &[id, s] : subs_)
    if (s->room == r.name && !s->direct && s->node == int(n)) moving.push_back(s.get());
  for (Sub *s : moving)
    move_sub(*s, "the host's stream left janus node " + std::to_string(nodes_[n]->index()));
}

void Bridge::pub_ready(RoomState &r, unsigned n) {
  auto it = r.pubs.find(n);
  if (it == r.pubs.end() || it->second.ready) return;
  it->second.ready = true;
  g_message("sfu: room %s is published on janus node %u", r.name.c_str(), nodes_[n]->index());
  std::vector<Sub *> waiting;
  for (auto &[id, s] : subs_)
    if (s->room == r.name && !s->direct && s->node == int(n) && !s->handle)
      waiting.push_back(s.get());
  for (Sub *s : waiting)
    subscribe(*s);
}

// A subscriber handle on the viewer's node, joined to the host's feed; Janus's offer goes to the
// viewer as its host's.
void Bridge::subscribe(Sub &s) {
  RoomState *r = room_of(s.room);
  if (!r || s.node < 0) return;
  auto pit = r->pubs.find(unsigned(s.node));
  if (pit == r->pubs.end() || !pit->second.ready) return;
  const unsigned n = unsigned(s.node);
  const guint64 jroom = pit->second.jroom, feed = pit->second.feed;
  s.gen = next_gen_++;
  const std::string viewer = s.viewer;
  const std::uint64_t gen = s.gen;
  auto current = [this, viewer, gen]() -> Sub * {
    auto it = subs_.find(viewer);
    return it != subs_.end() && it->second->gen == gen ? it->second.get() : nullptr;
  };
  nodes_[n]->attach(
      kPlugin, [this, n, jroom, feed, current](JsonObject *a, const std::string &why) {
        Sub *s = current();
        guint64 handle = id_member(object_member(a, "data"), "id");
        if (!s) {
          if (handle) nodes_[n]->detach(handle);
          return;
        }
        if (!handle) {
          failures_++;
          move_sub(*s, a ? "attach answered without a handle id" : why);
          return;
        }
        s->handle = handle;
        JsonObject *body = json_object_new();
        json_object_set_string_member(body, "request", "join");
        json_object_set_string_member(body, "ptype", "subscriber");
        json_object_set_int_member(body, "room", gint64(jroom));
        JsonArray *streams = json_array_new();
        JsonObject *st = json_object_new();
        json_object_set_int_member(st, "feed", gint64(feed));
        json_array_add_object_element(streams, st);
        json_object_set_array_member(body, "streams", streams);
        nodes_[n]->message(
            handle, body, nullptr, [this, current](JsonObject *a, const std::string &why) {
              Sub *s = current();
              if (!s) return;
              std::string sdp = a ? jsep_sdp(a, "offer") : std::string();
              if (sdp.empty()) {
                failures_++;
                move_sub(*s, a ? (plugin_error(a).empty() ? "no offer in Janus's answer to join"
                                                          : plugin_error(a))
                               : why);
                return;
              }
              RoomState *r = room_of(s->room);
              if (!r || r->host.empty()) return;
              g_message("sfu: janus node %u offers viewer %s the host's stream",
                        nodes_[s->node]->index(), s->viewer.c_str());
              p::Offer o;
              o.from = r->host;
              o.sdp = std::move(sdp);
              hooks_.send(s->viewer, o);
            });
      });
}

// The viewer's node failed it (or went down): another node, else its host directly.
void Bridge::move_sub(Sub &s, const std::string &why) {
  if (s.handle && s.node >= 0) nodes_[s.node]->detach(s.handle);
  s.handle = 0;
  s.gen = next_gen_++;
  const int old = s.node;
  if (old >= 0) s.tried.push_back(old);
  RoomState *r = room_of(s.room);
  int n = -1;
  for (unsigned c = 0; c < nodes_.size(); c++) {
    if (!nodes_[c]->up() || std::count(s.tried.begin(), s.tried.end(), int(c))) continue;
    if (r && !r->host.empty() && !r->pubs.contains(c)) continue;
    if (n < 0 || load(c) < load(unsigned(n))) n = int(c);
  }
  if (n < 0) {
    go_direct(s, why);
    return;
  }
  moved_++;
  s.node = n;
  g_message("sfu: viewer %s moves from janus node %u to node %u: %s", s.viewer.c_str(),
            old >= 0 ? nodes_[old]->index() : 0, nodes_[n]->index(), why.c_str());
  subscribe(s); // at once if the host's stream is ready there, else when it is
}

void Bridge::go_direct(Sub &s, const std::string &why) {
  if (s.handle && s.node >= 0) nodes_[s.node]->detach(s.handle);
  s.handle = 0;
  s.direct = true;
  s.node = -1;
  direct_++;
  g_warning("sfu: viewer %s of room %s is served by its host directly from now on (no Janus "
            "node left for it): %s",
            s.viewer.c_str(), s.room.c_str(), why.c_str());
  if (hooks_.show_to_host) hooks_.show_to_host(s.viewer);
}

void Bridge::node_up(unsigned n) {
  for (auto &[name, r] : rooms_)
    if (!r->host.empty() && !r->pubs.contains(n)) setup_pub(*r, n);
}

void Bridge::node_down(unsigned n) {
  // Its handles are gone with its session: forget them first, then move its viewers.
  std::vector<std::string> names;
  for (auto &[name, r] : rooms_)
    names.push_back(name);
  for (auto &name : names) {
    RoomState *r = room_of(name);
    if (!r) continue;
    auto it = r->pubs.find(n);
    if (it != r->pubs.end()) it->second.handle = 0;
    for (auto &[id, s] : subs_)
      if (s->node == int(n)) s->handle = 0;
    end_pub(*r, n, true);
  }
  // Viewers that waited there for a host.
  std::vector<Sub *> left;
  for (auto &[id, s] : subs_)
    if (!s->direct && s->node == int(n)) left.push_back(s.get());
  for (Sub *s : left)
    move_sub(*s, "janus node " + std::to_string(nodes_[n]->index()) + " went down");
}

void Bridge::on_event(unsigned n, guint64 sender, JsonObject *msg) {
  if (!sender) return;
  const std::string kind = string_member(msg, "janus");
  // Whose handle is it?
  RoomState *room = nullptr;
  Pub *pub = nullptr;
  for (auto &[name, r] : rooms_) {
    auto it = r->pubs.find(n);
    if (it != r->pubs.end() && it->second.handle == sender) {
      room = r.get();
      pub = &it->second;
    }
  }
  Sub *sub = nullptr;
  if (!pub)
    for (auto &[id, s] : subs_)
      if (!s->direct && s->node == int(n) && s->handle == sender) sub = s.get();
  if (!pub && !sub) return; // a handle we let go of

  if (kind == "trickle") {
    JsonObject *c = object_member(msg, "candidate");
    if (!c) {
      g_message("sfu: janus node %u: a trickle without a candidate ignored", nodes_[n]->index());
      return;
    }
    p::Ice ice;
    if (!json_object_get_boolean_member_with_default(c, "completed", FALSE)) {
      ice.candidate = string_member(c, "candidate");
      ice.mid = string_member(c, "sdpMid");
      ice.mline_index = int(json_object_get_int_member_with_default(c, "sdpMLineIndex", 0));
      if (ice.candidate.empty() || ice.mline_index < 0 || ice.mline_index > 1023) {
        g_message("sfu: janus node %u: a malformed trickle ignored", nodes_[n]->index());
        return;
      }
    }
    if (pub) {
      ice.from = pub->vid;
      hooks_.send(room->host, ice);
    } else if (RoomState *r = room_of(sub->room); r && !r->host.empty()) {
      ice.from = r->host;
      hooks_.send(sub->viewer, ice);
    }
  } else if (kind == "webrtcup") {
    if (pub)
      pub_ready(*room, n);
    else
      g_debug("sfu: viewer %s receives from janus node %u", sub->viewer.c_str(),
              nodes_[n]->index());
  } else if (kind == "hangup") {
    const std::string reason = string_member(msg, "reason");
    if (pub) {
      g_warning("sfu: janus node %u hung up on the host of room %s (%s)", nodes_[n]->index(),
                room->name.c_str(), reason.c_str());
      failures_++;
      end_pub(*room, n, true);
      setup_pub(*room, n); // present the node again: the host offers anew
    } else {
      g_message("sfu: janus node %u hung up on viewer %s (%s)", nodes_[n]->index(),
                sub->viewer.c_str(), reason.c_str());
    }
  }
}

bool Bridge::relay(const std::string &room, const std::string &from, p::Message &m) {
  RoomState *r = room_of(room);
  if (!r) return false;
  p::Relay &route = *p::relay_of(m);
  // The host to a node.
  if (from == r->host) {
    Pub *pub = nullptr;
    for (auto &[n, pb] : r->pubs)
      if (pb.vid == route.to) pub = &pb;
    if (!pub) return false;
    Node &node = *nodes_[pub->node];
    if (!pub->handle) return true; // being set up again
    const unsigned n = pub->node;
    std::visit(
        p::overloaded{
            [&](p::Offer &o) {
              JsonObject *body = json_object_new();
              json_object_set_string_member(body, "request",
                                            pub->feed ? "configure" : "joinandconfigure");
              if (!pub->feed) {
                json_object_set_int_member(body, "room", gint64(pub->jroom));
                json_object_set_string_member(body, "ptype", "publisher");
                json_object_set_string_member(body, "display", "roomcast host");
              }
              const std::string name = r->name;
              const std::uint64_t gen = pub->gen;
              node.message(pub->handle, body, make_jsep("offer", o.sdp),
                           [this, name, n, gen](JsonObject *a, const std::string &why) {
                             RoomState *r = room_of(name);
                             if (!r) return;
                             auto it = r->pubs.find(n);
                             if (it == r->pubs.end() || it->second.gen != gen) return;
                             Pub &pub = it->second;
                             std::string sdp = a ? jsep_sdp(a, "answer") : std::string();
                             if (sdp.empty()) {
                               g_warning(
                                   "sfu: janus node %u refused the host's offer for room %s: %s",
                                   nodes_[n]->index(), name.c_str(),
                                   a ? (plugin_error(a).empty() ? "no answer in its reply"
                                                                : plugin_error(a).c_str())
                                     : why.c_str());
                               failures_++;
                               end_pub(*r, n, true);
                               return;
                             }
                             if (guint64 id = id_member(plugin_data(a), "id")) pub.feed = id;
                             p::Answer ans;
                             ans.from = pub.vid;
                             ans.sdp = std::move(sdp);
                             hooks_.send(r->host, ans);
                           });
            },
            [&](p::Ice &ice) {
              node.trickle(pub->handle, ice.candidate, ice.mline_index, ice.mid);
            },
            [&](p::Bye &bye) {
              g_message("sfu: the host of room %s ended its session with janus node %u (%s); "
                        "presenting the node again",
                        r->name.c_str(), node.index(), p::to_string(bye.reason));
              end_pub(*r, n, false);
              setup_pub(*r, n);
            },
            [&](auto &) {
              g_message("sfu: an unexpected %s from the host to janus node %u ignored",
                        p::to_string(p::type_of(m)), node.index());
            },
        },
        m);
    return true;
  }
  // A viewer served through Janus to its host.
  auto it = subs_.find(from);
  if (it == subs_.end() || it->second->direct || route.to != r->host) return false;
  Sub &s = *it->second;
  if (!s.handle || s.node < 0) return true; // an old session's; a new offer is coming
  Node &node = *nodes_[s.node];
  std::visit(
      p::overloaded{
          [&](p::Answer &a) {
            JsonObject *body = json_object_new();
            json_object_set_string_member(body, "request", "start");
            const std::string viewer = s.viewer;
            const std::uint64_t gen = s.gen;
            node.message(s.handle, body, make_jsep("answer", a.sdp),
                         [this, viewer, gen](JsonObject *a, const std::string &why) {
                           auto it = subs_.find(viewer);
                           if (it == subs_.end() || it->second->gen != gen) return;
                           std::string err = a ? plugin_error(a) : why;
                           if (err.empty()) return;
                           failures_++;
                           move_sub(*it->second, "start refused: " + err);
                         });
          },
          [&](p::Ice &ice) { node.trickle(s.handle, ice.candidate, ice.mline_index, ice.mid); },
          [&](p::Bye &bye) {
            g_message("sfu: viewer %s ended its session (%s)", s.viewer.c_str(),
                      p::to_string(bye.reason));
            node.detach(s.handle);
            s.handle = 0;
            s.gen = next_gen_++;
          },
          [&](auto &) {
            g_message("sfu: an unexpected %s from viewer %s ignored", p::to_string(p::type_of(m)),
                      s.viewer.c_str());
          },
      },
      m);
  return true;
}

std::string Bridge::metrics() const {
  std::string out;
  auto line = [&](const std::string &s) { out += s + "\n"; };
  line("# HELP roomcast_sfu_node_up Whether a Janus node's session is up (1) or not (0).");
  line("# TYPE roomcast_sfu_node_up gauge");
  for (auto &n : nodes_)
    line("roomcast_sfu_node_up{node=\"" + std::to_string(n->index()) + "\"} " +
         (n->up() ? "1" : "0"));
  line("# HELP roomcast_sfu_viewers Viewers that receive through a Janus node.");
  line("# TYPE roomcast_sfu_viewers gauge");
  for (unsigned i = 0; i < nodes_.size(); i++)
    line("roomcast_sfu_viewers{node=\"" + std::to_string(nodes_[i]->index()) + "\"} " +
         std::to_string(load(i)));
  line("# HELP roomcast_sfu_publishers Live rooms whose host publishes into a Janus node.");
  line("# TYPE roomcast_sfu_publishers gauge");
  for (unsigned i = 0; i < nodes_.size(); i++) {
    unsigned count = 0;
    for (auto &[name, r] : rooms_)
      if (auto it = r->pubs.find(i); it != r->pubs.end() && it->second.ready) count++;
    line("roomcast_sfu_publishers{node=\"" + std::to_string(nodes_[i]->index()) + "\"} " +
         std::to_string(count));
  }
  line("# HELP roomcast_sfu_moves_total Viewers moved to another Janus node.");
  line("# TYPE roomcast_sfu_moves_total counter");
  line("roomcast_sfu_moves_total " + std::to_string(moved_));
  line("# HELP roomcast_sfu_direct_total Viewers handed back to their host (no Janus node left).");
  line("# TYPE roomcast_sfu_direct_total counter");
  line("roomcast_sfu_direct_total " + std::to_string(direct_));
  line("# HELP roomcast_sfu_failures_total Janus requests that failed (errors, no answer).");
  line("# TYPE roomcast_sfu_failures_total counter");
  line("roomcast_sfu_failures_total " + std::to_string(failures_));
  return out;
}

} // namespace roomcast::janus
