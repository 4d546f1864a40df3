// Host CPU with a WHIP publisher (no encoder in the host) next to the same room fed by the host's
// own test pattern (VP8 encoded in the host), each with `--viewers` roomcast watch viewers.
// Reuses the browser tests' harness (namespace, roomcast processes, Chromium). The publisher is
// Chromium's fake camera, 640x360; the test pattern is 640x360 at the frame rate the publisher
// actually sent (read from the host's status line) and its bit rate, so both rooms carry the same
// picture and bit rates.
//
//   node tests/bench/whip-cpu.mjs [--viewers 2] [--seconds 15]
// Prints one JSON line: {"whip": {...}, "encoded": {...}} with host CPU (% of one core), fps and
// the host's send rate.

import fs from 'node:fs';
import { preflight, withWorld, sleep, log, ADDR } from '../browser/harness.mjs';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const VIEWERS = Number(arg('--viewers', '2'));
const SECONDS = Number(arg('--seconds', '15'));
const TICK = 100; // USER_HZ on Linux

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime + stime
}

async function measure(host) {
  const pid = host.child.pid;
  const t0 = Date.now(), c0 = cpuTicks(pid), l0 = host.lines.length;
  await sleep(SECONDS * 1000);
  const cpu = ((cpuTicks(pid) - c0) / TICK) / ((Date.now() - t0) / 1000) * 100;
  const status = host.lines.slice(l0).filter((l) => /sending/.test(l)).pop() || '';
  const m = /sending (\d+) kbit\/s\s+encoding ([\d.]+) fps/.exec(status);
  return { cpu_percent: Math.round(cpu * 10) / 10, send_kbps: m ? Number(m[1]) : null, fps: m ? Number(m[2]) : null };
}

const playwright = await preflight();
const result = {};
await withWorld(playwright, 'whip-cpu', async (w) => {
  await w.serve();
  const host = w.start(['live', '--server', w.ws, '--room', 'bench', '--source', 'whip',
    '--whip-listen', `${ADDR}:0`, '--ice-loopback', 'off'], 'live');
  const endpoint = (await host.waitLine(/WHIP endpoint (http:\S+)/, 15000))[1];
  await host.waitLine(/is live/, 20000);
  const browser = await w.browser();
  await browser.grantPermissions(['local-network-access'], { origin: w.http });
  const pub = await browser.newPage();
  await pub.route(`${w.http}/p`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html>' }));
  await pub.goto(`${w.http}/p`);
  const status = await pub.evaluate(async (url) => {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
    const pc = new RTCPeerConnection();
    pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((r) => { pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 3000); });
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    window.pc = pc;
    return res.status;
  }, endpoint);
  if (status !== 201) throw new Error(`WHIP POST: ${status}`);
  await host.waitLine(/reaches the room/, 20000);
  for (let i = 0; i < VIEWERS; i++) w.watch('bench');
  await sleep(5000);
  result.whip = await measure(host);
  log(`whip: ${JSON.stringify(result.whip)}`);
  host.kill();
  const fps = Math.max(1, Math.round(result.whip.fps || 30));
  const enc = w.start(['live', '--server', w.ws, '--room', 'bench2', '--source', 'test', '--size', '640x360',
    '--fps', String(fps), '--bitrate', String(Math.max(50, Math.round((result.whip.send_kbps || 600) / VIEWERS))),
    '--ice-loopback', 'off'], 'live2');
  await enc.waitLine(/is live/, 20000);
  for (let i = 0; i < VIEWERS; i++) w.watch('bench2');
  await sleep(5000);
  result.encoded = await measure(enc);
  log(`encoded: ${JSON.stringify(result.encoded)}`);
});
console.log(JSON.stringify({ viewers: VIEWERS, seconds: SECONDS, ...result }));
