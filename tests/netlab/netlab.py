"""netlab: two network namespaces joined by an impaired link, for tests and benches.

This kernel has no netem, so the link is a small user-space forwarder between two TUN devices:
side A (198.51.100.1) and side B (198.51.100.2), one namespace each. Every packet that crosses is
read by the forwarder and, per direction, dropped (random, or in bursts: a two-state
Gilbert-Elliott model), held for a delay with jitter (in order, or reordering), or queued behind a
rate cap (a token bucket with a bounded queue: tail drop, like a home router). Everything is
undone when the Lab closes (namespaces deleted, forwarder stopped), and the forwarder exits by
itself if its parent dies.

    with Lab(a_to_b=Impair(loss=5), b_to_a=Impair()) as lab:
        lab.a.popen([...])          # runs in namespace A
        lab.set(a_to_b=Impair(loss=10, delay_ms=50, jitter_ms=10))   # live change
        lab.stats()                 # packets passed/dropped per direction

Run as root. From other languages (the browser tests): `python3 tests/netlab/netlab.py hold
'{"a_to_b": {"loss": 5}, "b_to_a": {"loss": 5}}'` sets the lab up, prints one JSON line (the
namespaces and addresses), then holds it until its stdin closes (or SIGTERM), and cleans up.
Meanwhile each line `{"cmd": "set", "a_to_b": {"rate_kbit": 500}}` on its stdin changes the link
as Lab.set does (one JSON line answers it).

With NETLAB_TRACE=FILE in its environment the forwarder appends one line per RTP or RTCP packet
(wall-clock time, direction, passed or dropped, size, and the header fields SRTP leaves in clear:
payload type, marker, sequence number, timestamp and SSRC; an RTCP packet's type and format):
what a pause followed, packet by packet.
"""
import fcntl
import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field

ADDR_A = "198.51.100.1"
ADDR_B = "198.51.100.2"
ADDR_A_C = "198.51.101.1"  # A's end of the spur link to C (Lab.spur)
ADDR_C = "198.51.101.2"

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


@dataclass
class Impair:
    loss: float = 0.0            # % of packets dropped at random (or, with burst, the average)
    burst: float = 0.0           # > 0: mean burst length in packets (Gilbert-Elliott)
    delay_ms: float = 0.0        # one-way delay
    jitter_ms: float = 0.0       # uniform +- jitter on the delay
    reorder: bool = False        # jitter may reorder packets (each packet on its own); else the
                                 # link stays in order (a packet never overtakes the one before,
                                 # as in a router's queue)
    rate_kbit: float = 0.0       # > 0: bandwidth cap
    queue_ms: float = 100.0      # the cap's queue; packets beyond it are dropped


class Namespace:
    def __init__(self, name):
        self.name = name

    def run(self, args, **kw):
        return subprocess.run(["ip", "netns", "exec", self.name] + list(args), **kw)

    def popen(self, args, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.name] + list(args), **kw)

    def prefix(self):
        return ["ip", "netns", "exec", self.name]


def no_ipv6(ns):
    """Turns IPv6 off in namespace `ns`: link-local addresses finish duplicate detection a second
    or two after a link comes up, and a Chromium watching the namespace's addresses aborts what it
    is loading then (ERR_NETWORK_CHANGED)."""
    for key in ("all", "default"):
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"],
                       check=True, capture_output=True)


def wait_link_up(ns, dev, timeout=3.0):
    """Waits until `dev` in `ns` has carrier and operational state UP (the kernel settles it
    asynchronously; a browser that sees it change takes it for a network change)."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["ip", "-n", ns, "-o", "link", "show", dev], capture_output=True, text=True).stdout
        if "LOWER_UP" in out and ("state UP" in out or "state UNKNOWN" in out):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{dev} in {ns} did not come up: {out.strip()}")
        time.sleep(0.05)


def _open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class _Direction:
    """One way through the link: loss, delay, rate."""

    def __init__(self, impair, rng):
        self.rng = rng
        self.set(impair)
        self.bad = False           # Gilbert-Elliott state
        self.tokens_at = time.monotonic()
        self.queue_free_at = time.monotonic()
        self.passed = self.dropped = self.capped = 0
        self.last_at = 0.0  # when the previous packet is delivered (in-order links)

    def set(self, impair):
        self.imp = impair

    def lost(self):
        imp = self.imp
        if imp.loss <= 0:
            return False
        if imp.burst <= 0:
            return self.rng.random() * 100 < imp.loss
        # Gilbert-Elliott: in the bad state every packet is lost; mean burst = 1/p_exit, and the
        # share of time in the bad state equals the loss rate.
        p = imp.loss / 100.0
        leave = 1.0 / imp.burst
        enter = leave * p / max(1e-9, 1 - p)
        if self.bad:
            self.bad = self.rng.random() >= leave
        else:
            self.bad = self.rng.random() < enter
        return self.bad

    def when(self, size, now):
        """When to deliver a packet of `size` bytes arriving now, or None to drop it."""
        imp = self.imp
        if self.lost():
            self.dropped += 1
            return None
        at = now
        if imp.rate_kbit > 0:
            start = max(now, self.queue_free_at)
            if (start - now) * 1000 > imp.queue_ms:
                self.capped += 1
                return None
            self.queue_free_at = start + size * 8 / (imp.rate_kbit * 1000)
            at = self.queue_free_at
        if imp.delay_ms > 0 or imp.jitter_ms > 0:
            d = imp.delay_ms + (self.rng.uniform(-imp.jitter_ms, imp.jitter_ms) if imp.jitter_ms else 0)
            at += max(0.0, d) / 1000
            if not imp.reorder:
                at = max(at, self.last_at)
        self.last_at = at
        self.passed += 1
        return at


def forward(fd_a, fd_b, ctl_fd, a_to_b, b_to_a, seed):
    """The forwarder loop (runs in a child process). Reads new settings as JSON lines on ctl_fd;
    answers `stats` with a JSON line on the same pipe pair (stdout)."""
    rng = random.Random(seed)
    dirs = {fd_a: (_Direction(a_to_b, rng), fd_b), fd_b: (_Direction(b_to_a, rng), fd_a)}
    pending = []  # (at, seq, out_fd, packet)
    ctl = os.fdopen(ctl_fd, "r")
    poller = select.poll()
    for fd in (fd_a, fd_b, ctl_fd):
        poller.register(fd, select.POLLIN)
    parent = os.getppid()
    # NETLAB_TRACE=FILE: one line per UDP packet (wall time, direction, fate, size, RTP or RTCP
    # header fields, which SRTP leaves in clear), for finding what a stall or pause followed.
    trace_path = os.environ.get("NETLAB_TRACE")
    trace = open(trace_path, "a", buffering=1 << 16) if trace_path else None
    names = {fd_a: "a>b", fd_b: "b>a"}
    try:
        _forward_loop(dirs, pending, ctl, ctl_fd, poller, parent, trace, names)
    finally:
        if trace:
            trace.close()


def _forward_loop(dirs, pending, ctl, ctl_fd, poller, parent, trace, names):
    import heapq
    fd_a, fd_b = list(dirs)
    seq = 0
    while True:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, out, pkt = heapq.heappop(pending)
            try:
                os.write(out, pkt)
            except OSError:
                pass
        timeout = 200 if not pending else max(0, int((pending[0][0] - now) * 1000))
        for fd, ev in poller.poll(timeout):
            if fd == ctl_fd:
                line = ctl.readline()
                if not line:
                    return
                msg = json.loads(line)
                if msg.get("cmd") == "set":
                    if "a_to_b" in msg:
                        dirs[fd_a][0].set(Impair(**msg["a_to_b"]))
                    if "b_to_a" in msg:
                        dirs[fd_b][0].set(Impair(**msg["b_to_a"]))
                elif msg.get("cmd") == "stats":
                    d_ab, d_ba = dirs[fd_a][0], dirs[fd_b][0]
                    out = {"a_to_b": {"passed": d_ab.passed, "dropped": d_ab.dropped, "capped": d_ab.capped},
                           "b_to_a": {"passed": d_ba.passed, "dropped": d_ba.dropped, "capped": d_ba.capped}}
                    sys.stdout.write(json.dumps(out) + "\n")
                    sys.stdout.flush()
                continue
            try:
                pkt = os.read(fd, 65535)
            except OSError:
                continue
            direction, out = dirs[fd]
            at = direction.when(len(pkt), time.monotonic())
            if trace:
                _trace(trace, names[fd], pkt, at)
            if at is None:
                continue
            if at <= time.monotonic() and not pending:
                try:
                    os.write(out, pkt)
                except OSError:  # the other side is not up (yet)
                    pass
            else:
                seq += 1
                heapq.heappush(pending, (at, seq, out, pkt))
        if os.getppid() != parent:
            return


def _trace(f, name, pkt, at):
    fate = "drop" if at is None else "pass"
    ihl = (pkt[0] & 0x0F) * 4 if pkt and pkt[0] >> 4 == 4 else 0
    if not ihl or pkt[9] != 17 or len(pkt) < ihl + 8 + 12:
        return
    u = pkt[ihl + 8:]
    if u[0] >> 6 != 2:
        return  # STUN, DTLS
    pt = u[1]
    if 192 <= pt <= 223:  # RTCP: packet type, count/format, sender SSRC
        f.write("%.4f %s %s %d rtcp pt=%d fmt=%d ssrc=%08x\n" % (time.time(), name, fate, len(u), pt, u[0] & 0x1F,
                                                                  struct.unpack("!I", u[4:8])[0]))
    else:
        seq, ts, ssrc = struct.unpack("!HII", u[2:12])
        f.write("%.4f %s %s %d rtp pt=%d m=%d seq=%d ts=%d ssrc=%08x\n" % (time.time(), name, fate, len(u), pt & 0x7F,
                                                                          pt >> 7, seq, ts, ssrc))


class _Link:
    """One impaired link between two namespaces: a TUN device in each, addresses on one /24, and
    a forwarder process between them (see `forward`)."""

    def __init__(self, tuns, one, two, one_to_two, two_to_one, seed):
        self.ends = list(zip((one, two), tuns))  # TUN names: not "veth*" (libnice skips those)
        self.one_to_two, self.two_to_one, self.seed = one_to_two, two_to_one, seed
        self.proc = None

    def up(self, addrs, default_route):
        """`addrs`: (address in one, address in two); `default_route`: (bool, bool) per end."""
        fd_1, fd_2 = (_open_tun(tun) for _, tun in self.ends)
        ctl_r, ctl_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the forwarder
            try:
                os.close(ctl_w)
                os.close(out_r)
                os.dup2(out_w, 1)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                forward(fd_1, fd_2, ctl_r, self.one_to_two, self.two_to_one, self.seed)
            finally:
                os._exit(0)
        os.close(ctl_r)
        os.close(out_w)
        os.close(fd_1)
        os.close(fd_2)
        self.proc = pid
        self.ctl = os.fdopen(ctl_w, "w")
        self.out = os.fdopen(out_r, "r")
        # The TUN devices move into their namespaces; the forwarder's fds stay attached.
        for (ns, tun), addr, route in zip(self.ends, addrs, default_route):
            _sh("ip", "link", "set", tun, "netns", ns.name)
            _sh("ip", "-n", ns.name, "addr", "add", addr + "/24", "dev", tun)
            _sh("ip", "-n", ns.name, "link", "set", tun, "up", "mtu", "1500")
            if route:  # browsers gather no candidates without a default route
                _sh("ip", "-n", ns.name, "route", "add", "default", "dev", tun)
        for ns, tun in self.ends:
            wait_link_up(ns.name, tun)

    def set(self, one_to_two=None, two_to_one=None):
        msg = {"cmd": "set"}
        if one_to_two is not None:
            msg["a_to_b"] = asdict(one_to_two)
        if two_to_one is not None:
            msg["b_to_a"] = asdict(two_to_one)
        self.ctl.write(json.dumps(msg) + "\n")
        self.ctl.flush()

    def stats(self):
        self.ctl.write('{"cmd":"stats"}\n')
        self.ctl.flush()
        return json.loads(self.out.readline())

    def close(self):
        if not self.proc:
            return
        try:
            self.ctl.close()
        except OSError:
            pass
        try:
            os.kill(self.proc, signal.SIGTERM)
        except ProcessLookupError:
            pass
        os.waitpid(self.proc, 0)
        self.proc = None


def _sh(*args):
    subprocess.run(list(args), check=True, capture_output=True)


def _add_namespace(ns):
    _sh("ip", "netns", "add", ns.name)
    no_ipv6(ns.name)
    _sh("ip", "-n", ns.name, "link", "set", "lo", "up")


class Lab:
    """Side A and side B joined by one impaired link; `spur()` adds a side C with its own link
    to A (198.51.101.0/24), for a second viewer behind a different link."""

    def __init__(self, a_to_b=None, b_to_a=None, seed=1):
        self.seed = seed
        self.tag = uuid.uuid4().hex[:6]
        self.a = Namespace("nlA" + self.tag)
        self.b = Namespace("nlB" + self.tag)
        self.c = None
        self.link = _Link(("nla" + self.tag, "nlb" + self.tag), self.a, self.b, a_to_b or Impair(),
                          b_to_a or Impair(), seed)
        self.spur_link = None
        self.made = []

    def __enter__(self):
        try:
            for ns in (self.a, self.b):
                self.made.append(ns)
                _add_namespace(ns)
            self.link.up((ADDR_A, ADDR_B), (True, True))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def spur(self, a_to_c=None, c_to_a=None):
        """Side C (ADDR_C), linked to A (which is ADDR_A_C on that link; A's ADDR_A is reachable
        from C too) through its own impaired link. Returns C's namespace."""
        self.c = Namespace("nlC" + self.tag)
        self.made.append(self.c)
        _add_namespace(self.c)
        self.spur_link = _Link(("nlac" + self.tag, "nlc" + self.tag), self.a, self.c, a_to_c or Impair(),
                               c_to_a or Impair(), self.seed + 1)
        self.spur_link.up((ADDR_A_C, ADDR_C), (False, True))
        return self.c

    def set(self, a_to_b=None, b_to_a=None):
        self.link.set(a_to_b, b_to_a)

    def set_spur(self, a_to_c=None, c_to_a=None):
        self.spur_link.set(a_to_c, c_to_a)

    def stats(self):
        return self.link.stats()

    def spur_stats(self):
        return self.spur_link.stats()

    def close(self):
        for link in (self.link, self.spur_link):
            if link:
                link.close()
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)
        self.made = []


def hold(spec):
    """The `hold` command: one JSON line out, then wait for stdin to close (or a signal)."""
    spec = json.loads(spec or "{}")
    a_to_b = Impair(**spec.get("a_to_b", {}))
    b_to_a = Impair(**spec.get("b_to_a", {}))
    stop = {"now": False}

    def on_signal(*_):
        stop["now"] = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Lab(a_to_b=a_to_b, b_to_a=b_to_a, seed=spec.get("seed", 1)) as lab:
        sys.stdout.write(json.dumps({"a": lab.a.name, "b": lab.b.name, "addr_a": ADDR_A, "addr_b": ADDR_B}) + "\n")
        sys.stdout.flush()
        while not stop["now"]:
            r, _, _ = select.select([sys.stdin], [], [], 0.5)
            if not r:
                continue
            line = sys.stdin.readline()
            if not line:
                break
            # A live change: {"cmd": "set", "a_to_b": {...}, "b_to_a": {...}} (Impair's fields; a
            # direction left out keeps its impairment). Answered with one JSON line once the
            # forwarder has it queued: {"set": true}, or {"error": "..."}.
            try:
                msg = json.loads(line)
                if msg.get("cmd") != "set":
                    raise ValueError("unknown command %r" % msg.get("cmd"))
                lab.set(a_to_b=Impair(**msg["a_to_b"]) if "a_to_b" in msg else None,
                        b_to_a=Impair(**msg["b_to_a"]) if "b_to_a" in msg else None)
                reply = {"set": True}
            except (ValueError, TypeError, KeyError) as e:
                reply = {"error": str(e)}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
        sys.stderr.write("netlab: %s\n" % json.dumps(lab.stats()))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "hold":
        hold(sys.argv[2] if len(sys.argv) > 2 else "{}")
        sys.exit(0)
    # Self-check: ping across a 10% lossy, 50 ms link.
    with Lab(a_to_b=Impair(loss=10, delay_ms=50), b_to_a=Impair(delay_ms=50)) as lab:
        r = lab.a.run(["ping", "-c", "40", "-i", "0.05", "-q", ADDR_B], capture_output=True, text=True)
        print(r.stdout.strip().splitlines()[-2:])
        print(lab.stats())
