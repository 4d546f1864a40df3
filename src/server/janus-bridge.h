// Live rooms served through Janus nodes (roomcast serve --sfu janus=ws://HOST:8188): the host's
// sink publishes once per node into a Janus VideoRoom, and each viewer receives from one node,
// while host and viewers speak only our own protocol (docs/architecture.md, "Scale-out with
// Janus").
//
// To the host, each node of a room is one more viewer (a virtual peer, id "sfu<N>-<hex>"): the
// host offers to it as to any viewer, and the bridge makes that offer a VideoRoom publisher's
// joinandconfigure and Janus's answer the viewer's answer. A real viewer is not announced to the
// host: the bridge subscribes to the host's feed on the least loaded node and hands Janus's offer
// to the viewer as the host's; the viewer's answer starts the subscription. Candidates pass both
// ways (Janus trickle). A node that goes down moves its viewers to another node (a new offer from
// the host's id, which replaces a viewer's session); with no node left, or when every node fails
// a viewer, the viewer is announced to the host and served directly, as without --sfu.
//
// Threading: the signalling server's thread and main context only (see janus-node.h).
#pragma once

#include "janus-node.h"
#include "protocol.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace roomcast::janus {

class Bridge {
public:
  struct Hooks {
    // Sends a message to the real peer with this id (dropped if it is gone).
    std::function<void(const std::string &id, const proto::Message &m)> send;
    // The viewer is served directly from now on: tell its host about it (peer-joined).
    std::function<void(const std::string &viewer)> show_to_host;
  };

  // urls: ws://HOST:PORT of each node.
  Bridge(const std::vector<std::string> &urls, Hooks hooks);
  ~Bridge();
  Bridge(const Bridge &) = delete;
  Bridge &operator=(const Bridge &) = delete;

  void start(); // connects to every node

  // The server's events for live rooms. viewer_joined() returns true when the viewer goes through
  // Janus (then the host is not told about it, neither its join nor its leave); host may be
  // empty (no host yet).
  bool viewer_joined(const std::string &room, const std::string &viewer, const std::string &host);
  // True if the viewer went through Janus (so its host is not told it left).
  bool viewer_left(const std::string &viewer);
  void host_joined(const std::string &room, const std::string &host);
  void host_left(const std::string &room);
  // True when a viewer is served through Janus (hidden from its host).
  bool hides(const std::string &viewer) const;
  // An offer/answer/ice/bye from peer `from` in `room`: true when it was for the bridge (to a
  // node's virtual peer, or from a viewer served through Janus to its host) and is dealt with.
  bool relay(const std::string &room, const std::string &from, proto::Message &m);

  // Prometheus families (roomcast_sfu_*).
  std::string metrics() const;

  struct Pub;
  struct Sub;
  struct RoomState;

private:
  void node_up(unsigned n);
  void node_down(unsigned n);
  void on_event(unsigned n, guint64 sender, JsonObject *msg);
  void setup_pub(RoomState &r, unsigned n);
  void end_pub(RoomState &r, unsigned n, bool tell_host);
  void pub_ready(RoomState &r, unsigned n);
  void subscribe(Sub &s);
  void move_sub(Sub &s, const std::string &why);
  void go_direct(Sub &s, const std::string &why);
  int pick_node(const RoomState *r, int avoid) const;
  unsigned load(unsigned n) const;
  RoomState *room_of(const std::string &name);
  static gboolean on_tick(gpointer data);

  Hooks hooks_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, std::unique_ptr<RoomState>> rooms_;
  std::map<std::string, std::unique_ptr<Sub>> subs_; // by viewer id
  std::uint64_t moved_ = 0, direct_ = 0, failures_ = 0;
  std::uint64_t next_gen_ = 1;
  guint tick_ = 0;
};

} // namespace roomcast::janus
