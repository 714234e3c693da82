#!/usr/bin/env python3
"""Tandem against keepalived (VRRPv3) on one namespace topology: outage, false takeovers, idle cost.

Prerequisites (root, host kernel, no IPVS needed):

    apt-get install -y keepalived              # Debian 12: Keepalived v2.2.7
    swift build -c release --product tandemd   # measure the release binary
    python3 integration/bench/failover_compare.py            # full run, about 6 minutes
    python3 integration/bench/failover_compare.py --quick    # smoke run, about 1 minute

Topology (integration/host/vip_topology.py): routers a (10.99.0.1, priority 100) and b
(10.99.0.2, priority 90) and a client c (10.99.0.100) on one bridge; VIP 10.99.0.10/24 on the
routers' eth0; heartbeats / VRRP adverts unicast over the same link. Tandem: interval 10 ms,
dead time 30 ms, HMAC heartbeats (integration/host/failover_pair.py's config). keepalived:
VRRPv3, unicast peers, advert_int 0.01 (master down = 3 × 10 ms + skew 6.5 ms for priority 90),
state BACKUP + nopreempt on both. Scheduling (--realtime): `default` runs each with its own
default config (Tandem's heartbeat thread SCHED_FIFO 50, keepalived the default scheduler), `off`
both with the default scheduler (Tandem `realtime_priority: off`), N both SCHED_FIFO N (Tandem
`realtime_priority: N`, keepalived `vrrp_rt_priority N`).

a) outage: the client pings the VIP every 1 ms (`ping -i 0.001`); the active router's link is
   cut (`ip link set pa down` on its bridge port: a router crash as the LAN sees it — the same
   method for both); outage = the longest gap between two consecutive echo replies that ends
   after the cut. --reps repetitions each, alternating which implementation goes first, every
   repetition on a fresh topology.
b) false takeovers: with a settled pair, four CPU-bound processes (time-bounded Python busy
   loops) compete for the cores for --load-seconds; counted: role changes in the daemons' logs
   after settling, and samples (every 100 ms, `ip -j addr`) where the VIP was not on a alone.
   Tandem first, then keepalived (one pair at a time, each under the same load).
c) idle cost: both pairs idle at interval 10 ms for --idle-seconds, side by side; CPU time is
   utime+stime from /proc/PID/stat (and the scheduler's ns-exact sum from /proc/PID/schedstat)
   over the window; wake-ups are the voluntary context switches of all threads (each sleep ends
   in one), and the cost per wake-up is schedstat over them; memory is VmRSS and VmHWM from /proc/PID/status at the end. keepalived's
   figures are the parent plus its VRRP child.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "host"))
sys.path.insert(0, str(HERE))

import failover_pair  # noqa: E402
from failover_pair import VIP, Pair  # noqa: E402
from keepalived_pair import KeepalivedPair  # noqa: E402
from vip_topology import Topology  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(text=""):
    print(text, flush=True)


# --- the two implementations behind one small interface ----------------------------------------

class Impl:
    name = ""

    def make(self, topo, interval_ms):
        raise NotImplementedError


PRIVATE_RUN = 'mkdir -p /run/tandem && mount -t tmpfs -o size=4m tandem /run/tandem && exec "$@"'


class PrivatePair(Pair):
    """Each tandemd in its own mount namespace (`ip netns exec` makes one) with a tmpfs on
    /run/tandem, as on its own host: the same config, no shared control socket or state."""

    def start(self, node):
        log = open(self.logs[node], "ab")
        p = self.topo.popen(node, "sh", "-c", PRIVATE_RUN, "sh", getattr(self, "tandemd", failover_pair.TANDEMD), "--config", str(self.config.path(node)),
                            "--node", failover_pair.NODES[node], stdout=log, stderr=log)
        log.close()
        self.procs[node] = p
        return p

    def close(self):
        super().close()
        shutil.rmtree(self.dir, ignore_errors=True)


class TandemImpl(Impl):
    def __init__(self, tandemd, realtime, name="tandem", dead_intervals=3.0):
        self.tandemd, self.realtime, self.name, self.dead_intervals = tandemd, realtime, name, dead_intervals

    def make(self, topo, interval_ms):
        failover_pair.TANDEMD = self.tandemd
        pair = PrivatePair(topo, interval_ms=interval_ms, dead_ms=round(self.dead_intervals * interval_ms))
        pair.tandemd = self.tandemd
        text = re.sub(r"(?m)^state_directory: .*$", "state_directory: /run/tandem/state", pair.config.read_text())
        if self.realtime != "default":
            text = text.replace("heartbeat:\n", f"heartbeat:\n  realtime_priority: {self.realtime}\n", 1)
        pair.config.write_text(text)
        pair.pids = lambda node: [pair.procs[node].pid]
        return pair


class KeepalivedImpl(Impl):
    name = "keepalived"

    def __init__(self, realtime):
        self.realtime = realtime

    def make(self, topo, interval_ms):
        priority = None if self.realtime in ("default", "off") else int(self.realtime)
        return KeepalivedPair(topo, interval_ms=interval_ms, realtime_priority=priority)


def wait_for(predicate, timeout, step=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def settle(pair, timeout=15):
    """Starts a, waits until it holds the VIP alone, starts b, waits until b is standby/backup."""
    pair.start("a")
    if not wait_for(lambda: pair.holds_vip("a") and pair.role("a") in ("active", "master"), timeout):
        raise RuntimeError(f"{type(pair).__name__}: a never became active\n{pair.log('a')[-2000:]}")
    pair.start("b")
    if not wait_for(lambda: pair.role("b") in ("standby", "backup") and pair.holders() == {"a"}, timeout):
        raise RuntimeError(f"{type(pair).__name__}: b never became standby\n{pair.log('b')[-2000:]}")
    time.sleep(0.3)     # let b's first heartbeats / adverts settle


class Pinger:
    """`ping -i 0.001` to the VIP from the client, bounded by count and deadline."""

    def __init__(self, topo, seconds):
        count = int(seconds * 1000)
        self.proc = topo.popen("c", "ping", "-n", "-D", "-i", "0.001", "-W", "1", "-c", str(count),
                               "-w", str(int(seconds) + 2), VIP,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.replies = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            m = re.match(r"\[(\d+\.\d+)\] \d+ bytes from", line)
            if m:
                self.replies.append(float(m.group(1)))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.thread.join(timeout=5)
        return self.replies


# --- a) outage ------------------------------------------------------------------------------------

def outage_once(impl, interval_ms):
    topo = Topology()
    pair = None
    try:
        pair = impl.make(topo, interval_ms)
        settle(pair)
        pinger = Pinger(topo, seconds=5)
        if not wait_for(lambda: len(pinger.replies) >= 200, 5):
            raise RuntimeError(f"{impl.name}: the client gets no replies from the VIP")
        cut = time.time()
        t0 = time.monotonic()
        topo.ip("sw", "link", "set", "pa", "down")
        took = wait_for(lambda: pair.holds_vip("b"), 5, step=0.001)
        takeover = time.monotonic() - t0 if took else None
        n = len(pinger.replies)
        wait_for(lambda: len(pinger.replies) >= n + 300, 3)
        replies = pinger.stop()
        after = [(b - a) for a, b in zip(replies, replies[1:]) if b >= cut]
        if not took or not after or replies[-1] < cut:
            raise RuntimeError(f"{impl.name}: no takeover seen by the client\n{pair.log('b')[-2000:]}")
        return max(after), takeover
    finally:
        if pair:
            pair.close()
        topo.close()


def bench_outage(impls, reps, interval_ms):
    results = {i.name: [] for i in impls}
    takeovers = {i.name: [] for i in impls}
    for rep in range(reps):
        order = impls if rep % 2 == 0 else list(reversed(impls))
        for impl in order:
            outage, takeover = outage_once(impl, interval_ms)
            results[impl.name].append(outage)
            takeovers[impl.name].append(takeover)
            say(f"  rep {rep + 1} {impl.name:10s} outage {outage * 1000:6.1f} ms   (VIP seen on b after {takeover * 1000:.1f} ms)")
    return results, takeovers


# --- b) false takeovers under CPU load ------------------------------------------------------------

def cpu_hogs(n, seconds):
    code = f"import time\ne=time.monotonic()+{seconds}\nwhile time.monotonic()<e: pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def bench_load(impl, interval_ms, seconds, hogs):
    topo = Topology()
    pair = None
    procs = []
    try:
        pair = impl.make(topo, interval_ms)
        settle(pair)
        roles_before = {n: len(pair.roles(n)) for n in ("a", "b")}
        procs = cpu_hogs(hogs, seconds + 1)
        bad_samples = samples = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if pair.holders() != {"a"}:
                bad_samples += 1
            samples += 1
            time.sleep(0.1)
        for p in procs:
            p.wait(timeout=seconds + 10)
        changes = {n: pair.roles(n)[roles_before[n]:] for n in ("a", "b")}
        return changes, bad_samples, samples
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        if pair:
            pair.close()
        topo.close()


# --- c) idle CPU and memory -----------------------------------------------------------------------

def proc_cpu(pid):
    """(utime+stime seconds, schedstat on-CPU seconds) of a process and all its threads."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])          # utime, stime (fields 14 and 15)
    sched = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    for task in Path(f"/proc/{pid}/task").iterdir():   # schedstat of the main file is the main thread only
        if task.name != str(pid):
            sched += int((task / "schedstat").read_text().split()[0])
    return ticks / CLK_TCK, sched / 1e9


def proc_wakeups(pid):
    """Voluntary context switches of a process, all threads: each is one sleep, so one wake-up."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        total += int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.M).group(1))
    return total


def proc_mem(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    get = lambda key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1))
    return get("VmRSS"), get("VmHWM")


def bench_idle(impls, interval_ms, seconds):
    topos, pairs = [], []
    try:
        for impl in impls:
            topo = Topology()
            topos.append(topo)
            pair = impl.make(topo, interval_ms)
            pairs.append(pair)
            settle(pair)
        time.sleep(1)
        pids = [{n: pair.pids(n) for n in ("a", "b")} for pair in pairs]
        before = [{n: [proc_cpu(p) + (proc_wakeups(p),) for p in ps[n]] for n in ps} for ps in pids]
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        after = [{n: [proc_cpu(p) + (proc_wakeups(p),) for p in ps[n]] for n in ps} for ps in pids]
        out = {}
        for impl, pair, ps, b, a in zip(impls, pairs, pids, before, after):
            for n in ("a", "b"):
                ticks = sum(x[0] for x in a[n]) - sum(x[0] for x in b[n])
                sched = sum(x[1] for x in a[n]) - sum(x[1] for x in b[n])
                wakes = sum(x[2] for x in a[n]) - sum(x[2] for x in b[n])
                mem = [proc_mem(p) for p in ps[n]]
                out[(impl.name, n)] = dict(role=pair.role(n), cpu=ticks, sched=sched, elapsed=elapsed,
                                           rss=sum(m[0] for m in mem), hwm=sum(m[1] for m in mem), procs=len(ps[n]),
                                           wakes=wakes)
        return out
    finally:
        for pair in pairs:
            pair.close()
        for topo in topos:
            topo.close()


# --- main -----------------------------------------------------------------------------------------

def ms(values):
    return " ".join(f"{v * 1000:.1f}" for v in values)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=7, help="outage repetitions per implementation (default 7)")
    ap.add_argument("--load-seconds", type=float, default=60)
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--hogs", type=int, default=4, help="CPU-bound processes during the load test (default 4)")
    ap.add_argument("--interval-ms", type=int, default=10)
    ap.add_argument("--realtime", default="default", metavar="default|off|PRIO",
                    help="default: each its own default (Tandem SCHED_FIFO 50, keepalived none); off: both the "
                         "default scheduler; PRIO: both SCHED_FIFO PRIO")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 reps, 10 s load, 10 s idle")
    ap.add_argument("--only", default="outage,load,idle", help="comma list of outage,load,idle")
    ap.add_argument("--tandemd", default=str(HERE.parents[1] / ".build" / "release" / "tandemd"))
    ap.add_argument("--dead-intervals", type=float, default=3.0, metavar="X",
                    help="Tandem's dead time in intervals (default 3, its default; at least 2): for the dead-time table")
    ap.add_argument("--no-keepalived", action="store_true", help="measure Tandem (and --baseline) only")
    ap.add_argument("--baseline", metavar="TANDEMD",
                    help="another tandemd (an older build) measured in the same run as 'baseline', same config")
    ap.add_argument("--baseline-realtime", metavar="default|off|PRIO",
                    help="the baseline's realtime_priority (default: --realtime's; builds before issue 16 know no 'off' "
                         "and run the default scheduler by default: give them 'default')")
    args = ap.parse_args()
    for option, value in (("--realtime", args.realtime), ("--baseline-realtime", args.baseline_realtime)):
        if value is not None and value not in ("default", "off") and not (value.isdigit() and 1 <= int(value) <= 99):
            raise SystemExit(f"{option} takes default, off or a priority 1-99, not {value!r}")
    if args.quick:
        args.reps, args.load_seconds, args.idle_seconds = 2, 10, 10
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    if not Path(args.tandemd).exists():
        raise SystemExit(f"{args.tandemd} missing: swift build -c release --product tandemd")
    only = set(args.only.split(","))
    if args.dead_intervals < 2:
        raise SystemExit("--dead-intervals must be at least 2 (tandemd refuses a dead time not longer than the interval, and warns under 2)")
    impls = [TandemImpl(args.tandemd, args.realtime, dead_intervals=args.dead_intervals)]
    if args.baseline:
        if not Path(args.baseline).exists():
            raise SystemExit(f"--baseline {args.baseline} does not exist")
        impls.append(TandemImpl(args.baseline, args.baseline_realtime or args.realtime, name="baseline",
                                dead_intervals=args.dead_intervals))
    if not args.no_keepalived:
        impls.append(KeepalivedImpl(args.realtime))
    kv = subprocess.run(["keepalived", "--version"], capture_output=True, text=True)
    say(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}  tandemd {args.tandemd}  "
        f"{(kv.stderr or kv.stdout).splitlines()[0]}  kernel {os.uname().release}  cpus {os.cpu_count()}  "
        f"{'baseline ' + args.baseline + ' (realtime ' + (args.baseline_realtime or args.realtime) + ')  ' if args.baseline else ''}load {os.getloadavg()[0]:.2f}  interval {args.interval_ms} ms  "
        f"tandem dead time {round(args.dead_intervals * args.interval_ms)} ms  realtime {args.realtime}")
    rows = []
    if "outage" in only:
        say(f"\na) client-observed outage, active's link cut, {args.reps} reps each, alternating")
        res, _ = bench_outage(impls, args.reps, args.interval_ms)
        med = {k: statistics.median(v) for k, v in res.items()}
        for k, v in res.items():
            rows.append((f"outage {k}", f"{med[k] * 1000:.1f} ms", ms(v)))
        if "keepalived" in med:
            ratio = med["tandem"] / med["keepalived"]
            verdict = "met (aim 0.8 " + ("met)" if ratio <= 0.8 else "not met)") if ratio <= 1.0 else "NOT met"
            rows.append(("outage ratio tandem/keepalived", f"{ratio:.2f}", f"goal <= 1.0 {verdict}"))
    if "load" in only:
        for impl in impls:
            say(f"\nb) {impl.name}: {args.hogs} CPU hogs for {args.load_seconds:.0f} s, interval {args.interval_ms} ms")
            changes, bad, samples = bench_load(impl, args.interval_ms, args.load_seconds, args.hogs)
            n = len(changes["a"]) + len(changes["b"])
            takeovers = sum(1 for c in changes["b"] if (c[1] if isinstance(c, tuple) else c) in ("active", "master"))
            say(f"  role changes a: {len(changes['a'])}  b: {len(changes['b'])} ({takeovers} to active/master); "
                f"first: {changes['b'][:2]}; VIP not on a alone in {bad}/{samples} samples")
            rows.append((f"false takeovers {impl.name}", f"{takeovers} ({n} role changes)",
                         f"VIP off 'a only' in {bad}/{samples} samples of ip -j addr every 100 ms (goal 0)"))
    if "idle" in only:
        say(f"\nc) idle pairs side by side, {args.idle_seconds:.0f} s")
        res = bench_idle(impls, args.interval_ms, args.idle_seconds)
        for (name, node), r in res.items():
            rows.append((f"idle {name} {node} ({r['role']})",
                         f"cpu {r['cpu']:.2f} s ({100 * r['cpu'] / r['elapsed']:.2f}%)",
                         f"schedstat {r['sched']:.3f} s; {r['wakes'] / r['elapsed']:.0f} wake-ups/s, "
                         f"{1e6 * r['sched'] / max(r['wakes'], 1):.0f} µs each; VmRSS {r['rss'] / 1024:.1f} MiB VmHWM {r['hwm'] / 1024:.1f} MiB"
                         + (f" ({r['procs']} processes)" if r["procs"] > 1 else "")))
    say("\n" + "\n".join(f"{a:34s} {b:24s} {c}" for a, b, c in rows))


if __name__ == "__main__":
    main()
