// The per-viewer ladder (issue 14) seen from a browser: the host (`roomcast live --ladder
// 1,0.5,0.25`, 640x360@15 VP8 at 2000 kbit/s, so layers of 640, 320 and 160 pixels) is on side A
// of a netlab link (tests/netlab/netlab.py), a Chromium or a Firefox viewer on side B. The viewer
// settles on the top layer; the link is capped to 500 kbit/s (a 200 ms queue, tail drop, as
// tests/integration/test_ladder.py's cap drop), then the cap is lifted. Each layer change
// rewrites SSRC, sequence numbers and picture ids in the viewer's branch, so the browser sees one
// VP8 stream whose frame size changes.
//
// Asserted per browser: the decoded frame width (the page's getStats(), inbound frameWidth) drops
// below 640 after the cap and is back at 640 within 20 s of the lift; the host printed its
// `viewer ID layer N (WxH)` event lines both ways; every presented size change after the lift
// (the up switches) came with a pause under 500 ms; and the longest pause between two presented
// frames (requestVideoFrameCallback) over the whole run, nothing excluded, is under a bound.
//
// MAY MISS ONE OF THE ISSUE'S TARGETS (the test logs a "MISSED" line each time): no pause
// over 500 ms. The cap itself costs a pause: what was in flight on the top layer when the link
// shrank is lost in its queue, and the picture resumes at the lower layer's keyframe.
// First measured with a chooser that read receiver reports only (2026-12-01, a 2-core machine
// shared with other work): down after 2.5-6.6 s, longest pause 1.1-3.1 s (Chromium 156:
// 1767 / 3033 / 3050 / 2317 ms; Firefox ESR 153: 1982 / 1080 / 3079 ms), 67-100% decoded.
// With NACKs read at every poll, the branch closed until connected, stale retransmissions
// dropped and padding probes (same day): Chromium down after 1.3 / 1.5 s, longest pause
// 800 / 1450 ms, up after 12.5 / 5.5 s, 97 / 92% decoded; Firefox down after 1.1 / 1.3 s,
// longest pause 606 / 1052 ms, up after 13.3 / 8.0 s, 94 / 90% decoded. The up switches are
// seamless (10-67 ms between frames, asserted under 500 ms). DOWN_BOUND_MS and PAUSE_BOUND_MS
// are regression bounds above those figures (the old chooser fails them).
// Later the same day (padding probes stopped at the first NACK, send queues bounded in bytes):
// longest pause over the whole run Chromium 550 / 417 / 333 ms, Firefox 412 / 344 / 352 ms,
// 97.1-99% decoded; the pause bound went from 2.5 s to 1.2 s (the first chooser's 1.1-3.1 s
// mostly fails it).
// Also seen once in 5 Chromium runs (not in 3 Firefox runs): on the clean link, ~5 s after connecting, the host moved the
// viewer to layer 1 by itself (`viewer ID layer 1 (320x180)`, sending 461 kbit/s); the test waits
// (25 s at most) for it to be back on the top layer before the cap and logs those lines
// (layerLinesBeforeCap).
// Recorded (logged): the share of the source's frames decoded over the run, the longest pause per
// phase and at each presented size change, freezeCount/totalFreezesDuration (both browsers report
// them), and a timeline of the viewer's inbound stats every 200 ms.
// (Each case has a literal name: tests/list-cases.py.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preflight, preflightFirefox, withWorld, Link, waitState, waitViewerFrames, waitStats, trackConnections, startSwitchMeter, log, sleep } from './harness.mjs';

const playwright = await preflight();
const FPS = 15;
// w.live gives --source test --size 640x360; these are test_ladder.py's other host options.
const HOST_ARGS = ['--fps', String(FPS), '--bitrate', '2000', '--ladder', '1,0.5,0.25'];
const CAP = { a_to_b: { rate_kbit: 500, queue_ms: 200 }, b_to_a: {} };
const CLEAN = { a_to_b: {}, b_to_a: {} };
const TOP_WIDTH = 640;
// The targets (reported when missed) and the bounds asserted (see the top of the file).
const DOWN_TARGET_MS = 5000;
const PAUSE_TARGET_MS = 500;
const DOWN_BOUND_MS = 5000;
const PAUSE_BOUND_MS = 1200;
const UP_WITHIN_MS = 20000;
// Time on the lower layer before the lift.
const LOW_HOLD_MS = 5000;
const LAYER_LINE = /viewer (\S+) layer (\d) \((\d+)x(\d+)\)/;

// The page's inbound video stats as roomcast.stats() sums them up.
const inboundNow = async (page) => {
  const s = (await page.evaluate(() => window.roomcast.stats())).find((x) => x.inbound);
  return s ? s.inbound : null;
};

// The inbound video straight from getStats() (trackConnections): freezeCount and friends, so that
// a browser that does not report them reads as "not reported" rather than 0, and the jitter
// buffer's figures for the timeline.
const rawInbound = (page) => page.evaluate(async () => {
  for (const pc of window.__pcs || []) {
    if (pc.connectionState === 'closed') continue;
    let out = null;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video')
        out = { t: performance.now(), width: s.frameWidth || 0, framesDecoded: s.framesDecoded || 0,
          bytesReceived: s.bytesReceived || 0, packetsLost: s.packetsLost || 0, nackCount: s.nackCount || 0,
          pliCount: s.pliCount || 0, jitterBufferDelay: s.jitterBufferDelay, jitterBufferEmittedCount: s.jitterBufferEmittedCount,
          freezeCount: s.freezeCount, totalFreezesDuration: s.totalFreezesDuration,
          framesDropped: s.framesDropped, keyFramesDecoded: s.keyFramesDecoded };
    });
    if (out) return out;
  }
  return null;
});

// Samples the viewer's inbound stats every 200 ms into `timeline` until pred(sample) holds (the
// node time it did) or ms have passed (null).
async function sampleUntil(page, timeline, pred, ms) {
  const deadline = performance.now() + ms;
  for (;;) {
    const s = await rawInbound(page);
    if (s) timeline.push({ ...s, node: performance.now() });
    if (s && pred(s)) return performance.now();
    if (performance.now() > deadline) return null;
    await sleep(200);
  }
}

// The timeline as short rows relative to `t0` (node time): seconds, decoded width, frames
// decoded since the row before, kbit/s, lost and NACKs since the row before, and the jitter
// buffer's mean delay over those frames (ms).
function timelineRows(timeline, t0) {
  const rows = [];
  for (let i = 1; i < timeline.length; i++) {
    const a = timeline[i - 1], b = timeline[i];
    const dt = (b.t - a.t) / 1000;
    const emitted = (b.jitterBufferEmittedCount || 0) - (a.jitterBufferEmittedCount || 0);
    const jb = emitted > 0 ? Math.round(((b.jitterBufferDelay - a.jitterBufferDelay) / emitted) * 1000) : '-';
    rows.push(`${((b.node - t0) / 1000).toFixed(1)}s ${b.width}w +${b.framesDecoded - a.framesDecoded}f ` +
      `${dt > 0 ? Math.round(((b.bytesReceived - a.bytesReceived) * 8) / dt / 1000) : 0}k ` +
      `lost+${b.packetsLost - a.packetsLost} nack+${b.nackCount - a.nackCount} jb${jb}`);
  }
  return rows;
}

// The host's layer event lines for viewer `id`: [{t (node time), layer, width}].
function layerLines(host, id) {
  const out = [];
  host.lines.forEach((l, i) => {
    const m = LAYER_LINE.exec(l);
    if (m && m[1] === id) out.push({ t: host.times[i], layer: Number(m[2]), width: Number(m[3]) });
  });
  return out;
}

const ms = (x) => (x == null ? null : Math.round(x));

async function ladderCase(kind) {
  const link = await Link.open(CLEAN);
  try {
    await withWorld(playwright, `ladder-${kind}`, async (w) => {
      const room = `ladder-${kind}`;
      await w.serve();
      const host = await w.live(room, ...HOST_ARGS);
      let page;
      if (kind === 'firefox') {
        const { puppeteer } = await preflightFirefox();
        const ff = await w.firefox(puppeteer, 'firefox', { side: 'b' });
        page = await w.openPage(ff, room, 'viewer', { label: 'firefox/viewer', init: trackConnections });
      } else {
        const ctx = await w.browser('chromium', { side: 'b' });
        page = await w.openPage(ctx, room, 'viewer', { label: 'chromium/viewer', init: trackConnections });
      }
      const id = (await host.waitLine(/viewer (\S+) joined/, 20000))[1];
      await waitState(page, 'live', 30000);
      await waitViewerFrames(page, 2 * FPS, 30000);
      // On the top layer: the host's last layer line (if any) says 0 and the page decodes 640 wide.
      // (A clean link: the viewer should never have left it; if it did, the row says so.)
      const tJoin = performance.now();
      const onTop = () => { const l = layerLines(host, id); return !l.length || l[l.length - 1].layer === 0; };
      await waitStats(page, (all) => onTop() && all.some((s) => s.inbound && s.inbound.width === TOP_WIDTH),
        `decoding the top layer (${TOP_WIDTH} wide)`, 25000);
      const beforeCap = layerLines(host, id).map((l) => `${l.layer}(${l.width}) at ${((l.t - tJoin) / 1000).toFixed(1)} s`);

      // The run: 3 s on the top layer, the cap (until the picture is smaller, + 5 s), the lift
      // (until back on top, + 3 s).
      const timeline = [];
      await page.evaluate(startSwitchMeter);
      const a = await inboundNow(page);
      const rawA = await rawInbound(page);
      const t0 = performance.now();
      await sampleUntil(page, timeline, () => false, 3000);

      await link.set(CAP);
      const tCap = performance.now();
      const pageCap = await page.evaluate(() => performance.now());
      const tDown = await sampleUntil(page, timeline, (x) => x.width > 0 && x.width < TOP_WIDTH, DOWN_BOUND_MS);
      const lowWidth = tDown == null ? null : timeline[timeline.length - 1].width;
      await sampleUntil(page, timeline, () => false, LOW_HOLD_MS);
      const widthAtLift = timeline[timeline.length - 1].width;

      await link.set(CLEAN);
      const tLift = performance.now();
      const pageLift = await page.evaluate(() => performance.now());
      const tUp = await sampleUntil(page, timeline, (x) => x.width === TOP_WIDTH, UP_WITHIN_MS);
      await sampleUntil(page, timeline, () => false, 3000);

      const z = await inboundNow(page);
      const rawZ = await rawInbound(page);
      const secs = (performance.now() - t0) / 1000;
      const m = await page.evaluate(() => window.__meter);
      const pageEnd = await page.evaluate(() => performance.now());
      const lines = layerLines(host, id);
      if (process.env.LADDER_DEBUG)
        log(host.stderrText.split('\n').filter((l) => /layer/.test(l)).slice(-60).join('\n'));

      // Where the pauses were (page time): each phase's longest, and the pause at each presented
      // size change.
      const firstLow = m.sizes.find((s) => s.at > pageCap && s.width < TOP_WIDTH);
      const firstTopAgain = m.sizes.find((s) => s.at > pageLift && s.width === TOP_WIDTH);
      const phases = {
        top: [m.start, pageCap],
        cappedUntilSwitch: [pageCap, firstLow ? firstLow.at : pageLift],
        low: [firstLow ? firstLow.at : pageLift, pageLift],
        liftedUntilSwitch: [pageLift, firstTopAgain ? firstTopAgain.at : pageEnd],
        after: [firstTopAgain ? firstTopAgain.at : pageEnd, pageEnd],
      };
      // A pause belongs to the phase it ended in; the first frame after the meter starts has none.
      const longest = {};
      for (const [name, [from, to]] of Object.entries(phases))
        longest[name] = ms(Math.max(0, ...m.gaps.filter((g) => g.at > from && g.at <= to).map((g) => g.gap)));
      const decoded = z.framesDecoded - a.framesDecoded;
      const freezes = rawZ && rawZ.freezeCount != null
        ? { freezeCount: rawZ.freezeCount - ((rawA && rawA.freezeCount) || 0),
          freezesS: Math.round(((rawZ.totalFreezesDuration || 0) - ((rawA && rawA.totalFreezesDuration) || 0)) * 1000) / 1000 }
        : 'not reported';
      const row = {
        layerLinesBeforeCap: beforeCap,
        downAfterMs: tDown == null ? `none in ${DOWN_BOUND_MS} ms` : ms(tDown - tCap),
        lowWidth,
        widthAtLift,
        upAfterMs: tUp == null ? `none in ${UP_WITHIN_MS} ms` : ms(tUp - tLift),
        hostLayerLines: lines.map((l) => `${l.layer}(${l.width}) at ${((l.t - tCap) / 1000).toFixed(1)} s`),
        longestPauseMs: ms(m.maxGap),
        longestPauseByPhaseMs: longest,
        presentedSizeChanges: m.sizes.slice(1).map((s) => `${s.width} at ${((s.at - pageCap) / 1000).toFixed(2)} s after a ${ms(s.gap)} ms pause`),
        pausesOver150Ms: m.gaps.map((g) => `${ms(g.gap)} ms ending ${((g.at - pageCap) / 1000).toFixed(2)} s (${g.from}->${g.to})`),
        decodedPct: Math.round((decoded / (FPS * secs)) * 1000) / 10,
        presented: m.frames,
        runS: Math.round(secs * 10) / 10,
        freezes,
        plis: z.pliCount - a.pliCount,
        nacks: z.nackCount - a.nackCount,
        lost: z.packetsLost - a.packetsLost,
      };
      log(`${page.tag}: ${JSON.stringify(row, null, 1)}`);
      log(`${page.tag} timeline (s from the cap; lift at ${((tLift - tCap) / 1000).toFixed(1)} s):\n  ` +
        timelineRows(timeline, tCap).join('\n  '));

      const upSwitches = m.sizes.filter((x) => x.at > pageLift);
      const missed = [];
      if (tDown == null || tDown - tCap > DOWN_TARGET_MS) missed.push(`down after ${row.downAfterMs} ms (target ${DOWN_TARGET_MS})`);
      if (m.maxGap >= PAUSE_TARGET_MS) missed.push(`longest pause ${row.longestPauseMs} ms (target < ${PAUSE_TARGET_MS})`);
      if (missed.length) log(`${page.tag}: MISSED the issue's targets: ${missed.join('; ')}`);

      assert.ok(tDown != null, `the decoded width stayed ${TOP_WIDTH} for ${DOWN_BOUND_MS / 1000} s after the cap`);
      assert.ok([320, 160].includes(lowWidth), `capped: decoding ${lowWidth} wide`);
      assert.ok(tUp != null, `not back to ${TOP_WIDTH} wide within ${UP_WITHIN_MS / 1000} s of the lift (${widthAtLift} wide at the lift)`);
      const down = lines.find((l) => l.t > tCap && l.layer > 0);
      assert.ok(down, `the host printed no "viewer ${id} layer N" line for a lower layer: ${host.lines.join('\n')}`);
      assert.ok(lines.some((l) => l.t > down.t && l.layer === 0),
        `the host printed no "viewer ${id} layer 0" line after the lift: ${JSON.stringify(row.hostLayerLines)}`);
      assert.ok(upSwitches.length > 0 && upSwitches.every((x) => x.gap < PAUSE_TARGET_MS),
        `a pause at an up switch: ${JSON.stringify(row.presentedSizeChanges)}`);
      assert.ok(m.maxGap < PAUSE_BOUND_MS, `longest pause between presented frames ${ms(m.maxGap)} ms (bound ${PAUSE_BOUND_MS}, ` +
        `the issue's target ${PAUSE_TARGET_MS}): by phase ${JSON.stringify(longest)}`);
    }, { link });
  } finally {
    log(`netlab: ${(await link.close()).trim()}`);
  }
}

test('chromium viewer through ladder switches (cap 500 kbit/s, lifted)', { timeout: 120000 }, () => ladderCase('chromium'));
test('firefox viewer through ladder switches (cap 500 kbit/s, lifted)', { timeout: 120000 }, () => ladderCase('firefox'));
