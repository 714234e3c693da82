#!/usr/bin/env python3
"""Where an idle pair's CPU goes, per thread, Tandem beside keepalived (issue 16).

Root, host kernel; keepalived installed (apt-get install keepalived); perf for `perf` and
`mallocs` (apt-get install linux-perf). Each mode starts a fresh Tandem pair and a fresh
keepalived pair on failover_compare.py's topology (interval 10 ms, each with its default
scheduling), lets them settle, measures, and tears them down.

    python3 integration/bench/idle_profile.py threads [--binary PATH] [--seconds 10]
        Every thread of each daemon: CPU from /proc/PID/task/TID/schedstat, voluntary context
        switches (wake-ups) and CPU per wake-up, over --seconds, node by node.
    python3 integration/bench/idle_profile.py perf [--binary PATH] [--seconds 8] [--out DIR] [--node a|b]
        `perf record -e cpu-clock -F 20000 -g` of each active's heartbeat thread (keepalived's
        one thread; --node b: each standby's, keepalived's backup); then `perf report -i
        DIR/perf-tandem-a.data --no-children --sort dso` splits kernel and user samples.
    python3 integration/bench/idle_profile.py mallocs [--binary PATH] [--seconds 3]
        Calls to libc's malloc by each Tandem node's heartbeat thread (a perf uprobe, added once
        with `perf probe -x <libc> malloc`), against its wake-ups.

--binary: the tandemd to measure (default: .build/release/tandemd; packaging/build-deb ships the
static build of it). Figures of earlier runs: integration/bench/README.md, issue 16 sections.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "host"))
import failover_compare as fc  # noqa: E402
from vip_topology import Topology  # noqa: E402

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def thread_table(pids):
    """{(pid, tid): (comm, cpu ns, voluntary switches)} of every thread of `pids`."""
    out = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                comm = (task / "comm").read_text().strip()
                cpu = int((task / "schedstat").read_text().split()[0])
                wakes = next(int(line.split()[1]) for line in (task / "status").read_text().splitlines()
                             if line.startswith("voluntary_ctxt_switches"))
                out[(pid, task.name)] = (comm, cpu, wakes)
            except (OSError, StopIteration, ValueError):
                pass  # the thread ended meanwhile
    return out


def heartbeat_thread(pid):
    """The TID of tandemd's heartbeat thread, or keepalived's main thread."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        if (task / "comm").read_text().strip() in ("heartbeat", "keepalived"):
            return task.name
    raise SystemExit(f"no heartbeat thread in process {pid}")


def pairs(binary, with_keepalived=True):
    impls = [fc.TandemImpl(binary, "default")] + ([fc.KeepalivedImpl("default")] if with_keepalived else [])
    topos, made = [], []
    try:
        for impl in impls:
            topo = Topology()
            topos.append(topo)
            pair = impl.make(topo, 10)
            made.append((impl, pair))
            fc.settle(pair)
        time.sleep(2)
        yield made
    finally:
        for _, pair in made:
            pair.close()
        for topo in topos:
            topo.close()


def threads(args):
    for made in pairs(args.binary):
        for impl, pair in made:
            for node in ("a", "b"):
                pids = pair.pids(node)
                before = thread_table(pids)
                time.sleep(args.seconds)
                after = thread_table(pids)
                print(f"== {impl.name} {node} ({pair.role(node)})")
                total = 0
                for key, (comm, cpu, wakes) in sorted(after.items(), key=lambda kv: -(kv[1][1] - before.get(kv[0], ("", 0, 0))[1])):
                    _, cpu0, wakes0 = before.get(key, (comm, 0, 0))
                    ns, w = cpu - cpu0, wakes - wakes0
                    total += ns
                    if ns or w:
                        print(f"  {comm:20s} cpu {ns / 1e6 / args.seconds:7.2f} ms/s  wake-ups {w / args.seconds:7.1f}/s  "
                              f"{ns / 1e3 / max(w, 1):7.1f} µs each")
                print(f"  total {total / 1e6 / args.seconds:.2f} ms/s")


def perf(args):
    os.makedirs(args.out, exist_ok=True)
    for made in pairs(args.binary):
        for impl, pair in made:
            tid = heartbeat_thread(pair.pids(args.node)[-1])
            data = os.path.join(args.out, f"perf-{impl.name}-{args.node}.data")
            subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "20000", "-g", "-o", data, "-t", tid,
                            "--", "sleep", str(args.seconds)], capture_output=True, check=True)
            split = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso", "-q", "-g", "none"],
                                   capture_output=True, text=True).stdout
            print(f"== {impl.name} {args.node} ({pair.role(args.node)}): {data}\n{split}")


def mallocs(args):
    probes = subprocess.run(["perf", "probe", "-l"], capture_output=True, text=True).stdout
    if "probe_libc:malloc" not in probes:
        subprocess.run(["perf", "probe", "-x", LIBC, "malloc"], capture_output=True, check=True)
    for made in pairs(args.binary, with_keepalived=False):
        for _, pair in made:
            for node in ("a", "b"):
                tid = heartbeat_thread(pair.pids(node)[-1])
                r = subprocess.run(["perf", "stat", "-x", ",", "-e", "probe_libc:malloc,context-switches", "-t", tid,
                                    "--", "sleep", str(args.seconds)], capture_output=True, text=True)
                counts = {line.split(",")[2]: int(line.split(",")[0]) for line in r.stderr.splitlines()
                          if line.count(",") >= 2 and line.split(",")[0].isdigit()}
                m, w = counts.get("probe_libc:malloc", 0), counts.get("context-switches", 0)
                print(f"tandem {node} ({pair.role(node)}): {m} mallocs, {w} wake-ups in {args.seconds} s: {m / max(w, 1):.1f} per wake-up")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["threads", "perf", "mallocs"])
    ap.add_argument("--binary", default=str(HERE.parent.parent / ".build/release/tandemd"))
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--out", default="/tmp/tandem-idle-profile")
    ap.add_argument("--node", choices=["a", "b"], default="a",
                    help="perf: the node whose heartbeat thread is recorded (a: the active/master, b: the standby/backup)")
    args = ap.parse_args()
    args.seconds = args.seconds or {"threads": 10, "perf": 8, "mallocs": 3}[args.mode]
    if args.mode == "mallocs":
        args.seconds = int(args.seconds)
    {"threads": threads, "perf": perf, "mallocs": mallocs}[args.mode](args)


if __name__ == "__main__":
    main()
