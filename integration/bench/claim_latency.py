#!/usr/bin/env python3
"""Time from the start of a VIP claim to its first announcement on the wire.

For each run: tcpdump (nanosecond timestamps) listens on router B's eth0 in B's namespace,
`tandemctl vip claim` adds the VIP and announces it once, printing `start_ns` (CLOCK_REALTIME taken
just before the address is added); the figure is the first captured announcement's timestamp
minus start_ns. tcpdump stamps an outgoing frame when the kernel hands it to the device, so this
is claim start → frame leaving. Both clocks are the same CLOCK_REALTIME.

"warm": sockets opened before the start timestamp (as tandemd holds them open);
"cold": the rtnetlink and packet sockets are opened inside the measured interval.

Usage (root, after `swift build`):  python3 integration/bench/claim_latency.py [-n 21]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "host"))
from vip_topology import VIP4, VIP6, Capture, Topology  # noqa: E402


def measure(topo, vip, cold):
    bpf = "arp" if ":" not in vip else "icmp6 and ip6[40] == 136"
    cap = Capture(topo, "b", bpf)
    args = ["vip", "claim", "--interface", "eth0", vip, "--announce-repeat", "1", "--second-burst", "none"]
    if cold:
        args.append("--cold")
    out = topo.tandemctl("b", *args)
    frames = cap.stop()
    topo.tandemctl("b", "vip", "release", "--interface", "eth0", vip)
    if not frames:
        raise RuntimeError("no announcement captured")
    claim = out[0]
    return ((frames[0][0] - claim["start_ns"]) / 1000, (claim["added_ns"] - claim["start_ns"]) / 1000,
            (frames[0][0] - claim["added_ns"]) / 1000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=21, help="runs per case (default 21)")
    args = parser.parse_args()
    topo = Topology()
    try:
        print("claim start → first announcement on the wire, µs; then its two parts (medians):")
        print("kernel add = RTM_NEWADDR request until ACK; announce = ACK until the frame leaves")
        print(f"{'case':<12} {'median':>8} {'p90':>8} {'min':>8} {'max':>8} {'kernel add':>11} {'announce':>9}")
        for vip in (VIP4, VIP6):
            for cold in (False, True):
                runs = [measure(topo, vip, cold) for _ in range(max(1, min(args.n, 500)))]
                wire = sorted(r[0] for r in runs)
                add = statistics.median(r[1] for r in runs)
                announce = statistics.median(r[2] for r in runs)
                name = ("IPv4 " if ":" not in vip else "IPv6 ") + ("cold" if cold else "warm")
                p90 = wire[min(len(wire) - 1, int(len(wire) * 0.9))]
                print(f"{name:<12} {statistics.median(wire):>8.1f} {p90:>8.1f} {wire[0]:>8.1f} {wire[-1]:>8.1f}"
                      f" {add:>11.1f} {announce:>9.1f}")
    finally:
        topo.close()


if __name__ == "__main__":
    main()
