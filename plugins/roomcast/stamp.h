// The pixel code shared by roomcaststamp and roomcaststampread: a wall-clock timestamp written
// as big black and white blocks that survive lossy video coding. The layout is described at the
// top of stamp.cpp (and in the latency section of docs/benchmarks.md); the browser reader in
// tests/bench/latency-browser.mjs follows the same constants.
#pragma once

#include <gst/video/video.h>

namespace roomcast::stamp {

constexpr int kBlock = 16; // block side in pixels (one VP8/H.264 macroblock)
constexpr int kColumns = 16;
constexpr int kRows = 6;
constexpr int kWidth = kBlock * kColumns; // 256: the strip, at the frame's top-left corner
constexpr int kHeight = kBlock * kRows;   // 96
constexpr guint16 kMarker = 0x5AC3;       // blocks 0-15

// Raw formats both elements handle: 8 bits per component, planar or packed.
#define ROOMCAST_STAMP_FORMATS                                                                     \
  "{ I420, YV12, NV12, NV21, Y42B, Y444, YUY2, UYVY, YVYU, AYUV, v308, GRAY8, RGBx, BGRx, "        \
  "xRGB, xBGR, RGBA, BGRA, ARGB, ABGR, RGB, BGR }"
#define ROOMCAST_STAMP_CAPS                                                                        \
  "video/x-raw, format = (string) " ROOMCAST_STAMP_FORMATS ", width = (int) [ 256, 32767 ], "      \
  "height = (int) [ 96, 32767 ], framerate = (fraction) [ 0/1, 2147483647/1 ]"

// CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF) of `value`'s 8 bytes, big endian.
guint16 crc16(guint64 value);

// Writes `micros` into the strip of `frame` (mapped for writing).
void write(GstVideoFrame *frame, guint64 micros);

enum class Read {
  Ok,       // marker, every block and the CRC check out
  Unclear,  // a block is neither clearly black nor clearly white
  NoMarker, // the marker blocks are wrong (no stamp, or a damaged one)
  BadCrc,   // the blocks read cleanly but the CRC does not match
};
const char *describe(Read r); // a short token: ok, unclear-block, no-marker, bad-crc

// Reads the strip of `frame` (mapped for reading); `micros` is set only on Read::Ok.
Read read(const GstVideoFrame *frame, guint64 *micros);

} // namespace roomcast::stamp
