// A screenshot of a viewer page playing a GStreamer host's stream: viewer.png in OUT_DIR (the
// build folder under meson; tests/browser/out, ignored by git, by hand). The pictures in
// docs/images/ (README.md, docs/web-client.md) come from pages.test.mjs and are copied there by
// hand; no test run touches them.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { preflight, withWorld, waitState, waitViewerFrames, waitStats, OUT_DIR, log } from './harness.mjs';

const playwright = await preflight();

test('viewer screenshot', { timeout: 90000 }, async () => {
  await withWorld(playwright, 'screenshot', async (w) => {
    const room = 'demo';
    await w.serve();
    await w.live(room, '--codec', 'vp8');
    const browser = await w.browser();
    const viewer = await w.open(browser, room, 'viewer', { label: 'viewer' });
    await waitState(viewer, 'live', 25000);
    await waitViewerFrames(viewer, 60, 20000);
    // The stats line is filled once a second, with a bit rate from the second sample on.
    await waitStats(viewer, (all) => all.some((s) => s.inbound && s.inbound.kbps > 0), 'a bit rate', 5000);
    await viewer.waitForFunction(() => /kbit\/s/.test(document.getElementById('stats').textContent) &&
      !/ 0 kbit/.test(document.getElementById('stats').textContent), null, { timeout: 5000, polling: 100 });

    fs.mkdirSync(OUT_DIR, { recursive: true });
    const out = path.join(OUT_DIR, 'viewer.png');
    await viewer.screenshot({ path: out });
    const png = fs.readFileSync(out);
    assert.ok(png.length > 10000, `screenshot is only ${png.length} bytes`);
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    // The video area must show the stream, not a black box: sample its pixels in the page.
    const lit = await viewer.evaluate(() => {
      const v = document.getElementById('stage');
      const c = document.createElement('canvas');
      c.width = 64;
      c.height = 36;
      const g = c.getContext('2d');
      g.drawImage(v, 0, 0, c.width, c.height);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let bright = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 150) bright++;
      return bright / (d.length / 4);
    });
    assert.ok(lit > 0.2, `the video looks black (${(lit * 100).toFixed(0)}% lit pixels)`);

    log(`screenshot: ${out} (${png.length} bytes); ${(lit * 100).toFixed(0)}% lit`);
  });
});
