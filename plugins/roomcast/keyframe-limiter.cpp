#include "keyframe-limiter.h"

namespace roomcast {

KeyframeLimiter::Decision KeyframeLimiter::request(std::int64_t now_us) {
  if (!pending_ && (!sent_any_ || now_us - last_us_ >= interval_us_)) {
    sent_any_ = true;
    last_us_ = now_us;
    forwarded_++;
    return {Verdict::Forward};
  }
  merged_++;
  if (pending_) return {Verdict::Merge};
  pending_ = true;
  return {Verdict::Defer, last_us_ + interval_us_};
}

void KeyframeLimiter::deferred_sent(std::int64_t now_us) {
  pending_ = false;
  sent_any_ = true;
  last_us_ = now_us;
  forwarded_++;
}

void KeyframeLimiter::reset() {
  sent_any_ = false;
  pending_ = false;
  last_us_ = 0;
}

} // namespace roomcast
