// A Chromium viewer asks a GStreamer host with a ladder (`roomcast live --ladder 1,0.5,0.25`) for
// a smaller layer through the page's API (window.roomcast.prefer, the protocol's `prefer`): the
// host moves it to that layer and the page decodes frames of that size; a bad wish throws at
// once. (Each case has a literal name: tests/list-cases.py reads them to register one meson test
// per case.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitStats, log } from './harness.mjs';

const playwright = await preflight();

test('chromium viewer prefers a ladder layer', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'prefer-layer', async (w) => {
    const room = 'prefer';
    await w.serve();
    const host = await w.live(room, '--ladder', '1,0.5,0.25');
    const browser = await w.browser();
    const v = await w.open(browser, room, 'viewer');
    await waitState(v, 'live', 25000);
    const id = await v.evaluate(() => window.roomcast.id);

    // Bad wishes are refused on the page, before anything is sent.
    for (const bad of [-1, 1.5, '2', 16, { maxHeight: 0 }, { layer: 1, maxHeight: 90 }, {}]) {
      const err = await v.evaluate((b) => {
        try { window.roomcast.prefer(b); return null; } catch (e) { return e.name; }
      }, bad);
      assert.equal(err, 'RangeError', `prefer(${JSON.stringify(bad)})`);
    }

    // The quarter layer by index, then the half by height.
    const start = host.lines.length;
    assert.equal(await v.evaluate(() => window.roomcast.prefer(2)), true);
    await host.waitLine(new RegExp(`viewer ${id} layer 2 \\(160x90\\)`), 15000, start);
    let s = await waitStats(v, (all) => all.some((x) => x.inbound && x.inbound.height === 90),
      'frames of the quarter layer (160x90)', 15000);
    log(`quarter: ${JSON.stringify(s.find((x) => x.inbound).inbound)}`);
    assert.deepEqual(await v.evaluate(() => window.roomcast.preferred), { layer: 2 });

    assert.equal(await v.evaluate(() => window.roomcast.prefer({ maxHeight: 200 })), true);
    await host.waitLine(new RegExp(`viewer ${id} layer 1 \\(320x180\\)`), 15000, start);
    s = await waitStats(v, (all) => all.some((x) => x.inbound && x.inbound.height === 180),
      'frames of the half layer (320x180)', 15000);
    const before = s.find((x) => x.inbound).inbound.framesDecoded;
    s = await waitStats(v, (all) => all.some((x) => x.inbound && x.inbound.framesDecoded > before + 15),
      'more frames of the half layer', 10000);
    assert.equal(s.find((x) => x.inbound).inbound.height, 180);
  });
});
