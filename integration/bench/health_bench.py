#!/usr/bin/env python3
"""Health-check load on the real daemon: one tandemd checks N real servers (default 5,000) every
second for 60 s, with heartbeats every 10 ms; does checking cost heartbeat punctuality?

Two fresh network namespaces (`tdm-hb-<random>-d` and `-p`, removed on exit), joined by a veth:

    daemon ns: tandemd (node a, eth0 10.0.0.1) and one lean epoll server on 0.0.0.0:8080; the real
               servers are 127.0.X.Y:8080, all of which lo delivers to that one listener
    peer ns:   eth0 10.0.0.2, a UDP listener posing as node b on the heartbeat port; it records the
               kernel receive time (SO_TIMESTAMPNS) of every heartbeat and never answers, so the
               daemon goes active after the dead time and keeps sending every 10 ms

Modes, each a fresh tandemd on the same topology: `none` (the same 5,000 real servers without a
health check: the baseline), `tcp` (TCP connect), `http` (HTTP GET /healthz). This host has no
IPVS: the daemon logs that once and retries quietly; the checks and heartbeats are unaffected.
`floor` is no tandemd at all: connect_floor.c (compiled with cc at run time) makes the same
connects to the same servers with nothing but the system calls. Over loopback the kernel charges
the connecting process for both ends of every handshake (the SYN, SYN-ACK, ACK and reset are
processed in its system calls), so `floor` is the least CPU any prober can show here; the last
line gives tcp / floor.

Reported per mode, over the measured window (after a warm-up of --warmup seconds, so start-up,
config parsing and the first burst of results are excluded):
- tandemd's CPU as % of one core (utime + stime from /proc/PID/stat, and each), peak RSS;
- heartbeat gaps at the peer: worst |gap - 10 ms|, the 99.9th and 99th percentiles, and the
  number of heartbeats against the number expected;
- health changes from the daemon's log over the whole run: first results up and down
  (`unknown -> up|down`), recoveries (`down -> up`) and losses (`up -> down`; a healthy run has none).

Usage (root; build first: `swift build -c release --product tandemd`):
    python3 integration/bench/health_bench.py [--servers 5000] [--seconds 60] [--modes none,floor,tcp,http]
                                              [--bin .build/release] [--warmup 8] [--realtime-priority 50]
"""
import argparse
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
HB_PORT = 30694
# The real servers' listener; with --server-realtime it runs SCHED_FIFO so a loaded host cannot
# starve it (then failed checks would measure the host, not the daemon).
SERVER_PREFIX = []
INTERVAL_MS = 10

SERVER = r'''
# A lean epoll server (asyncio costs ~100 us per connection; this is a few us): tcp mode accepts
# and closes; http mode answers the first read with a canned 200 and closes.
import resource, selectors, socket, sys, time
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
mode, end = sys.argv[1], time.monotonic() + float(sys.argv[2])
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
sel = selectors.DefaultSelector()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("0.0.0.0", 8080))
ls.listen(8192)
ls.setblocking(False)
sel.register(ls, selectors.EVENT_READ)
print("ready", flush=True)
while time.monotonic() < end:
    for key, _ in sel.select(0.5):
        if key.fileobj is ls:
            for _ in range(512):
                try:
                    c, _ = ls.accept()
                except (BlockingIOError, ConnectionAbortedError):
                    break
                if mode != "http":
                    c.close()
                else:
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ)
        else:
            c = key.fileobj
            try:
                if c.recv(4096):
                    c.send(RESP)
            except OSError:
                pass
            sel.unregister(c)
            c.close()
'''

PEER = r'''
# Poses as node b: records the kernel receive time of each heartbeat from 10.0.0.1; prints them
# (seconds, realtime) as JSON at the end. Bounded by its lifetime.
import json, socket, struct, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
s.bind(("10.0.0.2", port))
s.settimeout(0.2)
print("ready", flush=True)
stamps, end = [], time.monotonic() + seconds
while time.monotonic() < end:
    try:
        _, anc, _, addr = s.recvmsg(2048, 256)
    except socket.timeout:
        continue
    if addr[0] != "10.0.0.1":
        continue
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", data[:16])
            stamps.append(sec + nsec / 1e9)
print(json.dumps(stamps), flush=True)
'''


def addresses(n):
    for i in range(n):
        yield f"127.0.{1 + i // 250}.{1 + i % 250}"


def config_yaml(mode, n, tmp, realtime=None):
    lines = [
        "serial: 1",
        "nodes:",
        "  - {name: a, addresses: [10.0.0.1], priority: 150}",
        "  - {name: b, addresses: [10.0.0.2], priority: 100}",
        f"heartbeat: {{port: {HB_PORT}, interval: {INTERVAL_MS}ms, dead_time: 100ms, auth: none"
        + (f", realtime_priority: {realtime}}}" if realtime else "}"),
        "virtual_ips:",
        "  - {address: 10.0.0.10/24, interface: eth0}",
        f"state_directory: {tmp}/state-{mode}",
        f"control: {{socket: {tmp}/control-{mode}}}",
        "virtual_servers:",
    ]
    check = None
    if mode == "tcp":
        check = "{type: tcp, interval: 1s, timeout: 900ms, rise: 2, fall: 3}"
    elif mode == "http":
        check = "{type: http, path: /healthz, interval: 1s, timeout: 900ms, rise: 2, fall: 3}"
    addrs = list(addresses(n))
    # Services of 500 real servers each (any size is valid; this keeps the file readable).
    for s in range(0, n, 500):
        lines += [f"  - name: svc{s // 500}", "    address: 10.0.0.10", f"    port: {10000 + s // 500}",
                  "    forwarding: nat"]
        if check:
            lines.append(f"    health_check: {check}")
        lines.append("    real_servers:")
        lines += [f"      - {{address: {a}, port: 8080, weight: 1}}" for a in addrs[s:s + 500]]
    path = pathlib.Path(tmp) / f"bench-{mode}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def proc_stat(pid):
    """(utime, stime) in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def start_servers(ns, mode, lifetime):
    """The real servers' listener in the daemon namespace, ready to accept."""
    server = subprocess.Popen(["ip", "netns", "exec", ns["d"], *SERVER_PREFIX, sys.executable, "-c", SERVER, mode, str(lifetime)],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready"
    return server


def run_mode(ns, mode, n, seconds, warmup, tandemd, tmp, realtime):
    cfg = config_yaml(mode, n, tmp, realtime)
    total = warmup + seconds
    server = start_servers(ns, mode, total + 30)
    peer = subprocess.Popen(["ip", "netns", "exec", ns["p"], sys.executable, "-c", PEER, str(HB_PORT), str(total + 2)],
                            stdout=subprocess.PIPE, text=True)
    assert peer.stdout.readline().strip() == "ready"
    log_path = pathlib.Path(tmp) / f"tandemd-{mode}.log"
    with open(log_path, "w") as log:
        daemon = subprocess.Popen(["ip", "netns", "exec", ns["d"], str(tandemd), "--config", str(cfg), "--node", "a",
                                   "--log-level", "debug"], stdout=log, stderr=subprocess.STDOUT)
    try:
        # `ip netns exec` execs the program: the pid is the daemon's.
        hz = os.sysconf("SC_CLK_TCK")
        time.sleep(warmup)
        assert daemon.poll() is None, log_path.read_text()[-3000:]
        t0, (u0, s0), wall0 = time.monotonic(), proc_stat(daemon.pid), time.time()
        peak = 0
        while daemon.poll() is None and time.monotonic() - t0 < seconds:
            peak = max(peak, rss_kib(daemon.pid))
            t1, (u1, s1), wall1 = time.monotonic(), proc_stat(daemon.pid), time.time()
            time.sleep(0.5)
        assert daemon.poll() is None, log_path.read_text()[-3000:]
        user, system = ((b - a) / hz / (t1 - t0) * 100 for a, b in ((u0, u1), (s0, s1)))
        stamps = json.loads(peer.communicate(timeout=60)[0].strip() or "[]")
    finally:
        for p in (daemon, peer, server):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    window = [t for t in stamps if wall0 <= t <= wall1]
    gaps = [(b - a) * 1000 for a, b in zip(window, window[1:])]
    dev = [abs(g - INTERVAL_MS) for g in gaps] or [float("nan")]
    log = log_path.read_text(errors="replace")
    changes = re.findall(r"real server \S+ of service \S+: (\w+) -> (\w+)", log)
    count = lambda old, new: sum(1 for c in changes if c == (old, new))
    return {"mode": mode, "servers": n, "realtime_priority": realtime, "seconds_measured": round(t1 - t0, 1),
            "cpu_percent_of_one_core": round(user + system, 1), "cpu_user_percent": round(user, 1),
            "cpu_system_percent": round(system, 1), "peak_rss_mib": round(peak / 1024, 1),
            "heartbeats": len(window), "heartbeats_expected": int((wall1 - wall0) * 1000 / INTERVAL_MS),
            "hb_dev_max_ms": round(max(dev), 3), "hb_dev_p999_ms": round(percentile(dev, 99.9), 3),
            "hb_dev_p99_ms": round(percentile(dev, 99), 3),
            "first_up": count("unknown", "up"), "first_down": count("unknown", "down"),
            "down_to_up": count("down", "up"), "up_to_down": count("up", "down")}


def run_floor(ns, n, seconds, floor_bin):
    """The reference prober (connect_floor.c) against the same servers: the kernel's share."""
    server = start_servers(ns, "tcp", seconds + 30)
    try:
        out = subprocess.run(["ip", "netns", "exec", ns["d"], str(floor_bin), str(n), str(seconds)],
                             capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        server.terminate()
        server.wait(timeout=20)
    r = json.loads(out)
    return {"mode": "floor", "servers": n, "seconds_measured": seconds,
            "cpu_percent_of_one_core": round(r["cpu_user_percent"] + r["cpu_system_percent"], 1),
            "cpu_user_percent": r["cpu_user_percent"], "cpu_system_percent": r["cpu_system_percent"],
            "passed": r["passed"], "failed": r["failed"]}


def build_floor(tmp):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        print("floor: no C compiler (apt-get install gcc); skipped", file=sys.stderr)
        return None
    out = pathlib.Path(tmp) / "connect_floor"
    subprocess.run([cc, "-O2", "-o", str(out), str(ROOT / "integration/bench/connect_floor.c")], check=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--modes", default="none,floor,tcp,http")
    ap.add_argument("--realtime-priority", type=int, default=None,
                    help="heartbeat.realtime_priority (SCHED_FIFO) for the heartbeat thread; default: none")
    ap.add_argument("--server-realtime", type=int, default=None,
                    help="run the real servers' listener under chrt -f N (a loaded host otherwise starves it)")
    ap.add_argument("--keep-logs", default=None, help="directory to keep each mode's tandemd log in")
    ap.add_argument("--bin", default=None, help="directory holding tandemd (default: swift build --show-bin-path)")
    a = ap.parse_args()
    assert 1 <= a.servers <= 62500 and 10 <= a.seconds <= 600 and 3 <= a.warmup <= 120
    assert set(a.modes.split(",")) <= {"none", "floor", "tcp", "http"}
    bin_dir = pathlib.Path(a.bin) if a.bin else pathlib.Path(subprocess.run(
        ["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip())
    tandemd = bin_dir / "tandemd"
    if a.server_realtime:
        SERVER_PREFIX[:] = ["chrt", "-f", str(a.server_realtime)]
    tag = f"tdm-hb-{random.randrange(16**4):04x}"
    ns = {"d": f"{tag}-d", "p": f"{tag}-p"}
    for name in ns.values():
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for name in ns.values():
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", ns["d"], "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                        "netns", ns["p"]], check=True)
        for key, addr in (("d", "10.0.0.1/24"), ("p", "10.0.0.2/24")):
            subprocess.run(["ip", "-n", ns[key], "addr", "add", addr, "dev", "eth0"], check=True)
            subprocess.run(["ip", "-n", ns[key], "link", "set", "eth0", "up"], check=True)
        # Many short connections per second: allow a big accept queue and reuse of ports.
        subprocess.run(["ip", "netns", "exec", ns["d"], "sysctl", "-qw", "net.core.somaxconn=8192",
                        "net.ipv4.ip_local_port_range=10240 65000"], check=True)
        time.sleep(1)  # veth carrier up
        with tempfile.TemporaryDirectory() as tmp:
            results = {}
            for mode in a.modes.split(","):
                if mode == "floor":
                    floor_bin = build_floor(tmp)
                    if floor_bin:
                        results[mode] = run_floor(ns, a.servers, a.seconds, floor_bin)
                        print(json.dumps(results[mode]), flush=True)
                    continue
                results[mode] = run_mode(ns, mode, a.servers, a.seconds, a.warmup, tandemd, tmp, a.realtime_priority)
                print(json.dumps(results[mode]), flush=True)
                if a.keep_logs:
                    os.makedirs(a.keep_logs, exist_ok=True)
                    shutil.copy(pathlib.Path(tmp) / f"tandemd-{mode}.log", a.keep_logs)
            if "floor" in results and "tcp" in results:
                f, t = results["floor"]["cpu_percent_of_one_core"], results["tcp"]["cpu_percent_of_one_core"]
                print(json.dumps({"tcp_cpu_over_floor": round(t / f, 2) if f else None,
                                  "tcp_cpu_minus_floor_percent": round(t - f, 1)}), flush=True)
    finally:
        for name in ns.values():
            subprocess.run(["ip", "netns", "del", name])


if __name__ == "__main__":
    main()
