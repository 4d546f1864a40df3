#include "layer-switch.h"

namespace roomcast {

bool parse_vp8(const std::uint8_t *p, std::size_t len, Vp8Descriptor &out) {
  out = Vp8Descriptor{};
  Vp8Descriptor d;
  if (len < 1) return false;
  std::size_t i = 1;
  const bool x = p[0] & 0x80;
  const bool s = p[0] & 0x10;
  const int partition = p[0] & 0x07;
  if (x) {
    if (len < 2) return false;
    const std::uint8_t ext = p[1];
    i = 2;
    if (ext & 0x80) { // I: picture id
      if (len < i + 1) return false;
      d.has_picture_id = true;
      d.picture_id_offset = i;
      if (p[i] & 0x80) {
        if (len < i + 2) return false;
        d.long_picture_id = true;
        d.picture_id = std::uint16_t(((p[i] & 0x7f) << 8) | p[i + 1]);
        i += 2;
      } else {
        d.picture_id = p[i] & 0x7f;
        i += 1;
      }
    }
    if (ext & 0x40) i += 1;          // L: TL0PICIDX
    if (ext & (0x20 | 0x10)) i += 1; // T or K: TID/Y/KEYIDX
  }
  if (len < i) return false;
  d.frame_start = s && partition == 0;
  // The VP8 payload header's first byte: bit 0 is P, the inverse key frame flag.
  d.keyframe = d.frame_start && len > i && (p[i] & 0x01) == 0;
  out = d;
  return true;
}

void write_vp8_picture_id(std::uint8_t *p, const Vp8Descriptor &d, std::uint16_t id) {
  if (!d.has_picture_id) return;
  if (d.long_picture_id) {
    p[d.picture_id_offset] = std::uint8_t(0x80 | ((id >> 8) & 0x7f));
    p[d.picture_id_offset + 1] = std::uint8_t(id & 0xff);
  } else {
    p[d.picture_id_offset] = std::uint8_t(id & 0x7f);
  }
}

LayerSwitch::Verdict LayerSwitch::on_packet(const Packet &p) {
  Verdict v;
  if (p.layer == target_ && target_ != current_ && p.vp8.frame_start && p.vp8.keyframe &&
      at_boundary_) {
    current_ = target_;
    switches_++;
    v.switched = true;
    if (have_out_) {
      seq_delta_ = std::uint16_t(last_seq_ + 1 - p.seq);
      if (have_pid_ && p.vp8.has_picture_id) {
        const std::uint16_t mask = p.vp8.long_picture_id ? 0x7fff : 0x7f;
        pid_delta_ = std::uint16_t((last_pid_ + 1 - p.vp8.picture_id) & mask);
      }
    }
  }
  if (p.layer != current_) return Verdict{};
  v.forward = true;
  v.seq = std::uint16_t(p.seq + seq_delta_);
  if (p.vp8.has_picture_id) {
    const std::uint16_t mask = p.vp8.long_picture_id ? 0x7fff : 0x7f;
    v.picture_id = std::uint16_t((p.vp8.picture_id + pid_delta_) & mask);
    last_pid_ = v.picture_id;
    have_pid_ = true;
  }
  last_seq_ = v.seq;
  have_out_ = true;
  at_boundary_ = p.marker;
  return v;
}

int prefer_to_layer(const std::vector<int> &heights, int layer, int max_height) {
  const int last = int(heights.size()) - 1;
  if (last < 0) return 0;
  if (layer >= 0) return layer > last ? last : layer;
  if (heights.back() <= 0) return 0; // sizes unknown: no limit rather than a guess
  for (int i = 0; i <= last; i++)
    if (heights[i] > 0 && heights[i] <= max_height) return i;
  return last;
}

void LadderDemand::move(unsigned from, unsigned to) {
  for (std::size_t i = 0; i < n_ && i < 32; i++) {
    const bool had = from & (1u << i), has = to & (1u << i);
    if (had && !has) holders_[i].fetch_sub(1);
    if (has && !had) holders_[i].fetch_add(1);
  }
}

unsigned LadderDemand::mask(int current, int target) {
  unsigned m = 0;
  if (current >= 0 && current < 32) m |= 1u << current;
  if (target >= 0 && target < 32) m |= 1u << target;
  return m;
}

} // namespace roomcast
