"""Meeting mode (mesh) end to end: a real server and real `roomcast meet` members.

Members join about a second apart; meeting connections take 3-5 s to form (see
docs/architecture.md), so every wait here allows for that.

Members report their counts so far on SIGUSR1 (JSON lines, then "report end"), so a test can
measure what arrived over a window instead of guessing from totals.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomcastTest, env_with_plugin, have  # noqa: E402

FPS = 15
MEDIA = ["--source", "test", "--size", "320x240", "--fps", str(FPS), "--sink", "fake"]


def members_json(proc):
    proc.reader.join(timeout=5)
    out = {}
    for _, line in proc.lines:
        if line.startswith("{"):
            r = json.loads(line)
            out[r["id"]] = r
    return out


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def grab(display, width=1280, height=720):
    """One RGB frame of an X display (ximagesrc), as (width, height, bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "grab.rgb")
        subprocess.run(["gst-launch-1.0", "-q", "ximagesrc", "display-name=" + display, "use-damage=false",
                        "num-buffers=1", "!", "videoconvert", "!",
                        "video/x-raw,format=RGB,width=%d,height=%d" % (width, height), "!",
                        "filesink", "location=" + out], check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out, "rb") as f:
            return width, height, f.read()


def colour_bars(image, row):
    """Counts the colour bars along one pixel row: pixels are reduced to 8 colours (each channel
    above or below half) and runs shorter than 8 pixels (scaled edges, text) are ignored. The test
    source's SMPTE pattern has 7 bars in its top two thirds (8 runs when its motion wraps one),
    so one tile across the window gives 7-8, two side by side 14-16. Black is not counted (the
    pattern's top has none): it is the bars a tile keeps around a picture of another shape."""
    width, _, data = image
    line = data[row * width * 3:(row + 1) * width * 3]
    colours = [(line[i] > 127, line[i + 1] > 127, line[i + 2] > 127) for i in range(0, len(line), 3)]
    runs = []
    for c in colours:
        if runs and runs[-1][0] == c:
            runs[-1][1] += 1
        else:
            runs.append([c, 1])
    bars = []
    last = None
    for c, n in runs:
        if n < 8:
            continue
        if c == (False, False, False):
            last = None
            continue
        if last == c:
            continue
        bars.append(c)
        last = c
    return len(bars)


class Meeting(RoomcastTest):
    def member(self, room, name, *extra):
        return self.start(["meet", "--server", self.ws, "--room", room, "--name", name] + MEDIA + list(extra),
                          name=name)

    def staggered(self, room, names, *extra):
        # Members join about a second apart. (Joins within the same ~100 ms can leave a pair
        # without media: a known race, see the meeting issue; not hidden here, just not this test.)
        out = []
        for n in names:
            out.append(self.member(room, n, *extra))
            time.sleep(1.0)
        return out

    def test_four_members_decode_each_other(self):
        # Everyone stays for the whole run (an early finisher would leave before the last joiner
        # got its frames); then every member must have decoded every other one.
        members = self.staggered("four", ["m%d" % i for i in range(4)], "--timeout", "25", "--report")
        for m in members:
            self.assertEqual(m.wait(60), 0, m.stderr())
        for m in members:
            seen = {r["name"]: r for r in members_json(m).values()}
            self.assertEqual(sorted(seen), sorted(o.name for o in members if o is not m), seen)
            for r in seen.values():
                self.assertGreaterEqual(r["frames"], 45, (m.name, r))
                self.assertEqual((r["width"], r["height"]), (320, 240))

    def snapshot(self, member):
        """Asks a running member for its counts so far (SIGUSR1); returns {name: frames}."""
        mark = len(member.lines)
        member.p.send_signal(signal.SIGUSR1)
        member.wait_line(r"report end", 10, start=mark)
        with member.cond:
            lines = [l for _, l in member.lines[mark:]]
        out = {}
        for line in lines:
            if line.startswith("{"):
                r = json.loads(line)
                out[r["name"]] = r["frames"]
        return out

    def wait_seeing(self, member, n, timeout=60, start=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with member.cond:
                got = sum(1 for _, l in member.lines[start:] if re.search(r"seeing \S+", l))
            if got >= n:
                return
            time.sleep(0.3)
        raise AssertionError("%s sees %d of %d members; stdout:\n%s\nstderr:\n%s" % (
            member.name, got, n, "\n".join(l for _, l in member.lines), member.stderr()))

    def test_member_leaves_others_go_on_and_late_joiner_sees_all(self):
        # Four long-running members; wait until everyone sees everyone.
        members = self.staggered("churn", ["c%d" % i for i in range(4)], "--timeout", "120", "--report")
        for m in members:
            self.wait_seeing(m, 3)
        leaver, stay = members[0], members[1:]
        marks = [len(m.lines) for m in stay]
        # c0 vanishes (SIGKILL: no goodbye, the server sees its socket close).
        leaver.kill()
        # Everyone else drops it (connection and tile) within a bounded time.
        leaver_id = stay[0].wait_line(r"seeing c0 \((\S+)\)$", 1)[1].group(1)
        for m, mark in zip(stay, marks):
            m.wait_line(r"c0 \(%s\) left$" % leaver_id, 15, start=mark)
        # The remaining three keep decoding each other: counts taken 4 s apart grow by at least
        # 2 s worth of frames (15 fps) from every other remaining member.
        before = [self.snapshot(m) for m in stay]
        time.sleep(4)
        after = [self.snapshot(m) for m in stay]
        for m, b, a in zip(stay, before, after):
            for other in stay:
                if other is not m:
                    self.assertGreaterEqual(a.get(other.name, 0) - b.get(other.name, 0), 2 * FPS,
                                            (m.name, other.name, b, a))
        # c0 comes back (a new process, same name): it gets everyone again, and they get it.
        marks = [len(m.lines) for m in stay]
        back = self.member("churn", "c0", "--timeout", "120", "--report")
        self.wait_seeing(back, 3)
        for m, mark in zip(stay, marks):
            m.wait_line(r"seeing c0 \(\S+\)$", 30, start=mark)
        # A fifth member joining late sees all four, and they see it.
        late = self.member("churn", "late", "--expect", "4", "--frames", "30", "--timeout", "60")
        self.assertEqual(late.wait(80), 0, late.stderr())
        seen = members_json(late)
        self.assertEqual(sorted(r["name"] for r in seen.values() if r["frames"] >= 30), ["c0", "c1", "c2", "c3"])
        for m in stay + [back]:
            m.wait_line(r"seeing late \(\S+\)$", 30)
        for m in stay:
            self.assertEqual(m.interrupt(20), 0, m.stderr())
            got = members_json(m)
            self.assertGreaterEqual(max(r["frames"] for r in got.values() if r["name"] == "late"), 1, got)
            # The vanished c0 is reported gone; the returned c0 (a new id) is present.
            c0s = {r["id"]: r for r in got.values() if r["name"] == "c0"}
            self.assertFalse(c0s[leaver_id]["present"], got)
            self.assertTrue(any(r["present"] for i, r in c0s.items() if i != leaver_id), got)
        self.assertEqual(back.interrupt(20), 0, back.stderr())

    def test_names_reach_the_others_exactly(self):
        # A name with a non-ASCII letter and a quote: the other member's JSON report (json-glib)
        # carries it exactly (g_strescape made Jos\303\251 \"Q\" of it, which is not JSON).
        name = 'José "Q"'
        env = env_with_plugin({"LC_ALL": "C.UTF-8"})  # the name arrives as UTF-8 in any case
        first = self.start(["meet", "--server", self.ws, "--room", "names", "--name", name] + MEDIA +
                           ["--timeout", "30", "--report"], name="jose", env=env)
        time.sleep(1.0)
        other = self.member("names", "plain", "--expect", "1", "--frames", "30", "--timeout", "40")
        self.assertEqual(other.wait(50), 0, other.stderr())
        seen = list(members_json(other).values())
        self.assertEqual([r["name"] for r in seen], [name], seen)
        self.assertGreaterEqual(seen[0]["frames"], 30, seen)
        # And the other way round, in the first member's own report (at its Ctrl-C).
        self.assertEqual(first.interrupt(20), 0, first.stderr())
        self.assertIn("plain", [r["name"] for r in members_json(first).values()])

    def shows_tiles(self, display, tiles, timeout=20):
        """Whether a grab of the display shows `tiles` test-pattern tiles side by side within the
        timeout (the pattern moves, so a tile shows 7 or 8 bars: 7 plus a wrapped one)."""
        deadline = time.monotonic() + timeout
        while True:
            bars = colour_bars(grab(display), row=300)
            if 7 * tiles - 1 <= bars <= 8 * tiles + 1:
                return True
            if time.monotonic() > deadline:
                print("%s: %d colour bars along row 300, wanted %d tiles" % (display, bars, tiles))
                return False
            time.sleep(0.5)

    def black(self, display, rows, columns, timeout=10):
        """Whether a grab of the display is black (every channel below 48) at these rows and
        columns within the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            width, _, data = grab(display)
            bad = [(r, c) for r in rows for c in columns
                   if max(data[(r * width + c) * 3:(r * width + c) * 3 + 3]) >= 48]
            if not bad:
                return True
            if time.monotonic() > deadline:
                print("%s: %d pixels not black, first %r" % (display, len(bad), bad[:5]))
                return False
            time.sleep(0.5)

    def test_three_members_show_each_other_in_a_window(self):
        """The issue's "three terminals": three members; g0 shows the real grid window (--sink auto)
        on an Xvfb display, whose screen grabs show the other two as tiles, then one tile after a
        member leaves. (One display only: with several Xvfb servers at once, Xlib here refused
        about one sink connection in three.)"""
        if not have("Xvfb") or not have("gst-launch-1.0"):
            self.skipTest("Xvfb and gst-launch-1.0 are needed")
        display = self.xvfb("1280x720")
        media = ["--source", "test", "--size", "320x240", "--fps", "15", "--timeout", "90"]
        # Known flake (open): now and then ximagesink's XOpenDisplay on a fresh Xvfb fails ("Could
        # not initialise X output") and g0 stops at once. It is the X connection, not the meeting:
        # start g0 again (at most twice) when that is what happened.
        for attempt in range(3):
            g0 = self.start(["meet", "--server", self.ws, "--room", "grid", "--name", "g0", "--sink", "auto"]
                            + media, name="g0", env=env_with_plugin({"DISPLAY": display}))
            try:
                g0.wait_line(r"in room 'grid' as g0", 15)
            except AssertionError:
                pass
            time.sleep(1.0)
            if g0.p.poll() is None or "Could not initialise X output" not in g0.stderr():
                break
            print("g0 could not open the X display (attempt %d); starting it again" % (attempt + 1))
        members = [g0]
        for name in ("g1", "g2"):
            members.append(self.start(["meet", "--server", self.ws, "--room", "grid", "--name", name,
                                       "--sink", "fake"] + media, name=name))
            time.sleep(1.0)
        for m in members:
            deadline = time.monotonic() + 60
            while m.count_lines(r"seeing \S+") < 2 and time.monotonic() < deadline:
                time.sleep(0.3)
            self.assertEqual(m.count_lines(r"seeing \S+"), 2, "\n".join(
                "%s: %s\n%s" % (o.name, [l for _, l in o.lines], o.stderr()) for o in members))
        self.assertTrue(self.shows_tiles(display, 2), "g0 should show two tiles")
        # Two 4:3 pictures side by side, each in a 640x720 tile: 640x480, letterboxed (black above
        # and below), never stretched to 640x720.
        self.assertTrue(self.black(display, rows=[40, 80, 660], columns=range(0, 1280)),
                        "g0's tiles should be letterboxed")
        leaver_id = members[0].wait_line(r"seeing g2 \((\S+)\)$", 1)[1].group(1)
        mark = len(members[0].lines)
        self.assertEqual(members[2].interrupt(20), 0, members[2].stderr())
        members[0].wait_line(r"g2 \(%s\) left$" % leaver_id, 15, start=mark)
        self.assertTrue(self.shows_tiles(display, 1), "g0 should show one tile")
        # One 4:3 picture in the 1280x720 grid: 960x720 between black bars left and right.
        self.assertTrue(self.black(display, rows=[300, 600], columns=list(range(0, 140)) + list(range(1140, 1280))),
                        "g0's one tile should be pillarboxed")
        for m in members[:2]:
            self.assertEqual(m.interrupt(20), 0, m.stderr())

    def bench_cpu_per_member_as_the_room_grows(self):
        """A measurement, not a test (run by hand: python3 test_meet.py
        Meeting.bench_cpu_per_member_as_the_room_grows): a member's CPU for 2..5 members."""
        first = self.member("cpu", "cpu0", "--timeout", "200")
        others = []
        results = {}
        window = 5.0
        # A CPU figure counts only if the member really received everyone meanwhile: at least
        # half the frames the window holds at the source's rate, from each other member.
        min_frames = int(window * FPS / 2)
        for n in range(2, 6):
            others.append(self.member("cpu", "cpu%d" % (n - 1), "--timeout", "200"))
            deadline = time.monotonic() + 60
            while first.count_lines(r"seeing \S+") < n - 1 and time.monotonic() < deadline:
                time.sleep(0.3)
            self.assertGreaterEqual(first.count_lines(r"seeing \S+"), n - 1, first.stderr())
            time.sleep(2)
            before = self.snapshot(first)
            c0, t0 = cpu_seconds(first.pid), time.monotonic()
            time.sleep(window)
            c1, t1 = cpu_seconds(first.pid), time.monotonic()
            after = self.snapshot(first)
            for o in others:
                got = after.get(o.name, 0) - before.get(o.name, 0)
                self.assertGreaterEqual(got, min_frames, "%d members: %d frames from %s in %.0f s (%r, %r)" % (
                    n, got, o.name, window, before, after))
            results[n] = 100.0 * (c1 - c0) / (t1 - t0)
        print("member CPU (%% of one core, 320x240@%d VP8): %s" % (
            FPS, ", ".join("%d members: %.1f%%" % (n, v) for n, v in sorted(results.items()))))


if __name__ == "__main__":
    unittest.main(verbosity=2)
