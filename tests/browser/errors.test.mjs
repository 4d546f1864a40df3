// What the page says when things go wrong: a second host (host-taken), a role that does not fit
// the room (wrong-kind), screen sharing refused (NotAllowedError), a browser without WebRTC or
// screen capture, a bad room name, and a host that ends the connection (bye). No media flows
// here, so this is quick.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, withWorld, waitState } from './harness.mjs';

const playwright = await preflight();

const state = (page) => page.evaluate(() => ({ state: window.roomcast.state, message: window.roomcast.message }));

test('error messages', { timeout: 60000 }, async () => {
  await withWorld(playwright, 'errors', async (w) => {
    await w.serve();
    const browser = await w.browser();

    // The start page leads to the room page with the chosen role.
    const start = await browser.newPage();
    // What the start page saw, printed if this step fails: URLs, console errors, page errors,
    // failed or refused requests.
    const diag = [];
    start.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') diag.push(`console.${m.type()}: ${m.text()}`); });
    start.on('pageerror', (e) => diag.push(`pageerror: ${e.message}`));
    start.on('requestfailed', (r) => diag.push(`requestfailed: ${r.method()} ${r.url()}: ${r.failure() && r.failure().errorText}`));
    start.on('response', (r) => { if (r.status() >= 400) diag.push(`response ${r.status()}: ${r.url()}`); });
    start.on('framenavigated', (f) => { if (f === start.mainFrame()) diag.push(`navigated: ${f.url()}`); });
    try {
      await start.goto(`${w.http}/`);
      // The start page's module (index.js) replaces the native form submit; wait for it.
      await start.waitForFunction(() => document.getElementById('go').dataset.ready === 'yes');
      await start.fill('#room', 'lobby');
      await Promise.all([start.waitForURL(/\/room\/lobby\?role=member$/), start.click('button[value=member]')]);
      // Polled on a timer, not on animation frames (the default), so a page that paints no
      // frames cannot stall the wait.
      await start.waitForFunction(() => window.roomcast && window.roomcast.role === 'member' && window.roomcast.room === 'lobby',
        null, { polling: 100 });
    } catch (e) {
      let seen = null;
      try {
        seen = await start.evaluate(() => ({
          readyState: document.readyState,
          visibility: document.visibilityState,
          roomcast: window.roomcast ? { role: window.roomcast.role, room: window.roomcast.room, state: window.roomcast.state } : null,
          resources: performance.getEntriesByType('resource').map((r) => `${r.name} ${r.responseStatus ?? ''}`),
        }));
      } catch (e2) { seen = `(evaluate failed: ${e2.message})`; }
      console.error(`--- start page: url ${start.url()}, page ${JSON.stringify(seen)} ---`);
      for (const l of diag) console.error(l);
      throw e;
    }
    await start.close();

    // host-taken
    const first = await w.open(browser, 'stage', 'host', { label: 'host1' });
    await first.click('#share');
    await waitState(first, 'live', 15000);
    const second = await w.open(browser, 'stage', 'host', { label: 'host2' });
    await second.click('#share');
    await waitState(second, 'error', 10000);
    let s = await state(second);
    assert.match(s.message, /already has a host/, JSON.stringify(s));
    assert.equal(await second.isVisible('#message'), true);
    assert.equal((await state(first)).state, 'live'); // the first host is unaffected
    // The first host's "Stop sharing" button leaves the room; now the second can take it.
    await first.click('#stop');
    await waitState(first, 'ended', 5000);
    await second.click('#share');
    await waitState(second, 'live', 10000);

    // wrong-kind: a member cannot enter a live room
    const member = await w.open(browser, 'stage', 'member', { label: 'member' });
    await member.click('#join');
    await waitState(member, 'error', 10000);
    s = await state(member);
    assert.match(s.message, /another kind/, JSON.stringify(s));

    // NotAllowedError: the user (or a policy) refuses the capture
    const denied = await w.open(browser, 'denied', 'host', {
      label: 'denied',
      init: () => {
        navigator.mediaDevices.getDisplayMedia = () =>
          Promise.reject(new DOMException('Permission denied by user', 'NotAllowedError'));
      },
    });
    await denied.click('#share');
    await waitState(denied, 'error', 5000);
    s = await state(denied);
    assert.match(s.message, /Permission denied/, JSON.stringify(s));
    assert.equal(await denied.isEnabled('#share'), true, 'the host can try again');

    // An old browser: no WebRTC, no screen capture
    const old = await w.open(browser, 'stage', 'viewer', {
      label: 'old',
      init: () => { delete window.RTCPeerConnection; },
    });
    await waitState(old, 'error', 5000);
    s = await state(old);
    assert.match(s.message, /not supported.*RTCPeerConnection/, JSON.stringify(s));

    const noCapture = await w.open(browser, 'meet', 'member', {
      label: 'no-capture',
      init: () => { delete MediaDevices.prototype.getDisplayMedia; },
    });
    await waitState(noCapture, 'error', 5000);
    s = await state(noCapture);
    assert.match(s.message, /getDisplayMedia/, JSON.stringify(s));
    assert.equal(await noCapture.isEnabled('#join'), false);

    // A bad room name never reaches the server.
    const bad = await w.open(browser, 'no spaces!', 'viewer', { label: 'bad-name' });
    await waitState(bad, 'error', 5000);
    assert.match((await state(bad)).message, /room name/);
  });
});

// A peer that ends the connection says why (`bye`), and the page says it in plain words. The
// "host" here is a bare WebSocket in another page: it joins, and sends the viewer a bye with the
// reason max-peers, as a GStreamer host at its viewer limit does.
test('a bye from the host is shown in plain words', { timeout: 60000 }, async () => {
  await withWorld(playwright, 'bye', async (w) => {
    await w.serve();
    const browser = await w.browser();
    const viewer = await w.open(browser, 'byes', 'viewer', { label: 'viewer' });
    await waitState(viewer, 'waiting', 10000);

    const host = await browser.newPage();
    await host.goto(`${w.http}/`);
    const viewerId = await host.evaluate(async (url) => {
      const P = await import('/protocol.js');
      const ws = new WebSocket(url);
      window.fakeHost = ws; // kept open: the host stays in the room
      await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
      const next = () => new Promise((resolve) => { ws.onmessage = (e) => resolve(JSON.parse(e.data)); });
      ws.send(JSON.stringify({ type: 'join', version: P.PROTOCOL_VERSION, room: 'byes', role: 'host', name: 'Stage' }));
      const welcome = await next();
      if (welcome.type !== 'welcome') throw new Error(JSON.stringify(welcome));
      const v = welcome.peers.find((p) => p.role === 'viewer');
      ws.send(JSON.stringify({ type: 'bye', to: v.id, reason: 'max-peers', message: 'at most 0 viewers' }));
      return v.id;
    }, w.ws);
    assert.ok(viewerId);

    await waitState(viewer, 'peer-ended', 10000);
    const s = await state(viewer);
    assert.match(s.message, /^The host is serving as many viewers as it can; try again later\./, JSON.stringify(s));
    assert.match(s.message, /at most 0 viewers/, JSON.stringify(s));
    assert.equal(await viewer.isVisible('#message'), true);
    assert.deepEqual(await viewer.evaluate(() => window.roomcast.peers()), []);
  });
});
