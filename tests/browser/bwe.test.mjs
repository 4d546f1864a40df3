// The per-viewer bandwidth estimate from what a browser sends back (issue 14, point 2): the host
// (`roomcast live --ladder 1,0.5,0.25`, 640x360@15 VP8 at 2000 kbit/s, as ladder.test.mjs) offers
// its ladder viewers transport-wide congestion control (a header extension on every packet,
// `transport-cc` feedback) and REMB (`goog-remb`), or only one of them (`--congestion-feedback`).
// A Chromium (or Firefox) viewer on side B of a netlab link (tests/netlab/netlab.py); the link
// is clean, then capped to 600 kbit/s (a 200 ms queue, tail drop) for the rest of the run.
//
// Asserted per case: the host prints `viewer ID feedback KIND N kbit/s` (the viewer's branch
// reads its feedback: `bwe-source` in the sink's stats is `twcc` for the default offer, since
// Chromium offered both sends transport-cc only, and `remb` when only REMB is offered); after the
// cap the viewer moves to a lower layer (the host's `viewer ID layer N` line) with an estimate
// from that feedback; the figures the viewer reported after the step down (the rate it received,
// or its own estimate) are below the cap (transport-cc: their median; REMB, an estimate of the
// link itself that falls in steps: the one in force at the end, within 15% of the cap); and it
// ends on a lower layer, decoding.
// A third case offers neither (`none`): the estimate then stays on receiver reports and NACKs (no
// feedback line; Chromium sends REMBs on a drop even when not offered, and they are ignored), as
// for `roomcast watch`, and its time to step down is logged beside the others'. A fourth: a
// Firefox viewer, which sends transport-cc too.
// Seen (2026-12-01, 4-6 runs per kind, a 2-core machine shared with other work): the first step
// down 0.9-2.3 s after the cap for every kind; straight to the quarter layer with transport-cc
// (Chromium 6/6, Firefox 5/6), REMB 2/4, none 1/4 (the quarter reached up to 9.5 s after the cap;
// docs/architecture.md, "Per-viewer ladder", has the figures).
// Recorded (logged): the time from the cap to the host's step down, the feedback lines, the
// layer lines (with the estimate and its source), the share of frames decoded while capped.
// (Each case has a literal name: tests/list-cases.py.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, preflightFirefox, withWorld, Link, waitState, waitViewerFrames, waitStats, trackConnections, log, sleep } from './harness.mjs';

const playwright = await preflight();
const FPS = 15;
const HOST_ARGS = ['--fps', String(FPS), '--bitrate', '2000', '--ladder', '1,0.5,0.25'];
const CAP_KBIT = 600;
const CAP = { a_to_b: { rate_kbit: CAP_KBIT, queue_ms: 200 }, b_to_a: {} };
const CLEAN = { a_to_b: {}, b_to_a: {} };
const TOP_WIDTH = 640;
const DOWN_BOUND_MS = 5000;
const CAPPED_MS = 15000; // time capped after the cap (the step down included)
const LAYER_LINE = /viewer (\S+) layer (\d) \((\d+)x(\d+)\) estimate (\d+) kbit\/s from (\w+)/;
const FEEDBACK_LINE = /viewer (\S+) feedback (twcc|remb) (\d+) kbit\/s/;

// The host's lines for viewer `id` that match `rx`: [{t (node time), m (the match)}].
function linesOf(host, id, rx) {
  const out = [];
  host.lines.forEach((l, i) => {
    const m = rx.exec(l);
    if (m && m[1] === id) out.push({ t: host.times[i], m });
  });
  return out;
}

const inboundNow = async (page) => {
  const s = (await page.evaluate(() => window.roomcast.stats())).find((x) => x.inbound);
  return s ? s.inbound : null;
};

// `want`: the feedback kind the viewer's branch must read (null: none).
async function feedbackCase(offer, want, kind = 'chromium') {
  const link = await Link.open(CLEAN);
  try {
    await withWorld(playwright, `bwe-${kind}-${offer}`, async (w) => {
      const room = `bwe-${kind}-${offer.replace(',', '-')}`;
      await w.serve();
      const host = await w.live(room, ...HOST_ARGS, '--congestion-feedback', offer);
      let page;
      if (kind === 'firefox') {
        const { puppeteer } = await preflightFirefox();
        const ff = await w.firefox(puppeteer, 'firefox', { side: 'b' });
        page = await w.openPage(ff, room, 'viewer', { label: `firefox/${offer}`, init: trackConnections });
      } else {
        const ctx = await w.browser('chromium', { side: 'b' });
        page = await w.openPage(ctx, room, 'viewer', { label: `chromium/${offer}`, init: trackConnections });
      }
      const id = (await host.waitLine(/viewer (\S+) joined/, 20000))[1];
      await waitState(page, 'live', 30000);
      await waitViewerFrames(page, 2 * FPS, 30000);
      const tLive = performance.now();
      // What was negotiated for the video (the offer's and the answer's feedback and extensions).
      const sdp = await page.evaluate(() => (window.__pcs || []).filter((pc) => pc.remoteDescription)
        .map((pc) => [pc.remoteDescription.sdp, pc.localDescription && pc.localDescription.sdp]));
      const pick = (text) => (text || '').split(/\r?\n/).filter((l) => /^a=(rtcp-fb|extmap):|^m=video/.test(l));
      log(`bwe ${kind} ${offer}: offer ${JSON.stringify(sdp.map((x) => pick(x[0])))}, answer ${JSON.stringify(sdp.map((x) => pick(x[1])))}`);
      // The viewer's feedback, read by its branch (clean link).
      if (want) {
        const deadline = performance.now() + 15000;
        while (!linesOf(host, id, FEEDBACK_LINE).length && performance.now() < deadline) await sleep(200);
      }
      const onTop = () => { const l = linesOf(host, id, LAYER_LINE); return !l.length || l[l.length - 1].m[2] === '0'; };
      await waitStats(page, (all) => onTop() && all.some((s) => s.inbound && s.inbound.width === TOP_WIDTH),
        `decoding the top layer (${TOP_WIDTH} wide)`, 25000);
      const beforeCap = linesOf(host, id, FEEDBACK_LINE).map((x) => x.m[0]);

      await link.set(CAP);
      const tCap = performance.now();
      let down = null;
      while (!down && performance.now() - tCap < DOWN_BOUND_MS) {
        down = linesOf(host, id, LAYER_LINE).find((x) => x.t > tCap && Number(x.m[2]) > 0);
        if (!down) await sleep(100);
      }
      // The rest of the capped period; frames decoded over its last 5 s.
      await sleep(Math.max(0, CAPPED_MS - 5000 - (performance.now() - tCap)));
      const a = await inboundNow(page);
      const tA = performance.now();
      await sleep(5000);
      const z = await inboundNow(page);
      const secs = (performance.now() - tA) / 1000;
      const tEnd = performance.now();

      const layers = linesOf(host, id, LAYER_LINE);
      const feedback = linesOf(host, id, FEEDBACK_LINE);
      // While capped, after the step down: the figures shown (a line at each move of a quarter or
      // more). A padding probe of the layer above briefly reads more (what a burst through the
      // queue measured over a short window): the median is asserted.
      const capped = feedback.filter((x) => x.t > tCap && x.t <= tEnd);
      const afterDown = down ? capped.filter((x) => x.t >= down.t).map((x) => Number(x.m[3])).sort((p, q) => p - q) : [];
      const median = afterDown.length ? afterDown[Math.floor(afterDown.length / 2)] : null;
      const endLayer = layers.length ? Number(layers[layers.length - 1].m[2]) : 0;
      const row = {
        browser: kind,
        offer,
        firstFeedbackAfterLiveMs: feedback.length ? Math.round(feedback[0].t - tLive) : null,
        feedbackBeforeCap: beforeCap,
        downAfterMs: down ? Math.round(down.t - tCap) : `none in ${DOWN_BOUND_MS} ms`,
        downLine: down ? down.m[0] : null,
        feedbackCapped: capped.map((x) => `${((x.t - tCap) / 1000).toFixed(1)} s: ${x.m[2]} ${x.m[3]} kbit/s`),
        layerLines: layers.map((x) => `${((x.t - tCap) / 1000).toFixed(1)} s: ${x.m[0]}`),
        medianAfterDownKbit: median,
        lastCappedKbit: capped.length ? Number(capped[capped.length - 1].m[3]) : null,
        endLayer,
        endWidth: z && z.width,
        decodedPctLast5s: a && z ? Math.round(((z.framesDecoded - a.framesDecoded) / (FPS * secs)) * 1000) / 10 : null,
      };
      log(`bwe ${kind} ${offer}: ${JSON.stringify(row, null, 1)}`);

      if (want) {
        assert.ok(feedback.length > 0, `no "viewer ${id} feedback" line: the branch read no ${want}`);
        assert.ok(feedback.every((x) => x.m[2] === want), `feedback of another kind than ${want}: ${JSON.stringify(row.feedbackBeforeCap)}`);
        if (down) assert.equal(down.m[6], want, `the step down's estimate came from ${down.m[6]}: ${down.m[0]}`);
        assert.ok(median != null, `no feedback figure after the step down: ${JSON.stringify(row)}`);
        // transport-cc's received rate (a window of ~100 ms: a burst reads high) sits under the cap,
        // their median is asserted. A REMB is the viewer's estimate of the link itself: it falls
        // in steps after the cap (the first read at the step was 645-797 kbit/s) and the one in
        // force at the end of the capped period is asserted, within 15% of the cap (tbf bursts).
        if (want === 'twcc') {
          assert.ok(median < CAP_KBIT, `the twcc figures after the step down (median ${median} kbit/s) are not below the ${CAP_KBIT} kbit/s cap`);
        } else {
          const end = Number(capped[capped.length - 1].m[3]);
          assert.ok(end < CAP_KBIT * 1.15, `the REMB in force at the end of the capped period, ${end} kbit/s, is not within 15% of the ${CAP_KBIT} kbit/s cap`);
        }
      } else {
        assert.equal(feedback.length, 0, `feedback lines with none offered: ${JSON.stringify(row.feedbackBeforeCap)}`);
      }
      assert.ok(down, `no step down within ${DOWN_BOUND_MS} ms of the cap: ${JSON.stringify(row.layerLines)}`);
      assert.ok(endLayer > 0, `back on the top layer while capped: ${JSON.stringify(row.layerLines)}`);
      assert.ok([320, 160].includes(row.endWidth), `capped: decoding ${row.endWidth} wide`);
      assert.ok(row.decodedPctLast5s > 50, `decoding ${row.decodedPctLast5s}% of the frames at the end of the capped period`);
    }, { link });
  } finally {
    log(`netlab: ${(await link.close()).trim()}`);
  }
}

test('chromium viewer sends transport-cc to a ladder host (cap 600 kbit/s)', { timeout: 120000 }, () => feedbackCase('twcc,remb', 'twcc'));
test('chromium viewer sends REMB to a ladder host offering only REMB (cap 600 kbit/s)', { timeout: 120000 }, () => feedbackCase('remb', 'remb'));
test('chromium viewer offered no congestion feedback: receiver reports only (cap 600 kbit/s)', { timeout: 120000 }, () => feedbackCase('none', null));
test('firefox viewer sends transport-cc to a ladder host (cap 600 kbit/s)', { timeout: 120000 }, () => feedbackCase('twcc,remb', 'twcc', 'firefox'));
