"""Scale-out through Janus (issue 15): `roomcast serve --sfu janus=ws://…` with two real Janus
processes (Debian's `janus`, started here on loopback with free ports), a real `roomcast live`
host and real `roomcast watch` viewers that know nothing of Janus.

The host publishes once per node (it sees each node as one viewer); each viewer receives from the
least loaded node. Checked: six viewers split three and three over the nodes all decode, while the
host serves two peers (its own /metrics: viewers, per-peer labels, bitrate); a node killed with
SIGKILL moves its viewers to the other node, where they decode again within 5 s (the longest pause
between two decoded frames, from `watch --progress`).
"""
import json
import os
import re
import sys
import time
import unittest
import http.client
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomcastTest, Proc, ROOMCAST  # noqa: E402
import janus_nodes  # noqa: E402

MEDIA = ["--source", "test", "--size", "640x360", "--bitrate", "600"]
RECOVERY_MS = 5000


class MergedProc(Proc):
    merge_stderr = True  # the server's log lines (g_message) in order with its output


def progress_lines(proc, start=0):
    with proc.cond:
        lines = proc.lines[start:]
    return [(t, json.loads(l[len("progress "):])) for t, l in lines if l.startswith("progress {")]


def wait_progress(proc, pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        for t, r in progress_lines(proc):
            if pred(r):
                return t, r
        if time.monotonic() > deadline or proc.p.poll() is not None:
            raise AssertionError("%s: no %s within %.0f s; output:\n%s\nstderr:\n%s" % (
                proc.name, what, timeout, "\n".join(l for _, l in proc.lines[-30:]), proc.stderr()))
        time.sleep(0.1)


def metrics(url):
    """Prometheus text as {name{labels}: float}."""
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


class JanusScaleOut(RoomcastTest):
    def setUp(self):
        self.assertTrue(janus_nodes.available(),
                        "Debian's janus package (janus binary, VideoRoom plugin, WebSocket transport) "
                        "is needed: tools/debian-packages.txt")
        self.procs = []
        self.nodes = []
        for i in (1, 2):
            node = janus_nodes.JanusNode("janus%d" % i)
            self.addCleanup(node.stop)
            self.nodes.append(node)
        args = ["serve", "--port", "0"]
        for node in self.nodes:
            args += ["--sfu", "janus=" + node.url]
        self.server = MergedProc([ROOMCAST] + args, name="serve")
        self.procs.append(self.server)
        _, m = self.server.wait_line(r"listening on (ws://\S+)", 10)
        self.ws = m.group(1)
        self.http = self.ws.replace("ws://", "http://").replace("/ws", "")
        for i in (1, 2):
            self.server.wait_line(r"janus node %d \(\S+\): up" % i, 10)

    def server_log(self):
        return "\n".join(l for _, l in self.server.lines)

    def janus_logs(self):
        return "\n".join("--- %s\n%s" % (n.name, n.tail(1500)) for n in self.nodes)

    def six_decoding(self, room):
        host = self.live(room, *MEDIA, "--metrics", "127.0.0.1:0")
        _, m = host.wait_line(r"host metrics at (http://127\.0\.0\.1:\d+/metrics)$", 5)
        host_metrics = m.group(1)
        watchers = [self.start(["watch", "--server", self.ws, "--room", room, "--sink", "fake", "--progress",
                                "--timeout", "90"], name="watch%d" % i) for i in range(6)]
        for w in watchers:
            wait_progress(w, lambda r: r["frames"] >= 60, 45, "60 frames")
        return host, host_metrics, watchers

    def test_six_viewers_over_two_nodes(self):
        host, host_metrics, watchers = self.six_decoding("stage")
        # The server: three viewers on each node (least loaded), the host published on both.
        s = metrics(self.http + "/metrics")
        self.assertEqual(s['roomcast_sfu_viewers{node="1"}'], 3, s)
        self.assertEqual(s['roomcast_sfu_viewers{node="2"}'], 3, s)
        self.assertEqual(s['roomcast_sfu_publishers{node="1"}'], 1, s)
        self.assertEqual(s['roomcast_sfu_publishers{node="2"}'], 1, s)
        self.assertEqual(len(re.findall(r"sfu: viewer \S+ of room stage goes through janus node",
                                        self.server_log())), 6)
        # The host: two peers, the nodes, whatever the audience; its bitrate is two streams'.
        samples = []
        for _ in range(4):
            samples.append(metrics(host_metrics))
            time.sleep(1)
        h = samples[-1]
        self.assertEqual(h["roomcast_host_viewers"], 2, h)
        self.assertEqual(h["roomcast_host_viewers_connected"], 2, h)
        peers = sorted(k for k in h if k.startswith("roomcast_host_viewer_sent_bits_per_second{"))
        self.assertEqual(len(peers), 2, peers)
        self.assertTrue(all(re.search(r'peer="sfu[12]-[0-9a-f]{8}"', k) for k in peers), peers)
        total = sorted(x["roomcast_host_sent_bits_per_second"] for x in samples)[len(samples) // 2]
        per_stream = max(h[k] for k in peers)
        self.assertGreater(per_stream, 100e3, h)
        # Two streams (and change: RTCP, rounding), far from six.
        self.assertLess(total, 2.6 * per_stream, (total, per_stream))
        for w in watchers:
            _, r = wait_progress(w, lambda r: r["frames"] >= 90, 20, "90 frames")
        print("host sends %.0f kbit/s for 6 viewers (%.0f kbit/s a stream)" % (total / 1e3, per_stream / 1e3))

    def test_whep_player_is_served_by_the_host(self):
        """A WHEP player offers, as a Janus subscriber does: with --sfu it is left to the host,
        which answers it (send only, in the player's payload number); no node takes it."""
        from test_whep import player_offer
        host = self.live("stage3", *MEDIA)
        u = urllib.parse.urlsplit(self.http)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
        c.request("POST", "/whep/stage3", body=player_offer().encode(),
                  headers={"Content-Type": "application/sdp"})
        r = c.getresponse()
        answer = r.read().decode()
        c.close()
        self.assertEqual(r.status, 201, answer)
        self.assertIn("a=sendonly", answer)
        self.assertIn("a=rtpmap:96 VP8/90000", answer)
        host.wait_line(r"viewer \S+ joined", 5)
        s = metrics(self.http + "/metrics")
        self.assertEqual(s['roomcast_sfu_viewers{node="1"}'] + s['roomcast_sfu_viewers{node="2"}'], 0, s)
        self.assertNotIn("sfu: viewer", self.server_log())

    def test_killed_node_moves_its_viewers(self):
        host, host_metrics, watchers = self.six_decoding("stage2")
        before = len(self.server.lines)
        killed = self.nodes[0]
        killed.kill9()
        t_kill = time.monotonic()
        self.server.wait_line(r"janus node 1 \(\S+\): down", 5, start=before)
        # Every viewer decodes on: the longest pause of any (three were on the killed node) stays
        # under RECOVERY_MS, and each gets 60 more frames.
        worst = 0
        for w in watchers:
            frames_at_kill = max([r["frames"] for t, r in progress_lines(w) if t <= t_kill] or [0])
            _, r = wait_progress(w, lambda r: r["frames"] >= frames_at_kill + 60, 20,
                                 "60 frames after the kill (had %d)" % frames_at_kill)
            gaps = [r["gap_ms"] for t, r in progress_lines(w) if t > t_kill]
            worst = max([worst] + gaps)
            self.assertLessEqual(max(gaps), RECOVERY_MS,
                                 "%s paused %d ms\n%s\n%s\n%s" % (
                                     w.name, max(gaps), "\n".join("%.2f %s" % (t - t_kill, l) for t, l in w.lines
                                                                  if t > t_kill - 2), w.stderr(), self.server_log()))
        moves = re.findall(r"sfu: viewer \S+ moves from janus node 1 to node 2", self.server_log())
        self.assertEqual(len(moves), 3, self.server_log())
        s = metrics(self.http + "/metrics")
        self.assertEqual(s['roomcast_sfu_viewers{node="2"}'], 6, s)
        self.assertEqual(s['roomcast_sfu_node_up{node="1"}'], 0, s)
        self.assertEqual(s["roomcast_sfu_moves_total"], 3, s)
        # The host dropped the dead node's peer: one left.
        deadline = time.monotonic() + 10
        while metrics(host_metrics)["roomcast_host_viewers"] != 1:
            self.assertLess(time.monotonic(), deadline, metrics(host_metrics))
            time.sleep(0.5)
        print("longest pause of a viewer after the kill: %d ms" % worst)


class NoWorkingNode(RoomcastTest):
    """--sfu naming nodes that cannot serve: one port where nothing listens, and one WebSocket
    that is no Janus (another roomcast server: it answers Janus's requests with its own errors).
    The server says so, never crashes, and viewers are served by the host directly."""

    def setUp(self):
        self.procs = []
        self.other = MergedProc([ROOMCAST, "serve", "--port", "0"], name="not-janus")
        self.procs.append(self.other)
        _, m = self.other.wait_line(r"listening on (ws://\S+)", 10)
        closed = "ws://127.0.0.1:%d" % janus_nodes.free_port()
        self.server = MergedProc([ROOMCAST, "serve", "--port", "0", "--sfu", "janus=" + closed,
                                  "--sfu", "janus=" + m.group(1)], name="serve")
        self.procs.append(self.server)
        _, m = self.server.wait_line(r"listening on (ws://\S+)", 10)
        self.ws = m.group(1)
        self.server.wait_line(r"janus node 1 \(\S+\): cannot connect", 10)
        self.server.wait_line(r"janus node 2 \(\S+\): down: no session", 15)

    def test_viewers_fall_back_to_the_host(self):
        host = self.live("fallback", *MEDIA, "--metrics", "127.0.0.1:0")
        _, m = host.wait_line(r"host metrics at (http://127\.0\.0\.1:\d+/metrics)$", 5)
        watchers = [self.watch("fallback", "--frames", "60", "--timeout", "40", name="watch%d" % i) for i in range(2)]
        for w in watchers:
            self.assertEqual(w.wait(50), 0, w.stderr())
            self.assertGreaterEqual(w.json_result()["frames"], 60)
        log = "\n".join(l for _, l in self.server.lines)
        self.assertEqual(len(re.findall(r"viewer \S+ of room fallback is served by its host directly", log)), 2, log)
        self.assertIsNone(self.server.p.poll())
        # The host served them itself (its peers are the viewers, not nodes).
        h = metrics(m.group(1))
        self.assertFalse([k for k in h if 'peer="sfu' in k], h)
        s = metrics(self.ws.replace("ws://", "http://").replace("/ws", "") + "/metrics")
        self.assertEqual(s['roomcast_sfu_node_up{node="1"}'], 0, s)
        self.assertEqual(s['roomcast_sfu_node_up{node="2"}'], 0, s)


if __name__ == "__main__":
    unittest.main()
