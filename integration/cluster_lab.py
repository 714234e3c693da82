"""The cluster lab (`integration/lab --cluster`, issue 19): three active directors behind one
upstream router that spreads flows over them with ECMP, routes learned over BGP with BFD from
each director's BIRD. Needs root, a kernel with IPVS (integration/lab re-runs it in the test VM
otherwise), bird2, ipvsadm and the built tandemd/tandemctl ($TANDEM_BIN).

Topology (namespaces lab-<random>-<name>, deleted at the end):

    client 10.0.0.2-9 ── up eth0 10.0.0.1   upstream router: BIRD, merge paths (ECMP), hash policy 1
                         up eth1 192.0.2.1 ─┬─ br0 (namespace sw)
      d1 192.0.2.11, d2 .12, d3 .13 ────────┤   directors: tandemd (cluster mode) + BIRD, VIP on lo
      rs1 192.0.2.21, rs2 .22, rs3 .23 ─────┘   real servers: VIP on lo (DR), HTTP :80, echo :9000

VIP 198.51.100.10: tcp 80 (one short HTTP request per connection) and tcp 9000 (long-lived:
one line in, the real server's name out). Every director installs the same IPVS table (mh with
mh-fallback and mh-port, direct routing) and runs the sync daemon as master and backup.

Steps: routes upstream; flows spread; a director crashed; a director drained (`tandemctl
maintenance on --wait`). Every wait is bounded. Lines that start with `RESULT ` are the figures the
VM test reads (integration/vm/test_cluster_lab.py).

The crash is a silent one, as after a power loss or a kernel panic: the director's switch port
stops forwarding in both directions at once (`bridge link set ... state disabled` in the switch's
namespace: one netlink change, no carrier change on the router's own port), and only then are its
tandemd and BIRD SIGKILLed, so the FIN that the kernel sends for the killed BIRD's BGP session never
reaches the router. The router can learn of the crash only from BFD (or, 9 s later, the BGP hold
timer). Its BIRD logs to a file with milliseconds (`timeformat log`, `debug protocols {states,
events}`), and `ip -ts monitor route` records its kernel route changes: the lab reads both.
"""
import datetime
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("TANDEM_BIN", REPO / ".build" / "debug"))
INSIDE_VM = bool(os.environ.get("LAB_INSIDE_VM"))
SLOW = 4 if INSIDE_VM else 1
# BFD: 100 ms x 5 is the default (500 ms); under the VM's software emulation the lab allows
# more by default so that a busy emulated CPU does not flap sessions. LAB_BFD_MS overrides.
BFD_MS = int(os.environ.get("LAB_BFD_MS", "200" if INSIDE_VM else "100"))
BFD_MULT = 5
VIP = "198.51.100.10"
DIRECTORS = {"d1": "192.0.2.11", "d2": "192.0.2.12", "d3": "192.0.2.13"}
SERVERS = {"rs1": "192.0.2.21", "rs2": "192.0.2.22", "rs3": "192.0.2.23"}
CLIENT_ADDRS = [f"10.0.0.{i}" for i in range(2, 10)]
PERIOD_MS = 20      # the short-connection loop: one connection every 20 ms
LONG_FLOWS = 24     # long-lived connections on port 9000
DRAIN_WAIT_S = 40   # how long `maintenance on --wait` may wait: it ends after 3 s without a packet (DirectorDrainWatch)


def clock(epoch):
    """Local wall-clock time with milliseconds, as BIRD prints it."""
    return datetime.datetime.fromtimestamp(epoch).strftime("%H:%M:%S.%f")[:-3]


def log_time(line):
    """The epoch time of a BIRD log line that starts `YYYY-MM-DD HH:MM:SS.mmm` (timeformat log
    "%F %T.%3f"), or None."""
    try:
        return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
    except ValueError:
        return None


def say(text=""):
    print(text, flush=True)


def heading(text):
    say()
    say(f"== {text}")


def result(key, value):
    say(f"RESULT {key}={json.dumps(value)}")


def sh(*args, check=True, timeout=None):
    return subprocess.run([str(a) for a in args], check=check, capture_output=True, text=True,
                          timeout=timeout or 30 * SLOW)


def wait_for(predicate, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


HTTP_SERVER = """
import http.server, socketserver, threading, sys
name = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = f'served by {name}\\n'.encode()
        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(f'{name}\\n'.encode())
class T(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
threading.Thread(target=T(('0.0.0.0', 9000), Echo).serve_forever, daemon=True).start()
http.server.ThreadingHTTPServer(('0.0.0.0', 80), H).serve_forever()
"""

# The client: short connections at a fixed rate, each in a thread of its own (so a connection
# waiting for its time-out does not hold back the next ones) and from the next source address,
# until the file STOP appears; one line per attempt: start time, ok|fail, real server (or error),
# source, milliseconds it took (a SYN lost to a dead director costs a retransmission, 1 s).
SHORT_CLIENT = """
import socket, time, sys, os, threading
period, stop, addrs, slow = float(sys.argv[1]), sys.argv[2], sys.argv[3].split(','), float(sys.argv[4])
lock = threading.Lock()
def emit(line):
    with lock:
        sys.stdout.write(line + '\\n'); sys.stdout.flush()
def attempt(t, src):
    t0 = time.monotonic()
    took = lambda: f'{1000 * (time.monotonic() - t0):.0f}'
    try:
        s = socket.socket(); s.settimeout(0.4 * slow); s.bind((src, 0))
        port = s.getsockname()[1]
        s.connect(('VIPADDR', 80))
        s.sendall(b'GET / HTTP/1.0\\r\\nHost: lab\\r\\n\\r\\n')
        data = b''
        while True:
            chunk = s.recv(4096)
            if not chunk: break
            data += chunk
        s.close()
        who = data.rsplit(b'served by ', 1)[-1].strip().decode() if b'served by' in data else 'garbage'
        emit(f'{t:.4f} ok {who} {src}:{port} {took()}')
    except Exception as e:
        emit(f'{t:.4f} fail {type(e).__name__} {src} {took()}')
end = time.monotonic() + 900
i = 0
next_at = time.monotonic()
while time.monotonic() < end and not os.path.exists(stop):
    threading.Thread(target=attempt, args=(time.time(), addrs[i % len(addrs)]), daemon=True).start()
    i += 1
    next_at += period
    time.sleep(max(0, next_at - time.monotonic()))
time.sleep(0.5 * slow)
""".replace("VIPADDR", VIP)

# Long-lived connections: opened once, then one line each every 200 ms; one line per round per
# connection: time, index, source, ok|dead, real server. A dead connection stays dead.
LONG_CLIENT = """
import socket, time, sys, os
n, stop, addrs, slow = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(','), float(sys.argv[4])
conns = []
for i in range(n):
    s = socket.socket(); s.bind((addrs[i % len(addrs)], 0)); s.settimeout(2 * slow)
    s.connect(('VIPADDR', 9000)); f = s.makefile('rwb')
    conns.append([s, f, '%s:%d' % s.getsockname(), True])
end = time.monotonic() + 900
while time.monotonic() < end and not os.path.exists(stop):
    t = time.time()
    for i, c in enumerate(conns):
        if not c[3]:
            continue
        try:
            c[1].write(b'ping\\n'); c[1].flush()
            line = c[1].readline().strip().decode()
            if not line: raise ConnectionError('closed')
            print(f'{t:.4f} {i} {c[2]} ok {line}', flush=True)
        except Exception as e:
            c[3] = False
            print(f'{t:.4f} {i} {c[2]} dead {type(e).__name__}', flush=True)
    time.sleep(max(0, 0.2 - (time.time() - t)))
for c in conns:
    try: c[0].close()
    except Exception: pass
""".replace("VIPADDR", VIP)


class ClusterLab:
    def __init__(self):
        tag = "lab-" + secrets.token_hex(2)
        names = ["sw", "client", "up", *DIRECTORS, *SERVERS]
        self.ns = {n: f"{tag}-{n}" for n in names}
        self.procs = {}
        self.dir = Path(tempfile.mkdtemp(prefix="tandem-cluster-lab-"))
        self.bird_log = self.dir / "up.bird.log"
        self.crashed = set()

    # -- plumbing -------------------------------------------------------------------------------
    def ip(self, node, *args, check=True):
        return sh("ip", "-n", self.ns[node], *args, check=check)

    def ex(self, node, *args, check=True, timeout=None):
        return sh("ip", "netns", "exec", self.ns[node], *args, check=check, timeout=timeout)

    def sysctl(self, node, *settings):
        self.ex(node, "sysctl", "-qw", *settings)

    def spawn(self, key, node, args, log=None):
        fh = open(log or self.dir / f"{key}.log", "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[node], *map(str, args)], stdout=fh, stderr=subprocess.STDOUT)
        self.procs[key] = p
        return p

    def veth(self, a, a_if, b, b_if):
        sh("ip", "-n", self.ns[a], "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", self.ns[b])
        self.ip(a, "link", "set", a_if, "up")
        self.ip(b, "link", "set", b_if, "up")

    def birdc(self, node, *args, check=False):
        return sh("birdc", "-s", self.dir / f"{node}.bird.ctl", *args, check=check, timeout=10 * SLOW)

    def ctl(self, node, *args, timeout=None):
        return self.ex(node, BIN / "tandemctl", args[0], "--socket", self.dir / f"{node}.sock", *args[1:],
                       check=False, timeout=timeout)

    def nexthops(self):
        """The upstream router's next hops for the VIP, as `ip -j route` lists them."""
        r = self.ip("up", "-j", "route", "show", f"{VIP}/32", check=False)
        routes = json.loads(r.stdout or "[]") if r.returncode == 0 else []
        hops = []
        for route in routes:
            if "gateway" in route:
                hops.append(route["gateway"])
            hops += [h["gateway"] for h in route.get("nexthops", []) if "gateway" in h]
        return sorted(hops)

    def conns(self):
        """Per director: connections it scheduled (the Conns counters of `ipvsadm -Ln --stats`,
        summed over the VIP's services; synced copies do not count there)."""
        counts = {}
        for d in DIRECTORS:
            if d in self.crashed:
                continue
            total = 0
            for line in self.ex(d, "ipvsadm", "-Ln", "--stats", check=False).stdout.splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "TCP" and parts[1].startswith(VIP + ":"):
                    total += int(parts[2])
            counts[d] = total
        return counts

    # -- set-up ---------------------------------------------------------------------------------
    def build(self):
        for name in self.ns.values():
            sh("ip", "netns", "add", name)
        for node in self.ns:
            self.ip(node, "link", "set", "lo", "up")
            if node != "sw":
                self.sysctl(node, "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
        self.ip("sw", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        self.ip("sw", "link", "set", "br0", "up")
        self.veth("client", "eth0", "up", "eth0")
        for a in CLIENT_ADDRS:
            self.ip("client", "addr", "add", f"{a}/24", "dev", "eth0")
        self.ip("client", "route", "add", "default", "via", "10.0.0.1")
        self.ip("up", "addr", "add", "10.0.0.1/24", "dev", "eth0")
        lan = {"up": "192.0.2.1", **DIRECTORS, **SERVERS}
        for node, addr in lan.items():
            ifname = "eth1" if node == "up" else "eth0"
            port = f"{node}-{ifname}"
            self.veth("sw", port, node, ifname)
            self.ip("sw", "link", "set", port, "master", "br0")
            self.ip(node, "addr", "add", f"{addr}/24", "dev", ifname)
        self.sysctl("up", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1")
        for rs in SERVERS:
            self.ip(rs, "addr", "add", f"{VIP}/32", "dev", "lo")
            self.sysctl(rs, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
            self.ip(rs, "route", "add", "default", "via", "192.0.2.1")
        for d in DIRECTORS:
            self.ip(d, "route", "add", "default", "via", "192.0.2.1")
            self.sysctl(d, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline:
            down = [n for n in self.ns if any(l.get("operstate") not in ("UP", "UNKNOWN")
                                                for l in json.loads(self.ip(n, "-j", "link", "show").stdout)
                                                if l["ifname"] not in ("lo",))]
            if not down:
                break
            time.sleep(0.05)

    def write_config(self):
        key = self.dir / "heartbeat.key"
        key.write_bytes(secrets.token_bytes(32))
        key.chmod(0o600)
        nodes = "\n".join(f"  - {{name: {d}, addresses: [{a}]}}" for d, a in DIRECTORS.items())
        reals = "\n".join(f"      - {{address: {a}, port: PORT}}" for a in SERVERS.values())
        services = ""
        for name, port in (("web", 80), ("echo", 9000)):
            services += f"""  - name: {name}
    address: {VIP}
    port: {port}
    scheduler: mh
    scheduler_flags: [mh-fallback, mh-port]
    forwarding: dr
    health_check: {{type: tcp, interval: {SLOW // 2 or 1}s, timeout: {250 * SLOW}ms, rise: 1, fall: 2}}
    real_servers:
{reals.replace("PORT", str(port))}
"""
        config = f"""# Written by integration/lab --cluster.
serial: 1
nodes:
{nodes}
heartbeat:
  key_file: {key}
cluster:
  vip_interface: lo
  route_table: 100
  route_protocol: 250
  bgp:
    local_as: 65010
    peers:
      - {{address: 192.0.2.1, as: 65000, name: upstream}}
    bfd: true
    bfd_interval: {BFD_MS}ms
    bfd_multiplier: {BFD_MULT}
    hold_time: 9s
virtual_ips:
  - {{address: {VIP}/32}}
virtual_servers:
{services}sync:
  interface: eth0
  sync_id: 10
"""
        path = self.dir / "cluster.yaml"
        path.write_text(config)
        return path

    def start_bird(self, node, args):
        conf = self.dir / f"{node}.bird.conf"
        text = sh(BIN / "tandemctl", "bird-config", self.config, *args).stdout
        if node == "up":
            # The lab's own lines before the generated config: a log file with milliseconds and
            # the protocols' state changes and events (BFD session up/down, BGP state), which is
            # where the crash's detection time is read from.
            text = (f'# Added by the lab: the log the crash step reads.\n'
                    f'log "{self.bird_log}" all;\n'
                    f'timeformat log "%F %T.%3f";\n'
                    f'debug protocols {{ states, events }};\n\n') + text
        conf.write_text(text)
        sh("bird", "-p", "-c", conf)
        sock = self.dir / f"{node}.bird.ctl"
        self.spawn(f"bird-{node}", node, ["bird", "-f", "-c", conf, "-s", sock, "-P", self.dir / f"{node}.bird.pid"])
        if not wait_for(lambda: sock.exists() and self.birdc(node, "show", "status").returncode == 0, 15 * SLOW, 0.1):
            raise SystemExit(f"BIRD of {node} does not answer on {sock}")

    def start_client(self, key, script, *args):
        stop = self.dir / f"{key}.stop"
        self.spawn(key, "client", [sys.executable, "-u", "-c", script, *args, stop, ",".join(CLIENT_ADDRS), SLOW])
        return stop

    def samples(self, key="short"):
        out = []
        path = self.dir / f"{key}.log"
        for line in path.read_text().splitlines() if path.exists() else []:
            parts = line.split()
            if len(parts) >= 3 and parts[1] in ("ok", "fail"):
                out.append((float(parts[0]), parts[1] == "ok", parts[2]))
        return out

    def durations(self, start, end):
        """(start time, milliseconds) of the answered short connections started in [start, end)."""
        out = []
        path = self.dir / "short.log"
        for line in path.read_text().splitlines() if path.exists() else []:
            parts = line.split()
            if len(parts) == 5 and parts[1] == "ok" and start <= float(parts[0]) < end:
                out.append((float(parts[0]), int(parts[4])))
        return out

    def long_state(self):
        """Per long-lived connection: its source, whether it is alive, the servers it saw."""
        state = {}
        path = self.dir / "long.log"
        for line in path.read_text().splitlines() if path.exists() else []:
            parts = line.split()
            if len(parts) != 5:
                continue
            s = state.setdefault(int(parts[1]), {"src": parts[2], "alive": True, "servers": [], "died": None})
            if parts[3] == "ok":
                if not s["servers"] or s["servers"][-1] != parts[4]:
                    s["servers"].append(parts[4])
            else:
                s["alive"], s["died"] = False, float(parts[0])
        return state

    def ipvs_owner(self, src):
        """The directors whose `ipvsadm -Lnc` lists the connection from src (host:port)."""
        found = []
        for d in DIRECTORS:
            if d in self.crashed:
                continue
            out = self.ex(d, "ipvsadm", "-Lnc", check=False).stdout
            for line in out.splitlines():
                parts = line.split()
                if len(parts) >= 6 and parts[3] == src:
                    found.append(f"{d}:{parts[2]}")
        return found

    # -- the story ------------------------------------------------------------------------------
    def run(self):
        tandemd = BIN / "tandemd"
        if not tandemd.exists():
            raise SystemExit(f"{tandemd} is missing: run `swift build` first")
        ok = True
        heading("1. topology: client (8 source addresses), upstream router, directors d1-d3, real servers rs1-rs3")
        self.build()
        self.config = self.write_config()
        say(f"config: {self.config} (mh + mh-fallback + mh-port, DR, sync daemon on eth0, BFD {BFD_MS} ms x {BFD_MULT})")
        check = sh(BIN / "tandemctl", "check-config", self.config, check=False)
        say((check.stdout + check.stderr).rstrip())
        if check.returncode != 0:
            raise SystemExit("tandemctl check-config refused the lab's config")
        for rs in SERVERS:
            self.spawn(f"http-{rs}", rs, [sys.executable, "-c", HTTP_SERVER, rs])

        heading("2. BIRD on the upstream router (tandemctl bird-config --upstream) and on each director (--node)")
        self.start_bird("up", ["--upstream"])
        for d in DIRECTORS:
            self.start_bird(d, ["--node", d])
            self.spawn(f"tandemd-{d}", d, [tandemd, "--config", self.config, "--node", d,
                                           "--control-socket", self.dir / f"{d}.sock",
                                           "--state-directory", self.dir / f"state-{d}",
                                           "--bird-socket", self.dir / f"{d}.bird.ctl"])
        t0 = time.monotonic()
        if not wait_for(lambda: len(self.nexthops()) == 3, 90 * SLOW, 0.1):
            say(self.birdc("up", "show", "protocols").stdout)
            self.dump_logs()
            raise SystemExit(f"the upstream router has not three next hops for {VIP}: {self.nexthops()}")
        say(f"three next hops upstream {time.monotonic() - t0:.1f} s after the daemons started")
        heading("3. routes learned by the upstream router")
        say("$ birdc show protocols  (upstream)")
        say(self.birdc("up", "show", "protocols").stdout.rstrip())
        say("$ birdc show bfd sessions  (upstream)")
        say(self.birdc("up", "show", "bfd", "sessions").stdout.rstrip())
        say(f"$ birdc show route {VIP}/32  (upstream)")
        say(self.birdc("up", "show", "route", f"{VIP}/32").stdout.rstrip())
        say(f"$ ip route show {VIP}  (upstream kernel)")
        say(self.ip("up", "route", "show", f"{VIP}/32").stdout.rstrip())
        result("nexthops_before", self.nexthops())
        say("$ tandemctl status  (d1)")
        say(self.ctl("d1", "status").stdout.rstrip())
        say("$ ipvsadm -Ln  (d1)")
        say(self.ex("d1", "ipvsadm", "-Ln").stdout.rstrip())

        heading(f"4. client flows: a short HTTP connection every {PERIOD_MS} ms (source addresses in turn), "
                f"{LONG_FLOWS} long-lived echo connections")
        long_stop = self.start_client("long", LONG_CLIENT, LONG_FLOWS)
        short_stop = self.start_client("short", SHORT_CLIENT, PERIOD_MS / 1000)
        wait_for(lambda: len(self.long_state()) == LONG_FLOWS, 20 * SLOW, 0.1)
        base = self.conns()
        start = time.time()
        time.sleep(8)
        spread = {d: n - base.get(d, 0) for d, n in self.conns().items()}
        phase = [s for s in self.samples() if s[0] >= start]
        ok_phase = [s for s in phase if s[1]]
        by_rs = {rs: sum(1 for s in ok_phase if s[2] == rs) for rs in SERVERS}
        say(f"{len(ok_phase)}/{len(phase)} short connections answered in 8 s; real servers: {by_rs}")
        say(f"new connections scheduled per director (ipvsadm -Ln --stats, Conns delta): {spread}")
        result("spread_directors", spread)
        result("spread_servers", by_rs)
        result("spread_answered", [len(ok_phase), len(phase)])
        longs = self.long_state()
        owners = {i: self.ipvs_owner(s["src"]) for i, s in longs.items()}
        say(f"long-lived connections alive: {sum(1 for s in longs.values() if s['alive'])}/{len(longs)}; "
            f"where ipvsadm -Lnc lists each (director:state; synced copies included):")
        for i, s in sorted(longs.items()):
            say(f"  #{i:2} {s['src']:>16} -> {','.join(s['servers'])}  ipvs: {' '.join(owners[i])}")

        victim = "d1"
        detection = BFD_MS * BFD_MULT
        heading(f"5. crash {victim}: its switch port silenced in both directions, then tandemd and BIRD SIGKILLed")
        stats_before = self.conns()
        monitor = self.spawn("route-monitor", "up", ["ip", "-ts", "monitor", "route"])
        # `bridge` started beforehand and fed its commands on stdin: under emulation a process
        # start takes a second, which would blur the moment of the cut.
        switch = subprocess.Popen(["ip", "netns", "exec", self.ns["sw"], "stdbuf", "-oL", "bridge", "-batch", "-"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        time.sleep(0.5 * SLOW)   # the monitor is listening and `bridge` is waiting before the cut
        # The port stops forwarding both ways at once: whatever d1 sends from now on (the FIN of
        # its killed BIRD's BGP session included) stays in the switch. The router's port and
        # d1's own carrier do not change. The cut happened between before_cut and crash_at (when
        # `bridge` answered the `link show` that follows the change); the times below count from
        # crash_at, so they are if anything short by that bracket.
        before_cut = time.time()
        switch.stdin.write(f"link set dev {victim}-eth0 state 0\nlink show dev {victim}-eth0\n")
        switch.stdin.flush()
        port = switch.stdout.readline().strip()
        crash_at = time.time()
        t_crash = time.monotonic()
        for key in (f"tandemd-{victim}", f"bird-{victim}"):
            self.procs[key].send_signal(signal.SIGKILL)
        self.crashed.add(victim)
        switch.stdin.close()
        switch.wait(timeout=10 * SLOW)
        if "state disabled" not in port:
            raise SystemExit(f"{victim}'s switch port is not disabled: {port!r}")
        say(f"{clock(crash_at)} {victim}'s switch port disabled (within {1000 * (crash_at - before_cut):.1f} ms before), "
            f"then tandemd and BIRD SIGKILLed; `bridge link show`: {port}")
        result("silenced_bracket_ms", round(1000 * (crash_at - before_cut), 1))
        gone = wait_for(lambda: DIRECTORS[victim] not in self.nexthops(), 30 * SLOW, 0.01)
        detect = time.monotonic() - t_crash
        if not gone:
            ok = False
            say(f"{victim}'s next hop is still upstream after {detect:.1f} s: {self.nexthops()}")
        else:
            say(f"{victim}'s next hop was seen gone from the upstream kernel route {1000 * detect:.0f} ms after the cut "
                f"(`ip -j route` polled; each poll is a process start)")
        result("route_removed_ms", round(1000 * detect) if gone else None)
        # The router's BIRD: when its BFD session to d1 went down and its BGP session with it
        # (its log), with the configured detection for comparison.
        events = wait_for(lambda: self.bfd_down_events(victim, crash_at), 10 * SLOW, 0.1) or {}
        bfd_ms = self.ms_after(events.get("bfd"), crash_at)
        bgp_ms = self.ms_after(events.get("bgp"), crash_at)
        say(f"$ grep {DIRECTORS[victim]}\\|{victim}: {self.bird_log.name}  (upstream BIRD's log, since the cut)")
        for line in events.get("lines", []):
            say(f"  {line}")
        say(f"upstream BFD session to {victim} down {bfd_ms} ms after the cut, BGP session {victim} down "
            f"{bgp_ms} ms after it (reason: {events.get('reason')}); configured detection "
            f"{BFD_MS} ms x {BFD_MULT} = {detection} ms")
        result("bfd_down_ms", bfd_ms)
        result("bgp_down_ms", bgp_ms)
        result("bgp_down_reason", events.get("reason"))
        result("bfd_detection_ms", detection)
        result("bfd_interval_ms", BFD_MS)
        monitor.terminate()
        removed = self.route_monitor_removal(victim, crash_at)
        route_ms = self.ms_after(removed, crash_at)
        say(f"the upstream kernel replaced the route without {victim} {route_ms} ms after the cut (`ip -ts monitor route`)")
        result("route_removed_monitor_ms", route_ms)
        say("$ birdc show bfd sessions  (upstream)")
        say(self.birdc("up", "show", "bfd", "sessions").stdout.rstrip())
        protocols = self.birdc("up", "show", "protocols").stdout
        say("$ birdc show protocols  (upstream)")
        say(protocols.rstrip())
        down_ms = self.bird_since_ms(protocols, victim, crash_at)
        if down_ms is not None:
            say(f"upstream BIRD took session {victim} down {down_ms} ms after the cut ({clock(crash_at)}; "
                f"the Since column above), BFD detection {detection} ms")
        result("bird_down_ms", down_ms)
        say(f"$ ip route show {VIP}  (upstream kernel)")
        say(self.ip("up", "route", "show", f"{VIP}/32").stdout.rstrip())
        result("nexthops_after_crash", self.nexthops())
        time.sleep(5)
        after = [s for s in self.samples() if s[0] >= crash_at - 1]
        answered = [s for s in after if s[1]]
        failed = [s for s in after if not s[1] and s[0] >= crash_at]
        window = (max(s[0] for s in failed) - crash_at) if failed else 0.0
        gap = self.longest_gap(after)
        say(f"client: {len(failed)} of {len([s for s in after if s[0] >= crash_at])} short connections failed after the crash, "
            f"the last one started {1000 * window:.0f} ms after it; longest gap between two answered connections "
            f"{1000 * gap:.0f} ms (one every {PERIOD_MS} ms)")
        result("crash_failed", len(failed))
        result("crash_fail_window_ms", round(1000 * window))
        result("crash_longest_gap_ms", round(1000 * gap))
        # Connections that met the dead director: their SYN is lost, and the retransmission (1 s
        # later) reaches a survivor once the route is gone. Slow = over 500 ms.
        baseline = self.durations(crash_at - 6, crash_at - 1)
        near = self.durations(crash_at - 1, crash_at + 5)
        slow = sorted((t, ms) for t, ms in near if ms > 500)
        # Split at the moment the router's kernel route lost d1 (`ip monitor`, else the poll):
        # slow connections started before it met the dead director, later ones are the
        # emulated CPU's noise.
        route_left = crash_at + (route_ms if route_ms is not None else 1000 * detect) / 1000
        met = [(t, ms) for t, ms in slow if t < route_left]
        say(f"client: {len(slow)} of {len(near)} answered connections started from 1 s before to 5 s after the cut took "
            f"over 500 ms; {len(met)} of them started before the route left"
            + (f" ({1000 * (met[0][0] - crash_at):.0f} to {1000 * (met[-1][0] - crash_at):.0f} ms after the cut, "
               f"the slowest {max(ms for _, ms in met)} ms)" if met else "")
            + f"; before the crash the slowest took {max((ms for _, ms in baseline), default=0)} ms")
        say("  slow connections (start after the cut : milliseconds taken): "
            + " ".join(f"{1000 * (t - crash_at):.0f}:{ms}" for t, ms in slow))
        result("crash_slow", [len(slow), len(near)])
        result("crash_slow_before_route", len(met))
        result("crash_slow_window_ms", [round(1000 * (met[0][0] - crash_at)), round(1000 * (met[-1][0] - crash_at))] if met else None)
        result("crash_max_ms", max((ms for _, ms in near), default=None))
        result("before_crash_max_ms", max((ms for _, ms in baseline), default=None))
        stats_after = self.conns()
        moved = {d: stats_after[d] - stats_before[d] for d in stats_after}
        say(f"new connections per surviving director since the crash: {moved}")
        result("after_crash_directors", moved)
        late = [s for s in self.samples() if s[0] >= crash_at + 3]
        result("after_crash_answered", [sum(1 for s in late if s[1]), len(late)])
        longs = self.long_state()
        alive = [i for i, s in longs.items() if s["alive"]]
        died = {i: s for i, s in longs.items() if not s["alive"]}
        say(f"long-lived connections alive 5 s after the crash: {len(alive)}/{len(longs)}")
        for i, s in sorted(died.items()):
            say(f"  died: #{i} {s['src']} {1000 * (s['died'] - crash_at):.0f} ms after the crash, "
                f"had been served by {','.join(s['servers'])}")
        result("long_alive_after_crash", [len(alive), len(longs)])
        same = sum(1 for s in longs.values() if s["alive"] and len(s["servers"]) == 1)
        say(f"long-lived connections alive and still on the real server they started on: {same}")

        drained = "d2"
        heading(f"6. drain {drained}: tandemctl maintenance on --wait --timeout {DRAIN_WAIT_S}")
        stats_before = self.conns()
        t_drain = time.monotonic()
        drain_at = time.time()
        r = self.ctl(drained, "maintenance", "on", "--wait", "--timeout", str(DRAIN_WAIT_S), timeout=60 * SLOW)
        say(f"$ tandemctl maintenance on --wait  (exit {r.returncode}, {time.monotonic() - t_drain:.1f} s)")
        say((r.stdout + r.stderr).rstrip())
        result("drain_exit", r.returncode)
        withdrawn = wait_for(lambda: DIRECTORS[drained] not in self.nexthops(), 10 * SLOW, 0.01)
        say(f"$ ip route show {VIP}  (upstream kernel)")
        say(self.ip("up", "route", "show", f"{VIP}/32").stdout.rstrip())
        result("nexthops_after_drain", self.nexthops())
        mark = self.conns()
        time.sleep(5)
        later = self.conns()
        during = {d: mark[d] - stats_before[d] for d in later}
        since = {d: later[d] - mark[d] for d in later}
        say(f"new connections per director while the drain command ran: {during}; in the 5 s after: {since}")
        result("after_drain_directors", since)
        drained_samples = [s for s in self.samples() if s[0] >= drain_at]
        result("drain_answered", [sum(1 for s in drained_samples if s[1]), len(drained_samples)])
        say(f"client since the drain: {sum(1 for s in drained_samples if s[1])}/{len(drained_samples)} short connections answered")
        longs = self.long_state()
        say(f"long-lived connections alive after the drain: {sum(1 for s in longs.values() if s['alive'])}/{len(longs)}")
        result("long_alive_after_drain", [sum(1 for s in longs.values() if s["alive"]), len(longs)])
        say(f"$ ipvsadm -Ln  ({drained}: ActiveConn/InActConn of its table)")
        say(self.ex(drained, "ipvsadm", "-Ln").stdout.rstrip())
        say(f"$ tandemctl status  ({drained})")
        say(self.ctl(drained, "status").stdout.rstrip())
        if not withdrawn:
            ok = False

        heading("7. done: stopping the clients, cleaning up")
        short_stop.touch()
        long_stop.touch()
        return ok

    def bfd_down_events(self, victim, since_epoch):
        """From the upstream BIRD's log, after since_epoch: the time (epoch seconds) its BFD session
        to the victim went down, the time the victim's BGP session went down (state stop), the
        reason BGP logged just before (`BFD session down`, `Connection closed`, ...) and those
        lines; None while the BGP session has not gone down."""
        addr = DIRECTORS[victim]
        found = {"lines": []}
        text = self.bird_log.read_text(errors="replace") if self.bird_log.exists() else ""
        for line in text.splitlines():
            stamp = log_time(line)
            if stamp is None or stamp < since_epoch:
                continue
            msg = line.split("> ", 1)[-1]
            if not (msg.startswith(f"{victim}: ") or f" {addr} " in f" {msg} "):
                continue
            found["lines"].append(line)
            if "bfd" not in found and f"Session to {addr} changed state from Up to Down" in msg:
                found["bfd"] = stamp
            if "bgp" not in found and msg.startswith(f"{victim}: "):
                if msg == f"{victim}: State changed to stop":
                    found["bgp"] = stamp
                elif "reason" not in found and not msg.startswith(f"{victim}: State changed"):
                    found["reason"] = msg.split(": ", 1)[1]
        return found if "bgp" in found else None

    def route_monitor_removal(self, victim, since_epoch):
        """The time (epoch seconds) `ip -ts monitor route` on the router first showed the VIP's
        route without the victim's next hop (or the old route deleted) after since_epoch."""
        path = self.dir / "route-monitor.log"
        entries, current = [], None
        for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
            if line.startswith("["):
                stamp, _, rest = line[1:].partition("] ")
                current = [stamp, rest]
                entries.append(current)
            elif current is not None:
                current[1] += " " + line.strip()
        for stamp, text in entries:
            try:
                at = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").timestamp()
            except ValueError:
                continue
            words = text.split()
            if at < since_epoch or VIP not in words[:2]:
                continue
            if words[0] == "Deleted" or f"via {DIRECTORS[victim]} " not in text + " ":
                return at
        return None

    @staticmethod
    def ms_after(stamp, since_epoch):
        return None if stamp is None else round(1000 * (stamp - since_epoch))

    @staticmethod
    def bird_since_ms(protocols, name, since_epoch):
        """Milliseconds from since_epoch to the Since time (local HH:MM:SS.mmm of today) of protocol
        `name` in `birdc show protocols`."""
        for line in protocols.splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[0] == name:
                try:
                    clock = datetime.datetime.strptime(parts[4], "%H:%M:%S.%f").time()
                except ValueError:
                    return None
                base = datetime.datetime.fromtimestamp(since_epoch)
                return round((datetime.datetime.combine(base.date(), clock).timestamp() - since_epoch) * 1000)
        return None

    @staticmethod
    def longest_gap(samples):
        answered = sorted(t for t, ok, _ in samples if ok)
        return max((b - a for a, b in zip(answered, answered[1:])), default=0.0)

    def dump_logs(self):
        for key in self.procs:
            if key.startswith(("tandemd", "bird")):
                p = self.dir / f"{key}.log"
                if p.exists():
                    say(f"--- {key} (last lines)")
                    say("\n".join(p.read_text(errors="replace").splitlines()[-15:]))

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 5
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        for name in self.ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        if os.environ.get("LAB_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


def main():
    lab = ClusterLab()
    try:
        ok = lab.run()
    except BaseException:
        lab.dump_logs()
        raise
    finally:
        lab.close()
    return 0 if ok else 1
