"""A viewer asks its host for a ladder layer (issue 14, item 4: the `prefer` message).

A host encodes VP8 at full, half and quarter size (`roomcast live --ladder 1,0.5,0.25`); two
`roomcast watch` viewers on loopback (no netlab: every link carries the top layer), one of them
with `--prefer 2`. The host must send that one the quarter layer (its event line
`viewer ID layer 2 (160x90)`, from roomcastsink's per-peer `layer` stats) and keep the other on
the top layer, and both must decode frames (`--progress`). A host without a ladder ignores the
wish: the viewer that asks still gets the one stream. The wish belongs to a session: after the
server was restarted (everyone joins again, with new ids) the viewer asks the new session again.
"""
import json
import os
import re
import socket
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomcastTest  # noqa: E402

MEDIA = ["--source", "test", "--size", "640x360", "--fps", "15", "--bitrate", "1000"]
LADDER = ["--ladder", "1,0.5,0.25"]
LAYER_LINE = re.compile(r"viewer (\S+) layer (\d+) \((\d+)x(\d+)\)")
JOINED = re.compile(r"viewer (\S+) joined")


def progress(proc):
    with proc.cond:
        lines = list(proc.lines)
    return [json.loads(l[len("progress "):]) for _, l in lines if l.startswith("progress {")]


def frames(proc):
    recs = progress(proc)
    return recs[-1]["frames"] if recs else 0


def layer_lines(host, viewer_id):
    """(layer, width, height) for each layer change the host reported for `viewer_id`."""
    with host.cond:
        lines = [l for _, l in host.lines]
    out = []
    for l in lines:
        m = LAYER_LINE.search(l)
        if m and m.group(1) == viewer_id:
            out.append((int(m.group(2)), int(m.group(3)), int(m.group(4))))
    return out


def layer_metrics(url):
    """{layer: (frames its encoder made, viewers holding it)} from the host's /metrics."""
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    frames, viewers = {}, {}
    for m in re.finditer(r'^roomcast_host_layer_(frames_total|viewers)\{layer="(\d+)"\} (\S+)$', text, re.M):
        (frames if m.group(1) == "frames_total" else viewers)[int(m.group(2))] = int(float(m.group(3)))
    return {k: (frames[k], viewers.get(k)) for k in frames}


class Prefer(RoomcastTest):
    def viewer(self, host, room, name, *extra):
        """A viewer, and its id as the host names it (its "viewer ID joined" line)."""
        start = len(host.lines)
        v = self.watch(room, "--progress", "--ice-loopback", "on", *extra, name=name)
        _, m = host.wait_line(JOINED.pattern, 20, start=start)
        return v, m.group(1)

    def wait_frames(self, viewer, at_least, within):
        deadline = time.monotonic() + within
        while frames(viewer) < at_least:
            self.assertIsNone(viewer.p.poll(), "%s exited:\n%s" % (viewer.name, viewer.stderr()))
            self.assertLess(time.monotonic(), deadline,
                            "%s: %d frames within %d s, wanted %d" % (viewer.name, frames(viewer), within,
                                                                      at_least))
            time.sleep(0.2)

    def test_viewer_preferring_the_quarter_layer_gets_it_the_other_stays_on_top(self):
        host = self.live("prefer", "--ice-loopback", "on", *(MEDIA + LADDER))
        plain, plain_id = self.viewer(host, "prefer", "plain")
        small, small_id = self.viewer(host, "prefer", "small", "--prefer", "2")
        self.assertNotEqual(plain_id, small_id)
        # The one that asked is moved to the quarter layer (the switch waits for that layer's
        # keyframe, which the wish asks for at once).
        host.wait_line(r"viewer %s layer 2 \(160x90\)" % re.escape(small_id), 15)
        self.wait_frames(plain, 30, 20)
        self.wait_frames(small, 30, 20)
        # Both go on decoding for a few seconds more: the other viewer never left the top layer,
        # the small one never left the quarter.
        f_plain, f_small = frames(plain), frames(small)
        time.sleep(4)
        self.assertGreater(frames(plain), f_plain + 20, "the plain viewer stopped decoding")
        self.assertGreater(frames(small), f_small + 20, "the small viewer stopped decoding")
        self.assertEqual(layer_lines(host, plain_id), [],
                         "the viewer that asked for nothing left the top layer")
        self.assertEqual(layer_lines(host, small_id)[-1], (2, 160, 90))
        self.assertTrue(all(l == 2 for l, _, _ in layer_lines(host, small_id)),
                        "layers of the small viewer: %s" % layer_lines(host, small_id))
        for v in (plain, small):
            self.assertIsNone(v.p.poll(), "%s exited:\n%s" % (v.name, v.stderr()))

    def test_encoders_run_only_for_layers_someone_is_sent(self):
        """A layer's encoder is fed only while a viewer is sent that layer (or is switching to it):
        none with no viewer, the top for a plain viewer, the quarter too for one that asks for
        it, and it stops again when that viewer leaves."""
        host = self.live("encoders", "--ice-loopback", "on", "--metrics", "127.0.0.1:0", *(MEDIA + LADDER))
        _, m = host.wait_line(r"host metrics at (http://127\.0\.0\.1:\d+/metrics)$", 5)
        url = m.group(1)

        def frames_during(seconds):
            """Frames each layer's encoder made in `seconds`, and the holders at the end."""
            before = layer_metrics(url)
            time.sleep(seconds)
            after = layer_metrics(url)
            self.assertEqual(sorted(after), [0, 1, 2], "layers in /metrics: %s" % after)
            return [after[i][0] - before[i][0] for i in range(3)], [after[i][1] for i in range(3)]

        def settled(want_holders, within=15):
            """Waits until the layers' holders are `want_holders`, then lets a second pass."""
            deadline = time.monotonic() + within
            while True:
                now = layer_metrics(url)  # empty until the ladder is built and sampled
                if [now.get(i, (0, None))[1] for i in range(3)] == want_holders:
                    break
                self.assertLess(time.monotonic(), deadline, "holders %s, wanted %s" % (now, want_holders))
                time.sleep(0.2)
            time.sleep(1)

        # No viewer: no encoder runs (each made its first frame at the start, then stopped).
        settled([0, 0, 0])
        made, holders = frames_during(3)
        self.assertEqual(made, [0, 0, 0], "frames made with no viewer")
        plain, plain_id = self.viewer(host, "encoders", "plain")
        self.wait_frames(plain, 15, 20)
        settled([1, 0, 0])
        made, holders = frames_during(3)
        self.assertGreater(made[0], 30, "top layer at 15 fps for 3 s")
        self.assertEqual(made[1:], [0, 0], "smaller layers while only the top is watched")
        small, small_id = self.viewer(host, "encoders", "small", "--prefer", "2")
        host.wait_line(r"viewer %s layer 2 \(160x90\)" % re.escape(small_id), 15)
        self.wait_frames(small, 15, 20)
        settled([1, 0, 1])
        made, holders = frames_during(3)
        self.assertGreater(made[0], 30)
        self.assertGreater(made[2], 30, "the quarter layer, asked for")
        self.assertEqual(made[1], 0, "the half layer, that no one is sent")
        # The small viewer leaves: its layer stops; the plain one goes on decoding.
        small.kill()
        settled([1, 0, 0], within=30)
        f = frames(plain)
        made, holders = frames_during(3)
        self.assertGreater(made[0], 30)
        self.assertEqual(made[1:], [0, 0], "smaller layers after the small viewer left")
        self.assertGreater(frames(plain), f + 20, "the plain viewer stopped decoding")
        plain.kill()
        settled([0, 0, 0], within=30)
        made, holders = frames_during(2)
        self.assertEqual(made, [0, 0, 0], "frames made after every viewer left")
        self.assertIsNone(host.p.poll(), "the host exited:\n%s" % host.stderr())

    def test_host_without_a_ladder_ignores_the_wish(self):
        host = self.live("prefer-single", "--ice-loopback", "on", *MEDIA,
                         env={"GST_DEBUG": "roomcastclient:5", "GST_DEBUG_NO_COLOR": "1"})
        small, small_id = self.viewer(host, "prefer-single", "small", "--prefer", "1")
        self.wait_frames(small, 30, 20)
        self.assertEqual(layer_lines(host, small_id), [])
        self.assertIsNone(host.p.poll(), "the host exited:\n%s" % host.stderr())
        # The wish did arrive, and was let go (at debug level).
        log = host.stderr(10 ** 7)
        self.assertRegex(log, r"prefer from %s \(layer 1, max height -1\) ignored: no ladder" % re.escape(small_id))

    def test_wish_is_sent_again_after_a_rejoin(self):
        # A server of our own on a port we know, so that it can come back on it.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ws = "ws://127.0.0.1:%d/ws" % port
        server = self.start(["serve", "--host", "127.0.0.1", "--port", str(port)], name="serve2")
        server.wait_line(r"listening on", 10)
        host = self.start(["live", "--server", ws, "--room", "prefer-again", "--ice-loopback", "on"] + MEDIA +
                          LADDER, name="live")
        host.wait_line(r"is live", 20)
        start = len(host.lines)
        small = self.start(["watch", "--server", ws, "--room", "prefer-again", "--sink", "fake", "--progress",
                            "--ice-loopback", "on", "--prefer", "2"], name="small")
        _, m = host.wait_line(JOINED.pattern, 20, start=start)
        first_id = m.group(1)
        host.wait_line(r"viewer %s layer 2 \(160x90\)" % re.escape(first_id), 15)
        self.wait_frames(small, 15, 20)

        server.kill()
        start = len(host.lines)
        server = self.start(["serve", "--host", "127.0.0.1", "--port", str(port)], name="serve3")
        server.wait_line(r"listening on", 10)
        _, m = host.wait_line(JOINED.pattern, 30, start=start)
        second_id = m.group(1)
        self.assertNotEqual(second_id, first_id, "the new session should have a new id")
        host.wait_line(r"viewer %s layer 2 \(160x90\)" % re.escape(second_id), 15, start=start)
        f = frames(small)
        self.wait_frames(small, f + 15, 20)


if __name__ == "__main__":
    unittest.main()
