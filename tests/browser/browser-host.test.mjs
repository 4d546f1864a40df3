// A Chromium host (the fake screen of --use-fake-device-for-media-stream) broadcasts to a
// GStreamer viewer (`roomcast watch --frames 30`, which must exit 0) and a Chromium viewer (which
// must decode frames). Then the host stops sharing from the browser's UI: the viewer shows
// "host left".

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitStats, waitViewerFrames, log } from './harness.mjs';

const playwright = await preflight();

test('chromium host to gst and chromium viewers', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'browser-host', async (w) => {
    const room = 'from-chromium';
    await w.serve();
    const browser = await w.browser();
    const host = await w.open(browser, room, 'host', { name: 'Stage', label: 'host' });
    await host.click('#share');
    await waitState(host, 'live', 15000);

    const watch = w.watch(room, '--frames', '30', '--timeout', '40');
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    await waitState(viewer, 'live', 25000);
    const { inbound, video } = await waitViewerFrames(viewer, 30, 20000);
    log(`viewer: ${inbound.framesDecoded} frames ${inbound.width}x${inbound.height} ${inbound.codec}; ` +
      `<video> ${video.width}x${video.height}`);
    assert.ok(video.width > 0 && video.height > 0);

    assert.equal(await watch.wait(45000), 0, `roomcast watch failed\n${watch.stderr()}`);
    const r = watch.jsonResult();
    log(`roomcast watch: ${JSON.stringify(r)}`);
    assert.ok(r.frames >= 30, JSON.stringify(r));
    assert.ok(r.width > 0 && r.height > 0, JSON.stringify(r));

    // The host saw both viewers and sent to them.
    const sent = await waitStats(host, (all) => all.length >= 1 && all.some((s) => s.outbound && s.outbound.framesEncoded > 30),
      'frames encoded for a viewer', 10000);
    log(`host: ${sent.length} peer(s) left after watch exited; ${JSON.stringify(sent.map((s) => s.outbound && s.outbound.framesEncoded))}`);

    // The host stops sharing from the browser's own UI (the track ends): it leaves cleanly, says
    // so, and the viewer is told.
    await host.evaluate(() => {
      for (const t of document.getElementById('stage').srcObject.getTracks()) t.dispatchEvent(new Event('ended'));
    });
    await waitState(host, 'ended', 5000);
    const msg = await host.evaluate(() => window.roomcast.message);
    assert.match(msg, /stopped sharing/, msg);
    await waitState(viewer, 'host-left', 10000);
  });
});
