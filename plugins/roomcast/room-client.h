// RoomClient: what roomcastsink and roomcastsrc share — the element's side of a room.
//
// It holds the signaller (and adapts its signals), the worker thread where peers come and go,
// the peers themselves, the waiting list of peers that joined before the element could serve
// them, liveness (peer-timeout) and stats polling. Each element derives its Private from it and
// adds only what is its own (sink: input pads and the EncoderPool; src: nothing much).
//
// Threads: signaller signals arrive on the signaller's thread and hop to the worker; every peer
// is created, negotiated and ended on the worker. Peer detaching finishes on a GStreamer pool
// thread (never a streaming thread).
// Lock order: `lock` first, then a Peer's or the EncoderPool's lock. `lock` is never held while
// calling into webrtcbin, a pad, the signaller, or while emitting a signal.
#pragma once

#include "common.h"
#include "gstroomcastsignaller.h"
#include "ice-servers.h"
#include "media-watch.h"
#include "peer-plan.h"
#include "peer.h"

#include <gst/gst.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace roomcast {

// Names of the `stats` fields (documented on the elements' `stats` property).
namespace stats_field {
inline constexpr const char *kPeerCount = "peer-count";
inline constexpr const char *kPeers = "peers";
inline constexpr const char *kBitrate = "bitrate";
inline constexpr const char *kFrames = "frames";
inline constexpr const char *kKeyframesForwarded = "keyframes-forwarded";
inline constexpr const char *kKeyframesCoalesced = "keyframes-coalesced";
} // namespace stats_field

class RoomClient : public PeerOwner {
public:
  RoomClient(GstElement *element, const char *worker_name);
  ~RoomClient() override;

  // Settings both elements have. (lock)
  struct Common {
    std::string room = "default";
    std::string name;
    IceConfig ice; // its STUN and TURN servers are the element's own (they win over the room's)
    guint peer_timeout_s = 0; // 0: never
    // A peer not connected (ICE and DTLS) this long after it was created (our offer, or its
    // offer in a meeting) is ended with reason timeout, so it does not hold a slot (0: never).
    guint negotiation_timeout_s = 0;
    guint max_peers = 0;       // 0: no limit
    bool encoded = false;      // receive parsed instead of decoded streams
    guint media_timeout_s = 0; // viewer: rejoin after this long without media (0: never)
    guint fec_percentage = 0;  // sink: ULPFEC/RED on what we send, this much protection (0: off)
    int prefer_layer = -1;     // viewer, member: the ladder layer asked of the host, or of every
                               // other member (`prefer`; -1: none)
  };
  mutable std::mutex lock;
  Common common; // (lock)

  // The room properties both elements have: `signaller`, `room`, `display-name`, `stun-server`,
  // `turn-server`, `ice-loopback`, `latency`, installed with ids 1..kCommonProps (elements
  // number their own after them). set/get return false for an id that is not one of them.
  static constexpr guint kCommonProps = 7;
  static void install_common_properties(GObjectClass *klass, const char *room_blurb);
  bool set_common_property(GObject *object, guint id, const GValue *value);
  bool get_common_property(guint id, GValue *value) const;

  // The signaller: set only in NULL (false otherwise); a new reference, or nullptr.
  bool set_signaller(GstRoomcastSignaller *sig);
  GstRoomcastSignaller *ref_signaller() const;

  // The element's change_state: our steps around `chain_up` (the parent class's).
  GstStateChangeReturn change_state(GstStateChange transition,
                                    const std::function<GstStateChangeReturn()> &chain_up);
  // Its steps one by one: before chaining up (false: fail the state change, after posting an
  // error) and after it.
  bool null_to_ready();
  void ready_to_paused();
  void paused_to_ready_before();
  void paused_to_ready_after();
  void ready_to_null();
  // From dispose.
  void shutdown();

  bool active() const;
  std::vector<std::shared_ptr<Peer>> peers() const;
  std::shared_ptr<Peer> find(const std::string &id) const;
  // The `peers` list of the stats structure.
  void add_peer_stats(GstStructure *s) const;

  // Worker: serve the peers that waited until streams_ready().
  void serve_waiting();
  // Any thread: ends a peer on the worker; when `reason` is set the peer is told (end-peer).
  void end_peer_later(const std::string &id, const char *reason, const char *message);
  // Worker: leaves the room and joins it again (a new id; the host offers again). `why` is
  // posted as a warning first.
  void rejoin(const std::string &why);

  // Viewer or member, any thread: asks the host (a viewer) or every other member (a member) for
  // ladder layer `layer` (`prefer`; -1: stop asking, which sends layer 0, no limit, to current
  // sessions). Sent to every session from now on, when it is made (so again after a rejoin).
  void set_prefer_layer(int layer);

  // The element message posted at every `joined` (a new session in the room).
  static constexpr const char *kJoinedMessage = "roomcast-joined";

  // Runs fn() on the worker (dropped when it is not running).
  void on_worker(std::function<void()> fn);
  // Runs fn() on the worker and waits (inline when the worker is not running).
  void on_worker_sync(const std::function<void()> &fn);

  // PeerOwner
  GstElement *element() override { return element_; }
  GMainContext *ref_worker_context() override { return worker_.ref_context(); }
  void peer_send_sdp(Peer &peer, const GstWebRTCSessionDescription *sdp) override;
  void peer_send_ice(Peer &peer, guint mline, const char *candidate, const char *mid) override;
  void peer_failed(Peer &peer, const char *reason, const char *message) override;

protected:
  // Element-specific parts, called on the worker without locks.
  virtual GstRoomcastRole role() const = 0;
  virtual bool streams_ready() { return true; }
  virtual std::vector<SendSource> send_sources() { return {}; }
  // Required element factories, checked at NULL->READY.
  virtual std::vector<const char *> required_factories() const;
  virtual void peer_added(Peer &peer) = 0;              // emit `peer-added`
  virtual void peer_removed(const std::string &id) = 0; // emit `peer-removed` (any thread)
  virtual void tick() {}                                // every second
  virtual void started(GMainContext *) {}               // worker started (NULL->READY)
  virtual void stopping() {}                            // before the worker stops

private:
  struct Waiting {
    std::string id, name;
    GstRoomcastRole role;
    PeerPlan plan;
    std::vector<std::function<void()>> stashed;
  };

  // Worker
  void create_peer(const std::string &id, const std::string &name, GstRoomcastRole role,
                   const PeerPlan &plan);
  void end_peer(const std::string &id, const char *reason, const char *message);
  bool when_peer_ready(const std::string &id, std::function<void()> fn);
  void handle_sdp(const std::string &id, GstWebRTCSessionDescription *sdp);
  void liveness_and_stats();
  void serve_waiting_for(const std::string &id);
  void session_started(const std::string &id, const std::string &previous,
                       GstRoomcastRoomKind kind);
  void watch_media();
  void handle_prefer(const std::string &id, int layer, int max_height);
  void send_prefer(const Peer &peer, int layer);
  // Whether a send from `peer` may go out: it is still one of ours (an ended peer, or one of a
  // session before a rejoin, names an id the room no longer knows).
  bool current(const Peer &peer) const;

  // Signaller thread
  static void on_sig_joined(GstRoomcastSignaller *, const gchar *id, GstRoomcastRoomKind kind,
                            gpointer data);
  static void on_sig_peer_joined(GstRoomcastSignaller *, const gchar *id, GstRoomcastRole role,
                                 const gchar *name, gboolean existing, gpointer data);
  static void on_sig_peer_left(GstRoomcastSignaller *, const gchar *id, gpointer data);
  static void on_sig_peer_ended(GstRoomcastSignaller *, const gchar *id, const gchar *reason,
                                const gchar *message, gpointer data);
  static void on_sig_sdp(GstRoomcastSignaller *, const gchar *id, GstWebRTCSessionDescription *sdp,
                         gpointer data);
  static void on_sig_ice(GstRoomcastSignaller *, const gchar *id, guint mline,
                         const gchar *candidate, const gchar *mid, gpointer data);
  static void on_sig_prefer(GstRoomcastSignaller *, const gchar *id, gint layer, gint max_height,
                            gpointer data);
  static void on_sig_error(GstRoomcastSignaller *, const gchar *message, gboolean fatal,
                           gpointer data);
  static void on_sig_ice_servers(GstRoomcastSignaller *, const gchar *stun,
                                 const gchar *const *turn, gpointer data);

  GstElement *element_; // no ref: the client lives inside it
  std::string worker_name_;
  Worker worker_;
  GSource *tick_ = nullptr; // worker only
  MediaWatch media_watch_;  // worker only

  // (lock)
  GstRoomcastSignaller *signaller_ = nullptr; // ref
  std::vector<gulong> handlers_;
  bool active_ = false;  // between READY->PAUSED and PAUSED->READY
  std::string own_id_;   // empty until joined; a `joined` while set starts a new session
  bool refused_ = false; // viewer: the host ended our session for a reason a rejoin cannot fix
  std::map<std::string, std::shared_ptr<Peer>> peers_;
  std::map<std::string, GstRoomcastRole> roles_; // every peer the room told us about
  ice::GstServers room_ice_;                     // the ICE servers the room suggests
  std::vector<Waiting> waiting_;
  // Peers on their way out (detach_async), by id: a new session with the same id waits for
  // them (its webrtcbin would have the same name).
  std::map<std::string, int> detaching_;
};

} // namespace roomcast
