#!/usr/bin/env python3
"""Load 10,000 IPVS services x 4 real servers with `tandemctl ipvs apply` and with `ipvsadm -R`.

Run on the host: it boots ONE throwaway VM (integration/vm/run) and runs itself inside it. In the VM:
  1. writes a valid config (40 VIPs x 250 TCP ports, wrr, 4 NAT real servers each on 10.20.0.0/16,
     a nat_gateway VIP) and its `ipvsadm -R` input, `tandemctl show-config FILE --format ipvsadm`
     (the exact ipvsadm-save text of the table the config describes);
  2. alternating, N times each: empty IPVS as after boot (flush, unload and load ip_vs again: a
     flushed table's real servers linger on the kernel's trash list, which slows every later add),
     time `tandemctl ipvs apply FILE` into it, check `ipvsadm -S -n` equals the show-config text;
     the same for `ipvsadm -R < FILE`;
  3. times an unchanged re-apply (goal: 0 kernel writes) and, after changing one real server's
     weight in the config, the re-apply (goal: 1 write), each checked against ipvsadm -S -n;
  4. times the pieces of an apply without writes, to show where the time goes: loading the config
     (`check-config`), dumping the table (`ipvs show`), a `--dry-run` into the full and the empty table.
  5. two floors under those figures: the start-up of the binary alone (`tandemctl --help`) and a
     read of the whole table (`ipvs show`; IPVS answers real servers per service only).
With `--compare PATH` a second tandemctl (for instance the shipped build: `--static-swift-stdlib`,
as packaging/build-deb makes it) is timed beside the first in the same VM, alternating, for the
apply, both re-applies and the start-up.
Kernel writes are read from tandemctl's own report (`applied N of M changes ... in B batches`, one
sendmsg per batch; `nothing to change` is 0 writes).

Every wall time is of the whole command (process start, config parse, dump, plan, writes, exit),
taken with time.monotonic() around it inside the VM. The VM runs under software emulation on the
development hosts, so absolute times are several times a real machine's; compare within one run.

Usage (after `swift build -c release --product tandemctl`):
    python3 integration/bench/ipvs_apply.py [--runs 3] [--services 10000] [--servers 4] [--compare TANDEMCTL]
"""
import argparse
import os
import pathlib
import resource
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
TANDEMCTL = os.environ.get("TANDEMCTL") or str(ROOT / ".build" / "release" / "tandemctl")
# A second tandemctl timed beside the first (`--compare`); empty: none.
COMPARE = os.environ.get("TANDEMCTL_COMPARE", "")
PORTS_PER_VIP = 250


def config_text(services, servers, changed_weight=None):
    """The YAML config: services spread over VIPs 198.18.0.1... with PORTS_PER_VIP ports each.
    `changed_weight` gives service 0's first real server that weight instead of 1."""
    vips = (services + PORTS_PER_VIP - 1) // PORTS_PER_VIP
    lines = ["serial: 1",
             "nodes:",
             "  - {name: lvs1, addresses: [192.0.2.1], priority: 150}",
             "  - {name: lvs2, addresses: [192.0.2.2], priority: 100}",
             "heartbeat: {interval: 1s, dead_time: 3s, auth: none}",
             "virtual_ips:"]
    lines += [f"  - {{address: 198.18.{v // 250}.{v % 250 + 1}/16, interface: eth0}}" for v in range(vips)]
    lines += ["  - {address: 10.20.0.1/16, interface: eth1, nat_gateway: true}",
              "virtual_servers:"]
    for s in range(services):
        v, p = divmod(s, PORTS_PER_VIP)
        port = 1000 + p
        lines += [f"  - name: s{s}",
                  f"    address: 198.18.{v // 250}.{v % 250 + 1}",
                  f"    port: {port}",
                  "    scheduler: wrr",
                  "    forwarding: nat",
                  "    real_servers:"]
        for r in range(servers):
            weight = changed_weight if (s == 0 and r == 0 and changed_weight is not None) else 1
            lines.append(f"      - {{address: 10.20.{v % 250}.{r + 2}, port: {port}, weight: {weight}}}")
    return "\n".join(lines) + "\n"


def run(args, stdin=None, timeout=1200):
    """Runs a command; returns (seconds, CompletedProcess). Fails loudly on a non-zero exit.

    The process's own CPU is kept on the result as `user` and `sys` (seconds, from `wait4`'s
    rusage): its `sys` is what the kernel spent on its behalf (netlink, IPVS), which no tool
    talking to this kernel can go under."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            raise
        # communicate() reaped the child: the children's total grew by its rusage.
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = time.monotonic() - start
    proc = subprocess.CompletedProcess(args, child.returncode, out, err)
    proc.user = usage.ru_utime - before.ru_utime
    proc.sys = usage.ru_stime - before.ru_stime
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(args)} exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed, proc


def fresh_ipvs():
    """An empty IPVS as after boot: flush, then unload and load the modules again.

    A flush alone leaves every deleted real server on the kernel's dest trash for two minutes
    or more (net/netfilter/ipvs/ip_vs_ctl.c: IP_VS_DEST_TRASH_PERIOD), and each real server added
    later first searches that list linearly (`ip_vs_trash_get_dest`): 40,000 of them cost an
    add of 40,000 real servers about 20 s in this VM. Without this the first load of a run
    found an empty trash and every later one (of either tool) a full one. Returns whether the
    modules were reloaded (False: built in or in use, and the load carries the trash)."""
    run(["ipvsadm", "-C"])
    loaded = [line.split()[0] for line in pathlib.Path("/proc/modules").read_text().splitlines()
              if line.startswith("ip_vs")]
    schedulers = [m for m in loaded if m != "ip_vs"]
    gone = subprocess.run(["modprobe", "-r", *schedulers, "ip_vs"], capture_output=True).returncode == 0
    run(["modprobe", "ip_vs"])
    return gone


def saved():
    return run(["ipvsadm", "-S", "-n"])[1].stdout


def check_table(expected, what):
    got = saved()
    if got != expected:
        a, b = got.splitlines(), expected.splitlines()
        diff = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        raise SystemExit(f"after {what}: ipvsadm -S -n differs from show-config at line {diff + 1} "
                         f"({len(a)} vs {len(b)} lines): {a[diff:diff + 1]} vs {b[diff:diff + 1]}")


def writes(stdout):
    """(changes written, sendmsg calls) from tandemctl ipvs apply's report."""
    if stdout.startswith("nothing to change"):
        return 0, 0
    m = re.search(r"^applied (\d+) of (\d+) changes .* in (\d+) batch", stdout, re.M)
    if not m:
        raise SystemExit(f"no 'applied N of M changes ... in B batches' line in:\n{stdout[-1000:]}")
    if m.group(1) != m.group(2):
        raise SystemExit(f"some changes failed: {m.group(0)}")
    return int(m.group(2)), int(m.group(3))


def in_vm(args):
    services, servers = args.services, args.servers
    subprocess.run(["modprobe", "ip_vs"], check=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="tdm-bench-"))
    config = work / "bench.yaml"
    config.write_text(config_text(services, servers))
    changed = work / "bench-changed.yaml"
    changed.write_text(config_text(services, servers, changed_weight=7))
    _, check = run([TANDEMCTL, "check-config", str(config)])
    if "warning" in (check.stdout + check.stderr).lower():
        raise SystemExit(f"check-config warns:\n{check.stdout}{check.stderr}")
    restore = work / "bench.ipvsadm"
    expected = run([TANDEMCTL, "show-config", str(config), "--format", "ipvsadm"])[1].stdout
    restore.write_text(expected)
    expected_changed = run([TANDEMCTL, "show-config", str(changed), "--format", "ipvsadm"])[1].stdout
    lines = expected.splitlines()
    adds = sum(1 for line in lines if line.startswith("-A "))
    dests = sum(1 for line in lines if line.startswith("-a "))
    assert (adds, dests) == (services, services * servers), (adds, dests)
    print(f"table: {adds} services, {dests} real servers; config {config.stat().st_size} bytes; "
          f"tandemctl {TANDEMCTL}", flush=True)

    binaries = [TANDEMCTL] + ([COMPARE] if COMPARE else [])
    label = {TANDEMCTL: "tandemctl"} | ({COMPARE: "compare"} if COMPARE else {})
    if COMPARE:
        print(f"compare {COMPARE}", flush=True)
    applies = {b: [] for b in binaries}
    ipvsadm = []
    cpu = {}  # measure -> [(user, sys)] of its runs
    reloaded = True
    b = 0
    for i in range(args.runs):
        for binary in binaries:
            reloaded &= fresh_ipvs()
            t, proc = run([binary, "ipvs", "apply", str(config)])
            n, b = writes(proc.stdout)
            assert n == services * (servers + 1), (n, proc.stdout[-300:])
            check_table(expected, f"{label[binary]} ipvs apply (run {i + 1})")
            applies[binary].append(t)
            cpu.setdefault(f"{label[binary]} ipvs apply", []).append((proc.user, proc.sys))
            print(f"run {i + 1}: {label[binary]} ipvs apply {t:.3f} s ({n} changes, {b} sendmsg)", flush=True)
        reloaded &= fresh_ipvs()
        with open(restore) as f:
            t, proc = run(["ipvsadm", "-R"], stdin=f)
        cpu.setdefault("ipvsadm -R", []).append((proc.user, proc.sys))
        check_table(expected, f"ipvsadm -R (run {i + 1})")
        ipvsadm.append(t)
        print(f"run {i + 1}: ipvsadm -R {t:.3f} s", flush=True)
    tandem = applies[TANDEMCTL]

    # The table now holds what ipvsadm -R loaded: Tandem adopts it without writing. Each binary
    # then changes one weight: the first to the changed config, the second back to the original.
    reapply = {}
    for binary in binaries:
        t_same, proc = run([binary, "ipvs", "apply", str(config)])
        same_writes, same_batches = writes(proc.stdout)
        check_table(expected, f"{label[binary]}'s unchanged re-apply")
        reapply[binary] = (t_same, same_writes, same_batches)
        cpu[f"{label[binary]} unchanged re-apply"] = [(proc.user, proc.sys)]
    one = {}
    for binary, target, table in zip(binaries, [changed, config], [expected_changed, expected]):
        t_one, proc = run([binary, "ipvs", "apply", str(target)])
        one_writes, one_batches = writes(proc.stdout)
        check_table(table, f"{label[binary]}'s one-weight re-apply")
        one[binary] = (t_one, one_writes, one_batches)
        cpu[f"{label[binary]} one-weight re-apply"] = [(proc.user, proc.sys)]
    t_same, same_writes, same_batches = reapply[TANDEMCTL]
    t_one, one_writes, one_batches = one[TANDEMCTL]
    if len(binaries) == 2:  # leave the changed table, as without --compare
        run([TANDEMCTL, "ipvs", "apply", str(changed)])

    # Where an apply's time goes, without writes (full table, then empty table).
    startup = {binary: statistics.median(run([binary, "--help"])[0] for _ in range(3)) for binary in binaries}
    t_load, proc = run([TANDEMCTL, "check-config", str(config)])
    cpu["tandemctl check-config"] = [(proc.user, proc.sys)]
    t_show, proc = run([TANDEMCTL, "ipvs", "show"])
    cpu["tandemctl ipvs show"] = [(proc.user, proc.sys)]
    t_dry_full, _ = run([TANDEMCTL, "ipvs", "apply", "--dry-run", str(changed)])
    t_save, proc = run(["ipvsadm", "-S", "-n"])
    cpu["ipvsadm -S -n"] = [(proc.user, proc.sys)]
    run(["ipvsadm", "-C"])
    t_dry_empty, _ = run([TANDEMCTL, "ipvs", "apply", "--dry-run", str(config)])

    med_t, med_i = statistics.median(tandem), statistics.median(ipvsadm)
    ratio = med_t / med_i
    print()
    print(f"IPVS load: {services} services x {servers} real servers "
          f"({services * (servers + 1)} kernel objects), {args.runs} runs each, alternating, "
          + ("each into a freshly loaded ip_vs module" if reloaded
             else "ip_vs could not be unloaded: loads after the first met the flushed real servers' trash"))
    print(f"{'measure':<34} {'median':>9}  {'all runs (s)':<28} {'writes':>7} {'sendmsg':>8}  goal")
    fmt = lambda xs: " ".join(f"{x:.3f}" for x in xs)  # noqa: E731
    print(f"{'tandemctl ipvs apply (empty)':<34} {med_t:>8.3f}s  {fmt(tandem):<28} "
          f"{services * (servers + 1):>7} {b:>8}")
    print(f"{'ipvsadm -R (empty)':<34} {med_i:>8.3f}s  {fmt(ipvsadm):<28} "
          f"{services * (servers + 1):>7} {services * (servers + 1):>8}")
    met = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    print(f"{'ratio tandem / ipvsadm -R':<34} {ratio:>9.3f}  {'':<28} {'':>7} {'':>8}  <= 0.15 {met(ratio <= 0.15)}")
    print(f"{'unchanged re-apply':<34} {t_same:>8.3f}s  {'':<28} {same_writes:>7} {same_batches:>8}  0 writes "
          f"{met(same_writes == 0)}")
    print(f"{'  ratio to ipvsadm -R':<34} {t_same / med_i:>9.3f}  {'':<28} {'':>7} {'':>8}  <= 0.1 {met(t_same / med_i <= 0.1)}")
    print(f"{'one-weight change re-apply':<34} {t_one:>8.3f}s  {'':<28} {one_writes:>7} {one_batches:>8}  1 write "
          f"{met(one_writes == 1)}")
    print(f"{'  ratio to ipvsadm -R':<34} {t_one / med_i:>9.3f}  {'':<28} {'':>7} {'':>8}  <= 0.1 {met(t_one / med_i <= 0.1)}")
    print()
    print("pieces (no writes):")
    print(f"  tandemctl check-config (parse + validate) {t_load:.3f} s")
    print(f"  tandemctl ipvs show (dump + render)       {t_show:.3f} s")
    print(f"  ipvsadm -S -n (dump + print)              {t_save:.3f} s")
    print(f"  apply --dry-run, full table (load+dump+plan) {t_dry_full:.3f} s")
    print(f"  apply --dry-run, empty table (load+plan+print plan) {t_dry_empty:.3f} s")
    print()
    print("floors (what no apply can go under, in this VM):")
    print(f"  reading the table: ipvs show {t_show:.3f} s = {t_show / med_i:.3f} x ipvsadm -R, "
          f"ipvsadm -S -n {t_save / med_i:.3f} x (a re-apply's goal: 0.1)")
    for binary in binaries:
        print(f"  start-up of {label[binary]} (--help, median of 3) {startup[binary]:.3f} s = "
              f"{startup[binary] / med_i:.3f} x ipvsadm -R")
    print()
    print("CPU of each command (user / sys seconds, median over its runs; sys is the kernel's work on its behalf:")
    print("netlink and IPVS, the floor of any tool on this kernel):")
    for measure, pairs in cpu.items():
        user = statistics.median(u for u, _ in pairs)
        system = statistics.median(k for _, k in pairs)
        print(f"  {measure:<34} user {user:7.3f} s  sys {system:7.3f} s = {system / med_i:.3f} x ipvsadm -R's wall time")
    if COMPARE:
        print()
        print(f"side by side ({TANDEMCTL} against {COMPARE}):")
        for binary in binaries:
            a = statistics.median(applies[binary])
            print(f"  {label[binary]:<9} apply {a:.3f} s ({a / med_i:.3f}; {fmt(applies[binary])}), "
                  f"unchanged {reapply[binary][0]:.3f} s ({reapply[binary][0] / med_i:.3f}, {reapply[binary][1]} writes), "
                  f"one weight {one[binary][0]:.3f} s ({one[binary][0] / med_i:.3f}, {one[binary][1]} writes), "
                  f"start-up {startup[binary]:.3f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed loads per tool, alternating (default 3)")
    parser.add_argument("--services", type=int, default=10_000, help="virtual services (default 10000)")
    parser.add_argument("--servers", type=int, default=4, help="real servers per service (default 4)")
    parser.add_argument("--compare", metavar="TANDEMCTL", default=COMPARE,
                        help="a second tandemctl to time beside the first (e.g. a --static-swift-stdlib build)")
    parser.add_argument("--in-vm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.runs <= 20 or not 1 <= args.services <= 62_500 or not 1 <= args.servers <= 200:
        parser.error("--runs 1-20, --services 1-62500, --servers 1-200")
    if args.in_vm or os.environ.get("TANDEM_IN_VM"):
        in_vm(args)
        return
    for binary in [TANDEMCTL] + ([args.compare] if args.compare else []):
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"{binary} missing: run `swift build -c release --product tandemctl` first")
    python = sys.executable
    inner = [python, str(pathlib.Path(__file__).resolve()), "--in-vm", "--runs", str(args.runs),
             "--services", str(args.services), "--servers", str(args.servers)]
    cmd = [str(ROOT / "integration" / "vm" / "run"), "--mem", "2G", "--timeout", "3000", "--",
           f"TANDEMCTL={shlex.quote(TANDEMCTL)} TANDEMCTL_COMPARE={shlex.quote(args.compare or '')} "
           f"PYTHONDONTWRITEBYTECODE=1 {shlex.join(inner)}"]
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
