// MediaWatch: when a viewer should leave its room and join again because no media comes.
//
// A pure policy (no clock, no lock, no GStreamer), fed about once a second with what the viewer
// sees. A viewer whose media stopped cannot tell a broken path from a host that gave up on it;
// joining again makes the host offer a new session, which works as soon as the path does. The
// clock starts over at every (re)join, whenever the host or the session changes, and whenever
// the session shows life (more bytes, or newer RTCP, from the host than ever before: counters
// that fall are no life); it stands still while there is no host to wait for, or the host
// refused us (max-peers and the like: joining again would not help).
// A session that has not connected yet counts like a silent one: a path that comes back is found
// sooner by a new session's first, close-spaced connectivity checks than by the late ones of an
// old session.
// Fruitless rejoins (no life since) are cheap for us but each costs the host a new session:
// after kFastTries of them in a row (about a minute at 5 s) the watch waits kSlowFactor times
// longer, until media flows again.
#pragma once

#include <cstdint>
#include <string>

namespace roomcast {

class MediaWatch {
public:
  // What the viewer sees at one moment.
  struct Sample {
    std::string host;         // the id of the room's host, empty when there is none
    bool refused = false;     // the host ended our session for a reason a rejoin cannot fix
    std::string session;      // the id of the peer we have a session with, empty for none
    std::uint64_t bytes = 0;  // media bytes received on that session so far
    std::int64_t rtcp_us = 0; // when RTCP last came from it (any clock; only growth counts)
  };
  static constexpr unsigned kFastTries = 12;
  static constexpr unsigned kSlowFactor = 6;

  explicit MediaWatch(std::int64_t timeout_us = 0) : timeout_us_(timeout_us) {}

  // 0: never rejoin.
  void set_timeout(std::int64_t timeout_us) { timeout_us_ = timeout_us; }
  // The wait before a rejoin now (longer after many fruitless ones).
  std::int64_t timeout() const {
    return tries_ < kFastTries ? timeout_us_ : timeout_us_ * kSlowFactor;
  }

  // We joined (or joined again) at `now_us`: wait a whole timeout from here.
  void restart(std::int64_t now_us);
  // One look at `now_us`. True: no media for timeout() while a host is there; the caller
  // rejoins (rejoining(), then restart() once in the room).
  bool stalled(std::int64_t now_us, const Sample &s);
  // The caller leaves and joins again because media stopped or the session failed.
  void rejoining() { tries_++; }
  // Whether a failed session may be rejoined at once, or should wait for stalled().
  bool may_rejoin_now() const { return tries_ < kFastTries; }
  unsigned tries() const { return tries_; }

private:
  std::int64_t timeout_us_;
  std::int64_t since_us_ = 0; // the clock's start
  bool started_ = false;
  unsigned tries_ = 0; // rejoins since media last flowed
  Sample last_;
};

} // namespace roomcast
