"""TURN, end to end (issue 11): a viewer that can reach the host only through a TURN server
(Debian's coturn, a real process) decodes the host's video.

The topology is tests/netlab/turnlab.py: three network namespaces, the host (H) and the viewer
(V) each joined to a "public" server namespace (S, address 192.0.2.1) that forwards nothing
between them (its nft forward chain drops and counts). The signalling server and coturn run in S
on 192.0.2.1; `roomcast live` runs in H, `roomcast watch` in V. The signalling server is not on
loopback, so the elements gather no 127.0.0.1 candidates (ice-loopback auto is off): their only
candidates are their interface's address, which the other side cannot reach, and the relay
addresses coturn gives them on 192.0.2.1.

Each case proves the relay three ways, so it fails if media found another path: the viewer's
selected candidate pair has a relay candidate (roomcast watch prints the pair's candidate types
from webrtcbin's stats), coturn's log shows the allocations made with the credentials in
question, and S dropped the direct checks between H and V (its counters are not zero). A control
case without TURN shows that the same topology gives no media at all.
"""
import os
import re
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "netlab"))
from harness import ROOMCAST, Proc  # noqa: E402
from turnlab import PUBLIC, TurnLab  # noqa: E402

PORT = 8443
WS = "ws://%s:%d/ws" % (PUBLIC, PORT)
TURN_PORT = 3478
MEDIA = ["--source", "test", "--size", "640x360"]  # 30 fps
FRAMES = 300  # 10 s of video


class NsProc(Proc):
    """A process inside one of the lab's namespaces, stderr merged into its lines (live's status
    line is on stderr)."""

    merge_stderr = True

    def __init__(self, ns, args, **kw):
        self.ns = ns
        super().__init__(args, **kw)

    def command(self, args):
        return ["ip", "netns", "exec", self.ns] + args


class Turn(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (ip netns, nft)")
        if not shutil.which("turnserver"):
            self.skipTest("coturn is not installed (apt-get install coturn)")
        self.tmp = tempfile.mkdtemp(prefix="roomcast-turn-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.lab = TurnLab()
        self.lab.up()
        # Cleanups run last in, first out: the namespaces go (and whatever still runs in them)
        # after the processes were stopped.
        self.addCleanup(self.lab.down)
        self.procs = []
        self.addCleanup(self.stop_all)

    def stop_all(self):
        for p in reversed(self.procs):
            p.kill()

    def start(self, ns, args, name):
        p = NsProc(ns, args, name=name)
        self.procs.append(p)
        return p

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def coturn(self, auth):
        """coturn on 192.0.2.1:3478 (UDP and TCP, no TLS), relaying from 192.0.2.1. `auth`: its
        config lines for authentication (kept in a file: a secret in argv would show in ps)."""
        conf = self.write("turnserver.conf", "\n".join([
            "listening-ip=%s" % PUBLIC,
            "relay-ip=%s" % PUBLIC,
            "listening-port=%d" % TURN_PORT,
            "min-port=49160",
            "max-port=49260",
            "realm=roomcast.test",
            "fingerprint",
            "no-tls",
            "no-dtls",
            "no-cli",
            "log-file=stdout",
            "simple-log",
            "verbose",
            "pidfile=%s" % os.path.join(self.tmp, "turnserver.pid"),
        ] + auth) + "\n")
        turn = self.start(self.lab.server, ["turnserver", "-c", conf], "coturn")
        turn.wait_line(r"relay %s initialization" % re.escape(PUBLIC), 10)
        time.sleep(0.3)  # its listeners open right after the relay ports
        return turn

    def serve(self, *extra):
        server = self.start(self.lab.server, [ROOMCAST, "serve", "--host", PUBLIC, "--port", str(PORT)] + list(extra),
                            "serve")
        server.wait_line(r"listening on %s" % re.escape(WS), 10)
        return server

    def live(self, *extra):
        host = self.start(self.lab.host, [ROOMCAST, "live", "--server", WS, "--room", "turn"] + MEDIA + list(extra),
                          "live")
        host.wait_line(r"is live", 20)
        return host

    def watch(self, frames, timeout, *extra):
        return self.start(self.lab.viewer, [ROOMCAST, "watch", "--server", WS, "--room", "turn", "--sink", "fake",
                                            "--frames", str(frames), "--timeout", str(timeout)] + list(extra),
                          "watch")

    def assert_relayed(self, w, host, turn, user_pattern):
        """The viewer decoded its frames over a relay: exit 0, a relay candidate in the selected
        pair, allocations by `user_pattern` in coturn's log, direct checks dropped in S; the host
        counted it as relayed meanwhile."""
        # The host's status line (every 5 s without a tty) counts relayed viewers; the watcher
        # asks for 10 s of video, so at least one line falls into its session.
        host.wait_line(r"viewers 1 \(1 connected, 1 relayed\)", 25)
        self.assertEqual(w.wait(60), 0, "watch: %s\n%s" % ("\n".join(l for _, l in w.lines), w.stderr()))
        r = w.json_result()
        self.assertGreaterEqual(r["frames"], FRAMES, r)
        self.assertIn("relay", (r["local_candidate"], r["remote_candidate"]), r)
        allocations = turn.count_lines(r"user <%s>: incoming packet ALLOCATE processed, success" % user_pattern)
        self.assertGreaterEqual(allocations, 1, "coturn log:\n" + "\n".join(l for _, l in turn.lines[-40:]))
        drops = self.lab.forward_drops()
        self.assertGreater(drops.get("h_to_v", 0) + drops.get("v_to_h", 0), 0, drops)
        print("first frame %d ms, path %s -> %s, %d frames, longest gap %d ms; coturn allocations for the "
              "credentials: %d; direct packets dropped between host and viewer: %s" % (
                  r["first_frame_ms"], r["local_candidate"], r["remote_candidate"], r["frames"], r["max_gap_ms"],
                  allocations, drops))
        return r

    # ---- the cases ----------------------------------------------------------------------------------

    def test_viewer_reaches_host_only_through_turn_with_rest_credentials(self):
        # serve hands out the TURN server with REST credentials made for each client from a secret
        # it reads from a file; host and viewer use what the welcome gives them (no ICE option of
        # their own). coturn checks the credentials with the same secret.
        secret = "turn-test " + os.urandom(8).hex()
        turn = self.coturn(["use-auth-secret", "static-auth-secret=%s" % secret])
        secret_file = self.write("turn-secret", secret + "\n")
        server = self.serve("--turn", "turn://%s:%d" % (PUBLIC, TURN_PORT), "--turn-secret", secret_file)
        server.wait_line(r"ICE servers for clients: turn:%s:%d \(TURN REST credentials" % (re.escape(PUBLIC), TURN_PORT),
                         5)
        self.assertNotIn(secret, " ".join(server.args))
        host = self.live()
        w = self.watch(FRAMES, 40)
        # REST user names: "<expiry>:<peer id>".
        self.assert_relayed(w, host, turn, r"\d{10}:p[0-9a-f]{8}")
        host.wait_line(r"viewer p\w+ left", 10)
        self.assertEqual(host.interrupt(15), 0)
        # libnice's warning at the end of every relayed peer is not printed (src/app/common.cpp).
        self.assertEqual(host.count_lines(r"alive TURN refreshes"), 0, "\n".join(l for _, l in host.lines))

    def test_viewer_with_its_own_turn_server(self):
        # The server hands out nothing; the viewer alone has a TURN server (static long-term
        # credentials, --turn, the password percent-encoded): its relay candidate is reachable
        # from the host's address.
        turn = self.coturn(["lt-cred-mech", "user=ann:pw+x"])
        self.serve()
        host = self.live()
        w = self.watch(FRAMES, 40, "--turn", "turn://ann:pw%%2Bx@%s:%d" % (PUBLIC, TURN_PORT))
        r = self.assert_relayed(w, host, turn, "ann")
        self.assertEqual(r["local_candidate"], "relay", r)
        self.assertEqual(host.interrupt(15), 0)

    def test_without_turn_there_is_no_path(self):
        # The control: the same topology without a TURN server gives the viewer nothing.
        self.serve()
        self.live()
        w = self.watch(30, 12)
        self.assertEqual(w.wait(40), 3, "\n".join(l for _, l in w.lines))
        self.assertEqual(w.json_result()["frames"], 0)
        drops = self.lab.forward_drops()
        self.assertGreater(drops.get("h_to_v", 0) + drops.get("v_to_h", 0), 0, drops)
        print("without TURN: 0 frames in 12 s; direct packets dropped: %s" % drops)


if __name__ == "__main__":
    unittest.main(verbosity=2)
