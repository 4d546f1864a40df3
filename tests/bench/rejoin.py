#!/usr/bin/python3
"""Joins from a warm GStreamer viewer: ONE process joins the same room over and over with a
`roomcastsrc ! fakesink` pipeline (PLAYING -> first decoded frame -> NULL), so only its first join
pays for the process's DTLS key and plugin loading. Prints one JSON line:
{"samples_ms": [...], "failures": N} (the first join is not counted).

    rejoin.py --server ws://127.0.0.1:P/ws --room ROOM --joins N
"""
import argparse
import json
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def one_join(server, room, timeout_s):
    """Seconds from PLAYING to the first decoded buffer at the sink, or None."""
    pipeline = Gst.parse_launch(
        "roomcastsrc name=src signaller::uri=%s room=%s ice-loopback=true ! fakesink name=out sync=false "
        "async=false" % (server, room))
    loop = GLib.MainLoop()
    got = {}

    def probe(pad, info):
        if "t" not in got:
            got["t"] = time.monotonic()
            GLib.idle_add(loop.quit)
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("out").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    bus = pipeline.get_bus()
    bus.add_signal_watch()

    def on_error(_bus, msg):
        err, _ = msg.parse_error()
        got["error"] = err.message
        loop.quit()

    bus.connect("message::error", on_error)
    GLib.timeout_add(int(timeout_s * 1000), loop.quit)
    t0 = time.monotonic()
    pipeline.set_state(Gst.State.PLAYING)
    loop.run()
    pipeline.set_state(Gst.State.NULL)
    bus.remove_signal_watch()
    return (got["t"] - t0) if "t" in got else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--room", required=True)
    ap.add_argument("--joins", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()
    Gst.init(None)
    samples, failures = [], 0
    for i in range(a.joins + 1):
        t = one_join(a.server, a.room, a.timeout)
        if t is None:
            failures += 1
        elif i > 0:
            samples.append(round(t * 1000.0, 1))
        time.sleep(0.3)
    print(json.dumps({"samples_ms": samples, "failures": failures}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
