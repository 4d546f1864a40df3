// Coming back: a GStreamer host that leaves and returns (the viewer shows "host left", then plays
// the new offer), and a signalling server that restarts under a Chromium host and viewer (both
// show "reconnecting", rejoin and negotiate again).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitStats, waitViewerFrames, log } from './harness.mjs';

const playwright = await preflight();

// Frames decoded on a connection with a peer other than `notFrom`.
function framesFromNewPeer(page, notFrom, frames) {
  return waitStats(page, (all) => all.some((s) => s.id !== notFrom && s.inbound && s.inbound.framesDecoded > frames),
    `more than ${frames} frames from a peer other than ${notFrom}`, 25000);
}

test('gst host leaves and returns', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'host-returns', async (w) => {
    const room = 'again';
    await w.serve();
    let host = await w.live(room, '--codec', 'vp8');
    const browser = await w.browser();
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    await waitState(viewer, 'live', 25000);
    await waitViewerFrames(viewer, 20, 20000);
    const [first] = await viewer.evaluate(() => window.roomcast.peers());

    assert.equal(await host.interrupt(15000), 0, host.stderr());
    await waitState(viewer, 'host-left', 10000);
    assert.equal((await viewer.evaluate(() => window.roomcast.peers())).length, 0);

    host = await w.live(room, '--codec', 'vp8');
    await waitState(viewer, 'live', 25000);
    const st = await framesFromNewPeer(viewer, first.id, 20);
    log(`viewer: live again, ${JSON.stringify(st.map((s) => [s.id, s.inbound && s.inbound.framesDecoded]))}`);
  });
});

test('server restart', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'server-restart', async (w) => {
    const room = 'restart';
    await w.serve();
    const port = w.port;
    const browser = await w.browser();
    const host = await w.open(browser, room, 'host', { label: 'host' });
    await host.click('#share');
    await waitState(host, 'live', 15000);
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    await waitState(viewer, 'live', 25000);
    await waitViewerFrames(viewer, 20, 20000);
    const [first] = await viewer.evaluate(() => window.roomcast.peers());

    w.server.kill();
    assert.notEqual(await w.server.wait(5000), 0);
    await waitState(viewer, 'reconnecting', 5000);
    await waitState(host, 'reconnecting', 5000);

    const t0 = Date.now();
    await w.serve(port); // the same address, so the pages find it again
    await waitState(host, 'live', 15000);
    await waitState(viewer, 'live', 25000);
    const st = await framesFromNewPeer(viewer, first.id, 20);
    log(`rejoined and live again ${((Date.now() - t0) / 1000).toFixed(1)} s after the restart; ` +
      `${JSON.stringify(st.map((s) => [s.id, s.inbound && s.inbound.framesDecoded]))}`);
    const hostPeers = await host.evaluate(() => window.roomcast.peers());
    assert.equal(hostPeers.length, 1, JSON.stringify(hostPeers));
  });
});
