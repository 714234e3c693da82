#!/usr/bin/env python3
"""CPU time of loading a large config natively: `tandemctl check-config FILE` and
`tandemctl show-config FILE --format ipvsadm` on the 10,000 services x 4 real servers config that
ipvs_apply.py loads into the kernel (its `config_text`, 3.2 MB of YAML).

Each command runs N times (alternating between the binaries when several are given); a run's
figure is the user + system CPU seconds of that one process, read from os.wait4's rusage, so other
load on the host changes it little (wall time is shown too). The table gives the median and the
range. With several binaries (e.g. main's build and a branch's), their outputs on the file must be
byte-identical (stdout, stderr and exit status of both commands, of check-config --canonical and
of show-config --format json), or the script says which differs and exits 1.

Usage (after `swift build -c release --product tandemctl`):
    python3 integration/bench/config_load.py [--runs 7] [--services 10000] [--servers 4]
        [--tandemctl PATH]... [--keep FILE]
Without --tandemctl it times .build/release/tandemctl (or $TANDEMCTL).
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from ipvs_apply import TANDEMCTL, config_text  # noqa: E402

COMMANDS = {
    "check-config": lambda f: ["check-config", f],
    "show-config ipvsadm": lambda f: ["show-config", f, "--format", "ipvsadm"],
}


def timed(argv):
    """(user + sys CPU seconds, wall seconds, exit status, stdout, stderr) of one run."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return usage.ru_utime + usage.ru_stime, wall, proc.returncode, out.read(), err.read()


def outputs(binary, path):
    """Everything a binary prints for the file, to compare binaries."""
    runs = {}
    extra = [("check-config --canonical", lambda f: ["check-config", "--canonical", f]),
             ("show-config json", lambda f: ["show-config", f, "--format", "json"])]
    for name, args in list(COMMANDS.items()) + extra:
        _, _, code, out, err = timed([binary] + args(path))
        runs[name] = (code, out, err)
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--servers", type=int, default=4)
    ap.add_argument("--tandemctl", action="append", help="a tandemctl binary (repeat to compare several)")
    ap.add_argument("--keep", help="write the config here instead of a temporary file")
    args = ap.parse_args()
    binaries = args.tandemctl or [TANDEMCTL]
    for b in binaries:
        if not os.access(b, os.X_OK):
            sys.exit(f"{b}: not an executable (build it with swift build -c release --product tandemctl)")

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or os.path.join(tmp, "config.yaml")
        pathlib.Path(path).write_text(config_text(args.services, args.servers))
        size = os.path.getsize(path)
        print(f"config: {args.services} services x {args.servers} real servers, {size:,} bytes ({path})")
        try:
            load = os.getloadavg()
            print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        except OSError:
            pass

        if len(binaries) > 1:
            first = outputs(binaries[0], path)
            for b in binaries[1:]:
                other = outputs(b, path)
                for name, got in other.items():
                    if got != first[name]:
                        sys.exit(f"{name}: {b} prints something else than {binaries[0]} "
                                 f"(exit {got[0]} vs {first[name][0]}, {len(got[1])} vs {len(first[name][1])} "
                                 f"stdout bytes, {len(got[2])} vs {len(first[name][2])} stderr bytes)")
            print(f"outputs: identical across the {len(binaries)} binaries (check-config, --canonical, show-config ipvsadm and json)")

        cpu = {(b, c): [] for b in binaries for c in COMMANDS}
        wall = {(b, c): [] for b in binaries for c in COMMANDS}
        for _ in range(args.runs):
            for c, argv in COMMANDS.items():
                for b in binaries:
                    seconds, elapsed, code, _, err = timed([b] + argv(path))
                    if code != 0:
                        sys.exit(f"{b} {c} exited {code}: {err[-500:].decode(errors='replace')}")
                    cpu[(b, c)].append(seconds)
                    wall[(b, c)].append(elapsed)

        print(f"\nCPU seconds (user + sys) per run, median of {args.runs} [min-max]; wall median")
        for c in COMMANDS:
            for b in binaries:
                xs, ws = cpu[(b, c)], wall[(b, c)]
                print(f"  {c:<20} {statistics.median(xs):7.3f} s [{min(xs):.3f}-{max(xs):.3f}]"
                      f"  wall {statistics.median(ws):.3f} s  {b}")
        try:
            load = os.getloadavg()
            print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        except OSError:
            pass


if __name__ == "__main__":
    main()
