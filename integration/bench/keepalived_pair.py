"""A keepalived VRRP pair on the vip_topology namespaces, shaped like failover_pair.Pair.

Routers a (10.99.0.1, priority 100) and b (10.99.0.2, priority 90) run
`keepalived -n -l -D -G -P -f CONF -p PID -r VRRP_PID` in their namespaces (VRRP only, no fork,
log to the console, own pid files per namespace). Config: VRRPv3, unicast peers, advert_int
given in ms (10 ms = the VRRPv3 minimum, one centisecond), state BACKUP with `nopreempt` on
both (Tandem's non-preemptive default), VIP 10.99.0.10/24 on eth0.

Prerequisite: the Debian package `keepalived` (`apt-get install -y keepalived`).
"""
import re
import shutil
import signal
import tempfile
from pathlib import Path

from failover_pair import ADDR, VIP

NODES = {"a": "ra", "b": "rb"}
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"


class KeepalivedPair:
    def __init__(self, topo, interval_ms=10, priorities=(100, 90), vrid=51, realtime_priority=None):
        if not Path(KEEPALIVED).exists():
            raise SystemExit("keepalived not found: apt-get install -y keepalived")
        if interval_ms % 10:
            raise ValueError("VRRPv3 advert_int has a resolution of 10 ms")
        self.topo = topo
        self.interval_ms = interval_ms
        self.dir = Path(tempfile.mkdtemp(prefix="tdm-kad-"))
        self.procs = {}
        self.logs = {n: self.dir / f"{NODES[n]}.log" for n in NODES}
        self.confs = {}
        for i, node in enumerate(("a", "b")):
            other = "b" if node == "a" else "a"
            rt = f"    vrrp_rt_priority {realtime_priority}\n" if realtime_priority else ""
            conf = self.dir / f"{NODES[node]}.conf"
            conf.write_text(f"""global_defs {{
    router_id {NODES[node]}
    vrrp_version 3
{rt}}}
vrrp_instance VI_1 {{
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id {vrid}
    priority {priorities[i]}
    advert_int {interval_ms / 1000:.2f}
    unicast_src_ip {ADDR[node]}
    unicast_peer {{
        {ADDR[other]}
    }}
    virtual_ipaddress {{
        {VIP}/24 dev eth0
    }}
}}
""")
            self.confs[node] = conf

    # --- processes -------------------------------------------------------------------------------
    def start(self, node):
        log = open(self.logs[node], "ab")
        name = NODES[node]
        p = self.topo.popen(node, KEEPALIVED, "-n", "-l", "-D", "-G", "-P", "-f", str(self.confs[node]),
                            "-p", str(self.dir / f"{name}.pid"), "-r", str(self.dir / f"{name}-vrrp.pid"),
                            "-i", name, stdout=log, stderr=log)
        log.close()
        self.procs[node] = p
        return p

    def vrrp_pid(self, node):
        """The VRRP child's pid (it runs the protocol; the parent only supervises it)."""
        path = self.dir / f"{NODES[node]}-vrrp.pid"
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self, node):
        """Every keepalived process of the node: the parent and its VRRP child."""
        out = [self.procs[node].pid]
        child = self.vrrp_pid(node)
        if child:
            out.append(child)
        return out

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except Exception:
                p.kill()
                p.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- observation -------------------------------------------------------------------------------
    def log(self, node):
        return self.logs[node].read_text(errors="replace") if self.logs[node].exists() else ""

    def roles(self, node):
        """Every `Entering X STATE` line, in order, as lower-case role names."""
        return [m.lower() for m in re.findall(r"Entering (\w+) STATE", self.log(node))]

    def role(self, node):
        r = self.roles(node)
        return r[-1] if r else None

    def holds_vip(self, node):
        info = self.topo.ip_json(node, "addr", "show", "dev", "eth0")
        return any(a.get("local") == VIP for a in info[0]["addr_info"])

    def holders(self):
        return {n for n in NODES if self.holds_vip(n)}
