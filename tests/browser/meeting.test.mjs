// A meeting (mesh): two Chromium members share their (fake) screens and each decodes the other's;
// then a GStreamer member (`roomcast meet`) joins them, and all three see each other.
// The newcomer offers; the member already there answers. Tiles carry the other's name, and go
// when the other leaves.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitStats, meetReport, log, sleep } from './harness.mjs';

const playwright = await preflight();

async function framesFromOthers(page, n, frames) {
  const all = await waitStats(page,
    (st) => st.filter((s) => s.inbound && s.inbound.framesDecoded > frames && s.inbound.width > 0).length >= n,
    `frames from ${n} other member(s)`, 25000);
  await page.waitForFunction((k) => window.roomcast.tiles().filter((t) => t.width > 0).length >= k, n, { timeout: 5000, polling: 100 });
  return all;
}

test('meeting of 2 chromium members', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'meeting', async (w) => {
    const room = 'standup';
    await w.serve();
    const browser = await w.browser();
    const ann = await w.open(browser, room, 'member', { name: 'Ann', label: 'ann' });
    await ann.click('#join');
    await waitState(ann, 'live', 15000);
    const bo = await w.open(browser, room, 'member', { name: 'Bo', label: 'bo' });
    await bo.check('#mic'); // Bo brings a (fake) microphone too
    await bo.click('#join');
    await waitState(bo, 'live', 15000);

    for (const [page, other] of [[ann, 'Bo'], [bo, 'Ann']]) {
      const st = await framesFromOthers(page, 1, 30);
      const tiles = await page.evaluate(() => window.roomcast.tiles());
      log(`${page.tag}: tiles ${JSON.stringify(tiles)}; in ${JSON.stringify(st.map((s) => s.inbound))}`);
      assert.equal(tiles.length, 1);
      assert.equal(tiles[0].label, other);
      // Two-way: this member also sends on the same connection.
      assert.ok(st[0].outbound && st[0].outbound.framesEncoded > 0, JSON.stringify(st[0]));
    }

    // Bo's microphone reaches Ann on the same connection.
    await ann.waitForFunction(() => {
      const v = document.querySelector('#grid .tile:not(.local) video');
      return v && v.srcObject && v.srcObject.getAudioTracks().length === 1;
    }, null, { timeout: 5000, polling: 100 });

    // A GStreamer member (`roomcast meet`) joins the two browsers: it offers to both, each
    // browser answers. Both browsers must decode it (a third tile named "Gus") and it must decode
    // both of them; when it leaves, its tiles go.
    const gus = w.start(['meet', '--server', w.ws, '--room', room, '--name', 'Gus', '--source', 'test',
      '--size', '640x360', '--fps', '15', '--sink', 'fake', '--ice-loopback', 'off', '--timeout', '60',
      '--report'], 'meet'); // --report: its JSON lines at the Ctrl-C below too
    for (const page of [ann, bo]) {
      const st = await framesFromOthers(page, 2, 20);
      const tiles = await page.evaluate(() => window.roomcast.tiles());
      log(`${page.tag}: tiles ${JSON.stringify(tiles.map((t) => [t.label, t.width, t.height]))}; ` +
        `frames ${JSON.stringify(st.map((s) => s.inbound && s.inbound.framesDecoded))}`);
      const fromGus = tiles.find((t) => t.label === 'Gus');
      assert.ok(fromGus, JSON.stringify(tiles));
      assert.deepEqual([fromGus.width, fromGus.height], [640, 360]);
    }
    // Gus's own counts so far (SIGUSR1 prints them) until it has 20 frames from each browser.
    const deadline = Date.now() + 20000;
    for (;;) {
      const now = await meetReport(gus);
      if (['Ann', 'Bo'].every((n) => (now[n] || 0) >= 20) || Date.now() > deadline) break;
      await sleep(300);
    }
    assert.equal(await gus.interrupt(15000), 0, gus.stderr());
    // The exit report: the JSON lines after the last SIGUSR1 report.
    const lastReport = gus.lines.findLastIndex((l) => /report end/.test(l));
    const gusSaw = gus.lines.slice(lastReport + 1).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    log(`gus: ${JSON.stringify(gusSaw)}`);
    assert.deepEqual(gusSaw.filter((r) => r.frames >= 20).map((r) => r.name).sort(), ['Ann', 'Bo']);
    for (const page of [ann, bo]) {
      await page.waitForFunction(() => window.roomcast.tiles().every((t) => t.label !== 'Gus'),
        null, { timeout: 10000, polling: 100 });
    }

    // Bo leaves: Ann's tile for Bo goes.
    await bo.click('#leave');
    await waitState(bo, 'left', 5000);
    await ann.waitForFunction(() => window.roomcast.tiles().length === 0 && window.roomcast.peers().length === 0,
      null, { timeout: 10000, polling: 100 });
  });
});
