#include "media-watch.h"

#include <algorithm>

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
  bool fresh = s.host != last_.host || s.session != last_.session || last_.refused;
  // Only growth counts: the counters of a session can also fall (webrtcbin drops the stats of a
  // source that timed out), which is no sign of life.
  bool flowing = !fresh && (s.bytes > last_.bytes || s.rtcp_us > last_.rtcp_us);
  bool alive = fresh || flowing;
  if (flowing) tries_ = 0;
  if (fresh) {
    last_ = s;
  } else {
    last_.bytes = std::max(last_.bytes, s.bytes);
    last_.rtcp_us = std::max(last_.rtcp_us, s.rtcp_us);
  }
  if (alive) {
    since_us_ = now_us;
    return false;
  }
  return now_us - since_us_ >= timeout();
}

} // namespace roomcast
