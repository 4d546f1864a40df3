#!/usr/bin/python3
"""Temporal layers against the spatial ladder (issue 14): what each costs the host, what a viewer gets.

Every variant is one child process (this file with `--child VARIANT`: a Python GStreamer pipeline)
on the source the fan-out bench uses (videotestsrc pattern=smpte horizontal-speed=4 + timeoverlay,
1280x720@30 I420), each encoder configured as roomcastsink configures it (encoder-pool.cpp's
configure_vpx: deadline 1, cpu-used 8, CBR, lag-in-frames 0, keyframe-max-dist 600, one thread up to
1280x720, error-resilient default; VP9 also row-mt), each followed by its RTP payloader (mtu 1200,
15-bit picture ids) into a fakesink:

- source:    the source alone (what every variant pays before any encoder);
- single:    one vp8enc at 2000 kbit/s (roomcast's single stream);
- ladder:    raw tee, per layer queue ! videoscale ! WxH ! vp8enc: 1, 1/2, 1/4 at 100/35/12.5% of
             the bitrate (encoder-pool.cpp's build_ladder and ladder_share);
- temporal:  one vp8enc with 3 temporal layers (pattern 0,2,1,2; cumulative 40/60/100% of the
             bitrate), full size;
- temporal2: one vp8enc with 2 temporal layers (pattern 0,1; cumulative 60/100%), full size;
- tl-quarter: the 3-temporal-layer encoder and a quarter-size one (a two-encoder ladder whose top
             layer has temporal layers: does it cover the same bitrates as the three encoders?);
- vp9, vp9-temporal: the same single stream and 3 temporal layers with vp9enc.

The variants run interleaved (source, single, ladder, ..., then again) for several rounds, and the
report takes medians: the machine is shared, and a ratio of two figures taken minutes apart under
different load means little. CPU: the child's utime+stime (/proc/self/stat) over the window, % of
one core. Bitrate and frame rate: counted at the payloaders' src pads over the same window, per
temporal layer: for VP8 from the TID field of each packet's payload descriptor (GStreamer 1.22's
rtpvp8pay writes TID/Y/TL0PICIDX from vp8enc's GstVP8Meta); for VP9 from the frame's position in
the layer pattern (rtpvp9pay 1.22 writes no layer indices; the VP8 runs check that the pattern
position and the TID agree). After the window each child checks that a subset of layers decodes on
its own (its first 120 frames decoded as the full stream and as each subset: the subset's frames must
be bit-identical to the same frames of the full decode) and measures the full stream's luma PSNR
against the source (frames 30-119, before the window).
"""
import hashlib
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import fmt  # noqa: E402

# The fan-out bench's source and settings: the same picture, so that the two benches' figures compare.
from fanout import CONTENT, FPS, HEIGHT, KBPS, SOURCE, WIDTH  # noqa: E402

LADDER = (1.0, 0.5, 0.25)

# Temporal patterns: the layer of each frame in the period, the reference flags that make each
# layer depend on lower layers only (TL0 references and updates LAST only; TL1 references LAST and
# updates GOLDEN; TL2 references LAST and GOLDEN and updates nothing), which frames are sync frames
# (reference TL0 only), and each layer's cumulative share of the bitrate.
TL3 = {
    "ids": [0, 2, 1, 2],
    "decimator": [4, 2, 1],
    "shares": [0.4, 0.6, 1.0],
    "flags": ["no-ref-golden+no-ref-alt+no-upd-golden+no-upd-alt",
              "no-ref-golden+no-ref-alt+no-upd-last+no-upd-golden+no-upd-alt+no-upd-entropy",
              "no-ref-golden+no-ref-alt+no-upd-last+no-upd-alt+no-upd-entropy",
              "no-ref-alt+no-upd-last+no-upd-golden+no-upd-alt+no-upd-entropy"],
    "sync": [False, True, True, False],
}
TL2 = {
    "ids": [0, 1],
    "decimator": [2, 1],
    "shares": [0.6, 1.0],
    "flags": ["no-ref-golden+no-ref-alt+no-upd-golden+no-upd-alt",
              "no-ref-golden+no-ref-alt+no-upd-last+no-upd-golden+no-upd-alt+no-upd-entropy"],
    "sync": [False, True],
}
# name: (codec, [(scale, share of the bitrate, temporal pattern or None)]); shares as
# encoder-pool.cpp's ladder_share (scale^1.5).
VARIANTS = {
    "source": (None, []),
    "single": ("vp8", [(1.0, 1.0, None)]),
    "ladder": ("vp8", [(s, 1.0 if s >= 1.0 else s ** 1.5, None) for s in LADDER]),
    "temporal": ("vp8", [(1.0, 1.0, TL3)]),
    "temporal2": ("vp8", [(1.0, 1.0, TL2)]),
    "tl-quarter": ("vp8", [(1.0, 1.0, TL3), (0.25, 0.25 ** 1.5, None)]),
    "vp9": ("vp9", [(1.0, 1.0, None)]),
    "vp9-temporal": ("vp9", [(1.0, 1.0, TL3)]),
}
ORDER = ["source", "single", "ladder", "temporal", "temporal2", "tl-quarter", "vp9", "vp9-temporal"]
CAPTURE_FRAMES = 120         # encoded frames kept for the decode check (from the first, a keyframe)
PSNR_FROM = 30               # source/decoded luma compared from this frame (rate control settled)


# ---- the child: one variant's pipeline ---------------------------------------------------------

def encoder_desc(codec, kbps, w, h, tl, name):
    threads = 2 if w * h > 1280 * 720 else 1   # encoder-pool.cpp's vpx_threads_for
    d = ("%senc name=%s deadline=1 target-bitrate=%d lag-in-frames=0 keyframe-max-dist=600 threads=%d "
         "cpu-used=8 end-usage=cbr error-resilient=default" % (codec, name, kbps * 1000, threads))
    if codec == "vp9":
        d += " row-mt=true"
    if tl:
        d += (" temporal-scalability-number-layers=%d temporal-scalability-periodicity=%d "
              "temporal-scalability-layer-flags=\"<%s>\" temporal-scalability-layer-sync-flags=\"<%s>\"" % (
                  len(tl["decimator"]), len(tl["ids"]), ",".join(tl["flags"]),
                  ",".join("true" if s else "false" for s in tl["sync"])))
    return d


def vp8_descriptor(head):
    """(tid, sync) from the start of a VP8 RTP payload (RFC 7741), None when it has no TID."""
    if not head or not head[0] & 0x80:
        return None
    x = head[1]
    i = 2
    if x & 0x80:
        i += 2 if head[i] & 0x80 else 1
    if x & 0x40:
        i += 1
    if x & 0x20 and i < len(head):
        return head[i] >> 6, bool(head[i] & 0x20)
    return None


class Layer:
    """Counters of one payloader's output."""

    def __init__(self, index, codec, width, height, kbps, tl):
        self.index, self.codec, self.width, self.height, self.kbps, self.tl = index, codec, width, height, kbps, tl
        self.frames = 0                       # frames payloaded so far (marker bits)
        self.bytes_by_tid = {}                # RTP bytes (header + payload) per temporal layer
        self.frames_by_tid = {}
        self.packets = 0
        self.tid_mismatch = 0                 # VP8: descriptor TID != pattern position's layer
        self.no_tid = 0
        self.cur_bytes = 0
        self.cur_tid = None
        self.captured = []                    # (pts, tid, encoded frame) of the first frames
        self.raw_y = {}                       # pts -> luma of the source frame (full-size layer)

    def snapshot(self):
        return {"frames": self.frames, "packets": self.packets, "bytes": dict(self.bytes_by_tid),
                "frames_by_tid": dict(self.frames_by_tid)}


def child(variant, settle, window):
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    codec, layers_spec = VARIANTS[variant]
    parts = [SOURCE + " ! videoconvert ! video/x-raw,format=I420 ! tee name=raw"]
    layers = []
    for i, (scale, share, tl) in enumerate(layers_spec):
        w, h = max(2, int(WIDTH * scale) & ~1), max(2, int(HEIGHT * scale) & ~1)
        kbps = max(1, int(KBPS * share + 0.5))
        chain = "raw. ! queue max-size-buffers=3 max-size-bytes=0 max-size-time=0 leaky=downstream"
        if scale < 1.0:
            chain += " ! videoscale ! video/x-raw,width=%d,height=%d" % (w, h)
        chain += " ! %s ! rtp%spay name=pay%d pt=96 mtu=1200 picture-id-mode=15-bit ! fakesink sync=false async=false" % (
            encoder_desc(codec, kbps, w, h, tl, "enc%d" % i), codec, i)
        parts.append(chain)
        layers.append(Layer(i, codec, w, h, kbps, tl))
    if not layers:
        parts.append("raw. ! queue max-size-buffers=3 leaky=downstream ! fakesink sync=false async=false")
    pipeline = Gst.parse_launch(" ".join(parts))
    for L in layers:
        enc = pipeline.get_by_name("enc%d" % L.index)
        tl = L.tl
        if tl:
            # GValueArray properties: gst-launch 1.22 cannot parse them, so they are set here.
            enc.set_property("temporal-scalability-layer-id", tl["ids"])
            enc.set_property("temporal-scalability-rate-decimator", tl["decimator"])
            enc.set_property("temporal-scalability-target-bitrate",
                             [int(L.kbps * 1000 * s) for s in tl["shares"]])
        pay = pipeline.get_by_name("pay%d" % L.index)
        pay.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST,
                                            on_rtp, L)
        if L.index == 0 and codec:
            pay.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_encoded, L)
            enc.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_raw, L)
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()

    def wait(seconds):
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            msg = bus.timed_pop_filtered(int(left * Gst.SECOND), Gst.MessageType.ERROR | Gst.MessageType.EOS)
            if msg is not None:
                raise RuntimeError("%s: %s" % (variant, msg.parse_error()[0].message
                                               if msg.type == Gst.MessageType.ERROR else "end of stream"))
    wait(settle)
    s0 = [L.snapshot() for L in layers]
    c0, t0 = benchlib.cpu_seconds(os.getpid()), time.monotonic()
    print("window %s" % variant, flush=True)
    wait(window)
    c1, t1 = benchlib.cpu_seconds(os.getpid()), time.monotonic()
    s1 = [L.snapshot() for L in layers]
    pipeline.set_state(Gst.State.NULL)
    dt = t1 - t0
    out = {"variant": variant, "cpu": 100.0 * (c1 - c0) / dt, "window_s": dt, "layers": []}
    for L, a, b in zip(layers, s0, s1):
        tids = sorted(set(b["bytes"]) | set(a["bytes"]))
        per = {}
        for t in tids:
            per[str(t)] = {"kbps": 8.0 * (b["bytes"].get(t, 0) - a["bytes"].get(t, 0)) / dt / 1000.0,
                           "fps": (b["frames_by_tid"].get(t, 0) - a["frames_by_tid"].get(t, 0)) / dt}
        out["layers"].append({
            "width": L.width, "height": L.height, "target_kbps": L.kbps,
            "kbps": sum(v["kbps"] for v in per.values()), "fps": (b["frames"] - a["frames"]) / dt,
            "by_tid": per, "tid_mismatch": L.tid_mismatch, "no_tid": L.no_tid,
            "tid_source": ("pattern position" if codec == "vp9" else "payload descriptor") if L.tl else None})
    if layers:
        out["check"] = decode_check(Gst, layers[0])
    print(json.dumps(out), flush=True)


def on_rtp(pad, info, L):
    from gi.repository import Gst
    if info.type & Gst.PadProbeType.BUFFER_LIST:
        bl = info.get_buffer_list()
        for k in range(bl.length()):
            rtp_packet(L, bl.get(k))
    else:
        rtp_packet(L, info.get_buffer())
    return Gst.PadProbeReturn.OK


def rtp_packet(L, buf):
    size = buf.get_size()
    head = buf.extract_dup(0, min(size, 24))
    cc = head[0] & 0x0F
    off = 12 + 4 * cc          # (rtpvp8pay/rtpvp9pay add no header extension here)
    marker = bool(head[1] & 0x80)
    L.packets += 1
    L.cur_bytes += size
    if L.cur_tid is None:
        pattern_tid = L.tl["ids"][L.frames % len(L.tl["ids"])] if L.tl else 0
        tid = pattern_tid
        if L.tl and L.codec == "vp8":
            d = vp8_descriptor(head[off:])
            if d is None:
                L.no_tid += 1
            else:
                tid = d[0]
                if tid != pattern_tid:
                    L.tid_mismatch += 1
        L.cur_tid = tid
    if marker:
        t = L.cur_tid
        L.bytes_by_tid[t] = L.bytes_by_tid.get(t, 0) + L.cur_bytes
        L.frames_by_tid[t] = L.frames_by_tid.get(t, 0) + 1
        L.frames += 1
        L.cur_bytes, L.cur_tid = 0, None


def on_encoded(pad, info, L):
    from gi.repository import Gst
    n = len(L.captured)
    if n >= CAPTURE_FRAMES:
        return Gst.PadProbeReturn.REMOVE
    buf = info.get_buffer()
    tid = L.tl["ids"][n % len(L.tl["ids"])] if L.tl else 0
    L.captured.append((buf.pts, tid, buf.extract_dup(0, buf.get_size())))
    return Gst.PadProbeReturn.OK


def on_raw(pad, info, L):
    from gi.repository import Gst
    if len(L.raw_y) >= CAPTURE_FRAMES:
        return Gst.PadProbeReturn.REMOVE
    buf = info.get_buffer()
    L.raw_y[buf.pts] = buf.extract_dup(0, L.width * L.height)   # I420: the luma plane comes first
    return Gst.PadProbeReturn.OK


def decode(Gst, codec, frames, w, h):
    """Decodes [(pts, data)] with vp8dec/vp9dec; {pts: luma bytes}."""
    p = Gst.parse_launch("appsrc name=src format=time caps=video/x-%s,width=%d,height=%d,framerate=%d/1 ! "
                         "%sdec ! video/x-raw,format=I420 ! appsink name=sink sync=false" % (
                             codec, w, h, FPS, codec))
    src, sink = p.get_by_name("src"), p.get_by_name("sink")
    got = {}

    def on_sample(s):
        smp = s.emit("pull-sample")
        b = smp.get_buffer()
        got[b.pts] = b.extract_dup(0, w * h)
        return Gst.FlowReturn.OK
    sink.set_property("emit-signals", True)
    sink.connect("new-sample", on_sample)
    p.set_state(Gst.State.PLAYING)
    for pts, data in frames:
        b = Gst.Buffer.new_wrapped(data)
        b.pts = pts
        b.duration = Gst.SECOND // FPS
        src.emit("push-buffer", b)
    src.emit("end-of-stream")
    msg = p.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    err = msg.parse_error()[0].message if msg is not None and msg.type == Gst.MessageType.ERROR else None
    p.set_state(Gst.State.NULL)
    if err:
        raise RuntimeError("decode: " + err)
    return got


def psnr(a, b):
    import numpy
    x = numpy.frombuffer(a, dtype=numpy.uint8).astype(numpy.int32)
    y = numpy.frombuffer(b, dtype=numpy.uint8).astype(numpy.int32)
    mse = float(numpy.mean((x - y) ** 2))
    return 99.0 if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def decode_check(Gst, L):
    """The full stream's luma PSNR against the source; each temporal subset's frames against the
    same frames of the full decode (bit-identical when the subset depends on nothing it lacks)."""
    frames = L.captured
    full = decode(Gst, L.codec, [(p, d) for p, _, d in frames], L.width, L.height)
    res = {"frames": len(frames), "decoded": len(full)}
    vals = [psnr(full[p], L.raw_y[p]) for i, (p, _, _) in enumerate(frames)
            if i >= PSNR_FROM and p in full and p in L.raw_y]
    res["psnr_y"] = sum(vals) / len(vals) if vals else None
    res["psnr_frames"] = len(vals)
    if L.tl:
        res["subsets"] = {}
        for top in range(len(L.tl["decimator"]) - 1):
            keep = [(p, d) for p, t, d in frames if t <= top]
            sub = decode(Gst, L.codec, keep, L.width, L.height)
            same = sum(1 for p, _ in keep if p in sub and p in full and
                       hashlib.md5(sub[p]).digest() == hashlib.md5(full[p]).digest())
            res["subsets"][str(top)] = {"frames": len(keep), "decoded": len(sub), "identical": same}
    return res


# ---- the bench: children interleaved -----------------------------------------------------------

def run(ctx):
    rounds, settle, window = (1, 5.0, 4.0) if ctx.quick else (5, 5.0, 10.0)
    runs = []
    for r in range(rounds):
        for v in ORDER:
            p = ctx.start(["/usr/bin/python3", os.path.abspath(__file__), "--child", v, "--settle", str(settle),
                           "--window", str(window)], name="temporal-" + v, limit=int(settle + window + 120))
            try:
                p.wait_line(r"^window ", settle + 30)
                busy = benchlib.machine_cpu_busy(window)
                load = benchlib.loadavg()
                _, m = p.wait_line(r"^\{", window + 90)
                res = json.loads(m.string)
            finally:
                p.kill()
                ctx.procs.remove(p)
            res.update({"round": r, "machine_busy": busy, "loadavg": load})
            ctx.log("round %d %-12s cpu %5.1f%% (machine %5.1f%%, load %.2f) %s" % (
                r, v, res["cpu"], busy, load or 0,
                " ".join("%dx%d %.0f kbit/s %.1f fps" % (l["width"], l["height"], l["kbps"], l["fps"])
                         for l in res["layers"])))
            runs.append(res)
    return {"runs": runs, "rounds": rounds, "settle_s": settle, "window_s": window, "content": CONTENT,
            "kbps": KBPS, "width": WIDTH, "height": HEIGHT, "fps": FPS, "order": ORDER,
            "cores": os.cpu_count(), "gst": gst_version(), "quick": ctx.quick}


def gst_version():
    try:
        import subprocess
        return subprocess.run(["gst-inspect-1.0", "--version"], capture_output=True, text=True,
                              timeout=20).stdout.splitlines()[1].strip()
    except Exception:  # noqa: BLE001 (a label only)
        return "?"


# ---- analysis and report -----------------------------------------------------------------------

def med(values):
    v = [x for x in values if x is not None]
    return benchlib.percentile(v, 50) if v else None


def analyse(data):
    by = {}
    for r in data["runs"]:
        by.setdefault(r["variant"], []).append(r)
    a = {}
    for v, rs in by.items():
        # A window in which a stream fell below 90% of the source's frame rate was short of CPU
        # (the machine is shared): its CPU is a floor, not the cost. Medians over the windows that
        # kept up, when there are at least two; otherwise over all (and the table says so).
        ok = [r for r in rs if all(l["fps"] >= 0.9 * data["fps"] for l in r["layers"])]
        use = ok if len(ok) >= 2 else rs
        e = {"n": len(rs), "n_ok": len(ok), "all_windows": use is rs,
             "cpu": med([r["cpu"] for r in use]), "cpu_all": med([r["cpu"] for r in rs]),
             "cpu_min": min(r["cpu"] for r in use), "cpu_max": max(r["cpu"] for r in use),
             "busy": med([r["machine_busy"] for r in rs]), "load": med([r["loadavg"] for r in rs])}
        rs = use
        e["layers"] = []
        for i in range(len(rs[0]["layers"])):
            ls = [r["layers"][i] for r in rs]
            le = {"width": ls[0]["width"], "height": ls[0]["height"], "target_kbps": ls[0]["target_kbps"],
                  "kbps": med([l["kbps"] for l in ls]), "fps": med([l["fps"] for l in ls]),
                  "tid_mismatch": sum(l["tid_mismatch"] for l in ls), "no_tid": sum(l["no_tid"] for l in ls),
                  "tid_source": ls[0].get("tid_source")}
            tids = sorted({int(t) for l in ls for t in l["by_tid"]})
            # A viewer keeping layers 0..k: cumulative bitrate and frame rate, median over runs.
            le["subsets"] = []
            for k in tids:
                kb = [sum(l["by_tid"].get(str(t), {}).get("kbps", 0) for t in tids if t <= k) for l in ls]
                fp = [sum(l["by_tid"].get(str(t), {}).get("fps", 0) for t in tids if t <= k) for l in ls]
                share = [x / l["kbps"] for x, l in zip(kb, ls) if l["kbps"] > 0]
                le["subsets"].append({"top": k, "kbps": med(kb), "fps": med(fp), "share": med(share)})
            e["layers"].append(le)
        checks = [r.get("check") for r in rs if r.get("check")]
        if checks:
            e["psnr_y"] = med([c.get("psnr_y") for c in checks])
            subs = {}
            for c in checks:
                for k, s in (c.get("subsets") or {}).items():
                    t = subs.setdefault(k, {"frames": 0, "identical": 0})
                    t["frames"] += s["frames"]
                    t["identical"] += s["identical"]
            e["decode_subsets"] = subs
        a[v] = e
    base = a.get("single", {}).get("cpu")
    src = a.get("source", {}).get("cpu")
    for v, e in a.items():
        e["ratio"] = e["cpu"] / base if base and e.get("cpu") is not None else None
        # Encoder work only: the variant less the source alone (medians of each).
        e["enc"] = e["cpu"] - src if src is not None and v != "source" else None
        e["enc_ratio"] = None
    be = a.get("single", {}).get("enc")
    for v, e in a.items():
        if be and e.get("enc") is not None:
            e["enc_ratio"] = e["enc"] / be
    vb = a.get("vp9", {}).get("enc")
    if vb and a.get("vp9-temporal", {}).get("enc") is not None:
        a["vp9-temporal"]["enc_ratio_vp9"] = a["vp9-temporal"]["enc"] / vb
    return a


LABELS = {
    "source": "source alone (no encoder)",
    "single": "a. VP8 single stream, 1 encoder",
    "ladder": "b. VP8 spatial ladder 1, ½, ¼: 3 encoders",
    "temporal": "c. VP8, 1 encoder, 3 temporal layers",
    "temporal2": "c'. VP8, 1 encoder, 2 temporal layers",
    "tl-quarter": "c''. VP8 full size with 3 temporal layers + ¼ size: 2 encoders",
    "vp9": "d. VP9 single stream, 1 encoder",
    "vp9-temporal": "d. VP9, 1 encoder, 3 temporal layers",
}


def render(data, ctx):
    a = analyse(data)
    out = ["### Temporal layers against the spatial ladder", ""]
    out.append(
        "One process per variant (`tests/bench/temporal.py --child VARIANT`: a Python GStreamer pipeline), "
        "%s, each encoder configured as roomcastsink configures it (deadline 1, cpu-used 8, CBR, "
        "lag-in-frames 0, one thread, error-resilient default; VP9 also row-mt) and followed by its RTP "
        "payloader into a fakesink; %d kbit/s for the full size. The variants ran interleaved, %d rounds "
        "(%s), %.0f s window after %.0f s of settling each; medians over the rounds whose windows kept up "
        "(every stream at 90%% of the source's frame rate or more: a window short of CPU gives a floor, not "
        "a cost), over all rounds where fewer than two kept up; bitrates and frame rates from the same "
        "windows. CPU: the process's "
        "utime+stime over the window, %% of one core; *encoders* = that less the source-alone median. "
        "Bitrate: RTP bytes (header + payload) out of the payloaders; frame rate: frames payloaded. A "
        "viewer that keeps only the lower temporal layers gets the packets whose VP8 descriptor TID is at "
        "most that layer (for VP9, the frame's place in the pattern: rtpvp9pay 1.22 writes no layer "
        "index). %s; machine: %d cores, median whole-machine busy during the windows %s%% of a core, "
        "1-minute load average %s (other work shared the machine: compare the variants with each other, "
        "not with other sections)." % (
            data["content"], data["kbps"], data["rounds"], ", ".join(data["order"]), data["window_s"],
            data["settle_s"], data.get("gst", "?"), data.get("cores", 0),
            fmt(med([r["machine_busy"] for r in data["runs"]]), 0),
            fmt(med([r["loadavg"] for r in data["runs"]]), 2)))
    if data.get("invocations"):
        out[-1] += (" The rounds come from %d runs of the same command back to back (started %s), pooled." % (
            len(data["invocations"]), ", ".join(data["invocations"])))
    out.append("")
    rows = []
    for v in data["order"]:
        e = a.get(v)
        if not e:
            continue
        if e["layers"]:
            what = ", ".join("%dx%d %s kbit/s %s fps" % (l["width"], l["height"], fmt(l["kbps"], 0), fmt(l["fps"], 1))
                             for l in e["layers"])
        else:
            what = "—"
        rows.append([LABELS[v], "%s (%s–%s)" % (fmt(e["cpu"]), fmt(e["cpu_min"], 0), fmt(e["cpu_max"], 0)),
                     "%d of %d%s" % (e["n_ok"], e["n"], " (all used)" if e["all_windows"] and e["n_ok"] < e["n"] else ""),
                     fmt(e["enc"]), fmt(e["ratio"], 2) if v != "source" else "—",
                     fmt(e["enc_ratio"], 2) if v != "source" else "—", what,
                     fmt(e.get("psnr_y"), 2, " dB") if e.get("psnr_y") is not None else "—"])
    out.append(benchlib.table(["variant", "CPU % (min–max)", "windows that kept 27+ fps", "encoders CPU %", "CPU / a", "encoders / a's",
                               "output (each stream)", "luma PSNR, full stream"], rows))
    out.append("")
    out.append("What a viewer gets from one temporal-layer stream (the full 1280x720 picture at a lower frame "
               "rate), against the ladder's layers (the full frame rate at a lower size):")
    out.append("")
    rows = []
    for v in ("temporal", "temporal2", "tl-quarter", "vp9-temporal"):
        e = a.get(v)
        if not e or not e["layers"] or not e["layers"][0]["tid_source"]:
            continue
        l = e["layers"][0]
        names = {0: "TL0", 1: "TL0+TL1", 2: "TL0+TL1+TL2"}
        for s in l["subsets"]:
            chk = (e.get("decode_subsets") or {}).get(str(s["top"]))
            dec = ("%d/%d bit-identical" % (chk["identical"], chk["frames"])) if chk else "(all: the full stream)"
            rows.append([LABELS[v], names.get(s["top"], str(s["top"])), "1280x720", fmt(s["fps"], 1),
                         fmt(s["kbps"], 0), fmt(100.0 * s["share"], 0, "%") if s["share"] is not None else "—",
                         dec])
        for o in e["layers"][1:]:
            rows.append([LABELS[v], "layer %dx%d" % (o["width"], o["height"]), "%dx%d" % (o["width"], o["height"]),
                         fmt(o["fps"], 1), fmt(o["kbps"], 0),
                         fmt(100.0 * o["kbps"] / l["kbps"], 0, "%") if l["kbps"] else "—", "(own encoder)"])
    lad = a.get("ladder")
    if lad:
        top = lad["layers"][0]["kbps"] if lad["layers"] else None
        for l in lad["layers"]:
            rows.append([LABELS["ladder"], "layer %dx%d" % (l["width"], l["height"]), "%dx%d" % (l["width"], l["height"]),
                         fmt(l["fps"], 1), fmt(l["kbps"], 0),
                         fmt(100.0 * l["kbps"] / top, 0, "%") if top else "—", "(own encoder)"])
    out.append(benchlib.table(["stream", "viewer keeps", "picture", "fps", "kbit/s", "of that stream's full rate",
                               "decodes alone (frames of the subset identical to the full decode)"], rows))
    notes = []
    for v in ("temporal", "temporal2", "tl-quarter"):
        e = a.get(v)
        if e and e["layers"]:
            l = e["layers"][0]
            notes.append("%s: TID %s in every packet's descriptor (%d frames without one), pattern position and "
                         "TID disagreed on %d frames." % (LABELS[v], "present" if not l["no_tid"] else "missing",
                                                          l["no_tid"], l["tid_mismatch"]))
    # What the figures say, computed (so that a rerun keeps the sentence true).
    def r(v):
        return a.get(v, {}).get("ratio")
    t3 = a.get("temporal", {}).get("layers") or [{}]
    subs = {x["top"]: x for x in t3[0].get("subsets", [])}
    lad = (a.get("ladder") or {}).get("layers") or []
    if r("ladder") and r("temporal") and len(subs) >= 2 and len(lad) >= 3:
        notes.insert(0, "CPU against the single stream (medians): the spatial ladder %s×, one encoder with 3 "
                     "temporal layers %s×, with 2 %s×, 3 temporal layers + a quarter-size encoder %s×. Bits a "
                     "viewer needs: TL0 %s kbit/s (1280x720@%s), TL0+TL1 %s kbit/s (1280x720@%s), against the "
                     "ladder's half layer %s kbit/s (640x360@%s) and quarter %s kbit/s (320x180@%s)." % (
                         fmt(r("ladder"), 2), fmt(r("temporal"), 2), fmt(r("temporal2"), 2), fmt(r("tl-quarter"), 2),
                         fmt(subs[0]["kbps"], 0), fmt(subs[0]["fps"], 1), fmt(subs[1]["kbps"], 0),
                         fmt(subs[1]["fps"], 1), fmt(lad[1]["kbps"], 0), fmt(lad[1]["fps"], 1),
                         fmt(lad[2]["kbps"], 0), fmt(lad[2]["fps"], 1)))
    notes.append("Decodes alone: the first %d frames of each temporal stream decoded as the full stream and as "
                 "each subset (TL0, TL0+TL1); \"bit-identical\" counts the subset's frames equal to the same "
                 "frames of the full decode (summed over the rounds). Luma PSNR: the full stream's decoded "
                 "frames %d-%d against the encoder's input, before the window (frame-rate drops under load "
                 "change it: compare with care)." % (CAPTURE_FRAMES, PSNR_FROM, CAPTURE_FRAMES - 1))
    if notes:
        out += [""] + ["- " + n for n in notes]
    return "\n".join(out)


def next_steps(data, ctx):
    return []


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        import argparse
        ap = argparse.ArgumentParser()
        ap.add_argument("--child", required=True, choices=list(VARIANTS))
        ap.add_argument("--settle", type=float, default=5.0)
        ap.add_argument("--window", type=float, default=10.0)
        args = ap.parse_args()
        child(args.child, args.settle, args.window)
    else:
        benchlib.cli("temporal")
