#!/usr/bin/env python3
"""The active's heartbeat thread, Tandem beside keepalived, each with and without SCHED_FIFO (issue 16).

Root, host kernel, keepalived installed. Four pairs on failover_compare.py's topology (interval
10 ms), side by side: Tandem with its default config (SCHED_FIFO 50), Tandem with
`realtime_priority: off`, keepalived with its default (no realtime), keepalived with
`vrrp_rt_priority 50`. Each round reads every active's heartbeat thread (keepalived's one thread)
from /proc/PID/task/TID/schedstat and its voluntary switches over SECS, the pairs in turn; the
medians over ROUNDS are printed last.

    python3 integration/bench/idle_scheduling.py SECS ROUNDS [TANDEMD]   (default .build/release/tandemd)
"""
import os
import sys
import time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "host"))
import idle_profile as ip, failover_compare as fc
from vip_topology import Topology
secs = float(sys.argv[1]); rounds = int(sys.argv[2])
b = sys.argv[3] if len(sys.argv) > 3 else os.path.join(HERE, "..", "..", ".build", "release", "tandemd")
impls = [("tandem-rt(default)", fc.TandemImpl(b, "default")), ("tandem-off", fc.TandemImpl(b, "off")),
         ("keepalived", fc.KeepalivedImpl("default")), ("keepalived-rt50", fc.KeepalivedImpl("50"))]
topos, made = [], []
try:
    for name, impl in impls:
        topo = Topology(); topos.append(topo)
        pair = impl.make(topo, 10); fc.settle(pair); made.append((name, pair))
    time.sleep(2)
    res = {name: [] for name, _ in made}
    for r in range(rounds):
        for name, pair in made:
            pid = pair.pids("a")[-1]; tid = ip.heartbeat_thread(pid)
            t0 = ip.thread_table([pid]); time.sleep(secs); t1 = ip.thread_table([pid])
            k = (pid, tid); cpu = t1[k][1] - t0[k][1]; w = t1[k][2] - t0[k][2]
            res[name].append((cpu / 1e6 / secs, w / secs, cpu / 1e3 / max(w, 1)))
            print(f"round {r+1} {name:20s} {pair.role('a'):8s} {cpu/1e6/secs:6.2f} ms/s {w/secs:6.1f} wake/s {cpu/1e3/max(w,1):6.1f} us", flush=True)
    for name, rows in res.items():
        ms = sorted(x[0] for x in rows); us = sorted(x[2] for x in rows)
        print(f"median {name:20s} {ms[len(ms)//2]:6.2f} ms/s {us[len(us)//2]:6.1f} us/wake")
finally:
    for _, p in made: p.close()
    for t in topos: t.close()
