"""The README's command lines, run as printed (issue 10: "every README command line works
together as printed").

They name fixed things (port 8443, room demo, build/ paths), so each test runs them in a network
namespace of its own with only a loopback interface: port 8443 is free there, and nothing but
loopback ICE can connect, which is what a user on one machine without a network has. Lines are
read from README.md, so a README edit that breaks them fails here. Only what a test needs to end
is added: `--frames/--timeout` on watch, and a bounded run for gst-launch.
"""
import os
import re
import shlex
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from harness import ROOMCAST, SOURCE_DIR, Proc, env_with_plugin  # noqa: E402


def readme_commands():
    """Every command in the README's ```sh blocks, continuation lines joined."""
    with open(os.path.join(SOURCE_DIR, "README.md")) as f:
        text = f.read()
    cmds = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for cmd in block.replace("\\\n", " ").splitlines():
            cmd = re.sub(r"\s+#.*$", "", cmd).strip()
            if cmd:
                cmds.append(cmd)
    return cmds


def the(cmds, prefix):
    found = [c for c in cmds if c.startswith(prefix)]
    if len(found) != 1:
        raise AssertionError("README: wanted one line starting %r, found %r" % (prefix, found))
    return shlex.split(found[0])


class NsProc(Proc):
    """A process inside the test's network namespace."""
    ns = None

    def command(self, args):
        return ["ip", "netns", "exec", self.ns] + args


class ReadmeLines(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (ip netns)")
        self.ns = "rcreadme-" + uuid.uuid4().hex[:8]
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)
        self.procs = []
        self.cmds = readme_commands()

    def tearDown(self):
        for p in reversed(self.procs):
            p.kill()
        subprocess.run(["ip", "netns", "del", self.ns])

    def run_line(self, argv, name, env=None):
        # build/src/app/roomcast is this build's binary (the README assumes build/ as ./dev does).
        argv = [ROOMCAST if a == "build/src/app/roomcast" else a for a in argv]
        NsProc.ns = self.ns
        p = NsProc(argv, env=env or env_with_plugin(), name=name)
        self.procs.append(p)
        return p

    def test_dev_live_and_the_printed_watch_line(self):
        # `./dev live` execs `roomcast live --room demo --source test` (after installing and
        # building, which a test does not redo): check the script still says so, then run it.
        with open(os.path.join(SOURCE_DIR, "dev")) as f:
            self.assertIn('live --room demo --source test "$@"', f.read())
        self.assertEqual(the(self.cmds, "./dev live")[:2], ["./dev", "live"])
        host = self.run_line([ROOMCAST, "live", "--room", "demo", "--source", "test"], "live")
        _, m = host.wait_line(r"roomcast watch .*", 20)
        printed = m.group(0)
        watch = the(self.cmds, "build/src/app/roomcast watch")
        # The line live prints and the README's line name the same server and room.
        for arg in watch[2:]:
            self.assertIn(arg, printed, "live printed %r; README says %r" % (printed, watch))
        w = self.run_line(watch + ["--frames", "30", "--timeout", "40"], "watch",
                          env=env_with_plugin({"DISPLAY": ""}))
        self.assertEqual(w.wait(60), 0, w.stderr())
        self.assertGreaterEqual(w.json_result()["frames"], 30)

    def test_gst_launch_sink_and_src_lines(self):
        sink = the(self.cmds, "gst-launch-1.0 videotestsrc")
        src = the(self.cmds, "gst-launch-1.0 roomcastsrc")
        self.assertIn("signaller::uri=ws://127.0.0.1:8443/ws", sink)
        # Both lines reach the server README's serve defaults give.
        self.run_line([ROOMCAST, "serve"], "serve").wait_line(r"listening on ws://127\.0\.0\.1:8443/", 10)
        env = env_with_plugin({"GST_DEBUG": "roomcastsrc:4,roomcastsink:4"})
        self.run_line(sink, "gst-sink", env=env)
        # The viewer's line ends in autovideosink: give it an X display (Xvfb) as a desktop has.
        r, wfd = os.pipe()
        x = subprocess.Popen(["ip", "netns", "exec", self.ns, "Xvfb", "-displayfd", str(wfd), "-screen", "0",
                              "640x480x24", "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, pass_fds=(wfd,))
        os.close(wfd)
        self.addCleanup(lambda: (x.terminate(), x.wait(10)))
        with os.fdopen(r) as f:
            display = ":" + f.readline().strip()
        viewer = self.run_line(src, "gst-src", env=dict(env, DISPLAY=display))
        # roomcastsrc exposes a pad once a stream is decoded (its debug log says so on stderr);
        # then the run must go on without errors.
        end = time.monotonic() + 40
        while "exposing video_0" not in viewer.stderr(1 << 20):
            self.assertIsNone(viewer.p.poll(), "gst-launch viewer exited: " + viewer.stderr())
            self.assertLess(time.monotonic(), end, "no decoded stream within 40 s: " + viewer.stderr())
            time.sleep(0.2)
        time.sleep(3)
        self.assertIsNone(viewer.p.poll(), "the viewer stopped: " + viewer.stderr())
        self.assertNotIn("ERROR", "\n".join(l for _, l in viewer.lines))


if __name__ == "__main__":
    unittest.main()
