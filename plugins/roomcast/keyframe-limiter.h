// KeyframeLimiter: how often the shared encoder may be asked for a keyframe.
//
// A pure policy (no clock, no lock, no GStreamer): the caller passes `now` and holds whatever
// lock guards it. Requests closer than the interval are merged into one deferred request, sent
// when the interval ends, so every peer that asked gets a keyframe and the encoder no storm.
#pragma once

#include <cstdint>

namespace roomcast {

class KeyframeLimiter {
public:
  enum class Verdict {
    Forward, // pass this request to the encoder now
    Defer,   // drop it, and send one request at `at_us` (the caller arms a timer)
    Merge,   // drop it: a deferred request is already due and covers it
  };
  struct Decision {
    Verdict verdict;
    std::int64_t at_us = 0; // Defer: when to send the merged request
  };

  explicit KeyframeLimiter(std::int64_t interval_us = 500'000) : interval_us_(interval_us) {}

  void set_interval(std::int64_t interval_us) { interval_us_ = interval_us; }
  std::int64_t interval() const { return interval_us_; }

  // A request arrived at `now_us`.
  Decision request(std::int64_t now_us);
  // The deferred request was sent at `now_us`.
  void deferred_sent(std::int64_t now_us);
  // Forget the past (a new stream).
  void reset();

  std::uint64_t forwarded() const { return forwarded_; }
  std::uint64_t merged() const { return merged_; }
  bool pending() const { return pending_; }

private:
  std::int64_t interval_us_;
  std::int64_t last_us_ = 0;
  bool sent_any_ = false;
  bool pending_ = false;
  std::uint64_t forwarded_ = 0, merged_ = 0;
};

} // namespace roomcast
