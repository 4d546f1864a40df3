"""Real processes on loopback: a signalling server, a live host, watchers.

Every process is started with bounded waits and killed at the end of its test; no test blocks
longer than its own timeouts.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

ROOMCAST = os.environ.get("ROOMCAST_BIN", "roomcast")
SOURCE_DIR = os.environ.get("ROOMCAST_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
PLUGIN_DIR = os.environ.get("ROOMCAST_PLUGIN_DIR", "")


def env_with_plugin(extra=None):
    env = dict(os.environ)
    if PLUGIN_DIR:
        env["GST_PLUGIN_PATH"] = PLUGIN_DIR + (":" + env["GST_PLUGIN_PATH"] if env.get("GST_PLUGIN_PATH") else "")
    env.setdefault("GST_DEBUG", "1")
    if extra:
        env.update(extra)
    return env


class Proc:
    """A child process whose stdout lines are collected by a thread. (The benchmarks' Proc in
    tests/bench/benchlib.py builds on this one.)"""

    failure = AssertionError  # what a failed wait raises
    merge_stderr = False      # True: stderr goes to the collected lines too (in order)

    def __init__(self, args, env=None, name=None, cwd=None):
        self.name = name or os.path.basename(args[0])
        self.args = list(args)
        self.lines = []
        self.cond = threading.Condition()
        self.stderr_file = tempfile.TemporaryFile()
        self.p = subprocess.Popen(self.command(self.args), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT if self.merge_stderr else self.stderr_file,
                                  stdin=subprocess.DEVNULL, env=env or env_with_plugin(), cwd=cwd,
                                  text=True, bufsize=1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def command(self, args):
        """The command line actually run for `args`."""
        return args

    def _read(self):
        for line in self.p.stdout:
            with self.cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    @property
    def pid(self):
        return self.p.pid

    def wait_line(self, pattern, timeout, start=0):
        """Waits for a stdout line matching `pattern` (after index `start`); returns (t, match)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    m = rx.search(self.lines[i][1])
                    if m:
                        return self.lines[i][0], m
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.reader.is_alive()):
                    raise self.failure("%s: no line matching %r within %.0f s; output:\n%s\nstderr:\n%s" % (
                        self.name, pattern, timeout, "\n".join(l for _, l in self.lines), self.stderr()))
                self.cond.wait(min(left, 0.5))

    def count_lines(self, pattern, start=0):
        rx = re.compile(pattern)
        with self.cond:
            return sum(1 for _, l in self.lines[start:] if rx.search(l))

    def stderr(self, tail=4000):
        if self.stderr_file.closed:
            return ""
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")[-tail:]

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=10)
            raise AssertionError("%s did not exit within %.0f s; stderr:\n%s" % (self.name, timeout, self.stderr()))

    def json_result(self):
        """The last JSON line on stdout."""
        self.reader.join(timeout=5)
        for _, line in reversed(self.lines):
            if line.startswith("{"):
                return json.loads(line)
        raise AssertionError("%s printed no JSON; stdout:\n%s\nstderr:\n%s" % (
            self.name, "\n".join(l for _, l in self.lines), self.stderr()))

    def interrupt(self, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)
        self.reader.join(timeout=5)
        if not self.stderr_file.closed:
            self.p.stdout.close()
            self.stderr_file.close()


def proc_status(pid):
    """Threads, open fds and RSS (KiB) of a live process, from /proc."""
    threads = rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return {"threads": threads, "fds": fds, "rss_kib": rss}


class RoomcastTest(unittest.TestCase):
    """Starts a server per test; helpers start hosts and watchers against it."""

    maxDiff = None

    def setUp(self):
        self.procs = []
        self.server = self.start(["serve", "--port", "0"], name="serve")
        _, m = self.server.wait_line(r"listening on (ws://\S+)", 10)
        self.ws = m.group(1)

    def tearDown(self):
        for p in reversed(self.procs):
            p.kill()

    def start(self, args, name=None, env=None):
        p = Proc([ROOMCAST] + args, env=env, name=name or args[0])
        self.procs.append(p)
        return p

    def live(self, room, *extra, env=None):
        host = self.start(["live", "--server", self.ws, "--room", room] + list(extra), name="live", env=env)
        host.wait_line(r"is live", 20)
        return host

    def xvfb(self, size="1280x720"):
        """Starts an Xvfb display for this test (stopped at the end); returns its name (":N").
        Xvfb picks a free display number itself (-displayfd), so parallel runs cannot collide."""
        r, w = os.pipe()
        x = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", size + "x24", "-nolisten", "tcp"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(w,))
        os.close(w)

        def stop():
            x.terminate()  # SIGTERM: Xvfb removes its lock file and socket
            try:
                x.wait(timeout=10)
            except subprocess.TimeoutExpired:
                x.kill()
                x.wait(timeout=10)
        self.addCleanup(stop)
        with os.fdopen(r) as f:
            number = f.readline().strip()  # written once the display accepts clients
        if not number.isdigit():
            raise AssertionError("Xvfb did not start (exit %s)" % x.poll())
        return ":" + number

    def watch(self, room, *extra, name="watch"):
        return self.start(["watch", "--server", self.ws, "--room", room, "--sink", "fake"] + list(extra), name=name)


def have(cmd):
    return shutil.which(cmd) is not None
