// A Chromium viewer behind a lossy link: 5% of the packets dropped at random each way between
// the host's namespace and the viewer's (tests/netlab/netlab.py), with and without 50 ± 10 ms
// of delay. The viewer must decode at least 95% of the source's frames with no pause of 500 ms
// or more, and the repair must be visible in its own stats (NACKs sent, retransmissions
// received), not assumed. (Each case has a literal name: tests/list-cases.py.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, withWorld, Link, waitState, waitViewerFrames, log, sleep } from './harness.mjs';

const playwright = await preflight();
const FPS = 15;

// In the page: the longest time between two frames the <video> presented, from now on, and
// each gap over 150 ms with the wall-clock time it ended (to match with a netlab trace,
// NETLAB_TRACE=FILE, when a pause needs explaining).
function startGapMeter() {
  const v = document.querySelector('video');
  const m = { last: 0, maxGap: 0, frames: 0, long: [] };
  window.__gaps = m;
  const tick = (now) => {
    if (m.last) m.maxGap = Math.max(m.maxGap, now - m.last);
    if (m.last && now - m.last > 150) m.long.push([Date.now(), Math.round(now - m.last)]);
    m.last = now;
    m.frames++;
    v.requestVideoFrameCallback(tick);
  };
  v.requestVideoFrameCallback(tick);
}

async function viewerThroughLoss(impair, label, { minShare = 0.95, maxPauseMs = 500 } = {}) {
  const link = await Link.open(impair);
  try {
    await withWorld(playwright, label, async (w) => {
      const room = label;
      await w.serve();
      await w.live(room, '--fps', String(FPS));
      const browser = await w.browser('chromium', { side: 'b' });
      const page = await w.open(browser, room, 'viewer');
      await waitState(page, 'live', 30000);
      await waitViewerFrames(page, 2 * FPS, 30000);
      // Settled; now measure 15 s.
      const inboundNow = async () => (await page.evaluate(() => window.roomcast.stats())).find((s) => s.inbound).inbound;
      await page.evaluate(startGapMeter);
      const a = await inboundNow();
      const t0 = Date.now();
      await sleep(15000);
      const z = await inboundNow();
      const secs = (Date.now() - t0) / 1000;
      const gaps = await page.evaluate(() => window.__gaps);
      const decoded = z.framesDecoded - a.framesDecoded;
      const share = decoded / (FPS * secs);
      const row = {
        decodedPct: Math.round(share * 1000) / 10,
        longestPauseMs: Math.round(gaps.maxGap),
        packets: z.packetsReceived - a.packetsReceived,
        lost: z.packetsLost - a.packetsLost,
        nacks: z.nackCount - a.nackCount,
        plis: z.pliCount - a.pliCount,
        retransmitted: z.retransmittedPacketsReceived == null ? null
          : z.retransmittedPacketsReceived - (a.retransmittedPacketsReceived || 0),
        freezes: z.freezeCount - a.freezeCount,
      };
      log(`${label}: ${JSON.stringify(row)} pauses over 150 ms [end (ms since 1970), length]: ${JSON.stringify(gaps.long)}`);
      assert.ok(share >= minShare, `decoded ${row.decodedPct}% of the source's frames (want >= ${minShare * 100}%)`);
      assert.ok(gaps.maxGap < maxPauseMs, `longest pause ${row.longestPauseMs} ms (want < ${maxPauseMs})`);
      assert.ok(row.nacks > 0, 'the viewer sent no NACK: the link lost nothing, or loss went unnoticed');
      if (row.retransmitted != null) assert.ok(row.retransmitted > 0, 'no retransmission reached the viewer');
    }, { link });
  } finally {
    log(`netlab: ${(await link.close()).trim()}`);
  }
}

test('chromium viewer through 5% loss', { timeout: 120000 },
  () => viewerThroughLoss({ a_to_b: { loss: 5 }, b_to_a: { loss: 5 } }, 'loss5'));
test('chromium viewer through 5% loss and 50 ms delay', { timeout: 120000 },
  () => viewerThroughLoss({ a_to_b: { loss: 5, delay_ms: 50, jitter_ms: 10 }, b_to_a: { loss: 5, delay_ms: 50, jitter_ms: 10 } },
    // The target is for 5% loss; with a 100 ms round trip on top it is reported (measured: 99-100%,
    // 317-417 ms), and these bounds catch a regression (see test_network.py for why).
    'loss5delay50', { minShare: 0.9, maxPauseMs: 1000 }));
