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
import shutil
import subprocess
import tempfile
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

    def run_line(self, argv, name, env=None, cwd=None):
        # build/src/app/roomcast is this build's binary (the README assumes build/ as ./dev does).
        argv = [ROOMCAST if a == "build/src/app/roomcast" else a for a in argv]
        NsProc.ns = self.ns
        p = NsProc(argv, env=env or env_with_plugin(), name=name, cwd=cwd)
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


    def test_tls_and_token_lines(self):
        """The "Beyond a trusted LAN" lines: a secret, a TLS server with it, a host token link.
        Then a host with that token and a viewer pinning the printed fingerprint, over wss."""
        tmp = tempfile.mkdtemp(prefix="roomcast-readme-")
        self.addCleanup(shutil.rmtree, tmp, True)
        secret_line = [c for c in self.cmds if c.startswith("head -c 32 /dev/urandom")]
        self.assertEqual(len(secret_line), 1, self.cmds)
        subprocess.run(["sh", "-c", secret_line[0]], cwd=tmp, check=True, timeout=10)
        self.assertEqual(os.stat(os.path.join(tmp, "secret")).st_mode & 0o777, 0o600)
        serve = self.run_line(the(self.cmds, "build/src/app/roomcast serve"), "serve", cwd=tmp)
        serve.wait_line(r"listening on wss://127\.0\.0\.1:8443/ws", 10)
        _, m = serve.wait_line(r"fingerprint ([0-9A-F:]{95})$", 5)
        pin = m.group(1)
        token = self.run_line(the(self.cmds, "build/src/app/roomcast token"), "token", cwd=tmp)
        self.assertEqual(token.wait(10), 0, token.stderr())
        # A host link carries the host's token and a viewer token for the links it hands out.
        _, m = token.wait_line(r"^https://192\.0\.2\.7:8443/room/stage\?role=host&token=([^&\s]+)&viewer_token=[^&\s]+$", 5)
        host_token = m.group(1)
        server = "wss://127.0.0.1:8443/ws"
        # Without the token the room cannot be taken; with it, it is live and viewers watch.
        squat = self.run_line([ROOMCAST, "live", "--server", server, "--room", "stage", "--source", "test",
                               "--tls-pin", pin], "squatter")
        self.assertEqual(squat.wait(20), 5, squat.stderr())  # refused
        self.assertIn("token-required", squat.stderr())
        self.run_line([ROOMCAST, "live", "--server", server, "--room", "stage", "--source", "test",
                       "--size", "640x360", "--tls-pin", pin, "--token", host_token], "live").wait_line(r"is live", 20)
        w = self.run_line([ROOMCAST, "watch", "--server", server, "--room", "stage", "--tls-pin", pin,
                           "--frames", "30", "--timeout", "40"], "watch", env=env_with_plugin({"DISPLAY": ""}))
        self.assertEqual(w.wait(60), 0, w.stderr())
        self.assertGreaterEqual(w.json_result()["frames"], 30)


if __name__ == "__main__":
    unittest.main()
