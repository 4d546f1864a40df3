// WHEP egress (issue 15): a WHEP player that no one here wrote (npm `whip-whep`, medooze's
// WHEPClient, pinned in package.json) plays a live room of a GStreamer host (`roomcast live`) through
// `POST /whep/ROOM` on the signalling server, in Chromium. Its offer carries no candidates (the
// client trickles them by PATCH), so the PATCH path is exercised too. The player must decode the
// host's frames at the source's size; DELETE (the client's stop()) must end the host's session.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { preflight, withWorld, waitState, log, sleep, SOURCE_DIR } from './harness.mjs';

const playwright = await preflight();
const WHEP_JS = path.join(SOURCE_DIR, 'node_modules', 'whip-whep', 'whep.js');

async function playerFrames(page) {
  return page.evaluate(async () => {
    for (const s of (await window.player.pc.getStats()).values())
      if (s.type === 'inbound-rtp' && s.kind === 'video')
        return { frames: s.framesDecoded || 0, width: s.frameWidth, height: s.frameHeight, codec: s.codecId };
    return { frames: 0 };
  });
}

// A page of the server's origin (made by the test) with the npm client loaded; a blank one.
async function playerPage(w, browser) {
  await browser.grantPermissions(['local-network-access'], { origin: w.http });
  const page = await browser.newPage();
  page.claimed = true;
  page.on('console', (m) => w.pageLogs.push(`player console.${m.type()}: ${m.text()}`));
  await page.route(`${w.http}/whep-test-player`, (r) =>
    r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>WHEP player</title><video autoplay muted playsinline></video>' }));
  await page.goto(`${w.http}/whep-test-player`);
  await page.addScriptTag({ type: 'module', content: fs.readFileSync(WHEP_JS, 'utf8') + '\nwindow.WHEPClient = WHEPClient;\n' });
  await page.waitForFunction(() => window.WHEPClient !== undefined, null, { timeout: 5000 });
  return page;
}

async function play(page, url) {
  await page.evaluate(async (url) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.ontrack = (e) => { document.querySelector('video').srcObject = e.streams[0] || new MediaStream([e.track]); };
    const client = new window.WHEPClient();
    window.player = { pc, client };
    await client.view(pc, url);
  }, url);
}

async function waitPlayerFrames(page, n, ms) {
  let last = { frames: 0 };
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && last.frames <= n) {
    await sleep(250);
    last = await playerFrames(page);
  }
  return last;
}

test('whep player plays a live room', { timeout: 90000 }, async () => {
  assert.ok(fs.existsSync(WHEP_JS), `${WHEP_JS} is missing: run "npm ci" at the repository root`);
  await withWorld(playwright, 'whep', async (w) => {
    const room = 'whep';
    await w.serve();
    const host = await w.live(room, '--codec', 'vp8');
    const browser = await w.browser();
    await browser.grantPermissions(['local-network-access'], { origin: w.http });
    const page = await browser.newPage();
    page.claimed = true;
    page.on('console', (m) => w.pageLogs.push(`player console.${m.type()}: ${m.text()}`));
    // A blank page of the server's origin, made by the test, with the client loaded into it.
    await page.route(`${w.http}/whep-test-player`, (r) =>
      r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>WHEP player</title><video autoplay muted playsinline></video>' }));
    await page.goto(`${w.http}/whep-test-player`);
    await page.addScriptTag({ type: 'module', content: fs.readFileSync(WHEP_JS, 'utf8') + '\nwindow.WHEPClient = WHEPClient;\n' });
    await page.waitForFunction(() => window.WHEPClient !== undefined, null, { timeout: 5000 });

    // Errors first: a room without a host, a wrong content type, a method WHEP does not have.
    const errors = await page.evaluate(async (base) => {
      const post = (url, type) => fetch(url, { method: 'POST', headers: { 'Content-Type': type }, body: 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n' });
      return {
        noHost: (await post(`${base}/whep/nobody-here`, 'application/sdp')).status,
        type: (await post(`${base}/whep/whep`, 'text/plain')).status,
        get: (await fetch(`${base}/whep/whep`)).status,
      };
    }, w.http);
    log(`errors: ${JSON.stringify(errors)}`);
    assert.deepEqual(errors, { noHost: 404, type: 415, get: 405 });

    const t0 = Date.now();
    await page.evaluate(async (url) => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.ontrack = (e) => { document.querySelector('video').srcObject = e.streams[0] || new MediaStream([e.track]); };
      const client = new window.WHEPClient();
      window.player = { pc, client };
      await client.view(pc, url);
    }, `${w.http}/whep/${room}`);
    log(`view() returned after ${Date.now() - t0} ms`);

    let last = { frames: 0 };
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && last.frames <= 30) {
      await sleep(250);
      last = await playerFrames(page);
    }
    log(`player: ${JSON.stringify(last)}, ${Date.now() - t0} ms after POST`);
    assert.ok(last.frames > 30, `the WHEP player decoded ${last.frames} frames\n${w.server.stderr()}`);
    assert.equal(last.width, 640);
    assert.equal(last.height, 360);
    assert.match(w.server.stderr(), /whep session \S+ in room whep answered by host/);
    await host.waitLine(/viewer \S+ joined/, 5000);

    // DELETE ends the session at the host too.
    await page.evaluate(() => window.player.client.stop());
    await host.waitLine(/viewer \S+ left/, 10000);
    assert.equal(host.exitCode, null);
  });
});

// The web client's host page (Chromium sharing its fake screen) answers a WHEP player too.
test('whep player plays a chromium host', { timeout: 90000 }, async () => {
  assert.ok(fs.existsSync(WHEP_JS), `${WHEP_JS} is missing: run "npm ci" at the repository root`);
  await withWorld(playwright, 'whep-browser-host', async (w) => {
    const room = 'whep-browser-host';
    await w.serve();
    const browser = await w.browser();
    const host = await w.open(browser, room, 'host', { name: 'Stage', label: 'host' });
    await host.click('#share');
    await waitState(host, 'live', 15000);
    const page = await playerPage(w, browser);
    const t0 = Date.now();
    await play(page, `${w.http}/whep/${room}`);
    const last = await waitPlayerFrames(page, 30, 20000);
    log(`player (chromium host): ${JSON.stringify(last)}, ${Date.now() - t0} ms after POST`);
    assert.ok(last.frames > 30, `the WHEP player decoded ${last.frames} frames\n${w.server.stderr()}`);
    assert.ok(last.width > 0);
  });
});
