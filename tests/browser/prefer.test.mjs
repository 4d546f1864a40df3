// A Chromium or Firefox viewer asks a GStreamer host with a ladder (`roomcast live --ladder
// 1,0.5,0.25`) for a smaller layer through the page's API (window.roomcast.prefer, the protocol's
// `prefer`): the host moves it to that layer and the page decodes frames of that size; a bad wish
// throws at once. Each of these switches (top to quarter, quarter to half) is made on a clean
// link, so the pause at it is the switch's own: the presented frames' longest pause across each
// size change must stay under the 500 ms ("no freeze > 500 ms at a switch"; the switch
// meter is harness.mjs's startSwitchMeter, requestVideoFrameCallback). (Each case has a literal
// name: tests/list-cases.py reads them to register one meson test per case.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, preflightFirefox, withWorld, waitState, waitStats, startSwitchMeter, log } from './harness.mjs';

const playwright = await preflight();
const SWITCH_PAUSE_MS = 500;

async function preferCase(kind) {
  await withWorld(playwright, `prefer-layer-${kind}`, async (w) => {
    const room = `prefer-${kind}`;
    await w.serve();
    const host = await w.live(room, '--ladder', '1,0.5,0.25');
    let v;
    if (kind === 'firefox') {
      const { puppeteer } = await preflightFirefox();
      v = await w.openPage(await w.firefox(puppeteer, 'firefox'), room, 'viewer', { label: 'firefox/viewer' });
    } else {
      v = await w.openPage(await w.browser(), room, 'viewer', { label: 'chromium/viewer' });
    }
    await waitState(v, 'live', 25000);
    await waitStats(v, (all) => all.some((x) => x.inbound && x.inbound.height === 360),
      'frames of the top layer (640x360)', 20000);
    await v.evaluate(startSwitchMeter);
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

    // The pause at each presented size change (the first entry is the meter's start).
    const m = await v.evaluate(() => window.__meter);
    const changes = m.sizes.slice(1).map((x) => ({ width: x.width, pauseMs: Math.round(x.gap) }));
    log(`${v.tag}: size changes ${JSON.stringify(changes)}, longest pause ${Math.round(m.maxGap)} ms, ` +
      `${m.frames} frames presented`);
    assert.deepEqual(changes.map((x) => x.width), [160, 320], 'presented widths');
    for (const x of changes)
      assert.ok(x.pauseMs < SWITCH_PAUSE_MS, `a ${x.pauseMs} ms pause at the switch to ${x.width} wide`);
    assert.ok(m.maxGap < SWITCH_PAUSE_MS, `longest pause ${Math.round(m.maxGap)} ms over the switches`);
  });
}

test('chromium viewer prefers a ladder layer', { timeout: 90000 }, () => preferCase('chromium'));
test('firefox viewer prefers a ladder layer', { timeout: 90000 }, () => preferCase('firefox'));
