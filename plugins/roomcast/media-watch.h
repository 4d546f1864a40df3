// MediaWatch: when a viewer should leave its room and join again because no media comes.
//
// A pure policy (no clock, no lock, no GStreamer), fed about once a second with what the viewer
// sees. A viewer whose media stopped cannot tell a broken path from a host that gave up on it;
// joining again makes the host offer a new session, which works as soon as the path does.
//
// - A connected session must show life: more bytes, or newer RTCP, from the host than ever
//   before (counters that fall are no life: webrtcbin drops the stats of a timed-out source).
//   The clock starts over at every (re)join, whenever the host or the session changes, and at
//   every sign of life; after `timeout` without one, join again.
// - A session that has not connected `connect_timeout()` after it was made will not: libnice
//   sends a pair's checks 0, 0.5 and 1.5 s after it starts and gives up on it soon after, and a
//   path that comes back later is found only by a new session's first checks. Join again. The
//   allowance is kConnectTimeoutUs (3 s), or twice the slowest connection seen in this run if
//   that is longer (a slow path, e.g. through a relay, keeps its chance); before any session
//   connected it is `timeout`.
// - No session while a host is there (its offer is late, or our session failed): after
//   `timeout`, join again.
// - No host, or a host that refused us (max-peers and the like, which a rejoin would not fix):
//   nothing to wait for.
// Fruitless rejoins (no life since) are cheap for us but each costs the host a new session:
// after kFastTries of them in a row the waits are kSlowFactor times longer, until media flows.
#pragma once

#include <cstdint>
#include <string>

namespace roomcast {

class MediaWatch {
public:
  // What the viewer sees at one moment.
  struct Sample {
    std::string host;              // the id of the room's host, empty when there is none
    bool refused = false;          // the host ended our session for a reason a rejoin cannot fix
    std::string session;           // the id of the peer we have a session with, empty for none
    std::int64_t started_us = 0;   // when that session was made (same clock as `now`)
    std::int64_t connected_us = 0; // when its connection formed (same clock), 0: not yet
    std::uint64_t bytes = 0;       // media bytes received on it so far
    std::int64_t rtcp_us = 0;      // when RTCP last came from it (any clock; only growth counts)
  };
  static constexpr std::int64_t kConnectTimeoutUs = 3'000'000;
  static constexpr unsigned kFastTries = 12;
  static constexpr unsigned kSlowFactor = 6;

  explicit MediaWatch(std::int64_t timeout_us = 0) : timeout_us_(timeout_us) {}

  // 0: never rejoin.
  void set_timeout(std::int64_t timeout_us) { timeout_us_ = timeout_us; }
  // The wait without media before a rejoin now (longer after many fruitless ones).
  std::int64_t timeout() const { return slowed(timeout_us_); }
  // The same for a session that has not connected.
  std::int64_t connect_timeout() const;

  // We joined (or joined again) at `now_us`: wait a whole timeout from here.
  void restart(std::int64_t now_us);
  // One look at `now_us`. True: join again (the caller calls rejoining(), then restart() once
  // in the room). `why` (if given) says which rule it was.
  bool stalled(std::int64_t now_us, const Sample &s, const char **why = nullptr);
  // The caller leaves and joins again because media stopped or the session failed.
  void rejoining() { tries_++; }
  // Whether a failed session may be rejoined at once, or should wait for stalled().
  bool may_rejoin_now() const { return tries_ < kFastTries; }
  unsigned tries() const { return tries_; }

private:
  std::int64_t slowed(std::int64_t t) const { return tries_ < kFastTries ? t : t * kSlowFactor; }

  std::int64_t timeout_us_;
  std::int64_t since_us_ = 0;     // the clock's start
  std::int64_t restarted_us_ = 0; // the last restart()
  bool started_ = false;
  unsigned tries_ = 0;                   // rejoins since media last flowed
  std::int64_t slowest_connect_us_ = -1; // -1: no session connected yet
  Sample last_;
};

} // namespace roomcast
