// A GStreamer host (`roomcast live`) broadcasts to two Chromium viewers; once with VP8 and once
// with H.264. Both viewers must decode frames at the source's size, not just connect. (Each case
// has a literal name: tests/list-cases.py reads them to register one meson test per case.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitViewerFrames, log } from './harness.mjs';

const playwright = await preflight();

async function gstHostToTwoViewers(codec) {
  await withWorld(playwright, `gst-host-${codec}`, async (w) => {
    const room = `gst-${codec}`;
    await w.serve();
    const host = await w.live(room, '--codec', codec);
    const browser = await w.browser();
    const viewers = [];
    for (let i = 0; i < 2; i++) viewers.push(await w.open(browser, room, 'viewer', { label: `viewer${i}` }));
    for (const v of viewers) await waitState(v, 'live', 25000);
    for (const v of viewers) {
      const { inbound, video } = await waitViewerFrames(v, 30, 20000);
      log(`${v.tag}: ${inbound.framesDecoded} frames ${inbound.width}x${inbound.height} ${inbound.codec} ` +
        `${Math.round(inbound.fps)} fps; <video> ${video.width}x${video.height}`);
      assert.equal(video.width, 640);
      assert.equal(video.height, 360);
      assert.match(inbound.codec, codec === 'vp8' ? /VP8/i : /H264/i);
    }
    assert.equal(host.count(/viewer \S+ joined/), 2, host.lines.join('\n'));
  });
}

test('gst host vp8 to 2 chromium viewers', { timeout: 90000 }, () => gstHostToTwoViewers('vp8'));
test('gst host h264 to 2 chromium viewers', { timeout: 90000 }, () => gstHostToTwoViewers('h264'));
