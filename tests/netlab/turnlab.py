"""turnlab: three network namespaces where a viewer can reach a host only through a TURN server.

    host (H)                         server (S)                          viewer (V)
    rch0 198.51.100.2/24 ── veth ── rcsh 198.51.100.1/24
                                    lo   192.0.2.1/32 (the public address)
                                    rcsv 203.0.113.1/24 ── veth ── rcv0 203.0.113.2/24

S is the "public" machine: the signalling server and coturn listen on 192.0.2.1, which H and V
both reach through their default routes (S's own address: no forwarding needed). S forwards
nothing between H and V: its nft forward chain drops every packet, and counts those from one side
to the other (the direct paths ICE tries and that must fail). So media between H and V can only
go through a relay on 192.0.2.1: coturn's `relay-ip` is that address, and each side's host
candidate reaches the other side's relay candidate there.

Interface names do not start with "veth" (libnice skips those when it gathers). The addresses are
documentation ranges (RFC 5737). Everything is undone by down() (or `turnlab.py down TAG`),
which also kills whatever still runs in the namespaces.

    with TurnLab() as lab:
        lab.popen(lab.host, [...])      # or lab.prefix(lab.viewer) + [...]
        lab.forward_drops()             # {"h_to_v": packets, "v_to_h": packets}

Command line (for the browser tests, which are node): `turnlab.py up TAG` prints the lab as JSON
({"server", "host", "viewer": namespace names, "public", "host_addr", "viewer_addr"});
`turnlab.py drops TAG` prints the drop counters as JSON; `turnlab.py down TAG` removes it.
Namespaces of runs killed before they could clean up are removed at the next `up` when older than
30 minutes. Run as root.
"""
import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import no_ipv6, wait_link_up  # noqa: E402

PUBLIC = "192.0.2.1"
HOST_ADDR, HOST_GW = "198.51.100.2", "198.51.100.1"
VIEWER_ADDR, VIEWER_GW = "203.0.113.2", "203.0.113.1"
PREFIX = "rcturn"
STALE_S = 30 * 60


def _sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


class TurnLab:
    def __init__(self, tag=None):
        self.tag = tag or uuid.uuid4().hex[:6]
        self.server = "%s-s-%s" % (PREFIX, self.tag)
        self.host = "%s-h-%s" % (PREFIX, self.tag)
        self.viewer = "%s-v-%s" % (PREFIX, self.tag)

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()

    @staticmethod
    def prefix(ns):
        return ["ip", "netns", "exec", ns]

    def popen(self, ns, args, **kw):
        return subprocess.Popen(self.prefix(ns) + list(args), **kw)

    def _in(self, ns, *args):
        _sh("ip", "netns", "exec", ns, *args)

    def up(self):
        remove_stale()
        try:
            for ns in (self.server, self.host, self.viewer):
                _sh("ip", "netns", "add", ns)
                no_ipv6(ns)
                _sh("ip", "-n", ns, "link", "set", "lo", "up")
            s, h, v = self.server, self.host, self.viewer
            _sh("ip", "-n", s, "addr", "add", PUBLIC + "/32", "dev", "lo")
            # Host side.
            _sh("ip", "-n", s, "link", "add", "rcsh", "type", "veth", "peer", "name", "rch0", "netns", h)
            _sh("ip", "-n", s, "addr", "add", HOST_GW + "/24", "dev", "rcsh")
            _sh("ip", "-n", s, "link", "set", "rcsh", "up")
            _sh("ip", "-n", h, "addr", "add", HOST_ADDR + "/24", "dev", "rch0")
            _sh("ip", "-n", h, "link", "set", "rch0", "up")
            _sh("ip", "-n", h, "route", "add", "default", "via", HOST_GW)
            # Viewer side.
            _sh("ip", "-n", s, "link", "add", "rcsv", "type", "veth", "peer", "name", "rcv0", "netns", v)
            _sh("ip", "-n", s, "addr", "add", VIEWER_GW + "/24", "dev", "rcsv")
            _sh("ip", "-n", s, "link", "set", "rcsv", "up")
            _sh("ip", "-n", v, "addr", "add", VIEWER_ADDR + "/24", "dev", "rcv0")
            _sh("ip", "-n", v, "link", "set", "rcv0", "up")
            _sh("ip", "-n", v, "route", "add", "default", "via", VIEWER_GW)
            for ns, dev in ((s, "rcsh"), (h, "rch0"), (s, "rcsv"), (v, "rcv0")):
                wait_link_up(ns, dev)
            # S routes (so a packet between H and V reaches its forward hook) and drops all it
            # would forward, counting each direction.
            self._in(s, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            self._in(s, "nft", "add", "table", "inet", "turnlab")
            self._in(s, "nft", "add", "chain", "inet", "turnlab", "between",
                     "{ type filter hook forward priority 0 ; policy drop ; }")
            self._in(s, "nft", "add", "rule", "inet", "turnlab", "between", "ip", "saddr", HOST_ADDR, "ip", "daddr",
                     VIEWER_ADDR, "counter", "drop", "comment", '"h_to_v"')
            self._in(s, "nft", "add", "rule", "inet", "turnlab", "between", "ip", "saddr", VIEWER_ADDR, "ip", "daddr",
                     HOST_ADDR, "counter", "drop", "comment", '"v_to_h"')
        except BaseException:
            self.down()
            raise
        return self

    def forward_drops(self):
        """Packets S dropped between H and V, per direction."""
        out = json.loads(_sh("ip", "netns", "exec", self.server, "nft", "-j", "list", "chain", "inet",
                             "turnlab", "between").stdout)
        drops = {}
        for item in out.get("nftables", []):
            rule = item.get("rule")
            if not rule or "comment" not in rule:
                continue
            for e in rule.get("expr", []):
                if "counter" in e:
                    drops[rule["comment"]] = e["counter"]["packets"]
        return drops

    def down(self):
        for ns in (self.viewer, self.host, self.server):
            destroy(ns)

    def describe(self):
        return {"server": self.server, "host": self.host, "viewer": self.viewer, "public": PUBLIC,
                "host_addr": HOST_ADDR, "viewer_addr": VIEWER_ADDR}


def destroy(ns):
    """Kills what runs in namespace `ns` (everything there was started by the test) and deletes it."""
    if not os.path.exists(os.path.join("/run/netns", ns)):
        return
    for _ in range(3):
        pids = _sh("ip", "netns", "pids", ns, check=False).stdout.split()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        time.sleep(0.2)
    _sh("ip", "netns", "del", ns, check=False)


def remove_stale():
    """Namespaces of ours left by runs that were killed, older than STALE_S."""
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return
    now = time.time()
    for name in names:
        if not name.startswith(PREFIX + "-"):
            continue
        try:
            age = now - os.stat(os.path.join("/run/netns", name)).st_mtime
        except OSError:
            continue
        if age > STALE_S:
            destroy(name)


def main(argv):
    if len(argv) != 3 or argv[1] not in ("up", "down", "drops"):
        print("usage: turnlab.py up|down|drops TAG", file=sys.stderr)
        return 2
    lab = TurnLab(argv[2])
    if argv[1] == "up":
        lab.up()
        print(json.dumps(lab.describe()))
    elif argv[1] == "drops":
        print(json.dumps(lab.forward_drops()))
    else:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
