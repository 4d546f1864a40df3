#!/usr/bin/python3
"""The per-viewer ladder (issue 14) against the single stream, side by side in one run.

Two network namespaces joined by tests/netlab/netlab.py: `roomcast live` (embedded server, test
pattern 640x360@15, VP8 2 Mbit/s) on side A with a clean `roomcast watch` beside it, and a
capped `roomcast watch` on side B behind a token-bucket cap (200 ms queue, tail drop). Each cap
runs the host twice, `--ladder off` (one stream) and `--ladder 1,0.5,0.25`, interleaved. Counted
over a window that starts 10 s after the capped viewer's first frame (the ladder settles): both
viewers' decoded frames and longest pause, the capped viewer's layer changes in the window (from
the host's `viewer ID layer N` lines), and the host's CPU (% of one core) over the window.
Needs root.
"""
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "netlab"))
import benchlib  # noqa: E402
from benchlib import fmt  # noqa: E402
from netlab import ADDR_A, Impair, Lab  # noqa: E402

FPS = 15
CAPS = [600, 1500]
MODES = [("single", "off"), ("ladder", "1,0.5,0.25")]
SETTLE_S = 10.0
LAYER = re.compile(r"viewer (\S+) layer (\d)")
JOINED = re.compile(r"viewer (\S+) joined")


def one(ctx, cap, ladder, window_s):
    env = ctx.env()
    port = 8443
    ws = "ws://%s:%d/ws" % (ADDR_A, port)
    with Lab(a_to_b=Impair(rate_kbit=cap, queue_ms=200), b_to_a=Impair()) as lab:
        host = ctx.start(lab.a.prefix() + [ctx.roomcast, "live", "--host", ADDR_A, "--port", str(port), "--room",
                                           "ladder", "--source", "test", "--size", "640x360", "--fps", str(FPS),
                                           "--ice-loopback", "off", "--ladder", ladder], name="live", env=env,
                         limit=120)
        host.wait_line(r"is live", 20)

        def watch(ns, name):
            n = len(host.text_lines())
            w = ctx.start(ns.prefix() + [ctx.roomcast, "watch", "--server", ws, "--room", "ladder", "--sink", "fake",
                                         "--progress", "--ice-loopback", "off"], name=name, env=env, limit=120)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                ids = [m.group(1) for m in map(JOINED.search, host.text_lines(n)) if m]
                if ids:
                    return w, ids[0]
                time.sleep(0.1)
            return w, None
        capped, capped_id = watch(lab.b, "capped")
        clean, _ = watch(lab.a, "clean")

        def progress(w):
            return [json.loads(l[len("progress "):]) for l in w.text_lines() if l.startswith("progress {")]
        deadline = time.monotonic() + 40
        while not any(r["frames"] > 0 for r in progress(capped)):
            if time.monotonic() > deadline or not capped.alive():
                for p in (host, capped, clean):
                    p.kill()
                return {"error": "no frame within 40 s"}
            time.sleep(0.2)
        time.sleep(SETTLE_S)
        a, ca = progress(capped)[-1], progress(clean)[-1]
        n_host = len(host.text_lines())
        cpu, _ = benchlib.measure_cpu([host.pid], window_s)
        recs = [r for r in progress(capped) if r["t_ms"] > a["t_ms"]]
        crecs = [r for r in progress(clean) if r["t_ms"] > ca["t_ms"]]
        changes = [int(m.group(2)) for m in map(LAYER.search, host.text_lines(n_host))
                   if m and m.group(1) == capped_id]
        before = [int(m.group(2)) for m in map(LAYER.search, host.text_lines()[:n_host])
                  if m and m.group(1) == capped_id]
        for p in (host, capped, clean):
            p.kill()
            ctx.procs.remove(p)
    z, cz = recs[-1], crecs[-1]
    secs = (z["t_ms"] - a["t_ms"]) / 1000.0
    csecs = (cz["t_ms"] - ca["t_ms"]) / 1000.0
    return {
        "decoded_pct": 100.0 * (z["frames"] - a["frames"]) / (FPS * secs),
        "longest_pause_ms": max(r["gap_ms"] for r in recs),
        "clean_decoded_pct": 100.0 * (cz["frames"] - ca["frames"]) / (FPS * csecs),
        "clean_pause_ms": max(r["gap_ms"] for r in crecs),
        "layer_at_start": before[-1] if before else 0,
        "layer_changes": changes,
        "host_cpu_pct": cpu[host.pid],
        "window_s": secs,
    }


def run(ctx):
    if os.geteuid() != 0:
        raise RuntimeError("needs root (network namespaces, /dev/net/tun)")
    window = 8 if ctx.quick else 20
    rows = []
    for cap in CAPS:
        for mode, ladder in MODES:
            ctx.log("cap %d kbit/s, %s" % (cap, mode))
            r = one(ctx, cap, ladder, window)
            r.update({"cap_kbit": cap, "mode": mode})
            ctx.log("  %s" % {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()})
            rows.append(r)
    return {"rows": rows, "window_s": window, "fps": FPS}


def render(data, ctx):
    out = ["### Ladder: a capped viewer, single stream vs the per-viewer ladder", "",
           "640x360@%d VP8 (2 Mbit/s; ladder `1,0.5,0.25`: 2000, ~707, ~250 kbit/s) from `roomcast live` to a "
           "`roomcast watch` behind a netlab cap (200 ms queue) and a clean one beside the host. Counted over %d s "
           "starting 10 s after the capped viewer's first frame; host CPU in %% of one core over the same window. "
           "Both modes in one run." % (data["fps"], data["window_s"]), ""]
    body = []
    for r in data["rows"]:
        if "error" in r:
            body.append(["%d kbit/s" % r["cap_kbit"], r["mode"]] + ["—"] * 5 + [r["error"]])
            continue
        body.append(["%d kbit/s" % r["cap_kbit"], r["mode"], fmt(r["decoded_pct"], 1, "%"),
                     ("%d ms" % r["longest_pause_ms"]) if r["decoded_pct"] > 0 else "frozen (no frame)",
                     fmt(r["clean_decoded_pct"], 1, "%"),
                     "%d ms" % r["clean_pause_ms"],
                     ("%d" % r["layer_at_start"]) + (" → " + ",".join(map(str, r["layer_changes"]))
                                                    if r["layer_changes"] else ""),
                     fmt(r["host_cpu_pct"], 0, "%")])
    out.append(benchlib.table(["cap", "host", "capped: decoded", "capped: longest pause", "clean: decoded",
                               "clean: longest pause", "capped viewer's layer (changes)", "host CPU"], body))
    return "\n".join(out)


def next_steps(data, ctx):
    return []


if __name__ == "__main__":
    benchlib.cli("ladder")
