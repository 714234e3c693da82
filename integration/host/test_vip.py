"""VIP claim, announcement and monitoring on the host kernel, in network namespaces.

Run as root after `swift build`:  python3 -m pytest -v integration/host/test_vip.py
Every assertion is about what an independent tool sees: `ip -j`, tcpdump's capture, the client's
neighbour table.
"""
import ipaddress
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time

import socket

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from vip_topology import TANDEMCTL, VIP4, VIP6, Capture, mac_bytes  # noqa: E402

# Needs root (network namespaces): integration/test-all runs as root, as CI does.

V4 = VIP4.split("/")[0]
V6 = VIP6.split("/")[0]
ONE_SHOT = ["--announce-repeat", "1", "--second-burst", "none"]


def arp_frames(frames):
    return [(ts, f) for ts, f in frames if len(f) >= 42 and f[12:14] == b"\x08\x06"]


def na_frames(frames):
    return [(ts, f) for ts, f in frames
            if len(f) >= 14 + 40 + 32 and f[12:14] == b"\x86\xdd" and f[20] == 58 and f[54] == 136]


def icmp6_checksum_ok(frame):
    ip6 = frame[14:]
    plen = struct.unpack("!H", ip6[4:6])[0]
    payload = ip6[40:40 + plen]
    pseudo = ip6[8:24] + ip6[24:40] + struct.pack("!I", plen) + b"\0\0\0\x3a"
    data = pseudo + payload
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


def learn(topo, address):
    """The client pings `address` once so it has a neighbour entry for it."""
    topo.exec("c", "ping", "-c", "1", "-W", "2", address)


# --- takeover: the client's neighbour entry moves to B without the client asking ----------------

@pytest.mark.parametrize("mode", ["request", "reply"])
def test_ipv4_takeover_moves_client_neighbour_entry(topo, mode):
    topo.tandemctl("a", "vip", "claim", "--interface", "eth0", VIP4, *ONE_SHOT)
    learn(topo, V4)
    assert topo.neigh("c", V4)["lladdr"] == topo.mac["a"]
    topo.tandemctl("a", "vip", "release", "--interface", "eth0", VIP4)

    cap = Capture(topo, "c", "arp or icmp6")
    topo.tandemctl("b", "vip", "claim", "--interface", "eth0", VIP4, "--arp-mode", mode, *ONE_SHOT)
    frames = cap.stop()

    entry = topo.neigh("c", V4)
    assert entry["lladdr"] == topo.mac["b"], entry
    # Updated by the announcement, not by a resolution: the client sent no ARP at all.
    client = mac_bytes(topo.mac["c"])
    assert [f for _, f in arp_frames(frames) if f[6:12] == client] == []
    assert "STALE" in entry["state"], entry


def test_ipv6_takeover_moves_client_neighbour_entry(topo):
    topo.tandemctl("a", "vip", "claim", "--interface", "eth0", VIP6, *ONE_SHOT)
    learn(topo, V6)
    assert topo.neigh("c", V6)["lladdr"] == topo.mac["a"]
    topo.tandemctl("a", "vip", "release", "--interface", "eth0", VIP6)

    cap = Capture(topo, "c", "icmp6")
    topo.tandemctl("b", "vip", "claim", "--interface", "eth0", VIP6, *ONE_SHOT)
    frames = cap.stop()

    entry = topo.neigh("c", V6)
    assert entry["lladdr"] == topo.mac["b"], entry
    client = mac_bytes(topo.mac["c"])
    # Solicitations for the VIP only: the client's own duplicate address detection (source ::,
    # target its link-local address) may run at any time under load and says nothing about the VIP.
    vip = socket.inet_pton(socket.AF_INET6, V6)
    solicitations = [f for _, f in frames
                     if f[6:12] == client and len(f) >= 78 and f[54] == 135 and f[62:78] == vip]
    assert solicitations == []
    assert "STALE" in entry["state"], entry


# --- what is on the wire ----------------------------------------------------------------------

@pytest.mark.parametrize("mode,opcode", [("request", 1), ("reply", 2)])
def test_gratuitous_arp_fields_and_count(topo, mode, opcode):
    cap = Capture(topo, "c", "arp")
    topo.tandemctl("b", "vip", "claim", "--interface", "eth0", VIP4, "--arp-mode", mode,
                   "--announce-repeat", "3", "--announce-spacing", "20ms", "--second-burst", "200ms")
    frames = arp_frames(cap.stop())
    b = mac_bytes(topo.mac["b"])
    vip = ipaddress.IPv4Address(V4).packed
    assert len(frames) == 6, [f.hex() for _, f in frames]
    for _, f in frames:
        assert f[0:6] == b"\xff" * 6          # Ethernet broadcast
        assert f[6:12] == b                   # from B
        arp = f[14:42]
        assert arp[0:8] == bytes([0, 1, 8, 0, 6, 4, 0, opcode])
        assert arp[8:14] == b and arp[14:18] == vip and arp[24:28] == vip
        assert arp[18:24] == (b"\0" * 6 if mode == "request" else b)
    # 0, 20, 40 ms; then 200, 220, 240 ms after the first: never early, at most 25 ms late
    # (timers on a loaded 2-core host).
    offsets = [(ts - frames[0][0]) / 1e6 for ts, _ in frames]
    expected = [0, 20, 40, 200, 220, 240]
    assert all(e - 1 <= o <= e + 25 for o, e in zip(offsets, expected)), offsets


def test_neighbour_advertisement_fields_and_count(topo):
    cap = Capture(topo, "c", "icmp6")
    topo.tandemctl("b", "vip", "claim", "--interface", "eth0", VIP6, "--announce-repeat", "3",
                   "--second-burst", "none")
    frames = na_frames(cap.stop())
    b = mac_bytes(topo.mac["b"])
    vip = ipaddress.IPv6Address(V6).packed
    assert len(frames) == 3
    for _, f in frames:
        assert f[0:6] == bytes.fromhex("333300000001") and f[6:12] == b
        ip6 = f[14:54]
        assert ip6[7] == 255                                     # hop limit
        assert ip6[8:24] == vip                                  # source = VIP
        assert ip6[24:40] == ipaddress.IPv6Address("ff02::1").packed
        icmp = f[54:86]
        assert icmp[0] == 136 and icmp[1] == 0
        flags = struct.unpack("!I", icmp[4:8])[0]
        assert flags & 0x20000000 and not flags & 0x40000000   # O set, S clear
        assert icmp[8:24] == vip
        assert icmp[24:26] == b"\x02\x01" and icmp[26:32] == b  # target link-layer address option
        assert icmp6_checksum_ok(f)


def test_periodic_refresh_arrives_at_its_interval(topo):
    cap = Capture(topo, "c", "arp")
    topo.tandemctl("b", "vip", "claim", "--interface", "eth0", VIP4, "--announce-repeat", "1",
                   "--second-burst", "none", "--refresh", "300ms", "--hold", "1650ms")
    frames = arp_frames(cap.stop())
    # Claim at 0, refreshes at 300 … 1500 ms.
    assert len(frames) == 6, len(frames)
    offsets = [(ts - frames[0][0]) / 1e6 for ts, _ in frames]
    assert all(300 * i - 1 <= o <= 300 * i + 25 for i, o in enumerate(offsets)), offsets


# --- address manager --------------------------------------------------------------------------

def test_claim_release_idempotent_and_other_addresses_untouched(topo):
    before = topo.addresses("b")
    out = topo.tandemctl("b", "vip", "claim", "--interface", "eth0", "--label", "eth0:vip", VIP4, VIP6, *ONE_SHOT)
    assert [o["change"] for o in out] == ["added", "added"]
    during = topo.addresses("b")
    assert during - before == {(V4, 24, "eth0:vip"), (V6, 64, None)}
    assert before <= during
    assert topo.addr_info("b", V6).get("nodad") is True
    assert topo.addr_info("b", V4).get("secondary") is True   # 10.99.0.2/24 was there first

    out = topo.tandemctl("b", "vip", "claim", "--interface", "eth0", "--label", "eth0:vip", VIP4, VIP6, *ONE_SHOT)
    assert [o["change"] for o in out] == ["alreadyPresent", "alreadyPresent"]
    assert topo.addresses("b") == during

    listed = topo.tandemctl("b", "vip", "list", "--interface", "eth0", VIP4, VIP6, "10.99.0.11/24")
    assert [o["present"] for o in listed] == [True, True, False]

    out = topo.tandemctl("b", "vip", "release", "--interface", "eth0", VIP4, VIP6)
    assert [o["change"] for o in out] == ["removed", "removed"]
    assert topo.addresses("b") == before
    out = topo.tandemctl("b", "vip", "release", "--interface", "eth0", VIP4, VIP6)
    assert [o["change"] for o in out] == ["alreadyAbsent", "alreadyAbsent"]
    assert topo.addresses("b") == before


def _vip_primary_with_secondaries(topo):
    topo.ip("b", "addr", "flush", "dev", "eth0", "scope", "global")
    topo.tandemctl("b", "vip", "claim", "--interface", "eth0", VIP4, *ONE_SHOT)
    topo.ip("b", "addr", "add", "10.99.0.2/24", "dev", "eth0")
    topo.ip("b", "addr", "add", "10.99.0.3/24", "dev", "eth0")
    assert topo.addr_info("b", V4).get("secondary") is not True
    assert topo.addr_info("b", "10.99.0.2")["secondary"] is True


def test_kernel_deletes_secondaries_with_their_primary(topo):
    """The hazard exists on this kernel: a plain delete of the primary takes the secondaries."""
    _vip_primary_with_secondaries(topo)
    topo.ip("b", "addr", "del", VIP4, "dev", "eth0")
    assert topo.addr_info("b", "10.99.0.2") is None and topo.addr_info("b", "10.99.0.3") is None


def test_release_of_primary_vip_keeps_secondaries(topo):
    _vip_primary_with_secondaries(topo)
    sysctl = "/proc/sys/net/ipv4/conf/eth0/promote_secondaries"
    assert topo.exec("b", "cat", sysctl).stdout.strip() == "0"
    out = topo.tandemctl("b", "vip", "release", "--interface", "eth0", VIP4)
    assert out[0]["change"] == "removed"
    assert topo.addr_info("b", V4) is None
    assert topo.addr_info("b", "10.99.0.2") is not None and topo.addr_info("b", "10.99.0.3") is not None
    assert topo.exec("b", "cat", sysctl).stdout.strip() == "0"   # left as found


# --- monitor ----------------------------------------------------------------------------------

class Monitor:
    def __init__(self, topo, *args):
        self.seen = []
        self.taken = set()
        self.buffer = b""
        self.proc = topo.popen("b", TANDEMCTL, "vip", "monitor", "--interface", "eth0", *args,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.fd = self.proc.stdout.fileno()
        self.ready = self.next_event(lambda e: e["event"] == "ready", timeout=10)

    def next_event(self, match, timeout=5):
        """The next event (in arrival order, not yet returned) that matches; reads more if needed."""
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.seen):
                if i not in self.taken and match(event):
                    self.taken.add(i)
                    return event
            remaining = deadline - time.monotonic()
            r, _, _ = select.select([self.fd], [], [], max(0, remaining))
            if not r:
                raise AssertionError(f"no matching event within {timeout}s; saw {self.seen}")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise AssertionError(f"monitor exited; saw {self.seen}; stderr {self.proc.stderr.read().decode()}")
            self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            self.seen += [json.loads(line) for line in lines if line.startswith(b"{")]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=10)
        rest = self.buffer + out
        return [json.loads(line) for line in rest.split(b"\n") if line.startswith(b"{")]


class Poke:
    """rtnl_poke.py kept running in a namespace: each change is sent by an already-running
    process that stamps the time just before its netlink request, so the measured delay is the
    kernel's work plus the monitor's, not a process start-up."""

    def __init__(self, topo, node):
        script = os.path.join(os.path.dirname(__file__), "rtnl_poke.py")
        self.proc = topo.popen(node, sys.executable, script, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        t0, error = self.proc.stdout.readline().split()
        assert error == "0", f"{line}: errno {error}"
        return int(t0)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def test_monitor_reports_foreign_delete_within_10ms_and_link_down(topo):
    mon = Monitor(topo, "--claim", VIP4, VIP6)
    # Our own claims are reported as ours.
    own = [mon.next_event(lambda e: e["event"] == "vip_added") for _ in range(2)]
    assert {e["origin"] for e in own} == {"tandem"}
    poke = Poke(topo, "b")
    try:
        for vip in (VIP4, VIP6):
            t0 = poke.run(f"del {vip} eth0")
            e = mon.next_event(lambda e: e["event"] == "vip_removed")
            assert e["vip"] == vip and e["origin"] == "foreign"
            latency_ms = (e["ts_ns"] - t0) / 1e6
            print(f"foreign delete of {vip} reported after {latency_ms:.3f} ms")
            assert latency_ms < 10, latency_ms
        t0 = poke.run("down eth0")
        e = mon.next_event(lambda e: e["event"].startswith("link_"))
        assert e["event"] == "link_down" and e["interface"] == "eth0"
        print(f"link down reported after {(e['ts_ns'] - t0) / 1e6:.3f} ms")
        assert (e["ts_ns"] - t0) / 1e6 < 10
        poke.run("up eth0")
        e = mon.next_event(lambda e: e["event"].startswith("link_"))
        assert e["event"] == "link_up"
    finally:
        poke.close()
    mon.stop()


def test_monitor_tells_own_release_from_foreign(topo):
    mon = Monitor(topo, "--claim", VIP4, "--duration", "1s")
    rest = mon.stop()
    removed = [e for e in mon.seen + rest if e["event"] == "vip_removed"]
    assert [(e["vip"], e["origin"]) for e in removed] == [(VIP4, "tandem")]


def test_monitor_overrun_rereads_state(topo):
    topo.ip("b", "link", "add", "noise0", "type", "veth", "peer", "name", "noise1")
    topo.ip("b", "link", "set", "noise0", "up")
    topo.ip("b", "addr", "add", VIP4, "dev", "eth0")
    mon = Monitor(topo, "--receive-buffer", "4096", VIP4)
    os.kill(mon.proc.pid, 0)
    # Freeze the monitor's process (the child of `ip netns exec` is the same pid after exec).
    mon.proc.send_signal(signal.SIGSTOP)
    lines = [f"addr add 10.200.{i // 250}.{i % 250 + 1}/32 dev noise0" for i in range(300)]
    lines.append(f"addr del {VIP4} dev eth0")
    lines += [f"addr del 10.200.{i // 250}.{i % 250 + 1}/32 dev noise0" for i in range(300)]
    topo.exec("b", "ip", "-batch", "-", input="\n".join(lines) + "\n")
    mon.proc.send_signal(signal.SIGCONT)
    mon.next_event(lambda e: e["event"] == "overrun")
    e = mon.next_event(lambda e: e["event"] == "vip_removed")
    assert e["vip"] == VIP4 and e["origin"] in ("unknown", "foreign")
    mon.stop()
