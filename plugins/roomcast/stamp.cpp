// The latency stamp's pixel code (see stamp.h).
//
// Layout: a grid of 16 x 6 blocks of 16x16 pixels at the frame's top-left corner (x 0-255,
// y 0-95), each block on the macroblock grid so a codec sees flat blocks. Block i is at column
// i % 16, row i / 16, and carries one bit: white (1) or black (0).
//   blocks  0-15  the marker 0x5AC3, most significant bit first
//   blocks 16-79  the timestamp: g_get_real_time() microseconds, 64 bits, MSB first
//   blocks 80-95  CRC-16/CCITT-FALSE of the timestamp's 8 bytes (big endian), MSB first
// Levels: YUV formats write Y 16 (black) / 235 (white) and U = V = 128; RGB and GRAY8 write 0 /
// 255 (alpha 255). A reader averages the central 8x8 pixels of a block (luma, or (R+G+B)/3),
// places the mean between the format's black and white levels, and reads below 0.375 as 0,
// above 0.625 as 1, and anything between as unreadable; a frame is counted only when every
// block is clear, the marker matches and the CRC matches.
#include "stamp.h"

namespace roomcast::stamp {

namespace {

constexpr int kBits = kColumns * kRows; // 96
constexpr int kSample = 8;              // the central kSample x kSample pixels are read

struct Levels {
  int black, white;
};

Levels levels(const GstVideoFormatInfo *finfo) {
  if (GST_VIDEO_FORMAT_INFO_IS_YUV(finfo)) return {16, 235};
  return {0, 255};
}

// Sets component `c` of the block's pixels to v.
void fill_component(GstVideoFrame *frame, int c, int x0, int y0, guint8 v) {
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  int ws = GST_VIDEO_FORMAT_INFO_W_SUB(finfo, c), hs = GST_VIDEO_FORMAT_INFO_H_SUB(finfo, c);
  auto *data = static_cast<guint8 *>(GST_VIDEO_FRAME_COMP_DATA(frame, c));
  int stride = GST_VIDEO_FRAME_COMP_STRIDE(frame, c);
  int pstride = GST_VIDEO_FRAME_COMP_PSTRIDE(frame, c);
  for (int y = y0 >> hs; y < (y0 + kBlock) >> hs; y++) {
    guint8 *row = data + gsize(y) * stride;
    for (int x = x0 >> ws; x < (x0 + kBlock) >> ws; x++)
      row[gsize(x) * pstride] = v;
  }
}

// Mean of component `c` over the block's central pixels.
double mean_component(const GstVideoFrame *frame, int c, int x0, int y0) {
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  int ws = GST_VIDEO_FORMAT_INFO_W_SUB(finfo, c), hs = GST_VIDEO_FORMAT_INFO_H_SUB(finfo, c);
  const int margin = (kBlock - kSample) / 2;
  auto *data = static_cast<const guint8 *>(GST_VIDEO_FRAME_COMP_DATA(frame, c));
  int stride = GST_VIDEO_FRAME_COMP_STRIDE(frame, c);
  int pstride = GST_VIDEO_FRAME_COMP_PSTRIDE(frame, c);
  long sum = 0, n = 0;
  for (int y = (y0 + margin) >> hs; y < (y0 + margin + kSample) >> hs; y++) {
    const guint8 *row = data + gsize(y) * stride;
    for (int x = (x0 + margin) >> ws; x < (x0 + margin + kSample) >> ws; x++, n++)
      sum += row[gsize(x) * pstride];
  }
  return n ? double(sum) / n : 0;
}

} // namespace

guint16 crc16(guint64 value) {
  guint16 crc = 0xFFFF;
  for (int i = 7; i >= 0; i--) {
    crc ^= guint16(((value >> (8 * i)) & 0xFF) << 8);
    for (int b = 0; b < 8; b++)
      crc = (crc & 0x8000) ? guint16((crc << 1) ^ 0x1021) : guint16(crc << 1);
  }
  return crc;
}

void write(GstVideoFrame *frame, guint64 micros) {
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  const bool yuv = GST_VIDEO_FORMAT_INFO_IS_YUV(finfo);
  const Levels lv = levels(finfo);
  const guint16 crc = crc16(micros);
  for (int i = 0; i < kBits; i++) {
    bool bit;
    if (i < 16)
      bit = (kMarker >> (15 - i)) & 1;
    else if (i < 80)
      bit = (micros >> (63 - (i - 16))) & 1;
    else
      bit = (crc >> (15 - (i - 80))) & 1;
    int x0 = (i % kColumns) * kBlock, y0 = (i / kColumns) * kBlock;
    for (guint c = 0; c < GST_VIDEO_FORMAT_INFO_N_COMPONENTS(finfo); c++) {
      guint8 v;
      if (c == GST_VIDEO_COMP_A)
        v = 255;
      else if (yuv && c != GST_VIDEO_COMP_Y)
        v = 128;
      else
        v = guint8(bit ? lv.white : lv.black);
      fill_component(frame, int(c), x0, y0, v);
    }
  }
}

const char *describe(Read r) {
  switch (r) {
  case Read::Ok:
    return "ok";
  case Read::Unclear:
    return "unclear-block";
  case Read::NoMarker:
    return "no-marker";
  case Read::BadCrc:
    return "bad-crc";
  }
  return "?";
}

Read read(const GstVideoFrame *frame, guint64 *micros) {
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  const bool rgb = GST_VIDEO_FORMAT_INFO_IS_RGB(finfo);
  const Levels lv = levels(finfo);
  bool unclear = false;
  guint16 marker = 0, crc = 0;
  guint64 value = 0;
  for (int i = 0; i < kBits; i++) {
    int x0 = (i % kColumns) * kBlock, y0 = (i / kColumns) * kBlock;
    double mean = rgb ? (mean_component(frame, GST_VIDEO_COMP_R, x0, y0) +
                         mean_component(frame, GST_VIDEO_COMP_G, x0, y0) +
                         mean_component(frame, GST_VIDEO_COMP_B, x0, y0)) /
                            3
                      : mean_component(frame, GST_VIDEO_COMP_Y, x0, y0);
    double level = (mean - lv.black) / (lv.white - lv.black);
    if (level > 0.375 && level < 0.625) unclear = true;
    guint bit = level >= 0.5 ? 1 : 0;
    if (i < 16)
      marker = guint16((marker << 1) | bit);
    else if (i < 80)
      value = (value << 1) | bit;
    else
      crc = guint16((crc << 1) | bit);
  }
  if (marker != kMarker) return Read::NoMarker;
  if (unclear) return Read::Unclear;
  if (crc != crc16(value)) return Read::BadCrc;
  *micros = value;
  return Read::Ok;
}

} // namespace roomcast::stamp
