"""Network-namespace topology for the VIP tests: routers A and B and a client joined by a bridge.

    a (eth0 10.99.0.1, fd00:99::1) ─┐
    b (eth0 10.99.0.2, fd00:99::2) ─┼─ br0 in the switch namespace
    c (eth0 10.99.0.100, fd00:99::100) ┘

Every namespace name starts with tdm-<random>- so parallel runs never collide; `close()` deletes
them all. Traffic never leaves these namespaces.
"""
import json
import os
import secrets
import signal
import struct
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TANDEMCTL = os.environ.get("TANDEMCTL", str(REPO / ".build" / "debug" / "tandemctl"))

VIP4 = "10.99.0.10/24"
VIP6 = "fd00:99::10/64"


def run(*args, check=True, timeout=20, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, timeout=timeout, **kw)


# Each node's eth0 addresses (IPv4, IPv6).
PAIR_NODES = {"a": ("10.99.0.1/24", "fd00:99::1/64"), "b": ("10.99.0.2/24", "fd00:99::2/64"),
              "c": ("10.99.0.100/24", "fd00:99::100/64")}


class Topology:
    def __init__(self, nodes=None):
        """`nodes`: name -> (IPv4, IPv6) of its eth0; by default the pair's a, b and client c."""
        self.nodes = nodes or PAIR_NODES
        tag = "tdm-" + secrets.token_hex(3)
        self.ns = {n: f"{tag}-{n}" for n in ("sw", *self.nodes)}
        self.procs = []
        try:
            self._build()
        except Exception:
            self.close()
            raise

    def _build(self):
        for name in self.ns.values():
            run("ip", "netns", "add", name)
        sw = self.ns["sw"]
        self.ip("sw", "link", "add", "br0", "type", "bridge")
        self.ip("sw", "link", "set", "br0", "up")
        for node, (v4, v6) in self.nodes.items():
            port = f"p{node}"
            run("ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", self.ns[node])
            self.ip("sw", "link", "set", port, "master", "br0")
            self.ip("sw", "link", "set", port, "up")
            self.ip(node, "link", "set", "lo", "up")
            self.ip(node, "addr", "add", v4, "dev", "eth0")
            self.ip(node, "addr", "add", v6, "dev", "eth0", "nodad")
            self.ip(node, "link", "set", "eth0", "up")
        self.wait_operational()
        self.mac = {node: self.ip_json(node, "link", "show", "dev", "eth0")[0]["address"] for node in self.nodes}

    def wait_operational(self, timeout=10):
        """Waits until every link is operationally up: until the kernel's link watcher has run, a
        fresh veth still has its no-op qdisc and silently drops what is sent (bounded wait)."""
        links = [("sw", "br0")] + [("sw", f"p{n}") for n in self.nodes] + [(n, "eth0") for n in self.nodes]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [self.ip_json(n, "link", "show", "dev", d)[0]["operstate"] for n, d in links]
            if all(s == "UP" for s in states):
                return
            time.sleep(0.02)
        raise RuntimeError(f"links not up after {timeout}s: {list(zip(links, states))}")

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        for name in self.ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

    # --- helpers -------------------------------------------------------------------------------
    def ip(self, node, *args, check=True):
        return run("ip", "-n", self.ns[node], *args, check=check)

    def ip_json(self, node, *args):
        out = run("ip", "-j", "-n", self.ns[node], *args).stdout
        return json.loads(out) if out.strip() else []

    def exec(self, node, *args, check=True, timeout=20, input=None):
        return run("ip", "netns", "exec", self.ns[node], *args, check=check, timeout=timeout, input=input)

    def popen(self, node, *args, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[node], *args], **kw)
        self.procs.append(p)
        return p

    def tandemctl(self, node, *args, check=True, timeout=30):
        r = self.exec(node, TANDEMCTL, *args, check=False, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"tandemctl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]

    def addresses(self, node, dev="eth0"):
        """(local, prefixlen, label) of every address on dev, as `ip -j addr` reports them."""
        info = self.ip_json(node, "addr", "show", "dev", dev)
        return {(a["local"], a["prefixlen"], a.get("label")) for a in info[0]["addr_info"]}

    def addr_info(self, node, local, dev="eth0"):
        info = self.ip_json(node, "addr", "show", "dev", dev)
        return next((a for a in info[0]["addr_info"] if a["local"] == local), None)

    def neigh(self, node, address, dev="eth0"):
        entries = self.ip_json(node, "neigh", "show", address, "dev", dev)
        return entries[0] if entries else None


class Capture:
    """tcpdump writing a nanosecond pcap in a namespace; `stop()` returns the parsed frames."""

    def __init__(self, topo, node, bpf, dev="eth0", tmpdir="/tmp"):
        self.path = Path(tmpdir) / f"{topo.ns[node]}-{secrets.token_hex(3)}.pcap"
        self.proc = topo.popen(node, "tcpdump", "-i", dev, "-U", "--immediate-mode", "-n", "--time-stamp-precision=nano",
                               "-w", str(self.path), bpf, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Wait for "listening on" (tcpdump prints it once the socket is open), bounded.
        line = b""
        deadline = time.monotonic() + 10
        os.set_blocking(self.proc.stderr.fileno(), False)
        while b"listening on" not in line and time.monotonic() < deadline:
            chunk = self.proc.stderr.read()
            if chunk:
                line += chunk
            else:
                time.sleep(0.005)
        if b"listening on" not in line:
            raise RuntimeError(f"tcpdump did not start: {line!r}")

    def stop(self):
        time.sleep(0.05)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        frames = read_pcap(self.path)
        self.path.unlink(missing_ok=True)
        return frames


def read_pcap(path):
    """[(timestamp_ns, frame_bytes)] from a classic pcap file (micro- or nanosecond magic)."""
    data = Path(path).read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    scale = {0xA1B23C4D: 1, 0xA1B2C3D4: 1000}[magic]
    frames, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        off += 16
        frames.append((sec * 1_000_000_000 + frac * scale, data[off:off + incl]))
        off += incl
    return frames


def mac_bytes(text):
    return bytes.fromhex(text.replace(":", ""))
