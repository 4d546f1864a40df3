#include "media-watch.h"

namespace roomcast {

void MediaWatch::restart(std::int64_t now_us) {
  since_us_ = now_us;
  started_ = true;
  last_ = Sample{};
}

bool MediaWatch::stalled(std::int64_t now_us, const Sample &s) {
  if (!started_) restart(now_us);
  if (timeout_us_ <= 0 || s.host.empty() || s.refused) {
    // Nothing to wait for.
    since_us_ = now_us;
    last_ = s;
    return false;
  }
  bool alive = s.host != last_.host || s.session != last_.session || s.bytes != last_.bytes ||
               s.rtcp_us != last_.rtcp_us || last_.refused;
  last_ = s;
  if (alive) {
    since_us_ = now_us;
    return false;
  }
  return now_us - since_us_ >= timeout_us_;
}

} // namespace roomcast
