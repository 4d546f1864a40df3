// Meeting tiles ask for what they show (issue 14, item 4: `prefer` between members).
// 1. A Chromium member whose tile for a GStreamer member (`roomcast meet --ladder 1,0.5,0.25`) is
//    160 px wide (90 px high) asks it for {maxHeight: 90} and decodes its quarter layer, 160x90;
//    the tile made 400 px wide (225 high) asks for 225 and gets the half layer, 320x180.
// 2. A Chromium member honours its members' wishes on each pair's own connection: Bo's 160 px
//    tile makes Ann scale what she sends Bo to 90 px high, while a GStreamer member asking Ann for
//    layer 1 (`roomcast meet --prefer 1`) gets her picture at half size (her fake screen is
//    1024x576 here: 160x90 and 512x288). (Each case has a literal name: tests/list-cases.py reads
//    them to register one meson test per case.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitStats, waitJoined, meetReport, log, sleep } from './harness.mjs';

const playwright = await preflight();

// The grid's tiles `px` CSS pixels wide (the tile's picture box keeps 16:9). Through the CSSOM:
// the page's Content-Security-Policy refuses a <style> element of ours.
const tileWidth = (page, px) => page.evaluate((w) => {
  document.getElementById('grid').style.gridTemplateColumns = `repeat(auto-fill, ${w}px)`;
}, px);

// The last report line of a `roomcast meet` (SIGUSR1) for member `name`: {frames, width, height}.
async function meetSaw(proc, name) {
  const mark = proc.lines.length;
  await meetReport(proc);
  const recs = proc.lines.slice(mark).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  return recs.find((r) => r.name === name) || null;
}

test('chromium member tile asks a ladder member for its size', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'meet-prefer-tile', async (w) => {
    const room = 'tiles';
    await w.serve();
    const gus = w.meet(room, 'Gus', '--ladder', '1,0.5,0.25');
    await waitJoined(gus);
    const browser = await w.browser();
    const ann = await w.open(browser, room, 'member', { name: 'Ann', label: 'ann' });
    await tileWidth(ann, 160);
    await ann.click('#join');
    await waitState(ann, 'live', 15000);
    const annId = await ann.evaluate(() => window.roomcast.id);

    // The tile is 90 px high: it asks Gus for that, Gus sends the quarter layer.
    const t0 = Date.now();
    await ann.waitForFunction(() => window.roomcast.tiles().some((t) => t.asked), null, { timeout: 15000, polling: 100 });
    log(`ann: asked ${JSON.stringify(await ann.evaluate(() => window.roomcast.tiles()))} after ${Date.now() - t0} ms`);
    await gus.waitLine(new RegExp(`member Ann \\(${annId}\\) layer 2 \\(160x90\\)`), 20000);
    let st = await waitStats(ann, (all) => all.some((x) => x.inbound && x.inbound.height === 90 && x.inbound.framesDecoded > 15),
      'frames of the quarter layer (160x90)', 15000);
    const down = Date.now() - t0;
    let tiles = await ann.evaluate(() => window.roomcast.tiles());
    log(`ann: tiles ${JSON.stringify(tiles)}; in ${JSON.stringify(st.find((x) => x.inbound).inbound)}; quarter after ${down} ms`);
    assert.equal(tiles.length, 1);
    assert.deepEqual(tiles[0].asked, { maxHeight: 90 });
    await ann.waitForFunction(() => window.roomcast.tiles()[0].height === 90, null, { timeout: 5000, polling: 100 });

    // Wider: 400 px, 225 high. The wish goes up to 225, Gus's chooser climbs to the half layer
    // (its probes step up, not at once) and no further (the full layer is 360 high).
    const start = gus.lines.length;
    await tileWidth(ann, 400);
    await ann.waitForFunction(() => {
      const t = window.roomcast.tiles()[0];
      return t && t.asked && t.asked.maxHeight === 225;
    }, null, { timeout: 5000, polling: 100 });
    const t1 = Date.now();
    await gus.waitLine(new RegExp(`member Ann \\(${annId}\\) layer 1 \\(320x180\\)`), 25000, start);
    st = await waitStats(ann, (all) => all.some((x) => x.inbound && x.inbound.height === 180),
      'frames of the half layer (320x180)', 15000);
    log(`ann: half layer after ${Date.now() - t1} ms; in ${JSON.stringify(st.find((x) => x.inbound).inbound)}`);
    await ann.waitForFunction(() => window.roomcast.tiles()[0].height === 180, null, { timeout: 5000, polling: 100 });
    await sleep(3000);
    st = await ann.evaluate(() => window.roomcast.stats());
    assert.equal(st.find((x) => x.inbound).inbound.height, 180, 'stays on the half layer');
    assert.equal(gus.lines.slice(start).filter((l) => /layer 0 /.test(l)).length, 0, 'never the full layer');
  });
});

test('chromium member scales what it sends each member to that member\'s wish', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'meet-prefer-honour', async (w) => {
    const room = 'honour';
    await w.serve();
    const browser = await w.browser();
    const ann = await w.open(browser, room, 'member', { name: 'Ann', label: 'ann' });
    await ann.click('#join');
    await waitState(ann, 'live', 15000);
    const bo = await w.open(browser, room, 'member', { name: 'Bo', label: 'bo' });
    await tileWidth(bo, 160);
    await bo.click('#join');
    await waitState(bo, 'live', 15000);
    const boId = await bo.evaluate(() => window.roomcast.id);
    // What Ann captures (the fake screen: its size follows the window here, 1024x576).
    const [W, H] = await ann.evaluate(() => {
      const v = document.querySelector('#grid .tile.local video');
      return [v.videoWidth, v.videoHeight];
    });
    log(`ann captures ${W}x${H}`);

    // Bo's tile for Ann is 90 px high: Ann scales what she sends Bo by H/90.
    const t0 = Date.now();
    await ann.waitForFunction(([id, k]) => {
      const p = window.roomcast.peers().find((x) => x.id === id);
      return p && Math.abs(p.scaledBy - k) < 1e-9;
    }, [boId, H / 90], { timeout: 15000, polling: 100 });
    const st = await waitStats(bo, (all) => all.some((x) => x.inbound && x.inbound.height > 0 && x.inbound.height <= 90 && x.inbound.framesDecoded > 15),
      'Ann\'s picture at 90 px high at most', 15000);
    const inb = st.find((x) => x.inbound).inbound;
    log(`bo: from Ann ${inb.width}x${inb.height} after ${Date.now() - t0} ms; peers of Ann ${JSON.stringify(await ann.evaluate(() => window.roomcast.peers()))}`);
    assert.deepEqual([inb.width, inb.height], [Math.round((W * 90) / H), 90]);
    const boTiles = await bo.evaluate(() => window.roomcast.tiles());
    assert.deepEqual(boTiles.map((t) => [t.label, t.width, t.height, t.asked]), [['Ann', 160, 90, { maxHeight: 90 }]]);

    // A GStreamer member asks every member for layer 1: Ann halves what she sends it, only it.
    const gus = w.meet(room, 'Gus', '--prefer', '1');
    await ann.waitForFunction(() => window.roomcast.peers().some((x) => x.name === 'Gus' && x.scaledBy === 2),
      null, { timeout: 25000, polling: 100 });
    let fromAnn = null;
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      fromAnn = await meetSaw(gus, 'Ann');
      if (fromAnn && fromAnn.frames >= 15 && fromAnn.height === H / 2) break;
      await sleep(500);
    }
    log(`gus: from Ann ${JSON.stringify(fromAnn)}`);
    assert.deepEqual(fromAnn && [fromAnn.width, fromAnn.height], [W / 2, H / 2]);
    // Bo still gets Ann 90 high: one pair's wish touched no other pair.
    const again = await bo.evaluate(() => window.roomcast.stats());
    const annToBo = again.find((x) => x.name === 'Ann');
    assert.deepEqual([annToBo.inbound.width, annToBo.inbound.height], [Math.round((W * 90) / H), 90]);
    assert.equal(await gus.interrupt(15000), 0, gus.stderr());
  });
});
