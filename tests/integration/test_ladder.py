"""The per-viewer ladder (issue 14): one host encoding VP8 at full, half and quarter size once, each
viewer sent the largest layer its link carries.

The host (`roomcast live --ladder 1,0.5,0.25`, embedded server) is on side A of a netlab link
(tests/netlab/netlab.py: user-space forwarder, token-bucket cap with a bounded queue); a capped
viewer is on side B, a clean one on side A. The layer each viewer is on is read from the host's
event lines (`viewer NAME layer N (WxH)`, from roomcastsink's per-peer `layer` stats) and the
viewer's decoded frames and pauses from `roomcast watch --progress`.
"""
import json
import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "netlab"))
from harness import ROOMCAST, Proc  # noqa: E402
from netlab import ADDR_A, Impair, Lab  # noqa: E402

FPS = 15
BITRATE = 2000
# Full 2000 kbit/s, half ~707, quarter ~250 (EncoderPool's ladder_share).
MEDIA = ["--source", "test", "--size", "640x360", "--fps", str(FPS), "--bitrate", str(BITRATE),
         "--ladder", "1,0.5,0.25"]
PORT = 8443
WS = "ws://%s:%d/ws" % (ADDR_A, PORT)
LAYER_LINE = re.compile(r"viewer (\S+) layer (\d) \((\d+)x(\d+)\)")
JOINED = re.compile(r"viewer (\S+) joined")


class LabProc(Proc):
    ns = None

    def command(self, args):
        return ["ip", "netns", "exec", self.ns] + args


def progress(proc):
    with proc.cond:
        lines = list(proc.lines)
    return [json.loads(l[len("progress "):]) for _, l in lines if l.startswith("progress {")]


def layers_of(host):
    """(monotonic time, viewer name, layer) for each layer change the host reported."""
    with host.cond:
        lines = list(host.lines)
    out = []
    for t, l in lines:
        m = LAYER_LINE.search(l)
        if m:
            out.append((t, m.group(1), int(m.group(2))))
    return out


def layer_now(host, name):
    changes = [c for c in layers_of(host) if c[1] == name]
    return changes[-1][2] if changes else 0


def time_on_layers(host, name, t0, t1):
    """{layer: seconds} that viewer `name` spent on each layer between t0 and t1 (monotonic)."""
    layer, spent, t = 0, {}, t0
    for when, who, l in layers_of(host):
        if who != name:
            continue
        if when <= t0:
            layer = l
            continue
        if when >= t1:
            break
        spent[layer] = spent.get(layer, 0) + when - t
        layer, t = l, when
    spent[layer] = spent.get(layer, 0) + t1 - t
    return spent


class Ladder(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (ip netns, /dev/net/tun)")
        self.procs = []
        self.lab = None

    def tearDown(self):
        for p in reversed(self.procs):
            p.kill()
        if self.lab:
            self.lab.close()

    def start(self, side, args, name):
        class P(LabProc):
            pass
        P.ns = {"a": self.lab.a, "b": self.lab.b, "c": self.lab.c}[side].name
        p = P([ROOMCAST] + args, name=name)
        self.procs.append(p)
        return p

    def host(self):
        h = self.start("a", ["live", "--host", ADDR_A, "--port", str(PORT), "--room", "net",
                             "--ice-loopback", "off"] + MEDIA, "live")
        h.wait_line(r"is live", 20)
        return h

    def viewer(self, side, name, host):
        """A viewer, and its id as the host names it (from its "viewer ID joined" line)."""
        with host.cond:
            before = len(host.lines)
        v = self.start(side, ["watch", "--server", WS, "--room", "net", "--sink", "fake", "--progress",
                              "--ice-loopback", "off"], name)
        deadline = time.monotonic() + 20
        while True:
            with host.cond:
                new = [l for _, l in list(host.lines)[before:]]
            ids = [m.group(1) for m in map(JOINED.search, new) if m]
            if ids:
                return v, ids[0]
            self.assertLess(time.monotonic(), deadline, "the host saw no viewer join")
            time.sleep(0.1)

    def wait_frames(self, viewer, within=30):
        deadline = time.monotonic() + within
        while not any(r["frames"] > 0 for r in progress(viewer)):
            self.assertIsNone(viewer.p.poll(), "the viewer exited:\n%s" % viewer.stderr())
            self.assertLess(time.monotonic(), deadline, "no frame within %d s" % within)
            time.sleep(0.2)

    def window(self, viewer, since_t_ms):
        recs = [r for r in progress(viewer) if r["t_ms"] > since_t_ms]
        first, last = recs[0], recs[-1]
        secs = (last["t_ms"] - first["t_ms"]) / 1000.0
        share = (last["frames"] - first["frames"]) / (FPS * secs)
        gap = max(r["gap_ms"] for r in recs[1:])
        self.gap_at = next((r["t_ms"] - first["t_ms"]) / 1000.0 for r in recs[1:] if r["gap_ms"] == gap)
        return share, gap

    def capped_and_clean(self, cap_kbit, want_layers, min_share=0.95, max_gap_ms=500):
        """A viewer behind `cap_kbit` settles (<= 10 s) on one of `want_layers` and then decodes
        >= 95% of the frames with no pause > 500 ms; a clean viewer beside it stays on the top
        layer."""
        self.capped_viewers([(cap_kbit, want_layers, min_share, max_gap_ms)])

    def capped_viewers(self, capped_specs):
        """Each (cap_kbit, want_layers, min_share, max_gap_ms) a viewer behind its own link (side
        B, then side C on a spur of the lab), plus a clean viewer on the host's side, all at
        once. Each capped viewer spends the measured window (15 s, after 10 s of settling)
        mostly on one of its `want_layers` and decodes >= min_share of the frames with no pause
        >= max_gap_ms; the clean one stays on the top layer (>= 95%, no pause >= 500 ms)."""
        specs = list(capped_specs)
        self.lab = Lab(a_to_b=Impair(rate_kbit=specs[0][0], queue_ms=200), b_to_a=Impair())
        self.lab.__enter__()
        if len(specs) > 1:
            self.lab.spur(a_to_c=Impair(rate_kbit=specs[1][0], queue_ms=200), c_to_a=Impair())
        host = self.host()
        capped = [self.viewer(side, "capped%d" % cap, host) + (cap,) + tuple(rest)
                  for side, (cap, *rest) in zip("bc", specs)]
        clean, clean_id = self.viewer("a", "clean", host)
        for v in capped:
            self.wait_frames(v[0])
        self.wait_frames(clean)
        time.sleep(10)  # settling
        starts = [progress(v[0])[-1]["t_ms"] for v in capped]
        start_clean = progress(clean)[-1]["t_ms"]
        t0 = time.monotonic()
        time.sleep(15)
        t1 = time.monotonic()
        cshare, cgap = self.window(clean, start_clean)
        clean_changes = [c for c in layers_of(host) if c[1] == clean_id]
        results = []
        for (proc, vid, cap, want, min_share, max_gap), start in zip(capped, starts):
            share, gap = self.window(proc, start)
            gap_at = self.gap_at
            later = [(round(c[0] - t0, 1), c[2]) for c in layers_of(host) if c[0] > t0 and c[1] == vid]
            # Where the viewer was over the window: probes of a layer the link cannot carry are
            # excursions of a second or two (and cost frames, which the share bounds).
            spent = time_on_layers(host, vid, t0, t1)
            settled = max(spent, key=spent.get)
            on_wanted = sum(v for k, v in spent.items() if k in want) / (t1 - t0)
            print("cap %d kbit/s: viewer %s mostly on layer %d (s per layer %s, changes in the window %s), "
                  "decoded %.1f%%, longest gap %d ms (in the second before %.1f s)" % (
                      cap, vid, settled, {k: round(v, 1) for k, v in spent.items()}, later, share * 100, gap, gap_at))
            results.append((cap, want, min_share, max_gap, settled, on_wanted, share, gap))
        print("clean viewer %.1f%%, gap %d ms, layers %s; link %s%s" % (
            cshare * 100, cgap, clean_changes, self.lab.stats(),
            (", spur %s" % self.lab.spur_stats()) if len(specs) > 1 else ""))
        if os.environ.get("LADDER_DEBUG"):
            print("\n".join(l for l in host.stderr(1000000).splitlines() if "layer" in l))
            print("host:\n" + "\n".join(l for _, l in host.lines if "status" not in l))
        for cap, want, min_share, max_gap, settled, on_wanted, share, gap in results:
            self.assertIn(settled, want, "the %d kbit/s viewer is mostly on layer %d" % (cap, settled))
            self.assertGreaterEqual(on_wanted, 0.8, "the %d kbit/s viewer spent %.0f%% of the window on "
                                    "layers %s" % (cap, on_wanted * 100, want))
            self.assertGreaterEqual(share, min_share, "the %d kbit/s viewer decoded %.1f%%" % (cap, share * 100))
            self.assertLess(gap, max_gap, "the %d kbit/s viewer paused %d ms" % (cap, gap))
        self.assertEqual(clean_changes, [], "the clean viewer left the top layer")
        self.assertGreaterEqual(cshare, 0.95, "the clean viewer decoded %.1f%%" % (cshare * 100))
        self.assertLess(cgap, 500, "the clean viewer paused %d ms" % cgap)

    def test_three_viewers_600kbit_1500kbit_and_clean_at_once(self):
        """The issue's case: three viewers at once, each on the layer its link carries, at the
        issue's bounds (>= 95% of the frames, no pause of 500 ms or more)."""
        self.capped_viewers([(600, (1, 2), 0.95, 500), (1500, (1,), 0.95, 500)])

    # The capped viewers are held to the bounds since failed padding probes stop at the
    # viewer's first NACK and a late report of the padding's queue no longer steps it down
    # (before: 86-99%, pauses 0.3-0.77 s in a third of the runs, the bounds were 85% and 2.5 s).
    # Measured after (2026-12-01): 33 capped viewers in 26 runs of the three tests, 98.4-100% decoded,
    # longest pause 86-229 ms.

    def test_600kbit_viewer_gets_a_lower_layer(self):
        # The quarter layer (~250 kbit/s) fits; the half layer's nominal 707 kbit/s does not,
        # but this source's half layer often comes out near 600 kbit/s and is then carried (its
        # probe holds): either is the layer that fits, the top is not. (This was a known bug
        # until the chooser read NACKs: the viewer stayed on the top layer when the receiver
        # reports said nothing.)
        self.capped_and_clean(600, (1, 2))

    def test_1500kbit_viewer_gets_the_half_layer(self):
        # The top layer (2000) does not fit; its padding probes (every 3-8 s) must not cost the
        # viewer a pause: each stops at the viewer's first NACK.
        self.capped_and_clean(1500, (1,))

    def test_cap_drop_moves_down_and_back_up(self):
        """2 Mbit/s -> 500 kbit/s mid-stream: down within 3 s; cap lifted: back up within 15 s,
        with no pause of 500 ms or more in `roomcast watch` through the switches up."""
        self.lab = Lab(a_to_b=Impair(), b_to_a=Impair())
        self.lab.__enter__()
        host = self.host()
        v, vid = self.viewer("b", "v", host)
        self.wait_frames(v)
        time.sleep(5)
        self.assertEqual(layer_now(host, vid), 0, "not on the top layer before the cap")
        self.lab.set(a_to_b=Impair(rate_kbit=500, queue_ms=200), b_to_a=Impair())
        t_cap = time.monotonic()
        while layer_now(host, vid) == 0 and time.monotonic() - t_cap < 10:
            time.sleep(0.1)
        down_s = time.monotonic() - t_cap
        time.sleep(8)
        low = layer_now(host, vid)
        self.lab.set(a_to_b=Impair(), b_to_a=Impair())
        t_lift = time.monotonic()
        lift_t_ms = progress(v)[-1]["t_ms"]
        while layer_now(host, vid) != 0 and time.monotonic() - t_lift < 25:
            time.sleep(0.1)
        up_s = time.monotonic() - t_lift
        # The climb back (padding probes, then each up switch) on a clean link: the viewer's
        # longest pause from the lift to 3 s after it is back on the top layer. A pause under
        # way at the lift (the capped link's, ending in the first second with frames after it)
        # is not the climb's: it is reported, and the climb counted from the next second.
        time.sleep(3)
        since = [r for r in progress(v) if r["t_ms"] > lift_t_ms]
        before = [r for r in progress(v) if r["t_ms"] <= lift_t_ms][-1]
        resumed = next((i for i, r in enumerate(since) if r["frames"] > (since[i - 1] if i else before)["frames"]),
                       None)
        self.assertIsNotNone(resumed, "no frame since the lift")
        at_lift_gap = since[resumed]["gap_ms"]
        _, climb_gap = self.window(v, since[resumed]["t_ms"] - 1)
        print("down after %.1f s (to layer %d after 8 s), back on the top layer %.1f s after the lift "
              "(longest pause in the climb %d ms; the pause under way at the lift %d ms); changes %s" % (
                  down_s, low, up_s, climb_gap, at_lift_gap,
                  [(round(t - t_cap, 1), l) for t, _, l in layers_of(host)]))
        # Each second since the lift (ms after the last record before it, frames, longest gap),
        # and on a pause or with LADDER_DEBUG the host's layer and padding lines: where it was.
        print("viewer since the lift:",
              [(r["t_ms"] - lift_t_ms, r["frames"], r["gap_ms"]) for r in progress(v) if r["t_ms"] > lift_t_ms])
        if os.environ.get("LADDER_DEBUG") or climb_gap >= 500:
            print("\n".join(l for l in host.stderr(100000).splitlines() if "layer" in l or "padding" in l))
        self.assertLess(down_s, 3.0, "moved down after %.1f s" % down_s)
        self.assertGreater(low, 0)
        self.assertLess(up_s, 15.0, "back up after %.1f s" % up_s)
        self.assertLess(climb_gap, 500, "a %d ms pause while switching back up" % climb_gap)


if __name__ == "__main__":
    unittest.main()
