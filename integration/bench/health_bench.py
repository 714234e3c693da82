#!/usr/bin/env python3
"""Health-check load: one process checks N real servers (default 5,000) every second for 60 s.

Runs in a fresh network namespace (`tdm-hb-<random>`, loopback only, removed on exit). One
asyncio server inside it listens on 0.0.0.0:8080 of the namespace; the real servers are
127.0.X.Y:8080, all of which the namespace's lo delivers to that one listener. The checker is
`tandemctl health check --watch`, which runs the daemon's HealthMonitor and NIO prober on one
event-loop thread. CPU use is read from /proc/PID/stat (utime + stime) between 5 s and the end,
so process start and config parsing are excluded.

Reports per mode (tcp, http): checker CPU as % of one core, peak RSS, number of state changes
(a healthy run has exactly N unknown→up and nothing else), and how many servers ended up.
The heartbeat-deviation comparison of issue 8 needs tandemd and is not measured here.

Usage (root, after `swift build -c release` or `swift build`):
    python3 integration/bench/health_bench.py [--servers 5000] [--seconds 60] [--modes tcp,http] [--bin DIR]
"""
import argparse
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "integration" / "host"))
from health_servers import config_yaml  # noqa: E402

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
                if mode == "tcp":
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


def addresses(n):
    for i in range(n):
        yield f"127.0.{1 + i // 250}.{1 + i % 250}"


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, clock ticks


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_mode(ns, mode, n, seconds, tandemctl, tmp):
    check = {"type": mode, "interval": "1s", "timeout": "900ms", "rise": 2, "fall": 3}
    if mode == "http":
        check["path"] = "/healthz"
    # Services of 500 real servers each (any size is valid; this keeps the file readable).
    services = []
    addrs = list(addresses(n))
    for s in range(0, n, 500):
        services.append((f"svc{s // 500}", 10000 + s // 500, check, [(a, 8080, 1) for a in addrs[s:s + 500]]))
    cfg = pathlib.Path(tmp) / f"bench-{mode}.yaml"
    cfg.write_text(config_yaml(services))

    server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, mode, str(seconds + 30)],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready"
    checker = subprocess.Popen(["ip", "netns", "exec", ns, str(tandemctl), "health", "check", str(cfg),
                                "--watch", str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        # `ip netns exec` execs the program: the pid is the checker's.
        hz = os.sysconf("SC_CLK_TCK")
        time.sleep(5)
        t0, c0 = time.monotonic(), proc_stat(checker.pid)
        peak = 0
        while checker.poll() is None and time.monotonic() - t0 < seconds:
            peak = max(peak, rss_kib(checker.pid))
            t1, c1 = time.monotonic(), proc_stat(checker.pid)
            time.sleep(0.5)
        cpu = (c1 - c0) / hz / (t1 - t0) * 100
        out, _ = checker.communicate(timeout=60)
    finally:
        for p in (checker, server):
            if p.poll() is None:
                p.kill()
                p.wait()
    events = [json.loads(l) for l in out.splitlines()]
    changes = [e for e in events if e["event"] == "change"]
    finals = [e for e in events if e["event"] == "final"]
    first_up = sum(1 for e in changes if e["old"] == "unknown" and e["new"] == "up")
    return {"mode": mode, "servers": n, "seconds_measured": round(t1 - t0, 1), "cpu_percent_of_one_core": round(cpu, 1),
            "peak_rss_mib": round(peak / 1024, 1), "changes": len(changes), "unknown_to_up": first_up,
            "flaps": len(changes) - first_up, "up_at_end": sum(1 for e in finals if e["status"] == "up"),
            "down_reasons": sorted({e["reason"] for e in finals if e["status"] != "up"})[:5]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--modes", default="tcp,http")
    ap.add_argument("--bin", default=None, help="directory holding tandemctl (default: swift build --show-bin-path)")
    a = ap.parse_args()
    assert 1 <= a.servers <= 62500 and 10 <= a.seconds <= 600
    bin_dir = pathlib.Path(a.bin) if a.bin else pathlib.Path(subprocess.run(
        ["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip())
    tandemctl = bin_dir / "tandemctl"
    ns = f"tdm-hb-{random.randrange(16**6):06x}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        # Many short connections per second: allow a big accept queue and reuse of ports.
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.core.somaxconn=8192",
                        "net.ipv4.ip_local_port_range=10240 65000"], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            for mode in a.modes.split(","):
                print(json.dumps(run_mode(ns, mode, a.servers, a.seconds, tandemctl, tmp)), flush=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    main()
