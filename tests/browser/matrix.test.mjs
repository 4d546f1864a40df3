// The interop matrix's cells that the other browser tests leave out: {GStreamer, Chromium,
// Firefox} as live host and viewer, and as meeting members joining first or last, with VP8,
// VP9 and H.264 where the peer can choose (the GStreamer elements; browsers send VP8, their
// first codec). Every member or viewer must decode every sender: browsers by getStats()
// framesDecoded per peer name, `roomcast meet` by its SIGUSR1 report, `roomcast watch` by its
// exit report. Firefox has no H.264 here: with a GStreamer H.264 sender it takes the rejection
// path (bye no-common-codec), which its cases assert instead.
//
// One meson test per case (--test-name-pattern picks it by its name's first words).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  preflightFirefox, withWorld, waitState, waitViewerFrames, waitMeetFrames, waitJoined,
  recordSignals, signalsOf, waitFor, log, sleep,
} from './harness.mjs';

const { playwright, puppeteer } = await preflightFirefox();

// ---- meetings -----------------------------------------------------------------------------------

// The world's browsers, made once each; Firefox gets an X screen to share.
async function browserOf(w, kind) {
  w.made = w.made || {};
  if (!w.made[kind]) {
    if (kind === 'chromium') w.made[kind] = await w.browser();
    else {
      const display = await w.xvfb('1280x720');
      await w.movingPicture(display, '1280x720');
      w.made[kind] = await w.firefox(puppeteer, 'firefox', { display });
    }
  }
  return w.made[kind];
}

// Joins the members in order, each once the one before is in the room. A member is
// {kind: 'gst'|'chromium'|'firefox', name, codec (gst only)}. Returns them with .proc or .page.
async function meeting(w, room, members) {
  for (const m of members) {
    if (m.kind === 'gst') {
      m.proc = w.meet(room, m.name, '--codec', m.codec || 'vp8');
      await waitJoined(m.proc);
    } else {
      const b = await browserOf(w, m.kind);
      m.page = await w.openPage(b, room, 'member', { name: m.name, label: `${m.kind}/${m.name}`, init: recordSignals });
      await m.page.click('#join');
      await waitState(m.page, 'live', 15000);
    }
  }
  return members;
}

// What a browser member decoded, by the sender's name: {name: {frames, codec, width}}.
async function decodedBy(page) {
  const out = {};
  for (const s of await page.evaluate(() => window.roomcast.stats()))
    if (s.inbound) out[s.name] = { frames: s.inbound.framesDecoded, codec: s.inbound.codec, width: s.inbound.width };
  return out;
}

// Every member decodes more than `frames` frames from each sender in `from(m)` (by default all
// the others). codecOf(sender) is the codec its receivers must report.
async function allDecode(members, { frames = 20, from = null, timeoutMs = 30000 } = {}) {
  const others = (m) => (from ? from(m) : members.filter((x) => x !== m)).map((x) => x.name);
  const codecOf = (name) => {
    const s = members.find((x) => x.name === name);
    return s.kind === 'gst' ? (s.codec || 'vp8') : 'vp8';
  };
  for (const m of members) {
    const want = others(m);
    if (!want.length) continue;
    if (m.kind === 'gst') {
      const r = await waitMeetFrames(m.proc, want, frames, timeoutMs);
      log(`${m.name} (gst) decoded ${JSON.stringify(r)}`);
    } else {
      const deadline = Date.now() + timeoutMs;
      let seen = {};
      for (;;) {
        seen = await decodedBy(m.page);
        if (want.every((n) => seen[n] && seen[n].frames > frames)) break;
        if (Date.now() > deadline)
          throw new Error(`${m.name} (${m.kind}) did not decode ${frames} frames from each of ${want.join(', ')}: ${JSON.stringify(seen)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      log(`${m.name} (${m.kind}) decoded ${JSON.stringify(seen)}`);
      for (const n of want) assert.match(seen[n].codec, new RegExp(codecOf(n), 'i'), `${m.name} from ${n}`);
    }
  }
}

const MEETINGS = [
  // [name, members in join order]
  ['meeting chromium first firefox then gst vp8 last', [
    { kind: 'chromium', name: 'Cora' }, { kind: 'firefox', name: 'Fox' }, { kind: 'gst', name: 'Gus' }]],
  ['meeting firefox first chromium last', [
    { kind: 'firefox', name: 'Fox' }, { kind: 'chromium', name: 'Cora' }]],
  ['meeting gst vp9 first chromium and firefox last', [
    { kind: 'gst', name: 'Gus', codec: 'vp9' }, { kind: 'chromium', name: 'Cora' }, { kind: 'firefox', name: 'Fox' }]],
  ['meeting chromium and firefox first gst vp9 last', [
    { kind: 'chromium', name: 'Cora' }, { kind: 'firefox', name: 'Fox' }, { kind: 'gst', name: 'Gus', codec: 'vp9' }]],
  ['meeting gst h264 first chromium last', [
    { kind: 'gst', name: 'Gus', codec: 'h264' }, { kind: 'chromium', name: 'Cora' }]],
  ['meeting chromium first gst h264 last', [
    { kind: 'chromium', name: 'Cora' }, { kind: 'gst', name: 'Gus', codec: 'h264' }]],
];

function meetingCase(name) {
  const members = MEETINGS.find(([n]) => n === name)[1];
  return async () => {
    await withWorld(playwright, name.replace(/\s+/g, '-'), async (w) => {
      await w.serve();
      const ms = await meeting(w, 'matrix', members.map((m) => ({ ...m })));
      await allDecode(ms);
    });
  };
}

// Literal names: the meson test list is read from them (tests/list-cases.py).
test('meeting chromium first firefox then gst vp8 last', { timeout: 90000 }, meetingCase('meeting chromium first firefox then gst vp8 last'));
test('meeting firefox first chromium last', { timeout: 90000 }, meetingCase('meeting firefox first chromium last'));
test('meeting gst vp9 first chromium and firefox last', { timeout: 90000 }, meetingCase('meeting gst vp9 first chromium and firefox last'));
test('meeting chromium and firefox first gst vp9 last', { timeout: 90000 }, meetingCase('meeting chromium and firefox first gst vp9 last'));
test('meeting gst h264 first chromium last', { timeout: 90000 }, meetingCase('meeting gst h264 first chromium last'));
test('meeting chromium first gst h264 last', { timeout: 90000 }, meetingCase('meeting chromium first gst h264 last'));

// Firefox (no H.264 here) with an H.264 GStreamer member.

// Firefox joins last and offers VP8/VP9 only: the member can receive but has nothing to send in
// a codec Firefox offered, so it answers recvonly. Media flows one way (Firefox → GStreamer);
// the page gets no video from the member and says so on its tile (the answer's video line).
test('meeting gst h264 first firefox last, one way', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'meeting-gst-h264-firefox-last', async (w) => {
    await w.serve();
    const [gus, fox] = await meeting(w, 'matrix', [{ kind: 'gst', name: 'Gus', codec: 'h264' }, { kind: 'firefox', name: 'Fox' }]);
    const r = await waitMeetFrames(gus.proc, ['Fox'], 20, 30000);
    log(`Gus (gst) decoded ${JSON.stringify(r)}`);
    const answer = (await signalsOf(fox.page)).find((m) => m.dir === 'in' && m.type === 'answer');
    assert.ok(answer, 'no answer');
    const video = answer.sdp.split(/\r\nm=/).find((x) => x.startsWith('video'));
    assert.ok(video, answer.sdp);
    assert.match(video, /a=recvonly/, video);
    const seen = await decodedBy(fox.page);
    log(`Fox (firefox) decoded ${JSON.stringify(seen)} (nothing expected)`);
    assert.ok(!seen.Gus || seen.Gus.frames === 0, JSON.stringify(seen));
    // The page says why that tile stays black.
    await fox.page.waitForFunction(() => /sends video in a codec this browser cannot decode/.test(document.body.innerText), null, { timeout: 5000 });
  });
});

// The member joins last and offers H.264 only: Firefox refuses the m-line, the member ends that
// connection with bye no-common-codec (once), and the page says so and drops the tile.
test('meeting firefox first gst h264 last, no common codec', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'meeting-firefox-gst-h264-last', async (w) => {
    await w.serve();
    const [fox, gus] = await meeting(w, 'matrix', [{ kind: 'firefox', name: 'Fox' }, { kind: 'gst', name: 'Gus', codec: 'h264' }]);
    await waitFor(fox.page, () => (window.__roomcastSignals || []).some((m) => m.type === 'bye'), null, 10000, 'a bye');
    const page = await fox.page.evaluate(() => ({ message: window.roomcast.message, tiles: window.roomcast.tiles(), state: window.roomcast.state }));
    log(`Fox: ${JSON.stringify(page)}`);
    assert.match(page.message, /Gus ended the connection: you have no video or audio format in common/);
    assert.deepEqual(page.tiles, []);
    assert.equal(page.state, 'live'); // still in the meeting
    await sleep(1500); // an observation window, not a wait for a condition: nothing more may come
    const sig = await signalsOf(fox.page);
    const offers = sig.filter((m) => m.dir === 'in' && m.type === 'offer').length;
    const byes = sig.filter((m) => m.dir === 'in' && m.type === 'bye').map((m) => m.reason);
    assert.ok(offers >= 1 && offers <= 8, `${offers} offers`);
    assert.deepEqual(byes, ['no-common-codec']);
    const warned = (gus.proc.stderrText.match(/failed: the peer cannot receive H264 \(no common codec\)/g) || []).length;
    assert.equal(warned, 1, gus.proc.stderr());
  });
});

// ---- live rooms ---------------------------------------------------------------------------------

// A viewer page decodes more than 30 frames of `codec` from the host.
async function viewerDecodes(page, codec) {
  await waitState(page, 'live', 25000);
  const { inbound, video } = await waitViewerFrames(page, 30, 20000);
  log(`${page.tag}: ${inbound.framesDecoded} frames ${inbound.width}x${inbound.height} ${inbound.codec}; <video> ${video.width}x${video.height}`);
  assert.match(inbound.codec, new RegExp(codec, 'i'));
  return inbound;
}

test('live gst vp9 host to chromium viewer', { timeout: 60000 }, async () => {
  await withWorld(playwright, 'live-gst-vp9-chromium', async (w) => {
    await w.serve();
    await w.live('matrix', '--codec', 'vp9', '--fps', '15');
    const viewer = await w.openPage(await browserOf(w, 'chromium'), 'matrix', 'viewer', { label: 'chromium/viewer' });
    const inbound = await viewerDecodes(viewer, 'VP9');
    assert.deepEqual([inbound.width, inbound.height], [640, 360]);
  });
});

test('live chromium host to firefox viewer', { timeout: 60000 }, async () => {
  await withWorld(playwright, 'live-chromium-firefox', async (w) => {
    await w.serve();
    const host = await w.openPage(await browserOf(w, 'chromium'), 'matrix', 'host', { label: 'chromium/host' });
    await host.click('#share');
    await waitState(host, 'live', 15000);
    const viewer = await w.openPage(await w.firefox(puppeteer), 'matrix', 'viewer', { label: 'firefox/viewer' });
    await viewerDecodes(viewer, 'VP8');
  });
});

test('live firefox host to firefox viewer', { timeout: 60000 }, async () => {
  await withWorld(playwright, 'live-firefox-firefox', async (w) => {
    await w.serve();
    const ff = await browserOf(w, 'firefox');
    const host = await w.openPage(ff, 'matrix', 'host', { label: 'firefox/host' });
    await host.click('#share');
    await waitState(host, 'live', 15000);
    const viewer = await w.openPage(ff, 'matrix', 'viewer', { label: 'firefox/viewer' });
    await viewerDecodes(viewer, 'VP8');
  });
});
