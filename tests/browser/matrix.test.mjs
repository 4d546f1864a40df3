// The interop matrix's cells that the other browser tests leave out: {GStreamer, Chromium,
// Firefox} as live host and viewer, and as meeting members joining first or last, with VP8,
// VP9 and H.264 (the GStreamer elements' --codec; browsers send VP8, their first codec, unless
// the page's ?codec= picks another). Every member or viewer must decode every sender: browsers
// by getStats() framesDecoded per peer name, `roomcast meet` by its SIGUSR1 report, `roomcast
// watch` by its exit report; the codec by the receiving page's inbound codec, or for a GStreamer
// receiver (whose reports carry no codec) by the sending page's outbound codec to it. Firefox
// has no H.264 here: with an H.264 sender it takes the rejection path (bye no-common-codec),
// which its cases assert instead.
//
// One meson test per case (--test-name-pattern picks it by its name's first words).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  preflightFirefox, withWorld, waitState, waitStats, waitViewerFrames, waitMeetFrames, waitJoined,
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
// {kind: 'gst'|'chromium'|'firefox', name, codec} (a browser's codec goes in its URL, ?codec=).
// Returns them with .proc or .page.
async function meeting(w, room, members) {
  for (const m of members) {
    if (m.kind === 'gst') {
      m.proc = w.meet(room, m.name, '--codec', m.codec || 'vp8');
      await waitJoined(m.proc);
    } else {
      const b = await browserOf(w, m.kind);
      m.page = await w.openPage(b, room, 'member', {
        name: m.name, label: `${m.kind}/${m.name}`, init: recordSignals, query: m.codec ? { codec: m.codec } : {},
      });
      await m.page.click('#join');
      await waitState(m.page, 'live', 15000);
      if (m.codec) assert.equal(await m.page.evaluate(() => window.roomcast.codec), m.codec, `${m.name}: the page's codec`);
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

// What a browser page sends, by the receiver's name: {name: {frames, codec}} (getStats outbound).
async function sentBy(page) {
  const out = {};
  for (const s of await page.evaluate(() => window.roomcast.stats()))
    if (s.outbound) out[s.name] = { frames: s.outbound.framesEncoded, codec: s.outbound.codec };
  return out;
}

// The codecs of an SDP's video line, helpers (rtx, red, ulpfec) left out: ['VP9'].
function videoCodecsOf(sdp) {
  const video = sdp.split(/\r\nm=/).find((x) => x.startsWith('video')) || '';
  const names = [...video.matchAll(/\r\na=rtpmap:\d+ ([^/\r]+)\//g)].map((m) => m[1].toUpperCase());
  return [...new Set(names.filter((n) => !['RTX', 'RED', 'ULPFEC'].includes(n)))];
}

// The video codecs of the first description of `type` ('offer' or 'answer') the page sent.
async function sentCodecs(page, type) {
  const d = (await signalsOf(page)).find((m) => m.dir === 'out' && m.type === type);
  assert.ok(d, `${page.tag} sent no ${type}`);
  return videoCodecsOf(d.sdp);
}

// A codec as the browsers' getStats() and SDP spell it: 'vp9' -> 'VP9', 'h264' -> 'H264'.
const SDP_NAME = { vp8: 'VP8', vp9: 'VP9', h264: 'H264' };

// Every member decodes more than `frames` frames from each sender in `from(m)` (by default all
// the others). codecOf(sender) is the codec its receivers must report.
async function allDecode(members, { frames = 20, from = null, timeoutMs = 30000 } = {}) {
  const others = (m) => (from ? from(m) : members.filter((x) => x !== m)).map((x) => x.name);
  const codecOf = (name) => members.find((x) => x.name === name).codec || 'vp8';
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
  // A browser that chose its codec sends it to every other member (for the GStreamer ones, whose
  // reports name no codec, this is what they decoded).
  for (const m of members) {
    if (m.kind === 'gst' || !m.codec) continue;
    const sent = await sentBy(m.page);
    log(`${m.name} (${m.kind}) sent ${JSON.stringify(sent)}`);
    for (const x of members)
      if (x !== m) assert.match((sent[x.name] || {}).codec || '', new RegExp(`/${SDP_NAME[m.codec]}$`, 'i'), `${m.name} to ${x.name}`);
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

// Browsers that choose their codec (?codec=), answering and offering; the GStreamer member sends
// the same one (one video line per pair: one codec both ways).

// Chromium answers the member's VP9 offer with VP9 alone.
test('meeting chromium vp9 first gst vp9 last', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'meeting-chromium-vp9-gst-vp9', async (w) => {
    await w.serve();
    const ms = await meeting(w, 'matrix', [{ kind: 'chromium', name: 'Cora', codec: 'vp9' }, { kind: 'gst', name: 'Gus', codec: 'vp9' }]);
    await allDecode(ms);
    assert.deepEqual(await sentCodecs(ms[0].page, 'answer'), ['VP9']);
  });
});

// Chromium's offer holds H.264 alone (packetization-mode 1, 42e01f first), and the member
// answers it: both ways H.264.
test('meeting gst h264 first chromium h264 last', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'meeting-gst-h264-chromium-h264', async (w) => {
    await w.serve();
    const ms = await meeting(w, 'matrix', [{ kind: 'gst', name: 'Gus', codec: 'h264' }, { kind: 'chromium', name: 'Cora', codec: 'h264' }]);
    await allDecode(ms);
    assert.deepEqual(await sentCodecs(ms[1].page, 'offer'), ['H264']);
    const offer = (await signalsOf(ms[1].page)).find((m) => m.dir === 'out' && m.type === 'offer').sdp;
    const first = /\r\nm=video \d+ [A-Z/]+ (\d+)/.exec(offer)[1];
    assert.match(offer, new RegExp(`a=fmtp:${first} .*packetization-mode=1`), 'the first H.264 entry: packetization-mode=1');
    assert.match(offer, new RegExp(`a=fmtp:${first} .*profile-level-id=42e01f`), 'the first H.264 entry: 42e01f');
  });
});

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

// ---- browser hosts that choose their codec (?codec=) ----------------------------------------------

// A host page (either browser) sharing with ?codec=; `recordSignals` keeps its offers.
async function codecHost(w, browser, room, codec, label) {
  const host = await w.openPage(browser, room, 'host', { name: 'Stage', label, init: recordSignals, query: { codec } });
  await host.click('#share');
  await waitState(host, 'live', 15000);
  assert.equal(await host.evaluate(() => window.roomcast.codec), codec, `${label}: the page's codec`);
  return host;
}

// The host sends `codec` to every viewer in `names` ('' is roomcast watch, which has no name),
// more than 30 frames each; every offer it made holds that codec alone (`alone`), or first.
async function hostSends(host, names, codec, { alone = true } = {}) {
  const want = SDP_NAME[codec];
  const all = await waitStats(host, (st) => names.every((n) => st.some((s) => s.name === n && s.outbound && s.outbound.framesEncoded > 30)),
    `frames encoded for ${JSON.stringify(names)}`, 20000);
  log(`${host.tag}: ${JSON.stringify(all.map((s) => [s.name, s.state, s.outbound && s.outbound.codec, s.outbound && s.outbound.framesEncoded]))}`);
  for (const n of names) assert.match(all.find((s) => s.name === n).outbound.codec, new RegExp(`/${want}$`, 'i'), `to ${JSON.stringify(n)}`);
  const offers = (await signalsOf(host)).filter((m) => m.dir === 'out' && m.type === 'offer');
  assert.ok(offers.length >= names.length, `${offers.length} offers`);
  for (const o of offers) {
    const codecs = videoCodecsOf(o.sdp);
    if (alone) assert.deepEqual(codecs, [want]);
    else assert.equal(codecs[0], want, JSON.stringify(codecs));
  }
}

// roomcast watch (stopped with Ctrl-C: exit 0 and its counts) decoded at least 30 frames.
async function watchDecoded(watch) {
  assert.equal(await watch.interrupt(15000), 0, `roomcast watch failed\n${watch.stderr()}`);
  const r = watch.jsonResult();
  log(`roomcast watch: ${JSON.stringify(r)}`);
  assert.ok(r.frames >= 30 && r.width > 0 && r.height > 0, JSON.stringify(r));
}

test('live chromium host vp9 to gst and firefox viewers', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'live-chromium-vp9', async (w) => {
    await w.serve();
    const host = await codecHost(w, await browserOf(w, 'chromium'), 'matrix', 'vp9', 'chromium/host');
    const watch = w.watch('matrix', '--timeout', '60');
    const viewer = await w.openPage(await w.firefox(puppeteer), 'matrix', 'viewer', { name: 'Fox', label: 'firefox/viewer' });
    await viewerDecodes(viewer, 'VP9');
    await hostSends(host, ['', 'Fox'], 'vp9');
    await watchDecoded(watch);
  });
});

// Firefox has no H.264: it refuses the host's H.264-only video line (m=video 0); the page says so
// at once, the host ends that viewer with bye no-common-codec (once, no new offer) and goes on
// sending H.264 to roomcast watch.
test('live chromium host h264 to gst viewer, firefox viewer refused', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'live-chromium-h264', async (w) => {
    await w.serve();
    const host = await codecHost(w, await browserOf(w, 'chromium'), 'matrix', 'h264', 'chromium/host');
    const watch = w.watch('matrix', '--timeout', '60');
    await hostSends(host, [''], 'h264');
    const viewer = await w.openPage(await w.firefox(puppeteer), 'matrix', 'viewer', { name: 'Fox', label: 'firefox/viewer', init: recordSignals });
    await waitState(viewer, 'peer-ended', 10000);
    const msg = await viewer.evaluate(() => window.roomcast.message);
    log(`${viewer.tag}: ${msg}`);
    assert.match(msg, /The host ended the connection: you have no video or audio format in common/);
    assert.match(msg, /cannot receive H\.264/);
    await waitFor(host, () => /Fox cannot receive H\.264/.test(window.roomcast.message), null, 5000, 'the host\'s message');
    await sleep(1500); // an observation window, not a wait for a condition: nothing more may come
    const sig = await signalsOf(viewer);
    assert.equal(sig.filter((m) => m.dir === 'in' && m.type === 'offer').length, 1);
    assert.deepEqual(sig.filter((m) => m.dir === 'in' && m.type === 'bye').map((m) => m.reason), ['no-common-codec']);
    const answer = sig.find((m) => m.dir === 'out' && m.type === 'answer');
    assert.ok(answer && /\r\nm=video 0 /.test(answer.sdp), 'Firefox refused the video line');
    const left = await host.evaluate(() => window.roomcast.stats());
    assert.deepEqual(left.map((s) => s.name), [''], 'the host keeps roomcast watch alone');
    await watchDecoded(watch);
  });
});

test('live firefox host vp9 to gst and chromium viewers', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'live-firefox-vp9', async (w) => {
    await w.serve();
    const host = await codecHost(w, await browserOf(w, 'firefox'), 'matrix', 'vp9', 'firefox/host');
    const watch = w.watch('matrix', '--timeout', '60');
    const viewer = await w.openPage(await browserOf(w, 'chromium'), 'matrix', 'viewer', { name: 'Cora', label: 'chromium/viewer' });
    await viewerDecodes(viewer, 'VP9');
    await hostSends(host, ['', 'Cora'], 'vp9');
    await watchDecoded(watch);
  });
});

// Firefox cannot send H.264 here: the host page says so and sends VP8, which roomcast watch
// decodes.
test('live firefox host h264 falls back to vp8', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'live-firefox-h264', async (w) => {
    await w.serve();
    const ff = await browserOf(w, 'firefox');
    const host = await w.openPage(ff, 'matrix', 'host', { name: 'Stage', label: 'firefox/host', init: recordSignals, query: { codec: 'h264' } });
    await host.click('#share');
    await waitState(host, 'live', 15000);
    const page = await host.evaluate(() => ({ codec: window.roomcast.codec, message: window.roomcast.message, select: document.getElementById('codec').value }));
    log(`${host.tag}: ${JSON.stringify(page)}`);
    assert.equal(page.codec, '');
    assert.equal(page.select, 'h264');
    assert.match(page.message, /This browser cannot send H\.264; sending VP8\./);
    const watch = w.watch('matrix', '--timeout', '60');
    await hostSends(host, [''], 'vp8', { alone: false }); // the browser's own offer
    await watchDecoded(watch);
  });
});
