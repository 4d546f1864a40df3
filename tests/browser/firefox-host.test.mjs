// Firefox as the live host: it shares a real X screen (Xvfb with a moving ball; headless Firefox
// has no fake screen) with a GStreamer viewer (`roomcast watch --frames 30`, which must exit 0)
// and a Chromium viewer (which must decode frames, getStats()).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflightFirefox, withWorld, waitState, waitStats, waitViewerFrames, log } from './harness.mjs';

const { playwright, puppeteer } = await preflightFirefox();

test('Firefox host to a GStreamer viewer and a Chromium viewer', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'firefox-host', async (w) => {
    const room = 'from-firefox';
    await w.serve();
    const display = await w.xvfb('1280x720');
    await w.movingPicture(display, '1280x720');
    const ff = await w.firefox(puppeteer, 'firefox', { display });
    const host = await w.openPage(ff, room, 'host', { name: 'Fox', label: 'firefox/host' });
    await host.click('#share');
    await waitState(host, 'live', 15000);

    const watch = w.watch(room, '--frames', '30', '--timeout', '40');
    const chromium = await w.browser();
    const viewer = await w.openPage(chromium, room, 'viewer', { label: 'chromium/viewer' });
    await waitState(viewer, 'live', 25000);
    const { inbound, video } = await waitViewerFrames(viewer, 30, 20000);
    log(`${viewer.tag}: ${inbound.framesDecoded} frames ${inbound.width}x${inbound.height} ${inbound.codec}; ` +
      `<video> ${video.width}x${video.height}`);
    assert.ok(video.width > 0 && video.height > 0);

    assert.equal(await watch.wait(45000), 0, `roomcast watch failed\n${watch.stderr()}`);
    const r = watch.jsonResult();
    log(`roomcast watch: ${JSON.stringify(r)}`);
    assert.ok(r.frames >= 30, JSON.stringify(r));
    assert.ok(r.width > 0 && r.height > 0, JSON.stringify(r));

    const sent = await waitStats(host, (all) => all.some((s) => s.outbound && s.outbound.framesEncoded > 30),
      'frames encoded for a viewer', 10000);
    log(`${host.tag}: ${JSON.stringify(sent.map((s) => [s.state, s.outbound && s.outbound.codec, s.outbound && s.outbound.framesEncoded]))}`);
  });
});
