#include "latency-fit.h"

#include <algorithm>

namespace roomcast {

std::uint32_t LatencyFit::needed(std::uint32_t rtt_ms, std::uint32_t jitter_ms, bool lossy) const {
  std::uint64_t want = std::uint64_t(kJitterFactor) * jitter_ms + kMarginMs;
  if (lossy) want += kDetectMs + kFeedbackMs + std::uint64_t(kAttempts) * rtt_ms;
  std::uint64_t floor = limits_.floor_ms, ceiling = std::max(limits_.ceiling_ms, limits_.floor_ms);
  return std::uint32_t(std::clamp<std::uint64_t>(want, floor, ceiling));
}

std::optional<std::uint32_t> LatencyFit::sample(std::uint32_t rtt_ms, std::uint32_t jitter_ms,
                                                bool lossy) {
  std::uint32_t want = needed(rtt_ms, jitter_ms, lossy);
  if (want >= current_ + kRaiseByMs) {
    lower_streak_ = 0;
    current_ = want;
    return current_;
  }
  if (want < current_ && current_ - want >= kLowerByMs) {
    if (++lower_streak_ >= kLowerAfter) {
      lower_streak_ = 0;
      current_ = want;
      return current_;
    }
  } else {
    lower_streak_ = 0;
  }
  return std::nullopt;
}

} // namespace roomcast
