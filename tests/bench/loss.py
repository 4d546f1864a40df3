#!/usr/bin/python3
"""A GStreamer viewer behind a lossy link: share of the source's frames decoded, longest pause,
and the repair counted from the viewer's stats.

Two network namespaces joined by tests/netlab/netlab.py (a user-space forwarder: this kernel has
no netem): `roomcast live` (embedded server, test pattern 640x360@15, VP8 2 Mbit/s) on side A,
`roomcast watch --progress` on side B. Loss is random and applies both ways (so NACKs and
reports are lost too); one row adds 50 ms ± 10 ms of delay each way (a 100 ms round trip, in
order). Frames are counted over a window that starts 3 s after the first frame.

With ROOMCAST_BENCH_BEFORE=<build dir of another commit> every row also runs that build, in
the same run, interleaved (before, after, before, after ...), so the two see the same machine.
Needs root.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "netlab"))
import benchlib  # noqa: E402
from benchlib import fmt  # noqa: E402
from netlab import ADDR_A, Impair, Lab  # noqa: E402

FPS = 15
ROWS = [
    ("clean", dict()),
    ("1% loss", dict(loss=1)),
    ("5% loss", dict(loss=5)),
    ("10% loss", dict(loss=10)),
    ("5% loss, 50 ± 10 ms delay", dict(loss=5, delay_ms=50, jitter_ms=10)),
]
SETTLE_S = 3.0


def builds(ctx):
    out = [("now", ctx.roomcast, ctx.plugin_dir)]
    before = os.environ.get("ROOMCAST_BENCH_BEFORE")
    if before:
        out.insert(0, ("before", os.path.join(before, "src", "app", "roomcast"),
                       os.path.join(before, "plugins", "roomcast")))
    return out


def one(ctx, impair, roomcast, plugin_dir, window_s, seed):
    env = ctx.env()
    env["GST_PLUGIN_PATH"] = plugin_dir
    with Lab(a_to_b=Impair(**impair), b_to_a=Impair(**impair), seed=seed) as lab:
        port = 8443
        host = ctx.start(lab.a.prefix() + [roomcast, "live", "--host", ADDR_A, "--port", str(port), "--room", "loss",
                                           "--source", "test", "--size", "640x360", "--fps", str(FPS),
                                           "--ice-loopback", "off"], name="live", env=env, limit=120)
        host.wait_line(r"is live", 20)
        w = ctx.start(lab.b.prefix() + [roomcast, "watch", "--server", "ws://%s:%d/ws" % (ADDR_A, port), "--room",
                                        "loss", "--sink", "fake", "--progress", "--ice-loopback", "off"],
                      name="watch", env=env, limit=120)

        def progress():
            return [json.loads(l[len("progress "):]) for l in w.text_lines() if l.startswith("progress {")]
        deadline = time.monotonic() + 40
        while not any(r["frames"] > 0 for r in progress()):
            if time.monotonic() > deadline or not w.alive():
                host.kill()
                w.kill()
                return {"error": "no frame within 40 s"}
            time.sleep(0.2)
        first = next(r for r in progress() if r["frames"] > 0)
        time.sleep(SETTLE_S)
        a = progress()[-1]
        time.sleep(window_s)
        recs = [r for r in progress() if r["t_ms"] > a["t_ms"]]
        z = recs[-1]
        link_stats = lab.stats()
        host.kill()
        w.kill()
        ctx.procs.remove(host)
        ctx.procs.remove(w)
    secs = (z["t_ms"] - a["t_ms"]) / 1000.0
    la, lz = a.get("link", {}), z.get("link", {})
    return {
        "first_frame_s": first["t_ms"] / 1000.0,
        "decoded_pct": 100.0 * (z["frames"] - a["frames"]) / (FPS * secs),
        "longest_pause_ms": max(r["gap_ms"] for r in recs),
        "packets": lz.get("packets_received", 0) - la.get("packets_received", 0),
        "rtx_requested": lz.get("rtx_requested", 0) - la.get("rtx_requested", 0),
        "rtx_recovered": lz.get("rtx_recovered", 0) - la.get("rtx_recovered", 0),
        "given_up": lz.get("packets_given_up", 0) - la.get("packets_given_up", 0),
        "latency_ms": lz.get("latency_ms"),
        "link": link_stats,
        "window_s": secs,
    }


def run(ctx):
    if os.geteuid() != 0:
        raise RuntimeError("needs root (network namespaces, /dev/net/tun)")
    window = 8 if ctx.quick else 20
    repeats = 1 if ctx.quick else 2
    rows = []
    for label, impair in ROWS:
        for rep in range(repeats):
            for which, roomcast, plugin_dir in builds(ctx):
                ctx.log("%s, %s, run %d" % (label, which, rep + 1))
                r = one(ctx, impair, roomcast, plugin_dir, window, seed=rep + 1)
                r.update({"row": label, "build": which, "run": rep + 1})
                ctx.log("  %s" % {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items() if k != "link"})
                rows.append(r)
    return {"rows": rows, "window_s": window, "fps": FPS, "before": os.environ.get("ROOMCAST_BENCH_BEFORE")}


def render(data, ctx):
    out = ["### Loss: a GStreamer viewer behind a lossy link", "",
           "640x360@%d VP8 (2 Mbit/s) from `roomcast live` to `roomcast watch` across a netlab link (random loss both "
           "ways; one row also 50 ± 10 ms each way, in order). Counted over %d s starting 3 s after the first frame; "
           "the repair from the viewer's stats (retransmissions asked for, received in time, packets given up) and "
           "its fitted jitterbuffer latency. Each row's runs side by side in one run." % (data["fps"], data["window_s"]),
           ""]
    body = []
    for r in data["rows"]:
        if "error" in r:
            body.append([r["row"], r["build"], "—", "—", "—", "—", "—", "—", r["error"]])
            continue
        stats = r.get("latency_ms") is not None  # an older watch prints no link numbers
        body.append([r["row"], r["build"], fmt(r["decoded_pct"], 1, "%"), "%d ms" % r["longest_pause_ms"]] +
                    ([str(r["rtx_requested"]), str(r["rtx_recovered"]), str(r["given_up"]), "%s ms" % r["latency_ms"]]
                     if stats else ["—"] * 4) + [fmt(r["first_frame_s"], 1, " s")])
    out.append(benchlib.table(["link", "build", "frames decoded", "longest pause", "rtx asked", "rtx in time",
                               "given up", "latency", "first frame"], body))
    if data.get("before"):
        out.append("")
        out.append("`before`: the build in %s." % data["before"])
    return "\n".join(out)


def next_steps(data, ctx):
    nxt = []
    for r in data["rows"]:
        if r.get("build") == "now" and r["row"].startswith("5%") and "error" not in r:
            if r["decoded_pct"] < 95 or r["longest_pause_ms"] >= 500:
                nxt.append("Loss (%s): %.1f%% decoded, longest pause %d ms (target ≥ 95%%, < 500 ms)." % (
                    r["row"], r["decoded_pct"], r["longest_pause_ms"]))
    return nxt


if __name__ == "__main__":
    benchlib.cli("loss")
