// Glass-to-glass latency for a Chromium viewer (run by tests/bench/latency.py; not a test).
//
// In a network namespace (tests/browser/harness.mjs): a signalling server, a GStreamer host
// `roomcast live --pipeline "videotestsrc ... ! roomcaststamp ! roomcastsink"` and Debian's
// Chromium on the web viewer page. In the page, for every frame the <video> presents
// (requestVideoFrameCallback), the stamp strip is drawn to a canvas and read back as RGBA (the
// layout of plugins/roomcast/stamp.cpp: 16 x 6 blocks of 16x16 px at the top-left, marker 0x5AC3,
// 64-bit microseconds, CRC-16/CCITT-FALSE; mid-grey threshold with an unreadable band); the
// latency is the wall clock now minus the stamp (host and browser share the machine's clock).
//
//   node tests/bench/latency-browser.mjs [--samples N] [--warmup-ms MS] [--codec vp8]
//       [--bitrate KBPS] [--size 1280x720] [--fps 30]
//
// Prints one JSON line: {samples: [{cb, display, frame}], misreads, frames, ...}; exit 77 when
// the browser harness cannot run here (not root, no Chromium, no playwright-core).

import { parseArgs } from 'node:util';
import { preflight, withWorld, waitState, log } from '../browser/harness.mjs';

const { values: opt } = parseArgs({
  options: {
    samples: { type: 'string', default: '300' },
    'warmup-ms': { type: 'string', default: '3000' },
    codec: { type: 'string', default: 'vp8' },
    bitrate: { type: 'string', default: '2000' },
    size: { type: 'string', default: '1280x720' },
    fps: { type: 'string', default: '30' },
    timeout: { type: 'string', default: '120' },
  },
});
const [width, height] = opt.size.split('x').map(Number);
const wanted = Number(opt.samples);

// Runs in the page: collects `n` samples from #stage after `warmupMs`, resolves with them.
// Each sample: cb = latency at the frame callback, display = latency at the frame's expected
// display time (metadata.expectedDisplayTime), both in microseconds.
function collectInPage({ n, warmupMs, maxMs }) {
  const BLOCK = 16, COLS = 16, ROWS = 6, MARKER = 0x5ac3;
  const video = document.getElementById('stage');
  const canvas = document.createElement('canvas');
  canvas.width = BLOCK * COLS;
  canvas.height = BLOCK * ROWS;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  const crc16 = (bytes) => {
    let crc = 0xffff;
    for (const b of bytes) {
      crc ^= b << 8;
      for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc;
  };
  // The stamp in microseconds, or a string saying why it does not read.
  const readStamp = () => {
    g.drawImage(video, 0, 0, canvas.width, canvas.height, 0, 0, canvas.width, canvas.height);
    const d = g.getImageData(0, 0, canvas.width, canvas.height).data;
    const bits = [];
    let unclear = false;
    for (let i = 0; i < COLS * ROWS; i++) {
      const x0 = (i % COLS) * BLOCK + 4, y0 = Math.floor(i / COLS) * BLOCK + 4;
      let sum = 0;
      for (let y = y0; y < y0 + 8; y++)
        for (let x = x0; x < x0 + 8; x++) {
          const o = (y * canvas.width + x) * 4;
          sum += (d[o] + d[o + 1] + d[o + 2]) / 3;
        }
      const level = sum / 64 / 255;
      if (level > 0.375 && level < 0.625) unclear = true;
      bits.push(level >= 0.5 ? 1 : 0);
    }
    const num = (from, count) => bits.slice(from, from + count).reduce((a, b) => a * 2 + b, 0);
    if (num(0, 16) !== MARKER) return 'no marker';
    if (unclear) return 'unclear block';
    const bytes = [];
    for (let i = 0; i < 8; i++) bytes.push(num(16 + 8 * i, 8));
    if (num(80, 16) !== crc16(bytes)) return 'crc';
    // 64 bits: exact as a Number while below 2^53 µs (year 2255).
    return bytes.reduce((a, b) => a * 256 + b, 0);
  };
  return new Promise((resolve) => {
    const samples = [];
    const misreads = {};
    let frames = 0, lastFrame = -1, framesSkipped = 0;
    const started = performance.now();
    const finish = (why) => resolve({ samples, misreads, frames, frames_skipped: framesSkipped, why, video: [video.videoWidth, video.videoHeight] });
    const onFrame = (now, meta) => {
      const nowUs = (performance.timeOrigin + performance.now()) * 1000;
      if (performance.now() - started > maxMs) return finish('timeout');
      frames++;
      if (lastFrame >= 0 && meta.presentedFrames > lastFrame + 1) framesSkipped += meta.presentedFrames - lastFrame - 1;
      lastFrame = meta.presentedFrames;
      if (performance.now() - started >= warmupMs) {
        const stamp = readStamp();
        if (typeof stamp === 'string') {
          misreads[stamp] = (misreads[stamp] || 0) + 1;
        } else {
          samples.push({
            cb: Math.round(nowUs - stamp),
            display: Math.round((performance.timeOrigin + meta.expectedDisplayTime) * 1000 - stamp),
            frame: meta.presentedFrames,
          });
          if (samples.length >= n) return finish('done');
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  });
}

const playwright = await preflight();
let result = null;
await withWorld(playwright, 'latency-browser', async (w) => {
  const room = 'latency';
  await w.serve();
  const desc = `videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! ` +
    `video/x-raw,width=${width},height=${height},framerate=${opt.fps}/1 ! roomcaststamp ! ` +
    `roomcastsink name=roomcast`;
  const host = w.start(['live', '--server', w.ws, '--room', room, '--ice-loopback', 'off',
    '--codec', opt.codec, '--bitrate', opt.bitrate, '--pipeline', desc], 'live');
  await host.waitLine(/is live/, 20000);
  const browser = await w.browser();
  const page = await w.open(browser, room, 'viewer', { label: 'viewer' });
  await waitState(page, 'live', 25000);
  await page.waitForFunction(() => window.roomcast.video().width > 0, null, { timeout: 20000, polling: 100 });
  log(`viewer live; collecting ${wanted} samples after ${opt['warmup-ms']} ms`);
  const maxMs = Number(opt.timeout) * 1000;
  result = await page.evaluate(collectInPage, { n: wanted, warmupMs: Number(opt['warmup-ms']), maxMs });
  const stats = await page.evaluate(() => window.roomcast.stats());
  const inbound = stats.find((s) => s.inbound);
  result.inbound = inbound ? inbound.inbound : null;
  result.chromium = await browser.browser()?.version?.() ?? null;
});
result.codec = opt.codec;
result.bitrate_kbps = Number(opt.bitrate);
result.size = opt.size;
result.fps = Number(opt.fps);
console.log(JSON.stringify(result));
