#!/usr/bin/env python3
"""Time the mirroring of a 10,000-service config between two real tandemd (host kernel, root).

Builds the failover test topology (network namespaces, integration/host/vip_topology.py), gives
both routers the same big config (integration/bench/ipvs_apply.py's generator: 40 VIPs x 250
ports, 4 real servers each; about 3 MB of YAML), starts them, then N times: rewrites rb's file
with the next serial and one changed weight, sends rb SIGHUP, and measures until ra's file holds
the new bytes (polled every 5 ms) and until ra logged that it applied it. Also prints the split
ra logs: fetch (handshake + transfer) and validate+write+reload. The host kernel has no IPVS, so
the daemons log IPVS errors; mirroring does not depend on IPVS.

Usage (root, after `swift build` or `swift build -c release`; TANDEMD/TANDEMCTL pick the binaries):
    python3 integration/bench/replication_bench.py [--services 10000] [--servers 4] [--runs 3]
"""
import argparse
import os
import re
import signal
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "host"))
sys.path.insert(0, str(HERE))
from vip_topology import Topology  # noqa: E402
from replication_pair import ReplicaPair  # noqa: E402
import ipvs_apply  # noqa: E402


def big_config(pair, serial, services, servers, weight):
    generated = ipvs_apply.config_text(services, servers, changed_weight=weight).splitlines()
    vips = generated[generated.index("virtual_ips:") + 1:generated.index("virtual_servers:")]
    vips = [line.replace("interface: eth1", "interface: eth0") for line in vips]
    body = "\n".join(generated[generated.index("virtual_servers:"):]) + "\n"
    base = pair.config_text(serial=serial)
    return base.replace("virtual_ips:\n", "virtual_ips:\n" + "\n".join(vips) + "\n") + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--servers", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    topo = Topology()
    pair = None
    try:
        pair = ReplicaPair(topo, interval_ms=100, dead_ms=1000,
                           texts=lambda p: {n: big_config(p, 1, args.services, args.servers, None) for n in ("a", "b")})
        size = pair.configs["a"].stat().st_size
        print(f"config: {args.services} services x {args.servers} real servers, {size / 1e6:.2f} MB")
        t = time.monotonic()
        pair.start("a")
        pair.start("b")
        pair.wait_for(lambda: pair.role("a") == "active" and pair.role("b") == "standby", timeout=300, step=0.05,
                      what="ra active, rb standby")
        print(f"both daemons up and settled in {time.monotonic() - t:.1f} s")
        files, applied, fetch_ms, apply_ms = [], [], [], []
        for run in range(args.runs):
            serial = run + 2
            text = big_config(pair, serial, args.services, args.servers, weight=serial)
            pair.configs["b"].write_text(text)
            expected = text.encode()
            t0 = time.monotonic()
            pair.signal("b", signal.SIGHUP)
            pair.wait_for(lambda: pair.configs["a"].stat().st_size == len(expected) and pair.configs["a"].read_bytes() == expected,
                          timeout=400, step=0.005, what=f"ra's file at serial {serial}")
            files.append(time.monotonic() - t0)
            marker = f"applied rb's config serial {serial} "
            pair.wait_for(lambda: marker in pair.log("a"), timeout=400, step=0.005, what=f"ra applied serial {serial}")
            applied.append(time.monotonic() - t0)
            line = next(l for l in pair.log("a").splitlines() if marker in l)
            m = re.search(r"fetched in (\d+) ms, validated, written and reloaded in (\d+) ms", line)
            fetch_ms.append(int(m.group(1)))
            apply_ms.append(int(m.group(2)))
            print(f"run {run + 1}: serial {serial}: ra's file identical after {files[-1] * 1000:.0f} ms, applied after "
                  f"{applied[-1] * 1000:.0f} ms (ra: fetch {fetch_ms[-1]} ms, validate+write+reload {apply_ms[-1]} ms)")
        print(f"median over {args.runs}: file {statistics.median(files) * 1000:.0f} ms, applied {statistics.median(applied) * 1000:.0f} ms, "
              f"fetch {statistics.median(fetch_ms)} ms, validate+write+reload {statistics.median(apply_ms)} ms "
              f"(from rb's SIGHUP: includes rb's own reload and up to one heartbeat interval + one 200 ms poll)")
        assert pair.digest("a") == pair.digest("b")
    finally:
        if pair:
            pair.close()
        topo.close()


if __name__ == "__main__":
    main()
