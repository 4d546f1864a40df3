// Chromium join → first frame, for tests/bench/join.py. Reuses the browser tests' harness
// (network namespace, `roomcast serve` + `roomcast live` inside it, Debian's Chromium through
// playwright-core). One browser; each join opens a new viewer page, waits for its first frame,
// and closes it (the page leaves the room on pagehide). Join 0 is a warm-up and is not counted.
//
// What is timed, in the page (performance.now(), so node's polling does not matter):
//   join: the web client's first `new WebSocket(...)` (an init script wraps the constructor), the
//         moment the page starts joining the room;
//   frame: the first requestVideoFrameCallback on the viewer's <video id="stage">, i.e. the first
//         decoded frame handed to the compositor. If that never fires, the <video>'s first
//         'resize' (its first decoded frame's size is known) is used and the sample says so.
//   page open → frame: from navigation start (performance.now() = 0), page load included.
//
//   node tests/bench/join-browser.mjs --joins 50 [--size 1280x720]
// Prints one JSON line: {"samples": [...], "failures": [...], "joins": N, "method": "..."}.

import { preflight, withWorld, sleep, log } from '../browser/harness.mjs';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const JOINS = Number(arg('--joins', '50'));
const SIZE = arg('--size', '1280x720');

// Runs in every page before its own scripts.
function instrument() {
  const T = (window.__bench = { ws: null, rvfc: null, resize: null });
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      if (T.ws === null) T.ws = performance.now();
      super(...args);
    }
  };
  document.addEventListener('DOMContentLoaded', () => {
    const v = document.getElementById('stage');
    if (!v) return;
    if (v.requestVideoFrameCallback)
      v.requestVideoFrameCallback(() => { if (T.rvfc === null) T.rvfc = performance.now(); });
    v.addEventListener('resize', () => { if (T.resize === null && v.videoWidth > 0) T.resize = performance.now(); });
  });
}

const playwright = await preflight();
const result = {
  joins: JOINS,
  size: SIZE,
  method: 'join = the page\'s first `new WebSocket()` (start of joining); first frame = the first ' +
    'requestVideoFrameCallback on the viewer\'s <video> (the first decoded frame presented); one new page per ' +
    `join in one headless Chromium, one uncounted warm-up join first; host ${SIZE}@30 VP8 2000 kbit/s.`,
  samples: [],
  failures: [],
};

await withWorld(playwright, 'bench-join', async (w) => {
  const room = 'bench-join';
  await w.serve();
  await w.live(room, '--size', SIZE, '--fps', '30', '--codec', 'vp8', '--bitrate', '2000');
  const browser = await w.browser();
  await sleep(1000);
  for (let i = 0; i <= JOINS; i++) {
    let page = null;
    try {
      page = await w.open(browser, room, 'viewer', { init: instrument, label: `join${i}` });
      try {
        await page.waitForFunction(() => window.__bench.rvfc !== null, null, { timeout: 15000, polling: 50 });
      } catch {
        /* fall back to 'resize' below */
      }
      const T = await page.evaluate(() => window.__bench);
      const frame = T.rvfc !== null ? T.rvfc : T.resize;
      if (T.ws === null || frame === null) throw new Error(`no frame within 15 s (${JSON.stringify(T)})`);
      const sample = {
        join_to_frame_ms: frame - T.ws,
        open_to_frame_ms: frame,
        open_to_join_ms: T.ws,
        by: T.rvfc !== null ? 'rvfc' : 'resize',
      };
      if (i > 0) result.samples.push(sample);
      log(`join ${i}${i ? '' : ' (warm-up)'}: ${sample.join_to_frame_ms.toFixed(0)} ms (${sample.by})`);
    } catch (e) {
      result.failures.push({ join: i, error: String(e.message || e).slice(0, 500) });
      log(`join ${i} failed: ${e.message}`);
    } finally {
      if (page) await page.close().catch(() => {});
    }
    await sleep(300);
  }
});

console.log(JSON.stringify(result));
