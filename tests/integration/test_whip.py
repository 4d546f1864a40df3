"""WHIP ingest's HTTP side (issue 15): `roomcast live --source whip --whip-token ...` answers bad
requests with clear HTTP errors (token missing or wrong, wrong content type, an offer that is no
SDP, one without the host's codec, one webrtcbin refuses, a second publisher while one is live,
unknown sessions) and keeps running; a session's lifecycle (POST 201 + Location + answer, PATCH
candidates, DELETE, POST again) works with an offer written here (its connection never forms:
the media path is tests/browser/whip.test.mjs)."""
import http.client
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomcastTest, have  # noqa: E402

TOKEN = "whip-test-secret-0123456789"

FINGERPRINT = ":".join(["AB"] * 32)


def offer(codec="VP8", ufrag=True):
    """A publisher's offer as a WHIP client sends it (one sendonly video m-line, bundled)."""
    lines = [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
    ]
    if ufrag:
        lines += ["a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx"]
    lines += [
        "a=ice-options:trickle",
        "a=fingerprint:sha-256 " + FINGERPRINT,
        "a=setup:actpass",
        "a=mid:0",
        "a=sendonly",
        "a=rtcp-mux",
        "a=rtpmap:96 %s/90000" % codec,
        "a=rtcp-fb:96 nack",
        "a=rtcp-fb:96 nack pli",
        "a=ssrc:1111 cname:whiptest",
    ]
    if codec == "H264":
        lines.append("a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f")
    return "\r\n".join(lines) + "\r\n"


class WhipIngestErrors(RoomcastTest):
    context = None  # an ssl context: HTTPS

    def request(self, method, path, body=None, ctype=None, token=TOKEN):
        if self.context:
            c = http.client.HTTPSConnection(self.addr, self.port, timeout=15, context=self.context)
        else:
            c = http.client.HTTPConnection(self.addr, self.port, timeout=15)
        headers = {}
        if ctype:
            headers["Content-Type"] = ctype
        if token:
            headers["Authorization"] = "Bearer " + token
        c.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), text

    def test_bad_requests_and_one_publisher(self):
        with tempfile.NamedTemporaryFile("w", suffix=".token", delete=False) as f:
            f.write(TOKEN + "\n")
        self.addCleanup(os.unlink, f.name)
        host = self.live("whip-errors", "--source", "whip", "--whip-listen", "127.0.0.1:0",
                         "--whip-token", f.name, "--ice-loopback", "on")
        _, m = host.wait_line(r"WHIP endpoint (http://\S+) \(plain HTTP, Bearer token\)", 5)
        url = urllib.parse.urlsplit(m.group(1))
        self.addr, self.port, path = url.hostname, url.port, url.path
        sdp = "application/sdp"

        # Tokens (RFC 6750): none, then a wrong one.
        status, headers, text = self.request("POST", path, offer(), sdp, token=None)
        self.assertEqual(status, 401, text)
        self.assertIn("Bearer", headers.get("www-authenticate", ""))
        status, headers, text = self.request("POST", path, offer(), sdp, token="not-the-token")
        self.assertEqual(status, 401, text)
        self.assertIn("invalid_token", headers.get("www-authenticate", ""))

        # Not an offer.
        status, _, text = self.request("POST", path, offer(), "text/plain")
        self.assertEqual(status, 415, text)
        self.assertIn("application/sdp", text)
        status, _, text = self.request("POST", path, "hello, this is no SDP", sdp)
        self.assertEqual(status, 400, text)
        status, _, text = self.request("POST", path, b"v=0\r\n\xff\xfe\r\n", sdp)
        self.assertEqual(status, 400, text)
        status, _, text = self.request("POST", path, "v=0\r\ns=-\r\n", sdp)
        self.assertEqual(status, 400, text)
        self.assertIn("no media", text)
        # Not the host's codec (it passes streams on as they are: VP8 here).
        status, _, text = self.request("POST", path, offer("H264"), sdp)
        self.assertEqual(status, 406, text)
        self.assertIn("VP8", text)
        # An SDP that webrtcbin refuses (no ICE credentials).
        status, _, text = self.request("POST", path, offer(ufrag=False), sdp)
        self.assertEqual(status, 400, text)
        self.assertIn("refused", text)
        # Other methods and places.
        status, headers, _ = self.request("GET", path)
        self.assertEqual(status, 405)
        self.assertIn("POST", headers.get("allow", ""))
        status, headers, _ = self.request("OPTIONS", path, token=None)
        self.assertEqual(status, 204)
        self.assertEqual(headers.get("accept-post"), "application/sdp")
        status, _, _ = self.request("DELETE", path + "/session/nosuchsession")
        self.assertEqual(status, 404)
        status, _, _ = self.request("POST", "/elsewhere", offer(), sdp)
        self.assertEqual(status, 404)

        # A session: 201 Created, its Location, an answer with our candidates.
        status, headers, answer = self.request("POST", path, offer(), sdp)
        self.assertEqual(status, 201, answer)
        self.assertEqual(headers.get("content-type"), "application/sdp")
        location = headers.get("location", "")
        self.assertRegex(location, r"^/whip/session/[0-9a-f]+$")
        self.assertIn("a=rtpmap:96 VP8/90000", answer)
        self.assertIn("a=recvonly", answer)
        self.assertIn("a=candidate:", answer)
        self.assertNotIn("H264", answer)

        # One publisher at a time.
        status, _, text = self.request("POST", path, offer(), sdp)
        self.assertEqual(status, 409, text)
        self.assertIn("already", text)

        # Trickle (RFC 8840 fragments) on the session; a DELETE needs the token too.
        frag = "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" \
               "a=candidate:1 1 UDP 2122260223 127.0.0.1 50000 typ host\r\n"
        status, _, text = self.request("PATCH", location, frag, "text/plain")
        self.assertEqual(status, 415, text)
        status, _, text = self.request("PATCH", location, frag, "application/trickle-ice-sdpfrag")
        self.assertEqual(status, 204, text)
        restart = frag.replace("ice-ufrag:abcd", "ice-ufrag:wxyz")
        status, _, text = self.request("PATCH", location, restart, "application/trickle-ice-sdpfrag")
        self.assertEqual(status, 422, text)
        status, _, _ = self.request("DELETE", location, token=None)
        self.assertEqual(status, 401)
        status, _, _ = self.request("DELETE", location)
        self.assertEqual(status, 200)
        host.wait_line(r"WHIP session ended: the publisher ended the session", 10)
        status, _, _ = self.request("DELETE", location)
        self.assertEqual(status, 404)

        # The next publisher is welcome.
        status, headers, answer = self.request("POST", path, offer(), sdp)
        self.assertEqual(status, 201, answer)
        self.assertNotEqual(headers.get("location"), location)

        self.assertIsNone(host.p.poll(), "the host must keep running")
        host.p.send_signal(signal.SIGINT)
        self.assertEqual(host.p.wait(timeout=15), 0, host.stderr())

    def test_https_with_the_servers_certificate(self):
        """With --tls-cert/--tls-key on the embedded server, the endpoint speaks HTTPS with that
        certificate (a client trusting the CA gets through)."""
        if not have("openssl"):
            self.skipTest("openssl is not installed")
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        p = lambda n: os.path.join(tmp, n)  # noqa: E731
        with open(p("ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for cmd in (["req", "-x509"] + ec + ["-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "2",
                                              "-subj", "/CN=roomcast whip test CA"],
                    ["req"] + ec + ["-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=127.0.0.1"],
                    ["x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
                     "-CAcreateserial", "-out", p("server.pem"), "-days", "2", "-extfile", p("ext.cnf")]):
            subprocess.run(["openssl"] + cmd, check=True, capture_output=True, timeout=30)
        host = self.start(["live", "--port", "0", "--room", "whip-tls", "--source", "whip",
                           "--whip-listen", "127.0.0.1:0", "--tls-cert", p("server.pem"), "--tls-key",
                           p("server.key")], name="live")
        _, m = host.wait_line(r"WHIP endpoint (https://\S+) \(HTTPS\)", 15)
        host.wait_line(r"is live", 20)
        url = urllib.parse.urlsplit(m.group(1))
        self.addr, self.port = url.hostname, url.port
        self.context = ssl.create_default_context(cafile=p("ca.pem"))
        status, _, text = self.request("POST", url.path, offer(), "text/plain", token=None)
        self.assertEqual(status, 415, text)
        status, headers, answer = self.request("POST", url.path, offer(), "application/sdp", token=None)
        self.assertEqual(status, 201, answer)
        self.assertIn("a=rtpmap:96 VP8/90000", answer)
        status, _, _ = self.request("DELETE", headers["location"], token=None)
        self.assertEqual(status, 200)

    def test_options(self):
        # --whip-listen without --source whip, and bad values, are usage errors.
        p = self.start(["live", "--server", self.ws, "--source", "test", "--whip-listen", "8089"])
        self.assertEqual(p.p.wait(timeout=15), 2)
        p = self.start(["live", "--server", self.ws, "--source", "whip", "--whip-listen", "nope"])
        self.assertEqual(p.p.wait(timeout=15), 2)
        p = self.start(["live", "--server", self.ws, "--source", "whip", "--whip-token", "env:ROOMCAST_NO_SUCH_VARIABLE"])
        self.assertEqual(p.p.wait(timeout=15), 2)
        self.assertIn("ROOMCAST_NO_SUCH_VARIABLE", p.stderr())


if __name__ == "__main__":
    unittest.main()
