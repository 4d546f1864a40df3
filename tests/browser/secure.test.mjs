// Hosting and meeting from another machine's browser (issue 12): the server speaks https/wss on a
// non-loopback address of the test's namespace (10.77.0.1), with a certificate it made at start
// and room tokens. Chromium reaches it as a user would over the LAN (a secure origin, so screen
// capture works without any flag), with the token in the page's link; GStreamer peers pin the
// certificate's fingerprint. A page of another origin cannot open the server's WebSocket.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  preflight, withWorld, waitState, waitStats, waitViewerFrames, log, Proc, ROOMCAST, ADDR,
} from './harness.mjs';

const playwright = await preflight();
const SECRET = 'browser-secret-0123456789abcdef';

function token(room, role) {
  const r = spawnSync(ROOMCAST, ['token', '--room', room, '--role', role, '--ttl', '1h'],
    { env: { ...process.env, ROOMCAST_TOKEN_SECRET: SECRET }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('https host with a token link to gst and chromium viewers', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'secure-host', async (w) => {
    const room = 'lan-stage';
    await w.serveSecure([], { ROOMCAST_TOKEN_SECRET: SECRET });
    assert.match(w.http, /^https:\/\/10\.77\.0\.1:\d+$/);
    const browser = await w.browser();

    // Without a token the page cannot host: a fatal refusal, in words.
    const squatter = await w.open(browser, room, 'host', { label: 'squatter' });
    assert.equal(await squatter.evaluate(() => window.isSecureContext), true);
    await squatter.click('#share');
    await waitState(squatter, 'error', 15000);
    const refused = await squatter.evaluate(() => window.roomcast.message);
    log(`host without a token: ${refused}`);
    assert.match(refused, /token/i);
    await squatter.close();

    // With the token from the link, the page is a secure context and captures the screen.
    const host = await w.open(browser, room, 'host', { name: 'Stage', label: 'host', query: { token: token(room, 'host') } });
    assert.deepEqual(await host.evaluate(() => [location.protocol, window.isSecureContext]), ['https:', true]);
    await host.click('#share');
    await waitState(host, 'live', 15000);

    // A GStreamer viewer over wss, pinning the printed fingerprint; a Chromium viewer (viewers
    // need no token on this server: they join rooms their host opened).
    const watch = w.watch(room, '--tls-pin', w.fingerprint, '--frames', '30', '--timeout', '60');
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    await waitState(viewer, 'live', 25000);
    const { inbound } = await waitViewerFrames(viewer, 30, 20000);
    log(`chromium viewer over https: ${inbound.framesDecoded} frames ${inbound.width}x${inbound.height}`);
    assert.equal(await watch.wait(60000), 0, `roomcast watch failed\n${watch.stderr()}`);
    const r = watch.jsonResult();
    log(`roomcast watch over wss: ${JSON.stringify(r)}`);
    assert.ok(r.frames >= 30, JSON.stringify(r));
    await waitStats(host, (all) => all.some((s) => s.outbound && s.outbound.framesEncoded > 30),
      'frames encoded for a viewer', 10000);

    // The security headers reach the browser.
    const headers = await viewer.evaluate(async () => {
      const res = await fetch('/room.js');
      return Object.fromEntries(['content-security-policy', 'strict-transport-security', 'x-content-type-options']
        .map((h) => [h, res.headers.get(h)]));
    });
    log(`headers: ${JSON.stringify(headers)}`);
    assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
    assert.match(headers['strict-transport-security'], /^max-age=\d+/);
    assert.equal(headers['x-content-type-options'], 'nosniff');

    // Cross-site WebSocket: a page of another site (a plain web server of its own on the same
    // address, port 8081, with no CSP: http://10.77.0.1:8081) opens our server's WebSocket. The
    // browser lets it try; our server refuses the handshake. The page's own origin may open it.
    const site = path.join(w.tmp, 'site');
    fs.mkdirSync(site);
    fs.writeFileSync(path.join(site, 'index.html'), '<!doctype html><title>another site</title>');
    const other = new Proc(w.ns.wrap(['python3', '-u', '-m', 'http.server', '--bind', ADDR, '--directory', site, '8081']),
      { name: 'other-site', env: w.env() });
    w.procs.push(other);
    await other.waitLine(/Serving HTTP on/, 20000);
    const foreign = await browser.newPage();
    await foreign.goto(`http://${ADDR}:8081/`, { timeout: 15000 });
    const tryOpen = (url) => new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.onopen = () => { ws.close(); resolve('open'); };
      ws.onerror = () => resolve('refused');
      setTimeout(() => resolve('timeout'), 8000);
    });
    assert.equal(await foreign.evaluate(tryOpen, w.ws), 'refused');
    assert.equal(await viewer.evaluate(tryOpen, w.ws), 'open');
    const refusals = w.server.stderr();
    assert.match(refusals, /refused websocket from=10\.77\.0\.1: origin 'http:\/\/10\.77\.0\.1:8081' is not allowed/);
  });
});

test('https meeting of a chromium member and a gst member', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'secure-meeting', async (w) => {
    const room = 'lan-standup';
    await w.serveSecure(['--require-token', 'all'], { ROOMCAST_TOKEN_SECRET: SECRET });
    const browser = await w.browser();
    const ann = await w.open(browser, room, 'member', { name: 'Ann', label: 'ann', query: { token: token(room, 'member') } });
    await ann.click('#join');
    await waitState(ann, 'live', 15000);
    // Gus stays for 150 of Ann's frames (5 s or more): with 30 it left ~1 s after connecting, a
    // race with Ann's 30 frames of it that the seconds-old burst each new peer used to get at the
    // connection (see SendGate in plugins/roomcast/peer.cpp) had been winning.
    const gus = w.start(['meet', '--server', w.ws, '--room', room, '--name', 'Gus', '--source', 'test',
      '--size', '640x360', '--sink', 'fake', '--ice-loopback', 'off', '--tls-pin', w.fingerprint,
      '--token', token(room, 'member'), '--expect', '1', '--frames', '150', '--timeout', '60'], 'meet');
    const st = await waitStats(ann,
      (all) => all.some((s) => s.inbound && s.inbound.framesDecoded > 30 && s.inbound.width > 0),
      'frames from the gst member', 30000);
    log(`ann decodes Gus over https: ${JSON.stringify(st.map((s) => s.inbound))}`);
    assert.equal(await gus.wait(60000), 0, `roomcast meet failed\n${gus.stderr()}`);
    const report = gus.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    log(`gus: ${JSON.stringify(report)}`);
    assert.ok(report.some((r) => r.name === 'Ann' && r.frames >= 30), JSON.stringify(report));
    // A member without a token: refused, the page says so.
    const eve = await w.open(browser, room, 'member', { name: 'Eve', label: 'eve' });
    await eve.click('#join');
    await waitState(eve, 'error', 15000);
    assert.match(await eve.evaluate(() => window.roomcast.message), /token/i);
  });
});
