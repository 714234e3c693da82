"""Two real tandemd daemons on the vip_topology namespaces (routers a and b, client c, bridge).

`Pair` writes one config (VIP-only, HMAC key file), starts `tandemd --config F --node ra|rb`
in the router namespaces with stderr to a log file per node, and offers bounded helpers:
who holds the VIP (`ip -j addr`), waiting for log lines, a client prober (ping every 10 ms).
"""
import os
import re
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from vip_topology import REPO, TANDEMCTL, Topology

TANDEMD = os.environ.get("TANDEMD", str(REPO / ".build" / "debug" / "tandemd"))
VIP = "10.99.0.10"
NODES = {"a": "ra", "b": "rb"}
ADDR = {"a": "10.99.0.1", "b": "10.99.0.2"}


class PairConfig:
    """The two routers' config files, one per node as on real routers (config replication
    writes the peer's config into a node's own file). A test's edit goes to both files, as an
    operator who keeps them equal by hand would do; reading reads ra's."""

    def __init__(self, directory: Path):
        self.paths = {n: directory / f"tandem-{NODES[n]}.yaml" for n in NODES}

    def write_text(self, text):
        for path in self.paths.values():
            path.write_text(text)

    def read_text(self):
        return self.paths["a"].read_text()

    def path(self, node):
        return self.paths[node]


class Pair:
    def __init__(self, topo: Topology, interval_ms=10, dead_ms=30, priorities=(100, 90), port=None):
        self.topo = topo
        self.hb = dict(ADDR)
        self.dir = Path(tempfile.mkdtemp(prefix="tdm-pair-"))
        self.port = port or (20000 + secrets.randbelow(20000))
        self.interval_ms, self.dead_ms = interval_ms, dead_ms
        self.key = self.dir / "heartbeat.key"
        self.key.write_bytes(secrets.token_bytes(32))
        os.chmod(self.key, 0o600)
        self.config = PairConfig(self.dir)
        self.write_config(priorities)
        self.procs = {}
        self.logs = {n: self.dir / f"{NODES[n]}.log" for n in NODES}

    def write_config(self, priorities=(100, 90), serial=1, extra_vips=()):
        self.config.write_text(self.config_text(priorities, serial, extra_vips))

    def config_text(self, priorities=(100, 90), serial=1, extra_vips=(), key=None, tail=""):
        """The pair's YAML config; `tail` is appended as it is (more top-level keys)."""
        vips = [f"  - {{address: {VIP}/24, interface: eth0}}"] + [f"  - {{address: {v}, interface: eth0}}" for v in extra_vips]
        return (f"""serial: {serial}
nodes:
  - {{name: ra, addresses: [{self.hb['a']}], priority: {priorities[0]}}}
  - {{name: rb, addresses: [{self.hb['b']}], priority: {priorities[1]}}}
heartbeat:
  port: {self.port}
  interval: {self.interval_ms}ms
  dead_time: {self.dead_ms}ms
  key_file: {key or self.key}
announce: {{repeat: 3, second_burst_delay: 1s}}
virtual_ips:
""" + "\n".join(vips) + f"""
state_directory: {self.dir}/state
""" + tail)

    # --- processes -------------------------------------------------------------------------------
    def start(self, node, env=None):
        """Starts tandemd for `node`; `env` adds environment variables (e.g. test-only ones)."""
        log = open(self.logs[node], "ab")
        p = self.topo.popen(node, TANDEMD, "--config", str(self.config.path(node)), "--node", NODES[node],
                            "--control-socket", self.socket(node), "--state-directory", f"{self.dir}/state-{node}",
                            stdout=log, stderr=log, env=None if env is None else {**os.environ, **env})
        log.close()
        self.procs[node] = p
        return p

    def socket(self, node):
        """This node's control socket (node-local, given on tandemd's command line)."""
        return f"{self.dir}/{node}.sock"

    def ctl(self, node, *args, timeout=30, user=None):
        """Runs `tandemctl --socket <node's socket> ARGS` (as `user` when given); returns the CompletedProcess."""
        command = [TANDEMCTL, *args[:1], "--socket", self.socket(node), *args[1:]]
        if user is not None:
            command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def start_settled(self):
        """ra first (it becomes active after the dead time alone), then rb (standby)."""
        self.start("a")
        self.wait_for(lambda: self.role("a") == "active" and self.holds_vip("a"), timeout=10, what="ra active")
        self.start("b")
        self.wait_settled("a")

    def start_both(self):
        self.start("a")
        self.start("b")

    def signal(self, node, sig):
        self.procs[node].send_signal(sig)

    def kill(self, node):
        p = self.procs[node]
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)

    def wait_exit(self, node, timeout=15):
        return self.procs[node].wait(timeout=timeout)

    def close(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)

    # --- observation -------------------------------------------------------------------------------
    def log(self, node):
        return self.logs[node].read_text(errors="replace") if self.logs[node].exists() else ""

    def roles(self, node):
        """[(from, to, reason)] of every `role X -> Y: reason` line, in order."""
        return re.findall(r" role (\w+) -> (\w+): (.*)", self.log(node))

    def role(self, node):
        r = self.roles(node)
        return r[-1][1] if r else None

    def holds_vip(self, node):
        info = self.topo.ip_json(node, "addr", "show", "dev", "eth0")
        return any(a.get("local") == VIP for a in info[0]["addr_info"])

    def holders(self):
        return {n for n in NODES if self.holds_vip(n)}

    def wait_for(self, predicate, timeout, step=0.005, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(step)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n--- ra ---\n{self.log('a')[-3000:]}\n--- rb ---\n{self.log('b')[-3000:]}")

    def wait_settled(self, active="a", timeout=10):
        """Both daemons running, `active` is active and holds the VIP, the other is standby."""
        other = "b" if active == "a" else "a"
        self.wait_for(lambda: self.role(active) == "active" and self.role(other) == "standby"
                      and self.holders() == {active}, timeout, what=f"{active} active, {other} standby")

    def client_mac_for_vip(self):
        entry = self.topo.neigh("c", VIP)
        return entry.get("lladdr") if entry else None


class Prober:
    """The client pings the VIP every 10 ms (bounded count); `stop()` returns the reply times."""

    def __init__(self, topo, count=3000, interval="0.01"):
        self.proc = topo.popen("c", "ping", "-n", "-D", "-i", interval, "-W", "1", "-c", str(count), VIP,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.replies = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            m = re.match(r"\[(\d+\.\d+)\] \d+ bytes from .* icmp_seq=(\d+)", line)
            if m:
                self.replies.append((float(m.group(1)), int(m.group(2))))

    def wait_replies(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        while len(self.replies) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.replies) >= n

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.thread.join(timeout=5)
        return self.replies

    @staticmethod
    def missing(replies, after=None):
        """Sequence numbers with no reply between the first and the last reply (after wall time `after`)."""
        seqs = sorted(seq for t, seq in replies if after is None or t >= after)
        if not seqs:
            return []
        got = set(seqs)
        return [n for n in range(seqs[0], seqs[-1] + 1) if n not in got]

    @staticmethod
    def outage(replies, after=None):
        """Longest gap between consecutive replies (seconds), optionally only gaps ending after `after` (wall time)."""
        times = [t for t, _ in replies]
        gaps = [(b - a) for a, b in zip(times, times[1:]) if after is None or b >= after]
        return max(gaps) if gaps else None
