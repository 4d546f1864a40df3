"""Shared helpers for the roomcast benchmarks (tests/bench/<name>.py; see tests/bench/run).

A bench module has run(ctx) -> dict (the measurement, JSON-serialisable), render(data, ctx)
-> str (a markdown section) and, optionally, next_steps(data, ctx) -> [str] (lines for the
report's "What stands in the way / next steps" section). `python3 tests/bench/<name>.py
[--quick]` runs one bench through cli() below: raw data to build/bench/<name>.json, its section
to stdout. Use Debian's /usr/bin/python3 (matplotlib and gi are Debian packages).

Every process a bench starts goes through Proc (wrapped in `timeout -k 5 N`) and is killed at
the end; nothing here kills by name.
"""
import argparse
import datetime
import importlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402  (Proc, shared with the integration tests)
SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


class Context:
    """Where things are, and how much time to spend (quick: a few seconds per point)."""

    def __init__(self, quick=False, source_dir=None, build_dir=None, roomcast=None, plugin_dir=None,
                 plot_dir=None, out_dir=None, verbose=True):
        self.source_dir = os.path.abspath(source_dir or os.environ.get("ROOMCAST_SOURCE_DIR") or SOURCE_DIR)
        self.build_dir = os.path.abspath(build_dir or os.environ.get("ROOMCAST_BUILD_DIR")
                                         or os.path.join(self.source_dir, "build"))
        self.roomcast = roomcast or os.environ.get("ROOMCAST_BIN") or os.path.join(self.build_dir, "src", "app", "roomcast")
        self.plugin_dir = plugin_dir or os.environ.get("ROOMCAST_PLUGIN_DIR") or os.path.join(
            self.build_dir, "plugins", "roomcast")
        self.plot_dir = plot_dir or os.path.join(self.source_dir, "docs", "bench")
        self.out_dir = out_dir or os.path.join(self.build_dir, "bench")
        self.quick = bool(quick)
        self.verbose = verbose
        self.procs = []
        self._t0 = time.monotonic()

    def log(self, msg):
        if self.verbose:
            sys.stderr.write("[bench %6.1fs] %s\n" % (time.monotonic() - self._t0, msg))
            sys.stderr.flush()

    def env(self, extra=None):
        """The environment for roomcast and gst-launch-1.0: the plugin on GST_PLUGIN_PATH."""
        env = dict(os.environ)
        if self.plugin_dir:
            old = env.get("GST_PLUGIN_PATH")
            env["GST_PLUGIN_PATH"] = self.plugin_dir + (":" + old if old else "")
        env.setdefault("GST_DEBUG", "1")
        if extra:
            env.update(extra)
        return env

    def start(self, args, name=None, env=None, limit=600, cwd=None):
        """Starts args under `timeout -k 5 limit`; the process is killed by stop_all()."""
        p = Proc(args, name=name, env=env or self.env(), limit=limit, cwd=cwd)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            p.kill()
        self.procs = []

    def serve(self, *extra):
        """A `roomcast serve --port 0` on loopback; returns (proc, ws_url). Rate limits are
        lifted (the benchmarks measure media, not the server's flood protection)."""
        p = self.start([self.roomcast, "serve", "--host", "127.0.0.1", "--port", "0",
                        "--max-rate", "100000", "--max-burst", "100000"] + list(extra), name="serve")
        _, m = p.wait_line(r"listening on (ws://\S+)", 15)
        return p, m.group(1)


class Proc(harness.Proc):
    """The integration harness's Proc (stdout lines collected by a thread, stderr kept in a
    temporary file) run under `timeout -k 5 limit`. `pid` is the real program's pid (the child
    of `timeout`); failed waits raise RuntimeError."""

    failure = RuntimeError

    def __init__(self, args, name=None, env=None, limit=600, cwd=None):
        self.limit = limit
        self._pid = None
        super().__init__(args, env=env, name=name, cwd=cwd)

    def command(self, args):
        return ["timeout", "-k", "5", str(int(self.limit))] + list(args)

    @property
    def pid(self):
        """The pid of the program itself (timeout's child); found once, within 5 s."""
        if self._pid is None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                kids = child_pids(self.p.pid)
                if kids:
                    self._pid = kids[0]
                    break
                if self.p.poll() is not None:
                    raise RuntimeError("%s exited (%s) before it started: %s" % (self.name, self.p.returncode,
                                                                                 self.stderr()))
                time.sleep(0.01)
            else:
                raise RuntimeError("%s: no child of timeout(%d)" % (self.name, self.p.pid))
        return self._pid

    def alive(self):
        return self.p.poll() is None

    def text_lines(self, start=0):
        with self.cond:
            return [l for _, l in self.lines[start:]]

    def signal(self, sig):
        try:
            os.kill(self.pid, sig)
        except (ProcessLookupError, RuntimeError):
            pass

    def wait(self, timeout):
        """The exit code of `timeout` (which is the program's, or 124 when the limit hit)."""
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("%s did not exit within %.0f s; stderr:\n%s" % (self.name, timeout, self.stderr()))

    def interrupt(self, timeout=10):
        """SIGINT to the program, then wait; killed if it does not go."""
        if self.alive():
            self.signal(signal.SIGINT)
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.p.poll() is None:
            # The program first (killing only `timeout` would orphan it), then `timeout`.
            for pid in ([self._pid] if self._pid is not None else child_pids(self.p.pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.p.kill()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.reader.join(timeout=5)
        if not self.stderr_file.closed and not self.reader.is_alive():
            # (With the reader still blocked on the pipe, closing it would block too.)
            try:
                self.p.stdout.close()
            except OSError:
                pass
            self.stderr_file.close()


def child_pids(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


# ---- /proc measurements ------------------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of a process, in seconds (all its threads), from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid):
    """VmRSS of a process in KiB, from /proc/<pid>/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def threads(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def measure_cpu(pids, seconds):
    """CPU of each pid over a window, in % of one core: {pid: percent}; also the window length."""
    c0 = {p: cpu_seconds(p) for p in pids}
    t0 = time.monotonic()
    time.sleep(seconds)
    c1 = {p: cpu_seconds(p) for p in pids}
    dt = time.monotonic() - t0
    return {p: 100.0 * (c1[p] - c0[p]) / dt for p in pids}, dt


def machine_cpu_busy(seconds):
    """Whole-machine CPU busy % (all cores, 100 = one core) over a window, from /proc/stat."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    a, ai = read()
    time.sleep(seconds)
    b, bi = read()
    total = b - a
    return 100.0 * os.cpu_count() * (1 - (bi - ai) / total) if total else 0.0


# ---- statistics --------------------------------------------------------------------------------

def percentile(values, p):
    """The p-th percentile (0..100) with linear interpolation; None for no values."""
    v = sorted(values)
    if not v:
        return None
    if len(v) == 1:
        return float(v[0])
    k = (len(v) - 1) * p / 100.0
    lo = int(math.floor(k))
    hi = min(lo + 1, len(v) - 1)
    return float(v[lo] + (v[hi] - v[lo]) * (k - lo))


def summary(values):
    """n, min, p50, p95, p99, max, mean of a list of numbers."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "min": float(min(values)), "p50": percentile(values, 50),
            "p95": percentile(values, 95), "p99": percentile(values, 99), "max": float(max(values)),
            "mean": sum(values) / len(values)}


def linear_fit(xs, ys):
    """Least-squares slope and intercept of ys against xs (None, None for fewer than 2 points)."""
    n = len(xs)
    if n < 2:
        return None, None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None, None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- markdown helpers --------------------------------------------------------------------------

def fmt(v, digits=1, unit=""):
    if v is None:
        return "—"
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return "—"
    return ("%%.%df" % digits) % v + unit


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def target_line(what, measured, target, ok):
    """One line of a targets list: met / not met, measured vs target."""
    mark = "met" if ok else ("**not met**" if ok is not None else "not measured")
    return "- %s: %s (measured %s; target %s)" % (what, mark, measured, target)


def plt():
    """matplotlib.pyplot with the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
        return pyplot
    except ImportError:
        return None


def plot_path(ctx, filename):
    os.makedirs(ctx.plot_dir, exist_ok=True)
    return os.path.join(ctx.plot_dir, filename)


def save_plot(plt, fig, ax, ctx, filename):
    """Finishes a one-axes figure the way every bench plot looks (grid, legend, tight layout),
    writes it to the plot folder and closes it; returns the file name."""
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(plot_path(ctx, filename))
    plt.close(fig)
    return filename


def plot_link(ctx, filename, alt):
    """A markdown image link to docs/bench/<filename>, relative to docs/benchmarks.md."""
    return "![%s](bench/%s)" % (alt, filename)


# ---- running benches ---------------------------------------------------------------------------

MODULES = ["fanout", "join", "latency", "meeting", "server", "loss", "janus", "ladder", "temporal"]


def load(name):
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    return importlib.import_module(name)


def loadavg():
    """The 1-minute load average (other work on the machine shows here)."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def git_commit(ctx):
    try:
        r = subprocess.run(["git", "-C", ctx.source_dir, "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", ctx.source_dir, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return r.stdout.strip() + ("+changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def run_bench(name, ctx):
    """Runs one bench: build/bench/<name>.json (raw data) and <name>.meta.json (when, quick,
    commit, seconds); on failure <name>.error.txt instead (and no stale JSON is left behind)."""
    os.makedirs(ctx.out_dir, exist_ok=True)
    base = os.path.join(ctx.out_dir, name)
    for suffix in (".json", ".meta.json", ".error.txt"):
        if os.path.exists(base + suffix):
            os.remove(base + suffix)
    mod = load(name)
    load_start = loadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    ctx.log("%s: start (%s)" % (name, "quick" if ctx.quick else "full"))
    try:
        data = mod.run(ctx)
    except BaseException as e:  # noqa: B902 (KeyboardInterrupt too: leave a record, then go)
        with open(base + ".error.txt", "w") as f:
            f.write("%s failed after %.0f s (%s run, %s):\n%s" % (
                name, time.monotonic() - t0, "quick" if ctx.quick else "full",
                started.strftime("%Y-%m-%d %H:%M UTC"), traceback.format_exc()))
        ctx.log("%s: FAILED: %s" % (name, e))
        if isinstance(e, KeyboardInterrupt):
            raise
        return None
    finally:
        ctx.stop_all()
    with open(base + ".json", "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    meta = {"bench": name, "quick": ctx.quick, "started": started.isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - t0, 1), "commit": git_commit(ctx),
            "loadavg_start": load_start, "loadavg_end": loadavg()}
    with open(base + ".meta.json", "w") as f:
        json.dump(meta, f, indent=1)
    ctx.log("%s: done in %.0f s -> %s.json" % (name, meta["seconds"], base))
    return data


def cli(name):
    """`python3 tests/bench/<name>.py [--quick] [--render-only]`: run one bench (or re-render
    its last JSON) and print its markdown section."""
    ap = argparse.ArgumentParser(description="roomcast benchmark: " + name)
    ap.add_argument("--quick", action="store_true", help="a few seconds per point")
    ap.add_argument("--render-only", action="store_true", help="re-render build/bench/%s.json" % name)
    a = ap.parse_args()
    ctx = Context(quick=a.quick)
    if a.render_only:
        with open(os.path.join(ctx.out_dir, name + ".json")) as f:
            data = json.load(f)
    else:
        data = run_bench(name, ctx)
        if data is None:
            with open(os.path.join(ctx.out_dir, name + ".error.txt")) as f:
                sys.stderr.write(f.read())
            sys.exit(1)
    print(load(name).render(data, ctx))
