// The per-viewer ladder's pure parts, table by table: the VP8 payload descriptor, the RTP layer
// switch (what a viewer's branch forwards and how it is renumbered), the layer chooser (the
// bandwidth estimate and its hysteresis) and the ladder option. No clock, no GStreamer pipeline.
#include "bwe.h"
#include "encoder-pool.h"
#include "layer-switch.h"

#include <glib.h>
#include <gst/gst.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using roomcast::LayerChooser;
using roomcast::LayerSwitch;
using roomcast::Vp8Descriptor;

void fail_row(const std::string &table, size_t row, const std::string &what) {
  g_autofree char *msg = g_strdup_printf("%s, row %zu: %s", table.c_str(), row, what.c_str());
  g_assertion_message(nullptr, __FILE__, __LINE__, table.c_str(), msg);
}

// ---- the VP8 payload descriptor ----------------------------------------------------------------

void test_parse_vp8() {
  struct Case {
    const char *name;
    std::vector<std::uint8_t> payload;
    bool ok, start, key, has_pid, long_pid;
    std::uint16_t pid;
    std::size_t pid_offset;
  };
  const std::vector<Case> cases = {
      {"empty", {}, false, false, false, false, false, 0, 0},
      {"no extension, start of a keyframe", {0x10, 0x00}, true, true, true, false, false, 0, 0},
      {"no extension, start of an inter frame",
       {0x10, 0x01},
       true,
       true,
       false,
       false,
       false,
       0,
       0},
      {"continuation packet", {0x00, 0x00}, true, false, false, false, false, 0, 0},
      {"start of partition 1 is not a frame start",
       {0x11, 0x00},
       true,
       false,
       false,
       false,
       false,
       0,
       0},
      {"15-bit picture id 0x1234, keyframe",
       {0x90, 0x80, 0x92, 0x34, 0x00},
       true,
       true,
       true,
       true,
       true,
       0x1234,
       2},
      {"7-bit picture id 5, inter frame",
       {0x90, 0x80, 0x05, 0x01},
       true,
       true,
       false,
       true,
       false,
       5,
       2},
      {"picture id, TL0PICIDX and TID before the header",
       {0x90, 0xe0, 0x80, 0x07, 0x11, 0x22, 0x00},
       true,
       true,
       true,
       true,
       true,
       7,
       2},
      {"extension byte missing", {0x90}, false, false, false, false, false, 0, 0},
      {"15-bit picture id cut short", {0x90, 0x80, 0x92}, false, false, false, false, false, 0, 0},
      {"frame start with no payload header: not a keyframe",
       {0x90, 0x80, 0x92, 0x34},
       true,
       true,
       false,
       true,
       true,
       0x1234,
       2},
  };
  for (size_t i = 0; i < cases.size(); i++) {
    const Case &c = cases[i];
    Vp8Descriptor d;
    bool ok = roomcast::parse_vp8(c.payload.data(), c.payload.size(), d);
    if (ok != c.ok || d.frame_start != c.start || d.keyframe != c.key ||
        d.has_picture_id != c.has_pid || d.long_picture_id != c.long_pid || d.picture_id != c.pid ||
        (c.has_pid && d.picture_id_offset != c.pid_offset)) {
      g_autofree char *what = g_strdup_printf("%s: ok %d start %d key %d pid %d/%d %u@%zu", c.name,
                                              ok, d.frame_start, d.keyframe, d.has_picture_id,
                                              d.long_picture_id, d.picture_id, d.picture_id_offset);
      fail_row("parse vp8", i, what);
    }
  }
  // Writing a picture id keeps its width and the M bit.
  std::vector<std::uint8_t> p = {0x90, 0x80, 0x92, 0x34, 0x00};
  Vp8Descriptor d;
  roomcast::parse_vp8(p.data(), p.size(), d);
  roomcast::write_vp8_picture_id(p.data(), d, 0x7fff);
  roomcast::parse_vp8(p.data(), p.size(), d);
  if (d.picture_id != 0x7fff || !d.long_picture_id) fail_row("write picture id", 0, "15 bits");
}

// ---- the layer switch --------------------------------------------------------------------------

// One packet of a layer (or a change of target) and what the branch must do with it.
struct Pkt {
  int target; // >= 0: set the target before this packet
  int layer;
  std::uint16_t seq;
  bool marker, start, key;
  std::uint16_t pid;
  bool fwd;
  std::uint16_t out_seq, out_pid;
  bool switched;
};

void test_layer_switch() {
  struct Case {
    const char *name;
    std::vector<Pkt> pkts;
  };
  // Layer 0 numbers from 100 (pictures from 10), layer 1 from 5000 (pictures from 30000).
  const std::vector<Case> cases = {
      {"one layer passes unchanged, others dropped",
       {{-1, 0, 100, false, true, false, 10, true, 100, 10, false},
        {-1, 1, 5000, true, true, true, 30000, false, 0, 0, false},
        {-1, 0, 101, true, false, false, 10, true, 101, 10, false}}},
      {"down at the target's keyframe: numbering continues",
       {{-1, 0, 100, false, true, false, 10, true, 100, 10, false},
        {-1, 0, 101, true, false, false, 10, true, 101, 10, false},
        {1, 1, 5000, true, true, false, 30000, false, 0, 0, false}, // not a keyframe: wait
        {-1, 0, 102, true, true, false, 11, true, 102, 11, false},  // still layer 0
        {-1, 1, 5001, false, true, true, 30001, true, 103, 12, true},
        {-1, 1, 5002, true, false, false, 30001, true, 104, 12, false},
        {-1, 0, 103, true, true, false, 12, false, 0, 0, false}, // the old layer is dropped
        {-1, 1, 5003, true, true, false, 30002, true, 105, 13, false}}},
      {"no switch in the middle of the current layer's frame",
       {{-1, 0, 100, false, true, false, 10, true, 100, 10, false}, // frame not finished
        {1, 1, 5000, true, true, true, 30000, false, 0, 0, false},  // keyframe, but not now
        {-1, 0, 101, true, false, false, 10, true, 101, 10, false}, // frame finished
        {-1, 1, 5001, true, true, true, 30001, true, 102, 11, true}}},
      {"wraparound of sequence numbers and 15-bit picture ids",
       {{-1, 0, 65535, true, true, false, 0x7fff, true, 65535, 0x7fff, false},
        {1, 1, 5000, true, true, true, 30000, true, 0, 0, true},
        {-1, 1, 5001, true, true, false, 30001, true, 1, 1, false}}},
      {"up and back down: every switch continues the numbering",
       {{1, 1, 5000, true, true, true, 30000, true, 5000, 30000,
         true}, // the first one sets no delta
        {0, 0, 100, true, true, true, 10, true, 5001, 30001, true},
        {1, 1, 5001, true, true, true, 30001, true, 5002, 30002, true},
        {-1, 1, 5002, true, true, false, 30002, true, 5003, 30003, false}}},
  };
  for (const auto &c : cases) {
    LayerSwitch sw(0);
    for (size_t i = 0; i < c.pkts.size(); i++) {
      const Pkt &k = c.pkts[i];
      if (k.target >= 0) sw.set_target(k.target);
      LayerSwitch::Packet p;
      p.layer = k.layer;
      p.seq = k.seq;
      p.marker = k.marker;
      p.vp8.frame_start = k.start;
      p.vp8.keyframe = k.start && k.key;
      p.vp8.has_picture_id = true;
      p.vp8.long_picture_id = true;
      p.vp8.picture_id = k.pid;
      LayerSwitch::Verdict v = sw.on_packet(p);
      bool bad = v.forward != k.fwd || v.switched != k.switched ||
                 (k.fwd && (v.seq != k.out_seq || v.picture_id != k.out_pid));
      if (bad) {
        g_autofree char *what = g_strdup_printf(
            "%s: forward %d switched %d seq %u pid %u (want %d %d %u %u)", c.name, v.forward,
            v.switched, v.seq, v.picture_id, k.fwd, k.switched, k.out_seq, k.out_pid);
        fail_row("layer switch", i, what);
      }
    }
  }
}

// ---- the layer chooser -------------------------------------------------------------------------

struct Sample {
  double t_s;
  double sent_kbps, loss, rtt_ms;
  int want;                    // the target after it
  int cap = -1;                // >= 0: set the cap first
  bool switching = false;      // the last target's keyframe has not come yet
  bool can_pad = false;        // padding probes
  const char *state = nullptr; // the chooser's state after it, when given
  bool pad_stopped = false;    // the padding was stopped (the peer NACKed)
};

void test_layer_chooser() {
  struct Case {
    const char *name;
    std::vector<Sample> samples;
  };
  // Layers: 2000, 700, 250 kbit/s. Defaults: loss > 10% or RTT +150 ms is congestion; clean
  // for 3 s probes one step up; a probe lasting 2 s holds; a failed one doubles the wait (6 s).
  const std::vector<Case> cases = {
      {"a clean link stays on the top layer",
       {{1, 2000, 0, 20, 0}, {2, 2000, 0, 20, 0}, {10, 2000, 0.01, 25, 0}}},
      {"75% loss at 2000: what got through (500) fits the quarter layer at once",
       {{1, 2000, 0, 20, 0}, {2, 2000, 0.75, 220, 2}}},
      {"30% loss at 2000: 1400 fits the half layer",
       {{1, 2000, 0, 20, 0}, {2, 2000, 0.30, 200, 1}}},
      {"5% loss is not congestion, and not clean either",
       {{1, 2000, 0, 20, 0}, {2, 2000, 0.05, 20, 0}, {3, 2000, 0.05, 20, 0}}},
      {"queue growth alone (RTT +200 ms) is one step down",
       {{1, 2000, 0, 20, 0}, {2, 2000, 0, 220, 1}}},
      {"signals are ignored while the queue drains (1.5 s hold)",
       {{1, 2000, 0, 20, 0},
        {2, 2000, 0.3, 200, 1},
        {3, 700, 0.3, 200, 1},
        {3.6, 700, 0.3, 200, 2}}},
      {"up one step after 3 s clean, then on after the 2 s probe",
       {{1, 2000, 0.75, 20, 2},
        {3, 250, 0, 20, 2},   // hold over; clean from here
        {5.5, 250, 0, 20, 2}, // 2.5 s clean
        {6, 250, 0, 20, 1},   // 3 s: probe the half layer
        {7, 700, 0, 20, 1},
        {8, 700, 0, 20, 0}}}, // the probe held 2 s: the top at once
      {"a failed probe goes back; the layer waits 6 s, then 24 s after a second failure",
       {{1, 2000, 0.75, 20, 2},
        {3, 250, 0, 20, 2},
        {6, 250, 0, 20, 1},     // probe
        {7, 700, 0.2, 200, 2},  // fails: layer 1 waits 6 s
        {9, 250, 0, 20, 2},     // hold over, clean from here
        {12.5, 250, 0, 20, 2},  // clean 3.5 s, 5.5 s since the failure
        {13.1, 250, 0, 20, 1},  // probe again
        {14, 700, 0.2, 200, 2}, // fails again: 24 s
        {16, 250, 0, 20, 2},
        {37.5, 250, 0, 20, 2},
        {38.1, 250, 0, 20, 1}}},
      {"a failed probe of the top goes back to the half layer, not lower",
       {{1, 2000, 0.3, 20, 1}, // the top congested: not probed for 6 s
        {3, 700, 0, 20, 1},
        {6, 700, 0, 20, 1},
        {7.1, 700, 0, 20, 0},     // probe the top
        {8, 2000, 0.6, 250, 1}}}, // what got through (800) would say quarter: back to half
      {"a step down right after another does not hold the layer back",
       {{1, 2000, 0.3, 20, 1},   // the top congested: it waits 6 s
        {2.6, 700, 0.3, 200, 2}, // the half, 1.6 s later: the queue, not the layer
        {4.2, 250, 0, 20, 2},    // clean from here
        {7.3, 250, 0, 20, 1}}},  // probe the half at once after 3 s clean
      {"a high RTT alone while the queue of the last step drains is not another step",
       {{1, 2000, 0.16, 23, 1},  // 1680 got through: the half layer
        {2.6, 524, 0, 201, 1},   // an old report's RTT; we send far less than got through
        {4.9, 524, 0, 220, 1},   // still within 4 s of the step
        {5.1, 524, 0, 240, 2}}}, // then it counts again (a new report)
      {"loss while the queue drains still counts",
       {{1, 2000, 0.16, 23, 1}, {2.6, 524, 0.3, 201, 2}}},
      {"a high RTT alone after a step down, when we send more than got through, counts",
       {{1, 2000, 0.3, 23, 1}, {2.6, 1300, 0, 201, 2}}}, // 1300 > 0.85 x 1400
      {"no decision until the switch is made; the hold counts from it",
       {{1, 2000, 0.3, 20, 1},
        {2, 2000, 0.5, 200, 1, -1, true}, // still on the top: its loss says nothing new
        {2.9, 2000, 0.5, 200, 1, -1, true},
        {3, 700, 0.3, 200, 1}, // switched at 2.9: held until 4.4
        {4.5, 700, 0.3, 200, 2}}},
      {"a probe's 2 s count from its switch",
       {{1, 2000, 0.75, 20, 2},
        {3, 250, 0, 20, 2},
        {6, 250, 0, 20, 1},           // probe
        {7, 250, 0, 20, 1, -1, true}, // its keyframe not come yet
        {8.5, 700, 0, 20, 1},         // switched at 7: 1.5 s into the probe
        {8.9, 700, 0.2, 200, 2}}},    // fails: back down
      {"a switch that never comes does not hold decisions for ever",
       {{1, 2000, 0.3, 20, 1},
        {3.9, 2000, 0.5, 200, 1, -1, true},
        {4.1, 2000, 0.5, 200, 1, -1, true},
        {5.5, 2000, 0.5, 200, 2, -1, true}}}, // 3 s waited, then the 1.5 s hold
      {"back from a failed probe, the probe's losses asked for again are not another step",
       {{1, 2000, 0.3, 20, 1}, // 1400 got through: the half
        {3, 700, 0, 20, 1},
        {7.1, 700, 0, 20, 0},     // probe the top
        {8, 2000, 0.3, 20, 1},    // fails: back to the half (estimate 1400)
        {9.6, 600, 0.15, 20, 1},  // the top's packets asked for again
        {10, 600, 0.35, 20, 2}}}, // heavy loss still counts
      {"a padding probe: the viewer stays on its layer while the link is tested, then switches",
       {{1, 2000, 0.75, 20, 2},
        {3, 250, 0, 20, 2, -1, false, true},
        {6, 250, 0, 20, 2, -1, false, true, "padding"}, // 700 - 250 of padding
        {7, 700, 0, 20, 2, -1, false, true, "padding"},
        {7.6, 700, 0, 20, 1, -1, false, true, "probing"}, // carried: the switch
        {8.7, 700, 0, 20, 1, -1, false, true, "padding"}, // held 1 s: the next step's padding
        {10.3, 2000, 0, 20, 0, -1, false, true, "probing"}}},
      {"a padding probe that congests fails the layer above and switches nothing",
       {{1, 2000, 0.75, 20, 2},
        {3, 250, 0, 20, 2, -1, false, true},
        {6, 250, 0, 20, 2, -1, false, true, "padding"},
        {6.5, 700, 0.3, 200, 2, -1, false, true, "holding"},
        {8.1, 250, 0, 20, 2, -1, false, true, "steady"},
        {10.8, 250, 0, 20, 2, -1, false, true, "steady"},    // clean 2.7 s
        {11.5, 250, 0, 20, 2, -1, false, true, "padding"}}}, // clean 3.4 s, 5 s since: padding
      {"padding failures in a row wait 3 s, then 6 s, then 8 s at most (and a clean 3 s)",
       {{1, 2000, 0.75, 20, 2},
        {3, 250, 0, 20, 2, -1, false, true},
        {6, 250, 0, 20, 2, -1, false, true, "padding"},
        {6.5, 300, 0, 20, 2, -1, false, true, "holding", true}, // 1st failure: 3 s
        {8.1, 250, 0, 20, 2, -1, false, true, "steady"},        // clean from here
        {10.9, 250, 0, 20, 2, -1, false, true, "steady"},
        {11.2, 250, 0, 20, 2, -1, false, true, "padding"},
        {11.6, 300, 0, 20, 2, -1, false, true, "holding", true}, // 2nd: 6 s
        {13.2, 250, 0, 20, 2, -1, false, true, "steady"},
        {16.3, 250, 0, 20, 2, -1, false, true, "steady"}, // clean 3.1 s, 4.7 s since
        {17.5, 250, 0, 20, 2, -1, false, true, "steady"}, // 5.9 s since
        {17.7, 250, 0, 20, 2, -1, false, true, "padding"},
        {18.1, 300, 0, 20, 2, -1, false, true, "holding", true}, // 3rd: 8 s (not 12)
        {19.7, 250, 0, 20, 2, -1, false, true, "steady"},
        {26.0, 250, 0, 20, 2, -1, false, true, "steady"}, // 7.9 s since
        {26.2, 250, 0, 20, 2, -1, false, true, "padding"},
        {27.8, 700, 0, 20, 1, -1, false, true, "probing"},   // carried: the switch
        {28.9, 700, 0, 20, 1, -1, false, true, "padding"}}}, // held: padding for the top
      {"a switch that fails after its padding passed waits 6 s, then 24 s (not the padding's 3 s)",
       {{1, 2000, 0.75, 20, 2},
        {3, 250, 0, 20, 2, -1, false, true},
        {6, 250, 0, 20, 2, -1, false, true, "padding"},
        {7.6, 700, 0, 20, 1, -1, false, true, "probing"},
        {8.0, 700, 0.3, 200, 2, -1, false, true, "holding"}, // the switch failed: 6 s
        {9.6, 250, 0, 20, 2, -1, false, true, "steady"},
        {12.7, 250, 0, 20, 2, -1, false, true, "steady"}, // clean 3.1 s, 4.7 s since
        {13.9, 250, 0, 20, 2, -1, false, true, "steady"},
        {14.1, 250, 0, 20, 2, -1, false, true, "padding"},
        {15.7, 700, 0, 20, 1, -1, false, true, "probing"},
        {16.0, 700, 0.3, 200, 2, -1, false, true, "holding"}, // again: 24 s
        {17.6, 250, 0, 20, 2, -1, false, true, "steady"},
        {39.9, 250, 0, 20, 2, -1, false, true, "steady"},
        {40.1, 250, 0, 20, 2, -1, false, true, "padding"}}},
      {"a padding probe whose padding was stopped failed, even if the next sample is clean",
       {{1, 2000, 0.75, 20, 2},
        {3, 250, 0, 20, 2, -1, false, true},
        {6, 250, 0, 20, 2, -1, false, true, "padding"},
        {6.5, 300, 0, 20, 2, -1, false, true, "holding", true}}},
      {"a padding probe still not clean at its end failed",
       {{1, 2000, 0.75, 20, 2},
        {3, 250, 0, 20, 2, -1, false, true},
        {6, 250, 0, 20, 2, -1, false, true, "padding"},
        {7, 700, 0.05, 20, 2, -1, false, true, "padding"},
        {7.6, 700, 0.05, 20, 2, -1, false, true, "holding"}}},
      {"the same RTT read again (no new report) is not another step",
       {{1, 2000, 0, 20, 0}, {2, 2000, 0, 220, 1}, {4, 700, 0, 220, 1}, {6, 700, 0, 220, 1}}},
      {"an RTT a millisecond or two from the last (the same sender report) is not another step",
       {{1, 2000, 0, 20, 0},
        {2, 2000, 0, 220, 1},
        {4, 700, 0, 221, 1},
        {6.1, 700, 0, 219, 1}, // past the drain: only a new report would count
        {8, 700, 0, 222, 1},
        {9, 700, 0, 260, 2}}}, // a new report, 40 ms later: the queue grows
      {"an RTT missing from a poll that comes back unchanged is not another step",
       {{1, 2000, 0, 20, 0},
        {2, 2000, 0, 220, 1},
        {4, 700, 0, 0, 1}, // no RTT in this poll
        {6.1, 700, 0, 221, 1},
        {7, 700, 0, 0, 1},
        {8, 700, 0, 270, 2}}}, // a new report: the queue grows
      {"a late report of a failed padding probe's queue is not a step down",
       {{1, 2000, 0.3, 20, 1}, // the top congested: padded for again after 6 s
        {3, 700, 0, 20, 1, -1, false, true},
        {7.1, 700, 0, 20, 1, -1, false, true, "padding"},
        {7.6, 700, 0, 200, 1, -1, false, true, "holding"}, // the padding's queue: it failed
        {9.2, 700, 0, 20, 1, -1, false, true, "steady"},
        {10.1, 700, 0, 190, 1, -1, false, true, "steady"},    // a report on an SR sent at 7.5
        {11.7, 700, 0, 250, 2, -1, false, true, "holding"}}}, // past the drain: counts
      {"a cap holds the viewer below it; lifted after a clean period, it probes up at once",
       {{1, 2000, 0, 20, 1, 1}, {5, 700, 0, 20, 1}, {6, 700, 0, 20, 0, 0}, {8.1, 2000, 0, 20, 0}}},
      {"a cap to the quarter layer moves down at once", {{1, 2000, 0, 20, 2, 2}}},
  };
  for (const auto &c : cases) {
    LayerChooser ch({2000e3, 700e3, 250e3});
    for (size_t i = 0; i < c.samples.size(); i++) {
      const Sample &s = c.samples[i];
      if (s.cap >= 0) ch.set_cap(s.cap);
      int got = ch.update({std::int64_t(s.t_s * 1e6), s.sent_kbps * 1000, s.loss, s.rtt_ms / 1000,
                           s.switching, s.can_pad, s.pad_stopped});
      if (got != s.want ||
          (s.state && std::string(s.state) != roomcast::layer_state_name(ch.state()))) {
        g_autofree char *what =
            g_strdup_printf("%s: layer %d, want %d (estimate %.0f, %s)", c.name, got, s.want,
                            ch.estimate_bps(), roomcast::layer_state_name(ch.state()));
        fail_row("layer chooser", i, what);
      }
    }
  }
}

// ---- the viewer's own feedback: REMB and transport-cc ------------------------------------------

// One poll with the viewer's feedback: REMB (kbit/s, 0: none) and transport-cc (loss share, < 0:
// none; received kbit/s).
struct FeedbackSample {
  double t_s;
  double sent_kbps, loss, rtt_ms;
  double remb_kbps, twcc_loss, twcc_recv_kbps;
  int want;
  bool can_pad = false;
  const char *state = nullptr;
};

void test_layer_chooser_feedback() {
  struct Case {
    const char *name;
    std::vector<FeedbackSample> samples;
  };
  // Layers: 2000, 700, 250 kbit/s, as above; a REMB under 90% of what we send is congestion.
  const std::vector<Case> cases = {
      {"a REMB above what we send is no congestion",
       {{1, 2000, 0, 20, 2500, -1, 0, 0},
        {2, 2000, 0, 20, 1900, -1, 0, 0},
        {10, 2000, 0, 20, 3000, -1, 0, 0}}},
      {"a REMB below what we send steps down before any loss, to the layer it fits (550: quarter)",
       {{1, 2000, 0, 20, 2500, -1, 0, 0}, {2, 2000, 0, 20, 550, -1, 0, 2, false, "holding"}}},
      {"a REMB of 1500 at 2000 sent: the half layer (no loss, no RTT rise)",
       {{1, 2000, 0, 20, 0, -1, 0, 0}, {2, 2000, 0, 20, 1500, -1, 0, 1}}},
      {"a REMB bounds what got through even when the reports say more",
       {{1, 2000, 0, 20, 0, -1, 0, 0}, {2, 2000, 0.15, 20, 700, -1, 0, 2}}}, // 1700 by loss
      {"a REMB is no licence to go up: the viewer probes as without it, and a low REMB fails it",
       {{1, 2000, 0, 20, 500, -1, 0, 2},
        {3, 250, 0, 20, 375, -1, 0, 2},   // the REMB follows what is sent (1.5x at most)
        {6, 250, 0, 20, 375, -1, 0, 1},   // clean 3 s: the half layer is probed
        {7, 700, 0, 20, 560, -1, 0, 2}}}, // 560 < 630: the probe fails before loss
      {"a padding probe that makes the REMB fall fails before loss",
       {{1, 2000, 0, 20, 500, -1, 0, 2},
        {3, 250, 0, 20, 375, -1, 0, 2, true},
        {6, 250, 0, 20, 375, -1, 0, 2, true, "padding"},
        {7, 700, 0, 20, 450, -1, 0, 2, true, "holding"}}},
      {"transport-cc loss counts before the receiver reports show it; its received rate bounds "
       "what got through",
       {{1, 2000, 0, 20, 0, 0, 1990, 0}, {2, 2000, 0, 20, 0, 0.3, 1300, 1}}}, // 1300 x 0.85 > 700
      {"transport-cc at 70% loss: what it received (560) fits the quarter layer",
       {{1, 2000, 0, 20, 0, 0, 1990, 0}, {2, 2000, 0.05, 20, 0, 0.7, 560, 2}}},
      {"transport-cc on a clean link stays on the top layer",
       {{1, 2000, 0, 20, 0, 0.01, 1990, 0},
        {5, 2000, 0, 20, 0, 0, 2000, 0},
        {10, 2000, 0, 20, 0, 0.015, 1970, 0}}},
      {"transport-cc loss is clean below 2%, and climbs like the reports",
       {{1, 2000, 0, 20, 0, 0.75, 500, 2},
        {3, 250, 0, 20, 0, 0.01, 248, 2},
        {6, 250, 0, 20, 0, 0.0, 250, 1}}},
      {"transport-cc loss of 5% is not clean: no probe",
       {{1, 2000, 0, 20, 0, 0.75, 500, 2},
        {3, 250, 0, 20, 0, 0.05, 240, 2},
        {6, 250, 0, 20, 0, 0.05, 240, 2},
        {7, 250, 0, 20, 0, 0.05, 240, 2}}},
  };
  for (const auto &c : cases) {
    LayerChooser ch({2000e3, 700e3, 250e3});
    for (size_t i = 0; i < c.samples.size(); i++) {
      const FeedbackSample &s = c.samples[i];
      LayerChooser::Sample in;
      in.now_us = std::int64_t(s.t_s * 1e6);
      in.sent_bps = s.sent_kbps * 1000;
      in.fraction_lost = s.loss;
      in.rtt_s = s.rtt_ms / 1000;
      in.can_pad = s.can_pad;
      in.remb_bps = s.remb_kbps * 1000;
      in.twcc_loss = s.twcc_loss;
      in.twcc_recv_bps = s.twcc_recv_kbps * 1000;
      int got = ch.update(in);
      if (got != s.want ||
          (s.state && std::string(s.state) != roomcast::layer_state_name(ch.state()))) {
        g_autofree char *what =
            g_strdup_printf("%s: layer %d, want %d (estimate %.0f, %s)", c.name, got, s.want,
                            ch.estimate_bps(), roomcast::layer_state_name(ch.state()));
        fail_row("layer chooser feedback", i, what);
      }
    }
  }
}

// REMB's FCI: "REMB", the SSRC count, 6 bits of exponent and 18 of mantissa, the SSRCs.
void test_parse_remb() {
  const struct {
    const char *name;
    std::vector<std::uint8_t> fci;
    bool ok;
    double bps;
  } rows[] = {
      {"550000 = 137500 << 2, one ssrc",
       {'R', 'E', 'M', 'B', 1, (2 << 2) | 0x02, 0x19, 0x1c, 1, 2, 3, 4},
       true,
       550000},
      {"exponent 0, mantissa 1", {'R', 'E', 'M', 'B', 0, 0, 0, 1}, true, 1},
      {"the largest mantissa, exponent 63 (no overflow)",
       {'R', 'E', 'M', 'B', 0, 0xff, 0xff, 0xff},
       true,
       262143.0 * 9223372036854775808.0},
      {"two ssrcs announced, one there", {'R', 'E', 'M', 'B', 2, 0, 0, 1, 1, 2, 3, 4}, false, 0},
      {"cut short", {'R', 'E', 'M', 'B', 0, 0, 0}, false, 0},
      {"not a REMB", {'R', 'E', 'M', 'X', 0, 0, 0, 1}, false, 0},
      {"empty", {}, false, 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    double bps = -1;
    const bool ok = roomcast::parse_remb(rows[i].fci.data(), rows[i].fci.size(), bps);
    if (ok != rows[i].ok || (ok && bps != rows[i].bps) || (!ok && bps != -1)) {
      g_autofree char *what =
          g_strdup_printf("%s: %s, %.0f bit/s", rows[i].name, ok ? "parsed" : "refused", bps);
      fail_row("parse remb", i, what);
    }
  }
}

// ---- the ladder option -------------------------------------------------------------------------

// A viewer's `prefer` as the top layer it may get: a layer clamped to the ladder, or the largest
// layer at most so high (the smallest when none is).
void test_parse_congestion_feedback() {
  const struct {
    const char *text;
    bool ok, twcc, remb;
  } rows[] = {
      {"twcc,remb", true, true, true},    {"remb,twcc", true, true, true},
      {"twcc", true, true, false},        {"remb", true, false, true},
      {"none", true, false, false},       {"", false, false, false},
      {"twcc,twcc", false, false, false}, {"gcc", false, false, false},
      {"twcc,", false, false, false},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    bool twcc = false, remb = false;
    const bool ok = roomcast::parse_congestion_feedback(rows[i].text, twcc, remb);
    if (ok != rows[i].ok || (ok && (twcc != rows[i].twcc || remb != rows[i].remb)))
      fail_row("parse congestion-feedback", i, rows[i].text);
  }
}

void test_prefer_to_layer() {
  const std::vector<int> ladder = {720, 360, 180};
  const struct {
    int layer, max_height, want;
  } rows[] = {
      {0, -1, 0},   {1, -1, 1},    {2, -1, 2},   {3, -1, 2},   {15, -1, 2},
      {-1, 720, 0}, {-1, 1080, 0}, {-1, 719, 1}, {-1, 360, 1}, {-1, 200, 2},
      {-1, 180, 2}, {-1, 90, 2},   {-1, 1, 2},
  };
  for (const auto &r : rows) {
    int got = roomcast::prefer_to_layer(ladder, r.layer, r.max_height);
    g_test_message("layer %d, max height %d -> %d", r.layer, r.max_height, got);
    g_assert_cmpint(got, ==, r.want);
  }
  // Sizes not known yet: no limit by height (a layer still counts); no ladder: 0.
  g_assert_cmpint(roomcast::prefer_to_layer({0, 0}, -1, 90), ==, 0);
  g_assert_cmpint(roomcast::prefer_to_layer({0, 0}, 1, -1), ==, 1);
  g_assert_cmpint(roomcast::prefer_to_layer({}, 2, -1), ==, 0);
}

// Holds on a ladder's layers: a branch holds the layer it forwards and the one it goes to; a layer
// is encoded while its count is above zero.
// A padding probe's rate: the layer above's nominal rate (+10%) less what the viewer was sent
// when it began, not the difference of the two nominal rates.
void test_padding_rate() {
  roomcast::LayerChooser ch({2000e3, 700e3, 250e3});
  auto feed = [&](double t, double kbps, double loss) {
    roomcast::LayerChooser::Sample s;
    s.now_us = std::int64_t(t * 1e6);
    s.sent_bps = kbps * 1e3;
    s.fraction_lost = loss;
    s.rtt_s = 0.02;
    s.can_pad = true;
    return ch.update(s);
  };
  g_assert_cmpint(feed(1, 2000, 0.75), ==, 2);
  feed(3, 130, 0);
  g_assert_cmpfloat(ch.padding_bps(), ==, 0);
  feed(6, 130, 0); // the quarter layer's real rate: 130 of its nominal 250
  g_assert_true(ch.state() == roomcast::LayerChooser::State::Padding);
  g_assert_cmpfloat_with_epsilon(ch.padding_bps(), 700e3 * 1.1 - 130e3, 1);
  feed(6.5, 770, 0); // what was sent with the padding does not change it
  g_assert_cmpfloat_with_epsilon(ch.padding_bps(), 700e3 * 1.1 - 130e3, 1);
}

void test_ladder_demand() {
  using roomcast::LadderDemand;
  g_assert_cmpuint(LadderDemand::mask(-1, 0), ==, 1u);
  g_assert_cmpuint(LadderDemand::mask(0, 0), ==, 1u);
  g_assert_cmpuint(LadderDemand::mask(0, 2), ==, 5u);
  g_assert_cmpuint(LadderDemand::mask(-1, -1), ==, 0u);
  LadderDemand d(3);
  auto counts = [&] { return std::vector<int>{d.holders(0), d.holders(1), d.holders(2)}; };
  // Two viewers join on the top; one steps down to the half layer (both held while switching),
  // then forwards it alone; the other leaves; the first leaves.
  unsigned a = 0, b = 0;
  auto to = [&](unsigned &held, unsigned m) {
    d.move(held, m);
    held = m;
  };
  to(a, LadderDemand::mask(-1, 0));
  to(b, LadderDemand::mask(-1, 0));
  g_assert_true(counts() == (std::vector<int>{2, 0, 0}));
  to(a, LadderDemand::mask(0, 1));
  g_assert_true(counts() == (std::vector<int>{2, 1, 0}));
  to(a, LadderDemand::mask(1, 1));
  g_assert_true(counts() == (std::vector<int>{1, 1, 0}));
  to(b, 0);
  g_assert_true(counts() == (std::vector<int>{0, 1, 0}));
  to(a, 0);
  g_assert_true(counts() == (std::vector<int>{0, 0, 0}));
  // Out of range: no count, no crash.
  g_assert_cmpint(d.holders(7), ==, 0);
  d.move(0, 1u << 5);
  g_assert_true(counts() == (std::vector<int>{0, 0, 0}));
}

void test_parse_ladder() {
  struct Case {
    const char *text;
    bool ok;
    std::vector<double> want;
  };
  const std::vector<Case> cases = {
      {"off", true, {}},
      {"1", true, {}},
      {"", true, {}},
      {"1,0.5,0.25", true, {1, 0.5, 0.25}},
      {"1, 0.5", true, {1, 0.5}},
      {"0.5,0.25", false, {}},
      {"1,0.5,0.5", false, {}},
      {"1,0.25,0.5", false, {}},
      {"1,abc", false, {}},
      {"1,0", false, {}},
      {"1,1.5", false, {}},
      {"1,0.8,0.6,0.4,0.2", false, {}},
      {"1,,0.5", false, {}},
  };
  for (size_t i = 0; i < cases.size(); i++) {
    std::vector<double> got;
    std::string err;
    bool ok = roomcast::parse_ladder(cases[i].text, got, err);
    if (ok != cases[i].ok || got != cases[i].want || (!ok && err.empty()))
      fail_row(std::string("parse ladder '") + cases[i].text + "'", i, ok ? "accepted" : err);
  }
  if (roomcast::ladder_share(1) != 1 || roomcast::ladder_share(0.5) < 0.34 ||
      roomcast::ladder_share(0.5) > 0.36 || roomcast::ladder_share(0.25) < 0.12 ||
      roomcast::ladder_share(0.25) > 0.13)
    fail_row("ladder share", 0, "not 1, ~35%, ~12%");
}

} // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  gst_init(&argc, &argv);
  g_test_add_func("/ladder/parse-vp8", test_parse_vp8);
  g_test_add_func("/ladder/layer-switch", test_layer_switch);
  g_test_add_func("/ladder/layer-chooser", test_layer_chooser);
  g_test_add_func("/ladder/layer-chooser-feedback", test_layer_chooser_feedback);
  g_test_add_func("/ladder/parse-remb", test_parse_remb);
  g_test_add_func("/ladder/parse-congestion-feedback", test_parse_congestion_feedback);
  g_test_add_func("/ladder/parse-ladder", test_parse_ladder);
  g_test_add_func("/ladder/prefer-to-layer", test_prefer_to_layer);
  g_test_add_func("/ladder/demand", test_ladder_demand);
  g_test_add_func("/ladder/padding-rate", test_padding_rate);
  return g_test_run();
}
