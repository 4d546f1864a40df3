"""Secure deployment end to end (docs/architecture.md, "Deployment security"): real servers with
TLS and room tokens, real `roomcast live` hosts and GStreamer viewers (`roomcast watch`,
`gst-launch-1.0 roomcastsrc`) over wss://, and the refusals a user sees."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import ROOMCAST, Proc, env_with_plugin, have  # noqa: E402

SIZE = ["--size", "320x240", "--fps", "15"]
SECRET = "integration-secret-0123456789abcdef"


class Secure(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="roomcast-secure-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def tearDown(self):
        for p in reversed(self.procs):
            p.kill()

    def start(self, args, name=None, env=None, program=ROOMCAST):
        p = Proc([program] + args, env=env_with_plugin(env), name=name or args[0])
        self.procs.append(p)
        return p

    def serve(self, *extra, env=None):
        """A server on a free port; returns (proc, wss url, fingerprint or None)."""
        srv = self.start(["serve", "--port", "0"] + list(extra), name="serve", env=env)
        _, m = srv.wait_line(r"listening on (wss?://\S+)", 15)
        url = m.group(1)
        fp = None
        if url.startswith("wss://"):
            _, f = srv.wait_line(r"fingerprint ([0-9A-F:]{95})$", 5)
            fp = f.group(1)
        return srv, url, fp

    def token(self, room, role, ttl="1h"):
        r = subprocess.run([ROOMCAST, "token", "--room", room, "--role", role, "--ttl", ttl],
                           env=dict(os.environ, ROOMCAST_TOKEN_SECRET=SECRET), capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def watch(self, url, room, *extra, name="watch"):
        return self.start(["watch", "--server", url, "--room", room, "--sink", "fake"] + list(extra),
                          name=name)

    def assert_decodes(self, w, frames=30):
        self.assertEqual(w.wait(60), 0, w.stderr())
        r = w.json_result()
        self.assertGreaterEqual(r["frames"], frames, r)
        return r

    def assert_refused(self, proc, pattern, within=15, code=5):
        """The process exits with `code` within `within` s, saying `pattern` on stderr: 5 when the
        server refused us, 6 when the server could not be trusted (TLS)."""
        self.assertEqual(proc.wait(within), code, proc.stderr())
        self.assertRegex(proc.stderr(), pattern)

    # ---- TLS ----------------------------------------------------------------------------------

    def test_self_signed_pin_live_and_watch(self):
        _, url, fp = self.serve("--tls", "self-signed")
        self.assertTrue(url.startswith("wss://"))
        self.start(["live", "--server", url, "--room", "tls", "--source", "test", "--tls-pin", fp]
                   + SIZE, name="live").wait_line(r"is live", 20)
        # The pin in any spelling users copy: lowercase, without colons.
        w = self.watch(url, "tls", "--tls-pin", fp.replace(":", "").lower(), "--frames", "30",
                       "--timeout", "40")
        self.assert_decodes(w)
        # A wrong pin: a clear error at once, never a wait or a silent connection.
        wrong = ("00" if not fp.startswith("00") else "11") + fp[2:]
        bad = self.watch(url, "tls", "--tls-pin", wrong, "--timeout", "30", name="wrong-pin")
        t0 = time.monotonic()
        self.assert_refused(bad, r"does not match the pinned fingerprint \(server: %s; pinned: %s\)"
                            % (re.escape(fp), re.escape(wrong)), code=6)
        self.assertLess(time.monotonic() - t0, 10)
        # No pin, no authority: not trusted, and the error says what to do.
        none = self.watch(url, "tls", "--timeout", "30", name="no-pin")
        self.assert_refused(none, r"signed by an unknown authority.*--tls-ca FILE.*--tls-pin", code=6)
        # Not a fingerprint at all: a bad option.
        opt = self.watch(url, "tls", "--tls-pin", "12:34", name="bad-pin")
        self.assertEqual(opt.wait(10), 2, opt.stderr())

    def make_ca(self):
        """A CA and a server certificate for 127.0.0.1 it signed (openssl); returns paths."""
        if not have("openssl"):
            self.skipTest("openssl is not installed")
        p = lambda n: os.path.join(self.tmp, n)  # noqa: E731
        with open(p("ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for cmd in (["req", "-x509"] + ec + ["-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2",
                                              "-subj", "/CN=roomcast integration CA"],
                    ["req"] + ec + ["-keyout", p("server.key"), "-out", p("server.csr"),
                                    "-subj", "/CN=127.0.0.1"],
                    ["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
                     "-CAcreateserial", "-out", p("server.pem"), "-days", "2", "-extfile", p("ext.cnf")]):
            subprocess.run(["openssl"] + cmd, check=True, capture_output=True, timeout=30)
        return p("ca.pem"), p("server.pem"), p("server.key")

    def test_ca_signed_gst_launch_sink_and_src(self):
        ca, cert, key = self.make_ca()
        _, url, fp = self.serve("--tls-cert", cert, "--tls-key", key)
        # Host and viewer straight from gst-launch, the signaller's properties on the line.
        self.start(["videotestsrc", "is-live=true", "!", "video/x-raw,width=320,height=240,framerate=15/1",
                    "!", "roomcastsink", "signaller::uri=" + url, "signaller::tls-ca-file=" + ca,
                    "room=ca"], name="gst-sink", program="gst-launch-1.0")
        src = self.start(["-q", "roomcastsrc", "signaller::uri=" + url, "signaller::tls-pin=" + fp,
                          "room=ca", "!", "fakesink", "sync=false"], name="gst-src",
                         program="gst-launch-1.0", env={"GST_DEBUG": "roomcastsrc:4"})
        end = time.monotonic() + 40
        while "exposing video_0" not in src.stderr(1 << 20):
            self.assertIsNone(src.p.poll(), "gst-launch viewer exited: " + src.stderr())
            self.assertLess(time.monotonic(), end, "no decoded stream within 40 s: " + src.stderr())
            time.sleep(0.2)
        # roomcast watch with the CA file decodes too; without it, it is refused.
        self.assert_decodes(self.watch(url, "ca", "--tls-ca", ca, "--frames", "30", "--timeout", "40"))
        self.assert_refused(self.watch(url, "ca", "--timeout", "30", name="no-ca"),
                            r"unknown authority", code=6)
        # gst-launch with a wrong pin: the element posts the error and the pipeline stops.
        wrong = self.start(["roomcastsrc", "signaller::uri=" + url, "signaller::tls-pin=" + "AB" * 32,
                            "room=ca", "!", "fakesink"], name="gst-wrong", program="gst-launch-1.0")
        self.assertNotEqual(wrong.wait(20), 0)
        self.assertIn("does not match the pinned fingerprint", "\n".join(l for _, l in wrong.lines)
                      + wrong.stderr())

    def test_live_embedded_tls_and_tokens(self):
        """`roomcast live` with its own TLS server and a token secret: its sink pins its own
        certificate and signs its own host token; viewers use the printed pin; a second host
        without a token cannot take the room."""
        env = {"ROOMCAST_TOKEN_SECRET": SECRET}
        live = self.start(["live", "--port", "0", "--tls", "self-signed", "--room", "own", "--source",
                           "test"] + SIZE, name="live", env=env)
        _, m = live.wait_line(r"or run: \S*roomcast watch --server (wss://\S+) --room own --tls-pin (\S+)", 20)
        url, fp = m.group(1), m.group(2)
        live.wait_line(r"room tokens required to host or meet", 5)
        self.assert_decodes(self.watch(url, "own", "--tls-pin", fp, "--frames", "30", "--timeout", "40"))
        squat = self.start(["live", "--server", url, "--room", "own", "--source", "test", "--tls-pin", fp]
                           + SIZE, name="squatter")
        self.assert_refused(squat, r"token-required")
        squat2 = self.start(["live", "--server", url, "--room", "own", "--source", "test", "--tls-pin", fp,
                             "--token", self.token("own", "viewer")] + SIZE, name="squatter2")
        self.assert_refused(squat2, r"bad-token: .*role viewer")

    # ---- tokens -------------------------------------------------------------------------------

    def test_tokenless_viewer_waits_for_the_host(self):
        """Default policy with a secret (host): a viewer without a token that comes first is told
        the room is not open, keeps trying, and watches once the host with its token opened it."""
        srv, url, _ = self.serve(env={"ROOMCAST_TOKEN_SECRET": SECRET})
        w = self.watch(url, "later", "--frames", "30", "--timeout", "50")
        time.sleep(2)
        self.assertIsNone(w.p.poll(), w.stderr())
        self.assertRegex(srv.stderr(), r"refused join room=later role=viewer .*room-not-open")
        self.start(["live", "--server", url, "--room", "later", "--source", "test",
                    "--token", self.token("later", "host")] + SIZE, name="live").wait_line(r"is live", 20)
        r = self.assert_decodes(w)
        self.assertRegex(w.stderr(), r"room-not-open")
        print("first frame %d ms after joining (the viewer retried meanwhile)" % r["first_frame_ms"])

    def test_require_token_all_end_to_end(self):
        srv, url, _ = self.serve("--require-token", "all", env={"ROOMCAST_TOKEN_SECRET": SECRET})
        srv.wait_line(r"room tokens required to join", 5)
        host = self.start(["live", "--server", url, "--room", "closed", "--source", "test",
                           "--token", self.token("closed", "host")] + SIZE, name="live")
        host.wait_line(r"is live", 20)
        # A viewer without a token is refused clearly; with one it decodes; the token also comes
        # from the environment.
        self.assert_refused(self.watch(url, "closed", "--timeout", "30", name="no-token"),
                            r"token-required")
        self.assert_decodes(self.watch(url, "closed", "--token", self.token("closed", "viewer"),
                                       "--frames", "30", "--timeout", "40"))
        w = self.start(["watch", "--server", url, "--room", "closed", "--sink", "fake", "--frames", "10",
                        "--timeout", "40"], name="env-token",
                       env={"ROOMCAST_TOKEN": self.token("closed", "viewer")})
        self.assert_decodes(w, 10)
        # A token for another room: refused at once, saying why.
        self.assert_refused(self.watch(url, "closed", "--token", self.token("other", "viewer"),
                                       "--timeout", "30", name="other-room"),
                            r"bad-token: .*room 'other'")
        # The server logged each refusal on one line, with the remote address.
        srv_err = srv.stderr(1 << 20)
        self.assertRegex(srv_err, r"refused join room=closed role=viewer from=127\.0\.0\.1: token-required")
        self.assertRegex(srv_err, r"join room=closed peer=\S+ role=host from=127\.0\.0\.1 token")

    def test_viewer_link_with_max_joins_waits_for_a_place(self):
        """A viewer token from `roomcast token --max-joins 1`: a `roomcast watch` with it decodes;
        a second one with the same token is refused token-limit (logged with the token's id),
        keeps retrying, and decodes once the first has left."""
        srv, url, _ = self.serve("--require-token", "all", env={"ROOMCAST_TOKEN_SECRET": SECRET})
        self.start(["live", "--server", url, "--room", "one", "--source", "test",
                    "--token", self.token("one", "host")] + SIZE, name="live").wait_line(r"is live", 20)
        r = subprocess.run([ROOMCAST, "token", "--room", "one", "--role", "viewer", "--max-joins", "1",
                            "--id", "link-1"], env=dict(os.environ, ROOMCAST_TOKEN_SECRET=SECRET),
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        link = r.stdout.strip()
        first = self.watch(url, "one", "--token", link, "--timeout", "60", "--progress", name="first")
        first.wait_line(r"progress .*\"frames\": *[1-9]", 30)
        second = self.watch(url, "one", "--token", link, "--frames", "20", "--timeout", "60",
                            name="second")
        end = time.monotonic() + 15
        while "token-limit" not in srv.stderr(1 << 20):
            self.assertLess(time.monotonic(), end, "no token-limit refusal: " + srv.stderr())
            time.sleep(0.3)
        self.assertRegex(srv.stderr(1 << 20), r"refused join room=one role=viewer from=127\.0\.0\.1: "
                         r"token-limit \(token jti=link-1 in use by 1 peer; its max claim\)")
        time.sleep(2)
        self.assertIsNone(second.p.poll(), "the second viewer gave up: " + second.stderr())
        self.assertEqual(first.interrupt(15), 0, first.stderr())
        t0 = time.monotonic()
        self.assert_decodes(second, 20)
        print("second viewer decoded 20 frames %.1f s after the first left" % (time.monotonic() - t0))
        self.assertIn("token-limit", second.stderr())


if __name__ == "__main__":
    unittest.main()
