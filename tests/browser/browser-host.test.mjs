// A Chromium host (the fake screen of --use-fake-device-for-media-stream) broadcasts to a
// GStreamer viewer (`roomcast watch`) and a Chromium viewer at once: both decode, and the host
// sends to both. The GStreamer viewer stops (Ctrl-C: exit 0, its counts as JSON) and the host
// drops it. Then the host stops sharing from the browser's UI: the viewer shows "host left".

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

    // The GStreamer viewer stays until it is told to stop (the timeout only bounds a failure).
    const watch = w.watch(room, '--timeout', '60');
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    await waitState(viewer, 'live', 25000);
    const { inbound, video } = await waitViewerFrames(viewer, 30, 20000);
    log(`viewer: ${inbound.framesDecoded} frames ${inbound.width}x${inbound.height} ${inbound.codec}; ` +
      `<video> ${video.width}x${video.height}`);
    assert.ok(video.width > 0 && video.height > 0);

    // Both viewers at once: the host has two peers and encodes frames for each (60: well over the
    // 30 that roomcast watch must have decoded when it stops below).
    const sent = await waitStats(host,
      (all) => all.length === 2 && all.every((s) => s.outbound && s.outbound.framesEncoded > 60),
      'frames encoded for both viewers', 20000);
    log(`host: frames encoded per viewer ${JSON.stringify(sent.map((s) => s.outbound.framesEncoded))}`);

    // roomcast watch decoded too: stopped with Ctrl-C it exits 0 and prints its counts.
    assert.equal(await watch.interrupt(15000), 0, `roomcast watch failed\n${watch.stderr()}`);
    const r = watch.jsonResult();
    log(`roomcast watch: ${JSON.stringify(r)}`);
    assert.ok(r.frames >= 30, JSON.stringify(r));
    assert.ok(r.width > 0 && r.height > 0, JSON.stringify(r));

    // The host drops the viewer that left and goes on sending to the other.
    const left = await waitStats(host, (all) => all.length === 1, 'one viewer left', 10000);
    const before = left[0].outbound ? left[0].outbound.framesEncoded : 0;
    await waitStats(host, (all) => all.length === 1 && all[0].outbound && all[0].outbound.framesEncoded > before + 15,
      'frames still encoded for the remaining viewer', 10000);

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
