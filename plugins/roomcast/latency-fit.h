// LatencyFit: the receive jitterbuffer's latency, fitted to the link.
//
// A retransmission can only repair a loss if it arrives before the jitterbuffer gives the packet
// up: the latency must cover the time to notice the loss, one round trip per attempt, and the
// link's jitter. The element's `latency` is the floor (what a clean link needs); this policy
// raises the latency when the measured round trip (from retransmissions) and jitter need more,
// at once, and lowers it again only after the link has needed less for a while, so that one
// quiet moment does not undo it. On a link that loses nothing only the jitter counts, so a clean
// LAN keeps the floor (and its glass-to-glass latency). A pure policy (no clock, no lock, no
// GStreamer), table-tested.
#pragma once

#include <cstdint>
#include <optional>

namespace roomcast {

class LatencyFit {
public:
  struct Limits {
    std::uint32_t floor_ms = 50;     // the configured latency: never below it
    std::uint32_t ceiling_ms = 1000; // never above it
  };
  // Any link: `kJitterFactor` times the jitter and a margin for scheduling. A lossy link also:
  // the time to notice a loss (the last packet of a frame is missed only when the next frame
  // starts: a frame at 20 fps), the feedback interval to ask, and `kAttempts` round trips (a
  // request or its retransmission lost three times still makes it). Measured at 5% loss both ways
  // and a 100 ms round trip: with 3, 0-4 packets given up per 10 s (each a ~0.5 s freeze until a
  // keyframe, 84-100% of the frames); with 4, none in 4 runs (99-100%), for 100 ms more latency.
  // Retransmissions need history: webrtcbin keeps 500 packets per sender (1.6 s at 2 Mbit/s).
  static constexpr std::uint32_t kJitterFactor = 3;
  static constexpr std::uint32_t kMarginMs = 20;
  static constexpr std::uint32_t kDetectMs = 50;
  static constexpr std::uint32_t kFeedbackMs = 30;
  static constexpr std::uint32_t kAttempts = 4;
  // Raise only by at least this much (every change is a latency message and a short hold).
  static constexpr std::uint32_t kRaiseByMs = 10;
  // Lower only after this many consecutive samples asked for at least kLowerByMs less.
  static constexpr int kLowerAfter = 10;
  static constexpr std::uint32_t kLowerByMs = 50;

  explicit LatencyFit(Limits limits) : limits_(limits), current_(limits.floor_ms) {}

  // The latency a link with this round trip and jitter needs (clamped to the limits); `lossy`:
  // packets went missing since the last sample.
  std::uint32_t needed(std::uint32_t rtt_ms, std::uint32_t jitter_ms, bool lossy) const;
  // One sample (about once a second). Returns the new latency when it should change.
  std::optional<std::uint32_t> sample(std::uint32_t rtt_ms, std::uint32_t jitter_ms, bool lossy);
  std::uint32_t current() const { return current_; }

private:
  Limits limits_;
  std::uint32_t current_;
  int lower_streak_ = 0;
};

} // namespace roomcast
