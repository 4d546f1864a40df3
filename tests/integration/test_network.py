"""Real networks (issue 11): a GStreamer viewer behind a lossy, slow or delayed link.

Each test builds two network namespaces joined by an impaired link (tests/netlab/netlab.py: a
user-space forwarder between TUN devices, since this kernel has no netem): the host (`roomcast
live` with its embedded server) on side A, viewers on side B. `roomcast watch --progress` prints
a line every second with its decoded frames, the longest gap between two frames since the last
line, and the link's numbers from roomcastsrc's stats (retransmissions asked for and received in
time, packets given up, the jitterbuffer latency), so the repair is counted, not assumed.

Frames are counted over a window that starts 3 s after the first frame: the jitterbuffer's
latency is fitted to the link in the first seconds (see docs/architecture.md, "Loss recovery").
"""
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "netlab"))
from harness import ROOMCAST, Proc, proc_status  # noqa: E402
from netlab import ADDR_A, Impair, Lab  # noqa: E402

FPS = 15
MEDIA = ["--source", "test", "--size", "640x360", "--fps", str(FPS)]
PORT = 8443
WS = "ws://%s:%d/ws" % (ADDR_A, PORT)
SETTLE_S = 3.0
WINDOW_S = 15.0


class LabProc(Proc):
    ns = None

    def command(self, args):
        return ["ip", "netns", "exec", self.ns] + args


def progress(proc):
    with proc.cond:
        lines = list(proc.lines)
    return [json.loads(l[len("progress "):]) for _, l in lines if l.startswith("progress {")]


class Network(unittest.TestCase):
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
        P.ns = (self.lab.a if side == "a" else self.lab.b).name
        p = P([ROOMCAST] + args, name=name)
        self.procs.append(p)
        return p

    def host(self):
        h = self.start("a", ["live", "--host", ADDR_A, "--port", str(PORT), "--room", "net",
                             "--ice-loopback", "off"] + MEDIA, "live")
        h.wait_line(r"is live", 20)
        return h

    def viewer(self, side="b", name="watch", extra=()):
        return self.start(side, ["watch", "--server", WS, "--room", "net", "--sink", "fake", "--progress",
                                 "--ice-loopback", "off"] + list(extra), name)

    def measure(self, viewer, window_s=WINDOW_S, first_frame_within=30):
        """Waits for the first frame, settles, then measures a window: (share of the source's
        frames decoded, longest gap in ms, the last progress record)."""
        deadline = time.monotonic() + first_frame_within
        while not any(r["frames"] > 0 for r in progress(viewer)):
            self.assertIsNone(viewer.p.poll(), "the viewer exited:\n%s" % viewer.stderr())
            self.assertLess(time.monotonic(), deadline, "no frame within %d s" % first_frame_within)
            time.sleep(0.2)
        time.sleep(SETTLE_S)
        start = progress(viewer)[-1]
        time.sleep(window_s)
        recs = [r for r in progress(viewer) if r["t_ms"] > start["t_ms"]]
        end = recs[-1]
        secs = (end["t_ms"] - start["t_ms"]) / 1000.0
        share = (end["frames"] - start["frames"]) / (FPS * secs)
        gap = max(r["gap_ms"] for r in recs)
        return share, gap, start, end

    def through(self, impair, latency=None, min_share=0.95, max_gap_ms=500):
        self.lab = Lab(a_to_b=impair, b_to_a=impair)
        self.lab.__enter__()
        h = self.host()
        v = self.viewer(extra=["--latency", str(latency)] if latency else [])
        share, gap, start, end = self.measure(v)
        h.wait_line(r"status: .*resent", 10)  # (a status line every 5 s)
        with h.cond:
            resent = [re.search(r"resent (\d+) packets \((\d+) twice\)", l) for _, l in h.lines]
        resent = [tuple(map(int, m.groups())) for m in resent if m]
        link = end.get("link", {})
        got = {k: link.get(k, 0) - start.get("link", {}).get(k, 0)
               for k in ("packets_received", "rtx_requested", "rtx_recovered", "packets_given_up")}
        print("decoded %.1f%%, longest gap %d ms, latency %s ms, window %s, link %s" % (
            share * 100, gap, link.get("latency_ms"), got, self.lab.stats()))
        print("the viewer's link figures at the window's start: %s\nand end: %s" % (
            start.get("link"), link))
        self.assertGreaterEqual(share, min_share, "decoded %.1f%% of the source's frames" % (share * 100))
        self.assertLess(gap, max_gap_ms, "a pause of %d ms" % gap)
        self.assertGreater(got["rtx_recovered"], 0, "no retransmission repaired a loss")
        # The host's status line counts what it sent again, and the second copies of those
        # (Peer::repeat_retransmission: at 5% loss the budget has room for them).
        print("host: resent %d packets, %d twice" % resent[-1])
        self.assertGreater(resent[-1][1], 0, "the host sent no retransmission twice")
        self.assertLessEqual(resent[-1][1], resent[-1][0])
        return link

    def test_gst_viewer_through_5pct_loss(self):
        self.through(Impair(loss=5))

    def test_gst_viewer_through_5pct_loss_and_50ms_delay(self):
        # The target (>= 95%, no pause of 500 ms) is for 5% loss; with a 100 ms round trip on top
        # (and loss both ways) a packet whose NACK or retransmission is lost four times is given
        # up (rarely: the latency leaves room for 4 attempts; with 3 it was 0-4 per window), and
        # the keyframe that repairs it crosses the fitted ~550 ms jitterbuffer (a 600-900 ms
        # pause), as do the latency's raises. Reported in docs/benchmarks.md; here the bounds that
        # catch a regression.
        link = self.through(Impair(loss=5, delay_ms=50, jitter_ms=10), min_share=0.9, max_gap_ms=1000)
        # A 100 ms round trip needs more than the 50 ms default: the latency was fitted.
        self.assertGreater(link.get("latency_ms", 0), 200, link)

    def test_slow_viewer_is_harmless(self):
        """A viewer whose link carries a quarter of the stream does not grow the host's memory
        and does not delay a viewer on a good path."""
        self.lab = Lab(a_to_b=Impair(rate_kbit=500, queue_ms=200), b_to_a=Impair())
        self.lab.__enter__()
        host = self.host()
        slow = self.viewer("b", "slow")
        # The good viewer is on the host's side (no impaired link between them).
        good = self.viewer("a", "good")
        t0 = time.monotonic()
        while not any(r["frames"] > 0 for r in progress(good)):
            self.assertLess(time.monotonic() - t0, 30, "the good viewer got no frame")
            time.sleep(0.2)
        time.sleep(5)
        rss0 = proc_status(host.pid)["rss_kib"]
        share, gap, _, _ = self.measure(good, window_s=20, first_frame_within=1)
        rss1 = proc_status(host.pid)["rss_kib"]
        slow_frames = progress(slow)[-1]["frames"] if progress(slow) else 0
        good_packets = progress(good)[-1].get("link", {}).get("packets_received", 0)
        link = self.lab.stats()["a_to_b"]
        to_slow = link["passed"] + link["capped"]
        print("good: %.1f%%, longest gap %d ms, %d packets; slow: %d frames, %d packets sent its way; "
              "host RSS %d -> %d KiB; link %s" % (share * 100, gap, good_packets, slow_frames, to_slow,
                                                  rss0, rss1, self.lab.stats()))
        self.assertGreater(link["capped"], 0, "the cap dropped nothing: not slow")
        # Retransmissions have a budget (RtxBudget: half a packet per packet sent): without it the
        # slow viewer drew ~17 times the stream.
        self.assertLess(to_slow, 2 * good_packets, "the slow viewer drew %d packets, the good one got %d" % (
            to_slow, good_packets))
        self.assertGreaterEqual(share, 0.95, "the good viewer decoded %.1f%%" % (share * 100))
        self.assertLess(gap, 500, "the good viewer paused %d ms" % gap)
        self.assertLess(rss1 - rss0, 20 * 1024, "the host grew %d KiB in 23 s" % (rss1 - rss0))

    def test_a_new_viewer_gets_live_packets_from_the_first(self):
        """Nothing is sent before the connection: over a 100 ms link (ICE and DTLS take several
        round trips), the first video packets the viewer gets are live, their RTP time advancing
        with the clock. Before, the first was seconds old (webrtcbin held it until the
        connection) and the branch's queued second came in one burst after it, which set the
        viewer's jitterbuffer off for the whole session (see SendGate in peer.cpp). Read from the
        link's packet trace (netlab's NETLAB_TRACE)."""
        tmp = tempfile.mkdtemp(prefix="roomcast-trace-")
        self.addCleanup(shutil.rmtree, tmp, True)
        trace = os.path.join(tmp, "trace.txt")
        os.environ["NETLAB_TRACE"] = trace
        try:
            self.lab = Lab(a_to_b=Impair(delay_ms=100), b_to_a=Impair(delay_ms=100))
            self.lab.__enter__()
        finally:
            del os.environ["NETLAB_TRACE"]
        self.host()
        v = self.viewer()
        self.measure(v, window_s=3)
        video = []
        with open(trace) as f:  # (written in 64 KiB blocks: the first ones are long there)
            for line in f:
                w = line.split()
                if w[1] == "a>b" and w[2] == "pass" and w[4] == "rtp" and w[5] == "pt=96":
                    video.append((float(w[0]), int(w[8][3:])))
        self.assertGreater(len(video), 100, "the trace has %d video packets" % len(video))
        t0, ts0 = video[0]
        # How far each packet's RTP time is ahead of its arrival, from the first packet on (ms).
        ahead = [((ts - ts0) % (1 << 32)) / 90.0 - (t - t0) * 1000 for t, ts in video[:100]]
        print("the first 100 video packets: RTP time ahead of arrival by at most %.0f ms" % max(ahead))
        self.assertLess(max(ahead), 250, "the first video packets were a backlog: RTP time ran %.0f ms "
                        "ahead of their arrival" % max(ahead))


if __name__ == "__main__":
    unittest.main()
