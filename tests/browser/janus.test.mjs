// Scale-out through Janus (issue 15) with browsers: `roomcast serve --sfu` with two real Janus
// nodes (Debian's janus, started here inside the test's namespace), a GStreamer host
// (`roomcast live`), and six viewers that know nothing of Janus: two Chromium pages and four
// `roomcast watch`. All decode; the host serves two peers (the nodes), not six.
// (tests/integration/test_janus.py checks the same with GStreamer viewers only, and a node killed.)

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitStats, waitViewerFrames, log, ADDR } from './harness.mjs';

const playwright = await preflight();

function janusLib() {
  for (const d of ['/usr/lib/x86_64-linux-gnu/janus', '/usr/lib/aarch64-linux-gnu/janus', '/usr/lib/janus'])
    if (fs.existsSync(path.join(d, 'plugins', 'libjanus_videoroom.so'))) return d;
  throw new Error("Debian's janus package is needed (tools/debian-packages.txt)");
}

// A free port number (the namespace has its own ports; one free here is as good as any there).
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Janus in the world's namespace: only the VideoRoom plugin and the WebSocket transport, API on
// ADDR:port, ICE on ADDR. Returns its ws:// URL once the port answers.
async function janus(w, name, procs = []) {
  const lib = janusLib();
  const dir = fs.mkdtempSync(path.join(w.tmp, `${name}-`));
  for (const [sub, file] of [['plugins', 'libjanus_videoroom.so'], ['transports', 'libjanus_websockets.so']]) {
    fs.mkdirSync(path.join(dir, sub));
    fs.symlinkSync(path.join(lib, sub, file), path.join(dir, sub, file));
  }
  fs.mkdirSync(path.join(dir, 'none'));
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'janus.jcfg'), `general: {
  configs_folder = "${dir}"
  plugins_folder = "${dir}/plugins"
  transports_folder = "${dir}/transports"
  events_folder = "${dir}/none"
  loggers_folder = "${dir}/none"
  debug_level = 4
}
media: { rtp_port_range = "20000-60000" }
nat: { ice_enforce_list = "${ADDR}" }
`);
  fs.writeFileSync(path.join(dir, 'janus.transport.websockets.jcfg'),
    `general: { json = "compact" ws = true ws_port = ${port} ws_ip = "${ADDR}" wss = false }\n` +
    'admin: { admin_ws = false admin_wss = false }\n');
  fs.writeFileSync(path.join(dir, 'janus.plugin.videoroom.jcfg'), 'general: { }\n');
  const p = w.spawnIn(['janus', '-F', dir], name);
  procs.push(p);
  await p.waitLine(/WebSockets thread started/, 15000);
  return `ws://${ADDR}:${port}`;
}

// The server logs (g_message) on stderr: waits for a line there.
async function waitStderr(p, rx, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (!rx.test(p.stderr())) {
    if (Date.now() > end) throw new Error(`${p.name}: no ${rx} on stderr within ${timeoutMs} ms:\n${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Prometheus text as {name{labels}: value}, read from inside the namespace (the test process is
// outside it).
async function metrics(w, url) {
  const p = w.spawnIn(['python3', '-c',
    'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())',
    url], 'metrics');
  assert.equal(await p.exited, 0, p.stderr());
  const out = {};
  for (const line of p.lines) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

test('janus two nodes chromium and gst viewers', { timeout: 150000 }, async () => {
  await withWorld(playwright, 'janus', async (w) => {
    const room = 'janus-mix';
    const nodes = [await janus(w, 'janus1'), await janus(w, 'janus2')];
    const serve = await w.serve(0, ['--public-metrics', ...nodes.flatMap((u) => ['--sfu', `janus=${u}`])]);
    await waitStderr(serve, /janus node 1 \(\S+\): up/, 10000);
    await waitStderr(serve, /janus node 2 \(\S+\): up/, 10000);
    const host = await w.live(room, '--metrics', `${ADDR}:0`, '--bitrate', '600');
    const hm = (await host.waitLine(/host metrics at (http:\/\/\S+\/metrics)/, 5000))[1];
    const browser = await w.browser();
    const pages = [];
    for (let i = 0; i < 2; i++) pages.push(await w.open(browser, room, 'viewer', { label: `viewer${i}` }));
    const watchers = [];
    for (let i = 0; i < 4; i++) watchers.push(w.watch(room, '--frames', '60', '--timeout', '60'));
    for (const v of pages) await waitState(v, 'live', 30000);
    for (const v of pages) {
      const { inbound, video } = await waitViewerFrames(v, 30, 30000);
      log(`${v.tag}: ${inbound.framesDecoded} frames ${inbound.width}x${inbound.height} ${inbound.codec}`);
      assert.equal(video.width, 640);
      assert.equal(video.height, 360);
    }
    for (const p of watchers) assert.equal(await p.exited, 0, p.lines.join('\n') + p.stderr());
    // Six viewers over the nodes; the host's peers are the two nodes.
    const s = await metrics(w, `${w.http}/metrics`);
    assert.equal(s['roomcast_sfu_viewers{node="1"}'] + s['roomcast_sfu_viewers{node="2"}'], 2, JSON.stringify(s));
    assert.equal((serve.stderr().match(/sfu: viewer \S+ of room janus-mix goes through janus node/g) || []).length, 6,
      serve.stderr());
    const h = await metrics(w, hm);
    assert.equal(h.roomcast_host_viewers, 2, JSON.stringify(h));
    const peers = Object.keys(h).filter((k) => k.startsWith('roomcast_host_viewer_connected{'));
    assert.equal(peers.length, 2, peers.join(' '));
    assert.ok(peers.every((k) => /peer="sfu[12]-[0-9a-f]{8}"/.test(k)), peers.join(' '));
  });
});

test('janus node killed chromium viewers move', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'janus-kill', async (w) => {
    const room = 'janus-kill';
    const janusProcs = [];
    const nodes = [await janus(w, 'janus1', janusProcs), await janus(w, 'janus2', janusProcs)];
    const serve = await w.serve(0, nodes.flatMap((u) => ['--sfu', `janus=${u}`]));
    await waitStderr(serve, /janus node 1 \(\S+\): up/, 10000);
    await waitStderr(serve, /janus node 2 \(\S+\): up/, 10000);
    await w.live(room, '--bitrate', '600');
    const browser = await w.browser();
    const pages = [];
    for (let i = 0; i < 2; i++) pages.push(await w.open(browser, room, 'viewer', { label: `viewer${i}` }));
    for (const v of pages) await waitState(v, 'live', 30000);
    for (const v of pages) await waitViewerFrames(v, 30, 30000);
    // One page per node (least loaded); node 1 dies.
    assert.match(serve.stderr(), /goes through janus node 1/);
    assert.match(serve.stderr(), /goes through janus node 2/);
    const decoded = (all) => Math.max(0, ...all.filter((x) => x.inbound).map((x) => x.inbound.framesDecoded));
    const before = [];
    for (const v of pages) before.push(decoded(await v.evaluate(() => window.roomcast.stats())));
    const t0 = Date.now();
    janusProcs[0].kill();
    await waitStderr(serve, /moves from janus node 1 to node 2/, 5000);
    // Decoding again: 30 frames more on the same connection (the page on node 2), or a new
    // connection (the page on node 1 answered the new offer from the host's id: its count starts
    // again) with 10 frames. The dead connection can do neither.
    for (const [i, v] of pages.entries()) {
      await waitStats(v, (all) => decoded(all) > before[i] + 30 || (decoded(all) < before[i] && decoded(all) > 10),
        'decoding again', Math.max(500, 5000 - (Date.now() - t0)));
      log(`${v.tag}: decoding again ${Date.now() - t0} ms after the kill (had ${before[i]} frames)`);
    }
    assert.ok(Date.now() - t0 <= 5000, `${Date.now() - t0} ms`);
  });
});
