#!/usr/bin/env python3
"""Does scraping /metrics at 10 Hz change a failover? Outage and heartbeat timing, with and without.

    swift build -c release --product tandemd
    python3 integration/bench/metrics_scrape.py            # root, host kernel, about 2 minutes
    #   --reps N (default 5 per mode)  --tandemd PATH  --hz 10

Topology and pair as failover_compare.py (routers a and b, client c on one bridge; interval
10 ms, dead time 30 ms, HMAC heartbeats; each tandemd in its own mount namespace), plus
`metrics: {listen: [10.99.0.1:9539, 10.99.0.2:9539]}`. Each repetition runs on a fresh topology,
alternating the two modes:
- idle: nobody scrapes;
- scraped: from the client, a scraper GETs /metrics of both routers every 1/hz s (new connection
  each time, 200 ms timeout), from settling until the end.
Measured per repetition:
- heartbeat deviation: a's heartbeats to b captured on b's eth0 (tcpdump, ns timestamps) for 3 s
  of the settled pair: |inter-arrival - interval|, p50 / p99 / max;
- outage: the client pings the VIP every 1 ms; a's link is cut (`ip link set pa down`); the
  longest gap between echo replies that ends after the cut.
Prints each repetition and the medians per mode. Not a test: nothing fails on a figure.
"""
import argparse
import statistics
import struct
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "host"))
sys.path.insert(0, str(HERE))

from failover_compare import Pinger, TandemImpl, settle, wait_for  # noqa: E402
from vip_topology import Capture, Topology  # noqa: E402

METRICS_PORT = 9539
INTERVAL_MS = 10

SCRAPER = r"""
import socket, sys, time
hz, seconds, hosts = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
ok = failed = 0
end = time.monotonic() + seconds
next_at = time.monotonic()
while time.monotonic() < end:
    for host in hosts:
        try:
            with socket.create_connection((host, %d), timeout=0.2) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            ok += data.startswith(b"HTTP/1.1 200")
        except OSError:
            failed += 1
    next_at += 1 / hz
    time.sleep(max(0, next_at - time.monotonic()))
print(ok, failed)
""" % METRICS_PORT


def heartbeat_deviation(topo, port, seconds=3.0):
    """|inter-arrival - interval| of a's heartbeats seen on b's eth0, in ms."""
    capture = Capture(topo, "b", f"udp and src host 10.99.0.1 and dst port {port}")
    time.sleep(seconds)
    frames = capture.stop()
    stamps = [t for t, frame in frames if len(frame) > 42 and struct.unpack("!H", frame[12:14])[0] == 0x0800]
    return [abs((b - a) / 1e6 - INTERVAL_MS) for a, b in zip(stamps, stamps[1:])]


def once(impl, scraped, hz):
    topo = Topology()
    pair = None
    scraper = None
    try:
        pair = impl.make(topo, INTERVAL_MS)
        pair.config.write_text(pair.config.read_text()
                               + f"metrics: {{listen: [10.99.0.1:{METRICS_PORT}, 10.99.0.2:{METRICS_PORT}]}}\n")
        settle(pair)
        if scraped:
            scraper = topo.popen("c", "python3", "-c", SCRAPER, str(hz), "12", "10.99.0.1", "10.99.0.2",
                                 stdout=__import__("subprocess").PIPE, text=True)
            time.sleep(0.5)
        deviation = heartbeat_deviation(topo, pair.port)
        pinger = Pinger(topo, seconds=5)
        if not wait_for(lambda: len(pinger.replies) >= 200, 5):
            raise RuntimeError("the client gets no replies from the VIP")
        cut = time.time()
        topo.ip("sw", "link", "set", "pa", "down")
        if not wait_for(lambda: pair.holds_vip("b"), 5, step=0.001):
            raise RuntimeError(f"no takeover\n{pair.log('b')[-2000:]}")
        n = len(pinger.replies)
        wait_for(lambda: len(pinger.replies) >= n + 300, 3)
        replies = pinger.stop()
        gaps = [(b - a) for a, b in zip(replies, replies[1:]) if b >= cut]
        scrapes = None
        if scraper:
            out, _ = scraper.communicate(timeout=30)
            scrapes = out.strip()
        return max(gaps) * 1000, deviation, scrapes
    finally:
        if scraper and scraper.poll() is None:
            scraper.kill()
            scraper.wait(timeout=5)
        if pair:
            pair.close()
        topo.close()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--hz", type=float, default=10)
    parser.add_argument("--tandemd", default=str(HERE.parents[1] / ".build" / "release" / "tandemd"))
    args = parser.parse_args()
    impl = TandemImpl(args.tandemd, realtime=None)
    results = {"idle": [], "scraped": []}
    for rep in range(args.reps):
        for mode in (("idle", "scraped") if rep % 2 == 0 else ("scraped", "idle")):
            outage, deviation, scrapes = once(impl, mode == "scraped", args.hz)
            results[mode].append((outage, deviation))
            print(f"rep {rep + 1} {mode:8} outage {outage:6.1f} ms  heartbeat deviation p50 {pct(deviation, 50):.3f} "
                  f"p99 {pct(deviation, 99):.3f} max {max(deviation):.3f} ms ({len(deviation)} gaps)"
                  + (f"  scrapes ok/failed {scrapes}" if scrapes else ""), flush=True)
    print()
    for mode, runs in results.items():
        outages = [o for o, _ in runs]
        deviations = [d for _, dev in runs for d in dev]
        print(f"{mode:8} outage median {statistics.median(outages):6.1f} ms (all: {' '.join(f'{o:.1f}' for o in outages)}); "
              f"heartbeat deviation p50 {pct(deviations, 50):.3f} p99 {pct(deviations, 99):.3f} max {max(deviations):.3f} ms")


if __name__ == "__main__":
    main()
