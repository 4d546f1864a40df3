// Firefox in a meeting with `prefer` (issue 14, item 4), both ways, with one GStreamer member
// (`roomcast meet --ladder 1,0.5,0.25 --prefer 1`): Firefox's 160 px tile asks it for 90 px and
// Firefox decodes its quarter layer (160x90); Firefox honours the member's layer 1 on that
// connection and the member decodes Firefox's screen at half size. Firefox shares a real X screen
// (Xvfb, 1280x720, a moving ball): headless Firefox has no fake screen. (The case has a literal
// name: tests/list-cases.py reads it to register one meson test.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflightFirefox, withWorld, waitState, waitStats, waitFor, waitJoined, meetReport, log, sleep } from './harness.mjs';

const { playwright, puppeteer } = await preflightFirefox();

test('Firefox member asks for its tile and honours a wish', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'firefox-meet-prefer', async (w) => {
    const room = 'ff-prefer';
    await w.serve();
    const display = await w.xvfb('1280x720');
    await w.movingPicture(display, '1280x720');
    const gus = w.meet(room, 'Gus', '--ladder', '1,0.5,0.25', '--prefer', '1');
    await waitJoined(gus);
    const ff = await w.firefox(puppeteer, 'firefox', { display });
    const page = await w.openPage(ff, room, 'member', { name: 'Fox', label: 'firefox/member' });
    await page.evaluate(() => { document.getElementById('grid').style.gridTemplateColumns = 'repeat(auto-fill, 160px)'; });
    await page.click('#join');
    await waitState(page, 'live', 15000);
    const foxId = await page.evaluate(() => window.roomcast.id);
    const [W, H] = await waitFor(page, () => {
      const v = document.querySelector('#grid .tile.local video');
      return v && v.videoWidth ? [v.videoWidth, v.videoHeight] : null;
    }, null, 10000, 'the local picture');
    log(`firefox captures ${W}x${H}`);

    // Firefox's tile asks for 90 px: Gus sends it the quarter layer.
    await gus.waitLine(new RegExp(`member Fox \\(${foxId}\\) layer 2 \\(160x90\\)`), 25000);
    const st = await waitStats(page, (all) => all.some((x) => x.inbound && x.inbound.height === 90 && x.inbound.framesDecoded > 15),
      'frames of the quarter layer (160x90)', 20000);
    log(`firefox: in ${JSON.stringify(st.find((x) => x.inbound).inbound)}; tiles ${JSON.stringify(await page.evaluate(() => window.roomcast.tiles()))}`);
    assert.equal(st.find((x) => x.inbound).inbound.width, 160);

    // Gus asked Firefox for layer 1: Firefox halves what it sends Gus.
    await waitFor(page, () => window.roomcast.peers().some((p) => p.name === 'Gus' && p.scaledBy === 2), null, 20000,
      'scaling for Gus');
    let fromFox = null;
    const deadline = Date.now() + 25000;
    while (Date.now() < deadline) {
      const mark = gus.lines.length;
      await meetReport(gus);
      fromFox = gus.lines.slice(mark).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((r) => r.name === 'Fox');
      if (fromFox && fromFox.frames >= 15 && fromFox.height === H / 2) break;
      await sleep(500);
    }
    log(`gus: from Fox ${JSON.stringify(fromFox)}`);
    assert.deepEqual(fromFox && [fromFox.width, fromFox.height], [W / 2, H / 2]);
    assert.equal(await gus.interrupt(15000), 0, gus.stderr());
  });
});
