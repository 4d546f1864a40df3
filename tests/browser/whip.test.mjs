// WHIP ingest (issue 15): Chromium publishes its (fake) camera by WHIP (RFC 9725: a fetch POST of
// its offer, written here from the RFC) to `roomcast live --source whip`; a `roomcast watch` and a
// Chromium viewer that join the room later both decode it, and the host process encodes nothing
// (its pipeline, dumped as a dot file when the publisher's video arrived, has a depayloader and
// no encoder). The late viewers' keyframe requests must reach the publisher: Chromium sends no
// periodic keyframes, so the publisher's PLI count has to grow, and the viewers must decode soon.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitViewerFrames, log, sleep, ADDR, SOURCE_DIR } from './harness.mjs';

const playwright = await preflight();
const WHIP_JS = path.join(SOURCE_DIR, 'node_modules', 'whip-whep', 'whip.js');

// Runs in the page: an RFC 9725 client. Non-trickle: the offer carries every candidate.
async function whipPublish({ url, token, audio }) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 30 }, audio: !!audio });
  const pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    setTimeout(resolve, 3000);
  });
  const headers = { 'Content-Type': 'application/sdp' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp });
  const body = await r.text();
  if (r.status !== 201) return { status: r.status, body };
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  window.whip = { pc, location: new URL(r.headers.get('Location'), url).href };
  return { status: r.status, location: window.whip.location };
}

async function publisherStats(page) {
  return page.evaluate(async () => {
    const out = { connection: window.whip.pc.connectionState };
    for (const s of (await window.whip.pc.getStats()).values())
      if (s.type === 'outbound-rtp' && s.kind === 'video')
        Object.assign(out, { pli: s.pliCount, fir: s.firCount, keyframes: s.keyFramesEncoded, frames: s.framesEncoded });
    return out;
  });
}

test('whip chromium publisher to roomcast watch and chromium viewer', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'whip', async (w) => {
    const room = 'whip';
    await w.serve();
    const dots = fs.mkdtempSync(path.join(w.tmp, 'dots-'));
    const host = w.start(['live', '--server', w.ws, '--room', room, '--source', 'whip',
      '--whip-listen', `${ADDR}:0`, '--ice-loopback', 'off'], 'live', { GST_DEBUG_DUMP_DOT_DIR: dots });
    const endpoint = (await host.waitLine(/WHIP endpoint (http:\S+)/, 15000))[1];
    await host.waitLine(/is live/, 20000);

    const browser = await w.browser();
    // Chromium asks before a page reaches into the local network (the endpoint is on 10.77.0.1):
    // granted, as a user publishing to their own host would.
    await browser.grantPermissions(['local-network-access'], { origin: w.http });
    const pub = await browser.newPage();
    pub.claimed = true;
    pub.on('console', (m) => w.pageLogs.push(`publisher console.${m.type()}: ${m.text()}`));
    // A blank page of the server's origin (a secure origin here, for getUserMedia; the web
    // client's own pages forbid connecting elsewhere), made by the test; the endpoint allows CORS.
    await pub.route(`${w.http}/whip-test-publisher`, (r) =>
      r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>WHIP publisher</title>' }));
    await pub.goto(`${w.http}/whip-test-publisher`);
    const res = await pub.evaluate(whipPublish, { url: endpoint });
    assert.equal(res.status, 201, JSON.stringify(res));
    log(`published: ${res.location}`);
    const flowing = await host.waitLine(/WHIP publisher's VP8 video reaches the room \(encoders in this process: (.*)\)/, 20000);
    assert.equal(flowing[1], 'none');
    // The host's pipeline as it was then: the publisher's stream is depayloaded and payloaded again,
    // never decoded or encoded.
    const dot = fs.readdirSync(dots).find((f) => f.endsWith('whip-publishing.dot'));
    assert.ok(dot, `no dot dump in ${dots}: ${fs.readdirSync(dots)}`);
    const graph = fs.readFileSync(path.join(dots, dot), 'utf8');
    assert.match(graph, /GstRtpVP8Depay/);
    assert.match(graph, /GstRtpVP8Pay/);
    for (const enc of ['GstVP8Enc', 'GstVP9Enc', 'GstX264Enc', 'GstOpenh264Enc', 'GstVP8Dec'])
      assert.doesNotMatch(graph, new RegExp(enc), `${enc} in the host's pipeline`);

    // Late joiners: the publisher has been sending for a while (one keyframe at its start).
    await sleep(4000);
    const before = await publisherStats(pub);
    log(`publisher before the viewers: ${JSON.stringify(before)}`);
    assert.equal(before.connection, 'connected');

    const t0 = Date.now();
    const watch = w.watch(room, '--frames', '60', '--timeout', '30');
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    await waitState(viewer, 'live', 20000);
    const { inbound, video } = await waitViewerFrames(viewer, 30, 20000);
    const viewerMs = Date.now() - t0;
    log(`chromium viewer: ${inbound.framesDecoded} frames ${inbound.width}x${inbound.height} ${inbound.codec}; ` +
      `<video> ${video.width}x${video.height}; 30 frames ${viewerMs} ms after joining`);
    assert.match(inbound.codec, /VP8/i);
    assert.ok(video.width > 0 && video.height > 0);
    assert.equal(await watch.wait(35000), 0, `roomcast watch: ${watch.lines.join('\n')}\n${watch.stderr()}`);
    const got = watch.jsonResult();
    log(`roomcast watch: ${JSON.stringify(got)}`);
    assert.ok(got.frames >= 60);

    const after = await publisherStats(pub);
    log(`publisher after the viewers: ${JSON.stringify(after)}`);
    // The viewers' keyframe requests reached the publisher (as PLI or FIR: webrtcbin's session
    // sends FIR for a request that wants all headers) and it sent new keyframes.
    assert.ok(after.pli + after.fir > before.pli + before.fir,
      `PLI ${before.pli} -> ${after.pli}, FIR ${before.fir} -> ${after.fir}`);
    assert.ok(after.keyframes > before.keyframes, `keyframes ${before.keyframes} -> ${after.keyframes}`);

    // DELETE ends the session; the room stays live for the next publisher.
    const del = await pub.evaluate(async () => (await fetch(window.whip.location, { method: 'DELETE' })).status);
    assert.equal(del, 200);
    await host.waitLine(/WHIP session ended: the publisher ended the session/, 10000);
    const again = await pub.evaluate(whipPublish, { url: endpoint });
    assert.equal(again.status, 201, JSON.stringify(again));
    await host.waitLine(/WHIP session \S+ answered/, 10000, host.lines.findIndex((l) => /session ended/.test(l)));
    const frames0 = (await viewer.evaluate(() => window.roomcast.stats())).find((s) => s.inbound).inbound.framesDecoded;
    const more = await waitViewerFrames(viewer, frames0 + 30, 20000);
    log(`second publisher: the viewer decoded ${more.inbound.framesDecoded - frames0} more frames`);

    // A publisher that vanishes without DELETE (its tab closed) does not block the next one: the
    // host ends the session when its video stops.
    const mark = host.lines.length;
    const t1 = Date.now();
    await pub.evaluate(() => window.whip.pc.close());
    const ended = await host.waitLine(/WHIP session ended: (.*); waiting for a publisher/, 15000, mark);
    log(`vanished publisher: session ended after ${Date.now() - t1} ms (${ended[1]})`);
    const third = await pub.evaluate(whipPublish, { url: endpoint });
    assert.equal(third.status, 201, JSON.stringify(third));
    assert.equal(host.exitCode, null);
  });
});

// The same ingest with a WHIP client no one here wrote (npm `whip-whep`, medooze's WHIPClient): its
// offer carries no candidates and it trickles them by PATCH, and it ends with DELETE (stop()).
test('whip npm whip-whep client publishes with a bearer token', { timeout: 90000 }, async () => {
  assert.ok(fs.existsSync(WHIP_JS), `${WHIP_JS} is missing: run "npm ci" at the repository root`);
  await withWorld(playwright, 'whip-npm', async (w) => {
    const room = 'whip-npm';
    await w.serve();
    const tokenFile = path.join(w.tmp, 'whip.token');
    fs.writeFileSync(tokenFile, 'npm-client-token-123456\n');
    const host = w.start(['live', '--server', w.ws, '--room', room, '--source', 'whip',
      '--whip-listen', `${ADDR}:0`, '--whip-token', tokenFile, '--ice-loopback', 'off'], 'live');
    const endpoint = (await host.waitLine(/WHIP endpoint (http:\S+) \(plain HTTP, Bearer token\)/, 15000))[1];
    await host.waitLine(/is live/, 20000);
    const browser = await w.browser();
    await browser.grantPermissions(['local-network-access'], { origin: w.http });
    const pub = await browser.newPage();
    pub.claimed = true;
    pub.on('console', (m) => w.pageLogs.push(`publisher console.${m.type()}: ${m.text()}`));
    await pub.route(`${w.http}/whip-test-publisher`, (r) =>
      r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>WHIP publisher</title>' }));
    await pub.goto(`${w.http}/whip-test-publisher`);
    await pub.addScriptTag({ type: 'module', content: fs.readFileSync(WHIP_JS, 'utf8') + '\nwindow.WHIPClient = WHIPClient;\n' });
    await pub.waitForFunction(() => window.WHIPClient !== undefined, null, { timeout: 5000 });
    const publish = (token) => pub.evaluate(async ({ url, token }) => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
      const pc = new RTCPeerConnection();
      pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly' });
      const client = new window.WHIPClient();
      try {
        await client.publish(pc, url, token);
      } catch (e) {
        pc.close();
        return String(e.message);
      }
      window.whip = { pc, client };
      return 'published';
    }, { url: endpoint, token });
    // A wrong token is refused (the client throws on any status but 201).
    const refused = await publish('not-the-token');
    assert.match(refused, /401/);
    assert.equal(await publish('npm-client-token-123456'), 'published');
    const flowing = await host.waitLine(/WHIP publisher's VP8 video reaches the room \(encoders in this process: (.*)\)/, 20000);
    assert.equal(flowing[1], 'none');
    const watch = w.watch(room, '--frames', '45', '--timeout', '30');
    assert.equal(await watch.wait(35000), 0, `roomcast watch: ${watch.lines.join('\n')}\n${watch.stderr()}`);
    log(`roomcast watch: ${JSON.stringify(watch.jsonResult())}`);
    await pub.evaluate(() => window.whip.client.stop());
    await host.waitLine(/WHIP session ended: the publisher ended the session/, 10000);
    assert.equal(host.exitCode, null);
  });
});

// H.264 (what OBS sends most): the host takes --codec h264, its answer accepts H.264 only, and the
// stream passes through (h264parse and the payloader in the sink, still no encoder).
test('whip h264 chromium publisher to roomcast watch', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'whip-h264', async (w) => {
    const room = 'whip-h264';
    await w.serve();
    const host = w.start(['live', '--server', w.ws, '--room', room, '--source', 'whip', '--codec', 'h264',
      '--whip-listen', `${ADDR}:0`, '--ice-loopback', 'off'], 'live');
    const endpoint = (await host.waitLine(/WHIP endpoint (http:\S+)/, 15000))[1];
    await host.waitLine(/is live/, 20000);
    const browser = await w.browser();
    await browser.grantPermissions(['local-network-access'], { origin: w.http });
    const pub = await browser.newPage();
    pub.claimed = true;
    pub.on('console', (m) => w.pageLogs.push(`publisher console.${m.type()}: ${m.text()}`));
    await pub.route(`${w.http}/whip-test-publisher`, (r) =>
      r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>WHIP publisher</title>' }));
    await pub.goto(`${w.http}/whip-test-publisher`);
    const res = await pub.evaluate(whipPublish, { url: endpoint });
    assert.equal(res.status, 201, JSON.stringify(res));
    const flowing = await host.waitLine(/WHIP publisher's H264 video reaches the room \(encoders in this process: (.*)\)/, 20000);
    assert.equal(flowing[1], 'none');
    const watch = w.watch(room, '--frames', '45', '--timeout', '30');
    assert.equal(await watch.wait(35000), 0, `roomcast watch: ${watch.lines.join('\n')}\n${watch.stderr()}`);
    log(`roomcast watch (h264): ${JSON.stringify(watch.jsonResult())}`);
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    await waitState(viewer, 'live', 20000);
    const { inbound } = await waitViewerFrames(viewer, 30, 20000);
    log(`chromium viewer (h264): ${inbound.framesDecoded} frames ${inbound.width}x${inbound.height} ${inbound.codec}`);
    assert.match(inbound.codec, /H264/i);
    assert.equal(host.exitCode, null);
  });
});

// --audio: the publisher's Opus passes through too (no audio encoder either), and an offer without
// audio is refused; roomcast watch gets the audio, a Chromium viewer takes the offer.
test('whip publisher audio passes to roomcast watch', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'whip-audio', async (w) => {
    const room = 'whip-audio';
    await w.serve();
    const host = w.start(['live', '--server', w.ws, '--room', room, '--source', 'whip', '--audio',
      '--whip-listen', `${ADDR}:0`, '--ice-loopback', 'off'], 'live');
    const endpoint = (await host.waitLine(/WHIP endpoint (http:\S+)/, 15000))[1];
    await host.waitLine(/is live/, 20000);
    const browser = await w.browser();
    await browser.grantPermissions(['local-network-access'], { origin: w.http });
    const pub = await browser.newPage();
    pub.claimed = true;
    pub.on('console', (m) => w.pageLogs.push(`publisher console.${m.type()}: ${m.text()}`));
    await pub.route(`${w.http}/whip-test-publisher`, (r) =>
      r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>WHIP publisher</title>' }));
    await pub.goto(`${w.http}/whip-test-publisher`);
    const noAudio = await pub.evaluate(whipPublish, { url: endpoint });
    assert.equal(noAudio.status, 406, JSON.stringify(noAudio));
    const res = await pub.evaluate(whipPublish, { url: endpoint, audio: true });
    assert.equal(res.status, 201, JSON.stringify(res));
    const flowing = await host.waitLine(/WHIP publisher's VP8 video reaches the room \(encoders in this process: (.*)\)/, 20000);
    assert.equal(flowing[1], 'none');
    const watch = w.watch(room, '--frames', '45', '--timeout', '30');
    assert.equal(await watch.wait(35000), 0, `roomcast watch: ${watch.lines.join('\n')}\n${watch.stderr()}`);
    const got = watch.jsonResult();
    log(`roomcast watch (audio): ${JSON.stringify(got)}`);
    assert.ok(got.audio_buffers > 0, "the publisher's Opus reached the viewer");
    // A Chromium viewer takes the host's offer with audio (no rtx on the audio m-line: Chromium
    // refuses an audio rtx stream) and decodes the video.
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    await waitState(viewer, 'live', 20000);
    const { inbound } = await waitViewerFrames(viewer, 30, 20000);
    log(`chromium viewer (audio room): ${inbound.framesDecoded} frames ${inbound.codec}`);
    assert.equal(host.exitCode, null);
  });
});
