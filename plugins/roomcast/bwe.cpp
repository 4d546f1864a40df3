#include "bwe.h"

#include <algorithm>

namespace roomcast {

LayerChooser::LayerChooser(std::vector<double> layer_bps, Config cfg)
    : layer_bps_(std::move(layer_bps)), cfg_(cfg) {
  if (layer_bps_.empty()) layer_bps_.push_back(0);
  fail_wait_us_.assign(layer_bps_.size(), cfg_.fail_wait_us);
  failed_at_.assign(layer_bps_.size(), 0);
  pad_wait_us_.assign(layer_bps_.size(), 0);
  pad_failed_at_.assign(layer_bps_.size(), 0);
  estimate_bps_ = layer_bps_[0];
}

int LayerChooser::fitting_layer(double bps) const {
  for (int i = 0; i < int(layer_bps_.size()); i++)
    if (layer_bps_[i] <= bps * cfg_.headroom) return i;
  return int(layer_bps_.size()) - 1;
}

void LayerChooser::set_cap(int top_layer) {
  cap_ = std::clamp(top_layer, 0, int(layer_bps_.size()) - 1);
  if (state_ == State::Padding) state_ = State::Steady;
  if (target_ < cap_) target_ = cap_;
}

int LayerChooser::update(const Sample &s) {
  const int last = int(layer_bps_.size()) - 1;
  const std::int64_t rtt_us = std::int64_t(s.rtt_s * 1e6);
  if (rtt_us > 0 && (min_rtt_us_ == 0 || rtt_us < min_rtt_us_)) min_rtt_us_ = rtt_us;
  const std::int64_t rise = (rtt_us > 0 && min_rtt_us_ > 0) ? rtt_us - min_rtt_us_ : 0;
  if (s.switching && state_ != State::Steady && s.now_us - entered_at_ < cfg_.switch_wait_us) {
    changed_at_ = s.now_us;
    if (state_ == State::Holding) down_at_ = s.now_us;
    return target_;
  }
  if (state_ == State::Padding && !s.can_pad) state_ = State::Steady;
  if (state_ == State::Holding) {
    if (s.now_us - changed_at_ < cfg_.hold_us) return target_;
    state_ = State::Steady;
    clean_since_ = 0;
  }
  // A queue that built before the last step down and is draining now (see bwe.h): we send
  // what fits the estimate that step made. Back from a failed probe, to a layer that was carried,
  // the old layer's losses are still being asked for again: only heavy loss counts then.
  const bool after_down =
      s.now_us - down_at_ < cfg_.drain_us && s.sent_bps > 0 && s.sent_bps <= drain_fit_bps_;
  const double loss_limit = after_down && back_from_probe_
                                ? std::max(cfg_.loss_after_probe, cfg_.loss_down)
                                : cfg_.loss_down;
  // The viewer's transport-cc loss (per packet, over its last feedback) counts as the reports'.
  const double lost = std::max(s.fraction_lost, s.twcc_loss);
  const bool lossy = lost > loss_limit;
  // The viewer's own estimate fell below what we send: its queue is growing.
  const bool remb_low = s.remb_bps > 0 && s.sent_bps > 0 && s.remb_bps < s.sent_bps * cfg_.remb_low;
  // An RTT within `rtt_same_us` of the last one taken is the same sender report's round trip
  // read again: webrtcbin keeps the last report, and a receiver reports on the last sender report
  // it had (one every 1-2.5 s here), each report a millisecond or two apart. A queue it saw may be
  // long gone, so it is not acted on twice. The anchor moves only on a new value, so a round trip
  // that keeps drifting the same way is taken once it has moved that far, and an RTT missing from
  // a poll (0: seen for seconds at a time) that comes back unchanged is not new either.
  const bool fresh_rtt =
      rtt_us > 0 && (last_rtt_us_ < 0 || rtt_us - last_rtt_us_ > cfg_.rtt_same_us ||
                     last_rtt_us_ - rtt_us > cfg_.rtt_same_us);
  if (fresh_rtt) last_rtt_us_ = rtt_us;
  const bool delayed = fresh_rtt && rise > cfg_.rtt_rise_us;
  const bool draining = !lossy && !remb_low && after_down && (delayed || lost > cfg_.loss_down);
  if (draining) {
    clean_since_ = 0;
    return target_;
  }
  const bool congested = lossy || delayed || remb_low;
  const bool clean = lost < cfg_.loss_clean && rise <= cfg_.rtt_rise_us / 2 && !remb_low;
  // What got through, when congested (no rate yet, the first poll: `fallback`): what we sent less
  // what was lost, at most what the viewer says it received and what it estimates.
  auto got_through = [&](double fallback) {
    const double sent = s.sent_bps > 0 ? s.sent_bps : fallback;
    double got = lossy ? sent * (1.0 - lost) : sent * cfg_.headroom;
    if (lossy && s.twcc_recv_bps > 0) got = std::min(got, s.twcc_recv_bps);
    if (s.remb_bps > 0) got = std::min(got, s.remb_bps);
    return got;
  };
  // A padding probe that congested, or that is still not clean at its end, failed.
  if (state_ == State::Padding &&
      (congested || s.pad_stopped || (!clean && s.now_us - changed_at_ >= cfg_.pad_us))) {
    // The padding probe failed: the layer above does not fit now; the viewer stays where it is,
    // the padding stops and the queue drains. Padded for again after a shorter wait than a
    // failed switch's (it cost a few packets, not a frozen picture).
    const int up = target_ - 1;
    pad_wait_us_[up] = pad_wait_us_[up] ? std::min(pad_wait_us_[up] * 2, cfg_.max_pad_wait_us)
                                        : cfg_.pad_fail_wait_us;
    pad_failed_at_[up] = s.now_us;
    estimate_bps_ = got_through(layer_bps_[up]);
    // What fits while the padding's queue drains: the layer the viewer is on (it was carried
    // before the padding), not what got through while padding.
    drain_fit_bps_ =
        std::max({estimate_bps_ * cfg_.headroom, layer_bps_[target_], pad_from_bps_ * 1.25});
    back_from_probe_ = true;
    down_at_ = s.now_us;
    state_ = State::Holding;
    changed_at_ = s.now_us;
    clean_since_ = 0;
    return target_;
  }
  if (congested) {
    // No rate yet (the first poll): the layer's own.
    const double got = got_through(layer_bps_[target_]);
    estimate_bps_ = got;
    // The layer left does not fit: it is not probed again before a wait that grows fourfold
    // with each failure (a first failure: `fail_wait_us`).
    // Only a probe, or a layer that had held for a while, counts: a step down right after
    // another says more about the queue still draining than about this layer.
    if (state_ == State::Probing || s.now_us - entered_at_ >= cfg_.up_wait_us) {
      if (failed_at_[target_])
        fail_wait_us_[target_] = std::min(fail_wait_us_[target_] * 4, cfg_.max_up_wait_us);
      failed_at_[target_] = s.now_us;
    }
    back_from_probe_ = state_ == State::Probing;
    // A failed probe goes back where it started (which fitted); otherwise to what got through.
    const int next = state_ == State::Probing
                         ? probe_from_
                         : std::max(fitting_layer(got), std::min(target_ + 1, last));
    target_ = std::max(next, cap_);
    entered_at_ = s.now_us;
    down_at_ = s.now_us;
    drain_fit_bps_ = estimate_bps_ * cfg_.headroom;
    state_ = State::Holding;
    changed_at_ = s.now_us;
    clean_since_ = 0;
    return target_;
  }
  if (!clean) {
    clean_since_ = 0;
    return target_;
  }
  if (clean_since_ == 0) clean_since_ = s.now_us;
  estimate_bps_ = std::max(estimate_bps_, s.sent_bps);
  if (state_ == State::Padding) {
    if (s.now_us - changed_at_ < cfg_.pad_us) return target_;
    // The link carried the layer above's rate: switch to it (a probe as without padding).
    padded_ = true;
    probe_from_ = target_;
    target_ -= 1;
    entered_at_ = s.now_us;
    state_ = State::Probing;
    changed_at_ = s.now_us;
    return target_;
  }
  if (state_ == State::Probing) {
    // After a padding probe carried this rate, the switch only has to show the layer decodes.
    if (s.now_us - changed_at_ >= (padded_ ? cfg_.probe_us / 2 : cfg_.probe_us)) {
      state_ = State::Steady;
      fail_wait_us_[target_] = cfg_.fail_wait_us;
      failed_at_[target_] = 0;
      pad_wait_us_[target_] = 0;
      pad_failed_at_[target_] = 0;
      estimate_bps_ = std::max(estimate_bps_, layer_bps_[target_]);
      // The probe was a clean period: the next step may follow now.
      clean_since_ = changed_at_ - cfg_.up_wait_us;
      changed_at_ -= cfg_.up_wait_us;
    } else {
      return target_;
    }
  }
  const int up = target_ - 1;
  if (target_ > cap_ && s.now_us - clean_since_ >= cfg_.up_wait_us &&
      s.now_us - changed_at_ >= cfg_.up_wait_us &&
      (!failed_at_[up] || s.now_us - failed_at_[up] >= fail_wait_us_[up]) &&
      (!pad_failed_at_[up] || s.now_us - pad_failed_at_[up] >= pad_wait_us_[up])) {
    padded_ = false;
    if (s.can_pad) {
      pad_bps_ = std::max(0.0, layer_bps_[up] * cfg_.pad_margin - s.sent_bps);
      pad_from_bps_ = s.sent_bps;
      state_ = State::Padding;
      changed_at_ = s.now_us;
      return target_;
    }
    probe_from_ = target_;
    target_ = up;
    entered_at_ = s.now_us;
    state_ = State::Probing;
    changed_at_ = s.now_us;
  }
  return target_;
}

double LayerChooser::padding_bps() const {
  if (state_ != State::Padding || target_ == 0) return 0;
  return pad_bps_;
}

bool parse_remb(const std::uint8_t *fci, std::size_t len, double &bps) {
  if (!fci || len < 8 || fci[0] != 'R' || fci[1] != 'E' || fci[2] != 'M' || fci[3] != 'B')
    return false;
  const std::size_t ssrcs = fci[4];
  if (len < 8 + 4 * ssrcs) return false;
  const unsigned exponent = fci[5] >> 2;
  const std::uint64_t mantissa =
      (std::uint64_t(fci[5] & 0x03) << 16) | (std::uint64_t(fci[6]) << 8) | fci[7];
  // 18 bits shifted by up to 63: kept in a double (no overflow).
  bps = double(mantissa) * double(std::uint64_t(1) << std::min(exponent, 63u));
  return true;
}

const char *layer_state_name(LayerChooser::State s) {
  switch (s) {
  case LayerChooser::State::Steady:
    return "steady";
  case LayerChooser::State::Probing:
    return "probing";
  case LayerChooser::State::Holding:
    return "holding";
  case LayerChooser::State::Padding:
    return "padding";
  }
  return "?";
}

} // namespace roomcast
