// TURN, end to end, with a Chromium viewer (issue 11): Chromium can reach the GStreamer host only
// through a TURN server (Debian's coturn, a real process), and plays its video.
//
// Three network namespaces from tests/netlab/turnlab.py (the same layout as the integration test
// tests/integration/test_turn.py): the host's (`roomcast live`), the viewer's (Chromium), and a
// "public" server namespace at 192.0.2.1 that forwards nothing between the other two (nft drops
// and counts). `roomcast serve` and coturn run there; serve hands the TURN server out in its
// welcome with REST credentials made for each client from a secret file, and the web client gives
// them to RTCPeerConnection. The case fails unless the pair Chromium selected has a relay
// candidate, coturn allocated with REST credentials, and the direct checks were dropped.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitViewerFrames, waitStats, Proc, ROOMCAST, SOURCE_DIR, SIZE, log } from './harness.mjs';

const playwright = await preflight();

const TURNLAB = path.join(SOURCE_DIR, 'tests', 'netlab', 'turnlab.py');
const PORT = 8443;
const TURN_PORT = 3478;

// The lab's namespaces, made and removed through turnlab.py's command line.
function turnlab(cmd, tag) {
  const r = spawnSync('python3', [TURNLAB, cmd, tag], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`turnlab.py ${cmd} ${tag} failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : null;
}

const labs = new Set(); // up, not yet down: removed at exit whatever happens
process.on('exit', () => {
  for (const tag of labs) spawnSync('python3', [TURNLAB, 'down', tag]);
});

test('chromium viewer reaches a gst host only through turn', { timeout: 120000 }, async (t) => {
  if (spawnSync('sh', ['-c', 'command -v turnserver']).status !== 0) {
    const strict = process.env.CI === 'true' || process.env.ROOMCAST_BROWSER_TESTS === 'enabled';
    if (strict) assert.fail('coturn is missing (apt-get install coturn)');
    t.skip('coturn is missing (apt-get install coturn)');
    return;
  }
  const tag = `b${process.pid}${randomBytes(2).toString('hex')}`;
  const lab = turnlab('up', tag);
  labs.add(tag);
  const wrapIn = (nsName, args) => ['ip', 'netns', 'exec', nsName, ...args];
  // The world's own namespace is the viewer's: Chromium runs there. Closing the world removes the
  // whole lab (and kills whatever still runs in it).
  const ns = {
    name: lab.viewer,
    wrap: (args) => wrapIn(lab.viewer, args),
    destroy: () => {
      turnlab('down', tag);
      labs.delete(tag);
    },
  };
  await withWorld(playwright, 'turn', async (w) => {
    const startIn = (nsName, args, name) => {
      const p = new Proc(wrapIn(nsName, args), { name, env: w.env() });
      w.procs.push(p);
      return p;
    };
    const secret = `browser-turn ${randomBytes(8).toString('hex')}`;
    const secretFile = path.join(w.tmp, 'turn-secret');
    fs.writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    const conf = path.join(w.tmp, 'turnserver.conf');
    fs.writeFileSync(conf, [
      `listening-ip=${lab.public}`, `relay-ip=${lab.public}`, `listening-port=${TURN_PORT}`,
      'min-port=49160', 'max-port=49260', 'realm=roomcast.test', 'fingerprint', 'no-tls', 'no-dtls',
      'no-cli', 'log-file=stdout', 'simple-log', 'verbose', `pidfile=${path.join(w.tmp, 'turnserver.pid')}`,
      'use-auth-secret', `static-auth-secret=${secret}`, '',
    ].join('\n'), { mode: 0o600 });
    const turn = startIn(lab.server, ['turnserver', '-c', conf], 'coturn');
    await turn.waitLine(/relay 192\.0\.2\.1 initialization/, 10000);

    const serve = startIn(lab.server, [ROOMCAST, 'serve', '--host', lab.public, '--port', String(PORT),
      '--turn', `turn://${lab.public}:${TURN_PORT}`, '--turn-secret', secretFile], 'serve');
    const m = await serve.waitLine(/listening on (ws:\/\/\S+)/, 10000);
    w.ws = m[1];
    w.http = `http://${lab.public}:${PORT}`;
    await serve.waitLine(/ICE servers for clients: turn:192\.0\.2\.1:3478 \(TURN REST credentials/, 5000);

    const host = startIn(lab.host, [ROOMCAST, 'live', '--server', w.ws, '--room', 'turn', '--source', 'test',
      ...SIZE], 'live');
    await host.waitLine(/is live/, 20000);

    const browser = await w.browser();
    const page = await w.open(browser, 'turn', 'viewer', { label: 'viewer' });
    await waitState(page, 'live', 30000);
    const { inbound, video } = await waitViewerFrames(page, 60, 30000);
    assert.equal(video.width, 640);
    assert.equal(video.height, 360);
    const stats = await waitStats(page, (all) => all.some((s) => s.path && s.path.local),
      'a selected candidate pair', 10000);
    const { path: route } = stats.find((s) => s.path);
    log(`viewer: ${inbound.framesDecoded} frames ${inbound.width}x${inbound.height}; path ${route.local} ` +
      `${route.localAddress} (${route.relayProtocol || '-'}) -> ${route.remote} ${route.remoteAddress}`);
    assert.ok(route.local === 'relay' || route.remote === 'relay', JSON.stringify(route));

    // coturn allocated for REST user names ("<expiry>:<peer id>"): Chromium too, with the
    // credentials its welcome gave it (the web client passed them to RTCPeerConnection); and the
    // direct checks between the host's and the viewer's addresses were dropped.
    const allocations = turn.count(/user <\d{10}:p[0-9a-f]{8}>: incoming packet ALLOCATE processed, success/);
    assert.ok(allocations >= 1, turn.lines.slice(-40).join('\n'));
    const viewerId = await page.evaluate(() => window.roomcast.id);
    const byViewer = turn.count(new RegExp(`user <\\d{10}:${viewerId}>: incoming packet ALLOCATE processed, success`));
    assert.ok(byViewer >= 1, `no allocation by the viewer ${viewerId}:\n${turn.lines.slice(-40).join('\n')}`);
    const drops = turnlab('drops', tag);
    log(`coturn allocations with REST credentials: ${allocations} (${byViewer} by Chromium); ` +
      `direct packets dropped: ${JSON.stringify(drops)}`);
    assert.ok((drops.h_to_v || 0) + (drops.v_to_h || 0) > 0, JSON.stringify(drops));
    assert.equal(host.count(/viewer \S+ joined/), 1, host.lines.join('\n'));
  }, { ns });
});
