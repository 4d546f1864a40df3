#!/usr/bin/python3
"""Scale-out through Janus: the host's CPU and uplink against the audience, with and without a
Janus node, and Janus's own CPU per subscriber; both measured side by side in one run.

- direct: `roomcast serve`; the host (`roomcast live --source test`, 1280x720@30 VP8 2000 kbit/s)
  serves every viewer itself (one webrtcbin per viewer behind one encoder);
- janus: `roomcast serve --sfu janus=ws://…` with one real Janus node (Debian's janus, started
  here on loopback): the host publishes once into the node, the node serves the viewers.
Viewers: one process (viewers.py) with N roomcastsrc elements (encoded output, no decoding);
every viewer must receive frames. CPU: utime+stime from /proc over the window, % of one core, per
process (host, Janus, viewers). Uplink: the host's own roomcast_host_sent_bits_per_second
(`live --metrics`), the mean of its samples over the window.
"""
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import benchlib  # noqa: E402
from benchlib import fmt  # noqa: E402
import janus_nodes  # noqa: E402
from fanout import last_counts, wait_counts  # noqa: E402

KBPS = 2000


def host_metrics(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def measure_point(ctx, mode, n, node, settle, window):
    extra = ["--sfu", "janus=" + node.url] if mode == "janus" else []
    serve, ws = ctx.serve(*extra)
    if mode == "janus":
        serve.wait_line(r"^$|listening", 1)
        time.sleep(1.0)  # the server's session with the node
    room = "jb-%s-%d" % (mode, n)
    host = ctx.start([ctx.roomcast, "live", "--server", ws, "--room", room, "--source", "test",
                      "--size", "1280x720", "--bitrate", str(KBPS), "--metrics", "127.0.0.1:0"],
                     name="host-%s-%d" % (mode, n), limit=300)
    viewers = None
    try:
        _, m = host.wait_line(r"host metrics at (http://127\.0\.0\.1:\d+/metrics)$", 20)
        murl = m.group(1)
        host.wait_line(r"is live", 20)
        hpid = host.pid
        viewers = ctx.start(["/usr/bin/python3", os.path.join(HERE, "viewers.py"), "--server", ws]
                            + ["--room", room] * n, name="viewers-%d" % n, limit=300)
        t0 = time.monotonic()
        while True:
            _, c = last_counts(viewers)
            if c and all(x > 0 for x in c):
                break
            if not viewers.alive() or not host.alive():
                raise RuntimeError("%s at %d: a process exited: %s %s" % (mode, n, viewers.stderr(), host.stderr()))
            if time.monotonic() - t0 > 30 + n:
                raise RuntimeError("%s at %d: %s of %d viewers received media" % (
                    mode, n, sum(1 for x in (c or []) if x > 0), n))
            time.sleep(0.2)
        time.sleep(settle)
        pids = [hpid, viewers.pid] + ([node.pid] if mode == "janus" else [])
        c0 = wait_counts(viewers, time.monotonic() - 0.01, 3)
        rates, peers = [], []
        cpu_start = {p: benchlib.cpu_seconds(p) for p in pids}
        t_start = time.monotonic()
        while time.monotonic() - t_start < window:
            time.sleep(1.0)
            h = host_metrics(murl)
            rates.append(h.get("roomcast_host_sent_bits_per_second", 0.0))
            peers.append(h.get("roomcast_host_viewers", 0.0))
        dt = time.monotonic() - t_start
        cpu = {p: 100.0 * (benchlib.cpu_seconds(p) - cpu_start[p]) / dt for p in pids}
        c1 = wait_counts(viewers, time.monotonic() - 0.01, 3)
        span = c1[0] - c0[0]
        fps = [(b - a) / span for a, b in zip(c0[1], c1[1])]
        point = {"mode": mode, "viewers": n, "host_cpu": cpu[hpid], "viewers_cpu": cpu[viewers.pid],
                 "janus_cpu": cpu[node.pid] if mode == "janus" else None,
                 "uplink_kbps": sum(rates) / len(rates) / 1e3, "host_peers": max(peers),
                 "fps_min": min(fps), "fps_mean": sum(fps) / len(fps), "window_s": dt}
        ctx.log("%s n=%d: host %.1f%% %.0f kbit/s (%d peers), janus %s%%, min fps %.1f" % (
            mode, n, point["host_cpu"], point["uplink_kbps"], point["host_peers"],
            fmt(point["janus_cpu"]), point["fps_min"]))
        return point
    finally:
        if viewers:
            viewers.interrupt(5)
            viewers.kill()
        host.interrupt(5)
        host.kill()
        serve.kill()


def run(ctx):
    if not janus_nodes.available():
        raise RuntimeError("Debian's janus package is not installed")
    counts = [1, 4] if ctx.quick else [1, 4, 8, 16]
    settle, window = (2.0, 4.0) if ctx.quick else (3.0, 10.0)
    node = janus_nodes.JanusNode("janus-bench", debug_level=2)
    points, errors = [], []
    try:
        for n in counts:
            for mode in ("direct", "janus"):
                try:
                    points.append(measure_point(ctx, mode, n, node, settle, window))
                except Exception as e:
                    ctx.log("FAILED: %s" % e)
                    errors.append({"mode": mode, "viewers": n, "error": str(e)[-1500:]})
    finally:
        node.stop()
    return {"counts": counts, "points": points, "errors": errors, "kbps": KBPS, "settle_s": settle,
            "window_s": window, "cores": os.cpu_count(), "quick": ctx.quick}


def render(data, ctx):
    pts = {(p["mode"], p["viewers"]): p for p in data["points"]}
    rows = []
    for n in data["counts"]:
        d, j = pts.get(("direct", n)), pts.get(("janus", n))
        rows.append([str(n),
                     fmt(d and d["host_cpu"]), fmt(d and d["uplink_kbps"], 0), fmt(d and d["fps_min"]),
                     fmt(j and j["host_cpu"]), fmt(j and j["uplink_kbps"], 0), fmt(j and j["host_peers"], 0),
                     fmt(j and j["janus_cpu"]), fmt(j and j["fps_min"])])
    md = ["### Scale-out through Janus: host cost vs audience, Janus CPU per subscriber", "",
          "Host: `roomcast live --source test` 1280x720@30, VP8 at %d kbit/s. **direct**: `roomcast serve`, "
          "the host serves each viewer. **janus**: `roomcast serve --sfu janus=ws://…` with one Janus 1.1.2 node "
          "(VideoRoom) on loopback: the host publishes once, the node serves the viewers. Viewers: one process "
          "(`tests/bench/viewers.py`, N `roomcastsrc encoded=true`). CPU: %% of one core over a %.0f s window; "
          "uplink: the host's `roomcast_host_sent_bits_per_second`, mean over the window. Machine: %d cores, "
          "shared by all these processes." % (data["kbps"], data["window_s"], data["cores"]), "",
          benchlib.table(["viewers", "direct host CPU %", "direct uplink kbit/s", "direct min fps",
                          "janus host CPU %", "janus uplink kbit/s", "host peers", "Janus CPU %", "janus min fps"],
                         rows)]
    j = sorted((p for p in data["points"] if p["mode"] == "janus"), key=lambda p: p["viewers"])
    d = sorted((p for p in data["points"] if p["mode"] == "direct"), key=lambda p: p["viewers"])
    if len(j) >= 2:
        js, _ = benchlib.linear_fit([p["viewers"] for p in j], [p["janus_cpu"] for p in j])
        jh, _ = benchlib.linear_fit([p["viewers"] for p in j], [p["host_cpu"] for p in j])
        line = ["", "Marginal cost per viewer (least-squares slope): Janus %.2f%% of a core per subscriber; "
                "the host behind Janus %.2f%%" % (js, jh)]
        if len(d) >= 2:
            ds, _ = benchlib.linear_fit([p["viewers"] for p in d], [p["host_cpu"] for p in d])
            du, _ = benchlib.linear_fit([p["viewers"] for p in d], [p["uplink_kbps"] for p in d])
            line[-1] += "; the host serving directly %.2f%% and %.0f kbit/s of uplink per viewer" % (ds, du)
        md += [line[0], line[1] + "."]
    for e in data.get("errors", []):
        md += ["", "**Failed:** %s at %d viewers: `%s`" % (e["mode"], e["viewers"], e["error"][-300:])]
    return "\n".join(md)


if __name__ == "__main__":
    benchlib.cli("janus")
