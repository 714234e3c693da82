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

`keepalived` is keepalived's checker (Debian 12: v2.2.7) on the same work: `keepalived -n -l -D -G
-C` (health-checker subsystem only) with one `virtual_server` per 500 real servers (lb_kind NAT),
the same 127.0.X.Y:8080 addresses, `delay_loop 1`, `TCP_CHECK { connect_timeout 0.9; retry 2 }`.
Without IPVS its checker process exits at start-up ("IPVS: Can't initialize ipvs", exit FATAL)
before any check, so it runs with ipvs_sockopt_shim.c preloaded (compiled with cc at run time):
keepalived's IPVS socket options succeed without doing anything; its checks are its own. Measured:
the checker child (pid file -c), its parent apart. It sends no heartbeats (no peer in that mode).
A tandemd mode written `MODE@b` runs the tandemd of --bin-b, for before/after in one run.

Reported per mode, over the measured window (after a warm-up of --warmup seconds, so start-up,
config parsing and the first burst of results are excluded):
- tandemd's (keepalived's checker's) CPU as % of one core (utime + stime from /proc/PID/stat, and
  each), peak RSS; the listener's CPU (how a prober closes decides which side the kernel charges
  for the teardown);
- connections the listener accepted per second (mean, min, max over the whole seconds of the
  window): every mode shown doing the same work;
- heartbeat gaps at the peer: worst |gap - 10 ms|, the 99.9th and 99th percentiles, and the
  number of heartbeats against the number expected;
- health changes from the daemon's log over the whole run: first results up and down
  (`unknown -> up|down`), recoveries (`down -> up`) and losses (`up -> down`; a healthy run has none);
  for keepalived, its `TCP connection to … success` / `TCP_CHECK on service … failed` lines.
At the end, a table with each prober's CPU per check above the floor, in µs:
(CPU − floor CPU) / accepted connections per second (and the same with the listener's CPU added).

Usage (root; build first: `swift build -c release --product tandemd`):
    python3 integration/bench/health_bench.py [--servers 5000] [--seconds 60] [--modes none,floor,tcp,http]
                                              [--bin .build/release] [--warmup 8] [--realtime-priority 50]
                                              [--bin-b DIR] [--perf tcp --perf-dir DIR]
    modes: none, floor, tcp, http, keepalived (apt-get install -y keepalived); none/tcp/http@b
"""
import argparse
import json
import math
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
# Counts the connections it accepts per wall-clock second; on SIGTERM (or at the end of its
# lifetime) prints them as one JSON line {second: count}, so every mode shows the checks made.
import json, resource, selectors, signal, socket, sys, time
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
mode, end = sys.argv[1], time.monotonic() + float(sys.argv[2])
accepted = {}
def stop(*_):
    global end
    end = 0
signal.signal(signal.SIGTERM, stop)
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
            second, n = int(time.time()), 0
            for _ in range(512):
                try:
                    c, _ = ls.accept()
                except (BlockingIOError, ConnectionAbortedError):
                    break
                n += 1
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
            continue
        accepted[second] = accepted.get(second, 0) + n
print(json.dumps(accepted), flush=True)
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


def stop_servers(server):
    """Stops the listener; its accepted connections per wall-clock second, {second: count}."""
    if server.poll() is None:
        server.terminate()
    try:
        out = server.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        server.kill()
        out = server.communicate()[0]
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return {int(k): v for k, v in json.loads(lines[-1]).items()} if lines else {}


def accept_rate(accepted, wall0, wall1):
    """Connections accepted per second over the whole seconds inside [wall0, wall1]: mean, min, max."""
    counts = [accepted.get(second, 0) for second in range(math.ceil(wall0), math.floor(wall1))]
    if not counts:
        return {"accepts_per_s": None, "accepts_per_s_min": None, "accepts_per_s_max": None}
    return {"accepts_per_s": round(sum(counts) / len(counts)), "accepts_per_s_min": min(counts),
            "accepts_per_s_max": max(counts)}


def keepalived_conf(n, tmp):
    """keepalived's checker on the same work as tandemd's tcp mode: the same services of 500
    real servers (127.0.X.Y:8080), a TCP connect to each every second (delay_loop 1), timeout
    0.9 s, down after 3 failures in a row (retry 2: the check and two retries)."""
    lines = ["global_defs {", "    router_id tdm-bench", "}"]
    addrs = list(addresses(n))
    for s in range(0, n, 500):
        lines += [f"virtual_server 10.0.0.10 {10000 + s // 500} {{", "    delay_loop 1", "    lb_algo rr",
                  "    lb_kind NAT", "    protocol TCP"]
        for a in addrs[s:s + 500]:
            lines += [f"    real_server {a} 8080 {{", "        weight 1", "        TCP_CHECK {",
                      "            connect_timeout 0.9", "            retry 2", "        }", "    }"]
        lines.append("}")
    path = pathlib.Path(tmp) / "keepalived.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def build_shim(tmp):
    """ipvs_sockopt_shim.so (LD_PRELOAD): answers keepalived's IPVS calls on this IPVS-less host."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise SystemExit("keepalived mode: no C compiler for ipvs_sockopt_shim.c (apt-get install gcc)")
    out = pathlib.Path(tmp) / "ipvs_sockopt_shim.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(out), str(ROOT / "integration/bench/ipvs_sockopt_shim.c"), "-ldl"],
                   check=True)
    return out


def start_tandemd(ns, mode, n, tandemd, tmp, realtime, log):
    cfg = config_yaml(mode, n, tmp, realtime)
    return subprocess.Popen(["ip", "netns", "exec", ns["d"], str(tandemd), "--config", str(cfg), "--node", "a",
                             "--log-level", "debug"], stdout=log, stderr=subprocess.STDOUT)


def start_keepalived(ns, n, tmp, log):
    """keepalived's health-checker subsystem only (-C), in the foreground, logging to the console
    (-l -D -G); with the IPVS shim preloaded (see ipvs_sockopt_shim.c: without it the checker exits
    at start-up on this host, "IPVS: Can't initialize ipvs", before any check)."""
    keepalived = shutil.which("keepalived") or "/usr/sbin/keepalived"
    if not pathlib.Path(keepalived).exists():
        raise SystemExit("keepalived mode: keepalived not found (apt-get install -y keepalived)")
    shim, conf = build_shim(tmp), keepalived_conf(n, tmp)
    return subprocess.Popen(["ip", "netns", "exec", ns["d"], "env", f"LD_PRELOAD={shim}", keepalived, "-n", "-l", "-D", "-G",
                             "-C", "-f", str(conf), "-p", f"{tmp}/keepalived.pid", "-c", f"{tmp}/keepalived-checkers.pid",
                             "-r", f"{tmp}/keepalived-vrrp.pid", "-i", "tdm-bench"], stdout=log, stderr=subprocess.STDOUT)


def keepalived_checker_pid(tmp):
    try:
        return int((pathlib.Path(tmp) / "keepalived-checkers.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def health_changes(mode, log):
    """First results and later changes, from tandemd's or keepalived's log."""
    if mode == "keepalived":
        # keepalived logs a success when a checker goes up (the first time, or after a failure) and
        # a failure when it goes down (after its retries); see check_tcp.c's tcp_epilog.
        events = re.findall(r"(TCP connection to|TCP_CHECK on service) \[([^\]]+)\]:tcp:8080 .*?(success|failed)", log)
        seen, first_up, first_down, down_up, up_down = set(), 0, 0, 0, 0
        for _, server, outcome in events:
            if server not in seen:
                seen.add(server)
                first_up += outcome == "success"
                first_down += outcome == "failed"
            elif outcome == "success":
                down_up += 1
            else:
                up_down += 1
        return {"first_up": first_up, "first_down": first_down, "down_to_up": down_up, "up_to_down": up_down}
    changes = re.findall(r"real server \S+ of service \S+: (\w+) -> (\w+)", log)
    count = lambda old, new: sum(1 for c in changes if c == (old, new))
    return {"first_up": count("unknown", "up"), "first_down": count("unknown", "down"),
            "down_to_up": count("down", "up"), "up_to_down": count("up", "down")}


def run_mode(ns, label, n, seconds, warmup, tandemd, tmp, realtime, perf_dir=None):
    """One tandemd mode (none, tcp, http) or keepalived's checker, on a fresh listener (and, for
    tandemd, a fresh heartbeat peer); `label` is the mode, `@b` for the second tandemd."""
    mode = label.partition("@")[0]
    total = warmup + seconds
    server = start_servers(ns, mode if mode != "keepalived" else "tcp", total + 30)
    peer = None
    if mode != "keepalived":
        peer = subprocess.Popen(["ip", "netns", "exec", ns["p"], sys.executable, "-c", PEER, str(HB_PORT), str(total + 2)],
                                stdout=subprocess.PIPE, text=True)
        assert peer.stdout.readline().strip() == "ready"
    log_path = pathlib.Path(tmp) / f"{'keepalived' if mode == 'keepalived' else 'tandemd-' + label}.log"
    with open(log_path, "w") as log:
        if mode == "keepalived":
            proc = start_keepalived(ns, n, tmp, log)
        else:
            proc = start_tandemd(ns, mode, n, tandemd, tmp, realtime, log)
    perf = None
    accepted, stamps = {}, []
    try:
        # `ip netns exec` (and env) exec the program: proc.pid is tandemd's, or keepalived's parent.
        hz = os.sysconf("SC_CLK_TCK")
        time.sleep(warmup)
        assert proc.poll() is None, log_path.read_text()[-3000:]
        # Measured: tandemd; keepalived's checker child (the parent only supervises; shown apart).
        pid = keepalived_checker_pid(tmp) if mode == "keepalived" else proc.pid
        assert pid, f"no keepalived checker pid: {log_path.read_text()[-3000:]}"
        if perf_dir:
            os.makedirs(perf_dir, exist_ok=True)
            perf = subprocess.Popen(["perf", "record", "-g", "-o", f"{perf_dir}/perf-{label}.data", "-p", str(pid),
                                     "--", "sleep", str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0, (u0, s0), wall0 = time.monotonic(), proc_stat(pid), time.time()
        parent0 = sum(proc_stat(proc.pid)) if pid != proc.pid else 0
        listener0 = sum(proc_stat(server.pid))
        peak = parent_peak = 0
        while proc.poll() is None and time.monotonic() - t0 < seconds:
            peak = max(peak, rss_kib(pid))
            parent_peak = max(parent_peak, rss_kib(proc.pid))
            t1, (u1, s1), wall1 = time.monotonic(), proc_stat(pid), time.time()
            parent1 = sum(proc_stat(proc.pid)) if pid != proc.pid else 0
            listener1 = sum(proc_stat(server.pid))
            time.sleep(0.5)
        assert proc.poll() is None, log_path.read_text()[-3000:]
        user, system = ((b - a) / hz / (t1 - t0) * 100 for a, b in ((u0, u1), (s0, s1)))
        if peer:
            stamps = json.loads(peer.communicate(timeout=60)[0].strip() or "[]")
    finally:
        if perf:
            perf.wait(timeout=120)
        for p in (proc, peer):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        accepted = stop_servers(server)
    result = {"mode": label, "servers": n, "realtime_priority": realtime if peer else None,
              "seconds_measured": round(t1 - t0, 1),
              "cpu_percent_of_one_core": round(user + system, 1), "cpu_user_percent": round(user, 1),
              "cpu_system_percent": round(system, 1), "peak_rss_mib": round(peak / 1024, 1),
              "listener_cpu_percent": round((listener1 - listener0) / hz / (t1 - t0) * 100, 1)}
    if pid != proc.pid:
        result["parent_cpu_percent"] = round((parent1 - parent0) / hz / (t1 - t0) * 100, 1)
        result["parent_peak_rss_mib"] = round(parent_peak / 1024, 1)
    result.update(accept_rate(accepted, wall0, wall1))
    if peer:
        window = [t for t in stamps if wall0 <= t <= wall1]
        gaps = [(b - a) * 1000 for a, b in zip(window, window[1:])]
        dev = [abs(g - INTERVAL_MS) for g in gaps] or [float("nan")]
        result.update({"heartbeats": len(window), "heartbeats_expected": int((wall1 - wall0) * 1000 / INTERVAL_MS),
                       "hb_dev_max_ms": round(max(dev), 3), "hb_dev_p999_ms": round(percentile(dev, 99.9), 3),
                       "hb_dev_p99_ms": round(percentile(dev, 99), 3)})
    result.update(health_changes(mode, log_path.read_text(errors="replace")))
    return result


def run_floor(ns, n, seconds, floor_bin):
    """The reference prober (connect_floor.c) against the same servers: the kernel's share."""
    server = start_servers(ns, "tcp", seconds + 30)
    try:
        wall0, listener0 = time.time(), sum(proc_stat(server.pid))
        out = subprocess.run(["ip", "netns", "exec", ns["d"], str(floor_bin), str(n), str(seconds)],
                             capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        wall1, listener1 = time.time(), sum(proc_stat(server.pid))
    finally:
        accepted = stop_servers(server)
    r = json.loads(out)
    result = {"mode": "floor", "servers": n, "seconds_measured": seconds,
              "cpu_percent_of_one_core": round(r["cpu_user_percent"] + r["cpu_system_percent"], 1),
              "cpu_user_percent": r["cpu_user_percent"], "cpu_system_percent": r["cpu_system_percent"],
              "passed": r["passed"], "failed": r["failed"],
              "listener_cpu_percent": round((listener1 - listener0) / os.sysconf("SC_CLK_TCK") / (wall1 - wall0) * 100, 1)}
    # The first and last second are partial (the prober starts and stops in them).
    result.update(accept_rate(accepted, wall0 + 1, wall1 - 1))
    return result


def build_floor(tmp):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        print("floor: no C compiler (apt-get install gcc); skipped", file=sys.stderr)
        return None
    out = pathlib.Path(tmp) / "connect_floor"
    subprocess.run([cc, "-O2", "-o", str(out), str(ROOT / "integration/bench/connect_floor.c")], check=True)
    return out


def summary(results):
    """One table of the figures, and each prober's cost per check above the floor."""
    floor = results.get("floor")
    print("mode           CPU % (user+sys)       peak RSS  listener  accepts/s (min-max)  |gap-10ms| max/p99.9/p99 ms   "
          "hb rx/exp   flaps  us/check over floor (with listener)", flush=True)
    for label, r in results.items():
        cpu = f"{r['cpu_percent_of_one_core']:5.1f} ({r['cpu_user_percent']:.1f} + {r['cpu_system_percent']:.1f})"
        rss = f"{r['peak_rss_mib']:6.1f} MiB" if "peak_rss_mib" in r else "         -"
        acc = (f"{r['accepts_per_s']:5d} ({r['accepts_per_s_min']}-{r['accepts_per_s_max']})"
               if r.get("accepts_per_s") is not None else "-")
        hb = (f"{r['hb_dev_max_ms']:.1f} / {r['hb_dev_p999_ms']:.1f} / {r['hb_dev_p99_ms']:.1f}"
              if "hb_dev_max_ms" in r else "-")
        rx = f"{r['heartbeats']}/{r['heartbeats_expected']}" if "heartbeats" in r else "-"
        flaps = r["down_to_up"] + r["up_to_down"] if "down_to_up" in r else "-"
        over = "-"
        # (CPU - floor CPU) / checks: µs of CPU per check that the prober adds to what the kernel
        # charges; then the same with the listener's CPU added on both sides (how a prober closes
        # decides which side the kernel charges for the teardown: a reset costs the prober, a FIN
        # partly the listener).
        if floor and label != "floor" and r.get("accepts_per_s") and label.partition("@")[0] in ("tcp", "keepalived"):
            per_check = lambda cpu: cpu / 100 / r["accepts_per_s"] * 1e6
            own = r["cpu_percent_of_one_core"] - floor["cpu_percent_of_one_core"]
            both = own + r["listener_cpu_percent"] - floor["listener_cpu_percent"]
            over = f"{per_check(own):.1f} ({per_check(both):.1f})"
        listener = f"{r['listener_cpu_percent']:5.1f} %"
        print(f"{label:<14} {cpu:<22} {rss}  {listener}  {acc:<20} {hb:<29} {rx:<11} {flaps!s:<6} {over}", flush=True)
        if "parent_cpu_percent" in r:
            print(f"{'':<14} (keepalived parent: {r['parent_cpu_percent']}% CPU, {r['parent_peak_rss_mib']} MiB; "
                  "figures above are its checker child)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--modes", default="none,floor,tcp,http",
                    help="none, floor, tcp, http, keepalived; none/tcp/http@b run the --bin-b tandemd")
    ap.add_argument("--realtime-priority", type=int, default=None,
                    help="heartbeat.realtime_priority (SCHED_FIFO) for the heartbeat thread; default: none")
    ap.add_argument("--server-realtime", type=int, default=None,
                    help="run the real servers' listener under chrt -f N (a loaded host otherwise starves it)")
    ap.add_argument("--keep-logs", default=None, help="directory to keep each mode's tandemd (keepalived) log in")
    ap.add_argument("--bin", default=None, help="directory holding tandemd (default: swift build --show-bin-path)")
    ap.add_argument("--bin-b", default=None, help="directory holding a second tandemd, for modes written MODE@b")
    ap.add_argument("--perf", default="", help="modes to profile over their measured window (perf record -g -p PID; "
                                                "their CPU figures then include perf's own cost)")
    ap.add_argument("--perf-dir", default="perf-health", help="where --perf writes perf-MODE.data")
    a = ap.parse_args()
    modes = a.modes.split(",")
    assert 1 <= a.servers <= 62500 and 10 <= a.seconds <= 600 and 3 <= a.warmup <= 120
    assert len(set(modes)) == len(modes)
    for m in modes:
        base, _, variant = m.partition("@")
        assert base in {"none", "floor", "tcp", "http", "keepalived"} and variant in ("", "b"), m
        assert not variant or (base in {"none", "tcp", "http"} and a.bin_b), f"{m}: needs --bin-b and a tandemd mode"
    bin_dir = pathlib.Path(a.bin) if a.bin else pathlib.Path(subprocess.run(
        ["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip())
    binaries = {"": bin_dir / "tandemd", "b": pathlib.Path(a.bin_b or ".") / "tandemd"}
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
        print(json.dumps({"binaries": {k or "a": str(v) for k, v in binaries.items() if not k or a.bin_b},
                          "loadavg_start": os.getloadavg()}), flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            results = {}
            for mode in modes:
                if mode == "floor":
                    floor_bin = build_floor(tmp)
                    if floor_bin:
                        results[mode] = run_floor(ns, a.servers, a.seconds, floor_bin)
                        print(json.dumps(results[mode]), flush=True)
                    continue
                variant = mode.partition("@")[2]
                results[mode] = run_mode(ns, mode, a.servers, a.seconds, a.warmup, binaries[variant], tmp,
                                         a.realtime_priority, a.perf_dir if mode in a.perf.split(",") else None)
                results[mode]["loadavg"] = os.getloadavg()
                print(json.dumps(results[mode]), flush=True)
                if a.keep_logs:
                    os.makedirs(a.keep_logs, exist_ok=True)
                    name = "keepalived.log" if mode == "keepalived" else f"tandemd-{mode}.log"
                    shutil.copy(pathlib.Path(tmp) / name, a.keep_logs)
            if "floor" in results and "tcp" in results:
                f, t = results["floor"]["cpu_percent_of_one_core"], results["tcp"]["cpu_percent_of_one_core"]
                print(json.dumps({"tcp_cpu_over_floor": round(t / f, 2) if f else None,
                                  "tcp_cpu_minus_floor_percent": round(t - f, 1)}), flush=True)
            summary(results)
            print(json.dumps({"loadavg_end": os.getloadavg()}), flush=True)
    finally:
        for name in ns.values():
            subprocess.run(["ip", "netns", "del", name])

if __name__ == "__main__":
    main()
