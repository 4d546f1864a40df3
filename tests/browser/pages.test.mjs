// The pages as people use them (issue 16), at 1024 and 390 px wide: the start page's room list
// (live rooms with viewer counts, never a private one: `live --private`, a host page's box) and its inline room-name rule; the
// viewer's fullscreen and picture-in-picture controls and its placeholder before the picture;
// the host's "Copy viewer link" (a token link that a viewer can open) and no black box before
// sharing; a full room's badge and message in agreement; meeting tiles whose labels never cover
// the picture. No page may scroll sideways at 390 px. Screenshots go to OUT_DIR (the build
// folder under meson); docs/images/ holds copies made by hand from them (README.md).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  preflight, withWorld, waitState, waitViewerFrames, waitMemberFrames, log, sleep, OUT_DIR, ROOMCAST,
} from './harness.mjs';

const playwright = await preflight();

const WIDE = { width: 1024, height: 640 };
const PHONE = { width: 390, height: 844 };
const SECRET = 'pages-secret-0123456789abcdef';

function token(room, role) {
  const r = spawnSync(ROOMCAST, ['token', '--room', room, '--role', role, '--ttl', '1h'],
    { env: { ...process.env, ROOMCAST_TOKEN_SECRET: SECRET }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// A screenshot in OUT_DIR; checks that it is a real picture.
async function shot(page, name) {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const out = path.join(OUT_DIR, name);
  await page.screenshot({ path: out });
  const png = fs.readFileSync(out);
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  assert.ok(png.length > 3000, `${name} is only ${png.length} bytes`);
  log(`screenshot ${out} (${png.length} bytes)`);
  return out;
}

async function noSidewaysScroll(page, what) {
  const r = await page.evaluate(() => {
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className} right=${Math.round(e.getBoundingClientRect().right)}`);
    return { scroll: document.documentElement.scrollWidth, width: window.innerWidth, wide };
  });
  assert.ok(r.scroll <= r.width, `${what}: the page scrolls sideways at ${r.width} px (${r.scroll} px wide: ${r.wide.join(', ')})`);
}

// The badge and the message line as people see them.
const shown = (page) => page.evaluate(() => {
  const m = document.getElementById('message');
  return {
    state: window.roomcast.state,
    badge: document.getElementById('state').textContent,
    message: m.hidden ? '' : m.textContent,
    kind: m.className,
  };
});

// A button's text follows its event (fullscreenchange, enter/leavepictureinpicture), which may
// come a frame after the state the test waited for.
async function waitText(page, selector, text) {
  try {
    await page.waitForFunction(([s, t]) => document.querySelector(s).textContent === t, [selector, text],
      { timeout: 3000, polling: 50 });
  } catch {
    assert.equal(await page.textContent(selector), text);
  }
}

async function startPage(browser, w) {
  const page = await browser.newPage();
  page.on('pageerror', (e) => log(`start pageerror: ${e.message}`));
  await page.goto(`${w.http}/`);
  await page.waitForFunction(() => document.getElementById('go').dataset.ready === 'yes', null, { polling: 100 });
  return page;
}

// The room list as the start page shows it: [{name, kind, text, href}].
const listed = (page) => page.evaluate(() => ({
  shown: !document.getElementById('rooms').hidden,
  rooms: [...document.querySelectorAll('#room-list .room-item')].map((li) => ({
    name: li.dataset.room, kind: li.dataset.kind, text: li.textContent, href: li.querySelector('a').getAttribute('href'),
  })),
}));

test('start page lists live rooms with viewer counts, not private ones', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'pages-start', async (w) => {
    await w.serve();
    await w.live('demo');
    await w.live('secret', '--private');
    const browser = await w.browser();
    // Two viewers in the public room, one in the private one.
    for (const [room, label] of [['demo', 'v1'], ['demo', 'v2'], ['secret', 'v3']]) {
      const v = await w.open(browser, room, 'viewer', { label });
      // In the room (counted by the server) once the host's offer is being answered.
      await waitState(v, ['connecting', 'live'], 15000);
      await v.waitForFunction(() => window.roomcast.id !== null, null, { timeout: 10000, polling: 100 });
    }
    // A browser host that ticks "private" (here by ?private=1) is not listed either.
    const quiet = await w.open(browser, 'quiet', 'host', { label: 'private host', query: { private: '1' } });
    assert.equal(await quiet.isChecked('#private'), true);
    await quiet.click('#share');
    await waitState(quiet, 'live', 15000);
    assert.equal(await quiet.isDisabled('#private'), true, 'private can change only before sharing');

    const start = await startPage(browser, w);
    for (const size of [WIDE, PHONE]) {
      await start.setViewportSize(size);
      await start.waitForFunction(() => {
        const li = document.querySelector('#room-list .room-item[data-room="demo"]');
        return li && /2 viewers/.test(li.textContent);
      }, null, { timeout: 12000, polling: 200 });
      const l = await listed(start);
      log(`start page at ${size.width} px: ${JSON.stringify(l)}`);
      assert.ok(l.shown, 'the room list is hidden');
      assert.deepEqual(l.rooms.map((r) => r.name), ['demo'], 'only the public live room is listed');
      assert.match(l.rooms[0].text, /live/);
      assert.match(l.rooms[0].text, /2 viewers/);
      assert.equal(l.rooms[0].href, '/room/demo?role=viewer');
      await noSidewaysScroll(start, `start page at ${size.width} px`);
      await shot(start, `start-${size.width}.png`);
    }

    // The count follows: a third viewer.
    await w.open(browser, 'demo', 'viewer', { label: 'v4' });
    await start.waitForFunction(() => /3 viewers/.test(document.querySelector('#room-list .room-item[data-room="demo"]').textContent),
      null, { timeout: 12000, polling: 200 });

    // The room-name rule shows under the field, in the page (not in the browser's bubble), and a
    // bad name goes nowhere.
    await start.setViewportSize(PHONE);
    await start.fill('#room', 'no spaces!');
    await start.click('button[value=viewer]');
    await sleep(300);
    assert.equal(new URL(start.url()).pathname, '/', 'a bad room name left the start page');
    const hint = await start.evaluate(() => {
      const h = document.getElementById('room-hint');
      const r = h.getBoundingClientRect();
      return {
        text: h.textContent, error: h.classList.contains('error'), visible: r.height > 0 && r.width > 0,
        invalid: document.getElementById('room').getAttribute('aria-invalid'),
        bubble: document.getElementById('room').validationMessage,
      };
    });
    log(`room-name hint: ${JSON.stringify(hint)}`);
    assert.ok(hint.visible && hint.error, JSON.stringify(hint));
    assert.match(hint.text, /no spaces!.? is not a room name/);
    assert.match(hint.text, /characters from A-Z a-z 0-9/);
    assert.equal(hint.invalid, 'true');
    assert.equal(hint.bubble, '', 'the browser\'s own bubble is not used');
    await noSidewaysScroll(start, 'start page with the rule shown');
    await shot(start, 'start-bad-name-390.png');
    // Typing a good name clears it; the list's link leads to the room.
    await start.fill('#room', 'demo');
    assert.equal(await start.evaluate(() => document.getElementById('room-hint').classList.contains('error')), false);
    await Promise.all([start.waitForURL(/\/room\/demo\?role=viewer$/), start.click('#room-list a')]);
    await waitState(start, 'live', 25000);
  });
});

test('viewer fullscreen and picture-in-picture', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'pages-viewer', async (w) => {
    const room = 'demo';
    await w.serve();
    const browser = await w.browser();
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    // Before there is a host: a placeholder that says what it waits for, no black box, and the
    // controls are there but off.
    await waitState(viewer, 'waiting', 10000);
    for (const size of [WIDE, PHONE]) {
      await viewer.setViewportSize(size);
      const before = await viewer.evaluate(() => {
        const box = document.getElementById('stage-box');
        const note = document.getElementById('stage-note');
        return {
          empty: box.dataset.empty, note: note.textContent, noteShown: note.getBoundingClientRect().height > 0,
          background: getComputedStyle(box).backgroundColor, video: getComputedStyle(document.getElementById('stage')).backgroundColor,
          fullscreen: document.getElementById('fullscreen').disabled, pip: document.getElementById('pip').disabled,
        };
      });
      log(`viewer before the host at ${size.width} px: ${JSON.stringify(before)}`);
      assert.equal(before.empty, 'yes');
      assert.ok(before.noteShown);
      assert.match(before.note, /host/);
      for (const c of [before.background, before.video])
        assert.ok(c === 'rgba(0, 0, 0, 0)' || c === 'transparent', `a black box before the picture: ${c}`);
      assert.equal(before.fullscreen, true);
      assert.equal(before.pip, true);
      await noSidewaysScroll(viewer, `viewer waiting at ${size.width} px`);
    }
    await shot(viewer, 'viewer-waiting-390.png');

    await w.live(room, '--codec', 'vp8');
    await waitState(viewer, 'live', 25000);
    await waitViewerFrames(viewer, 30, 20000);
    await viewer.waitForFunction(() => !document.getElementById('fullscreen').disabled, null, { timeout: 5000, polling: 100 });

    for (const size of [WIDE, PHONE]) {
      await viewer.setViewportSize(size);
      // Fullscreen: the stage (the picture alone) fills the screen, and comes back.
      await viewer.click('#fullscreen');
      await viewer.waitForFunction(() => document.fullscreenElement && document.fullscreenElement.id === 'stage-box',
        null, { timeout: 5000, polling: 100 });
      await waitText(viewer, '#fullscreen', 'Exit fullscreen');
      await viewer.evaluate(() => document.exitFullscreen());
      await viewer.waitForFunction(() => !document.fullscreenElement, null, { timeout: 5000, polling: 100 });
      await waitText(viewer, '#fullscreen', 'Fullscreen');
      // Double-click on the picture does the same.
      await viewer.dblclick('#stage');
      await viewer.waitForFunction(() => document.fullscreenElement && document.fullscreenElement.id === 'stage-box',
        null, { timeout: 5000, polling: 100 });
      await viewer.evaluate(() => document.exitFullscreen());
      await viewer.waitForFunction(() => !document.fullscreenElement, null, { timeout: 5000, polling: 100 });

      // Picture-in-picture: headless Chromium has it (document.pictureInPictureEnabled); the
      // button enters it, and the page leaves it again.
      const pip = await viewer.evaluate(() => ({
        enabled: document.pictureInPictureEnabled, hidden: document.getElementById('pip').hidden,
        disabled: document.getElementById('pip').disabled,
      }));
      log(`picture-in-picture at ${size.width} px: ${JSON.stringify(pip)}`);
      if (pip.enabled) {
        assert.equal(pip.hidden, false);
        assert.equal(pip.disabled, false);
        await viewer.click('#pip');
        await viewer.waitForFunction(() => document.pictureInPictureElement === document.getElementById('stage'),
          null, { timeout: 5000, polling: 100 }).catch(async (e) => {
          throw new Error(`no picture-in-picture after the click: ${JSON.stringify(await shown(viewer))} (${e.message})`);
        });
        await waitText(viewer, '#pip', 'Back to the page');
        await viewer.click('#pip');
        await viewer.waitForFunction(() => !document.pictureInPictureElement, null, { timeout: 5000, polling: 100 });
        await waitText(viewer, '#pip', 'Picture-in-picture');
      } else {
        // A browser without it: no button that cannot work.
        assert.equal(pip.hidden, true);
      }
      await waitState(viewer, 'live', 5000);
      await noSidewaysScroll(viewer, `viewer at ${size.width} px`);
      // The picture is not covered or cut off sideways.
      const box = await viewer.evaluate(() => {
        const r = document.getElementById('stage').getBoundingClientRect();
        return { left: r.left, right: r.right, width: r.width, height: r.height };
      });
      assert.ok(box.left >= 0 && box.right <= size.width && box.height > 100, JSON.stringify(box));
      await sleep(1200); // a stats line with a bit rate
      await shot(viewer, `viewer-${size.width}.png`);
    }
  });
});

test('host copy link with a viewer token, no black box before sharing', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'pages-host', async (w) => {
    const room = 'talk';
    // Everyone needs a token here: the host's page carries its own and a viewer token for its link.
    await w.serve(0, ['--require-token', 'all'], { ROOMCAST_TOKEN_SECRET: SECRET });
    const browser = await w.browser();
    await browser.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: w.http });
    const viewerToken = token(room, 'viewer');
    const host = await w.open(browser, room, 'host', {
      name: 'Stage', label: 'host', query: { token: token(room, 'host'), viewer_token: viewerToken },
    });
    const want = `${w.http}/room/${room}?role=viewer&token=${viewerToken}`;
    for (const size of [WIDE, PHONE]) {
      await host.setViewportSize(size);
      // Before sharing: no stage at all.
      const stage = await host.evaluate(() => {
        const r = document.getElementById('stage-box').getBoundingClientRect();
        return { width: r.width, height: r.height, empty: document.getElementById('stage-box').dataset.empty };
      });
      assert.deepEqual(stage, { width: 0, height: 0, empty: 'yes' }, 'a box before sharing');
      await host.evaluate(() => navigator.clipboard.writeText('nothing yet'));
      await host.click('#copy-link');
      await host.waitForFunction(() => document.getElementById('copied').textContent !== '', null, { timeout: 3000, polling: 100 });
      assert.equal(await host.textContent('#copied'), 'Link copied.');
      assert.equal(await host.evaluate(() => navigator.clipboard.readText()), want);
      assert.equal(await host.inputValue('#link'), want);
      await noSidewaysScroll(host, `host before sharing at ${size.width} px`);
    }
    await host.setViewportSize(WIDE);
    await host.click('#share');
    await waitState(host, 'live', 15000);
    await host.waitForFunction(() => document.getElementById('stage').videoWidth > 0, null, { timeout: 5000, polling: 100 });
    // The copied link works: a viewer without any token of its own gets in with it.
    const viewer = await browser.newPage();
    viewer.tag = 'viewer';
    await viewer.goto(await host.evaluate(() => navigator.clipboard.readText()));
    await viewer.waitForFunction(() => window.roomcast !== undefined, null, { timeout: 10000, polling: 100 });
    await waitState(viewer, 'live', 25000);
    await waitViewerFrames(viewer, 30, 20000);
    await host.waitForFunction(() => /1 viewer/.test(document.getElementById('viewers').textContent), null, { timeout: 5000, polling: 100 });
    // A server that admits only token holders lists no rooms (a page without one could join none).
    const list = await viewer.evaluate(async () => (await fetch('/rooms')).json());
    assert.deepEqual(list, { listed: false, rooms: [], more: 0 });
    for (const size of [WIDE, PHONE]) {
      await host.setViewportSize(size);
      const stage = await host.evaluate(() => document.getElementById('stage-box').getBoundingClientRect().height);
      assert.ok(stage > 100, `the preview is ${stage} px high`);
      await noSidewaysScroll(host, `host sharing at ${size.width} px`);
      await sleep(1200);
      await shot(host, `host-${size.width}.png`);
    }
  });
});

test('a full room says so in its badge and its message', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'pages-full', async (w) => {
    const room = 'small';
    await w.serve(0, ['--max-peers', '2']); // the host and one viewer
    await w.live(room);
    const browser = await w.browser();
    const first = await w.open(browser, room, 'viewer', { label: 'first' });
    await waitState(first, 'live', 25000);
    const second = await w.open(browser, room, 'viewer', { label: 'second' });
    await waitState(second, 'full', 10000);
    for (const size of [WIDE, PHONE]) {
      await second.setViewportSize(size);
      const s = await shown(second);
      log(`full room at ${size.width} px: ${JSON.stringify(s)}`);
      assert.equal(s.badge, 'room full');
      assert.match(s.message, /The room is full; trying again/);
      assert.match(s.kind, /\bwarn\b/);
      const note = await second.textContent('#stage-note');
      assert.match(note, /room is full/);
      await noSidewaysScroll(second, `full room at ${size.width} px`);
    }
    await shot(second, 'viewer-full-390.png');
    // Room again: the second viewer gets in by itself, and the badge and message agree again.
    await first.close();
    await waitState(second, 'live', 30000);
    const s = await shown(second);
    assert.equal(s.badge, 'live');
    assert.equal(s.message, '');

    // A fatal refusal shows the error badge with its message (a host page in a live room that
    // has a host already).
    const host2 = await w.open(browser, room, 'host', { label: 'second host' });
    await host2.click('#share');
    await waitState(host2, 'error', 15000);
    const e = await shown(host2);
    assert.equal(e.badge, 'error');
    assert.match(e.message, /already has a host/);
    assert.match(e.kind, /\berror\b/);
  });
});

test('meeting tile labels never cover the picture', { timeout: 120000 }, async () => {
  await withWorld(playwright, 'pages-meeting', async (w) => {
    const room = 'standup';
    await w.serve();
    const browser = await w.browser();
    // Ann asks for a private meeting (?private=1): it is never listed, even with Bo in it.
    const ann = await w.open(browser, room, 'member', { name: 'Ann', label: 'ann', query: { private: '1' } });
    assert.equal(await ann.isChecked('#private'), true);
    await ann.click('#join');
    await waitState(ann, 'live', 15000);
    const bo = await w.open(browser, room, 'member', { name: 'Bo with a rather long name', label: 'bo' });
    await bo.click('#join');
    await waitState(bo, 'live', 15000);
    await waitMemberFrames(ann, 1, 30);
    await waitMemberFrames(bo, 1, 30);
    assert.deepEqual(await bo.evaluate(async () => (await fetch('/rooms')).json()), { listed: true, rooms: [], more: 0 });
    for (const size of [WIDE, PHONE]) {
      await ann.setViewportSize(size);
      await sleep(1500); // the tiles' stats are filled once a second
      const tiles = await ann.evaluate(() => {
        // The rectangle of the picture inside a <video> with object-fit: contain.
        const contentBox = (v) => {
          const r = v.getBoundingClientRect();
          const k = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
          const width = v.videoWidth * k, height = v.videoHeight * k;
          const left = r.left + (r.width - width) / 2, top = r.top + (r.height - height) / 2;
          return { left, top, right: left + width, bottom: top + height };
        };
        const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
        return [...document.querySelectorAll('#grid .tile')].map((t) => {
          const v = t.querySelector('video');
          const pic = contentBox(v);
          const cap = t.querySelector('figcaption');
          const spans = [...cap.querySelectorAll('span')].filter((x) => x.textContent);
          const lineHeight = parseFloat(getComputedStyle(cap).lineHeight) || 20;
          return {
            label: t.querySelector('.name').textContent,
            stats: t.querySelector('.tile-stats').textContent,
            video: `${v.videoWidth}x${v.videoHeight}`,
            picture: pic,
            caption: cap.getBoundingClientRect().toJSON(),
            covered: [cap, ...spans].filter((e) => hit(e.getBoundingClientRect(), pic)).map((e) => e.className || 'caption'),
            wrapped: spans.filter((x) => x.getClientRects().length > 1 || x.getBoundingClientRect().height > lineHeight * 1.5).map((x) => x.className),
            inside: cap.getBoundingClientRect().right <= t.getBoundingClientRect().right + 0.5,
          };
        });
      });
      log(`tiles at ${size.width} px: ${JSON.stringify(tiles)}`);
      assert.equal(tiles.length, 2);
      for (const t of tiles) {
        assert.notEqual(t.video, '0x0', `${t.label}: no picture`);
        assert.deepEqual(t.covered, [], `${t.label}: the label covers the picture at ${size.width} px`);
        assert.deepEqual(t.wrapped, [], `${t.label}: the label wraps at ${size.width} px`);
        assert.ok(t.inside, `${t.label}: the caption sticks out of its tile`);
      }
      assert.ok(tiles.some((t) => /kbit\/s/.test(t.stats)), 'no tile shows stats');
      await noSidewaysScroll(ann, `meeting at ${size.width} px`);
      await shot(ann, `meeting-${size.width}.png`);
    }
  });
});
