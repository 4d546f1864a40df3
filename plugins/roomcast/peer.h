// Peer: one remote party of a roomcast element, and everything we hold for it.
//
// A peer owns its webrtcbin, one send branch (`queue ! webrtcbin`) per stream it is sent, the
// decoders of what it sends us and the pads that expose them. roomcastsink makes one per viewer
// (send only) or meeting member (both ways); roomcastsrc makes one for its host (receive only).
//
// Threads: `attach`, `apply_sdp`, `add_ice`, `detach_*` run on the owning element's worker.
// webrtcbin calls back on its own threads; those callbacks hold only a weak reference to the
// peer and a weak reference to the element, and reach the element through PeerOwner.
// Lock order: the element's lock, then `Peer::lock_` (never the other way round). Neither is
// held while calling into webrtcbin, a pad, the signaller, or while emitting a signal.
#pragma once

#include "common.h"
#include "latency-fit.h"
#include "layer-switch.h"
#include "peer-plan.h"

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace roomcast {

class Peer;

// What a peer needs from the element that owns it. Every call is made with a strong reference
// to the element held by the caller, so the owner is alive for its duration.
class PeerOwner {
public:
  virtual ~PeerOwner() = default;
  virtual GstElement *element() = 0;
  // Any thread: a new reference to the element's worker context, or nullptr once the worker
  // has stopped.
  virtual GMainContext *ref_worker_context() = 0;
  // Any thread: negotiation for the peer, to the room.
  virtual void peer_send_sdp(Peer &peer, const GstWebRTCSessionDescription *sdp) = 0;
  virtual void peer_send_ice(Peer &peer, guint mline, const char *candidate, const char *mid) = 0;
  // Any thread: the peer cannot go on (ICE failed, negotiation failed); the owner ends it with
  // `reason` (a protocol end-peer reason code).
  virtual void peer_failed(Peer &peer, const char *reason, const char *message) = 0;
  // Worker: a decoded (or parsed) stream of the peer wants a pad on the element. Returns the
  // pad it added (a new reference), or nullptr.
  virtual GstPad *peer_expose(Peer &peer, GstPad *stream) = 0;
};

struct PeerConfig {
  std::string id;
  std::string name;
  GstRoomcastRole role = GST_ROOMCAST_ROLE_VIEWER; // the peer's role
  PeerPlan plan{};
  IceConfig ice;
  bool encoded = false; // receive: expose parsed streams instead of decoded ones
  guint max_offers = 8; // renegotiation bound: a peer that needs more is failed
  // Forward error correction (ULPFEC in RED) on what we send: this much protection, 0 for none.
  // What we only receive always accepts it (see Peer::create).
  guint fec_percentage = 0;
};

// What a send branch is fed from: a tee whose src pads carry RTP, and the caps the peer is
// offered for it (codec preferences).
struct LadderLayer {
  guint ssrc = 0; // what its payloader writes (rewritten to the signalled one per viewer)
  double bps = 0; // its nominal bitrate
  int width = 0, height = 0;
};
struct SendSource {
  GstElement *tee = nullptr;     // borrowed
  GstCaps *codec_caps = nullptr; // borrowed
  // When the tee carries a ladder (VP8): its layers, top first; the branch forwards one of them
  // (LayerSwitch). Empty: one stream.
  std::vector<LadderLayer> layers;
  // A ladder's holds per layer: the branch holds what it forwards and what it goes to, and an
  // encoder runs only while its layer is held.
  std::shared_ptr<LadderDemand> demand;
};

// Snapshot of a peer's numbers (the `stats` property's per-peer structure).
struct PeerStats {
  GstWebRTCPeerConnectionState state = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
  bool connected = false;
  // sending
  double bitrate_bps = 0;
  guint64 bytes_sent = 0;
  double rtt_s = 0;
  double fraction_lost = 0;
  gint64 packets_lost = 0;
  guint64 nacks = 0, plis = 0;
  // receiving
  double recv_bitrate_bps = 0;
  guint64 bytes_received = 0;
  guint64 packets_received = 0;
  gint64 recv_packets_lost = 0;
  double jitter_s = 0;
  guint64 rtx_requested = 0;    // retransmissions our jitterbuffers asked for
  guint64 rtx_recovered = 0;    // ... and got in time
  guint64 packets_given_up = 0; // packets our jitterbuffers gave up on (lost for good)
  guint latency_ms = 0;         // the jitterbuffers' latency now (fitted to the link)
  // sending
  guint64 packets_sent = 0;
  guint64 retransmitted = 0;    // packets we sent again on request (rtx)
  guint64 rtx_requests = 0;     // retransmission requests (NACKed packets) our retransmitters took
  guint64 rtx_refused = 0;      // requests beyond the retransmission budget (see RtxBudget)
  guint64 padding_requests = 0; // packets we asked to send again ourselves (padding probes)
  guint64 rtx_repeats = 0;      // second copies of retransmissions (Peer::repeat_retransmission)
  guint64 rtx_ahead = 0;        // requests for packets not sent yet (a ladder's), dropped
  guint offers = 0;
  // the selected candidate pair: "host", "srflx", "prflx" or "relay" ("" until known)
  std::string local_candidate_type, remote_candidate_type;
  // the ladder (layers > 0 when the video stream is one; see LayerSwitch, LayerChooser)
  int layers = 0;
  int layer = 0, layer_target = 0, layer_cap = 0;
  int layer_width = 0, layer_height = 0;
  guint64 layer_switches = 0;
  double bwe_bps = 0;
  std::string bwe_state;
  // the worst of the receiver reports (media and rtx streams each have one): what LayerChooser
  // reads
  double worst_fraction_lost = 0, worst_rtt_s = 0;
  // the share of the packets sent over the last poll that the peer asked for again (NACKs):
  // a loss figure at every poll, where receiver reports come every second or more
  double nacked_share = 0;
  // What the viewer says about its link besides receiver reports (see LayerChooser): what the
  // estimate reads ("twcc": fresh transport-cc within 2 s, else "remb": an offered REMB within
  // 2 s, else "rtcp"), its latest REMB
  // (bit/s, 0: none yet), transport-cc's figures (rtpsession's twcc-stats: rates in bit/s, loss
  // as a share; 0 until feedback came) and how many REMBs came.
  std::string bwe_source = "rtcp";
  double remb_bps = 0;
  guint64 rembs = 0;
  double twcc_recv_bps = 0, twcc_sent_bps = 0, twcc_loss = 0;
  guint64 twcc_feedback = 0; // polls at which twcc-stats had changed (fresh feedback)
};

class Peer : public std::enable_shared_from_this<Peer> {
public:
  // Makes the webrtcbin and connects its signals (nothing is added to the element yet).
  // nullptr with `err` set when webrtcbin is missing.
  static std::shared_ptr<Peer> create(PeerOwner &owner, PeerConfig cfg, GError **err);
  ~Peer();
  Peer(const Peer &) = delete;
  Peer &operator=(const Peer &) = delete;

  const std::string &id() const { return cfg_.id; }
  const std::string &name() const { return cfg_.name; }
  const PeerPlan &plan() const { return cfg_.plan; }
  // A new reference to the peer's webrtcbin, or nullptr once detached.
  GstElement *webrtcbin() const { return ref_webrtc(); }
  gint64 created_us() const { return created_us_; }
  // Retransmission (rtx) for this peer: every peer, meetings included. It once stayed off for
  // two-way peers: a Chromium member offering to GStreamer members showed no picture with it.
  // The cause was webrtcbin pairing rtx with ssrc 0 in an answer made before its sink had caps;
  // the stream's ssrc is now in the codec preferences (EncoderPool), see docs "Loss recovery".
  bool loss_recovery() const { return true; }
  gint64 connected_us() const { return connected_us_; }
  // When our first offer went to the room (0: none yet, or the peer offers).
  gint64 offered_us() const { return offered_us_; }
  gint64 last_rtcp_us() const { return last_rtcp_us_; }
  // Any thread: true the first time only (our first offer or answer to this peer is going out).
  bool first_description() { return !described_.exchange(true); }

  // Worker: adds webrtcbin and one send branch per source to the element and links them to the
  // tees; the offerer's negotiation starts from here. False with `err` set on failure (the
  // caller then detaches what was added).
  bool attach(const std::vector<SendSource> &sources, GError **err);
  // Worker: an offer (we answer) or an answer (to our offer) from the peer.
  void apply_sdp(const GstWebRTCSessionDescription *sdp);
  // Worker: a remote candidate. An empty candidate is the end of candidates.
  void add_ice(guint mline, const std::string &candidate, const std::string &mid);
  // Worker: asks the encoders feeding this peer for a keyframe.
  void request_keyframe();
  // Any thread: the top ladder layer this peer wants (0: full size; `prefer`). No ladder: ignored.
  void set_layer_cap(int layer);
  // Worker: asks webrtcbin for stats; the result lands in stats() later.
  void poll_stats();
  PeerStats stats() const;
  GstStructure *stats_structure() const;

  // Worker: unlinks the branches without stalling the tees (IDLE probes), then, off the
  // streaming threads, stops and removes everything and runs `done` (on some thread).
  void detach_async(std::function<void()> done);
  // With the element's streaming stopped (READY): unlinks and removes everything now.
  void detach_now();

private:
  // What the branch's probe rewrites: our payload number to the one the offerer chose.
  struct PtMap {
    std::atomic<int> from{-1}, to{-1};
  };
  struct Branch {
    GstPad *tee_pad = nullptr;                // ref
    GstElement *queue = nullptr;              // ref
    GstElement *tee = nullptr;                // ref: linked later when we answer (see attach)
    GstCaps *codec_caps = nullptr;            // ref: what we send
    GstWebRTCRTPTransceiver *trans = nullptr; // ref
    std::shared_ptr<PtMap> pt;
    std::shared_ptr<struct LadderBranch> ladder; // when the tee carries a ladder
    std::shared_ptr<struct SendGate> gate;       // when it does not (the ladder gates itself)
  };
  struct Callback; // what webrtcbin's handlers hold

  Peer(PeerOwner &owner, PeerConfig cfg);
  template <typename F> void with_owner(F &&fn); // runs fn(owner) if the element is alive
  void finish_detach();
  bool link_branches(GError **err);
  void match_offer(const GstWebRTCSessionDescription *offer);
  std::string refused_streams(const GstWebRTCSessionDescription *answer) const;
  static void schedule_finish(void *detach);
  GstElement *ref_webrtc() const;

  // webrtcbin threads
  static void on_negotiation_needed(GstElement *webrtc, gpointer data);
  static void on_offer_created(GstPromise *promise, gpointer data);
  static void on_ice_candidate(GstElement *webrtc, guint mline, gchar *candidate, gpointer data);
  static void on_connection_state(GstElement *webrtc, GParamSpec *, gpointer data);
  static void on_gathering_state(GstElement *webrtc, GParamSpec *, gpointer data);
  static void on_ssrc_active(GstElement *, guint, guint, gpointer data);
  static void on_pad_added(GstElement *webrtc, GstPad *pad, gpointer data);
  static void on_decoded_pad(GstElement *dec, GstPad *pad, gpointer data);
  static void on_stats(GstPromise *promise, gpointer data);
  static void on_new_jitterbuffer(GstElement *rtpbin, GstElement *jb, guint session, guint ssrc,
                                  gpointer data);
  static void on_element_added(GstBin *webrtc, GstBin *sub, GstElement *element, gpointer data);
  struct RtxGuard;
  void poll_jitterbuffers();
  void poll_retransmitted();
  // Connected: the send branches start forwarding (a ladder at a keyframe, others at a frame's
  // first packet).
  void open_branches();
  void set_padding(double bps);
  bool pad_tick();
  // A send branch's queue (leaky: a peer that stops reading loses the oldest): ~4 s of a
  // 2 Mbit/s layer, ~10 s of 48 kbit/s Opus.
  static constexpr guint kVideoQueueBytes = 1 << 20;
  static constexpr guint kAudioQueueBytes = 64 << 10;
  static constexpr guint kPaddingTickMs = 20;
  static constexpr guint kRtxRepeatMs = 10; // a retransmission's second copy, this much later
  static void repeat_retransmission(const std::shared_ptr<RtxGuard> &guard,
                                    const GstStructure *request);
  static constexpr guint64 kPaddingNackStop = 0; // NACKed packets that stop a padding probe
  // Retransmissions left to a peer whose padding probe failed (RtxBudget::limit).
  static constexpr double kPaddingFailedRtx = 10;
  // REMB from the peer (its RTP session's on-feedback-rtcp, the RTCP thread).
  static void on_feedback_rtcp(GObject *session, guint type, guint fbtype, guint sender_ssrc,
                               guint media_ssrc, GstBuffer *fci, gpointer data);
  GWeakRef rtp_session_; // the (bundled) rtpsession element: its twcc-stats
  std::atomic<double> remb_bps_{0};
  std::atomic<gint64> remb_us_{0}; // when the last one came (0: never)
  std::atomic<guint64> rembs_{0};
  std::atomic<bool> padding_stopped_{false}; // until the chooser leaves the probe
  std::atomic<bool> padding_restart_{false}; // a probe began: pad_tick takes its baseline
  guint64 padding_asked_at_start_ = 0;       // worker
  std::atomic<double> padding_bps_{0};
  double padding_due_ = 0;    // worker: bytes of padding owed
  guint64 padding_round_ = 0; // worker: which recent packet is sent again next
  std::vector<std::shared_ptr<LadderBranch>> ladder_branches() const;
  // Receiving sessions report every ~25 ms (see on_new_jitterbuffer), within this RTCP budget.
  static constexpr guint64 kFeedbackIntervalMs = 25;
  static constexpr double kRtcpBandwidthBps = 100000;
  // The fitted jitterbuffer latency's ceiling (unless the configured latency is higher).
  static constexpr guint kMaxLatencyMs = 1000;
  std::string mid_of(guint mline) const;

  PeerOwner &owner_;
  GWeakRef element_;
  PeerConfig cfg_;
  GstElement *webrtc_ = nullptr; // ref; set in create, cleared by detach
  gint64 created_us_ = 0;
  std::atomic<gint64> connected_us_{0};
  std::atomic<gint64> offered_us_{0};
  std::atomic<gint64> last_rtcp_us_{0};
  std::atomic<int> state_{GST_WEBRTC_PEER_CONNECTION_STATE_NEW};
  std::atomic<guint> offers_{0};
  std::atomic<bool> sent_end_of_candidates_{false};
  std::atomic<bool> described_{false};

  mutable std::mutex lock_; // after the element's lock; guards the fields below
  std::vector<Branch> branches_;
  std::vector<GstElement *> decoders_; // refs
  std::vector<GstPad *> pads_;         // refs: what peer_expose added
  std::vector<std::string> mids_;      // of the local description, by m-line
  PeerStats stats_;
  gint64 stats_us_ = 0;
  guint64 asked_at_poll_ = 0;               // rtx_requests + rtx_refused at the last poll
  std::string twcc_last_;                   // twcc-stats at the last poll (unchanged: stale)
  gint64 twcc_us_ = 0;                      // when fresh twcc-stats were last read (0: never)
  std::vector<GstElement *> jitterbuffers_; // refs: our receive streams' jitterbuffers
  LatencyFit latency_;
  std::vector<std::shared_ptr<RtxGuard>> rtx_guards_; // our retransmitters' budgets
  bool detached_ = false;
};

} // namespace roomcast
