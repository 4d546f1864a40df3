// LayerChooser: one viewer's bandwidth estimate and the ladder layer it follows.
//
// Fed twice a second (the stats poll) with what the viewer's receiver reports tell us: the
// fraction of packets lost and the round-trip time (RTCP receiver reports, through webrtcbin's
// get-stats), the share of packets it NACKed, what we sent it, and the viewer's own feedback
// when it sends some (REMB, transport-cc: see below and docs/architecture.md). The estimate is
// loss- and delay-based:
//   - congested (loss above `loss_down`, or the RTT risen `rtt_rise_us` above its minimum, a
//     queue growing on the path): the estimate drops to what got through (sent x (1 - loss)) and
//     the target goes down at once to the highest layer that fits it (at least one step);
//   - clean (loss below `loss_clean`, RTT near its minimum) for `up_wait_us` since the last
//     change: one step up, as a probe. Congestion within `probe_us` fails the probe: back to the
//     layer it came from. A layer that congested (probed or not) is not probed again before a
//     wait that grows fourfold with each failure (from `fail_wait_us` to `max_up_wait_us`); a
//     probe that lasts makes the estimate the new layer's rate and resets its wait, and the next
//     step up may follow at once (the probe was a clean period) unless that layer failed recently.
// Until the viewer is actually on the target (the switch waits for the target's keyframe), the
// reports still describe the layer it left: no decision is taken, and the hold and the probe
// period count from the switch.
// With `can_pad`, a probe is first made with padding (State::Padding, `pad_us`): the viewer stays
// on its layer while the caller sends `padding_bps()` more (retransmissions of packets it already
// has), so that the link carries the layer above's rate; congestion then costs the viewer a few
// packets of its own small layer and fails the probe as above (no switch was made); a clean
// padding period makes the switch (State::Probing, as without padding, for half as long).
// A failed padding probe cost the viewer next to nothing, so the layer above is padded for again
// sooner than a failed switch would allow: after `pad_fail_wait_us`, doubling with each padding
// failure in a row up to `max_pad_wait_us` (a link whose cap was lifted is found within seconds).
// The two backoffs are kept apart: a switch that failed (its padding had passed) still waits its
// own, growing fourfold, so a layer that only sometimes fits is not switched to every few seconds.
// After a step down, signals are ignored for `hold_us` (the queue drains, the reports lag), and
// for `drain_us` a high RTT alone is not acted on while what we send fits the estimate the step
// down made (after a failed padding probe: the layer the viewer stayed on, which the link carried
// before the padding): the reports describe a queue built before it (an RTT from a receiver report
// can be two seconds old, or three when it reports on a sender report that waited in the
// padding's queue), not one still growing. Loss still counts, but after a failed probe (back on
// a layer the link carried) only above `loss_after_probe`: the probe's lost packets are asked for
// again for a while.
//
// What the viewer itself says about its link, when it says it (Sample's `remb_bps`, `twcc_*`;
// see docs/architecture.md, "Per-viewer ladder"):
//   - REMB (the viewer's own receive-side estimate): below 90% of what we send, it is
//     congestion at once (the viewer's delay-based detector saw a queue grow before any loss), and
//     the estimate after it is at most the REMB. A REMB is no licence to go up: the viewer's
//     estimator never rises much above what it receives (libwebrtc: 1.5x), so it cannot vouch for a
//     layer not yet sent; probes go on as below.
//   - transport-cc (rtpsession's twcc-stats: per-packet feedback, a few times a second): its
//     packet loss counts as loss (the worse of it and the reports'), and the rate the viewer
//     received bounds what "got through" when congested.
// Without either (a webrtcbin viewer such as `roomcast watch`), only receiver reports and NACKs.
//
// Layers are indexed from the top (0: full size). A cap (`prefer`) bounds the top layer allowed.
// Pure logic (no clock of its own): the unit tests drive it with sample tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace roomcast {

class LayerChooser {
public:
  struct Config {
    double loss_down = 0.10;
    double loss_clean = 0.02;
    std::int64_t rtt_rise_us = 150000;
    std::int64_t rtt_same_us = 5000; // RTTs this close are one sender report's, read again
    std::int64_t up_wait_us = 3000000;
    std::int64_t fail_wait_us = 6000000; // a layer that congested, before it is probed again
    std::int64_t max_up_wait_us = 30000000;
    std::int64_t probe_us = 2000000;
    std::int64_t pad_us = 1500000;           // a padding probe's length
    std::int64_t pad_fail_wait_us = 3000000; // after a failed padding probe, before the next
    std::int64_t max_pad_wait_us = 8000000;
    // A padding probe raises what is sent to the layer above's nominal rate times this (keyframes
    // and the encoder's overshoot make the layer itself burstier than padding).
    double pad_margin = 1.1;
    std::int64_t hold_us = 1500000;
    std::int64_t drain_us = 4000000;
    double loss_after_probe = 0.30; // the loss that counts while draining after a failed probe
    std::int64_t switch_wait_us = 3000000; // a switch not made by then no longer holds decisions
    double headroom = 0.85; // a layer fits when its rate is at most this share of the estimate
    double remb_low = 0.90; // a REMB below this share of what we send is congestion
  };
  struct Sample {
    std::int64_t now_us = 0;
    double sent_bps = 0;      // what we sent the viewer over the last period
    double fraction_lost = 0; // from its latest receiver report (0..1)
    double rtt_s = 0;         // 0: unknown
    bool switching = false;   // the last target is not sent yet (its keyframe has not come)
    bool can_pad = false;     // the caller can send padding (see padding_bps)
    bool pad_stopped = false; // the caller stopped this probe's padding (the peer NACKed)
    // The viewer's feedback beyond receiver reports (see above); 0 / negative: none (fresh).
    double remb_bps = 0;      // its latest REMB
    double twcc_loss = -1;    // transport-cc: the share of packets lost (0..1)
    double twcc_recv_bps = 0; // transport-cc: the rate it received
  };
  enum class State { Steady, Probing, Holding, Padding };

  LayerChooser(std::vector<double> layer_bps, Config cfg);
  LayerChooser(std::vector<double> layer_bps) : LayerChooser(std::move(layer_bps), Config{}) {}

  // Returns the target layer after this sample.
  int update(const Sample &s);
  // The top layer allowed (0: any); the target is moved below it at once.
  void set_cap(int top_layer);
  int cap() const { return cap_; }
  int target() const { return target_; }
  double estimate_bps() const { return estimate_bps_; }
  State state() const { return state_; }
  // While Padding: the extra rate to send, else 0: the layer above's nominal rate (times
  // `pad_margin`) less what was sent when the probe began (a layer's real rate is often well
  // under its nominal one: padding by the difference of nominal rates tested too little).
  double padding_bps() const;

private:
  int fitting_layer(double bps) const;
  std::vector<double> layer_bps_;
  Config cfg_;
  int target_ = 0;
  int cap_ = 0;
  double estimate_bps_ = 0;
  std::int64_t min_rtt_us_ = 0;
  std::int64_t clean_since_ = 0;
  std::int64_t changed_at_ = 0;
  std::int64_t down_at_ = -(std::int64_t(1) << 60); // the last step down (long ago)
  std::int64_t last_rtt_us_ = -1;                   // the previous sample's
  bool padded_ = false;                             // the probe now made was padded first
  double pad_bps_ = 0;                              // this padding probe's extra rate
  double pad_from_bps_ = 0;                         // what was sent when it began
  double drain_fit_bps_ = 0;     // after the last step down: a send rate the queue drains at
  bool back_from_probe_ = false; // that step was a failed probe's
  std::vector<std::int64_t> fail_wait_us_;  // per layer
  std::vector<std::int64_t> failed_at_;     // per layer: its last failed probe (0: none)
  std::vector<std::int64_t> pad_wait_us_;   // per layer: the wait after padding failures (0: none)
  std::vector<std::int64_t> pad_failed_at_; // per layer: its last failed padding probe (0: none)
  int probe_from_ = 0;                      // the layer a probe left
  std::int64_t entered_at_ = -(std::int64_t(1) << 60); // when the target was last set (long ago)
  State state_ = State::Steady;
};

const char *layer_state_name(LayerChooser::State s);

// The bitrate of a REMB feedback message's FCI (RTCP PSFB fmt 15, application layer feedback:
// "REMB", the number of SSRCs, a 6-bit exponent and 18-bit mantissa, the SSRCs). False when it
// is not a REMB or is cut short (`bps` untouched).
bool parse_remb(const std::uint8_t *fci, std::size_t len, double &bps);

} // namespace roomcast
