#!/usr/bin/python3
"""Fan-out: what one more viewer costs the host, against a per-viewer-encoder baseline.

Both hosts are gst-launch-1.0 processes with the same source (1280x720@30 I420, videotestsrc
pattern=smpte horizontal-speed=4 plus a timeoverlay: a scrolling pattern with a running clock,
what `roomcast live --source test` sends) and the same roomcastsink settings (VP8, 2000 kbit/s):
- shared: source ! roomcastsink (one encoder, one tee, one webrtcbin per viewer), one room;
- baseline: source ! tee, and N branches `queue ! roomcastsink`, each in its own room with one
  viewer: the same webrtcbin per viewer plus one encoder per viewer, as webrtcsink does.
The viewers are ONE process (viewers.py) with N roomcastsrc elements giving encoded frames to
fakesinks; each must receive frames, and its frame count over the window gives the frame rate
actually delivered.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import fmt  # noqa: E402

WIDTH, HEIGHT, FPS, KBPS = 1280, 720, 30, 2000
SOURCE = ("videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! "
          "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! timeoverlay font-desc=\"Sans 24\"" %
          (WIDTH, HEIGHT, FPS))
CONTENT = ("videotestsrc is-live=true pattern=smpte horizontal-speed=4 (SMPTE bars scrolling 4 px/frame) "
           "+ timeoverlay (running clock), %dx%d@%d I420" % (WIDTH, HEIGHT, FPS))
TARGET_MARGINAL_CPU = 0.5   # % of one core per viewer
TARGET_RATIO_AT_16 = 10.0
TARGET_MARGINAL_MIB = 2.0


LADDER = "1,0.5,0.25"


def sink(ws, room, ladder=None):
    return ("roomcastsink signaller::uri=%s room=%s codec=vp8 bitrate=%d ice-loopback=true%s" % (
        ws, room, KBPS, " ladder=%s" % ladder if ladder else ""))


def host_args(kind, n, ws, tag):
    if kind in ("shared", "ladder"):
        desc = "%s ! %s" % (SOURCE, sink(ws, "bench-%s-s" % tag, LADDER if kind == "ladder" else None))
        rooms = ["bench-%s-s" % tag] * n
    else:
        branches = " ".join("t. ! queue max-size-buffers=3 leaky=downstream ! %s" % sink(ws, "bench-%s-b%d" % (tag, i))
                            for i in range(n))
        desc = "%s ! tee name=t allow-not-linked=true %s" % (SOURCE, branches)
        rooms = ["bench-%s-b%d" % (tag, i) for i in range(n)]
    return ["gst-launch-1.0", "-q"] + split_launch(desc), rooms


def split_launch(desc):
    # gst-launch-1.0 joins argv with spaces; one argument per token keeps quoting simple.
    import shlex
    return shlex.split(desc)


def last_counts(viewers, start=0):
    """The viewers' latest report: (t, [buffers per viewer]) or (None, None)."""
    for line in reversed(viewers.text_lines(start)):
        if line.startswith("{"):
            r = json.loads(line)
            if "error" in r:
                raise RuntimeError("viewers: " + r["error"])
            return r["t"], r["buffers"]
    return None, None


def wait_counts(viewers, after_t, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t, c = last_counts(viewers)
        if t is not None and t > after_t:
            return t, c
        if not viewers.alive():
            raise RuntimeError("viewers exited: " + viewers.stderr())
        time.sleep(0.1)
    raise RuntimeError("viewers: no report within %.0f s" % timeout)


def measure_point(ctx, ws, kind, n, tag, settle, window):
    args, rooms = host_args(kind, n, ws, tag)
    host = ctx.start(args, name="%s-host-%d" % (kind, n), limit=300)
    viewers = None
    try:
        hpid = host.pid
        time.sleep(1.0)  # the encoder starts, the signaller joins
        if not host.alive():
            raise RuntimeError("host exited: " + host.stderr())
        point = {"viewers": n, "kind": kind}
        if n:
            viewers = ctx.start(["/usr/bin/python3", os.path.join(ctx.source_dir, "tests", "bench", "viewers.py"),
                                 "--server", ws] + sum((["--room", r] for r in rooms), []),
                                name="viewers-%d" % n, limit=300)
            t_start = time.monotonic()
            c_start = benchlib.cpu_seconds(hpid)
            deadline = t_start + 20 + (2.0 if kind == "baseline" else 1.0) * n
            while True:
                _, c = last_counts(viewers)
                if c and all(x > 0 for x in c):
                    break
                if not viewers.alive() or not host.alive():
                    raise RuntimeError("%s at %d viewers: a process exited; viewers: %s\nhost: %s" % (
                        kind, n, viewers.stderr(), host.stderr()))
                if time.monotonic() > deadline:
                    busy = 100.0 * (benchlib.cpu_seconds(hpid) - c_start) / (time.monotonic() - t_start)
                    raise RuntimeError("%s at %d viewers: %s of %d viewers received media within %.0f s "
                                       "(host CPU meanwhile %.0f%% of a core)" % (
                                           kind, n, sum(1 for x in (c or []) if x > 0), n, deadline - t_start, busy))
                time.sleep(0.2)
            point["all_receiving_s"] = round(time.monotonic() - t_start, 2)
        time.sleep(settle)
        pids = [hpid] + ([viewers.pid] if viewers else [])
        t0c = wait_counts(viewers, time.monotonic() - 0.01, 3) if viewers else (None, None)
        cpu, dt = benchlib.measure_cpu(pids, window)
        rss = benchlib.rss_kib(hpid)
        t1c = wait_counts(viewers, time.monotonic() - 0.01, 3) if viewers else (None, None)
        if not host.alive():
            raise RuntimeError("%s host exited during the window: %s" % (kind, host.stderr()))
        point.update({"cpu": cpu[hpid], "rss_mib": rss / 1024.0, "window_s": dt, "host_threads": benchlib.threads(hpid)})
        if viewers:
            point["viewer_process_cpu"] = cpu[viewers.pid]
            span = t1c[0] - t0c[0]
            fps = [(b - a) / span for a, b in zip(t0c[1], t1c[1])]
            point["fps"] = {"min": min(fps), "mean": sum(fps) / len(fps), "max": max(fps)}
            starved = [i for i, f in enumerate(fps) if f <= 0]
            if starved:
                raise RuntimeError("%s at %d viewers: viewers %s got no frames during the window" % (kind, n, starved))
        ctx.log("%s n=%d: host %.1f%% %.1f MiB, fps %s, viewers %.1f%%" % (
            kind, n, point["cpu"], point["rss_mib"],
            fmt(point.get("fps", {}).get("mean")), point.get("viewer_process_cpu", 0)))
        return point
    finally:
        if viewers:
            viewers.interrupt(5)
            viewers.kill()
        host.interrupt(5)
        host.kill()


def run(ctx):
    counts = [0, 1, 2, 4, 8] if ctx.quick else [0, 1, 2, 4, 8, 16, 32]
    settle, window = (2.0, 3.0) if ctx.quick else (3.0, 10.0)
    _, ws = ctx.serve()
    points = []
    errors = []
    for n in counts:
        for kind in ("shared", "ladder", "baseline"):
            if kind == "baseline" and n == 0:
                continue  # no viewer, no encoder: the baseline at 0 is a source with nothing behind it
            try:
                points.append(measure_point(ctx, ws, kind, n, "%s%d" % (kind[0], n), settle, window))
            except Exception as e:  # one failed point is reported, the others still run
                ctx.log("FAILED: %s" % e)
                errors.append({"kind": kind, "viewers": n, "error": str(e)[-1500:]})
    return {"counts": counts, "points": points, "errors": errors, "settle_s": settle, "window_s": window,
            "content": CONTENT, "codec": "vp8", "kbps": KBPS, "width": WIDTH, "height": HEIGHT, "fps": FPS,
            "cores": os.cpu_count(), "quick": ctx.quick}


def _series(data, kind):
    return sorted((p for p in data["points"] if p["kind"] == kind), key=lambda p: p["viewers"])


def analyse(data):
    shared, base = _series(data, "shared"), _series(data, "baseline")
    res = {}
    lad = _series(data, "ladder")
    res["ladder_cpu_slope"], _ = benchlib.linear_fit([p["viewers"] for p in lad], [p["cpu"] for p in lad]) \
        if len(lad) >= 2 else (None, None)
    s = [p for p in shared]
    res["shared_cpu_slope"], _ = benchlib.linear_fit([p["viewers"] for p in s], [p["cpu"] for p in s])
    res["shared_mem_slope"], _ = benchlib.linear_fit([p["viewers"] for p in s], [p["rss_mib"] for p in s])
    b = [p for p in base if p["viewers"] >= 1]
    res["base_cpu_slope"], _ = benchlib.linear_fit([p["viewers"] for p in b], [p["cpu"] for p in b])
    res["base_mem_slope"], _ = benchlib.linear_fit([p["viewers"] for p in b], [p["rss_mib"] for p in b])
    by = {(p["kind"], p["viewers"]): p for p in data["points"]}
    s16, b16 = by.get(("shared", 16)), by.get(("baseline", 16))
    res["ratio16"] = b16["cpu"] / s16["cpu"] if s16 and b16 and s16["cpu"] > 0 else None
    # When the baseline cannot keep the source's frame rate, its CPU is a floor. Two labelled
    # estimates of what it would need: CPU scaled to the full frame rate (encoders' work is per
    # frame), and, when the 16-viewer point did not run at all, the baseline fit at 16.
    res["ratio16_scaled"] = None
    if s16 and b16 and s16["cpu"] > 0 and b16.get("fps") and b16["fps"]["mean"] > 0:
        if b16["fps"]["mean"] < 0.9 * data["fps"]:
            res["ratio16_scaled"] = b16["cpu"] * data["fps"] / b16["fps"]["mean"] / s16["cpu"]
    res["ratio16_fit"] = None
    if s16 and not b16 and s16["cpu"] > 0 and len(b) >= 2:
        _, icpt = benchlib.linear_fit([p["viewers"] for p in b], [p["cpu"] for p in b])
        res["ratio16_fit"] = (icpt + res["base_cpu_slope"] * 16) / s16["cpu"]
    res["marginal_ratio"] = (res["base_cpu_slope"] / res["shared_cpu_slope"]
                             if res["base_cpu_slope"] is not None and res["shared_cpu_slope"] else None)
    return res


def plot(data, ctx):
    plt = benchlib.plt()
    if plt is None:
        return None
    name = "fanout-cpu.png"
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for kind, label, style in (("shared", "roomcast (one shared encoder)", "o-"),
                               ("ladder", "roomcast ladder (3 shared encoders: 1, 1/2, 1/4)", "^-"),
                               ("baseline", "baseline (one encoder per viewer)", "s--")):
        pts = _series(data, kind)
        if pts:
            ax.plot([p["viewers"] for p in pts], [p["cpu"] for p in pts], style, label=label)
    ax.axhline(100.0 * data.get("cores", 2), color="grey", lw=0.8, ls=":", label="all cores")
    ax.set_xlabel("viewers")
    ax.set_ylabel("host CPU (% of one core)")
    ax.set_title("Host CPU vs viewers, %dx%d@%d VP8 %d kbit/s%s" % (
        data["width"], data["height"], data["fps"], data["kbps"], " (quick run)" if data.get("quick") else ""))
    return benchlib.save_plot(plt, fig, ax, ctx, name)


def render(data, ctx):
    a = analyse(data)
    by = {(p["kind"], p["viewers"]): p for p in data["points"]}
    out = ["### Fan-out: host cost per viewer", ""]
    out.append("Host: `gst-launch-1.0` with %s, VP8 at %d kbit/s inside `roomcastsink`. **shared** = one "
               "`roomcastsink` in one room (one encoder, a `tee`, one `webrtcbin` per viewer). **baseline** = the "
               "same source into a raw `tee` and N `roomcastsink` elements, each in its own room with one viewer: "
               "the same `webrtcbin` per viewer plus one encoder per viewer, as webrtcsink does. **ladder** = "
               "shared with `ladder=%s` (issue 14: full, half and quarter size encoded once, each viewer sent one "
               "layer; a layer's encoder runs only while some viewer is sent that layer: with no viewer nothing "
               "is encoded, and on these clean loopback links viewers start and stay on the top layer, so the "
               "ladder costs about what one encoder does, unless a viewer steps down: on a saturated machine a "
               "viewer process too busy to read its packets in time asks for them again, the host reads that as "
               "loss, and the lower layers' encoders start). Viewers: one "
               "process (`tests/bench/viewers.py`) with N `roomcastsrc encoded=true` into fakesinks; every viewer "
               "must receive frames, and its frame count over the window is the delivered frame rate. CPU: the "
               "host process only (utime+stime from /proc/PID/stat over %.0f s after %.0f s of settling, after all "
               "viewers received media), %% of one core; RSS: VmRSS at the end of the window. Machine has %d cores."
               % (data["content"], data["kbps"], LADDER, data["window_s"], data["settle_s"], data.get("cores", 0)))
    out.append("")
    rows = []
    for n in data["counts"]:
        s, b, l = by.get(("shared", n)), by.get(("baseline", n)), by.get(("ladder", n))
        ratio = b["cpu"] / s["cpu"] if s and b and s["cpu"] > 0 else None
        rows.append([n, fmt(s and s["cpu"]), fmt(s and s["rss_mib"]), fmt(s and s.get("fps", {}).get("min")),
                     fmt(l and l["cpu"]), fmt(l and l.get("fps", {}).get("min")),
                     fmt(b and b["cpu"]), fmt(b and b["rss_mib"]), fmt(b and b.get("fps", {}).get("min")),
                     fmt(ratio, 2), fmt(l["cpu"] / s["cpu"] if s and l and s["cpu"] > 0 else None, 2),
                     fmt(s and s.get("viewer_process_cpu")), fmt(b and b.get("viewer_process_cpu"))])
    out.append(benchlib.table(["viewers", "shared CPU %", "shared RSS MiB", "shared min fps", "ladder CPU %",
                               "ladder min fps", "baseline CPU %", "baseline RSS MiB", "baseline min fps",
                               "ratio baseline/shared CPU", "ratio ladder/shared CPU",
                               "viewers' process CPU % (shared)", "(baseline)"], rows))
    out.append("")
    out.append("fps = the lowest frame rate any one viewer received during the window (source: %d fps)." % data["fps"])
    out.append("")
    out.append("Marginal cost per viewer (least-squares slope over the points; shared includes 0 viewers, "
               "baseline starts at 1):")
    out.append("")
    out.append(benchlib.table(["", "CPU % of a core per viewer", "RSS MiB per viewer"], [
        ["shared", fmt(a["shared_cpu_slope"], 2), fmt(a["shared_mem_slope"], 2)],
        ["ladder", fmt(a.get("ladder_cpu_slope"), 2), ""],
        ["baseline", fmt(a["base_cpu_slope"], 2), fmt(a["base_mem_slope"], 2)]]))
    out.append("")
    out.append("Targets:")
    sc, sm = a["shared_cpu_slope"], a["shared_mem_slope"]
    out.append(benchlib.target_line("marginal host CPU per viewer", fmt(sc, 2, "% of a core"), "≤ %.1f%%" % TARGET_MARGINAL_CPU,
                                    None if sc is None else sc <= TARGET_MARGINAL_CPU))
    r16 = a["ratio16"]
    out.append(benchlib.target_line("baseline CPU / shared CPU at 16 viewers", fmt(r16, 2, "×"),
                                    "≥ %.0f×" % TARGET_RATIO_AT_16, None if r16 is None else r16 >= TARGET_RATIO_AT_16))
    if a["ratio16_scaled"] is not None:
        out.append("  (the baseline did not keep %d fps at 16 viewers, so its CPU is a floor; scaled to the full "
                   "frame rate, an estimate, the ratio would be %s)" % (data["fps"], fmt(a["ratio16_scaled"], 1, "×")))
    if a["ratio16_fit"] is not None:
        out.append("  (the baseline at 16 viewers did not run; its least-squares line at 16, an estimate, gives "
                   "a ratio of %s)" % fmt(a["ratio16_fit"], 1, "×"))
    out.append("  (marginal ratio, baseline slope / shared slope: %s)" % fmt(a["marginal_ratio"], 1, "×"))
    out.append(benchlib.target_line("host memory per viewer", fmt(sm, 2, " MiB"), "≤ %.0f MiB" % TARGET_MARGINAL_MIB,
                                    None if sm is None else sm <= TARGET_MARGINAL_MIB))
    # Honesty about saturation: a host that cannot keep the source's frame rate is not measured
    # at full load; its CPU is a floor, and its ratio is too.
    slow = [p for p in data["points"] if p.get("fps") and p["fps"]["min"] < 0.9 * data["fps"]]
    if slow:
        out.append("")
        out.append("**Not keeping up:** " + "; ".join(
            "%s at %d viewers delivered %.1f fps at worst (mean %.1f) with the host at %.0f%% CPU" % (
                p["kind"], p["viewers"], p["fps"]["min"], p["fps"]["mean"], p["cpu"]) for p in slow) +
            ". A host that falls short of the source's frame rate was short of CPU (its own load on %d cores, "
            "or other work on the machine: see the load average above), so its CPU is a floor of what the "
            "full rate needs and a ratio involving it is not reliable." % data.get("cores", 0))
    if 16 not in data["counts"]:
        out.append("")
        out.append("(This run stopped at %d viewers, so the 16-viewer ratio was not measured.)" % max(data["counts"]))
    if data["errors"]:
        out.append("")
        out.append("**Failed points** (not counted):")
        for e in data["errors"]:
            out.append("- %s at %d viewers: `%s`" % (e["kind"], e["viewers"], e["error"].splitlines()[0][:300]))
    png = plot(data, ctx)
    if png:
        out.append("")
        out.append(benchlib.plot_link(ctx, png, "host CPU vs viewers"))
    return "\n".join(out)


def next_steps(data, ctx):
    a = analyse(data)
    sc, sm = a["shared_cpu_slope"], a["shared_mem_slope"]
    nxt = []
    if sc is not None and sc > TARGET_MARGINAL_CPU:
        nxt.append("Fan-out: each viewer costs %.2f%% of a core (target %.1f%%): the per-viewer path is "
                   "queue → webrtcbin (RTP session, SRTP encryption, libnice send) per packet; profile it "
                   "with perf and look for per-viewer work that could be shared (e.g. payloading already is)." %
                   (sc, TARGET_MARGINAL_CPU))
    if sm is not None and sm > TARGET_MARGINAL_MIB:
        nxt.append("Fan-out memory: %.2f MiB per viewer (target %.0f MiB): webrtcbin's per-peer elements, "
                   "queues and their threads." % (sm, TARGET_MARGINAL_MIB))
    return nxt


if __name__ == "__main__":
    benchlib.cli("fanout")
