"""Coming back by themselves (issue 11, "reconnect everywhere"): real processes whose signalling
server dies and comes back, and a viewer cut off from its host for 30 s.

Each test runs everything (server, hosts, viewers, members) in a network namespace of its own
with only a loopback interface: the server can be killed and started again on the same port
(8443, free there), ICE can only use loopback, and nft rules that cut UDP touch nothing but the
test's own processes. The processes' stderr is collected with their stdout, so the warnings and
"back in room" lines have arrival times.

How progress is measured: `roomcast watch --progress` prints a line every second,
`progress {"t_ms":…,"frames":…,"gap_ms":…,"host":…}` (gap_ms: the longest time between two
decoded frames since the previous line, so the line after an interruption carries its length);
`roomcast meet` reports its counts per member id on SIGUSR1.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from harness import ROOMCAST, Proc  # noqa: E402

PORT = 8443
WS = "ws://127.0.0.1:%d/ws" % PORT
LIVE_MEDIA = ["--source", "test", "--size", "640x360"]  # 30 fps
MEET_MEDIA = ["--source", "test", "--size", "320x240", "--fps", "15", "--sink", "fake"]
RECOVERY_S = 5.0  # everyone decodes again within this long after the server is back


class NsProc(Proc):
    """A roomcast process inside the test's namespace, stderr merged into its lines."""
    ns = None
    merge_stderr = True

    def command(self, args):
        # `ip netns exec` execs the command: the pid is roomcast's own (for SIGKILL, SIGSTOP).
        return ["ip", "netns", "exec", self.ns] + args


def progress_lines(proc, start=0):
    """(arrival time, record) of the watch's progress lines from index `start` on."""
    with proc.cond:
        lines = proc.lines[start:]
    return [(t, json.loads(l[len("progress "):])) for t, l in lines if l.startswith("progress {")]


def wait_progress(proc, pred, timeout, start=0, what="a progress line"):
    """Waits for a progress line (after index `start`) whose record satisfies pred; returns
    (arrival time, record)."""
    deadline = time.monotonic() + timeout
    while True:
        for t, r in progress_lines(proc, start):
            if pred(r):
                return t, r
        if time.monotonic() > deadline or proc.p.poll() is not None:
            raise AssertionError("%s: no %s within %.1f s; output:\n%s" % (
                proc.name, what, timeout, "\n".join(l for _, l in proc.lines[-40:])))
        time.sleep(0.1)


class Resilience(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (ip netns, nft)")
        self.ns = "rcres-" + uuid.uuid4().hex[:8]
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        self.procs = []

    def tearDown(self):
        for p in reversed(self.procs):
            if p.p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)  # a stopped process cannot die of SIGKILL soon enough
                except ProcessLookupError:
                    pass
            p.kill()
        subprocess.run(["ip", "netns", "del", self.ns])

    def start(self, args, name):
        NsProc.ns = self.ns
        p = NsProc([ROOMCAST] + args, name=name)
        self.procs.append(p)
        return p

    def serve(self, *extra):
        server = self.start(["serve", "--port", str(PORT)] + list(extra), "serve")
        server.wait_line(r"listening on ws://127\.0\.0\.1:%d/ws" % PORT, 10)
        return server

    def nft(self, *args):
        subprocess.run(["ip", "netns", "exec", self.ns, "nft"] + list(args), check=True)

    def assert_running(self, procs):
        for p in procs:
            self.assertIsNone(p.p.poll(), "%s exited:\n%s" % (p.name, "\n".join(l for _, l in p.lines[-40:])))

    def kill_server(self, server, everyone):
        """SIGKILL; returns the time and each process's line index at the kill. Everyone says at
        once that signalling is lost."""
        marks = {p: len(p.lines) for p in everyone}
        t_kill = time.monotonic()
        server.p.kill()
        server.p.wait(10)
        for p in everyone:
            t, _ = p.wait_line(r"signalling connection lost.*reconnecting", 3, start=marks[p])
            self.assertLess(t - t_kill, 1.0, p.name)
        return t_kill, marks

    # ---- the server dies and comes back ---------------------------------------------------------

    def test_server_killed_and_restarted_under_live_and_watchers(self):
        server = self.serve()
        host = self.start(["live", "--server", WS, "--room", "r"] + LIVE_MEDIA, "live")
        host.wait_line(r"is live", 20)
        watchers = [self.start(["watch", "--server", WS, "--room", "r", "--sink", "fake", "--progress"],
                               "watch%d" % i) for i in range(2)]
        first = {}
        for w in watchers:
            _, r = wait_progress(w, lambda r: r["frames"] >= 30, 30, what="30 frames")
            first[w] = r["host"]

        t_kill, marks = self.kill_server(server, [host] + watchers)
        # Media is peer to peer: it goes on while the server is down. Each watcher's first
        # progress line after the kill shows frames that kept coming, without a pause.
        before = {w: [r for t, r in progress_lines(w) if t < t_kill][-1] for w in watchers}
        for w in watchers:
            _, r = wait_progress(w, lambda r: r["t_ms"] > before[w]["t_ms"], 3, start=marks[w])
            self.assertGreater(r["frames"], before[w]["frames"] + 10, (w.name, before[w], r))
            self.assertLess(r["gap_ms"], 500, (w.name, r))
        # The server comes back on the same port 1 s after it died.
        left = t_kill + 1.0 - time.monotonic()
        if left > 0:
            time.sleep(left)
        for w in watchers:  # and nothing stopped meanwhile
            self.assertGreater(progress_lines(w)[-1][1]["frames"], before[w]["frames"], w.name)
        self.assert_running([host] + watchers)
        t_restart = time.monotonic()
        marks = {p: len(p.lines) for p in [host] + watchers}
        self.serve()

        back = {}
        for p in [host] + watchers:
            t, _ = p.wait_line(r"back in room 'r' as p\w+", RECOVERY_S, start=marks[p])
            back[p.name] = t - t_restart
        decoding = {}
        for w in watchers:
            # Frames from the host's new session (a new id), within the bound.
            left = t_restart + RECOVERY_S - time.monotonic()
            n0 = progress_lines(w, marks[w])[-1][1]["frames"] if progress_lines(w, marks[w]) else 0
            t, r = wait_progress(w, lambda r: r["host"] not in ("", first[w]) and r["frames"] > n0,
                                 max(left, 0.1), start=marks[w], what="frames from the host's new session")
            decoding[w.name] = t - t_restart
        # The host serves exactly the two watchers again (the old sessions were ended).
        host.wait_line(r"viewers 2 \(2 connected\)", 12, start=marks[host])
        # The longest interruption any watcher saw, from the kill on.
        gaps = {w.name: max(r["gap_ms"] for _, r in progress_lines(w) if _ >= t_kill) for w in watchers}
        print("back in the room after the restart (s): %s; decoding the new session: %s; "
              "longest gap between frames (ms): %s" % (
                  {k: round(v, 2) for k, v in back.items()}, {k: round(v, 2) for k, v in decoding.items()}, gaps))
        for name, gap in gaps.items():
            self.assertLess(gap, 2000, "%s: media stopped for %d ms" % (name, gap))
        self.assert_running([host] + watchers)
        for p in watchers + [host]:
            self.assertEqual(p.interrupt(15), 0, p.name)
        for w in watchers:
            self.assertGreater(w.json_result()["frames"], 100)

    def test_server_killed_and_restarted_under_a_meeting(self):
        server = self.serve()
        names = ["m0", "m1", "m2"]
        members = []
        for n in names:  # a second apart (see test_meet.py)
            members.append(self.start(["meet", "--server", WS, "--room", "mtg", "--name", n] + MEET_MEDIA, n))
            members[-1].wait_line(r"in room 'mtg'", 20)
            time.sleep(1.0)
        for m in members:
            self.wait_seeing(m, 2, 30)
        # Steady media first: a member's first second from a newcomer runs below the frame rate
        # (10 frames in its first ~0.7 s, then 3 in the next second, in one CI run), which is not
        # what the outage is measured against.
        deadline = time.monotonic() + 30
        while True:
            snaps = [self.snapshot(m) for m in members]
            low = min(self.frames_from(sn, n) for m, sn in zip(members, snaps) for n in names if n != m.name)
            if low >= 45:
                break
            self.assertLess(time.monotonic(), deadline, "members decode too slowly: %s" % snaps)
            time.sleep(0.5)

        t_kill, marks = self.kill_server(server, members)
        # Media goes on while the server is down: over the outage, frames keep coming from every
        # other member.
        before = [self.snapshot(m) for m in members]
        left = t_kill + 1.0 - time.monotonic()
        if left > 0:
            time.sleep(left)
        during = [self.snapshot(m) for m in members]
        for m, b, d in zip(members, before, during):
            for n in names:
                if n != m.name:
                    self.assertGreater(self.frames_from(d, n) - self.frames_from(b, n), 3, (m.name, n, b, d))
        self.assert_running(members)
        old_ids = {n: {r["id"] for r in during[0] + during[1] + during[2] if r["name"] == n} for n in names}

        t_restart = time.monotonic()
        marks = {m: len(m.lines) for m in members}
        self.serve()
        # Within the bound every member is back and decodes both others' new sessions.
        deadline = t_restart + RECOVERY_S
        for m in members:
            m.wait_line(r"back in room 'mtg' as p\w+", max(deadline - time.monotonic(), 0.1), start=marks[m])
        got = {}
        while True:
            snaps = [self.snapshot(m) for m in members]
            got = {m.name: {r["name"]: r["frames"] for r in snap if r["present"] and r["id"] not in old_ids[r["name"]]}
                   for m, snap in zip(members, snaps)}
            if all(len([n for n, f in g.items() if f > 0]) == 2 for g in got.values()):
                break
            self.assertLess(time.monotonic(), deadline, "new sessions decoding after %.1f s: %r" % (
                time.monotonic() - t_restart, got))
            time.sleep(0.3)
        print("meeting decoding again %.2f s after the restart: %r" % (time.monotonic() - t_restart, got))
        # The old sessions are gone: each member sees exactly two others present.
        for m, snap in zip(members, snaps):
            self.assertEqual(sorted(r["name"] for r in snap if r["present"]), sorted(n for n in names if n != m.name),
                             (m.name, snap))
        self.assert_running(members)
        for m in members:
            self.assertEqual(m.interrupt(15), 0, m.name)

    def wait_seeing(self, member, n, timeout, start=0):
        deadline = time.monotonic() + timeout
        while member.count_lines(r"seeing \S+", start) < n:
            self.assertLess(time.monotonic(), deadline, "%s sees fewer than %d members:\n%s" % (
                member.name, n, "\n".join(l for _, l in member.lines)))
            time.sleep(0.2)

    def snapshot(self, member):
        """The member's report (SIGUSR1): one record per member id it ever heard from."""
        mark = len(member.lines)
        member.p.send_signal(signal.SIGUSR1)
        member.wait_line(r"report end", 10, start=mark)
        with member.cond:
            lines = [l for _, l in member.lines[mark:]]
        out = []
        for line in lines:
            if line.startswith("{"):
                out.append(json.loads(line))
            elif "report end" in line:
                break
        return out

    @staticmethod
    def frames_from(snap, name):
        return sum(r["frames"] for r in snap if r["name"] == name)

    # ---- a viewer cut off for 30 s ---------------------------------------------------------------

    def cut_off_viewer(self, cut, restore, server_args=()):
        """A host and one watcher; `cut(watch)` cuts the watcher off, `restore(watch)` ends that
        30 s later. Returns the watcher, the time the cut ended and the line index then."""
        self.serve(*server_args)
        host = self.start(["live", "--server", WS, "--room", "cut"] + LIVE_MEDIA, "live")
        host.wait_line(r"is live", 20)
        w = self.start(["watch", "--server", WS, "--room", "cut", "--sink", "fake", "--progress"], "watch")
        wait_progress(w, lambda r: r["frames"] >= 30, 30, what="30 frames")
        host_mark = len(host.lines)
        cut(w)
        t_cut = time.monotonic()
        time.sleep(30)  # the outage itself: its length is what the test is about
        # The host gave up on the viewer meanwhile (no RTCP, or its WebSocket was dropped).
        host.wait_line(r"viewer \S+ left", 1, start=host_mark)
        frames_cut = [r for t, r in progress_lines(w) if t < t_cut][-1]["frames"]
        mark = len(w.lines)
        restore(w)
        t_back = time.monotonic()
        self.t_cut = t_cut
        return host, w, t_back, mark, frames_cut

    def check_back(self, host, w, t_back, mark, frames_cut):
        # Decoding again (half a second of video more than before the cut) within the bound.
        timeline = lambda: "\n".join("  %6.1f %s" % (tl - t_back, l) for tl, l in w.lines
                                      if not l.startswith("progress") or tl > t_back - 1)
        try:
            t, r = wait_progress(w, lambda r: r["frames"] >= frames_cut + 15, RECOVERY_S, start=mark,
                                 what="frames after the cut")
        except AssertionError:
            print("watch, seconds from the end of the cut:\n" + timeline())
            raise
        w.wait_line(r"back in room 'cut' as p\w+", 1, start=mark)
        # The line after the outage carries it as its gap: the first new frame came about
        # t_cut + gap (the last one came just before the cut).
        gap = max(rec["gap_ms"] for _, rec in progress_lines(w, mark)) / 1000.0
        print("first frame about %.2f s after the cut ended; %d frames more %.2f s after it (%r); "
              "the viewer joined again %d times" % (
                  self.t_cut + gap - t_back, r["frames"] - frames_cut, t - t_back, r,
                  w.count_lines(r"back in room")))
        print(timeline())
        self.assert_running([host, w])
        self.assertEqual(w.interrupt(15), 0)
        self.assertEqual(host.interrupt(15), 0)

    def test_viewer_whose_udp_is_cut_for_30_s_comes_back(self):
        # nft drops every UDP packet in the namespace as it arrives: the media path between host
        # and viewer is cut, the WebSocket (TCP) stays up. (Dropped on input, as a real cut loses
        # packets on the way; dropped on output the sender's sendmsg fails, and libnice gives up
        # on such a pair at once.) The viewer finds no media and joins again, with a new session
        # every few seconds, until one connects.
        def cut(w):
            self.nft("add", "table", "inet", "cut")
            self.nft("add", "chain", "inet", "cut", "in", "{ type filter hook input priority 0 ; }")
            self.nft("add", "rule", "inet", "cut", "in", "meta", "l4proto", "udp", "drop")

        def restore(w):
            self.nft("delete", "table", "inet", "cut")

        host, w, t_back, mark, frames_cut = self.cut_off_viewer(cut, restore)
        # It saw no media and joined again, and again with new sessions that did not connect.
        self.assertGreaterEqual(w.count_lines(r"no media from the host for 5 s; joining the room again"), 1,
                                "\n".join(l for _, l in w.lines))
        self.assertGreaterEqual(w.count_lines(r"no connection to the host within 3 s; joining the room again"), 2,
                                "\n".join(l for _, l in w.lines))
        self.check_back(host, w, t_back, mark, frames_cut)

    def test_viewer_stopped_for_30_s_comes_back(self):
        # SIGSTOP for 30 s: the server drops the silent viewer (keepalive timeout 20 s here, so
        # surely within the stop) and tells the host; after SIGCONT the viewer finds its WebSocket
        # closed and its media gone, and joins again.
        host, w, t_back, mark, frames_cut = self.cut_off_viewer(
            lambda w: os.kill(w.pid, signal.SIGSTOP), lambda w: os.kill(w.pid, signal.SIGCONT),
            server_args=("--ping-interval", "5", "--ping-timeout", "20"))
        self.check_back(host, w, t_back, mark, frames_cut)
        self.assertTrue(any(re.search(r"signalling connection lost \(keepalive timeout\)", l) for _, l in w.lines),
                        "\n".join(l for _, l in w.lines))


if __name__ == "__main__":
    unittest.main(verbosity=2)
