#!/usr/bin/env python3
"""Idle memory of one tandemd (issue 16): VmRSS and where it lives, threads, mapped libraries.

    python3 integration/bench/idle_memory.py [--seconds 10] TANDEMD [TANDEMD ...]

Each binary runs alone, as node ra of a VIP-only pair with HMAC heartbeats every 10 ms, in a
network namespace of its own (a veth for eth0, the peer rb a static neighbour that never
answers, so ra becomes active and keeps sending). After --seconds the script reads
/proc/PID/status and /proc/PID/smaps, prints one block per binary and stops it. Root only.

RssFile counts the binary's own text pages too: on a host whose disk has a large read-ahead
(`/sys/block/*/queue/read_ahead_kb`) the kernel maps more of a large binary than it touches,
so compare binaries on the same host, and read RssAnon for what the daemon itself allocates.
"""
import argparse
import collections
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

CONFIG = """serial: 1
nodes:
  - {{name: ra, addresses: [10.98.0.1], priority: 100}}
  - {{name: rb, addresses: [10.98.0.2], priority: 90}}
heartbeat:
  port: 20694
  interval: 10ms
  dead_time: 30ms
  key_file: {key}
announce: {{repeat: 3, second_burst_delay: 1s}}
virtual_ips:
  - {{address: 10.98.0.10/24, interface: eth0}}
state_directory: {dir}/state
"""


def run(*args):
    subprocess.run(args, check=True)


def smaps_by_file(pid):
    """Resident kB per mapped file (anonymous mappings as [anon]), largest first."""
    rss, name = collections.Counter(), "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            name = head[5] if len(head) > 5 else "[anon]"
        elif head[0] == "Rss:":
            rss[name] += int(head[1])
    return rss.most_common()


def measure(binary, seconds):
    ns = f"tdm-mem{os.getpid()}"
    d = Path(tempfile.mkdtemp(prefix="tdm-mem-"))
    key = d / "key"
    key.write_bytes(secrets.token_bytes(32))
    key.chmod(0o600)
    config = d / "tandem.yaml"
    config.write_text(CONFIG.format(key=key, dir=d))
    run("ip", "netns", "add", ns)
    proc = None
    try:
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        run("ip", "-n", ns, "addr", "add", "10.98.0.1/24", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "link", "set", "eth1", "up")
        run("ip", "-n", ns, "neigh", "add", "10.98.0.2", "lladdr", "02:00:00:00:00:02", "dev", "eth0")
        log = open(d / "log", "wb")
        proc = subprocess.Popen(["ip", "netns", "exec", ns, binary, "--config", str(config), "--node", "ra",
                                 "--control-socket", str(d / "ctl.sock"), "--state-directory", str(d / "st")],
                                stdout=log, stderr=log)
        time.sleep(seconds)
        if proc.poll() is not None:
            raise SystemExit(f"{binary} exited: {(d / 'log').read_text()[-2000:]}")
        status = dict(line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines())
        print(f"== {binary} ({os.path.getsize(binary) / 1e6:.1f} MB)")
        print("  " + "  ".join(f"{k} {status[k].strip()}" for k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmSize")))
        names = collections.Counter(Path(f"/proc/{proc.pid}/task/{t}/comm").read_text().strip()
                                    for t in os.listdir(f"/proc/{proc.pid}/task"))
        print(f"  threads {status['Threads'].strip()}: " + ", ".join(f"{n} {c}" for c, n in sorted(names.items())))
        top = [(Path(f).name if f != "[anon]" else f, kb) for f, kb in smaps_by_file(proc.pid)[:8]]
        print("  resident by mapping: " + ", ".join(f"{f} {kb} kB" for f, kb in top))
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()  # a graceful stop: no peer to hand over to, so it exits at once
            proc.wait(timeout=20)
        subprocess.run(["ip", "netns", "del", ns])
        subprocess.run(["rm", "-rf", str(d)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    for b in args.binaries:
        measure(os.path.abspath(b), args.seconds)


if __name__ == "__main__":
    main()
