// LayerSwitch: one viewer's choice among the ladder's layers, made at the RTP level.
//
// Every layer of the ladder is payloaded once (EncoderPool) and all of them reach a viewer's send
// branch through one tee; each layer's packets carry their own SSRC, so the branch knows which
// layer a packet is from. The branch forwards one layer and drops the others. Its decoder must see
// one continuous stream, so what it forwards is rewritten as an SFU does: the SSRC to the one
// signalled, sequence numbers and VP8 picture ids shifted so that they continue across a switch.
// RTP timestamps need no rewriting: every layer's payloader has the same timestamp base and the
// layers are scaled from the same frames (same PTS), so they agree. A switch happens only at the
// first packet of a keyframe of the target layer, and only when the layer left behind has finished
// its frame (its last forwarded packet had the marker bit).
//
// Pure logic (no GStreamer): the unit tests drive it with packet tables.
// Not thread-safe: the caller serialises (the branch's probe holds a mutex).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace roomcast {

// The VP8 payload descriptor (RFC 7741) of one RTP packet, as far as switching needs it.
struct Vp8Descriptor {
  bool frame_start = false; // S bit with partition 0: the first packet of a frame
  bool keyframe = false;    // frame_start and the VP8 payload header's P bit is 0
  bool has_picture_id = false;
  bool long_picture_id = false; // 15 bits (else 7)
  std::size_t picture_id_offset = 0;
  std::uint16_t picture_id = 0;
};

// Reads the descriptor of a VP8 RTP payload; false if it is too short to be one.
bool parse_vp8(const std::uint8_t *payload, std::size_t len, Vp8Descriptor &d);
// Writes a picture id where `d` found one (same width).
void write_vp8_picture_id(std::uint8_t *payload, const Vp8Descriptor &d, std::uint16_t id);

class LayerSwitch {
public:
  struct Packet {
    int layer = 0;
    std::uint16_t seq = 0;
    bool marker = false;
    Vp8Descriptor vp8;
  };
  struct Verdict {
    bool forward = false;
    bool switched = false; // this packet is the first of the new layer
    std::uint16_t seq = 0;
    std::uint16_t picture_id = 0; // when the packet has one
  };

  explicit LayerSwitch(int layer = 0) : current_(layer), target_(layer) {}
  void set_target(int layer) { target_ = layer; }
  int target() const { return target_; }
  int current() const { return current_; }
  bool pending() const { return target_ != current_; }
  // Forwards nothing until a keyframe of the target starts (a new viewer's first packet is one);
  // current() is -1 until then.
  void restart() {
    current_ = -1;
    at_boundary_ = true;
  }
  std::uint64_t switches() const { return switches_; }

  Verdict on_packet(const Packet &p);

private:
  int current_, target_;
  bool have_out_ = false;
  bool at_boundary_ = true;
  std::uint16_t seq_delta_ = 0, pid_delta_ = 0;
  std::uint16_t last_seq_ = 0, last_pid_ = 0;
  bool have_pid_ = false;
  std::uint64_t switches_ = 0;
};

// What a viewer's `prefer` asks for, as the top layer it may get (LayerChooser's cap). `heights`:
// the ladder's layers, top first (0: not known yet). With `layer` >= 0: that layer, clamped to the
// ladder. Otherwise, `max_height`: the largest layer at most that high, or the smallest layer when
// none is; 0 (no limit) while the heights are not known.
int prefer_to_layer(const std::vector<int> &heights, int layer, int max_height);

// How many viewers' branches hold each layer of a ladder: the layer a branch forwards and the one
// it is switching to. A layer's encoder is fed frames only while some branch holds it, so a layer
// nobody watches costs no CPU (EncoderPool's gate on the layer's queue).
// Thread-safe: branches move their holds from streaming threads and the stats poll, the gates read
// the counts on the layers' streaming threads.
class LadderDemand {
public:
  explicit LadderDemand(std::size_t layers)
      : n_(layers), holders_(std::make_unique<std::atomic<int>[]>(layers)) {}
  std::size_t size() const { return n_; }
  // One holder's layers went from the set `from` to the set `to` (bit masks, bit i: layer i).
  void move(unsigned from, unsigned to);
  int holders(std::size_t layer) const { return layer < n_ ? holders_[layer].load() : 0; }
  // A branch's set: the layer it forwards (-1: none yet) and the one it goes to.
  static unsigned mask(int current, int target);

private:
  std::size_t n_;
  std::unique_ptr<std::atomic<int>[]> holders_;
};

} // namespace roomcast
