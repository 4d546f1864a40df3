#!/usr/bin/python3
"""Cheap viewers for the fan-out bench: ONE process holding N roomcastsrc elements with encoded
output (depayloaded VP8, not decoded) into fakesinks, so N viewers cost little CPU next to the
host. Prints one JSON line a second: {"t": monotonic s, "buffers": [per viewer]}; one encoded
buffer is one video frame. Runs until SIGINT/SIGTERM.

    viewers.py --server ws://127.0.0.1:P/ws --room ROOM [--room ROOM ...]
"""
import argparse
import json
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--room", action="append", required=True)
    a = ap.parse_args()
    Gst.init(None)
    desc = " ".join(
        "roomcastsrc name=v%d signaller::uri=%s room=%s encoded=true ice-loopback=true "
        "! fakesink name=f%d sync=false async=false" % (i, a.server, room, i) for i, room in enumerate(a.room))
    pipeline = Gst.parse_launch(desc)
    counts = [0] * len(a.room)

    def counter(i):
        def probe(pad, info):
            counts[i] += 1
            return Gst.PadProbeReturn.OK
        return probe

    for i in range(len(a.room)):
        pipeline.get_by_name("f%d" % i).get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, counter(i))

    loop = GLib.MainLoop()

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(json.dumps({"error": "%s: %s" % (msg.src.get_name(), err.message)}), flush=True)
            loop.quit()
        return True

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)

    def report():
        # The list is read on the main thread while streaming threads add to it; a count off by
        # one in a report is harmless.
        print(json.dumps({"t": time.monotonic(), "buffers": list(counts)}), flush=True)
        return True

    GLib.timeout_add(1000, report)
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, lambda *_: (loop.quit(), False)[1])
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        print(json.dumps({"error": "the viewers' pipeline could not start"}), flush=True)
        return 1
    report()
    loop.run()
    report()
    pipeline.set_state(Gst.State.NULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
