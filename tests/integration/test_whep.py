"""WHEP egress at the signalling server (issue 15), over plain HTTP from Python: a player's offer
written here (receive-only VP8; its connection never forms: the media path is
tests/browser/whep.test.mjs) gets the GStreamer host's answer with the host's candidates, PATCH
and DELETE work on the session, and bad requests get clear HTTP errors: no such host (404), wrong
content type (415), no SDP (400), a meeting room (409), tokens the server refuses (401, 403), and
a host that never answers (504, seen from a fake host on a raw WebSocket, which also shows what
the protocol tells a host about a WHEP player)."""
import http.client
import os
import re
import ssl
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomcastTest, env_with_plugin  # noqa: E402
from wsraw import RawWs  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "netlab"))
from harness import ROOMCAST, Proc  # noqa: E402
from netlab import ADDR_A, ADDR_B, Lab  # noqa: E402

FINGERPRINT = ":".join(["CD"] * 32)


def player_offer():
    return "\r\n".join([
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 98",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:wxyz",
        "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=fingerprint:sha-256 " + FINGERPRINT,
        "a=setup:actpass",
        "a=mid:0",
        "a=recvonly",
        "a=rtcp-mux",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 nack pli",
        "a=rtpmap:98 VP9/90000",
    ]) + "\r\n"


class WhepEndpoint(RoomcastTest):
    def setUp(self):
        super().setUp()
        u = urllib.parse.urlsplit(self.ws)
        self.addr, self.port = u.hostname, u.port

    def request(self, method, path, body=None, ctype=None, token=None, port=None):
        c = http.client.HTTPConnection(self.addr, port or self.port, timeout=20)
        headers = {}
        if ctype:
            headers["Content-Type"] = ctype
        if token:
            headers["Authorization"] = "Bearer " + token
        c.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, text

    def test_session_and_bad_requests(self):
        sdp = "application/sdp"
        status, _, text = self.request("POST", "/whep/nobody", player_offer(), sdp)
        self.assertEqual(status, 404, text)
        self.assertIn("no live host", text)
        status, _, text = self.request("POST", "/whep/x", player_offer(), "text/plain")
        self.assertEqual(status, 415, text)
        status, _, text = self.request("POST", "/whep/x", "not an offer", sdp)
        self.assertEqual(status, 400, text)
        status, _, text = self.request("POST", "/whep/bad%20room", player_offer(), sdp)
        self.assertEqual(status, 404, text)
        status, headers, _ = self.request("GET", "/whep/x")
        self.assertEqual(status, 405)
        self.assertIn("POST", headers.get("allow", ""))
        status, headers, _ = self.request("OPTIONS", "/whep/x")
        self.assertEqual(status, 204)
        self.assertEqual(headers.get("accept-post"), "application/sdp")
        self.assertEqual(headers.get("access-control-allow-origin"), "*")

        host = self.live("whep-py", "--source", "test", "--size", "320x240", "--fps", "15")
        t0 = time.monotonic()
        status, headers, answer = self.request("POST", "/whep/whep-py", player_offer(), sdp)
        took = time.monotonic() - t0
        self.assertEqual(status, 201, answer)
        self.assertEqual(headers.get("content-type"), "application/sdp")
        location = headers.get("location", "")
        self.assertRegex(location, r"^/whep/session/[0-9a-f]+$")
        # The host's answer: its stream, send only, in the player's payload number, and its
        # candidates (non-trickle from our side).
        self.assertIn("a=rtpmap:96 VP8/90000", answer)
        self.assertIn("a=sendonly", answer)
        self.assertIn("a=candidate:", answer)
        self.assertNotIn("VP9", answer)
        print("answered in %.2f s" % took)
        host.wait_line(r"viewer \S+ joined", 5)

        frag = "a=ice-ufrag:wxyz\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=mid:0\r\n" \
               "a=candidate:1 1 UDP 2122260223 127.0.0.1 50000 typ host\r\n"
        status, _, text = self.request("PATCH", location, frag, "text/plain")
        self.assertEqual(status, 415, text)
        status, _, text = self.request("PATCH", location, frag, "application/trickle-ice-sdpfrag")
        self.assertEqual(status, 204, text)
        status, _, _ = self.request("DELETE", location)
        self.assertEqual(status, 200)
        host.wait_line(r"viewer \S+ left", 10)
        status, _, _ = self.request("DELETE", location)
        self.assertEqual(status, 404)
        self.assertIsNone(host.p.poll())

    def test_meeting_room_and_silent_host(self):
        sdp = "application/sdp"
        member = RawWs(self.addr, self.port)
        self.addCleanup(member.close)
        self.assertEqual(member.join("meet-room", "member")["type"], "welcome")
        status, _, text = self.request("POST", "/whep/meet-room", player_offer(), sdp)
        self.assertEqual(status, 409, text)
        self.assertIn("wrong-kind", text)

        # A host that never answers: 504 after the bound, and what it was told.
        fake = RawWs(self.addr, self.port)
        self.addCleanup(fake.close)
        self.assertEqual(fake.join("silent", "host")["type"], "welcome")
        t0 = time.monotonic()
        status, _, text = self.request("POST", "/whep/silent", player_offer(), sdp)
        took = time.monotonic() - t0
        self.assertEqual(status, 504, text)
        self.assertIn("did not answer", text)
        self.assertTrue(7 <= took <= 10, took)
        joined = fake.expect(lambda m: m.get("type") == "peer-joined", 5, "the player's peer-joined")
        self.assertEqual(joined["peer"]["role"], "viewer")
        self.assertIs(joined["peer"].get("offers"), True, joined)
        offer = fake.expect(lambda m: m.get("type") == "offer", 5, "the player's offer")
        self.assertEqual(offer["from"], joined["peer"]["id"])
        self.assertIn("a=recvonly", offer["sdp"])
        fake.expect(lambda m: m.get("type") == "peer-left", 5, "the player leaving")

    def test_tls_server(self):
        # Under TLS the endpoint's own WebSocket to the server is wss, trusting only the server's
        # certificate: a join gets through (and finds no host here).
        srv = self.start(["serve", "--port", "0", "--tls", "self-signed"], name="serve-tls")
        _, m = srv.wait_line(r"listening on (wss://\S+)", 10)
        port = urllib.parse.urlsplit(m.group(1)).port
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection(self.addr, port, timeout=20, context=ctx)
        c.request("POST", "/whep/tls-room", body=player_offer().encode(),
                  headers={"Content-Type": "application/sdp"})
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        self.assertEqual(r.status, 404, text)
        self.assertIn("no live host", text)

    def test_tokens(self):
        env = env_with_plugin({"ROOMCAST_TOKEN_SECRET": "whep-test-secret-0123456789abcdef"})
        srv = self.start(["serve", "--port", "0", "--require-token", "all"], name="serve-tokens", env=env)
        _, m = srv.wait_line(r"listening on (ws://\S+)", 10)
        port = urllib.parse.urlsplit(m.group(1)).port
        sdp = "application/sdp"
        status, _, text = self.request("POST", "/whep/tok", player_offer(), sdp, port=port)
        self.assertEqual(status, 401, text)
        self.assertIn("token-required", text)
        status, _, text = self.request("POST", "/whep/tok", player_offer(), sdp, token="a.b.c", port=port)
        self.assertEqual(status, 403, text)
        self.assertIn("bad-token", text)


# POSTs an offer from the namespace it runs in and prints the status (a WHEP player elsewhere).
POST_FROM_B = """
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=20)
c.request("POST", "/whep/" + sys.argv[3], body=sys.stdin.read().encode(),
          headers={"Content-Type": "application/sdp"})
r = c.getresponse()
print(r.status, r.read().decode().strip())
"""


# Joins a room as a viewer over a raw WebSocket that names another address without the secret.
FORGED_FROM_B = """
import base64, os, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(("GET /ws HTTP/1.1\\r\\nHost: %s:%s\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
           "Sec-WebSocket-Key: %s\\r\\nSec-WebSocket-Version: 13\\r\\n"
           "X-Roomcast-Whep-Secret: guessed\\r\\nX-Roomcast-Whep-Client: 203.0.113.9\\r\\n\\r\\n"
           % (sys.argv[1], sys.argv[2], base64.b64encode(os.urandom(16)).decode())).encode())
head = b""
while b"\\r\\n\\r\\n" not in head:
    head += s.recv(4096)
assert head.startswith(b"HTTP/1.1 101"), head
text = b'{"type":"join","version":1,"room":"forged","role":"viewer"}'
mask = os.urandom(4)
s.sendall(bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text)))
s.recv(4096)
s.close()
"""


class WhepLimits(unittest.TestCase):
    """A WHEP session's WebSocket comes from the server itself; the endpoint names the player's
    address on it (proved by a secret of the server process), so the per-address limits count the
    player, not the server: with the server on a LAN address (a namespace) and
    --max-peers-per-address 2, a player on another machine gets two sessions of a room and 503 for
    the third (while the host, on the server's own address, is not counted with them); a client
    that names an address itself without the secret is not believed."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (ip netns)")
        self.lab = Lab()
        self.lab.__enter__()
        self.addCleanup(self.lab.close)
        self.procs = []
        self.addCleanup(lambda: [p.kill() for p in reversed(self.procs)])

    def start(self, args, name):
        lab = self.lab

        class P(Proc):
            def command(self, a):
                return lab.a.prefix() + a
        p = P([ROOMCAST] + args, name=name)
        self.procs.append(p)
        return p

    def from_b(self, script, *args, stdin=""):
        r = self.lab.b.run([sys.executable, "-c", script] + [str(a) for a in args],
                           input=stdin, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def test_sessions_count_against_the_players_address(self):
        srv = self.start(["serve", "--host", ADDR_A, "--port", "0", "--max-peers-per-address", "2"],
                         "serve")
        _, m = srv.wait_line(r"listening on (ws://\S+)", 10)
        port = urllib.parse.urlsplit(m.group(1)).port
        host = self.start(["live", "--server", m.group(1), "--room", "lim", "--source", "test",
                           "--size", "320x240", "--fps", "15"], "live")
        host.wait_line(r"is live", 20)
        got = [self.from_b(POST_FROM_B, ADDR_A, port, "lim", stdin=player_offer()) for _ in range(3)]
        codes = [int(g.split(" ", 1)[0]) for g in got]
        self.assertEqual(codes, [201, 201, 503], "%s\n%s" % (got, srv.stderr()))
        self.assertIn("too many peers from your address", got[2])
        log = srv.stderr(1 << 20)
        self.assertEqual(len(re.findall(r"join room=lim peer=\S+ role=viewer from=%s" % ADDR_B, log)), 2, log)
        # A client's own claim, without the secret, changes nothing: it is itself.
        self.from_b(FORGED_FROM_B, ADDR_A, port)
        deadline = time.monotonic() + 5
        while "join room=forged" not in srv.stderr(1 << 20) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertRegex(srv.stderr(1 << 20), r"join room=forged peer=\S+ role=viewer from=%s" % ADDR_B)
        self.assertIsNone(host.p.poll())
        self.assertIsNone(srv.p.poll())

if __name__ == "__main__":
    unittest.main()
