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


if __name__ == "__main__":
    unittest.main()
