"""/metrics' IPVS families against `ipvsadm -Ln --stats --exact`, for a NAT service with traffic.

test_control_ipvs.py's pair (the lab's topology, r1 active, `web` 192.0.2.10:80 → rs1 and rs2
port 8080, NAT) with `metrics.listen: 127.0.0.1:9539` (inside each router's namespace); the
client makes 30 HTTP requests through the VIP; then r1's /metrics and ipvsadm in r1's namespace
must report the same connections, packets, bytes, active and inactive connections and weights,
with node_exporter's label names and values.
"""
import re
import time

from test_control_ipvs import lab, start_pair  # noqa: F401 (lab: the pytest fixture, used by name)

URL = "http://127.0.0.1:9539/metrics"


def scrape(lab):
    r = lab.ex("r1", "curl", "-s", "--max-time", "10", URL)
    samples = {}
    for line in r.stdout.splitlines():
        if line.startswith("tandem_ipvs_"):
            series, value = line.rsplit(" ", 1)
            name, _, labels = series.partition("{")
            samples[(name, frozenset(re.findall(r'(\w+)="([^"]*)"', labels)))] = float(value)
    return samples


def ipvsadm_stats(lab):
    """{('TCP', '192.0.2.10:80', None | '10.20.0.11:8080'): (conns, inpkts, outpkts, inbytes, outbytes)}."""
    out, current = {}, None
    for line in lab.ex("r1", "ipvsadm", "-Ln", "--stats", "--exact").stdout.splitlines():
        fields = line.split()
        if len(fields) == 7 and fields[0] in ("TCP", "UDP"):
            current = (fields[0], fields[1])
            out[(*current, None)] = tuple(int(f) for f in fields[2:])
        elif len(fields) == 7 and fields[0] == "->" and current:
            out[(*current, fields[1])] = tuple(int(f) for f in fields[2:])
    return out


def ipvsadm_list(lab):
    """{'10.20.0.11:8080': (weight, active, inactive)} of `ipvsadm -Ln`."""
    out = {}
    for line in lab.ex("r1", "ipvsadm", "-Ln").stdout.splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[0] == "->" and fields[1] != "RemoteAddress:Port":
            out[fields[1]] = (int(fields[3]), int(fields[4]), int(fields[5]))
    return out


def test_ipvs_families_match_ipvsadm(lab):
    m = lab.module
    start_pair(lab, tail="metrics: {listen: 127.0.0.1:9539}\n")
    for n in range(30):
        r = lab.ex("client", "curl", "-s", "--max-time", str(5 * m.SLOW), "http://192.0.2.10/", check=False)
        assert r.returncode == 0 and "served by" in r.stdout, (n, r.stderr, lab.dump_logs())
    time.sleep(1)   # the last FINs and ACKs
    # The kernel's counters only grow while packets pass; read until two scrapes agree around ipvsadm.
    for _ in range(10):
        before, stats, listed, after = scrape(lab), ipvsadm_stats(lab), ipvsadm_list(lab), scrape(lab)
        if before == after:
            break
        time.sleep(0.5)
    assert before == after, "the counters kept changing"
    service = {("service", "web"), ("local_address", "192.0.2.10"), ("local_port", "80"), ("local_mark", ""), ("proto", "TCP")}
    names = ("connections_total", "incoming_packets_total", "outgoing_packets_total", "incoming_bytes_total", "outgoing_bytes_total")
    got = tuple(after[(f"tandem_ipvs_service_{n}", frozenset(service))] for n in names)
    assert got == stats[("TCP", "192.0.2.10:80", None)], (got, stats)
    assert got[0] == 30, f"30 requests, {got[0]} connections"
    for server in ("10.20.0.11:8080", "10.20.0.12:8080"):
        address, port = server.split(":")
        labels = frozenset(service | {("remote_address", address), ("remote_port", port)})
        got = tuple(after[(f"tandem_ipvs_backend_{n}", labels)] for n in names)
        assert got == stats[("TCP", "192.0.2.10:80", server)], (server, got, stats)
        weight, active, inactive = listed[server]
        assert after[("tandem_ipvs_backend_weight", labels)] == weight
        assert after[("tandem_ipvs_backend_connections_active", labels)] == active
        assert after[("tandem_ipvs_backend_connections_inactive", labels)] == inactive
    print(f"\n[metrics vs ipvsadm] service {stats[('TCP', '192.0.2.10:80', None)]}; real servers {listed}")
