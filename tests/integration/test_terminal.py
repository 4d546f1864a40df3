"""The terminal as people see it (issue 16, the terminal half): real commands on a pseudo-terminal
(os.openpty, stdout and stderr both on it, as in a shell), their output rendered into screen lines
by a small emulator (carriage return, newline, erase to end of line), and the same commands with
stdout on a pipe or a file.

What is checked: event lines above one status line that is redrawn in place only on a terminal
(plain periodic lines otherwise, with no control characters); the printed `watch` command runs as
printed (no PATH, no GST_PLUGIN_PATH); URLs for every interface when listening on 0.0.0.0; no
doubled "roomcast:" prefix; exit codes (and their --help text); JSON only on success or with an
"error" member; the --pipeline name error, the port hint, the locale; meet's names and status.
"""
import fcntl
import json
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import ROOMCAST, SOURCE_DIR, RoomcastTest, env_with_plugin  # noqa: E402

SIZE = ["--size", "320x180", "--fps", "15"]
COLUMNS = 120


def render(raw):
    """The screen lines a terminal shows for `raw` (bytes): printable text overwrites at the
    cursor, \\r goes to column 0, \\n to a new line, ESC [ K erases to the end of the line. Any
    other escape sequence fails the test (the commands use no other)."""
    text = raw.decode("utf-8", errors="replace")
    lines, col = [""], 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\r":
            col = 0
        elif c == "\n":
            lines.append("")
            col = 0
        elif c == "\x1b":
            m = re.match(r"\x1b\[K", text[i:])
            if not m:
                raise AssertionError("unexpected escape sequence %r" % text[i:i + 8])
            lines[-1] = lines[-1][:col]
            i += len(m.group(0))
            continue
        else:
            line = lines[-1].ljust(col)
            lines[-1] = line[:col] + c + line[col + 1:]
            col += 1
        i += 1
    return lines


class PtyProc:
    """A command whose stdout and stderr are one pseudo-terminal, COLUMNS wide."""

    def __init__(self, args, env=None, name="pty"):
        self.name = name
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
        env = dict(env or env_with_plugin())
        env["TERM"] = "xterm"
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env,
                                  start_new_session=True)
        os.close(slave)
        self.master = master
        self.raw = b""
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: the last writer closed the terminal
                data = b""
            with self.cond:
                if not data:
                    self.cond.notify_all()
                    return
                self.raw += data
                self.cond.notify_all()

    def screen(self):
        with self.cond:
            return render(self.raw)

    def wait_screen(self, pattern, timeout):
        """Waits for a screen line matching `pattern`; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in render(self.raw):
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or not self.reader.is_alive():
                    raise AssertionError("%s: no screen line matching %r within %.0f s; screen:\n%s" % (
                        self.name, pattern, timeout, "\n".join(render(self.raw))))
                self.cond.wait(min(left, 0.5))

    def interrupt(self, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        rc = self.p.wait(timeout)
        self.reader.join(timeout=5)
        return rc

    def wait(self, timeout):
        rc = self.p.wait(timeout)
        self.reader.join(timeout=5)
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)
        self.reader.join(timeout=5)
        try:
            os.close(self.master)
        except OSError:
            pass


def run(args, timeout=30, env=None):
    """A command with stdout and stderr captured apart (bytes)."""
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                          env=env or env_with_plugin())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event_lines_are_whole(test, screen, cmd):
    """Every screen line but the last (the status line) is one whole line of ours: it starts with
    the command's prefix, and no status text ran into it."""
    for line in screen[:-1]:
        if not line.strip():
            continue
        test.assertTrue(line.startswith("roomcast %s: " % cmd) or line.startswith("  "),
                        "a line that is not whole: %r\nscreen:\n%s" % (line, "\n".join(screen)))
        test.assertNotRegex(line, r"fps.*roomcast|kbit/s.*roomcast|\(\d+ s\)roomcast",
                            "\n".join(screen))


class Terminal(RoomcastTest):
    def pty(self, args, env=None, name=None):
        p = PtyProc([ROOMCAST] + args, env=env, name=name or args[0])
        self.addCleanup(p.kill)
        return p

    def test_live_events_above_a_status_line_and_the_printed_watch_runs(self):
        live = self.pty(["live", "--server", self.ws, "--room", "tty", "--source", "test"] + SIZE)
        printed = live.wait_screen(r"or run: (.*)$", 20).group(1)
        live.wait_screen(r"viewers 0 \(0 connected\)  sending \d+ kbit/s  encoding [\d.]+ fps", 10)
        # The watch line as printed: this build's binary by its real path (`roomcast` is not on
        # PATH here), without GST_PLUGIN_PATH or a PATH to find anything by.
        argv = shlex.split(printed)
        self.assertEqual(argv[1:], ["watch", "--server", self.ws, "--room", "tty"], printed)
        self.assertTrue(os.path.isabs(argv[0]) and os.path.samefile(argv[0], ROOMCAST), printed)
        env = {k: v for k, v in os.environ.items() if k not in ("GST_PLUGIN_PATH", "PATH")}
        env.update(DISPLAY="", GST_DEBUG="1")
        w = subprocess.Popen(argv + ["--sink", "fake", "--frames", "60", "--timeout", "40"], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: w.poll() is None and w.kill())
        # While the viewer watches: its lines above, the status line counting it at the bottom.
        live.wait_screen(r"^roomcast live: viewer \S+ connected$", 30)
        live.wait_screen(r"^viewers 1 \(1 connected\)  sending [1-9]\d* kbit/s  encoding [\d.]+ fps"
                         r"(  resent \d+ packets \(\d+ twice\))?$", 10)
        print("the screen while a viewer watches:\n" + "\n".join(l for l in live.screen() if l.strip()))
        out, err = w.communicate(timeout=60)
        self.assertEqual(w.returncode, 0, err)
        self.assertGreaterEqual(json.loads(out.splitlines()[-1])["frames"], 60, out)
        # The viewer's joining, connecting and leaving are lines of their own above the status
        # line, its connection state by name; the status line is redrawn in place (\r ESC [K).
        live.wait_screen(r"^roomcast live: viewer \S+ left$", 15)
        screen = live.screen()
        self.assertRegex("\n".join(screen), r"(?m)^roomcast live: viewer (\S+) joined$")
        self.assertRegex("\n".join(screen), r"(?m)^roomcast live: viewer \S+ connected$")
        self.assertNotRegex("\n".join(screen), r"connection \d")
        self.assertRegex(screen[-1], r"^viewers \d+ \(\d+ connected\)  sending")
        self.assertGreater(live.raw.count(b"\r\x1b[K"), 3)
        event_lines_are_whole(self, screen, "live")
        # Ctrl-C: the status line is taken away; the last line says it stopped.
        self.assertEqual(live.interrupt(), 0)
        screen = [l for l in live.screen() if l.strip()]
        self.assertEqual(screen[-1], "roomcast live: stopped", "\n".join(screen))
        print("\n".join(screen))

    def test_without_a_terminal_status_lines_are_plain(self):
        env = env_with_plugin({"ROOMCAST_STATUS_INTERVAL": "1"})
        with open(os.path.join(self.tmp_dir(), "out"), "w+b") as out:
            p = subprocess.Popen([ROOMCAST, "live", "--server", self.ws, "--room", "plain", "--source", "test"]
                                 + SIZE, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            self.addCleanup(lambda: p.poll() is None and p.kill())
            time.sleep(5)
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(20), 0)
            out.seek(0)
            raw = out.read()
        self.assertNotIn(b"\r", raw)
        self.assertNotIn(b"\x1b", raw)
        text = raw.decode()
        self.assertGreaterEqual(len(re.findall(r"(?m)^roomcast live: status: viewers 0 \(0 connected\)", text)),
                                2, text)
        self.assertRegex(text, r"(?m)^roomcast live: room 'plain' is live")
        self.assertRegex(text, r"(?m)^roomcast live: stopped\n\Z")
        print(text)

    def tmp_dir(self):
        import tempfile
        d = tempfile.mkdtemp(prefix="roomcast-term-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        return d

    def test_no_server_fails_at_once_without_saying_live(self):
        url = "ws://127.0.0.1:%d/ws" % free_port()
        r = run([ROOMCAST, "live", "--server", url, "--room", "demo", "--source", "test"] + SIZE)
        out, err = r.stdout.decode(), r.stderr.decode()
        self.assertEqual(r.returncode, 6, err)
        self.assertNotIn("is live", out)
        self.assertNotIn("viewers open", out)
        self.assertRegex(err, r"(?m)^roomcast live: cannot reach the signalling server")
        self.assertNotIn("roomcast live: roomcast:", err)
        self.assertIn("is a server running there?", err)
        # watch: the same code, and its JSON says why.
        r = run([ROOMCAST, "watch", "--server", url, "--room", "demo", "--sink", "fake", "--timeout", "10"])
        self.assertEqual(r.returncode, 6, r.stderr)
        result = json.loads(r.stdout.decode().splitlines()[-1])
        self.assertIn("cannot reach the signalling server", result["error"])
        print(err)

    def test_refused_exits_5(self):
        self.live("taken", "--source", "test", *SIZE)
        r = run([ROOMCAST, "live", "--server", self.ws, "--room", "taken", "--source", "test"] + SIZE)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertRegex(r.stderr.decode(), r"(?m)^roomcast live: host-taken: ")
        self.assertNotIn(b"is live", r.stdout)

    def test_watch_says_what_it_waits_for_and_exits_4_without_host(self):
        w = self.pty(["watch", "--server", self.ws, "--room", "empty", "--sink", "fake", "--timeout", "4"])
        w.wait_screen(r"^roomcast watch: in room 'empty'; waiting for its host$", 10)
        w.wait_screen(r"^waiting for a host in room 'empty' at ws://\S+ \(\d+ s\)", 10)
        self.assertEqual(w.wait(20), 4)
        screen = [l for l in w.screen() if l.strip()]
        self.assertRegex("\n".join(screen), r"(?m)^roomcast watch: no host came to room 'empty' within 4 s")
        # The result says why; the status line is gone from the screen.
        result = json.loads(screen[-1])
        self.assertEqual(result["frames"], 0)
        self.assertIn("no host", result["error"])
        event_lines_are_whole(self, screen[:-1] + [""], "watch")
        print("\n".join(screen))

    def test_watch_follows_the_host_leaving_and_coming_back(self):
        host = self.live("back", "--source", "test", *SIZE)
        w = self.pty(["watch", "--server", self.ws, "--room", "back", "--sink", "fake"])
        w.wait_screen(r"^roomcast watch: receiving video from host \S+$", 20)
        print("status: " + w.wait_screen(r"^receiving 320x180 from \S+  [\d.]+ fps  \d+ frames", 10).group(0))
        self.assertEqual(host.interrupt(), 0)
        w.wait_screen(r"^roomcast watch: host \S+ left; waiting for a host to come back to room 'back'$", 15)
        print("status: " + w.wait_screen(r"^waiting for a host in room 'back'.*", 10).group(0))
        self.live("back", "--source", "test", *SIZE)
        w.wait_screen(r"^roomcast watch: host \S+ is in room 'back'; connecting$", 20)
        deadline = time.monotonic() + 30
        while len([l for l in w.screen() if re.match(r"^roomcast watch: receiving video", l)]) < 2:
            self.assertLess(time.monotonic(), deadline, "\n".join(w.screen()))
            time.sleep(0.3)
        self.assertEqual(w.interrupt(), 0)
        screen = [l for l in w.screen() if l.strip()]
        result = json.loads(screen[-1])
        self.assertNotIn("error", result)
        self.assertGreater(result["frames"], 0)
        event_lines_are_whole(self, screen[:-1] + [""], "watch")
        print("\n".join(screen))

    def test_helpful_errors(self):
        # A --pipeline word that names no file: which files there are.
        r = run([ROOMCAST, "live", "--server", self.ws, "--pipeline", "nosuchfile"])
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 2, err)
        self.assertRegex(err, r"^roomcast live: --pipeline nosuchfile: no such file, and no /\S+/pipelines/"
                              r"nosuchfile\.pipeline\n")
        self.assertRegex(err, r"the pipelines there: .*screen, .*test-pattern, test-pattern-audio")
        self.assertNotIn('no element "nosuchfile"', err)
        # Without any locale in the environment, GLib's quotes are not turned into '?'.
        env = {k: v for k, v in env_with_plugin().items() if not k.startswith("LC_") and k != "LANG"}
        r = run([ROOMCAST, "watch", "--frames", "abc"], env=env)
        err = r.stderr.decode("utf-8")
        self.assertEqual(r.returncode, 2, err)
        self.assertIn("\u201cabc\u201d", err)
        self.assertNotIn("?abc?", err)
        self.assertIn("roomcast watch --help", err)
        # A port in use: the hint.
        port = int(re.search(r":(\d+)/ws", self.ws).group(1))
        r = run([ROOMCAST, "live", "--port", str(port), "--source", "test"] + SIZE)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("port %d is in use" % port, err)
        self.assertIn("--port 0 for a free one", err)
        print(err)

    def test_exit_codes_in_help_and_readme(self):
        with open(os.path.join(SOURCE_DIR, "README.md")) as f:
            readme = f.read()
        r = run([ROOMCAST, "watch", "--help"])
        help_text = r.stdout.decode()
        for code in range(7):
            m = re.search(r"(?m)^  %d  (.+)$" % code, help_text)
            self.assertIsNotNone(m, help_text)
            self.assertIn("| %d |" % code, readme)
        r = run([ROOMCAST, "live", "--help"])
        self.assertRegex(r.stdout.decode(), r"(?m)^  5  refused by the signalling server")
        self.assertRegex(r.stdout.decode(), r"(?m)^  6  network")

    def test_serve_on_every_interface_prints_every_address(self):
        want = set()
        for line in subprocess.run(["ip", "-o", "-4", "addr", "show", "up"], capture_output=True,
                                   text=True).stdout.splitlines():
            want.add(line.split()[3].split("/")[0])
        s = self.start(["serve", "--host", "0.0.0.0", "--port", "0"], name="serve-all")
        s.wait_line(r"listening on ws://127\.0\.0\.1:\d+/ws \(and every interface's address\)", 10)
        time.sleep(0.5)
        got = [m.group(1) for _, l in s.lines for m in [re.search(r"web client at http://([\d.]+):\d+/$", l)] if m]
        self.assertEqual(set(got), want, s.lines)
        # LAN addresses first, loopback last.
        self.assertTrue(got[-1].startswith("127."), got)
        # live embeds a server on every interface: its watch line names a LAN address when there is one.
        live = self.start(["live", "--host", "0.0.0.0", "--port", "0", "--room", "lan", "--source", "test"] + SIZE,
                          name="live-all")
        _, m = live.wait_line(r"or run: .* watch --server ws://([\d.]+):\d+/ws --room lan$", 20)
        self.assertEqual(m.group(1), got[0])
        opened = [m.group(1) for _, l in live.lines for m in [re.search(r"viewers open http://([\d.]+):", l)] if m]
        self.assertEqual(set(opened), want)
        print("\n".join(l for _, l in s.lines + live.lines))

    def test_meet_names_status_and_no_json_at_ctrl_c(self):
        alice = self.pty(["meet", "--server", self.ws, "--room", "names", "--name", "alice", "--sink", "fake",
                          "--source", "test"] + SIZE)
        alice.wait_screen(r"^roomcast meet: in room 'names' as alice \(\S+\); others join with: \S+ meet "
                          r"--server \S+ --room names$", 20)
        print("status: " + alice.wait_screen(r"^waiting for others to join room 'names' \(\d+ s\)", 10).group(0))
        bob = self.start(["meet", "--server", self.ws, "--room", "names", "--name", "bob", "--sink", "fake",
                          "--source", "test"] + SIZE, name="bob")
        bob_id = alice.wait_screen(r"^roomcast meet: seeing bob \((\S+)\)$", 30).group(1)
        print("status: " + alice.wait_screen(r"^members 1 \(1 connected\)  videos 1  sending \d+ kbit/s.*", 10).group(0))
        self.assertEqual(bob.interrupt(20), 0, bob.stderr())
        alice.wait_screen(r"^roomcast meet: bob \(%s\) left$" % re.escape(bob_id), 15)
        self.assertEqual(alice.interrupt(), 0)
        screen = [l for l in alice.screen() if l.strip()]
        self.assertFalse([l for l in screen if l.startswith("{")], "\n".join(screen))
        event_lines_are_whole(self, screen + [""], "meet")
        # bob saw alice by name too; it printed no JSON either.
        self.assertEqual(bob.count_lines(r"^roomcast meet: seeing alice \(\S+\)$"), 1)
        self.assertEqual(bob.count_lines(r"^\{"), 0)
        print("\n".join(screen))

    def test_meet_alone_times_out_with_4_and_an_error_line(self):
        m = self.start(["meet", "--server", self.ws, "--room", "alone", "--sink", "fake", "--source", "test",
                        "--report", "--timeout", "3"] + SIZE, name="alone")
        self.assertEqual(m.wait(20), 4, m.stderr())
        self.assertIn("nobody else came to room 'alone' within 3 s", m.stderr())
        self.assertIn("nobody else came", m.json_result()["error"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
