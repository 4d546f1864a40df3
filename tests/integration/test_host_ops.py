"""A host in operation (issue 12, deployment): its /metrics (on the embedded server, or its own
--metrics listener) read while a real `roomcast watch` joins and leaves, and the negotiation bound
(a viewer that joins and never answers gives its place back after --negotiation-timeout)."""
import http.client
import os
import re
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomcastTest, env_with_plugin  # noqa: E402
from wsraw import RawWs  # noqa: E402

SIZE = ["--source", "test", "--size", "320x240", "--fps", "15"]

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)\})? (\S+)$" % (NAME, LABEL, LABEL))
TYPES = ("counter", "gauge", "summary", "histogram", "untyped")


def parse_prometheus(text):
    """The text exposition format, strictly: every family has one HELP and one TYPE, before its
    samples, which are contiguous; names and labels are valid, label values escaped; values are
    numbers; counters end in _total; no series twice. Returns {(name, ((label, value), ...)): v}
    and {name: type}. Any deviation raises AssertionError naming the line."""
    assert text.endswith("\n"), "the text must end with a newline"
    helps, types, samples = {}, {}, {}
    done, current = set(), None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line[7:].split(" ", 1)
            assert len(parts) == 2 and re.fullmatch(NAME, parts[0]) and parts[1], where
            name = parts[0]
            assert name not in done, "family again after its samples: " + where
            table = helps if line.startswith("# HELP ") else types
            assert name not in table, "declared twice: " + where
            if table is types:
                assert parts[1] in TYPES, where
                assert not any(k[0] == name for k in samples), "TYPE after samples: " + where
            table[name] = parts[1]
            continue
        if line.startswith("#") or line == "":
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: " + where
        name = m.group(1)
        assert name in types and name in helps, "sample without HELP and TYPE: " + where
        if current != name:
            if current is not None:
                done.add(current)
            assert name not in done, "samples of a family apart: " + where
            current = name
        if types[name] == "counter":
            assert name.endswith("_total"), "counter without _total: " + where
        labels = tuple(sorted(re.findall(LABEL, m.group(2) or "")))
        assert len({k for k, _ in labels}) == len(labels), "label twice: " + where
        value = float(m.group(m.lastindex))  # NaN and +Inf included
        key = (name, labels)
        assert key not in samples, "series twice: " + where
        samples[key] = value
    assert set(helps) == set(types), "HELP without TYPE or TYPE without HELP: %s" % (
        set(helps) ^ set(types))
    return samples, types


def fetch(url, host=None):
    """(status, body) of a GET."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("GET", u.path, headers={"Host": host} if host else {})
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, body


def scrape(url):
    status, body = fetch(url)
    assert status == 200, (status, body)
    return parse_prometheus(body)[0]


def one(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def per_viewer(samples, name):
    return {dict(k[1])["peer"]: v for k, v in samples.items() if k[0] == name}


def wait_for(what, fn, timeout):
    """Calls fn() until it returns something true; returns it, or fails after `timeout` s with
    the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError("%s: not within %.0f s (last: %r)" % (what, timeout, last))


class PrometheusParser(unittest.TestCase):
    def test_parser_is_strict(self):
        """The test's own parser refuses what a scraper would."""
        good = "# HELP a_total A.\n# TYPE a_total counter\na_total{p=\"x\\\"y\"} 3\n"
        self.assertEqual(parse_prometheus(good)[0], {("a_total", (("p", 'x\\"y'),)): 3.0})
        for bad in ["# HELP a A.\n# TYPE a gauge\na 1",                      # no final newline
                    "# TYPE a gauge\na 1\n",                                  # no HELP
                    "# HELP a A.\n# TYPE a counter\na 1\n",                   # counter name
                    "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",                # series twice
                    "# HELP a A.\n# TYPE a gauge\na{p=\"x\"y\"} 1\n",         # unescaped quote
                    "# HELP a A.\n# TYPE a gauge\na one\n",                   # not a number
                    "a 1\n# HELP a A.\n# TYPE a gauge\n",                     # sample first
                    "# HELP a A.\n# TYPE a gauge\n# HELP b B.\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 2\n"]:
            with self.assertRaises((AssertionError, ValueError), msg=bad):
                parse_prometheus(bad)

class HostMetrics(RoomcastTest):
    def test_embedded_server_metrics_follow_a_viewer(self):
        """`live` with its embedded server: the server's /metrics carries the host's families;
        viewers go 0 -> 1 -> 0 as a `roomcast watch` joins and leaves, the bitrate is above 0 and
        the viewer's RTT is there while it watches."""
        live = self.start(["live", "--port", "0", "--room", "mx"] + SIZE, name="live")
        _, m = live.wait_line(r"or run: \S*roomcast watch --server (ws://[^/\s]+)/ws", 20)
        url = m.group(1).replace("ws://", "http://") + "/metrics"
        s = scrape(url)
        self.assertIsNotNone(one(s, "roomcast_rooms"), "the server's own families are there")
        self.assertEqual(one(s, "roomcast_host_viewers"), 0)
        self.assertEqual(per_viewer(s, "roomcast_host_viewer_sent_bits_per_second"), {})
        ws = m.group(1) + "/ws"
        w = self.start(["watch", "--server", ws, "--room", "mx", "--sink", "fake", "--timeout", "90"],
                       name="watch")
        _, j = live.wait_line(r"viewer (\S+) joined", 20)
        peer = j.group(1)

        def watched():
            s = scrape(url)
            rtt = per_viewer(s, "roomcast_host_viewer_rtt_seconds")
            ok = (one(s, "roomcast_host_viewers") == 1 and one(s, "roomcast_host_viewers_connected") == 1
                  and one(s, "roomcast_host_sent_bits_per_second") > 0 and peer in rtt)
            return s if ok else None
        s = wait_for("viewer connected, bitrate and RTT in /metrics", watched, 30)
        rtt = per_viewer(s, "roomcast_host_viewer_rtt_seconds")[peer]
        print("watched: %.0f kbit/s, encoder %.1f fps, RTT %.2f ms, loss %.3f" % (
            one(s, "roomcast_host_sent_bits_per_second") / 1000, one(s, "roomcast_host_encoder_fps"),
            rtt * 1000, one(s, "roomcast_host_fraction_lost_mean")))
        self.assertGreater(rtt, 0)
        self.assertLess(rtt, 0.5)  # loopback
        self.assertEqual(one(s, "roomcast_host_rtt_max_seconds"), rtt)
        self.assertEqual(one(s, "roomcast_host_rtt_mean_seconds"), rtt)
        self.assertGreater(per_viewer(s, "roomcast_host_viewer_sent_bits_per_second")[peer], 0)
        self.assertGreater(per_viewer(s, "roomcast_host_viewer_sent_bytes_total")[peer], 0)
        self.assertEqual(per_viewer(s, "roomcast_host_viewer_connected"), {peer: 1})
        self.assertGreater(one(s, "roomcast_host_encoder_fps"), 5)  # a 15 fps source
        self.assertLessEqual(one(s, "roomcast_host_encoder_fps"), 20)
        self.assertGreaterEqual(one(s, "roomcast_host_fraction_lost_mean"), 0)
        self.assertEqual(one(s, "roomcast_peers", role="viewer"), 1)  # the server agrees
        frames = one(s, "roomcast_host_frames_total")
        self.assertEqual(w.interrupt(15), 0, w.stderr())

        def left():
            s = scrape(url)
            return s if one(s, "roomcast_host_viewers") == 0 else None
        s = wait_for("viewers back to 0 after the viewer left", left, 15)
        self.assertEqual(per_viewer(s, "roomcast_host_viewer_rtt_seconds"), {})
        self.assertIsNone(one(s, "roomcast_host_rtt_max_seconds"))
        self.assertEqual(one(s, "roomcast_host_sent_bits_per_second"), 0)
        self.assertGreater(one(s, "roomcast_host_frames_total"), frames)

    def test_metrics_listener_with_a_server(self):
        """`live --server URL --metrics 127.0.0.1:0`: a listener of its own that serves /metrics
        (host families only) to requests addressed by IP or localhost, and nothing else."""
        live = self.live("ml", "--metrics", "127.0.0.1:0", *SIZE)
        _, m = live.wait_line(r"host metrics at (http://127\.0\.0\.1:\d+/metrics)$", 5)
        url = m.group(1)
        s = scrape(url)
        self.assertEqual(one(s, "roomcast_host_viewers"), 0)
        self.assertIsNone(one(s, "roomcast_rooms"))  # not the server's
        w = self.watch("ml", "--frames", "20", "--timeout", "40")
        wait_for("the viewer in the listener's numbers",
                 lambda: one(scrape(url), "roomcast_host_viewers") == 1, 20)
        self.assertEqual(w.wait(45), 0, w.stderr())
        wait_for("viewers back to 0", lambda: one(scrape(url), "roomcast_host_viewers") == 0, 15)
        port = int(url.split(":")[2].split("/")[0])
        self.assertEqual(fetch(url, host="localhost:%d" % port)[0], 200)
        # A page under another name (DNS rebinding) gets nothing; other paths neither.
        status, body = fetch(url, host="evil.example:%d" % port)
        self.assertEqual(status, 421)
        self.assertNotIn("roomcast_host", body)
        self.assertEqual(fetch(url.replace("/metrics", "/"))[0], 404)
        # Not an address: a bad option, said at once.
        bad = self.start(["live", "--server", self.ws, "--room", "mb", "--metrics", "example.com:9100"]
                         + SIZE, name="bad-metrics")
        self.assertEqual(bad.wait(20), 2, bad.stderr())
        self.assertIn("--metrics must be PORT or HOST:PORT", bad.stderr())


class NegotiationBound(RoomcastTest):
    def test_viewer_that_never_answers_gives_its_place_back(self):
        """--max-viewers 1 and a raw WebSocket viewer that joins and never answers the offer: it
        holds the place (another viewer is told max-peers) until --negotiation-timeout, then it is
        told timeout and a real `roomcast watch` is served."""
        bound = 4
        live = self.live("nb", "--max-viewers", "1", "--negotiation-timeout", str(bound), *SIZE,
                         env=env_with_plugin({"GST_DEBUG": "roomcastclient:2"}))
        host, port = re.match(r"ws://([^:/]+):(\d+)/ws", self.ws).groups()
        fake = RawWs(host, int(port))
        self.addCleanup(fake.close)
        welcome = fake.join("nb", "viewer")
        self.assertEqual(welcome["type"], "welcome", welcome)
        offer = fake.expect(lambda m: m.get("type") == "offer", 15, "the host's offer")
        t_offer = time.monotonic()
        # The place is taken: a second viewer is refused by the host.
        other = RawWs(host, int(port))
        self.addCleanup(other.close)
        self.assertEqual(other.join("nb", "viewer")["type"], "welcome")
        bye = other.expect(lambda m: m.get("type") == "bye", 10, "a bye to the second viewer")
        self.assertEqual(bye["reason"], "max-peers", bye)
        other.close()
        # Never answered: ended with reason timeout after the bound (ticks of 1 s).
        bye = fake.expect(lambda m: m.get("type") == "bye", bound + 6, "a bye to the silent viewer")
        waited = time.monotonic() - t_offer
        print("silent viewer ended %.1f s after its offer (negotiation-timeout %d)" % (waited, bound))
        self.assertEqual(bye["reason"], "timeout", bye)
        self.assertEqual(bye["from"], offer["from"])
        self.assertIn("negotiation-timeout", bye.get("message", ""))
        # From the offer (the host's clock starts when it sends it; the tick is 1 s).
        self.assertGreaterEqual(waited, bound - 0.3)
        self.assertLessEqual(waited, bound + 3)
        live.wait_line(r"viewer %s left" % welcome["id"], 10)
        self.assertRegex(live.stderr(1 << 20), r"peer %s: no connection within %d s \(negotiation-timeout"
                         % (welcome["id"], bound))
        # The silent viewer is still in the room, but holds nothing: a real viewer is served.
        w = self.watch("nb", "--frames", "30", "--timeout", "40")
        self.assertEqual(w.wait(45), 0, w.stderr())
        self.assertGreaterEqual(w.json_result()["frames"], 30)
        self.assertFalse(fake.closed)


if __name__ == "__main__":
    unittest.main()
