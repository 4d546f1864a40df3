// A signalling server that dies (SIGKILL) and comes back on the same address under a GStreamer
// host (`roomcast live`) and a Chromium viewer: the viewer keeps playing while the server is down
// (media is peer to peer), both rejoin, and the viewer plays the host's new session. (The
// browser-only case is "server restart" in reconnect.test.mjs.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitStats, waitViewerFrames, log } from './harness.mjs';

const playwright = await preflight();

const framesOf = (all, pred) => all.filter(pred).reduce((n, s) => n + (s.inbound ? s.inbound.framesDecoded : 0), 0);

test('server restart under a gst host and a chromium viewer', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'server-restart-gst', async (w) => {
    const room = 'restart-gst';
    await w.serve();
    const port = w.port;
    const host = await w.live(room, '--codec', 'vp8');
    const browser = await w.browser();
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    await waitState(viewer, 'live', 25000);
    await waitViewerFrames(viewer, 20, 20000);
    const [first] = await viewer.evaluate(() => window.roomcast.peers());
    const joinedBefore = host.count(/viewer \S+ joined/);

    w.server.kill();
    assert.notEqual(await w.server.wait(5000), 0);
    const killedAt = Date.now();
    await waitState(viewer, 'reconnecting', 5000);
    // Still playing the old session while the server is down.
    const before = framesOf(await viewer.evaluate(() => window.roomcast.stats()), (s) => s.id === first.id);
    await waitStats(viewer, (all) => framesOf(all, (s) => s.id === first.id) > before + 10,
      'frames from the old session while the server is down', 5000);
    const wait = 1000 - (Date.now() - killedAt);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));

    const t0 = Date.now();
    await w.serve(port); // the same address
    await waitState(viewer, 'live', 15000);
    const st = await waitStats(viewer, (all) => all.some((s) => s.id !== first.id && s.inbound && s.inbound.framesDecoded > 20),
      'more than 20 frames from the host\'s new session', 15000);
    log(`viewer playing the gst host's new session ${((Date.now() - t0) / 1000).toFixed(1)} s after the restart; ` +
      `${JSON.stringify(st.map((s) => [s.id, s.inbound && s.inbound.framesDecoded]))}`);
    // The host never exited, said it was back, and serves the returned viewer (a new id).
    assert.equal(host.exitCode, null, host.stderr());
    assert.match(host.stderr(), /signalling connection lost/);
    assert.match(host.stderr(), /back in room 'restart-gst' as \S+/);
    assert.ok(host.count(/viewer \S+ joined/) > joinedBefore, host.lines.join('\n'));
    assert.equal(await host.interrupt(15000), 0, host.stderr());
  });
});
