#!/usr/bin/python3
"""Meeting: CPU per member as the room grows (mesh: each member encodes once and sends to every
other member, and decodes every other member).

Members are `roomcast meet --source test --size 640x360 --fps 15 --sink fake` on a `roomcast
serve`, joining about a second apart. For each room size n: wait until every member sees the
n-1 others ('seeing <name> (<id>)' minus '<name> (<id>) left'), settle, then measure every member's CPU
over a window; SIGUSR1 before and after the window gives each member's frame counts per sender,
and every pair must have gained frames (else the point fails).
"""
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import fmt  # noqa: E402

SIZE, FPS = "640x360", 15
ROOM = "bench-meet"


def seen_now(member):
    """Names this member currently sees."""
    present = {}
    for line in member.text_lines():
        m = re.search(r"roomcast meet: seeing (.*) \((\S+)\)$", line)
        if m:
            present[m.group(2)] = m.group(1)
            continue
        m = re.search(r"roomcast meet: (.*) \((\S+)\) left$", line)
        if m:
            present.pop(m.group(2), None)
    return set(present.values())


def snapshot(member, timeout=10):
    """SIGUSR1: the member's frame counts so far, {sender name: frames}."""
    mark = len(member.lines)
    member.signal(signal.SIGUSR1)
    member.wait_line(r"report end", timeout, start=mark)
    out = {}
    for line in member.text_lines(mark):
        if line.startswith("{"):
            r = json.loads(line)
            out[r["name"]] = r["frames"]
        elif "report end" in line:
            break
    return out


def run(ctx):
    sizes = [2, 3] if ctx.quick else [2, 3, 4, 5, 6]
    settle, window = (2.0, 3.0) if ctx.quick else (3.0, 10.0)
    _, ws = ctx.serve()
    members, names = [], []
    points, errors = [], []

    def add(name):
        m = ctx.start([ctx.roomcast, "meet", "--server", ws, "--room", ROOM, "--name", name, "--source", "test",
                       "--size", SIZE, "--fps", str(FPS), "--sink", "fake", "--timeout", "900"], name=name, limit=960)
        members.append(m)
        names.append(name)

    add("m0")
    for n in sizes:
        while len(members) < n:
            time.sleep(1.0)
            add("m%d" % len(members))
        try:
            t0 = time.monotonic()
            deadline = t0 + 60
            while True:
                missing = {nm: sorted(set(names) - {nm} - seen_now(m)) for nm, m in zip(names, members)}
                missing = {k: v for k, v in missing.items() if v}
                if not missing:
                    break
                for m in members:
                    if not m.alive():
                        raise RuntimeError("%s exited: %s" % (m.name, m.stderr()))
                if time.monotonic() > deadline:
                    raise RuntimeError("%d members: not everyone sees everyone after 60 s: missing %s" % (n, missing))
                time.sleep(0.3)
            formed = time.monotonic() - t0
            time.sleep(settle)
            pids = [m.pid for m in members]
            before = [snapshot(m) for m in members]
            cpu, dt = benchlib.measure_cpu(pids, window)
            after = [snapshot(m) for m in members]
            rss = [benchlib.rss_kib(p) / 1024.0 for p in pids]
            pair_fps = {}
            for nm, b, a in zip(names, before, after):
                for other in names:
                    if other != nm:
                        pair_fps["%s<-%s" % (nm, other)] = (a.get(other, 0) - b.get(other, 0)) / dt
            stalled = sorted(k for k, v in pair_fps.items() if v <= 0)
            if stalled:
                raise RuntimeError("%d members: no frames during the window on %s" % (n, ", ".join(stalled)))
            per = [cpu[p] for p in pids]
            point = {"members": n, "first_cpu": per[0], "mean_cpu": sum(per) / n, "cpu": per, "rss_mib": rss,
                     "fps_min": min(pair_fps.values()), "fps_mean": sum(pair_fps.values()) / len(pair_fps),
                     "formed_s": round(formed, 1), "window_s": dt}
            points.append(point)
            ctx.log("meeting n=%d: first %.1f%%, mean %.1f%%, fps min %.1f" % (n, point["first_cpu"],
                                                                             point["mean_cpu"], point["fps_min"]))
        except Exception as e:
            ctx.log("FAILED: %s" % e)
            errors.append({"members": n, "error": str(e)[-1500:]})
    for m in members:
        m.interrupt(10)
    return {"sizes": sizes, "points": points, "errors": errors, "size": SIZE, "fps": FPS, "window_s": window,
            "settle_s": settle, "quick": ctx.quick, "cores": os.cpu_count()}


def plot(data, ctx):
    plt = benchlib.plt()
    if plt is None or not data["points"]:
        return None
    name = "meeting-cpu.png"
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=100)
    pts = data["points"]
    ax.plot([p["members"] for p in pts], [p["first_cpu"] for p in pts], "o-", label="first member")
    ax.plot([p["members"] for p in pts], [p["mean_cpu"] for p in pts], "s--", label="mean over members")
    ax.set_xlabel("members in the room")
    ax.set_ylabel("CPU per member (% of one core)")
    ax.set_title("Meeting, %s@%d test pattern%s" % (data["size"], data["fps"], " (quick run)" if data.get("quick") else ""))
    return benchlib.save_plot(plt, fig, ax, ctx, name)


def render(data, ctx):
    out = ["### Meeting: CPU per member", ""]
    out.append("Members: `roomcast meet --source test --size %s --fps %d --sink fake` (a moving test pattern, "
               "VP8, decoded frames dropped), joining about 1 s apart on a `roomcast serve`. For each room size, "
               "once every member sees all others, %.0f s of settling, then each member's CPU (utime+stime from "
               "/proc) over %.0f s. Every member's frame counts per sender (SIGUSR1) before and after the window "
               "must grow for every pair. All members run on the same %d-core machine, so at larger sizes they "
               "compete for it (the total is members × mean)." % (data["size"], data["fps"], data["settle_s"],
                                                                    data["window_s"], data.get("cores", 0)))
    out.append("")
    rows = []
    for p in data["points"]:
        rows.append([p["members"], fmt(p["first_cpu"]), fmt(p["mean_cpu"]), fmt(p["mean_cpu"] * p["members"]),
                     fmt(sum(p["rss_mib"]) / len(p["rss_mib"])), fmt(p["fps_min"]), fmt(p["fps_mean"]),
                     fmt(p["formed_s"])])
    out.append(benchlib.table(["members", "first member CPU %", "mean CPU % per member", "all members CPU %",
                               "mean RSS MiB", "min fps (any pair)", "mean fps", "mesh formed in s"], rows))
    if data["errors"]:
        out.append("")
        out.append("**Failed sizes** (not counted):")
        for e in data["errors"]:
            out.append("- %d members: `%s`" % (e["members"], e["error"].splitlines()[0][:300]))
    slow = [p for p in data["points"] if p["fps_min"] < 0.9 * data["fps"]]
    if slow:
        out.append("")
        out.append("**Not keeping up:** " + "; ".join("%d members: a pair received %.1f fps at worst" % (
            p["members"], p["fps_min"]) for p in slow) + " (source %d fps)." % data["fps"])
    png = plot(data, ctx)
    if png:
        out.append("")
        out.append(benchlib.plot_link(ctx, png, "meeting CPU per member"))
    return "\n".join(out)


def next_steps(data, ctx):
    pts = data["points"]
    if len(pts) < 2:
        return []
    slope, _ = benchlib.linear_fit([p["members"] for p in pts], [p["mean_cpu"] for p in pts])
    if slope is None or slope <= 0:
        return []
    out = ["Meeting: each further member adds about %.1f%% of a core to every member (least-squares over the "
           "room sizes: one more decode and one more send branch each)." % slope]
    slow = [p["members"] for p in pts if p["fps_min"] < 0.9 * data["fps"]]
    if slow:
        out[0] += " From %d members on, some pair received less than 90%% of %d fps." % (min(slow), data["fps"])
    return out


if __name__ == "__main__":
    benchlib.cli("meeting")
