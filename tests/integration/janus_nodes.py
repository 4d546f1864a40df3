"""Real Janus processes (Debian's `janus`) for tests and benchmarks: each on loopback with free
ports, from a configuration of its own made in a temporary folder (only the VideoRoom plugin and
the WebSocket transport are loaded), stopped and removed at the end."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

LIB = "/usr/lib/x86_64-linux-gnu/janus"


def lib_dir():
    """Where the Debian package put Janus's plugins (multiarch folder)."""
    for cand in [LIB] + ["/usr/lib/%s/janus" % d for d in os.listdir("/usr/lib") if d.endswith("-linux-gnu")] + \
            ["/usr/lib/janus"]:
        if os.path.exists(os.path.join(cand, "plugins", "libjanus_videoroom.so")):
            return cand
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def available():
    return shutil.which("janus") is not None and lib_dir() is not None


class JanusNode:
    """One `janus -F <folder>` process; .url is its WebSocket API (ws://127.0.0.1:PORT)."""

    def __init__(self, name="janus", rtp_range=None, debug_level=3):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="roomcast-janus-")
        lib = lib_dir()
        for sub, files in (("plugins", ["libjanus_videoroom.so"]), ("transports", ["libjanus_websockets.so"])):
            os.makedirs(os.path.join(self.dir, sub))
            for f in files:
                os.symlink(os.path.join(lib, sub, f), os.path.join(self.dir, sub, f))
        os.makedirs(os.path.join(self.dir, "none"))
        self.port = free_port()
        cfg = os.path.join(self.dir, "cfg")
        os.makedirs(cfg)
        rtp = rtp_range or "20000-60000"
        with open(os.path.join(cfg, "janus.jcfg"), "w") as f:
            f.write("""general: {
  configs_folder = "%(cfg)s"
  plugins_folder = "%(d)s/plugins"
  transports_folder = "%(d)s/transports"
  events_folder = "%(d)s/none"
  loggers_folder = "%(d)s/none"
  debug_level = %(lvl)d
  session_timeout = 60
}
media: { rtp_port_range = "%(rtp)s" }
nat: { nice_debug = false ice_enforce_list = "lo" }
""" % {"cfg": cfg, "d": self.dir, "rtp": rtp, "lvl": debug_level})
        with open(os.path.join(cfg, "janus.transport.websockets.jcfg"), "w") as f:
            f.write('general: { json = "compact" ws = true ws_port = %d ws_ip = "127.0.0.1" wss = false }\n'
                    'admin: { admin_ws = false admin_wss = false }\n' % self.port)
        with open(os.path.join(cfg, "janus.plugin.videoroom.jcfg"), "w") as f:
            f.write("general: { }\n")
        self.log_path = os.path.join(self.dir, "janus.log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen(["janus", "-F", cfg], stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        self.url = "ws://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise AssertionError("%s exited (%s):\n%s" % (name, self.p.returncode, self.tail()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("%s: its WebSocket port %d did not open in 15 s:\n%s" % (name, self.port, self.tail()))

    @property
    def pid(self):
        return self.p.pid

    def tail(self, n=4000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def kill9(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
