#!/usr/bin/env python3
"""A settled pair's standby heartbeat thread, two Tandem builds beside keepalived (issue 16).

Root, host kernel, keepalived installed. Three pairs on failover_compare.py's topology (interval
10 ms, each daemon's default scheduling), side by side: Tandem built from BASE, Tandem built from
NEW, keepalived. Each round reads, in turn, every standby's heartbeat thread (keepalived's backup
process) and keepalived's master from /proc/PID/task/TID/schedstat and its voluntary switches over
SECS; medians over ROUNDS come last. The goal compares each node with keepalived's master.

    python3 integration/bench/idle_standby.py SECS ROUNDS BASE NEW
"""
import os
import sys
import time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "host"))
import idle_profile as ip, failover_compare as fc  # noqa: E402
from vip_topology import Topology  # noqa: E402

secs, rounds, base, new = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
impls = [("tandem-base", fc.TandemImpl(base, "default"), "b"), ("tandem-new", fc.TandemImpl(new, "default"), "b"),
         ("keepalived-backup", fc.KeepalivedImpl("default"), "b")]
topos, made = [], []
try:
    for name, impl, node in impls:
        topo = Topology(); topos.append(topo)
        pair = impl.make(topo, 10); fc.settle(pair); made.append((name, pair, node))
    made.append(("keepalived-master", made[-1][1], "a"))
    time.sleep(2)
    res = {name: [] for name, _, _ in made}
    for r in range(rounds):
        for name, pair, node in made:
            pid = pair.pids(node)[-1]; tid = ip.heartbeat_thread(pid)
            t0 = ip.thread_table([pid]); time.sleep(secs); t1 = ip.thread_table([pid])
            k = (pid, tid); cpu = t1[k][1] - t0[k][1]; w = t1[k][2] - t0[k][2]
            res[name].append((cpu / 1e6 / secs, cpu / 1e3 / max(w, 1)))
            print(f"round {r+1} {name:18s} {pair.role(node):8s} {cpu/1e6/secs:6.2f} ms/s {w/secs:6.1f} wake/s {cpu/1e3/max(w,1):6.1f} us",
                  flush=True)
    for name, rows in res.items():
        ms = sorted(x[0] for x in rows); us = sorted(x[1] for x in rows)
        print(f"median {name:18s} {ms[len(ms)//2]:6.2f} ms/s {us[len(us)//2]:6.1f} us/wake")
finally:
    for _, p, _ in made[:3]: p.close()
    for t in topos: t.close()
