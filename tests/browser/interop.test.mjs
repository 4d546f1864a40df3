// Interop cases that need no Firefox:
// - a Chromium member whose offer numbers VP8 120 and Opus 109 (Firefox's numbers; the page
//   rewrites its own offer before applying it) joins a meeting of two GStreamer members last:
//   every pair decodes both ways (GStreamer members answer by codec, not by number);
// - a GStreamer host sending pre-encoded High-profile H.264 (x264enc's default) to a Chromium
//   viewer: Debian's Chromium decodes constrained baseline only, so either it decodes or the
//   page says no-common-codec; never a loop of offers or a silent hang.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  preflight, withWorld, waitState, waitStats, waitMemberFrames, waitMeetFrames, waitJoined,
  recordSignals, signalsOf, initScripts, trackConnections, waitAudio, log, sleep,
} from './harness.mjs';

const playwright = await preflight();

// Init script: every offer this page applies numbers VP8 120 and Opus 109 (swapping with
// whatever held those numbers, in every m-section, so numbers stay unique under BUNDLE), as
// Firefox does. m=, rtpmap, fmtp (and its apt= and red's a/b), rtcp-fb lines all follow.
function firefoxNumbers() {
  const swapIn = (sdp) => {
    const num = (codec, kind) => {
      const sec = sdp.split(/\r\nm=/).find((x) => x.startsWith(kind) || x.startsWith(`m=${kind}`));
      const m = sec && new RegExp(`a=rtpmap:(\\d+) ${codec}/`, 'i').exec(sec);
      return m ? m[1] : null;
    };
    const map = new Map();
    for (const [codec, kind, want] of [['VP8', 'video', '120'], ['opus', 'audio', '109']]) {
      const have = num(codec, kind);
      if (have && have !== want) { map.set(have, want); map.set(want, have); }
    }
    const pt = (n) => map.get(n) || n;
    return sdp.split('\r\n').map((l) => {
      if (l.startsWith('m=')) {
        const f = l.split(' ');
        return [...f.slice(0, 3), ...f.slice(3).map(pt)].join(' ');
      }
      const a = /^a=(rtpmap|fmtp|rtcp-fb):(\d+)(.*)$/.exec(l);
      if (!a) return l;
      let rest = a[3];
      if (a[1] === 'fmtp') {
        rest = rest.replace(/apt=(\d+)/, (_, n) => `apt=${pt(n)}`);
        if (/^ \d+(\/\d+)+$/.test(rest)) rest = ' ' + rest.trim().split('/').map(pt).join('/');
      }
      return `a=${a[1]}:${pt(a[2])}${rest}`;
    }).join('\r\n');
  };
  const native = RTCPeerConnection.prototype.setLocalDescription;
  RTCPeerConnection.prototype.setLocalDescription = function (desc) {
    if (desc && desc.type === 'offer' && desc.sdp) return native.call(this, { type: 'offer', sdp: swapIn(desc.sdp) });
    return native.apply(this, arguments);
  };
}

test('Chromium numbering like Firefox (VP8 120, Opus 109) joins two GStreamer members last', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'interop-numbers', async (w) => {
    const room = 'numbers';
    await w.serve();
    const gus = w.meet(room, 'Gus', '--audio');
    await waitJoined(gus);
    const max = w.meet(room, 'Max', '--audio');
    await waitJoined(max);
    await waitMeetFrames(gus, ['Max'], 10, 20000); // the two GStreamer members meet first

    const browser = await w.browser();
    const page = await w.openPage(browser, room, 'member', {
      name: 'Cora', label: 'chromium/member', init: initScripts(recordSignals, firefoxNumbers, trackConnections),
    });
    await page.check('#mic');
    await page.click('#join');
    await waitState(page, 'live', 15000);

    const st = await waitMemberFrames(page, 2, 30, 30000);
    const tiles = await page.evaluate(() => window.roomcast.tiles());
    log(`${page.tag}: tiles ${JSON.stringify(tiles.map((t) => [t.label, t.width, t.height]))}; ` +
      `in ${JSON.stringify(st.map((s) => [s.name, s.inbound && s.inbound.framesDecoded, s.inbound && s.inbound.codec]))}`);
    assert.deepEqual(tiles.map((t) => t.label).sort(), ['Gus', 'Max']);
    for (const s of st) assert.ok(s.outbound && s.outbound.framesEncoded > 0, JSON.stringify(s));

    // What the page offered: Firefox's numbers, and the answers kept them.
    const sig = await signalsOf(page);
    const offers = sig.filter((m) => m.dir === 'out' && m.type === 'offer');
    const answers = sig.filter((m) => m.dir === 'in' && m.type === 'answer');
    assert.equal(offers.length, 2);
    assert.equal(answers.length, 2);
    for (const o of offers) {
      assert.match(o.sdp, /a=rtpmap:120 VP8\/90000/);
      assert.match(o.sdp, /a=rtpmap:109 opus\/48000/);
    }
    for (const a of answers) {
      assert.match(a.sdp, /m=video \d+ \S+ 120( |\r\n)/, a.sdp);
      assert.match(a.sdp, /a=rtpmap:120 VP8\/90000/i, a.sdp);
      assert.match(a.sdp, /a=rtpmap:109 OPUS\/48000/i, a.sdp);
      assert.doesNotMatch(a.sdp, /a=(sendonly|recvonly|inactive)/, a.sdp);
    }

    // Audio from each GStreamer member arrives at 109 and is decoded (a second of it).
    const audio = await waitAudio(page, 2, 48000);
    log(`${page.tag}: audio samples ${JSON.stringify(audio)}`);

    // Each GStreamer member decodes the page's video.
    for (const g of [gus, max]) {
      const r = await waitMeetFrames(g, ['Cora'], 20, 20000);
      log(`${g.name}: ${JSON.stringify(r)}`);
    }
  });
});

test('pre-encoded High-profile H.264 host to a Chromium viewer, decoded or no-common-codec', { timeout: 60000 }, async () => {
  await withWorld(playwright, 'interop-high', async (w) => {
    const room = 'high';
    await w.serve();
    const host = w.start(['live', '--server', w.ws, '--room', room, '--ice-loopback', 'off', '--codec', 'h264', '--pipeline',
      'videotestsrc is-live=true ! video/x-raw,width=640,height=360,framerate=15/1 ! x264enc tune=zerolatency ! ' +
      'roomcastsink name=roomcast'], 'live');
    await host.waitLine(/is live/, 20000);
    const browser = await w.browser();
    const viewer = await w.openPage(browser, room, 'viewer', { label: 'chromium/viewer', init: recordSignals });
    await waitState(viewer, ['live', 'peer-ended'], 15000);
    const offer = (await signalsOf(viewer)).find((m) => m.dir === 'in' && m.type === 'offer');
    const plid = /profile-level-id=([0-9a-fA-F]{6})/.exec(offer.sdp);
    log(`host offered H.264 profile-level-id ${plid && plid[1]}`);
    assert.ok(plid && /^64/.test(plid[1]), `not High profile: ${offer.sdp}`);
    const state = await viewer.evaluate(() => window.roomcast.state);
    if (state === 'live') {
      const st = await waitStats(viewer, (all) => all.some((s) => s.inbound && s.inbound.framesDecoded > 30), 'frames', 15000);
      log(`Chromium decodes High profile: ${JSON.stringify(st.map((s) => s.inbound))}`);
    } else {
      const msg = await viewer.evaluate(() => window.roomcast.message);
      log(`Chromium refuses High profile: ${msg}`);
      assert.match(msg, /no video or audio format in common/);
      await host.waitLine(/viewer \S+ left/, 5000);
      assert.equal(host.count(/viewer \S+ left/), 1);
    }
    // Either way: a bounded number of offers (the host's limit is 8), and it stays settled.
    await sleep(1500); // an observation window, not a wait for a condition: nothing more may come
    const offers = (await signalsOf(viewer)).filter((m) => m.dir === 'in' && m.type === 'offer').length;
    assert.ok(offers >= 1 && offers <= 8, `${offers} offers`);
    assert.equal(await viewer.evaluate(() => window.roomcast.state), state);
  });
});
