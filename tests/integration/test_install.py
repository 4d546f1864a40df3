"""Config and install (issue 12, item 6): `meson install` into a staging root gives a plugin that
GStreamer finds with only that root's plugin folder; the installed binary never looks into the
build tree; `roomcast serve --config FILE` takes its options from a key file, the command line
winning; the systemd unit passes `systemd-analyze verify`.

No network; every temporary folder is removed at the end.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import ROOMCAST, SOURCE_DIR, Proc, have  # noqa: E402

BUILD_DIR = os.environ.get("ROOMCAST_BUILD_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(ROOMCAST)))
UPGRADE = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def clean_env(tmp, **extra):
    """An environment without any plugin path of ours and with a registry of its own (a cached
    registry could name the build tree's plugin)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GST_PLUGIN")}
    env["GST_REGISTRY"] = os.path.join(tmp, "registry-%d.bin" % time.monotonic_ns())
    env["GST_REGISTRY_FORK"] = "no"
    env.setdefault("GST_DEBUG", "1")
    env.update(extra)
    return env


class Staged(unittest.TestCase):
    """`meson install --destdir` of this build into a temporary staging root."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="roomcast-install-")
        cls.root = os.path.join(cls.tmp, "stage")
        try:
            r = subprocess.run(["meson", "install", "-C", BUILD_DIR, "--destdir", cls.root, "--no-rebuild",
                                "--quiet"], capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise AssertionError("meson install failed:\n%s%s" % (r.stdout, r.stderr))
            cls.plugin = cls.exe = None
            for d, _, files in os.walk(cls.root):
                if "libgstroomcast.so" in files:
                    cls.plugin = os.path.join(d, "libgstroomcast.so")
                if "roomcast" in files and os.path.basename(d) == "bin":
                    cls.exe = os.path.join(d, "roomcast")
            if not cls.plugin or not cls.exe:
                raise AssertionError("no plugin or binary in the staging root: %s" % cls.root)
            cls.plugin_dir = os.path.dirname(cls.plugin)
            cls.empty = os.path.join(cls.tmp, "empty")
            os.mkdir(cls.empty)
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def inspect(self, plugin_dir):
        env = clean_env(self.tmp, GST_PLUGIN_SYSTEM_PATH=plugin_dir, GST_PLUGIN_PATH=plugin_dir)
        return subprocess.run(["gst-inspect-1.0", "roomcastsink"], capture_output=True, text=True, env=env,
                              timeout=60)

    def test_gst_inspect_finds_the_staged_plugin_alone(self):
        # The folder it went to: GStreamer's own when the prefix is GStreamer's, else
        # <prefix>/<libdir>/gstreamer-1.0 (meson.build says why).
        rel = os.path.relpath(self.plugin_dir, self.root)
        self.assertTrue(rel.endswith("gstreamer-1.0"), rel)
        r = self.inspect(self.plugin_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"Filename\s+%s" % re.escape(self.plugin))
        self.assertIn("roomcastsink", r.stdout)
        # and not without it: nothing else provides the element
        r = self.inspect(self.empty)
        self.assertNotEqual(r.returncode, 0, r.stdout)

    def version(self, exe, env):
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env, timeout=60)
        m = re.search(r"^plugin (\S+)$", r.stdout, re.M)
        return r, (m.group(1) if m else None)

    def test_staged_binary_never_loads_from_the_build_tree(self):
        build_plugin_dir = os.path.join(BUILD_DIR, "plugins", "roomcast")
        self.assertTrue(os.path.exists(os.path.join(build_plugin_dir, "libgstroomcast.so")))
        # Control: the build tree's own binary, given no plugin path, does take the build tree's
        # plugin (so the checks below would see it).
        env = clean_env(self.tmp, GST_PLUGIN_SYSTEM_PATH=self.empty)
        r, plugin = self.version(ROOMCAST, env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.path.dirname(os.path.realpath(plugin)), os.path.realpath(build_plugin_dir))

        # The staged binary with the staged plugin's folder: that plugin, and no path under the
        # build dir in GStreamer's plugin-loading log.
        env = clean_env(self.tmp, GST_PLUGIN_PATH=self.plugin_dir, GST_PLUGIN_SYSTEM_PATH=self.empty,
                        GST_DEBUG="GST_PLUGIN_LOADING:5,GST_REGISTRY:5", GST_DEBUG_NO_COLOR="1")
        r, plugin = self.version(self.exe, env)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertEqual(plugin, self.plugin)
        self.assertIn(self.plugin_dir, r.stderr)  # the log does name the folders scanned
        self.assertNotIn(os.path.realpath(BUILD_DIR), r.stderr + r.stdout)
        self.assertNotIn(BUILD_DIR, r.stderr + r.stdout)

        # Without any plugin path it does not fall back on the build tree: it fails (or takes a
        # plugin really installed under the prefix, never the build tree's).
        env = clean_env(self.tmp, GST_PLUGIN_SYSTEM_PATH=self.empty)
        r, plugin = self.version(self.exe, env)
        if plugin is None:
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("roomcast GStreamer plugin was not found", r.stderr)
        else:
            self.assertNotIn(os.path.realpath(BUILD_DIR), os.path.realpath(plugin))

    def test_systemd_unit_verifies(self):
        if not have("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed (Debian package systemd): the unit is not verified")
        with open(os.path.join(SOURCE_DIR, "tools", "roomcast-serve.service")) as f:
            text = f.read()
        self.assertIn("ExecStart=@BINDIR@/roomcast serve --config /etc/roomcast/serve.conf", text)
        for key in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                    "RestrictAddressFamilies="):
            self.assertIn("\n" + key, text)
        # The unit as installed: the staged copy when meson installed one, else the source with
        # ExecStart pointed at the staged binary.
        staged = [os.path.join(d, "roomcast-serve.service") for d, _, files in os.walk(self.root)
                  if "roomcast-serve.service" in files]
        unit_dir = os.path.join(self.tmp, "unit")
        os.makedirs(unit_dir, exist_ok=True)
        unit = os.path.join(unit_dir, "roomcast-serve.service")
        with open(unit, "w") as f:
            f.write(text.replace("@BINDIR@", os.path.dirname(self.exe)))
        if staged:
            with open(staged[0]) as f:
                installed = f.read()
            prefix_bin = re.search(r"^ExecStart=(\S+)/roomcast ", installed, re.M).group(1)
            self.assertEqual(installed, text.replace("@BINDIR@", prefix_bin))
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Unknown keys and bad values are only warnings: none may be printed about our unit.
        self.assertNotIn("roomcast-serve.service", r.stdout + r.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConfigFile(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="roomcast-config-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.procs = []
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        for p in self.procs:
            p.kill()

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def websocket(self, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.socks.append(s)
        s.sendall((UPGRADE % port).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            d = s.recv(4096)
            if not d:
                break
            head += d
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head[:200])
        return s

    def test_port_and_limits_from_the_file_the_command_line_wins(self):
        port = free_port()
        self.write("secret", "s" * 40 + "\n")
        # A relative path is relative to the config file's folder, not the working directory.
        conf = self.write("serve.conf", "# roomcast serve\n[serve]\nhost = 127.0.0.1\nport = %d\n"
                          "max-connections = 2\ntoken-secret-file = secret\nrequire-token = all\n" % port)
        p = Proc([ROOMCAST, "serve", "--config", conf, "--require-token", "host"], name="serve", cwd="/")
        self.procs.append(p)
        p.wait_line(r"listening on ws://127\.0\.0\.1:%d/ws" % port, 10)
        # require-token = all in the file, host on the command line: the command line's.
        p.wait_line(r"room tokens required to host or meet", 5)
        self.assertEqual(p.count_lines(r"required to join"), 0)
        # max-connections = 2 from the file: a third WebSocket is refused.
        self.websocket(port)
        self.websocket(port)
        self.websocket(port)
        deadline = time.monotonic() + 10
        while "server-full" not in p.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertRegex(p.stderr(), r"refused websocket from=127\.0\.0\.1: server-full")

    def serve_fails(self, text):
        conf = self.write("bad.conf", text)
        r = subprocess.run([ROOMCAST, "serve", "--config", conf], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        return r.stderr

    def test_every_serve_option_is_a_key_and_typos_are_refused(self):
        r = subprocess.run([ROOMCAST, "serve", "--help-all"], capture_output=True, text=True, timeout=20)
        options = set(re.findall(r"^\s+(?:-\w, )?--([a-z][\w-]*)", r.stdout, re.M))
        options -= {"help", "help-all", "help-server", "help-security", "config"}
        self.assertGreater(len(options), 20, r.stdout)
        # Every option as a key, each with a value no option takes: the run fails on a value (the
        # booleans'), never on an unknown key.
        err = self.serve_fails("[serve]\n" + "".join("%s = not a value\n" % o for o in sorted(options)))
        self.assertNotIn("unknown key", err)
        self.assertIn("--config", err)
        err = self.serve_fails("[serve]\nport = 0\nmax-romos = 3\n")
        self.assertIn("unknown key 'max-romos'", err)
        err = self.serve_fails("[serve]\ntoken-secret = hunter2\n")
        self.assertIn("never goes in the file", err)
        err = self.serve_fails("[live]\nport = 0\n")
        self.assertIn("no [serve] group", err)

    def test_example_config_loads(self):
        # tools/serve.conf.example as shipped, on a free port of loopback (the command line wins).
        p = Proc([ROOMCAST, "serve", "--config", os.path.join(SOURCE_DIR, "tools", "serve.conf.example"),
                  "--host", "127.0.0.1", "--port", "0"], name="serve")
        self.procs.append(p)
        p.wait_line(r"listening on ws://127\.0\.0\.1:\d+/ws", 10)


if __name__ == "__main__":
    unittest.main()
