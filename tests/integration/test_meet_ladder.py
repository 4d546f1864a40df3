"""Meetings with a ladder (issue 14, item 4: "meetings use the same mechanism so a 6-member grid
does not receive six full-size streams").

Three `roomcast meet --ladder 1,0.5,0.25` members on loopback (no netlab: every link carries the
top layer). One of them asks the others for layer 2 (`--prefer 2`, the protocol's `prefer` from
member to member). Each asked member must send that one the quarter layer (its event line
`member NAME (ID) layer 2 (160x90)`, from roomcastsink's per-peer `layer` stats, as `live` prints
for viewers) while its branch to the third member stays on the top layer; the one that asked must
decode 160x90 from both, the third 640x360 from both. The live rules stay: a viewer may ask only
its host, a host nobody (the server answers `forbidden`).
"""
import json
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomcastTest, env_with_plugin  # noqa: E402
from wsraw import RawWs  # noqa: E402

FPS = 10
MEDIA = ["--source", "test", "--size", "640x360", "--fps", str(FPS), "--bitrate", "1000", "--sink", "fake",
         "--ice-loopback", "on"]
SETTLE_MAX_S, WINDOW_S = 60, 8
LADDER = ["--ladder", "1,0.5,0.25"]
LAYER_LINE = re.compile(r"member (.+) \((\S+)\) layer (\d+) \((\d+)x(\d+)\)$")


def layer_lines(member, other_id):
    """(layer, width, height) for each layer change `member` reported for what it sends `other_id`."""
    with member.cond:
        lines = [l for _, l in member.lines]
    out = []
    for l in lines:
        m = LAYER_LINE.search(l)
        if m and m.group(2) == other_id:
            out.append((int(m.group(3)), int(m.group(4)), int(m.group(5))))
    return out


def layer_changes(member, other_id):
    """(monotonic time, layer) of each layer change `member` reported for `other_id`."""
    with member.cond:
        return [(t, int(m.group(3))) for t, l in member.lines
                for m in [LAYER_LINE.search(l)] if m and m.group(2) == other_id]


def top_share(member, other_id, t0, t1):
    """The share of [t0, t1] (monotonic times) in which `member` sent `other_id` layer 0, from its
    layer lines (a member starts everyone on layer 0)."""
    changes = layer_changes(member, other_id)
    layer, at, top = 0, t0, 0.0
    for t, l in changes:
        if t <= t0:
            layer = l
            continue
        if t >= t1:
            break
        if layer == 0:
            top += t - at
        layer, at = l, t
    if layer == 0:
        top += t1 - at
    return top / (t1 - t0)


class MeetLadder(RoomcastTest):
    def member(self, room, name, *extra):
        # roomcastpeer at INFO: each layer change with its reason (estimate, loss, RTT) on stderr.
        return self.start(["meet", "--server", self.ws, "--room", room, "--name", name, "--timeout", "90"] +
                          MEDIA + list(extra), name=name,
                          env=env_with_plugin({"GST_DEBUG": os.environ.get("ML_DEBUG", "roomcastpeer:4"), "GST_DEBUG_NO_COLOR": "1"}))

    def why(self, member):
        """The layer changes `member` logged (roomcastpeer), for a failure's message."""
        return "\n".join(l for l in member.stderr(10 ** 7).splitlines() if ("layer" in l and "->" in l) or os.environ.get("ML_DEBUG"))

    def report(self, member):
        """Asks a running member for what it received so far (SIGUSR1): {name: record}."""
        mark = len(member.lines)
        member.p.send_signal(signal.SIGUSR1)
        member.wait_line(r"report end", 10, start=mark)
        with member.cond:
            lines = [l for _, l in member.lines[mark:]]
        return {r["name"]: r for r in (json.loads(l) for l in lines if l.startswith("{"))}

    def id_of(self, seer, name):
        """The id `seer` knows member `name` by (its "seeing NAME (ID)" line)."""
        return seer.wait_line(r"seeing %s \((\S+)\)$" % re.escape(name), 60)[1].group(1)

    def wait_report(self, member, want, within, what):
        """Reports of `member` until want(report) holds; returns that report."""
        deadline = time.monotonic() + within
        while True:
            r = self.report(member)
            if want(r):
                return r
            if time.monotonic() > deadline:
                raise AssertionError("%s: %s not within %d s; last report %s\nstderr:\n%s" % (
                    member.name, what, within, r, member.stderr()))
            time.sleep(0.5)

    def last_layer(self, member, other_id):
        lines = layer_lines(member, other_id)
        return lines[-1][0] if lines else 0

    def test_member_preferring_the_quarter_layer_gets_it_from_both_others(self):
        a = self.member("ml", "a", *LADDER)
        time.sleep(1.0)
        b = self.member("ml", "b", *LADDER)
        time.sleep(1.0)
        small = self.member("ml", "small", "--prefer", "2", *LADDER)
        t_small = time.monotonic()
        ids = {}
        for seer, names in ((a, ("b", "small")), (b, ("a", "small")), (small, ("a", "b"))):
            for n in names:
                ids[n] = self.id_of(seer, n)
        t0 = time.monotonic()
        # Each asked member moves its branch to `small` onto the quarter layer (the switch waits
        # for that layer's keyframe, which the wish asks for at once).
        switched_s = max(m.wait_line(r"member small \(%s\) layer 2 \(160x90\)$" % re.escape(ids["small"]), 20)[0]
                         for m in (a, b)) - t_small
        # a and b send each other the top layer, judged as test_ladder judges a clean viewer: by
        # the share of a window it spent there, after settling. They may step down first: on this
        # shared 2-core machine a meeting pair's first seconds see NACKs (10-25% of the packets
        # of a second, in measurements) that the chooser takes as loss, as it would for a viewer;
        # its probes climb back (after its backoff: 15-20 s). The same holds for what `small`
        # sends a and b (it asked for less, it sends the top layer): seen at the start in 3 of 4
        # runs here on an idle machine once the ladder's encoders ran only while used (a step to
        # the half layer at ~11% NACKed, then to the quarter at 50% of its first ~13 packets;
        # never with roomcastpeer at debug level 5, which slows the members down). Settled: all
        # four branches on the top layer for 3 s.
        full = ((a, "b"), (b, "a"), (small, "a"), (small, "b"))
        deadline = time.monotonic() + SETTLE_MAX_S
        while True:
            last = max([t for m, o in full for t, _ in layer_changes(m, ids[o])] or [t0])
            if all(self.last_layer(m, ids[o]) == 0 for m, o in full) and time.monotonic() - max(last, t0) >= 3:
                break
            self.assertLess(time.monotonic(), deadline, "a, b and small not back on the top layer for "
                            "a and b within %d s:\n%s\n%s\n%s" % (SETTLE_MAX_S, self.why(a), self.why(b),
                                                                   self.why(small)))
            time.sleep(0.5)
        settled_s = time.monotonic() - t_small
        w0 = time.monotonic()
        before = {m.name: self.report(m) for m in (a, b, small)}
        time.sleep(WINDOW_S)
        after = {m.name: self.report(m) for m in (a, b, small)}
        w1 = time.monotonic()
        for m in (a, b, small):
            for other in ("a", "b", "small"):
                if other == m.name:
                    continue
                gained = after[m.name][other]["frames"] - before[m.name][other]["frames"]
                self.assertGreater(gained, WINDOW_S * FPS * 0.6, "%s from %s in %d s: %s -> %s" % (
                    m.name, other, WINDOW_S, before[m.name], after[m.name]))
        on_top = {m.name: top_share(m, ids[o], w0, w1) for m, o in ((a, "b"), (b, "a"))}
        for name, share in on_top.items():
            self.assertGreaterEqual(share, 0.8, "%s sent its other full member the top layer for %.0f%% of the "
                                    "window:\n%s" % (name, 100 * share, self.why(a if name == "a" else b)))
        # `small` was only ever sent the quarter layer, and decodes it from both at the end; it
        # asked for less, it did not send less (a and b decode it at full size).
        for m in (a, b):
            lines = layer_lines(m, ids["small"])
            self.assertTrue(lines and all(l == (2, 160, 90) for l in lines), "%s: %s" % (m.name, lines))
        sizes = {o: (r["width"], r["height"]) for o, r in after["small"].items()}
        self.assertEqual(sizes, {"a": (160, 90), "b": (160, 90)}, after["small"])
        for m in (a, b):
            self.assertEqual((after[m.name]["small"]["width"], after[m.name]["small"]["height"]), (640, 360),
                             "%s decodes small at %s; small's layer lines for it: %s\n%s" % (
                                 m.name, after[m.name]["small"], layer_lines(small, ids[m.name]), self.why(small)))
        print("both asked members sent `small` 160x90 within %.1f s of its start; a and b "
              "settled on the top layer for each other after %.1f s (changes: a %s, b %s), then %.0f%% / %.0f%% "
              "of a %d s window" % (switched_s, settled_s, layer_lines(a, ids["b"]), layer_lines(b, ids["a"]),
                                   100 * on_top["a"], 100 * on_top["b"], WINDOW_S))
        for m in (a, b, small):
            self.assertEqual(m.interrupt(20), 0, m.stderr())

    def test_member_without_a_ladder_ignores_the_wish(self):
        plain = self.start(["meet", "--server", self.ws, "--room", "ml-plain", "--name", "plain", "--timeout", "60"] +
                           MEDIA, name="plain",
                           env=env_with_plugin({"GST_DEBUG": "roomcastclient:5", "GST_DEBUG_NO_COLOR": "1"}))
        time.sleep(1.0)
        small = self.member("ml-plain", "small", "--prefer", "1")
        small_id = self.id_of(plain, "small")
        r = self.wait_report(small, lambda r: r.get("plain", {}).get("frames", 0) >= 30, 30, "frames from plain")
        self.assertEqual((r["plain"]["width"], r["plain"]["height"]), (640, 360), r)
        log = plain.stderr(10 ** 7)
        self.assertRegex(log, r"prefer from %s \(layer 1, max height -1\) ignored: no ladder" % re.escape(small_id))
        for m in (plain, small):
            self.assertEqual(m.interrupt(20), 0, m.stderr())

    def test_live_rules_stay(self):
        # A real host with a ladder; viewers and a second room's host on raw sockets, so they can
        # send what no roomcast client sends.
        host = self.live("ml-live", "--ice-loopback", "on", "--source", "test", "--size", "640x360", *LADDER)
        addr, port = re.match(r"ws://([^:/]+):(\d+)/", self.ws).groups()
        v1, v2 = RawWs(addr, int(port)), RawWs(addr, int(port))
        self.addCleanup(v1.close)
        self.addCleanup(v2.close)
        w1, w2 = v1.join("ml-live", "viewer"), v2.join("ml-live", "viewer")
        self.assertEqual((w1["type"], w2["type"]), ("welcome", "welcome"), (w1, w2))
        host_id = next(p["id"] for p in w1["peers"] if p["role"] == "host")
        # A viewer names another viewer: forbidden, with the rule in words.
        v1.send({"type": "prefer", "to": w2["id"], "layer": 2})
        err = v1.expect(lambda m: m.get("type") == "error", 10, "a refusal")
        self.assertEqual((err["code"], err.get("ref")), ("forbidden", "prefer"), err)
        self.assertIn("viewer of its host", err["message"])
        # A host asks nobody: another room's host (raw) naming its viewer is refused too.
        h2, v3 = RawWs(addr, int(port)), RawWs(addr, int(port))
        self.addCleanup(h2.close)
        self.addCleanup(v3.close)
        self.assertEqual(h2.join("ml-live2", "host")["type"], "welcome")
        w3 = v3.join("ml-live2", "viewer")
        h2.send({"type": "prefer", "to": w3["id"], "maxHeight": 90})
        err = h2.expect(lambda m: m.get("type") == "error", 10, "a refusal")
        self.assertEqual((err["code"], err.get("ref")), ("forbidden", "prefer"), err)
        # A viewer to its host is still relayed (no error comes back), and nothing reached v2.
        v1.send({"type": "prefer", "to": host_id, "layer": 1})
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            m = v1.recv(deadline - time.monotonic())
            self.assertFalse(m and m.get("type") == "error", m)
        self.assertFalse([m for m in v2.received if m.get("type") == "prefer"], v2.received)
        self.assertIsNone(host.p.poll(), host.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
