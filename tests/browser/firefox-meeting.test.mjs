// Firefox as a meeting member with a GStreamer member (`roomcast meet`), joining last (Firefox
// offers, numbering VP8 120 where GStreamer numbers it 96: the case that used to give one-way
// media) and joining first (the GStreamer member offers, Firefox answers). Firefox shares a real
// X screen (Xvfb with a moving ball): headless Firefox has no fake screen. Both directions must
// decode: the page's getStats() for the GStreamer member's video and audio, the GStreamer member's
// SIGUSR1 report for Firefox's video. Both send audio too (Firefox numbers Opus 109, we 111).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflightFirefox, withWorld, waitState, waitMemberFrames, waitMeetFrames, waitJoined, recordSignals, signalsOf, initScripts, trackConnections, waitAudio, log } from './harness.mjs';

const { playwright, puppeteer } = await preflightFirefox();

function memberCase(order) {
  return async () => {
    await withWorld(playwright, `firefox-meeting-${order}`, async (w) => {
      const room = `ff-meet-${order}`;
      await w.serve();
      const display = await w.xvfb('1280x720');
      await w.movingPicture(display, '1280x720');
      const ff = await w.firefox(puppeteer, 'firefox', { display });
      const page = await w.openPage(ff, room, 'member', { name: 'Fox', label: 'firefox/member', init: initScripts(recordSignals, trackConnections) });
      let gus;
      if (order === 'last') {
        gus = w.meet(room, 'Gus', '--audio');
        await waitJoined(gus);
      }
      await page.check('#mic'); // Firefox's fake microphone: Opus at 109, ours is 111
      await page.click('#join');
      await waitState(page, 'live', 15000);
      if (order === 'first') gus = w.meet(room, 'Gus', '--audio');

      const st = await waitMemberFrames(page, 1, 30, 30000);
      const tiles = await page.evaluate(() => window.roomcast.tiles());
      const inb = st.find((s) => s.inbound).inbound;
      log(`${page.tag}: tiles ${JSON.stringify(tiles.map((t) => [t.label, t.width, t.height]))}; ` +
        `${inb.framesDecoded} frames ${inb.codec}; sending ${JSON.stringify(st[0].outbound)}`);
      assert.deepEqual(tiles.map((t) => [t.label, t.width, t.height]), [['Gus', 640, 360]]);
      assert.match(inb.codec, /VP8/i);

      const audio = await waitAudio(page, 1, 48000);
      log(`${page.tag}: audio samples from Gus ${JSON.stringify(audio)}`);
      const report = await waitMeetFrames(gus, ['Fox'], 20, 25000);
      log(`gus: ${JSON.stringify(report)}`);
      assert.ok(report.Fox >= 20, JSON.stringify(report));
      // Who offered: the newcomer.
      const sdp = (await signalsOf(page)).filter((m) => m.type === 'offer' || m.type === 'answer').map((m) => `${m.dir} ${m.type}`);
      assert.deepEqual(sdp, order === 'last' ? ['out offer', 'in answer'] : ['in offer', 'out answer']);
      // One two-way connection: Firefox also sends on the connection it decodes from.
      assert.equal(st.length, 1, JSON.stringify(st));
      assert.ok(st[0].outbound && st[0].outbound.framesEncoded > 0, JSON.stringify(st[0]));
    });
  };
}

test('Firefox member joins last, with a GStreamer member', { timeout: 90000 }, memberCase('last'));
test('Firefox member joins first, with a GStreamer member', { timeout: 90000 }, memberCase('first'));
