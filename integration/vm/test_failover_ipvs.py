"""Failover with IPVS, NAT and DR, inside the VM: two real tandemd in router namespaces (each
namespace has its own IPVS table), real servers serving HTTP, a client requesting through the VIP
before and after the active router crashes (tandemd SIGKILLed and its links cut).

Independent views: the client's HTTP answers (which real server served it), `ip -j addr` in the
routers' namespaces, and `ipvsadm -S -n` in the new active's namespace, which must equal
`tandemctl show-config FILE --format ipvsadm`.

    NAT: client 192.0.2.100 ─ front ─ r1/r2 eth0 (VIP 192.0.2.10)
         r1/r2 eth1 (gateway VIP 10.20.0.1) ─ back ─ rs1 10.20.0.11, rs2 10.20.0.12 (:8080)
    DR:  client, r1/r2 eth0 (VIP 192.0.2.10), rs1 192.0.2.11, rs2 192.0.2.12 (:80) on one LAN;
         the real servers hold 192.0.2.10/32 on lo with arp_ignore=1 / arp_announce=2 and answer
         the client directly.

Each tandemd runs in its own mount namespace with a tmpfs on /run/tandem, as if on its own host,
so both use the same config file (default control socket, state directory below /run/tandem).
"""
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from vmlib import ROOT

BIN = Path(os.environ.get("TANDEM_BIN") or next(
    (p for p in (ROOT / ".build" / "debug", ROOT / ".build" / "release") if (p / "tandemd").exists()),
    ROOT / ".build" / "debug"))
VIP = "192.0.2.10"
CLIENT = "192.0.2.100"
INTERVAL_MS, DEAD_MS = 200, 1000     # the VM runs under software emulation, ~10x slower
SLOW = 180                           # bound for each step that waits (start-up of a daemon, a takeover)
T0 = time.monotonic()


def step(text):
    """Progress with time stamps (pytest shows them on failure, or live with -s)."""
    print(f"[{time.monotonic() - T0:7.1f}s] {text}", flush=True)

HTTP_SERVER = """import http.server, sys
name, port = sys.argv[1], int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f'served by {name}\\n'.encode()
        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('0.0.0.0', port), H).serve_forever()
"""

# n requests, each with its own connection; prints one line per request: "ok rsN" or "fail Error".
HTTP_CLIENT = """import socket, sys, time
n, vip = int(sys.argv[1]), sys.argv[2]
for _ in range(n):
    try:
        s = socket.create_connection((vip, 80), timeout=2)
        s.settimeout(3)
        s.sendall(b'GET / HTTP/1.0\\r\\nHost: vip\\r\\n\\r\\n')
        data = b''
        while chunk := s.recv(4096):
            data += chunk
        s.close()
        print('ok', data.rsplit(b'served by ', 1)[-1].strip().decode() if b'served by' in data else 'garbage', flush=True)
    except OSError as e:
        print('fail', type(e).__name__, flush=True)
"""


def sh(*args, check=True, timeout=60):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} exited {p.returncode}: {p.stderr}")
    return p


class Lab:
    def __init__(self, mode):
        self.mode = mode
        tag = "tdv-" + secrets.token_hex(2)
        self.nodes = ["sw", "client", "r1", "r2", "rs1", "rs2"]
        self.ns = {n: f"{tag}-{n}" for n in self.nodes}
        self.dir = Path(tempfile.mkdtemp(prefix="tdm-vm-ipvs-"))
        self.procs = {}

    def ip(self, node, *args, check=True):
        return sh("ip", "-n", self.ns[node], *args, check=check)

    def ex(self, node, *args, check=True, timeout=60):
        return sh("ip", "netns", "exec", self.ns[node], *args, check=check, timeout=timeout)

    def spawn(self, key, node, args):
        log = open(self.dir / f"{key}.log", "wb")
        self.procs[key] = subprocess.Popen(["ip", "netns", "exec", self.ns[node], *map(str, args)],
                                           stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def log(self, key):
        path = self.dir / f"{key}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def build(self):
        # One batch of ip commands (`ip -batch`) per namespace: process start-up dominates under TCG.
        for name in self.ns.values():
            sh("ip", "netns", "add", name)
        sw = ["link add front type bridge", "link set front up", "link add back type bridge", "link set back up"]
        per = {n: ["link set lo up"] for n in self.nodes}
        if self.mode == "nat":
            plan = [("client", "eth0", "front", "192.0.2.100/24"), ("r1", "eth0", "front", "192.0.2.2/24"),
                    ("r2", "eth0", "front", "192.0.2.3/24"), ("r1", "eth1", "back", "10.20.0.2/24"),
                    ("r2", "eth1", "back", "10.20.0.3/24"), ("rs1", "eth0", "back", "10.20.0.11/24"),
                    ("rs2", "eth0", "back", "10.20.0.12/24")]
        else:
            plan = [("client", "eth0", "front", "192.0.2.100/24"), ("r1", "eth0", "front", "192.0.2.2/24"),
                    ("r2", "eth0", "front", "192.0.2.3/24"), ("rs1", "eth0", "front", "192.0.2.11/24"),
                    ("rs2", "eth0", "front", "192.0.2.12/24")]
        for node, ifname, bridge, addr in plan:
            port = f"{node}-{ifname}"
            sw += [f"link add {port} type veth peer name {ifname} netns {self.ns[node]}",
                   f"link set {port} master {bridge}", f"link set {port} up"]
            per[node] += [f"addr add {addr} dev {ifname}", f"link set {ifname} up"]
        if self.mode == "nat":
            for rs in ("rs1", "rs2"):
                per[rs].append("route add default via 10.20.0.1")
        self.batch("sw", sw)
        for rs in ("rs1", "rs2"):
            if self.mode == "dr":
                # The VIP on lo, never announced nor answered for by ARP: only the routers answer.
                self.ex(rs, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
                per[rs].append(f"addr add {VIP}/32 dev lo")
        for node in self.nodes[1:]:
            self.batch(node, per[node])
        for r in ("r1", "r2"):
            self.ex(r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            links = [l for n in self.nodes for l in json.loads(self.ip(n, "-j", "link", "show").stdout)]
            if all(l["operstate"] in ("UP", "UNKNOWN") for l in links if l["ifname"] != "lo"):
                return
            time.sleep(0.2)
        raise AssertionError(f"links not up: {[(l['ifname'], l['operstate']) for l in links]}")

    def batch(self, node, commands):
        p = subprocess.run(["ip", "-n", self.ns[node], "-batch", "-"], input="\n".join(commands) + "\n",
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"ip -batch in {node}: {p.stderr}"

    def write_config(self):
        key = self.dir / "heartbeat.key"
        key.write_bytes(secrets.token_bytes(32))
        key.chmod(0o600)
        if self.mode == "nat":
            gateway = "  - {address: 10.20.0.1/24, interface: eth1, nat_gateway: true}\n"
            servers = "      - {address: 10.20.0.11, port: 8080}\n      - {address: 10.20.0.12, port: 8080}\n"
        else:
            gateway = ""
            servers = "      - {address: 192.0.2.11, port: 80}\n      - {address: 192.0.2.12, port: 80}\n"
        config = self.dir / "tandem.yaml"
        config.write_text(f"""serial: 1
nodes:
  - {{name: r1, addresses: [192.0.2.2], priority: 150}}
  - {{name: r2, addresses: [192.0.2.3], priority: 100}}
heartbeat:
  interval: {INTERVAL_MS}ms
  dead_time: {DEAD_MS}ms
  key_file: {key}
announce: {{repeat: 3, second_burst_delay: 1s}}
virtual_ips:
  - {{address: {VIP}/24, interface: eth0}}
{gateway}virtual_servers:
  - name: web
    address: {VIP}
    port: 80
    scheduler: rr
    forwarding: {self.mode}
    real_servers:
{servers}state_directory: /run/tandem/state
""")
        return config

    def start_tandemd(self, router, config):
        # Own mount namespace (ip netns exec makes one) with a private /run/tandem: like its own host.
        wrapper = 'mkdir -p /run/tandem && mount -t tmpfs -o size=4m tandem /run/tandem && exec "$@"'
        self.spawn(f"tandemd-{router}", router, ["sh", "-c", wrapper, "sh", BIN / "tandemd",
                                                 "--config", config, "--node", router])

    def role(self, router):
        """The role named by tandemd's last `role X -> Y` log line."""
        found = re.findall(r" role \w+ -> (\w+):", self.log(f"tandemd-{router}"))
        return found[-1] if found else None

    def holds_vip(self, router):
        info = json.loads(self.ip(router, "-j", "addr", "show", "dev", "eth0").stdout)
        return any(a.get("local") == VIP for l in info for a in l.get("addr_info", []))

    def requests(self, n):
        out = self.ex("client", sys.executable, "-c", HTTP_CLIENT, n, VIP, timeout=120).stdout.split("\n")
        return [tuple(line.split(None, 1)) for line in out if line.strip()]

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        for name in self.ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

    def logs(self):
        return "\n".join(f"--- {k} ---\n{self.log(k)[-3000:]}" for k in self.procs)


def wait_for(predicate, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


@pytest.fixture(params=["nat", "dr"])
def lab(request):
    sh("modprobe", "ip_vs")
    lab = Lab(request.param)
    try:
        step(f"{request.param}: building the topology")
        lab.build()
        step("topology built")
        yield lab
    finally:
        lab.close()


def test_http_through_the_vip_survives_a_crash_of_the_active(lab):
    config = lab.write_config()
    desired = sh(BIN / "tandemctl", "show-config", config, "--format", "ipvsadm").stdout
    assert desired.count("\n-a ") == 2, desired
    port = 8080 if lab.mode == "nat" else 80
    for rs in ("rs1", "rs2"):
        lab.spawn(f"http-{rs}", rs, [sys.executable, "-c", HTTP_SERVER, rs, port])
    # Both daemons at once (start-up under emulation takes tens of seconds): whichever is up
    # first becomes active (non-preemptive), the other standby.
    lab.start_tandemd("r1", config)
    lab.start_tandemd("r2", config)

    def settled():
        """The active router once the logs say one active, one standby and `ip -j addr` agrees
        (the two `ip` calls are seconds apart under emulation: both are asked after the logs)."""
        roles = {r: lab.role(r) for r in ("r1", "r2")}
        if sorted(map(str, roles.values())) != ["active", "standby"]:
            return None
        active = "r1" if roles["r1"] == "active" else "r2"
        standby = "r2" if active == "r1" else "r1"
        return active if lab.holds_vip(active) and not lab.holds_vip(standby) and lab.role(active) == "active" else None

    active = wait_for(settled, SLOW)
    assert active, "not one active and one standby with both daemons up\n" + lab.logs()
    standby = "r2" if active == "r1" else "r1"
    step(f"{active} active, {standby} standby")

    # Before: every request answered, round robin over both real servers (the HTTP servers may
    # still be starting: the first answer is awaited, bounded).
    assert wait_for(lambda: (lab.requests(1) or [("fail",)])[0][0] == "ok", SLOW, step=0.5), f"no answer through {active}\n{lab.logs()}"
    before = lab.requests(4)
    step(f"before: {before}")
    assert all(ok == "ok" for ok, _ in before), f"{before}\n{lab.logs()}"
    assert {who for _, who in before} == {"rs1", "rs2"}, before

    # Crash the active: tandemd SIGKILLed, its links cut at the switch.
    lab.procs[f"tandemd-{active}"].send_signal(signal.SIGKILL)
    lab.procs[f"tandemd-{active}"].wait(timeout=10)
    for ifname in (("eth0", "eth1") if lab.mode == "nat" else ("eth0",)):
        lab.ip("sw", "link", "set", f"{active}-{ifname}", "down")
    step(f"{active} crashed")
    assert wait_for(lambda: lab.holds_vip(standby), SLOW), f"{standby} never claimed the VIP\n" + lab.logs()
    assert wait_for(lambda: lab.role(standby) == "active", SLOW), lab.logs()
    step(f"{standby} holds the VIP")

    after = wait_for(lambda: (lambda r: r if all(ok == "ok" for ok, _ in r) else None)(lab.requests(4)), SLOW, step=0.5)
    assert after, f"no answers through {standby}\n{lab.logs()}"
    step(f"after: {after}")
    assert {who for _, who in after} == {"rs1", "rs2"}, after
    # The new active's kernel table, as the independent tool dumps it, is the desired one.
    assert lab.ex(standby, "ipvsadm", "-S", "-n").stdout == desired
