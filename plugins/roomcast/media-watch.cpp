#include "media-watch.h"

#include <algorithm>

namespace roomcast {

void MediaWatch::restart(std::int64_t now_us) {
  since_us_ = restarted_us_ = now_us;
  started_ = true;
  last_ = Sample{};
}

std::int64_t MediaWatch::connect_timeout() const {
  if (slowest_connect_us_ < 0) return timeout();
  return slowed(std::max(kConnectTimeoutUs, 2 * slowest_connect_us_));
}

bool MediaWatch::stalled(std::int64_t now_us, const Sample &s, const char **why) {
  if (!started_) restart(now_us);
  if (timeout_us_ <= 0 || s.host.empty() || s.refused) {
    // Nothing to wait for.
    since_us_ = now_us;
    last_ = s;
    return false;
  }
  if (s.connected_us && s.connected_us >= s.started_us)
    slowest_connect_us_ = std::max(slowest_connect_us_, s.connected_us - s.started_us);
  bool fresh = s.host != last_.host || s.session != last_.session || last_.refused;
  // Only growth counts.
  bool flowing = !fresh && (s.bytes > last_.bytes || s.rtcp_us > last_.rtcp_us);
  if (flowing) tries_ = 0;
  if (fresh) {
    last_ = s;
  } else {
    last_.bytes = std::max(last_.bytes, s.bytes);
    last_.rtcp_us = std::max(last_.rtcp_us, s.rtcp_us);
    last_.connected_us = s.connected_us;
  }
  if (fresh || flowing) since_us_ = now_us;
  if (!s.session.empty() && !s.connected_us) {
    // Counted from the session's own start (it may be older than our first look at it), and
    // never sooner than that after our last (re)join.
    if (why) *why = "no connection";
    std::int64_t from = std::max(s.started_us, restarted_us_);
    return now_us - from >= connect_timeout();
  }
  if (why) *why = s.session.empty() ? "no session" : "no media";
  return now_us - since_us_ >= timeout();
}

} // namespace roomcast
