// RtxBudget: how many retransmissions a sent stream may cost.
//
// Every packet sent earns `per_packet` of a retransmission (up to `burst` saved); every
// retransmission spends one. A viewer whose link is too slow for the stream loses most packets
// and asks for all of them again: without a budget the host answered every request (measured: a
// viewer capped at 500 kbit/s on a 2 Mbit/s stream drew ~17 times the stream's packets, and the
// host's CPU was taken from the viewers on good links). With one, a slow viewer costs at most
// (1 + per_packet) times the stream, and 5% random loss (5-10% of the packets asked again,
// more with reordering) stays well inside it. A pure policy, table-tested.
#pragma once

#include <cstdint>

namespace roomcast {

class RtxBudget {
public:
  static constexpr double kPerPacket = 0.5;
  static constexpr double kBurst = 200;

  explicit RtxBudget(double per_packet = kPerPacket, double burst = kBurst)
      : per_packet_(per_packet), burst_(burst), tokens_(burst) {}

  // `n` media packets were sent.
  void sent(std::uint64_t n);
  // A retransmission was asked for: true to send it, false to refuse it.
  bool take();
  // A second copy of a granted retransmission: true to send it. Copies are paid from savings
  // only while more than half the burst is left, so that a link losing much (congestion, most
  // likely) gets single copies, and its requests are refused last.
  bool take_extra();
  // The link is congested (a ladder viewer stepped down): the savings are spent, so that the
  // requests for what the congestion lost do not come back as one burst into the same queue.
  void empty() { tokens_ = 0; }
  // A padding probe failed (the peer NACKed packets of its own behind the padding): at most
  // `tokens` saved, enough to repair what the probe cost, not the whole burst. Spent into the
  // link the padding just filled, the burst kept it congested: a 500 kbit/s viewer on a
  // ~400 kbit/s layer drew ~300 kbit/s of retransmissions for 2.5 s, each one lost half the time
  // and asked for again, until the chooser stepped it down from a layer that fitted.
  void limit(double tokens) { tokens_ = tokens_ < tokens ? tokens_ : tokens; }

  std::uint64_t granted() const { return granted_; }
  std::uint64_t refused() const { return refused_; }

private:
  double per_packet_, burst_, tokens_;
  std::uint64_t granted_ = 0, refused_ = 0;
};

} // namespace roomcast
