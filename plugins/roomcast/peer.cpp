#include "peer.h"

#include "bwe.h"
#include "encoder-pool.h"
#include "layer-switch.h"
#include "rtx-budget.h"
#include "sdp-match.h"

#include <gst/rtp/rtp.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <tuple>
#include <utility>

GST_DEBUG_CATEGORY_STATIC(roomcast_peer_debug);
#define GST_CAT_DEFAULT roomcast_peer_debug

namespace roomcast {

namespace {
// Loss recovery on a transceiver: NACK and retransmission (an rtx payload in the offer, rtxsend
// for what we send, do-retransmission in the receiving jitterbuffer).
void set_loss_recovery(GstWebRTCRTPTransceiver *trans) {
  if (g_object_class_find_property(G_OBJECT_GET_CLASS(trans), "do-nack"))
    g_object_set(trans, "do-nack", TRUE, nullptr);
}

void init_debug() {
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    GST_DEBUG_CATEGORY_INIT(roomcast_peer_debug, "roomcastpeer", 0, "roomcast peer");
    g_once_init_leave(&done, 1);
  }
}

std::vector<std::string> mids_of(const GstWebRTCSessionDescription *desc) {
  std::vector<std::string> mids;
  if (!desc || !desc->sdp) return mids;
  for (guint i = 0; i < gst_sdp_message_medias_len(desc->sdp); i++) {
    const char *mid =
        gst_sdp_media_get_attribute_val(gst_sdp_message_get_media(desc->sdp, i), "mid");
    mids.emplace_back(mid ? mid : "");
  }
  return mids;
}
} // namespace

// What webrtcbin's handlers and promises hold: the peer, weakly.
struct Peer::Callback {
  std::weak_ptr<Peer> peer;
  static Callback *make(const std::shared_ptr<Peer> &p) { return new Callback{p}; }
  static void destroy(gpointer d) { delete static_cast<Callback *>(d); }
  static void closure_destroy(gpointer d, GClosure *) { destroy(d); }
  static std::shared_ptr<Peer> get(gpointer d) { return static_cast<Callback *>(d)->peer.lock(); }
};

Peer::Peer(PeerOwner &owner, PeerConfig cfg)
    : owner_(owner), cfg_(std::move(cfg)),
      latency_({cfg_.ice.latency_ms, std::max<guint>(kMaxLatencyMs, cfg_.ice.latency_ms)}) {
  g_weak_ref_init(&element_, owner.element());
  g_weak_ref_init(&rtp_session_, nullptr);
  created_us_ = g_get_monotonic_time();
}

Peer::~Peer() {
  g_weak_ref_clear(&element_);
  g_weak_ref_clear(&rtp_session_);
  // detach_* normally released everything; a peer that was never attached holds only these.
  if (webrtc_) gst_object_unref(webrtc_);
  for (auto &b : branches_) {
    if (b.tee_pad) gst_object_unref(b.tee_pad);
    if (b.queue) gst_object_unref(b.queue);
    if (b.tee) gst_object_unref(b.tee);
    if (b.codec_caps) gst_caps_unref(b.codec_caps);
    if (b.trans) gst_object_unref(b.trans);
  }
  for (GstElement *d : decoders_)
    gst_object_unref(d);
  for (GstPad *p : pads_)
    gst_object_unref(p);
  for (GstElement *jb : jitterbuffers_)
    gst_object_unref(jb);
}

template <typename F> void Peer::with_owner(F &&fn) {
  if (GObject *el = static_cast<GObject *>(g_weak_ref_get(&element_))) {
    fn(owner_);
    g_object_unref(el);
  }
}

std::shared_ptr<Peer> Peer::create(PeerOwner &owner, PeerConfig cfg, GError **err) {
  init_debug();
  std::shared_ptr<Peer> peer(new Peer(owner, std::move(cfg)));
  g_autofree char *wname = g_strdup_printf("webrtc-%s", peer->id().c_str());
  GstElement *webrtc = gst_element_factory_make("webrtcbin", wname);
  if (!webrtc) {
    g_set_error(err, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                "missing element 'webrtcbin' (install gstreamer1.0-plugins-bad and "
                "gstreamer1.0-nice)");
    return nullptr;
  }
  peer->webrtc_ = GST_ELEMENT(gst_object_ref_sink(webrtc));
  configure_webrtcbin(webrtc, peer->cfg_.ice);
  // Signals first, state changes after.
  auto connect = [&](const char *signal, GCallback cb) {
    g_signal_connect_data(webrtc, signal, cb, Callback::make(peer), Callback::closure_destroy,
                          GConnectFlags(0));
  };
  connect("on-negotiation-needed", G_CALLBACK(on_negotiation_needed));
  connect("on-ice-candidate", G_CALLBACK(on_ice_candidate));
  connect("notify::connection-state", G_CALLBACK(on_connection_state));
  connect("notify::ice-gathering-state", G_CALLBACK(on_gathering_state));
  // Transceivers webrtcbin makes for a remote offer (a viewer's, a member's receive side) ask
  // for retransmissions too.
  // A receive-only peer (a viewer) also accepts FEC when the sender offers it (ULPFEC in RED:
  // webrtcbin then decodes it); it costs nothing when the sender sends none.
  g_signal_connect(webrtc, "on-new-transceiver",
                   G_CALLBACK(+[](GstElement *, GstWebRTCRTPTransceiver *trans, gpointer only) {
                     set_loss_recovery(trans);
                     if (GPOINTER_TO_INT(only))
                       g_object_set(trans, "fec-type", GST_WEBRTC_FEC_TYPE_ULP_RED, nullptr);
                   }),
                   GINT_TO_POINTER(peer->cfg_.plan.receive && !peer->cfg_.plan.send));
  if (peer->cfg_.plan.receive) connect("pad-added", G_CALLBACK(on_pad_added));
  // Our retransmitters (webrtcbin makes one per sent stream with do-nack) answer within a budget.
  if (peer->loss_recovery() && peer->cfg_.plan.send)
    connect("deep-element-added", G_CALLBACK(on_element_added));
  if (GstElement *rtpbin = gst_bin_get_by_name(GST_BIN(webrtc), "rtpbin")) {
    g_signal_connect_data(rtpbin, "on-ssrc-active", G_CALLBACK(on_ssrc_active),
                          Callback::make(peer), Callback::closure_destroy, GConnectFlags(0));
    g_signal_connect_data(rtpbin, "new-jitterbuffer", G_CALLBACK(on_new_jitterbuffer),
                          Callback::make(peer), Callback::closure_destroy, GConnectFlags(0));
    // The peer's streams coming and going, and SSRC collisions: INFO lines, for finding why a
    // stream stopped (docs/architecture.md, "Open ends").
    for (const char *sig :
         {"on-new-ssrc", "on-bye-ssrc", "on-ssrc-collision", "on-bye-timeout", "on-timeout"})
      g_signal_connect_data(rtpbin, sig,
                            G_CALLBACK(+[](GstElement *, guint session, guint ssrc, gpointer d) {
                              auto *what = static_cast<const char *>(d);
                              GST_INFO("rtpbin %s: session %u ssrc %08x", what, session, ssrc);
                            }),
                            const_cast<char *>(sig), nullptr, GConnectFlags(0));
    gst_object_unref(rtpbin);
  }
  return peer;
}

namespace {
// A send branch's probe: rewrites the RTP payload number (buffers and the caps) when the offerer
// numbered our codec differently. The tee's buffers are shared: they are copied before writing.
struct PtRewrite {
  int from, to;
};

// A copy of `caps` whose structures with payload `a` have payload `b`; null stays null.
GstCaps *map_payload(const GstCaps *caps, int a, int b) {
  if (!caps) return nullptr;
  GstCaps *out = gst_caps_copy(caps);
  for (guint i = 0; i < gst_caps_get_size(out); i++) {
    GstStructure *st = gst_caps_get_structure(out, i);
    int pt = -1;
    if (gst_structure_get_int(st, "payload", &pt) && pt == a)
      gst_structure_set(st, "payload", G_TYPE_INT, b, nullptr);
  }
  return out;
}

// Caps and accept-caps queries that cross the rewrite (a probe on the branch queue's src pad),
// answered with the numbers on each side, both ways:
// - from upstream (our payloader, and through the tee every other peer's branch): webrtcbin's sink
//   answers with the offerer's number (its codec preferences), which upstream would otherwise
//   intersect with ours into nothing. Payloaders that ask downstream (rtpopuspay, rtph264pay)
//   then fail with not-negotiated and take the whole input down.
// - from webrtcbin: creating an answer before the branch's first caps reached it, it asks
//   upstream what the branch sends and intersects that with its codec preferences (the
//   offerer's number). A ladder's fixed caps said ours, and the answer refused the video.
// `target` is queried directly, so this probe is not entered again. `in` -> `out` is the
// rewrite in the query's direction.
GstPadProbeReturn answer_across(GstPad *target, GstQuery *query, int in, int out) {
  if (GST_QUERY_TYPE(query) == GST_QUERY_CAPS) {
    GstCaps *filter = nullptr;
    gst_query_parse_caps(query, &filter);
    GstCaps *across = map_payload(filter, in, out);
    GstCaps *result = gst_pad_query_caps(target, across);
    GstCaps *back = map_payload(result, out, in);
    gst_query_set_caps_result(query, back);
    gst_caps_unref(back);
    gst_caps_unref(result);
    if (across) gst_caps_unref(across);
  } else {
    GstCaps *caps = nullptr;
    gst_query_parse_accept_caps(query, &caps);
    GstCaps *across = map_payload(caps, in, out);
    gst_query_set_accept_caps_result(query, across && gst_pad_query_accept_caps(target, across));
    if (across) gst_caps_unref(across);
  }
  return GST_PAD_PROBE_HANDLED;
}

GstPadProbeReturn rewrite_pt_query(GstPad *pad, GstPadProbeInfo *info, int from, int to) {
  GstQuery *query = GST_PAD_PROBE_INFO_QUERY(info);
  if (!(GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_PUSH) ||
      (GST_QUERY_TYPE(query) != GST_QUERY_CAPS && GST_QUERY_TYPE(query) != GST_QUERY_ACCEPT_CAPS))
    return GST_PAD_PROBE_OK;
  GstPad *target = nullptr;
  const bool down = GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM;
  if (down) {
    target = gst_pad_get_peer(pad); // webrtcbin's sink
  } else if (GstElement *queue = gst_pad_get_parent_element(pad)) {
    if (GstPad *qsink = gst_element_get_static_pad(queue, "sink")) {
      target = gst_pad_get_peer(qsink); // the tee's pad
      gst_object_unref(qsink);
    }
    gst_object_unref(queue);
  }
  if (!target) return GST_PAD_PROBE_OK;
  GstPadProbeReturn ret =
      down ? answer_across(target, query, from, to) : answer_across(target, query, to, from);
  gst_object_unref(target);
  return ret;
}

GstPadProbeReturn rewrite_pt(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
  auto *pt = static_cast<PtRewrite *>(data);
  int from = pt->from, to = pt->to;
  if (from < 0 || to < 0 || from == to) return GST_PAD_PROBE_OK;
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_QUERY_BOTH)
    return rewrite_pt_query(pad, info, from, to);
  auto fix = [from, to](GstBuffer *buf) {
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    if (gst_rtp_buffer_map(buf, GST_MAP_READWRITE, &rtp)) {
      if (gst_rtp_buffer_get_payload_type(&rtp) == from) gst_rtp_buffer_set_payload_type(&rtp, to);
      gst_rtp_buffer_unmap(&rtp);
    }
  };
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
    fix(buf);
    GST_PAD_PROBE_INFO_DATA(info) = buf;
  } else if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
    gst_buffer_list_foreach(
        list,
        [](GstBuffer **b, guint, gpointer d) -> gboolean {
          *b = gst_buffer_make_writable(*b);
          (*static_cast<decltype(fix) *>(d))(*b);
          return TRUE;
        },
        &fix);
    GST_PAD_PROBE_INFO_DATA(info) = list;
  } else if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_CAPS) {
    GstCaps *caps = nullptr;
    gst_event_parse_caps(GST_PAD_PROBE_INFO_EVENT(info), &caps);
    GstCaps *fixed = gst_caps_copy(caps);
    gst_caps_set_simple(fixed, "payload", G_TYPE_INT, to, nullptr);
    gst_event_unref(GST_PAD_PROBE_INFO_EVENT(info));
    GST_PAD_PROBE_INFO_DATA(info) = gst_event_new_caps(fixed);
    gst_caps_unref(fixed);
  }
  return GST_PAD_PROBE_OK;
}

} // namespace

// ---- the ladder
// ----------------------------------------------------------------------------------

// A branch fed from a ladder: which layer it forwards (LayerSwitch, on the streaming threads of
// the layers) and which it should (LayerChooser, from the stats poll).
struct LadderBranch {
  std::mutex m;
  std::vector<LadderLayer> layers;
  LayerSwitch sw;
  LayerChooser chooser;
  GstPad *queue_sink = nullptr; // ref: where switch keyframe requests are pushed upstream
  // Nothing passes before the peer is connected: what the branch's queue would hold until then
  // (a second of every layer's packets) would reach the viewer as one burst, which a capped link
  // turns into seconds of loss. The first packet after it is a keyframe (LayerSwitch::restart).
  bool open = false;
  // The first sequence number (as sent) of the layer switched to last, -1 before any switch:
  // retransmission requests for packets before it are for a layer the viewer left (RtxGuard).
  std::atomic<int> switch_seq{-1};
  // The peer's offer gave the transport-wide-cc extension another id than ours, or none (we
  // answer): the ladder's packets carry it at our id, which means something else to that peer
  // (Firefox offers sdes:mid at 3): it is blanked (padding bytes) in what this branch forwards.
  std::atomic<bool> strip_twcc{false};
  guint64 last_nacks = 0, last_bytes = 0; // at the previous stats poll
  // The layers this branch holds (LadderDemand::mask of the switch's current and target): their
  // encoders run. Kept up to date by hold() after every change of either.
  std::shared_ptr<LadderDemand> demand;
  unsigned held = 0;
  LadderBranch(std::vector<LadderLayer> l, std::shared_ptr<LadderDemand> d)
      : layers(std::move(l)), sw(0), chooser(bps_of(layers)), demand(std::move(d)) {
    hold();
  }
  ~LadderBranch() {
    if (demand) demand->move(held, 0);
    if (queue_sink) gst_object_unref(queue_sink);
  }
  // With the lock (or before the branch is shared).
  void hold() {
    const unsigned want = LadderDemand::mask(sw.current(), sw.target());
    if (!demand || want == held) return;
    demand->move(held, want);
    held = want;
  }
  static std::vector<double> bps_of(const std::vector<LadderLayer> &l) {
    std::vector<double> out;
    for (auto &x : l)
      out.push_back(x.bps);
    return out;
  }
  int layer_of(guint ssrc) const {
    for (size_t i = 0; i < layers.size(); i++)
      if (layers[i].ssrc == ssrc) return int(i);
    return -1;
  }
};

// A send branch without a ladder (ladder_probe does the same for a ladder): nothing passes
// before the peer is connected, and then video starts at a frame's first packet. Before, the
// branch filled its queue while ICE and DTLS were under way: webrtcbin held the first packet
// until then, and at the connection the peer got it (seconds old), then the queue's last second
// in one burst, then the live packets. A GStreamer viewer's jitterbuffer took the burst for
// clock skew ("delta - skew ... too big, reset skew") and, on a 50 ms link, went on asking for
// packets before they were sent and never counted one retransmission as a success; its
// latency went to the 1 s ceiling. (1 run in 15 of the 5% loss + 50 ms test.)
struct SendGate {
  std::atomic<bool> open{false};
  bool video = false;
  bool started = false; // streaming thread: video, the end of a frame passed since open
};

namespace {

GstEvent *layer_keyframe_request(int layer) {
  GstEvent *ev = gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0);
  gst_structure_set(gst_event_writable_structure(ev), "roomcast-layer", G_TYPE_INT, layer, nullptr);
  return ev;
}

// With the branch's lock: forwards (rewritten) or drops one packet. Returns the buffer to pass
// on (possibly a new one), or nullptr to drop it.
GstBuffer *ladder_packet(LadderBranch &lb, GstBuffer *buf) {
  LayerSwitch::Packet p;
  {
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    if (!gst_rtp_buffer_map(buf, GST_MAP_READ, &rtp)) return buf;
    p.layer = lb.layer_of(gst_rtp_buffer_get_ssrc(&rtp));
    p.seq = gst_rtp_buffer_get_seq(&rtp);
    p.marker = gst_rtp_buffer_get_marker(&rtp);
    parse_vp8(static_cast<const guint8 *>(gst_rtp_buffer_get_payload(&rtp)),
              gst_rtp_buffer_get_payload_len(&rtp), p.vp8);
    gst_rtp_buffer_unmap(&rtp);
  }
  if (p.layer < 0) return nullptr;
  LayerSwitch::Verdict v = lb.sw.on_packet(p);
  if (!v.forward) return nullptr;
  if (v.switched) {
    lb.switch_seq = v.seq;
    lb.hold(); // the layer left behind may stop
  }
  buf = gst_buffer_make_writable(buf);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (gst_rtp_buffer_map(buf, GST_MAP_READWRITE, &rtp)) {
    gpointer ext = nullptr;
    guint ext_size = 0;
    if (lb.strip_twcc &&
        gst_rtp_buffer_get_extension_onebyte_header(&rtp, kTwccExtId, 0, &ext, &ext_size))
      memset(static_cast<guint8 *>(ext) - 1, 0, ext_size + 1); // ID 0: padding, skipped
    gst_rtp_buffer_set_ssrc(&rtp, lb.layers[0].ssrc);
    gst_rtp_buffer_set_seq(&rtp, v.seq);
    if (p.vp8.has_picture_id)
      write_vp8_picture_id(static_cast<guint8 *>(gst_rtp_buffer_get_payload(&rtp)), p.vp8,
                           v.picture_id);
    gst_rtp_buffer_unmap(&rtp);
  }
  return buf;
}

// The branch's queue sink pad (streaming threads of the ladder's layers, through the funnel and
// the tee): one layer is forwarded, rewritten to one continuous stream; upstream keyframe
// requests (the viewer's PLI/FIR) name the layer the viewer is on, so only that encoder makes
// one.
GstPadProbeReturn ladder_probe(GstPad *, GstPadProbeInfo *info, gpointer data) {
  auto &lb = *static_cast<std::shared_ptr<LadderBranch> *>(data);
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_UPSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (!gst_video_event_is_force_key_unit(ev)) return GST_PAD_PROBE_OK;
    const GstStructure *s = gst_event_get_structure(ev);
    if (s && gst_structure_has_field(s, "roomcast-layer")) return GST_PAD_PROBE_OK;
    int layer;
    {
      std::lock_guard l(lb->m);
      layer = lb->sw.current() >= 0 ? lb->sw.current() : lb->sw.target();
    }
    ev = gst_event_make_writable(ev);
    gst_structure_set(gst_event_writable_structure(ev), "roomcast-layer", G_TYPE_INT, layer,
                      nullptr);
    GST_PAD_PROBE_INFO_DATA(info) = ev;
    return GST_PAD_PROBE_OK;
  }
  std::lock_guard l(lb->m);
  if (!lb->open) return GST_PAD_PROBE_DROP;
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *out = ladder_packet(*lb, GST_PAD_PROBE_INFO_BUFFER(info));
    if (!out) return GST_PAD_PROBE_DROP;
    GST_PAD_PROBE_INFO_DATA(info) = out;
    return GST_PAD_PROBE_OK;
  }
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
    gst_buffer_list_foreach(
        list,
        [](GstBuffer **b, guint, gpointer d) -> gboolean {
          GstBuffer *out = ladder_packet(*static_cast<LadderBranch *>(d), *b);
          if (!out) gst_buffer_unref(*b); // a buffer set to NULL is removed from the list
          *b = out;
          return TRUE;
        },
        lb.get());
    GST_PAD_PROBE_INFO_DATA(info) = list;
    if (gst_buffer_list_length(list) == 0) return GST_PAD_PROBE_DROP;
  }
  return GST_PAD_PROBE_OK;
}

// Streaming thread: whether packet `buf` passes an open gate.
bool gate_passes(SendGate &g, GstBuffer *buf) {
  if (!g.video || g.started) return true;
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (gst_rtp_buffer_map(buf, GST_MAP_READ, &rtp)) {
    g.started = gst_rtp_buffer_get_marker(&rtp); // the next packet starts a frame
    gst_rtp_buffer_unmap(&rtp);
  }
  return false;
}

GstPadProbeReturn gate_probe(GstPad *, GstPadProbeInfo *info, gpointer data) {
  SendGate &g = **static_cast<std::shared_ptr<SendGate> *>(data);
  if (!g.open.load()) return GST_PAD_PROBE_DROP;
  if (!g.video || g.started) return GST_PAD_PROBE_OK;
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER)
    return gate_passes(g, GST_PAD_PROBE_INFO_BUFFER(info)) ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
  GstBufferList *list = gst_buffer_list_make_writable(GST_PAD_PROBE_INFO_BUFFER_LIST(info));
  gst_buffer_list_foreach(
      list,
      [](GstBuffer **b, guint, gpointer d) -> gboolean {
        if (!gate_passes(*static_cast<SendGate *>(d), *b)) {
          gst_buffer_unref(*b); // a buffer set to NULL is removed from the list
          *b = nullptr;
        }
        return TRUE;
      },
      &g);
  GST_PAD_PROBE_INFO_DATA(info) = list;
  return gst_buffer_list_length(list) ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

} // namespace

std::vector<std::shared_ptr<LadderBranch>> Peer::ladder_branches() const {
  std::vector<std::shared_ptr<LadderBranch>> ladders;
  std::lock_guard l(lock_);
  for (const Branch &b : branches_)
    if (b.ladder) ladders.push_back(b.ladder);
  return ladders;
}

void Peer::open_branches() {
  {
    std::lock_guard l(lock_);
    for (const Branch &b : branches_)
      if (b.gate) b.gate->open = true;
  }
  for (auto &lb : ladder_branches()) {
    std::lock_guard l(lb->m);
    if (lb->open) continue;
    lb->open = true;
    lb->sw.restart();
    lb->hold();
  }
}

void Peer::set_layer_cap(int layer) {
  for (auto &lb : ladder_branches()) {
    int target;
    GstPad *pad = nullptr;
    {
      std::lock_guard l(lb->m);
      lb->chooser.set_cap(layer);
      target = lb->chooser.target();
      if (target == lb->sw.target()) continue;
      lb->sw.set_target(target);
      lb->hold();
      if (lb->queue_sink) pad = GST_PAD(gst_object_ref(lb->queue_sink));
    }
    if (pad) {
      gst_pad_push_event(pad, layer_keyframe_request(target));
      gst_object_unref(pad);
    }
  }
}

bool Peer::attach(const std::vector<SendSource> &sources, GError **err) {
  GstElement *el = owner_.element();
  GstBin *bin = GST_BIN(el);
  // Takes its own ref (ours is not floating). Refused when a webrtcbin of that name is still
  // there (the same peer's previous session, being removed).
  if (!gst_bin_add(bin, webrtc_)) {
    g_set_error(err, GST_CORE_ERROR, GST_CORE_ERROR_FAILED,
                "a session with peer %s is still being removed", id().c_str());
    return false;
  }
  for (const SendSource &src : sources) {
    GstElement *queue = gst_element_factory_make("queue", nullptr);
    if (!queue) {
      g_set_error(err, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN, "missing element 'queue'");
      return false;
    }
    gst_object_ref_sink(queue);
    // Bounded in bytes, not time: a queue's time level is the distance between the timestamps
    // that entered and left it, so after a pause in the stream (a 1 frame/s source, a screen
    // that sends a frame only when it changes) the level of a queue holding one packet is the
    // pause itself. With a 1 s bound the queue then counted as full at a frame's second packet
    // and dropped its first: a 1 frame/s stream lost the start of every frame.
    const bool video = !g_strcmp0(
        gst_structure_get_string(gst_caps_get_structure(src.codec_caps, 0), "media"), "video");
    g_object_set(queue, "max-size-buffers", 0, "max-size-bytes",
                 video ? kVideoQueueBytes : kAudioQueueBytes, "max-size-time", guint64(0), nullptr);
    gst_util_set_object_arg(G_OBJECT(queue), "leaky", "downstream");
    gst_bin_add(bin, queue);
    Branch b;
    b.queue = queue;
    b.tee = GST_ELEMENT(gst_object_ref(src.tee));
    b.codec_caps = gst_caps_ref(src.codec_caps);
    b.pt = std::make_shared<PtMap>();
    if (src.layers.size() > 1) {
      b.ladder = std::make_shared<LadderBranch>(src.layers, src.demand);
      b.ladder->queue_sink = gst_element_get_static_pad(queue, "sink");
      gst_pad_add_probe(b.ladder->queue_sink,
                        GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                                        GST_PAD_PROBE_TYPE_EVENT_UPSTREAM),
                        ladder_probe, new std::shared_ptr<LadderBranch>(b.ladder),
                        [](gpointer d) { delete static_cast<std::shared_ptr<LadderBranch> *>(d); });
    } else {
      b.gate = std::make_shared<SendGate>();
      b.gate->video = video;
      g_autoptr(GstPad) qsink = gst_element_get_static_pad(queue, "sink");
      gst_pad_add_probe(qsink,
                        GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                        gate_probe, new std::shared_ptr<SendGate>(b.gate),
                        [](gpointer d) { delete static_cast<std::shared_ptr<SendGate> *>(d); });
    }
    {
      std::lock_guard l(lock_);
      branches_.push_back(b);
    }
    g_autoptr(GstPad) wpad = gst_element_request_pad_simple(webrtc_, "sink_%u");
    g_autoptr(GstPad) qsrc = gst_element_get_static_pad(queue, "src");
    if (!wpad || gst_pad_link(qsrc, wpad) != GST_PAD_LINK_OK) {
      g_set_error(err, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                  "cannot link a send branch to webrtcbin for peer %s", id().c_str());
      return false;
    }
    GstWebRTCRTPTransceiver *trans = nullptr;
    g_object_get(wpad, "transceiver", &trans, nullptr);
    if (trans) {
      g_object_set(trans, "direction",
                   cfg_.plan.receive ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDRECV
                                     : GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                   "codec-preferences", src.codec_caps, nullptr);
      // Retransmission (rtx) for video only: Chromium refuses an offer whose audio m-line has an
      // rtx stream (an FID ssrc-group: "Failed to add remote stream ssrc ... media_type: audio").
      const bool video = !g_strcmp0(
          gst_structure_get_string(gst_caps_get_structure(src.codec_caps, 0), "media"), "video");
      // (on-new-transceiver turned it on for every transceiver webrtcbin made: off again.)
      if (loss_recovery() && video)
        set_loss_recovery(trans);
      else if (g_object_class_find_property(G_OBJECT_GET_CLASS(trans), "do-nack"))
        g_object_set(trans, "do-nack", FALSE, nullptr);
      if (cfg_.fec_percentage)
        g_object_set(trans, "fec-type", GST_WEBRTC_FEC_TYPE_ULP_RED, "fec-percentage",
                     cfg_.fec_percentage, nullptr);
      std::lock_guard l(lock_);
      branches_.back().trans = trans; // adopts the ref
    }
  }
  sync_to_target(webrtc_);
  {
    std::lock_guard l(lock_);
    for (Branch &b : branches_)
      sync_to_target(b.queue);
  }
  // An answerer links its branches when the offer came: the offerer may number our codec
  // differently, and the first caps webrtcbin sees must already carry its number.
  if (cfg_.plan.offerer && !link_branches(err)) return false;
  GST_INFO_OBJECT(el, "peer %s attached (%zu send branches)", id().c_str(), sources.size());
  return true;
}

bool Peer::link_branches(GError **err) {
  struct Todo {
    GstElement *tee, *queue; // refs
    int from, to;
  };
  std::vector<Todo> todo;
  {
    std::lock_guard l(lock_);
    for (Branch &b : branches_)
      if (!b.tee_pad)
        todo.push_back(Todo{GST_ELEMENT(gst_object_ref(b.tee)),
                            GST_ELEMENT(gst_object_ref(b.queue)), b.pt->from, b.pt->to});
  }
  bool ok = true;
  for (auto &[tee, queue, from, to] : todo) {
    if (from >= 0 && to >= 0 && from != to) {
      // Installed before the link: the first caps webrtcbin sees carry the offerer's number.
      g_autoptr(GstPad) qsrc = gst_element_get_static_pad(queue, "src");
      gst_pad_add_probe(qsrc,
                        GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                                        GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM |
                                        GST_PAD_PROBE_TYPE_QUERY_BOTH),
                        rewrite_pt, new PtRewrite{from, to},
                        [](gpointer d) { delete static_cast<PtRewrite *>(d); });
    }
    GstPad *tee_pad = ok ? gst_element_request_pad_simple(tee, "src_%u") : nullptr;
    if (ok && !tee_pad) {
      g_set_error(err, GST_CORE_ERROR, GST_CORE_ERROR_PAD, "the tee gave no pad for peer %s",
                  id().c_str());
      ok = false;
    }
    if (tee_pad) {
      {
        std::lock_guard l(lock_);
        for (Branch &b : branches_)
          if (b.queue == queue) b.tee_pad = tee_pad;
      }
      g_autoptr(GstPad) qsink = gst_element_get_static_pad(queue, "sink");
      if (gst_pad_link(tee_pad, qsink) != GST_PAD_LINK_OK) {
        g_set_error(err, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
                    "cannot link peer %s to the tee", id().c_str());
        ok = false;
      }
    }
    gst_object_unref(tee);
    gst_object_unref(queue);
  }
  return ok;
}

// Worker, answerer: before the offer is applied, each send transceiver takes the payload number
// the offer gives our codec (webrtcbin 1.22 matches an offered m-line to a transceiver only when
// its codec preferences' numbers match) and its branch rewrites ours to it.
void Peer::match_offer(const GstWebRTCSessionDescription *offer) {
  std::vector<std::tuple<GstWebRTCRTPTransceiver *, GstCaps *, std::shared_ptr<PtMap>,
                         std::shared_ptr<LadderBranch>>>
      todo;
  {
    std::lock_guard l(lock_);
    for (Branch &b : branches_)
      if (b.trans && b.codec_caps && !b.tee_pad)
        todo.emplace_back(GST_WEBRTC_RTP_TRANSCEIVER(gst_object_ref(b.trans)),
                          gst_caps_ref(b.codec_caps), b.pt, b.ladder);
  }
  // The id the offer gives the transport-wide-cc extension (-1: none).
  int offer_twcc = -1;
  for (guint i = 0; i < gst_sdp_message_medias_len(offer->sdp); i++) {
    const GstSDPMedia *m = gst_sdp_message_get_media(offer->sdp, i);
    for (guint a = 0; a < gst_sdp_media_attributes_len(m); a++) {
      const GstSDPAttribute *attr = gst_sdp_media_get_attribute(m, a);
      if (g_strcmp0(attr->key, "extmap") == 0 && attr->value && strstr(attr->value, kTwccUri))
        offer_twcc = atoi(attr->value);
    }
  }
  for (auto &[trans, caps, pt, ladder] : todo) {
    // Our transport-cc offer (a ladder's preferences) does not fit this offer: answered without
    // it, and the extension blanked in the branch's packets.
    g_autofree char *ext_field = g_strdup_printf("extmap-%u", kTwccExtId);
    if (gst_structure_has_field(gst_caps_get_structure(caps, 0), ext_field) &&
        offer_twcc != int(kTwccExtId)) {
      GST_INFO("peer %s offers transport-wide-cc at %d (ours %u): not used with it", id().c_str(),
               offer_twcc, kTwccExtId);
      GstCaps *plain = gst_caps_copy(caps);
      gst_structure_remove_fields(gst_caps_get_structure(plain, 0), ext_field,
                                  "rtcp-fb-transport-cc", "rtcp-fb-goog-remb", nullptr);
      g_object_set(trans, "codec-preferences", plain, nullptr);
      {
        std::lock_guard l(lock_);
        for (Branch &b : branches_)
          if (b.codec_caps == caps) {
            gst_caps_unref(b.codec_caps);
            b.codec_caps = gst_caps_ref(plain);
          }
      }
      gst_caps_unref(caps);
      caps = plain; // adopts the ref
      if (ladder) ladder->strip_twcc = true;
    }
    int ours = -1;
    gst_structure_get_int(gst_caps_get_structure(caps, 0), "payload", &ours);
    int theirs = offered_payload(offer->sdp, caps);
    if (theirs < 0) {
      GST_WARNING("peer %s offers no %s we can send; that direction stays off", id().c_str(),
                  gst_structure_get_string(gst_caps_get_structure(caps, 0), "encoding-name"));
    } else if (theirs != ours) {
      GST_INFO("peer %s numbers %s %d (ours %d): rewriting", id().c_str(),
               gst_structure_get_string(gst_caps_get_structure(caps, 0), "encoding-name"), theirs,
               ours);
      GstCaps *prefs = gst_caps_copy(caps);
      gst_caps_set_simple(prefs, "payload", G_TYPE_INT, theirs, nullptr);
      g_object_set(trans, "codec-preferences", prefs, nullptr);
      gst_caps_unref(prefs);
      pt->from = ours;
      pt->to = theirs;
    }
    gst_object_unref(trans);
    gst_caps_unref(caps);
  }
}

// ---- negotiation --------------------------------------------------------------------------------

void Peer::on_negotiation_needed(GstElement *webrtc, gpointer data) {
  auto self = Callback::get(data);
  if (!self || !self->cfg_.plan.offerer) return; // answerers wait for the remote offer
  guint n = ++self->offers_;
  if (n > self->cfg_.max_offers) {
    // Bounded: whatever the peer answers, we never loop offering.
    if (n == self->cfg_.max_offers + 1) {
      GST_WARNING("peer %s: renegotiation %u times; giving up", self->id().c_str(), n - 1);
      self->with_owner([&](PeerOwner &o) {
        o.peer_failed(*self, "negotiation-failed", "the peer keeps rejecting our offers");
      });
    }
    return;
  }
  GstPromise *promise =
      gst_promise_new_with_change_func(on_offer_created, Callback::make(self), Callback::destroy);
  g_signal_emit_by_name(webrtc, "create-offer", nullptr, promise);
}

void Peer::on_offer_created(GstPromise *promise, gpointer data) {
  auto self = Callback::get(data);
  const GstStructure *reply = gst_promise_get_reply(promise);
  GstWebRTCSessionDescription *offer = nullptr;
  if (reply)
    gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
  gst_promise_unref(promise);
  if (!self) {
    if (offer) gst_webrtc_session_description_free(offer);
    return;
  }
  if (!offer) {
    self->with_owner([&](PeerOwner &o) {
      o.peer_failed(*self, "negotiation-failed", "could not create an offer");
    });
    return;
  }
  {
    std::lock_guard l(self->lock_);
    self->mids_ = mids_of(offer);
    // REMB feedback (`goog-remb`) where the codec preferences ask for it: webrtcbin 1.22 writes
    // only nack, nack pli, ccm fir and transport-cc from caps (libgstsdp's caps-to-SDP drops any
    // other rtcp-fb field), so it is added to the offer here. One branch per m-line, in order.
    for (size_t i = 0; i < self->branches_.size() && i < gst_sdp_message_medias_len(offer->sdp);
         i++) {
      const GstCaps *caps = self->branches_[i].codec_caps;
      const GstStructure *cs = caps ? gst_caps_get_structure(caps, 0) : nullptr;
      gboolean remb = FALSE;
      int pt = -1;
      if (!cs || !gst_structure_get_boolean(cs, "rtcp-fb-goog-remb", &remb) || !remb ||
          !gst_structure_get_int(cs, "payload", &pt))
        continue;
      auto *m = const_cast<GstSDPMedia *>(gst_sdp_message_get_media(offer->sdp, guint(i)));
      g_autofree char *fb = g_strdup_printf("%d goog-remb", pt);
      gst_sdp_media_add_attribute(m, "rtcp-fb", fb);
    }
  }
  if (g_autoptr(GstElement) webrtc = self->ref_webrtc())
    g_signal_emit_by_name(webrtc, "set-local-description", offer, nullptr);
  gint64 none = 0;
  self->offered_us_.compare_exchange_strong(none, g_get_monotonic_time());
  self->with_owner([&](PeerOwner &o) { o.peer_send_sdp(*self, offer); });
  GST_DEBUG("offer sent to %s", self->id().c_str());
  gst_webrtc_session_description_free(offer);
}

GstElement *Peer::ref_webrtc() const {
  std::lock_guard l(lock_);
  return webrtc_ ? GST_ELEMENT(gst_object_ref(webrtc_)) : nullptr;
}

// Offerer: the codecs of our send streams that an answer refuses, e.g. "VP9", or "".
std::string Peer::refused_streams(const GstWebRTCSessionDescription *answer) const {
  std::vector<std::string> sent; // our encoding names, by m-line (one branch per m-line)
  {
    std::lock_guard l(lock_);
    for (const Branch &b : branches_)
      if (b.codec_caps)
        sent.emplace_back(
            gst_structure_get_string(gst_caps_get_structure(b.codec_caps, 0), "encoding-name"));
  }
  std::string refused;
  guint n = gst_sdp_message_medias_len(answer->sdp);
  for (guint i = 0; i < sent.size(); i++) {
    bool ok = false;
    if (i < n) {
      const GstSDPMedia *m = gst_sdp_message_get_media(answer->sdp, i);
      bool no_recv = gst_sdp_media_get_attribute_val(m, "sendonly") ||
                     gst_sdp_media_get_attribute_val(m, "inactive");
      ok = gst_sdp_media_get_port(m) != 0 && gst_sdp_media_formats_len(m) > 0 && !no_recv;
      for (guint f = 0; ok && f < gst_sdp_media_formats_len(m); f++) {
        g_autoptr(GstCaps) caps =
            gst_sdp_media_get_caps_from_media(m, atoi(gst_sdp_media_get_format(m, f)));
        const char *name =
            caps ? gst_structure_get_string(gst_caps_get_structure(caps, 0), "encoding-name")
                 : nullptr;
        if (name && g_ascii_strcasecmp(name, sent[i].c_str()) == 0) break;
        if (f + 1 == gst_sdp_media_formats_len(m)) ok = false;
      }
    }
    if (!ok) refused += (refused.empty() ? "" : ", ") + sent[i];
  }
  return refused;
}

void Peer::apply_sdp(const GstWebRTCSessionDescription *sdp) {
  g_autoptr(GstElement) webrtc = ref_webrtc();
  if (!webrtc) return;
  if (sdp->type == GST_WEBRTC_SDP_TYPE_ANSWER && cfg_.plan.offerer) {
    // A peer that refuses what we send (m-line port 0, nothing it can decode) is told so and
    // ended: it would otherwise wait forever, and we would offer again and again.
    std::string refused = refused_streams(sdp);
    if (!refused.empty()) {
      with_owner([&](PeerOwner &o) {
        g_autofree char *msg =
            g_strdup_printf("the peer cannot receive %s (no common codec)", refused.c_str());
        o.peer_failed(*this, "no-common-codec", msg);
      });
      return;
    }
    g_signal_emit_by_name(webrtc, "set-remote-description", sdp, nullptr);
  } else if (sdp->type == GST_WEBRTC_SDP_TYPE_OFFER && !cfg_.plan.offerer) {
    match_offer(sdp);
    g_autoptr(GError) err = nullptr;
    if (!link_branches(&err)) {
      with_owner([&](PeerOwner &o) { o.peer_failed(*this, "negotiation-failed", err->message); });
      return;
    }
    std::weak_ptr<Peer> weak = weak_from_this();
    answer_offer(webrtc, sdp, [weak](GstWebRTCSessionDescription *answer) {
      auto self = weak.lock();
      if (!self) return;
      if (!answer) {
        self->with_owner([&](PeerOwner &o) {
          o.peer_failed(*self, "negotiation-failed", "could not answer the offer");
        });
        return;
      }
      {
        std::lock_guard l(self->lock_);
        self->mids_ = mids_of(answer);
      }
      self->with_owner([&](PeerOwner &o) { o.peer_send_sdp(*self, answer); });
    });
  } else {
    GST_WARNING("peer %s: unexpected %s ignored", id().c_str(),
                sdp->type == GST_WEBRTC_SDP_TYPE_OFFER ? "offer" : "answer");
  }
}

void Peer::add_ice(guint mline, const std::string &candidate, const std::string &) {
  if (candidate.empty()) return; // end of candidates: nothing to do in webrtcbin 1.22
  g_autoptr(GstElement) webrtc = ref_webrtc();
  if (webrtc) g_signal_emit_by_name(webrtc, "add-ice-candidate", mline, candidate.c_str());
}

std::string Peer::mid_of(guint mline) const {
  std::lock_guard l(lock_);
  return mline < mids_.size() ? mids_[mline] : std::string();
}

void Peer::on_ice_candidate(GstElement *, guint mline, gchar *candidate, gpointer data) {
  auto self = Callback::get(data);
  if (!self) return;
  std::string mid = self->mid_of(mline);
  self->with_owner([&](PeerOwner &o) {
    o.peer_send_ice(*self, mline, candidate, mid.empty() ? nullptr : mid.c_str());
  });
}

// Gathering complete: the end of our candidates, as the protocol says (an empty candidate).
void Peer::on_gathering_state(GstElement *webrtc, GParamSpec *, gpointer data) {
  auto self = Callback::get(data);
  if (!self) return;
  GstWebRTCICEGatheringState state;
  g_object_get(webrtc, "ice-gathering-state", &state, nullptr);
  if (state != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE ||
      self->sent_end_of_candidates_.exchange(true))
    return;
  std::string mid = self->mid_of(0);
  self->with_owner(
      [&](PeerOwner &o) { o.peer_send_ice(*self, 0, "", mid.empty() ? nullptr : mid.c_str()); });
}

// ---- connection ---------------------------------------------------------------------------------

void Peer::request_keyframe() {
  std::vector<std::pair<GstPad *, int>> pads;
  {
    std::lock_guard l(lock_);
    for (const Branch &b : branches_)
      if (b.tee_pad) {
        int layer = -1;
        if (b.ladder) {
          std::lock_guard ll(b.ladder->m);
          layer = b.ladder->sw.current() >= 0 ? b.ladder->sw.current() : b.ladder->sw.target();
        }
        pads.emplace_back(GST_PAD(gst_object_ref(b.tee_pad)), layer);
      }
  }
  for (auto [pad, layer] : pads) {
    gst_pad_send_event(pad, layer >= 0 ? layer_keyframe_request(layer)
                                       : gst_video_event_new_upstream_force_key_unit(
                                             GST_CLOCK_TIME_NONE, TRUE, 0));
    gst_object_unref(pad);
  }
}

void Peer::on_connection_state(GstElement *webrtc, GParamSpec *, gpointer data) {
  auto self = Callback::get(data);
  if (!self) return;
  GstWebRTCPeerConnectionState state;
  g_object_get(webrtc, "connection-state", &state, nullptr);
  self->state_ = state;
  GST_INFO("peer %s: connection %s", self->id().c_str(),
           g_enum_get_value(
               static_cast<GEnumClass *>(g_type_class_peek(GST_TYPE_WEBRTC_PEER_CONNECTION_STATE)),
               state)
               ->value_nick);
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED && self->connected_us_ == 0) {
    gint64 now = g_get_monotonic_time();
    self->connected_us_ = now;
    self->last_rtcp_us_ = now;
    self->open_branches();
    // A new peer must see a picture at once.
    self->request_keyframe();
  } else if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) {
    self->with_owner([&](PeerOwner &o) {
      o.peer_failed(*self, "ice-failed", "no network path to the peer (ICE failed)");
    });
  }
}

void Peer::on_ssrc_active(GstElement *, guint, guint, gpointer data) {
  if (auto self = Callback::get(data)) self->last_rtcp_us_ = g_get_monotonic_time();
}

// ---- receiving ----------------------------------------------------------------------------------

// webrtcbin's thread: a remote stream arrived. Its decoder (or parser) is added and linked on
// the worker.
void Peer::on_pad_added(GstElement *, GstPad *pad, gpointer data) {
  auto self = Callback::get(data);
  if (!self || GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  std::weak_ptr<Peer> weak = self;
  self->with_owner([&](PeerOwner &owner) {
    GMainContext *ctx = owner.ref_worker_context();
    if (!ctx) return; // the element is stopping: the pad goes with its webrtcbin
    link_on(ctx, pad, [weak](GstPad *remote) {
      auto p = weak.lock();
      if (!p) return; // detached meanwhile: its webrtcbin goes, and the pad with it
      p->with_owner([&](PeerOwner &o) {
        {
          std::lock_guard l(p->lock_);
          if (p->detached_) return;
        }
        GstElement *dec =
            gst_element_factory_make(p->cfg_.encoded ? "parsebin" : "decodebin", nullptr);
        if (!dec) {
          GST_ELEMENT_WARNING(o.element(), CORE, MISSING_PLUGIN,
                              ("missing element '%s'", p->cfg_.encoded ? "parsebin" : "decodebin"),
                              (nullptr));
          return;
        }
        g_signal_connect_data(dec, "pad-added", G_CALLBACK(on_decoded_pad), Callback::make(p),
                              Callback::closure_destroy, GConnectFlags(0));
        // A frame that retransmission could not save: ask the sender for a keyframe (PLI) and
        // show nothing broken meanwhile, instead of waiting for the encoder's next keyframe.
        g_signal_connect(dec, "deep-element-added",
                         G_CALLBACK(+[](GstBin *, GstBin *, GstElement *e, gpointer) {
                           GObjectClass *k = G_OBJECT_GET_CLASS(e);
                           if (g_object_class_find_property(k, "request-keyframe"))
                             g_object_set(e, "request-keyframe", TRUE, nullptr);
                           if (g_object_class_find_property(k, "wait-for-keyframe"))
                             g_object_set(e, "wait-for-keyframe", TRUE, nullptr);
                         }),
                         nullptr);
        {
          std::lock_guard l(p->lock_);
          p->decoders_.push_back(GST_ELEMENT(gst_object_ref(dec)));
        }
        gst_bin_add(GST_BIN(o.element()), dec);
        sync_to_target(dec);
        g_autoptr(GstPad) sink = gst_element_get_static_pad(dec, "sink");
        if (gst_pad_link(remote, sink) != GST_PAD_LINK_OK)
          GST_ELEMENT_WARNING(o.element(), STREAM, DECODE,
                              ("cannot decode a stream from %s", p->id().c_str()), (nullptr));
      });
    });
    g_main_context_unref(ctx);
  });
}

// A decoder's streaming thread: a decoded stream; exposed by the owner.
void Peer::on_decoded_pad(GstElement *, GstPad *pad, gpointer data) {
  auto self = Callback::get(data);
  if (!self) return;
  self->with_owner([&](PeerOwner &o) {
    {
      std::lock_guard l(self->lock_);
      if (self->detached_) return;
    }
    if (GstPad *exposed = o.peer_expose(*self, pad)) {
      std::lock_guard l(self->lock_);
      self->pads_.push_back(exposed);
    }
  });
}

// ---- receiving: feedback and the jitterbuffer ------------------------------------------------

// A stream arrived (a streaming thread). Its RTP session reports quickly, so that a loss can be
// asked for in time: with feedback (AVPF) rtpsession sends at most one early packet (a NACK, a
// PLI) per regular report interval, and that interval is otherwise set by the session's RTCP
// bandwidth (measured: ~150-500 ms here, so most NACKs went out with the next regular report,
// after the jitterbuffer had given the packet up). Regular reports every ~25 ms cost ~30 kbit/s
// upstream and are also how the sender knows we are alive (peer-timeout).
// The jitterbuffer asks for what it misses (do-retransmission: webrtcbin 1.22 turns it on only
// for transceivers it made itself) and may ask again every 10 ms when the round trip is that
// short (the automatic minimum is a frame's duration, 33-66 ms, too long for a 50 ms latency).
// Its latency is fitted to the link later, in poll_stats.
void Peer::on_new_jitterbuffer(GstElement *rtpbin, GstElement *jb, guint session, guint ssrc,
                               gpointer data) {
  auto self = Callback::get(data);
  if (!self) return;
  GObject *rtp = nullptr;
  g_signal_emit_by_name(rtpbin, "get-internal-session", session, &rtp);
  if (rtp) {
    g_object_set(rtp, "rtcp-min-interval", guint64(kFeedbackIntervalMs * GST_MSECOND),
                 "rtcp-fraction", kRtcpBandwidthBps, nullptr);
    g_object_unref(rtp);
  }
  GST_INFO("peer %s: jitterbuffer for ssrc %08x (session %u)", self->id().c_str(), ssrc, session);
  // (rtx-next-seqnum stays on: it also asks for packets that are only late, and a ladder host
  // reads those requests as its viewer's queue growing. Measured with it off: a 600 kbit/s
  // viewer stayed on the half layer, 90-94% of its frames, instead of the quarter, 95-100%. The
  // requests it makes for packets not sent yet are dropped by the host.)
  if (self->loss_recovery())
    g_object_set(jb, "do-retransmission", TRUE, "rtx-min-retry-timeout", 10, nullptr);
  std::lock_guard l(self->lock_);
  if (self->detached_) return;
  g_object_set(jb, "latency", self->latency_.current(), nullptr);
  self->jitterbuffers_.push_back(GST_ELEMENT(gst_object_ref(jb)));
}

// Worker, with the stats poll: the jitterbuffers' counters, and their latency fitted to the
// round trip (as measured by retransmissions) and the jitter.
void Peer::poll_jitterbuffers() {
  std::vector<GstElement *> jbs;
  {
    std::lock_guard l(lock_);
    for (GstElement *jb : jitterbuffers_)
      jbs.push_back(GST_ELEMENT(gst_object_ref(jb)));
  }
  guint64 rtt_ns = 0, jitter_ns = 0, requested = 0, recovered = 0, lost = 0;
  for (GstElement *jb : jbs) {
    GstStructure *st = nullptr;
    g_object_get(jb, "stats", &st, nullptr);
    if (st) {
      guint64 v = 0;
      if (gst_structure_get_uint64(st, "rtx-rtt", &v)) rtt_ns = std::max(rtt_ns, v);
      if (gst_structure_get_uint64(st, "avg-jitter", &v)) jitter_ns = std::max(jitter_ns, v);
      if (gst_structure_get_uint64(st, "rtx-count", &v)) requested += v;
      if (gst_structure_get_uint64(st, "rtx-success-count", &v)) recovered += v;
      if (gst_structure_get_uint64(st, "num-lost", &v)) lost += v;
      gst_structure_free(st);
    }
  }
  std::optional<guint> set;
  {
    std::lock_guard l(lock_);
    // Lossy: the jitterbuffers asked for packets (or gave some up) since the last poll.
    bool lossy = requested > stats_.rtx_requested || lost > stats_.packets_given_up;
    if (auto changed =
            latency_.sample(guint(rtt_ns / GST_MSECOND), guint(jitter_ns / GST_MSECOND), lossy))
      set = *changed;
    stats_.rtx_requested = requested;
    stats_.rtx_recovered = recovered;
    stats_.packets_given_up = lost;
    stats_.latency_ms = latency_.current();
  }
  // Ask again after a little more than a round trip (the automatic timeout is about two, which
  // left one retry inside the latency at a 100 ms round trip).
  gint retry_ms =
      rtt_ns
          ? gint(std::clamp<guint64>((rtt_ns * 5 / 4 + 2 * jitter_ns) / GST_MSECOND + 5, 10, 1000))
          : -1;
  for (GstElement *jb : jbs) {
    if (set) g_object_set(jb, "latency", *set, nullptr);
    if (retry_ms > 0) g_object_set(jb, "rtx-retry-timeout", retry_ms, nullptr);
    gst_object_unref(jb);
  }
  if (set)
    GST_INFO("peer %s: jitterbuffer latency now %u ms (round trip %" G_GUINT64_FORMAT
             " ms, jitter %" G_GUINT64_FORMAT " ms)",
             id().c_str(), *set, rtt_ns / GST_MSECOND, jitter_ns / GST_MSECOND);
}

// A retransmitter's budget, shared by its two probes (streaming thread and RTCP thread).
struct Peer::RtxGuard {
  std::mutex lock;
  RtxBudget budget;
  // The media it passes (its sink): the stream and its latest sequence number, what padding
  // asks to be sent again.
  guint ssrc = 0;
  guint16 last_seq = 0;
  bool seen = false;
  guint64 padding = 0; // retransmissions we asked for ourselves (padding), not the peer
  guint64 repeats = 0; // second copies of the peer's retransmissions (kRtxRepeatMs)
  guint64 stale = 0;   // requests for a layer the viewer left, dropped
  guint64 ahead = 0;   // requests for packets not sent yet, dropped
  std::weak_ptr<LadderBranch> ladder; // the ladder this stream carries, if any
  bool pads = false; // it carries a ladder: padding probes need ssrc and last_seq (per packet)
  GWeakRef rtxsend;  // the retransmitter it guards (for its count of packets sent again)
  std::weak_ptr<Peer> peer; // whose worker sends the second copies
  explicit RtxGuard(GstElement *e) { g_weak_ref_init(&rtxsend, e); }
  ~RtxGuard() { g_weak_ref_clear(&rtxsend); }
  // Asks the retransmitter itself (past the budget's probe, which lets requests marked
  // roomcast-padding or roomcast-repeat through) to send a packet again. Takes `request`;
  // false when the retransmitter is gone.
  bool request(GstStructure *request) {
    GstElement *e = static_cast<GstElement *>(g_weak_ref_get(&rtxsend));
    GstPad *pad = e ? gst_element_get_static_pad(e, "src") : nullptr;
    if (pad)
      gst_pad_send_event(pad, gst_event_new_custom(GST_EVENT_CUSTOM_UPSTREAM, request));
    else
      gst_structure_free(request);
    if (pad) gst_object_unref(pad);
    if (e) gst_object_unref(e);
    return pad != nullptr;
  }
};

// Any thread: an element appeared somewhere inside webrtcbin. An rtprtxsend gets a budget: the
// media it passes earns retransmissions, the requests (upstream events from the RTP session's
// NACKs) spend them, and a request beyond the budget is dropped before it reaches it.
void Peer::on_element_added(GstBin *, GstBin *, GstElement *element, gpointer data) {
  GstElementFactory *f = gst_element_get_factory(element);
  if (f && g_str_equal(GST_OBJECT_NAME(f), "rtpsession")) {
    // The peer's RTCP feedback: its REMBs (the RTCP thread, see on_feedback_rtcp).
    auto self = Callback::get(data);
    GObject *session = nullptr;
    if (self) g_object_get(element, "internal-session", &session, nullptr);
    // Its transport-cc figures (twcc-stats) are read at each stats poll. webrtcbin bundles every
    // stream into one session; the first one is kept.
    if (self) {
      GObject *had = static_cast<GObject *>(g_weak_ref_get(&self->rtp_session_));
      if (had)
        g_object_unref(had);
      else
        g_weak_ref_set(&self->rtp_session_, element);
    }
    if (session) {
      g_signal_connect_data(session, "on-feedback-rtcp", G_CALLBACK(on_feedback_rtcp),
                            Callback::make(self), Callback::closure_destroy, GConnectFlags(0));
      g_object_unref(session);
    }
    return;
  }
  if (!f || !g_str_equal(GST_OBJECT_NAME(f), "rtprtxsend")) return;
  auto self = Callback::get(data);
  if (!self) return;
  auto guard = std::make_shared<RtxGuard>(element);
  guard->peer = self;
  {
    std::lock_guard l(self->lock_);
    self->rtx_guards_.push_back(guard);
    // Retransmission is for video only, and a peer has one video stream: its ladder, if any.
    for (const Branch &b : self->branches_)
      if (b.ladder) {
        guard->ladder = b.ladder;
        guard->pads = true;
      }
  }
  auto hold = [](const std::shared_ptr<RtxGuard> &g) { return new std::shared_ptr<RtxGuard>(g); };
  auto release = [](gpointer d) { delete static_cast<std::shared_ptr<RtxGuard> *>(d); };
  if (GstPad *sink = gst_element_get_static_pad(element, "sink")) {
    gst_pad_add_probe(
        sink, GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
        [](GstPad *, GstPadProbeInfo *info, gpointer d) -> GstPadProbeReturn {
          auto &g = *static_cast<std::shared_ptr<RtxGuard> *>(d);
          const bool list = GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER_LIST;
          GstBufferList *bl = list ? GST_PAD_PROBE_INFO_BUFFER_LIST(info) : nullptr;
          guint n = list ? gst_buffer_list_length(bl) : 1;
          GstBuffer *last = list ? (n ? gst_buffer_list_get(bl, n - 1) : nullptr)
                                 : GST_PAD_PROBE_INFO_BUFFER(info);
          GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
          std::lock_guard l(g->lock);
          g->budget.sent(n);
          // Only a ladder's stream is padded: no per-packet read for the others.
          if (g->pads && last && gst_rtp_buffer_map(last, GST_MAP_READ, &rtp)) {
            g->ssrc = gst_rtp_buffer_get_ssrc(&rtp);
            g->last_seq = gst_rtp_buffer_get_seq(&rtp);
            g->seen = true;
            gst_rtp_buffer_unmap(&rtp);
          }
          return GST_PAD_PROBE_OK;
        },
        hold(guard), release);
    gst_object_unref(sink);
  }
  if (GstPad *src = gst_element_get_static_pad(element, "src")) {
    gst_pad_add_probe(
        src, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
        [](GstPad *, GstPadProbeInfo *info, gpointer d) -> GstPadProbeReturn {
          GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
          if (GST_EVENT_TYPE(ev) != GST_EVENT_CUSTOM_UPSTREAM ||
              !gst_event_has_name(ev, "GstRTPRetransmissionRequest"))
            return GST_PAD_PROBE_OK;
          const GstStructure *st = gst_event_get_structure(ev);
          if (st && (gst_structure_has_field(st, "roomcast-padding") ||
                     gst_structure_has_field(st, "roomcast-repeat")))
            return GST_PAD_PROBE_OK;
          auto &g = *static_cast<std::shared_ptr<RtxGuard> *>(d);
          guint seq = 0;
          if (auto lb = g->ladder.lock(); lb && st && gst_structure_get_uint(st, "seqnum", &seq)) {
            const int from = lb->switch_seq.load();
            // Before the last switch (16-bit sequence numbers, compared modulo).
            if (from >= 0 && gint16(guint16(seq) - guint16(from)) < 0) {
              std::lock_guard l(g->lock);
              g->stale++;
              return GST_PAD_PROBE_DROP;
            }
            // Not sent yet: a receiver that expects packets at the pace so far (rtpjitterbuffer's
            // rtx-next-seqnum, on by default) asks for the next one when a frame is late (a
            // layer's encoder starting, a busy machine). Nothing was lost: dropped here, the
            // request is neither a retransmission nor the loss the chooser steps down on.
            std::lock_guard l(g->lock);
            if (g->seen && gint16(guint16(seq) - g->last_seq) > 0) {
              g->ahead++;
              return GST_PAD_PROBE_DROP;
            }
          }
          bool repeat;
          {
            std::lock_guard l(g->lock);
            if (!g->budget.take()) return GST_PAD_PROBE_DROP;
            // The copy is paid from savings, while they are ample (RtxBudget::take_extra).
            // Not on a ladder's stream: its viewer's losses are mostly its link's congestion,
            // which copies would add to, and the chooser reads the requests asked again as
            // that loss (measured: with copies, a 600 kbit/s viewer stayed on the half layer
            // at ~7% of its frames lost, where it used to step down to the quarter).
            repeat = st && !g->pads && g->budget.take_extra();
            if (repeat) g->repeats++;
          }
          if (repeat) repeat_retransmission(g, st);
          return GST_PAD_PROBE_OK;
        },
        hold(guard), release);
    gst_object_unref(src);
  }
}

// The RTCP thread: a retransmission the peer asked for (and got) is sent a second time
// kRtxRepeatMs later. A receiver asks again only after its idea of the round trip, and a
// receive-only browser knows none: Chromium waits 100 ms (its default) before asking again, so
// each lost retransmission cost a 100 ms pause at least (measured at 5% loss: pauses of 333 ms
// from a lost NACK and a lost retransmission). With two copies, the retransmission is lost only
// if both are (0.25% instead of 5% at 5% random loss); they are spaced so that a short burst
// does not take both. What it costs: one packet more per retransmitted packet.
void Peer::repeat_retransmission(const std::shared_ptr<RtxGuard> &guard, const GstStructure *st) {
  auto peer = guard->peer.lock();
  if (!peer) return;
  GMainContext *ctx = nullptr;
  peer->with_owner([&](PeerOwner &o) { ctx = o.ref_worker_context(); });
  if (!ctx) return;
  struct Repeat {
    std::weak_ptr<RtxGuard> guard;
    GstStructure *request;
  };
  GstStructure *copy = gst_structure_copy(st);
  gst_structure_set(copy, "roomcast-repeat", G_TYPE_BOOLEAN, TRUE, nullptr);
  GSource *src = g_timeout_source_new(kRtxRepeatMs);
  g_source_set_callback(
      src,
      [](gpointer d) -> gboolean {
        auto *r = static_cast<Repeat *>(d);
        if (auto g = r->guard.lock()) g->request(std::exchange(r->request, nullptr));
        return G_SOURCE_REMOVE;
      },
      new Repeat{guard, copy},
      [](gpointer d) {
        auto *r = static_cast<Repeat *>(d);
        if (r->request) gst_structure_free(r->request);
        delete r;
      });
  g_source_attach(src, ctx);
  g_source_unref(src);
  g_main_context_unref(ctx);
}

// The RTCP thread (rtpsession's on-feedback-rtcp, emitted without the session's lock): a REMB
// (payload-specific feedback, application layer, "REMB") is the peer's own estimate of what its
// link carries. Only numbers are kept, in atomics; the stats poll reads them.
void Peer::on_feedback_rtcp(GObject *, guint type, guint fbtype, guint, guint, GstBuffer *fci,
                            gpointer data) {
  GST_LOG("feedback %u/%u (%" G_GSIZE_FORMAT " bytes)", type, fbtype,
          fci ? gst_buffer_get_size(fci) : 0);
  if (type != GST_RTCP_TYPE_PSFB || fbtype != GST_RTCP_PSFB_TYPE_AFB || !fci) return;
  GstMapInfo map;
  if (!gst_buffer_map(fci, &map, GST_MAP_READ)) return;
  double bps = 0;
  const bool remb = parse_remb(map.data, map.size, bps);
  gst_buffer_unmap(fci, &map);
  if (!remb) return;
  auto self = Callback::get(data);
  if (!self) return;
  self->remb_bps_ = bps;
  self->remb_us_ = g_get_monotonic_time();
  self->rembs_++;
}

// ---- padding probes (LayerChooser::State::Padding) ---------------------------------------------

// Asks our retransmitters to send again packets the peer already has, `bps` bit/s more than the
// media (0: stop): a probe of a higher layer's rate that the viewer's picture does not depend on.
// Any thread; the requests are made on the worker, every 20 ms.
void Peer::set_padding(double bps) {
  if (bps <= 0) {
    padding_stopped_ = false;
  } else if (padding_stopped_) {
    return; // stopped by the peer's NACKs (pad_tick): not again in this probe
  }
  const bool was = padding_bps_.exchange(bps) > 0;
  if (was || bps <= 0) return;
  padding_restart_ = true;
  GMainContext *ctx = nullptr;
  with_owner([&](PeerOwner &o) { ctx = o.ref_worker_context(); });
  if (!ctx) return;
  GSource *src = g_timeout_source_new(kPaddingTickMs);
  g_source_set_callback(
      src,
      [](gpointer d) -> gboolean {
        auto p = static_cast<std::weak_ptr<Peer> *>(d)->lock();
        return p && p->pad_tick() ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
      },
      new std::weak_ptr<Peer>(weak_from_this()),
      [](gpointer d) { delete static_cast<std::weak_ptr<Peer> *>(d); });
  g_source_attach(src, ctx);
  g_source_unref(src);
  g_main_context_unref(ctx);
}

// Worker, every kPaddingTickMs while padding: requests for the bytes due since the last tick
// (the media's recent packets in turn, ~1,100 bytes each). False: padding is over.
bool Peer::pad_tick() {
  const double bps = padding_bps_.load();
  if (bps <= 0) {
    padding_due_ = 0;
    return false;
  }
  std::vector<std::shared_ptr<RtxGuard>> guards;
  {
    std::lock_guard l(lock_);
    guards = rtx_guards_;
  }
  // The peer's own requests (NACKs) since the probe began: a queue overflowing already. The
  // padding stops at once rather than at the next stats poll (which then fails the probe), so
  // that the viewer's own packets are not lost behind it for long.
  guint64 asked = 0;
  for (auto &g : guards) {
    std::lock_guard gl(g->lock);
    asked += g->budget.granted() + g->budget.refused();
  }
  if (padding_restart_.exchange(false)) padding_asked_at_start_ = asked;
  if (asked > padding_asked_at_start_ + kPaddingNackStop) {
    padding_stopped_ = true;
    padding_bps_ = 0;
    padding_due_ = 0;
    for (auto &g : guards) {
      std::lock_guard gl(g->lock);
      g->budget.limit(kPaddingFailedRtx);
    }
    GST_INFO(
        "peer %s: padding (probe of the layer above) stopped: the peer asked for %" G_GUINT64_FORMAT
        " packets again",
        id().c_str(), asked - padding_asked_at_start_);
    return false;
  }
  padding_due_ += bps / 8.0 * kPaddingTickMs / 1000.0;
  constexpr double kPacketBytes = 1100;
  constexpr int kSpan = 24; // how far back the packets sent again go
  while (padding_due_ >= kPacketBytes) {
    padding_due_ -= kPacketBytes;
    bool sent = false;
    for (auto &g : guards) {
      guint ssrc, seq;
      {
        std::lock_guard gl(g->lock);
        if (!g->seen) continue;
        ssrc = g->ssrc;
        seq = guint16(g->last_seq - 1 - (padding_round_ % kSpan));
        g->padding++;
      }
      if (!g->request(gst_structure_new("GstRTPRetransmissionRequest", "seqnum", G_TYPE_UINT, seq,
                                        "ssrc", G_TYPE_UINT, ssrc, "roomcast-padding",
                                        G_TYPE_BOOLEAN, TRUE, nullptr)))
        continue;
      sent = true;
      break; // one stream carries it (video: the ladder's)
    }
    padding_round_++;
    if (!sent) {
      padding_due_ = 0;
      break;
    }
  }
  return true;
}

// Worker: how many packets our retransmitters sent again and how many requests their budgets
// refused (the retransmitters are the ones on_element_added found).
void Peer::poll_retransmitted() {
  std::vector<std::shared_ptr<RtxGuard>> guards;
  {
    std::lock_guard l(lock_);
    guards = rtx_guards_;
  }
  guint64 sent = 0, requests = 0, refused = 0, padding = 0, repeats = 0, ahead = 0;
  for (auto &g : guards) {
    if (GObject *e = static_cast<GObject *>(g_weak_ref_get(&g->rtxsend))) {
      guint n = 0, r = 0;
      g_object_get(e, "num-rtx-packets", &n, "num-rtx-requests", &r, nullptr);
      sent += n;
      requests += r;
      g_object_unref(e);
    }
    std::lock_guard gl(g->lock);
    refused += g->budget.refused();
    padding += g->padding;
    repeats += g->repeats;
    ahead += g->ahead;
  }
  std::lock_guard l(lock_);
  stats_.retransmitted = sent;
  stats_.rtx_requests = requests >= padding + repeats ? requests - padding - repeats : 0;
  stats_.padding_requests = padding;
  stats_.rtx_repeats = repeats;
  stats_.rtx_ahead = ahead;
  stats_.rtx_refused = refused;
}

// ---- stats --------------------------------------------------------------------------------------

void Peer::poll_stats() {
  g_autoptr(GstElement) webrtc = ref_webrtc();
  if (!webrtc) return;
  if (cfg_.plan.receive) poll_jitterbuffers();
  GstPromise *promise = gst_promise_new_with_change_func(
      on_stats, Callback::make(shared_from_this()), Callback::destroy);
  g_signal_emit_by_name(webrtc, "get-stats", nullptr, promise);
  // A ladder viewer's layer is chosen from these stats: polled twice a second (one more here,
  // half-way to the next tick), so that a link that shrinks is left within ~1 s.
  bool ladder = false;
  {
    std::lock_guard l(lock_);
    for (const Branch &b : branches_)
      ladder = ladder || b.ladder;
  }
  if (!ladder) return;
  GMainContext *ctx = nullptr;
  with_owner([&](PeerOwner &o) { ctx = o.ref_worker_context(); });
  if (!ctx) return;
  std::weak_ptr<Peer> weak = shared_from_this();
  GSource *src = g_timeout_source_new(500);
  g_source_set_callback(
      src,
      [](gpointer d) -> gboolean {
        if (auto p = static_cast<std::weak_ptr<Peer> *>(d)->lock())
          if (GstElement *w = p->ref_webrtc()) {
            GstPromise *pr =
                gst_promise_new_with_change_func(on_stats, Callback::make(p), Callback::destroy);
            g_signal_emit_by_name(w, "get-stats", nullptr, pr);
            gst_object_unref(w);
          }
        return G_SOURCE_REMOVE;
      },
      new std::weak_ptr<Peer>(weak),
      [](gpointer d) { delete static_cast<std::weak_ptr<Peer> *>(d); });
  g_source_attach(src, ctx);
  g_source_unref(src);
  g_main_context_unref(ctx);
}

void Peer::on_stats(GstPromise *promise, gpointer data) {
  auto self = Callback::get(data);
  const GstStructure *reply = gst_promise_get_reply(promise);
  if (!self || !reply) {
    gst_promise_unref(promise);
    return;
  }
  // The path in use: the transport's selected candidate pair and its two candidates' types.
  // Candidates are matched by id only: webrtcbin 1.22 labels local candidates remote-candidate
  // and remote ones local-candidate (their ids are right).
  struct Path {
    std::string selected;                                             // candidate pair id
    std::map<std::string, std::pair<std::string, std::string>> pairs; // id -> local, remote ids
    std::map<std::string, std::string> types; // candidate id -> candidate-type
  };
  struct Acc {
    PeerStats st;
    Path path;
    bool twcc = false;
    double twcc_recv_bps = 0, twcc_sent_bps = 0, twcc_loss = 0;
    std::string twcc_text;
  } acc_all;
  gst_structure_foreach(
      reply,
      [](GQuark, const GValue *v, gpointer d) -> gboolean {
        if (!GST_VALUE_HOLDS_STRUCTURE(v)) return TRUE;
        auto *all = static_cast<Acc *>(d);
        auto *acc = &all->st;
        const GstStructure *s = gst_value_get_structure(v);
        GstWebRTCStatsType type;
        if (!gst_structure_get(s, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, nullptr)) return TRUE;
        guint64 u64 = 0;
        guint u = 0;
        gint64 i64 = 0;
        double d64 = 0;
        switch (type) {
        case GST_WEBRTC_STATS_OUTBOUND_RTP:
          if (gst_structure_get_uint64(s, "bytes-sent", &u64)) acc->bytes_sent += u64;
          if (gst_structure_get_uint64(s, "packets-sent", &u64)) acc->packets_sent += u64;
          if (gst_structure_get_uint(s, "nack-count", &u)) acc->nacks += u;
          if (gst_structure_get_uint(s, "pli-count", &u)) acc->plis += u;
          break;
        case GST_WEBRTC_STATS_REMOTE_INBOUND_RTP:
          // A receiver report about a stream it has had no sender report for yet (LSR 0) gives
          // rtpsession a "round trip" of the NTP clock's middle bits (seen: 1526 s, in a
          // meeting's first second, which stepped a clean pair down): no link has one of 10 s.
          if (gst_structure_get_double(s, "round-trip-time", &d64) && d64 < 10.0) {
            acc->rtt_s = d64;
            acc->worst_rtt_s = std::max(acc->worst_rtt_s, d64);
          }
          if (gst_structure_get_double(s, "fraction-lost", &d64)) {
            acc->fraction_lost = d64;
            acc->worst_fraction_lost = std::max(acc->worst_fraction_lost, d64);
          }
          if (gst_structure_get_int64(s, "packets-lost", &i64)) acc->packets_lost += i64;
          break;
        case GST_WEBRTC_STATS_INBOUND_RTP:
          if (gst_structure_get_uint64(s, "bytes-received", &u64)) acc->bytes_received += u64;
          if (gst_structure_get_uint64(s, "packets-received", &u64)) acc->packets_received += u64;
          if (gst_structure_get_int64(s, "packets-lost", &i64)) acc->recv_packets_lost += i64;
          if (gst_structure_get_double(s, "jitter", &d64)) acc->jitter_s = d64;
          break;
        case GST_WEBRTC_STATS_TRANSPORT:
          if (const char *sel = gst_structure_get_string(s, "selected-candidate-pair-id"))
            all->path.selected = sel;
          break;
        case GST_WEBRTC_STATS_CANDIDATE_PAIR: {
          const char *id = gst_structure_get_string(s, "id");
          const char *local = gst_structure_get_string(s, "local-candidate-id");
          const char *remote = gst_structure_get_string(s, "remote-candidate-id");
          if (id && local && remote) all->path.pairs[id] = {local, remote};
          break;
        }
        case GST_WEBRTC_STATS_LOCAL_CANDIDATE:
        case GST_WEBRTC_STATS_REMOTE_CANDIDATE: {
          const char *id = gst_structure_get_string(s, "id");
          const char *ctype = gst_structure_get_string(s, "candidate-type");
          if (id && ctype) all->path.types[id] = ctype;
          break;
        }
        default:
          break;
        }
        return TRUE;
      },
      &acc_all);
  gst_promise_unref(promise);
  // rtpsession's twcc-stats: transport-cc feedback on what we sent, over its last window (webrtcbin
  // 1.22's get-stats does not carry them). Absent until the peer sent transport-cc feedback.
  if (GObject *session = static_cast<GObject *>(g_weak_ref_get(&self->rtp_session_))) {
    GstStructure *t = nullptr;
    g_object_get(session, "twcc-stats", &t, nullptr);
    g_object_unref(session);
    guint sent = 0;
    // (packets-sent counts the packets new in this feedback: 1-5 at the quarter layer's rate; the
    // loss is over rtpsession's longer window, so a small count is no reason to skip it.)
    if (t && gst_structure_get_uint(t, "packets-sent", &sent) && sent > 0) {
      guint recv_bps = 0, sent_bps = 0;
      double loss_pct = 0;
      gst_structure_get_uint(t, "bitrate-recv", &recv_bps);
      gst_structure_get_uint(t, "bitrate-sent", &sent_bps);
      gst_structure_get_double(t, "packet-loss-pct", &loss_pct);
      acc_all.twcc = true;
      acc_all.twcc_recv_bps = recv_bps;
      acc_all.twcc_sent_bps = sent_bps;
      acc_all.twcc_loss = loss_pct / 100.0;
      g_autofree char *text = gst_structure_to_string(t);
      acc_all.twcc_text = text;
    }
    if (t) gst_structure_free(t);
  }
  PeerStats &now_stats = acc_all.st;
  const Path &path = acc_all.path;
  auto pair = path.pairs.find(path.selected);
  if (pair == path.pairs.end() && path.pairs.size() == 1) pair = path.pairs.begin();
  if (pair != path.pairs.end()) {
    auto type_of = [&](const std::string &id) {
      auto t = path.types.find(id);
      return t == path.types.end() ? std::string() : t->second;
    };
    now_stats.local_candidate_type = type_of(pair->second.first);
    now_stats.remote_candidate_type = type_of(pair->second.second);
  }
  // Read here, at every poll (the ladder's half-way ones too), with the packets sent.
  if (self->cfg_.plan.send && self->loss_recovery()) self->poll_retransmitted();
  gint64 now = g_get_monotonic_time();
  std::vector<std::pair<GstPad *, int>> requests; // keyframes for switches, sent unlocked
  double padding = 0;
  bool congested = false;      // a ladder stepped down
  bool padding_failed = false; // a ladder's padding probe failed
  {
    std::lock_guard l(self->lock_);
    // Padding probes need a retransmitter that has seen the media.
    bool can_pad = false;
    for (auto &g : self->rtx_guards_) {
      std::lock_guard gl(g->lock);
      can_pad = can_pad || g->seen;
    }
    PeerStats &st = self->stats_;
    if (self->stats_us_ && now > self->stats_us_) {
      double secs = double(now - self->stats_us_) / 1e6;
      if (now_stats.bytes_sent >= st.bytes_sent)
        st.bitrate_bps = double(now_stats.bytes_sent - st.bytes_sent) * 8.0 / secs;
      if (now_stats.bytes_received >= st.bytes_received)
        st.recv_bitrate_bps = double(now_stats.bytes_received - st.bytes_received) * 8.0 / secs;
      // Packets asked for again (taken or refused by the budget) per packet sent, since the
      // last poll. A packet asked for twice counts twice: an overestimate when retransmissions
      // are lost too, which is when the link is congested anyway.
      const guint64 asked = st.rtx_requests + st.rtx_refused;
      if (now_stats.packets_sent > st.packets_sent && asked >= self->asked_at_poll_) {
        const double n = double(now_stats.packets_sent - st.packets_sent);
        st.nacked_share = n >= 10 ? std::min(1.0, double(asked - self->asked_at_poll_) / n) : 0;
      }
      self->asked_at_poll_ = asked;
    }
    self->stats_us_ = now;
    // The peer's own figures, when fresh: a REMB of the last 2 s; twcc-stats changed since the
    // last poll (rtpsession keeps the last window's when feedback stops).
    const gint64 remb_us = self->remb_us_.load();
    // REMB counts only where we offered it (Chromium sends it on a drop even when not offered).
    bool remb_offered = false;
    for (const Branch &b : self->branches_) {
      gboolean on = FALSE;
      if (b.codec_caps &&
          gst_structure_get_boolean(gst_caps_get_structure(b.codec_caps, 0), "rtcp-fb-goog-remb",
                                    &on) &&
          on)
        remb_offered = true;
    }
    const double remb =
        remb_offered && remb_us && now - remb_us < 2 * G_USEC_PER_SEC ? self->remb_bps_.load() : 0;
    const bool twcc = acc_all.twcc && acc_all.twcc_text != self->twcc_last_;
    if (acc_all.twcc) self->twcc_last_ = acc_all.twcc_text;
    if (twcc) {
      self->twcc_us_ = now;
      st.twcc_recv_bps = acc_all.twcc_recv_bps;
      st.twcc_sent_bps = acc_all.twcc_sent_bps;
      st.twcc_loss = std::clamp(acc_all.twcc_loss, 0.0, 1.0);
      st.twcc_feedback++;
    }
    st.remb_bps = self->remb_bps_.load();
    st.rembs = self->rembs_.load();
    // The kind of feedback the estimate reads: fresh transport-cc within the last 2 s (a poll can
    // fall between two windows), else a REMB of the last 2 s, else receiver reports only.
    const bool twcc_recent = self->twcc_us_ && now - self->twcc_us_ < 2 * G_USEC_PER_SEC;
    st.bwe_source = twcc_recent ? "twcc" : remb > 0 ? "remb" : "rtcp";
    st.bytes_sent = now_stats.bytes_sent;
    st.packets_sent = now_stats.packets_sent;
    st.rtt_s = now_stats.rtt_s;
    st.fraction_lost = now_stats.fraction_lost;
    st.packets_lost = now_stats.packets_lost;
    st.nacks = now_stats.nacks;
    st.plis = now_stats.plis;
    st.bytes_received = now_stats.bytes_received;
    st.packets_received = now_stats.packets_received;
    st.recv_packets_lost = now_stats.recv_packets_lost;
    st.jitter_s = now_stats.jitter_s;
    // A path once known stays shown until another is selected.
    for (Branch &b : self->branches_) {
      if (!b.ladder || !b.tee_pad) continue;
      LadderBranch &lb = *b.ladder;
      GstPad *pad = nullptr;
      int target;
      {
        std::lock_guard ll(lb.m);
        const int before = lb.chooser.target();
        const bool was_padding = lb.chooser.state() == LayerChooser::State::Padding;
        // Loss: the receiver report's, or the NACKed share when higher (it comes sooner).
        LayerChooser::Sample sample{now,
                                    st.bitrate_bps,
                                    std::max(now_stats.worst_fraction_lost, st.nacked_share),
                                    now_stats.worst_rtt_s,
                                    lb.sw.pending(),
                                    can_pad,
                                    self->padding_stopped_.load(),
                                    remb,
                                    twcc ? st.twcc_loss : -1.0,
                                    twcc ? st.twcc_recv_bps : 0.0};
        target = self->connected_us_ ? lb.chooser.update(sample) : before;
        congested = congested || target > before;
        padding_failed =
            padding_failed || (was_padding && lb.chooser.state() == LayerChooser::State::Holding);
        padding = std::max(padding, lb.chooser.padding_bps());
        GST_DEBUG("peer %s: ladder sample: sent %.0f bit/s, loss %.3f, rtt %.3f s, nacks "
                  "%" G_GUINT64_FORMAT ", nacked %.3f, remb %.0f, twcc loss %.3f recv %.0f -> "
                  "layer %d (%s)",
                  self->id().c_str(), sample.sent_bps, sample.fraction_lost, sample.rtt_s, st.nacks,
                  st.nacked_share, sample.remb_bps, sample.twcc_loss, sample.twcc_recv_bps, target,
                  layer_state_name(lb.chooser.state()));
        lb.sw.set_target(target);
        lb.hold();
        // A switch waits for a keyframe of the target: asked for when it is chosen, and again
        // every poll until it came (the layer's limiter merges requests).
        if (lb.sw.pending() && lb.queue_sink) pad = GST_PAD(gst_object_ref(lb.queue_sink));
        st.layers = int(lb.layers.size());
        st.layer = lb.sw.current() >= 0 ? lb.sw.current() : target;
        st.layer_target = target;
        st.layer_cap = lb.chooser.cap();
        st.layer_width = lb.layers[st.layer].width;
        st.layer_height = lb.layers[st.layer].height;
        st.layer_switches = lb.sw.switches();
        st.bwe_bps = lb.chooser.estimate_bps();
        st.bwe_state = layer_state_name(lb.chooser.state());
        if (target != before)
          GST_INFO("peer %s: layer %d -> %d (estimate %.0f bit/s, loss %.2f: reported %.2f, "
                   "asked again %.2f; rtt %.3f s; requests so far: %" G_GUINT64_FORMAT
                   " taken, %" G_GUINT64_FORMAT " for packets not sent yet)",
                   self->id().c_str(), before, target, st.bwe_bps, sample.fraction_lost,
                   now_stats.worst_fraction_lost, st.nacked_share, sample.rtt_s, st.rtx_requests,
                   st.rtx_ahead);
      }
      if (pad) requests.emplace_back(pad, target);
    }
    if (!now_stats.local_candidate_type.empty()) {
      st.local_candidate_type = now_stats.local_candidate_type;
      st.remote_candidate_type = now_stats.remote_candidate_type;
    }
    if (congested || padding_failed)
      for (auto &g : self->rtx_guards_) {
        std::lock_guard gl(g->lock);
        if (congested)
          g->budget.empty();
        else
          g->budget.limit(kPaddingFailedRtx);
      }
  }
  for (auto [pad, layer] : requests) {
    gst_pad_push_event(pad, layer_keyframe_request(layer));
    gst_object_unref(pad);
  }
  self->set_padding(padding);
}

PeerStats Peer::stats() const {
  PeerStats s;
  {
    std::lock_guard l(lock_);
    s = stats_;
  }
  s.state = static_cast<GstWebRTCPeerConnectionState>(state_.load());
  s.connected = connected_us_ != 0;
  s.offers = offers_;
  return s;
}

GstStructure *Peer::stats_structure() const {
  PeerStats s = stats();
  GstStructure *st = gst_structure_new(
      "peer", "id", G_TYPE_STRING, id().c_str(), "name", G_TYPE_STRING, name().c_str(), "state",
      GST_TYPE_WEBRTC_PEER_CONNECTION_STATE, s.state, "connected", G_TYPE_BOOLEAN, s.connected,
      "bitrate", G_TYPE_DOUBLE, s.bitrate_bps, "bytes-sent", G_TYPE_UINT64, s.bytes_sent, "rtt",
      G_TYPE_DOUBLE, s.rtt_s, "fraction-lost", G_TYPE_DOUBLE, s.fraction_lost, "packets-lost",
      G_TYPE_INT64, s.packets_lost, "nack-count", G_TYPE_UINT64, s.nacks, "pli-count",
      G_TYPE_UINT64, s.plis, "recv-bitrate", G_TYPE_DOUBLE, s.recv_bitrate_bps, "bytes-received",
      G_TYPE_UINT64, s.bytes_received, "packets-received", G_TYPE_UINT64, s.packets_received,
      "recv-packets-lost", G_TYPE_INT64, s.recv_packets_lost, "jitter", G_TYPE_DOUBLE, s.jitter_s,
      "offers", G_TYPE_UINT, s.offers, "retransmitted", G_TYPE_UINT64, s.retransmitted,
      "rtx-refused", G_TYPE_UINT64, s.rtx_refused, "rtx-repeats", G_TYPE_UINT64, s.rtx_repeats,
      "rtx-ahead", G_TYPE_UINT64, s.rtx_ahead, "padding-requests", G_TYPE_UINT64,
      s.padding_requests, "rtx-requested", G_TYPE_UINT64, s.rtx_requested, "rtx-recovered",
      G_TYPE_UINT64, s.rtx_recovered, "packets-given-up", G_TYPE_UINT64, s.packets_given_up,
      "latency", G_TYPE_UINT, s.latency_ms, "local-candidate-type", G_TYPE_STRING,
      s.local_candidate_type.c_str(), "remote-candidate-type", G_TYPE_STRING,
      s.remote_candidate_type.c_str(), nullptr);
  if (s.layers > 0)
    gst_structure_set(
        st, "layers", G_TYPE_INT, s.layers, "layer", G_TYPE_INT, s.layer, "layer-target",
        G_TYPE_INT, s.layer_target, "layer-cap", G_TYPE_INT, s.layer_cap, "layer-width", G_TYPE_INT,
        s.layer_width, "layer-height", G_TYPE_INT, s.layer_height, "layer-switches", G_TYPE_UINT64,
        s.layer_switches, "bwe", G_TYPE_DOUBLE, s.bwe_bps, "bwe-state", G_TYPE_STRING,
        s.bwe_state.c_str(), "nacked-share", G_TYPE_DOUBLE, s.nacked_share, "bwe-source",
        G_TYPE_STRING, s.bwe_source.c_str(), "remb-bps", G_TYPE_DOUBLE, s.remb_bps, "remb-count",
        G_TYPE_UINT64, s.rembs, "twcc-bitrate-recv", G_TYPE_DOUBLE, s.twcc_recv_bps,
        "twcc-bitrate-sent", G_TYPE_DOUBLE, s.twcc_sent_bps, "twcc-packet-loss", G_TYPE_DOUBLE,
        s.twcc_loss, "twcc-feedback", G_TYPE_UINT64, s.twcc_feedback, nullptr);
  return st;
}

// ---- detaching ----------------------------------------------------------------------------------

namespace {
struct Detach {
  std::shared_ptr<Peer> peer;
  GstElement *element; // ref
  std::function<void()> done;
  std::atomic<int> left{0};
};
} // namespace

// Any thread: the rest of a detach, on a thread of GStreamer's pool (state changes and removal
// never on a streaming thread).
void Peer::schedule_finish(void *data) {
  auto *dt = static_cast<Detach *>(data);
  gst_element_call_async(
      dt->element,
      [](GstElement *, gpointer d) {
        auto *x = static_cast<Detach *>(d);
        x->peer->finish_detach();
        if (x->done) x->done();
      },
      dt,
      [](gpointer d) {
        auto *x = static_cast<Detach *>(d);
        gst_object_unref(x->element);
        delete x;
      });
}

void Peer::detach_async(std::function<void()> done) {
  GstElement *el = owner_.element();
  std::vector<GstPad *> tee_pads;
  {
    std::lock_guard l(lock_);
    detached_ = true;
    for (Branch &b : branches_)
      if (b.tee_pad) tee_pads.push_back(GST_PAD(gst_object_ref(b.tee_pad)));
  }
  auto *d = new Detach{shared_from_this(), GST_ELEMENT(gst_object_ref(el)), std::move(done)};
  if (tee_pads.empty()) {
    schedule_finish(d);
    return;
  }
  d->left = int(tee_pads.size());
  for (GstPad *pad : tee_pads) {
    // The tee is not pushing on this pad now: unlink, so the other peers go on at once.
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_IDLE,
        [](GstPad *tee_pad, GstPadProbeInfo *, gpointer data) -> GstPadProbeReturn {
          auto *dt = static_cast<Detach *>(data);
          if (GstPad *peer_pad = gst_pad_get_peer(tee_pad)) {
            gst_pad_unlink(tee_pad, peer_pad);
            gst_object_unref(peer_pad);
          }
          if (--dt->left == 0) schedule_finish(dt);
          return GST_PAD_PROBE_REMOVE;
        },
        d, nullptr);
    gst_object_unref(pad);
  }
}

void Peer::detach_now() {
  std::vector<GstPad *> tee_pads;
  {
    std::lock_guard l(lock_);
    detached_ = true;
    for (Branch &b : branches_)
      if (b.tee_pad) tee_pads.push_back(GST_PAD(gst_object_ref(b.tee_pad)));
  }
  // Pads are called without our lock held.
  for (GstPad *pad : tee_pads) {
    if (GstPad *pp = gst_pad_get_peer(pad)) {
      gst_pad_unlink(pad, pp);
      gst_object_unref(pp);
    }
    gst_object_unref(pad);
  }
  finish_detach();
}

// Off the streaming threads: release, stop and drop everything the peer added.
void Peer::finish_detach() {
  GstElement *el = owner_.element();
  GstElement *webrtc;
  std::vector<Branch> branches;
  std::vector<GstElement *> decoders;
  std::vector<GstPad *> pads;
  std::vector<GstElement *> jitterbuffers;
  {
    std::lock_guard l(lock_);
    detached_ = true;
    webrtc = std::exchange(webrtc_, nullptr);
    branches = std::exchange(branches_, {});
    decoders = std::exchange(decoders_, {});
    pads = std::exchange(pads_, {});
    jitterbuffers = std::exchange(jitterbuffers_, {});
  }
  for (GstElement *jb : jitterbuffers)
    gst_object_unref(jb);
  // Locked first: between here and the removal from the bin, a state change of the element
  // (the application stopping it) must not bring these back up; they would run on, orphaned.
  if (webrtc) gst_element_set_locked_state(webrtc, TRUE);
  for (Branch &b : branches)
    gst_element_set_locked_state(b.queue, TRUE);
  for (GstElement *d : decoders)
    gst_element_set_locked_state(d, TRUE);
  // The remote streams end for downstream first, before anything of ours stops; never flush
  // them (a flushed sink in PLAYING waits for a new preroll buffer and would hold the whole
  // pipeline in PAUSED). EOS first because a sink that had it refuses further buffers at once:
  // one in PAUSED (the application stopping the pipeline, sinks first) would otherwise hold our
  // receiving thread in its preroll wait, with the stream locks that stopping webrtcbin below
  // needs, while the pipeline's stop waited for webrtcbin's state lock, which we would hold:
  // a deadlock (docs/architecture.md, "Deadlocks found and fixed", 4). If such a thread is
  // waiting now, this push waits (holding nothing) until the stop flushes that sink.
  for (GstPad *pad : pads)
    gst_pad_push_event(pad, gst_event_new_eos());
  // webrtcbin first: if the pipeline is passing through PAUSED, a branch queue's thread may be
  // waiting for preroll in webrtcbin's network sink, holding the queue's stream lock; stopping
  // webrtcbin releases it. Stopping the queue first would wait on it forever.
  if (webrtc) gst_element_set_state(webrtc, GST_STATE_NULL);
  for (Branch &b : branches) {
    if (b.tee_pad) {
      if (GstElement *tee = gst_pad_get_parent_element(b.tee_pad)) {
        gst_element_release_request_pad(tee, b.tee_pad);
        gst_object_unref(tee);
      }
      gst_object_unref(b.tee_pad);
    }
    gst_element_set_state(b.queue, GST_STATE_NULL);
    if (b.ladder) {
      // The branch's layers are free (their encoders may stop), and its queue's pad goes: the
      // pad's probe holds the LadderBranch, which held the pad (a cycle: both leaked before).
      GstPad *qsink;
      {
        std::lock_guard ll(b.ladder->m);
        if (auto d = std::exchange(b.ladder->demand, nullptr))
          d->move(std::exchange(b.ladder->held, 0u), 0);
        qsink = std::exchange(b.ladder->queue_sink, nullptr);
      }
      if (qsink) gst_object_unref(qsink);
    }
    if (GST_OBJECT_PARENT(b.queue) == GST_OBJECT(el)) gst_bin_remove(GST_BIN(el), b.queue);
    gst_object_unref(b.queue);
    gst_object_unref(b.tee);
    gst_caps_unref(b.codec_caps);
    if (b.trans) gst_object_unref(b.trans);
  }
  for (GstElement *d : decoders)
    gst_element_set_state(d, GST_STATE_NULL);
  // Removed only now that nothing pushes on them (unlinked earlier, a running decoder would
  // get not-linked and post an error).
  for (GstPad *pad : pads) {
    gst_element_remove_pad(el, pad);
    gst_object_unref(pad);
  }
  for (GstElement *d : decoders) {
    if (GST_OBJECT_PARENT(d) == GST_OBJECT(el)) gst_bin_remove(GST_BIN(el), d);
    gst_object_unref(d);
  }
  if (webrtc) {
    if (GST_OBJECT_PARENT(webrtc) == GST_OBJECT(el)) gst_bin_remove(GST_BIN(el), webrtc);
    gst_object_unref(webrtc);
  }
  GST_INFO_OBJECT(el, "peer %s detached", id().c_str());
}

} // namespace roomcast
