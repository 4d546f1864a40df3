#!/usr/bin/python3
"""Glass-to-glass latency on loopback (issue 6): capture time written into the pixels by
`roomcaststamp` right after the source, read back after decoding by `roomcaststampread`
(GStreamer viewers) or from a canvas (Chromium, tests/bench/latency-browser.mjs).

Host: `roomcast live --pipeline "videotestsrc is-live=true ... 1280x720 30/1 ! roomcaststamp !
roomcastsink"` (VP8, 2 Mbit/s, embedded server). GStreamer viewers: `gst-launch-1.0 -m
roomcastsrc ... latency=L ! roomcaststampread ! fakesink sync=S`, one at a time, for a few
jitterbuffer latencies L; the reader's `roomcast-latency` messages are parsed from stdout. A
"codec only" run (stamp ! vp8enc ! vp8dec ! read in one process, same encoder settings as
roomcastsink) gives the floor without WebRTC.

    python3 tests/bench/latency.py [--quick]
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import benchlib  # noqa: E402

NAME = "latency"
ROOM = "latency"
SIZE = (1280, 720)
FPS = 30
BITRATE_KBPS = 2000
SOURCE = ("videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! "
          "video/x-raw,width=%d,height=%d,framerate=%d/1" % (SIZE[0], SIZE[1], FPS))
# roomcastsink's VP8 settings (gstroomcastsink.cpp, make_video_encoder).
VP8ENC = ("vp8enc deadline=1 target-bitrate=%d lag-in-frames=0 keyframe-max-dist=600 threads=2 "
          "end-usage=cbr cpu-used=8" % (BITRATE_KBPS * 1000))
TARGET_P50_MS = 60

# GStreamer viewer runs: (key, jitterbuffer latency ms, fakesink sync). The first is the
# headline: roomcastsrc's default latency, a sink that presents on the clock like a real one.
GST_RUNS = [
    ("jb50-sync", 50, True),
    ("jb50-nosync", 50, False),
    ("jb0-sync", 0, True),
    ("jb200-sync", 200, True),
]

LATENCY_RX = re.compile(r"roomcast-latency, latency=\(gint64\)(-?\d+), stamp=\(guint64\)\d+, "
                        r"count=\(guint64\)(\d+), misreads=\(guint64\)(\d+)"
                        r"(?:, render-latency=\(gint64\)(-?\d+), pipeline-latency=\(gint64\)(-?\d+))?")
MISREAD_RX = re.compile(r"roomcast-stamp-misread, reason=\(string\)\"?([\w-]+)\"?, count=\(guint64\)(\d+)")


def _counts(ctx):
    """(samples per run, warm-up frames dropped after the first decoded frame)."""
    return (60, 30) if ctx.quick else (300, 60)


def _parse(lines, warmup):
    """Latency samples (µs) after `warmup` frames, misreads by reason (those before the warm-up
    ended as "during join: ..."), from gst-launch -m lines."""
    decoded, render, misreads, pipeline = [], [], {}, None
    for line in lines:
        m = LATENCY_RX.search(line)
        if m:
            if int(m.group(2)) > warmup:
                decoded.append(int(m.group(1)))
                if m.group(4) is not None:
                    render.append(int(m.group(4)))
                    pipeline = int(m.group(5))
            continue
        m = MISREAD_RX.search(line)
        if m:
            reason = m.group(1)
            if int(m.group(2)) <= warmup:
                reason = "during join: " + reason
            misreads[reason] = misreads.get(reason, 0) + 1
    return decoded, render, misreads, pipeline


def _collect(ctx, name, args, n, warmup, join_s):
    """Runs a gst-launch-1.0 -m viewer until warmup + n frames were read; returns its data."""
    limit = int(join_s + (warmup + n) / FPS * 4 + 30)
    p = ctx.start(["gst-launch-1.0", "-m"] + args, name=name, limit=limit)
    p.pid  # noqa: B018 (resolve the program's pid now, so stopping it reaches gst-launch itself,
    # not only `timeout`: an orphaned viewer would stay in the room and load the host)
    try:
        p.wait_line(r"roomcast-latency.*count=\(guint64\)%d\b" % (warmup + n), limit - 5)
        error = None
    except RuntimeError as e:
        error = str(e).splitlines()[0]
        ctx.log("%s: %s" % (name, error))
    lines = p.text_lines()
    p.interrupt(5)  # SIGINT: roomcastsrc leaves the room cleanly; killed if it does not exit
    p.kill()
    decoded, render, misreads, pipeline = _parse(lines, warmup)
    return {"decoded_us": decoded[:n], "render_us": render[:n], "misreads": misreads, "error": error,
            "pipeline_latency_us": pipeline,
            "frames_read": sum(1 for l in lines if "roomcast-latency," in l)}


def _gst_viewer(ctx, ws_url, jb_ms, sync, n, warmup):
    args = ["roomcastsrc", "signaller::uri=" + ws_url, "room=" + ROOM, "ice-loopback=true",
            "latency=%d" % jb_ms, "!", "roomcaststampread", "!", "fakesink",
            "sync=%s" % ("true" if sync else "false")]
    return _collect(ctx, "viewer-jb%d" % jb_ms, args, n, warmup, join_s=15)


def _codec_only(ctx, n, warmup):
    args = (SOURCE + " ! roomcaststamp ! " + VP8ENC + " ! vp8dec ! roomcaststampread ! "
            "fakesink sync=false").split()
    return _collect(ctx, "codec-only", args, n, warmup, join_s=5)


def _browser(ctx, n, warmup):
    script = os.path.join(ctx.source_dir, "tests", "bench", "latency-browser.mjs")
    env = ctx.env({"ROOMCAST_BIN": ctx.roomcast, "ROOMCAST_PLUGIN_DIR": ctx.plugin_dir,
                   "ROOMCAST_SOURCE_DIR": ctx.source_dir})
    limit = int(90 + (warmup + n) / FPS * 4)
    p = ctx.start(["node", script, "--samples", str(n), "--warmup-ms", str(int(warmup * 1000 / FPS)),
                   "--codec", "vp8", "--bitrate", str(BITRATE_KBPS), "--size", "%dx%d" % SIZE,
                   "--fps", str(FPS), "--timeout", str(limit - 60)], name="latency-browser", env=env,
                  limit=limit)
    p.pid  # noqa: B018 (see _collect)
    rc = p.wait(limit + 10)
    if rc == 77:
        return {"skipped": (p.stderr().strip().splitlines() or ["skipped"])[-1]}
    for line in reversed(p.text_lines()):
        if line.startswith("{"):
            data = json.loads(line)
            data["exit"] = rc
            return data
    return {"error": "exit %s, no result: %s" % (rc, p.stderr()[-1500:])}


def run(ctx):
    n, warmup = _counts(ctx)
    data = {"samples_per_run": n, "warmup_frames": warmup, "size": "%dx%d" % SIZE, "fps": FPS,
            "bitrate_kbps": BITRATE_KBPS, "codec": "vp8", "gst": {}, "cpu_count": os.cpu_count(),
            "load_before": os.getloadavg()[0]}

    ctx.log("latency: codec only (stamp ! vp8enc ! vp8dec ! read, no WebRTC)")
    data["codec_only"] = _codec_only(ctx, n, warmup)

    host = ctx.start([ctx.roomcast, "live", "--host", "127.0.0.1", "--port", "0", "--room", ROOM,
                      "--codec", "vp8", "--bitrate", str(BITRATE_KBPS), "--pipeline",
                      SOURCE + " ! roomcaststamp ! roomcastsink name=roomcast"], name="live")
    _, m = host.wait_line(r"roomcast watch --server (ws://\S+)", 20)
    ws_url = m.group(1)
    for key, jb, sync in GST_RUNS:
        ctx.log("latency: GStreamer viewer, jitterbuffer %d ms, sync=%s" % (jb, sync))
        r = _gst_viewer(ctx, ws_url, jb, sync, n, warmup)
        r.update({"jitterbuffer_ms": jb, "sync": sync})
        data["gst"][key] = r
    host.interrupt()

    ctx.log("latency: Chromium viewer (tests/bench/latency-browser.mjs)")
    data["browser"] = _browser(ctx, n, warmup)
    return data


# ---- rendering -----------------------------------------------------------------------------------

def _ms(values_us):
    return [v / 1000.0 for v in values_us]


def _stats_row(label, jb, sink, where, values_us, misreads):
    v = _ms(values_us)
    p = lambda q: benchlib.fmt(benchlib.percentile(v, q), 1)  # noqa: E731
    return [label, jb, sink, where, len(v), p(50), p(95), p(99), misreads]


def _misread_total(r):
    """Misreads after the warm-up (the measured window)."""
    return sum(v for k, v in (r.get("misreads") or {}).items() if not k.startswith("during join"))


def render(data, ctx):
    n = data["samples_per_run"]
    out = ["### Glass-to-glass latency", ""]
    out += [
        "Capture time is written into the pixels by `roomcaststamp` right after the source (a "
        "strip of 16x16 black/white blocks: marker, 64-bit wall-clock µs, CRC-16) and read after "
        "decoding; latency = wall clock now − stamp, host and viewer on one machine. Host: "
        "`roomcast live --pipeline` with `%s ! roomcaststamp ! roomcastsink` (VP8, %d kbit/s, "
        "embedded server, loopback ICE). %d samples per row after dropping the first %d frames "
        "(join and first keyframe). Frames whose stamp does not read (marker, a block neither "
        "black nor white, CRC) are misreads and never count as samples. Stamp layout (also in "
        "`plugins/roomcast/stamp.cpp`): 16 x 6 blocks of 16x16 px at the top-left corner, block i "
        "at column i %% 16, row i / 16, white = 1; blocks 0-15 the marker 0x5AC3, 16-79 the "
        "timestamp (MSB first), 80-95 CRC-16/CCITT-FALSE of its 8 big-endian bytes; a reader "
        "averages each block's central 8x8 pixels, threshold at mid-grey, 0.375-0.625 unreadable."
        % (SOURCE, data["bitrate_kbps"], n, data["warmup_frames"]), ""]

    rows = []
    co = data.get("codec_only") or {}
    rows.append(_stats_row("codec only (no WebRTC)", "—", "none", "decoded", co.get("decoded_us", []),
                           _misread_total(co)))
    for key, jb, sync in GST_RUNS:
        r = data["gst"].get(key)
        if not r:
            continue
        sink = "fakesink sync=%s" % ("true" if sync else "false")
        if sync and r.get("pipeline_latency_us") is not None:
            sink += " (pipeline latency %s ms)" % benchlib.fmt(r["pipeline_latency_us"] / 1000.0, 0)
        rows.append(_stats_row("GStreamer (roomcastsrc)", "%d ms" % jb, sink, "decoded",
                               r["decoded_us"], _misread_total(r)))
        if sync:
            rows.append(_stats_row("GStreamer (roomcastsrc)", "%d ms" % jb, sink, "**presented**",
                                   r["render_us"], ""))
    b = data.get("browser") or {}
    if b.get("samples"):
        mis = sum((b.get("misreads") or {}).values())
        rows.append(_stats_row("Chromium %s" % (b.get("chromium") or ""), "browser's own", "<video>",
                               "frame callback", [s["cb"] for s in b["samples"]], mis))
        rows.append(_stats_row("Chromium %s" % (b.get("chromium") or ""), "browser's own", "<video>",
                               "**expected display**", [s["display"] for s in b["samples"]], ""))
    out.append(benchlib.table(["viewer", "jitterbuffer", "sink", "measured at", "n", "p50 ms", "p95 ms",
                               "p99 ms", "misreads"], rows))
    out.append("")
    errors = ["%s: %s" % (k, r["error"]) for k, r in data["gst"].items() if r.get("error")]
    if co.get("error"):
        errors.append("codec only: " + co["error"])
    if b.get("error"):
        errors.append("Chromium: " + b["error"])
    if b.get("skipped"):
        out.append("Chromium viewer skipped: %s" % b["skipped"])
        out.append("")
    if errors:
        out.append("Runs that ended early: " + "; ".join(errors))
        out.append("")

    head = data["gst"].get(GST_RUNS[0][0]) or {}
    head_p50 = benchlib.percentile(_ms(head.get("render_us", [])), 50)
    out.append("Targets:")
    out.append("")
    out.append(benchlib.target_line(
        "GStreamer viewer glass-to-glass p50 ≤ %d ms at %d fps on loopback (presented, roomcastsrc "
        "default jitterbuffer)" % (TARGET_P50_MS, data["fps"]),
        benchlib.fmt(head_p50, 1, " ms"), "%d ms" % TARGET_P50_MS,
        None if head_p50 is None else head_p50 <= TARGET_P50_MS))
    out.append("")

    # What contributes, from this run's numbers.
    def p50(values_us):
        return benchlib.percentile(_ms(values_us), 50)
    notes = []
    if co.get("decoded_us"):
        notes.append("stamp → VP8 encode → decode in one process (the codec floor, no network, no "
                     "jitterbuffer): p50 %s ms" % benchlib.fmt(p50(co["decoded_us"])))
    if head.get("decoded_us") and head.get("render_us"):
        notes.append("waiting in the sink for the frame's presentation time (presented − decoded, p50 "
                     "of each): %s ms; the pipeline latency the sink adds is the jitterbuffer's plus the "
                     "decoder's reported latency" % benchlib.fmt(p50(head["render_us"]) - p50(head["decoded_us"])))
    for key in ("jb0-sync", "jb200-sync"):
        r = data["gst"].get(key)
        if r and r.get("render_us") and head.get("render_us"):
            notes.append("jitterbuffer %d ms instead of 50 ms: presented p50 %s ms (%+.1f ms)" % (
                r["jitterbuffer_ms"], benchlib.fmt(p50(r["render_us"])),
                p50(r["render_us"]) - p50(head["render_us"])))
    if head.get("decoded_us") and co.get("decoded_us") and p50(head["decoded_us"]) < p50(co["decoded_us"]):
        notes.append("the codec-only run was slower than the WebRTC run (the machine's load changed "
                     "between runs), so the WebRTC path's share cannot be separated in this run")
    elif head.get("decoded_us") and co.get("decoded_us"):
        notes.append("WebRTC path on top of the codec (decoded, jitterbuffer 50 ms, minus codec only): "
                     "%s ms — payloading, the tee and branch queue, SRTP, loopback UDP, the "
                     "jitterbuffer, depayloading" % benchlib.fmt(p50(head["decoded_us"]) - p50(co["decoded_us"])))
    out.append("What contributes:")
    out.append("")
    out.extend("- " + s for s in notes)
    out.append("- \"presented\" is when a `sync=true` sink shows the frame (base time + running time "
               "+ pipeline latency, computed by `roomcaststampread` from the pipeline's LATENCY "
               "event), the realistic figure for a viewer; \"decoded\" is when it leaves the decoder. "
               "Neither includes a display's refresh. Chromium's \"expected display\" is "
               "`requestVideoFrameCallback`'s `expectedDisplayTime`; Chromium runs its own adaptive "
               "jitter buffer (not configurable from the server).")
    out.append("- The machine's load (1-minute average %.2f on %s cores before the run) shows up "
               "directly in these numbers: encoder, decoder and browser share the cores."
               % (data.get("load_before", 0), data.get("cpu_count")))
    out.append("")

    pyplot = benchlib.plt()
    if pyplot is not None:
        fig, ax = pyplot.subplots(figsize=(8, 4.2))
        series = [("codec only", co.get("decoded_us", []))]
        if head:
            series += [("GStreamer presented (jb 50 ms)", head.get("render_us", [])),
                       ("GStreamer decoded (jb 50 ms)", head.get("decoded_us", []))]
        if b.get("samples"):
            series.append(("Chromium expected display", [s["display"] for s in b["samples"]]))
        allv = [x for _, s in series for x in _ms(s)]
        if allv:
            hi = max(benchlib.percentile(allv, 99.5) * 1.1, TARGET_P50_MS * 1.5)
            bins = [hi * i / 60 for i in range(61)]
            for label, s in series:
                if s:
                    ax.hist([min(x, hi) for x in _ms(s)], bins=bins, histtype="step", linewidth=1.5,
                            label="%s (n=%d)" % (label, len(s)))
            ax.axvline(TARGET_P50_MS, color="grey", linestyle="--", linewidth=1,
                       label="target p50 %d ms" % TARGET_P50_MS)
            ax.set_xlabel("glass-to-glass latency (ms)")
            ax.set_ylabel("frames")
            ax.set_title("Latency, %s@%d VP8 %d kbit/s, loopback%s" % (
                data["size"], data["fps"], data["bitrate_kbps"], " (quick run)" if ctx.quick else ""))
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(benchlib.plot_path(ctx, "latency.png"), dpi=100)
            out.append(benchlib.plot_link(ctx, "latency.png", "latency distributions"))
            out.append("")
        pyplot.close(fig)
    return "\n".join(out)


def next_steps(data, ctx):
    runs = data.get("gst") or {}
    def p50(name):
        r = runs.get(name) or {}
        v = r.get("render_us") or []
        return benchlib.percentile(v, 50) / 1000.0 if v else None
    default, zero = p50("jb50-sync"), p50("jb0-sync")
    if default is None or default <= TARGET_P50_MS:
        return []
    line = ("Glass-to-glass (GStreamer): presented p50 %.0f ms at roomcastsrc's default 50 ms jitterbuffer "
            "(target %d ms)" % (default, TARGET_P50_MS))
    if zero is not None:
        line += ("; %.0f ms with `latency=0` (`roomcast watch --latency 0`). The default stays at 50 ms: on a "
                 "real network the jitterbuffer is what absorbs reordering and waits for retransmissions; "
                 "a LAN viewer can choose 0. Next: the 20 ms of pipeline latency that is not the "
                 "jitterbuffer's (decoder), and a jitterbuffer that adapts to measured jitter." % zero)
    return [line]


if __name__ == "__main__":
    benchlib.cli(NAME)
