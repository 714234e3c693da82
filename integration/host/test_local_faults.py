"""A node's own faults (issue 13, kinds 6 and 8), with two real tandemd on the host kernel.

Run as root after `swift build`:  python3 -m pytest -v -s integration/host/test_local_faults.py
Timing as in the reports: interval 100 ms, dead time 400 ms. Router ra (priority 100) in
namespace a, rb (90) in b, the client c on the same bridge. Every assertion is about what an
independent tool sees: `ip -j addr` in the router namespaces, `ip -j neigh` in the client
namespace, tcpdump on the bridge. Daemon status is read only where it is the property itself (the
DAD conflict must be reported).

- a standby that loses its only heartbeat address does not take over; with two paths, losing one
  changes nothing;
- when a split pair heals, the losing router sends no gratuitous ARP for the VIP;
- a VIP interface deleted and re-created comes back with the VIP on the new interface;
- a VIP interface that loses carrier on the active hands the VIP to the peer;
- an IPv6 VIP present but dadfailed is an address conflict: reported, never held or announced.
"""
import json
import os
import socket
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from vip_topology import Capture  # noqa: E402
from failover_pair import ADDR, VIP, Pair  # noqa: E402

HB2 = {"a": "10.98.0.1", "b": "10.98.0.2"}
VIP_ETH1 = "10.97.0.10"
VIP6 = "fd00:99::10"


@pytest.fixture
def pair(topo):
    p = Pair(topo, interval_ms=100, dead_ms=400)
    yield p
    p.close()


def write_config(pair, paths=1, vips=((f"{VIP}/24", "eth0"),), track_a=""):
    """Config with `paths` heartbeat paths (eth0, then the hb link) and the given (prefix, interface) VIPs."""
    a = [ADDR["a"], HB2["a"]][:paths]
    b = [ADDR["b"], HB2["b"]][:paths]
    vip_lines = "".join(f'  - {{address: "{prefix}", interface: {dev}}}\n' for prefix, dev in vips)
    pair.config.write_text(f"""serial: 1
nodes:
  - {{name: ra, addresses: [{", ".join(a)}], priority: 100{track_a}}}
  - {{name: rb, addresses: [{", ".join(b)}], priority: 90}}
heartbeat:
  port: {pair.port}
  interval: 100ms
  dead_time: 400ms
  key_file: {pair.key}
announce: {{repeat: 3, second_burst_delay: 1s}}
virtual_ips:
{vip_lines}state_directory: {pair.dir}/state
""")


def add_hb_link(topo):
    """A heartbeat link (10.98.0.0/24): each router's `hb` joins bridge br1 in the switch
    namespace through port hb<node>, so one router's carrier can go without the other's."""
    topo.ip("sw", "link", "add", "br1", "type", "bridge")
    topo.ip("sw", "link", "set", "br1", "up")
    for node in ("a", "b"):
        topo.ip("sw", "link", "add", f"hb{node}", "type", "veth", "peer", "name", "hb", "netns", topo.ns[node])
        topo.ip("sw", "link", "set", f"hb{node}", "master", "br1")
        topo.ip("sw", "link", "set", f"hb{node}", "up")
        topo.ip(node, "addr", "add", f"{HB2[node]}/24", "dev", "hb")
        topo.ip(node, "link", "set", "hb", "up")
    for node in ("a", "b"):
        wait_link(topo, node, "hb")


def add_eth1(topo, node):
    """An eth1 on `node` whose veth peer (x1) sits in the switch namespace, up: carrier on."""
    topo.ip(node, "link", "add", "eth1", "type", "veth", "peer", "name", f"x1{node}", "netns", topo.ns["sw"])
    topo.ip("sw", "link", "set", f"x1{node}", "up")
    topo.ip(node, "link", "set", "eth1", "up")
    wait_link(topo, node, "eth1")


def wait_link(topo, node, dev, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if topo.ip_json(node, "link", "show", "dev", dev)[0]["operstate"] == "UP":
            return
        time.sleep(0.02)
    raise AssertionError(f"{dev} in {node} not operationally up after {timeout}s")


def on(topo, node, local, dev):
    """The address entry of `local` on `dev` in `node` (`ip -j addr`), or None (also when dev is gone)."""
    r = topo.ip(node, "-j", "addr", "show", "dev", dev, check=False)
    if r.returncode != 0 or not r.stdout.strip():
        return None
    info = json.loads(r.stdout)
    return next((a for a in info[0]["addr_info"] if a["local"] == local), None)


def holders(topo, local, dev):
    return {n for n in ("a", "b") if on(topo, n, local, dev)}


def watch(duration, step, sample):
    """Calls `sample()` every `step` seconds for `duration` seconds; returns the values."""
    values, deadline = [], time.monotonic() + duration
    while time.monotonic() < deadline:
        values.append(sample())
        time.sleep(step)
    return values


def garps(frames, vip, mac=None):
    """Gratuitous ARPs (sender IP = target IP = vip) in the frames, optionally only from source MAC `mac`."""
    ip = bytes(int(x) for x in vip.split("."))
    out = []
    for ts, f in frames:
        if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[28:32] == ip and f[38:42] == ip:
            if mac is None or f[6:12] == bytes.fromhex(mac.replace(":", "")):
                out.append(ts)
    return out


def status(pair, node):
    r = pair.ctl(node, "status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# --- kind 6: hearing nobody is not a dead peer ------------------------------------------------------

def test_standby_that_loses_its_only_heartbeat_address_does_not_take_over(topo, pair):
    write_config(pair)
    pair.start_settled()
    topo.exec("c", "ping", "-c", "1", "-W", "2", VIP)
    assert topo.neigh("c", VIP)["lladdr"] == topo.mac["a"]
    topo.ip("b", "addr", "del", f"{ADDR['b']}/24", "dev", "eth0")
    # Five dead times: the old code claimed after one.
    samples = watch(2.0, 0.02, lambda: holders(topo, VIP, "eth0"))
    assert all(s == {"a"} for s in samples), f"VIP holders over time: {sorted(set(map(frozenset, samples)))}"
    pair.wait_for(lambda: pair.role("b") == "fault", timeout=2, what="rb in fault")
    assert "no usable heartbeat path" in pair.log("b")
    assert "-> active" not in pair.log("b")
    s = status(pair, "b")
    assert s["role"] == "fault" and any("no usable heartbeat path" in f for f in s["local_faults"])
    assert s["peer"]["paths"][0]["local_problem"] == "address not configured on any interface"
    topo.exec("c", "ping", "-c", "1", "-W", "2", VIP)
    assert topo.neigh("c", VIP)["lladdr"] == topo.mac["a"], "the client's neighbour entry moved off the active"
    # The address comes back: rb leaves the fault and is standby again (ra is active).
    topo.ip("b", "addr", "add", f"{ADDR['b']}/24", "dev", "eth0")
    pair.wait_for(lambda: pair.role("b") == "standby", timeout=3, what="rb standby again")
    assert holders(topo, VIP, "eth0") == {"a"}


def test_with_two_paths_losing_one_address_changes_nothing(topo, pair):
    add_hb_link(topo)
    write_config(pair, paths=2)
    pair.start_settled()
    roles_b = len(pair.roles("b"))
    topo.ip("b", "addr", "del", f"{ADDR['b']}/24", "dev", "eth0")
    samples = watch(2.0, 0.02, lambda: holders(topo, VIP, "eth0"))
    assert all(s == {"a"} for s in samples)
    assert len(pair.roles("b")) == roles_b, f"rb changed role: {pair.roles('b')[roles_b:]}"
    assert pair.role("b") == "standby"


def test_standby_whose_heartbeat_interface_loses_carrier_does_not_take_over(topo, pair):
    # The VIP lives on eth0 and heartbeats on hb only: rb's hb loses carrier (its switch port goes down).
    add_hb_link(topo)
    write_config(pair)
    pair.config.write_text(pair.config.read_text().replace(f"[{ADDR['a']}]", f"[{HB2['a']}]")
                           .replace(f"[{ADDR['b']}]", f"[{HB2['b']}]"))
    pair.start_settled()
    topo.ip("sw", "link", "set", "hbb", "down")
    samples = watch(2.0, 0.02, lambda: holders(topo, VIP, "eth0"))
    assert all(s == {"a"} for s in samples), f"VIP holders over time: {sorted(set(map(frozenset, samples)))}"
    assert "-> active" not in pair.log("b")
    pair.wait_for(lambda: pair.role("b") == "fault", timeout=2, what="rb in fault")
    assert pair.role("a") == "active"


def test_split_heal_the_loser_sends_no_gratuitous_arp(topo, pair):
    write_config(pair)
    pair.start_settled()
    topo.exec("c", "ping", "-c", "1", "-W", "2", VIP)   # the client has a neighbour entry for the VIP
    # Partition the heartbeats only: each router's entry for the other points at a MAC nobody
    # has (no local send error, unlike a blackhole route). The client reaches both.
    bogus = {"a": "02:00:00:00:00:0b", "b": "02:00:00:00:00:0a"}
    other = {"a": "b", "b": "a"}
    for n in ("a", "b"):
        topo.ip(n, "neigh", "replace", ADDR[other[n]], "lladdr", bogus[n], "dev", "eth0", "nud", "permanent")
    pair.wait_for(lambda: holders(topo, VIP, "eth0") == {"a", "b"}, timeout=5, what="dual active during the partition")
    time.sleep(0.3)                                   # rb's first burst is out; its second is due 1 s after it
    cap = Capture(topo, "sw", "arp", dev="br0")
    t_heal = time.time_ns()
    for n in ("a", "b"):
        topo.ip(n, "neigh", "replace", ADDR[other[n]], "lladdr", topo.mac[other[n]], "dev", "eth0", "nud", "reachable")
    pair.wait_for(lambda: holders(topo, VIP, "eth0") == {"a"}, timeout=3, what="only ra holding the VIP after heal")
    time.sleep(1.5)                                   # past rb's cancelled second burst
    frames = cap.stop()
    from_b = garps(frames, VIP, topo.mac["b"])
    from_a = garps(frames, VIP, topo.mac["a"])
    print(f"\n[heal] gratuitous ARPs after heal: ra {len(from_a)}, rb {len(from_b)}")
    assert from_b == [], f"the losing router rb announced the VIP {len(from_b)} times after the heal"
    assert [t for t in from_a if t >= t_heal], "the winner ra did not re-announce"
    pair.wait_for(lambda: (topo.neigh("c", VIP) or {}).get("lladdr") == topo.mac["a"], timeout=3,
                  what="client entry on ra")
    assert pair.role("b") == "standby"


# --- kind 8: interfaces come, go and lose carrier ---------------------------------------------------

def test_a_new_mac_on_the_active_vip_interface_is_announced(topo, pair):
    """`ip link set eth0 address …` on the active (a bond's fail_over_mac failover, a NIC swapped
    under the same name): the kernel tells the neighbours nothing (arp_notify is off), so the
    client kept sending to the old MAC for tens of seconds. The active announces the VIP with the
    new MAC, in the ARP payload as well as the Ethernet header."""
    write_config(pair)
    pair.start_settled()
    topo.exec("c", "ping", "-c", "1", "-W", "2", VIP)
    assert pair.client_mac_for_vip() == topo.mac["a"]
    new_mac = "02:00:00:00:aa:5a"
    cap = Capture(topo, "sw", "arp", dev="br0")
    topo.ip("a", "link", "set", "dev", "eth0", "address", new_mac)
    pair.wait_for(lambda: pair.client_mac_for_vip() == new_mac, timeout=3, what="the client's entry for the VIP on ra's new MAC")
    time.sleep(0.2)
    frames = cap.stop()
    ip = bytes(int(x) for x in VIP.split("."))
    new = bytes.fromhex(new_mac.replace(":", ""))
    announced = [f for _, f in frames if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[28:32] == ip and f[38:42] == ip]
    assert announced and all(f[6:12] == new and f[22:28] == new for f in announced), [f[:42].hex() for f in announced]
    assert "changed its hardware address" in pair.log("a")
    assert pair.holders() == {"a"}
    topo.exec("c", "ping", "-c", "1", "-W", "2", VIP)


def test_vip_interface_deleted_and_recreated_gets_the_vip_back(topo, pair):
    add_eth1(topo, "a")
    write_config(pair, vips=((f"{VIP_ETH1}/24", "eth1"),))
    pair.start("a")                                   # alone: nobody to hand over to
    pair.wait_for(lambda: on(topo, "a", VIP_ETH1, "eth1"), timeout=5, what="VIP on ra eth1")
    old_index = topo.ip_json("a", "link", "show", "dev", "eth1")[0]["ifindex"]
    topo.ip("a", "link", "del", "eth1")
    pair.wait_for(lambda: pair.role("a") == "fault", timeout=2, what="ra in fault while eth1 is gone")
    add_eth1(topo, "a")
    cap = Capture(topo, "sw", "arp", dev="x1a")       # the new eth1's peer: its second burst comes 1 s after the first
    new_index = topo.ip_json("a", "link", "show", "dev", "eth1")[0]["ifindex"]
    assert new_index != old_index
    t0 = time.monotonic()
    pair.wait_for(lambda: on(topo, "a", VIP_ETH1, "eth1"), timeout=3, what="VIP on the new eth1")
    print(f"\n[recreate] VIP back on the new eth1 after {(time.monotonic() - t0) * 1000:.0f} ms")
    time.sleep(1.3)
    frames = cap.stop()
    assert pair.role("a") == "active"
    assert "claim VIP" not in pair.log("a"), "a claim failed (on the missing interface?)"
    # Announced from the new interface (its announcement socket opened again), not refused.
    new_mac = topo.ip_json("a", "link", "show", "dev", "eth1")[0]["address"]
    assert garps(frames, VIP_ETH1, new_mac), "no gratuitous ARP for the VIP from the new eth1"
    assert "announce:" not in pair.log("a"), pair.log("a")[-2000:]


def test_a_vip_put_back_on_a_recreated_interface_of_the_standby_is_removed(topo, pair):
    """rb serves (after a failover); its VIP interface is deleted (rb faults, ra takes over) and
    re-created, and the VIP is put back on it by hand (ifupdown would): rb, now standby, removes
    it, as it would on an interface that never went, so only ra answers ARP for the VIP."""
    add_eth1(topo, "a")
    add_eth1(topo, "b")
    write_config(pair, vips=((f"{VIP_ETH1}/24", "eth1"),))
    pair.start("a")
    pair.wait_for(lambda: on(topo, "a", VIP_ETH1, "eth1"), timeout=5, what="VIP on ra eth1")
    pair.start("b")
    pair.wait_for(lambda: pair.role("b") == "standby", timeout=5, what="rb standby")
    assert pair.ctl("b", "failover").returncode == 0
    pair.wait_for(lambda: holders(topo, VIP_ETH1, "eth1") == {"b"}, timeout=5, what="VIP on rb only")
    topo.ip("b", "link", "del", "eth1")
    pair.wait_for(lambda: holders(topo, VIP_ETH1, "eth1") == {"a"}, timeout=5, what="ra takes over")
    add_eth1(topo, "b")
    pair.wait_for(lambda: pair.role("b") == "standby", timeout=5, what="rb standby on its new eth1")
    topo.ip("b", "addr", "add", f"{VIP_ETH1}/24", "dev", "eth1")
    pair.wait_for(lambda: holders(topo, VIP_ETH1, "eth1") == {"a"}, timeout=3, what="rb removes the VIP put back by hand")
    assert "was added by another program while standby: removing it" in pair.log("b")


def test_vip_interface_renamed_away_and_back(topo, pair):
    add_eth1(topo, "a")
    write_config(pair, vips=((f"{VIP_ETH1}/24", "eth1"),))
    pair.start("a")
    pair.wait_for(lambda: on(topo, "a", VIP_ETH1, "eth1"), timeout=5, what="VIP on ra eth1")
    topo.ip("a", "link", "set", "eth1", "down")
    topo.ip("a", "link", "set", "eth1", "name", "lan1")
    topo.ip("a", "link", "set", "lan1", "up")
    pair.wait_for(lambda: pair.role("a") == "fault", timeout=2, what="ra in fault while eth1 is gone")
    assert not on(topo, "a", VIP_ETH1, "lan1"), "the VIP stayed on the renamed interface"
    topo.ip("a", "link", "set", "lan1", "down")
    topo.ip("a", "link", "set", "lan1", "name", "eth1")
    topo.ip("a", "link", "set", "eth1", "up")
    pair.wait_for(lambda: on(topo, "a", VIP_ETH1, "eth1"), timeout=3, what="VIP back on eth1")
    assert pair.role("a") == "active"


def start_with_vip_on_tracked_eth1(topo, pair):
    """Both routers get an eth1; the VIP goes on it, ra tracks it with lower_priority_by (so a
    lost eth1 only lowers ra's priority); ra active with the VIP, then rb standby."""
    add_eth1(topo, "a")
    add_eth1(topo, "b")
    write_config(pair, vips=((f"{VIP_ETH1}/24", "eth1"),),
                 track_a=", track_interfaces: [{interface: eth1, lower_priority_by: 5}]")
    pair.start("a")
    pair.wait_for(lambda: on(topo, "a", VIP_ETH1, "eth1"), timeout=5, what="VIP on ra eth1")
    pair.start("b")
    pair.wait_for(lambda: pair.role("b") == "standby", timeout=5, what="rb standby")


def test_vip_interface_deleted_on_the_active_with_lower_priority_tracking_is_reclaimed(topo, pair):
    start_with_vip_on_tracked_eth1(topo, pair)
    topo.ip("a", "link", "del", "eth1")
    time.sleep(0.3)
    add_eth1(topo, "a")
    pair.wait_for(lambda: on(topo, "a", VIP_ETH1, "eth1"), timeout=3, what="VIP on ra's new eth1")
    assert pair.role("a") == "active"
    assert holders(topo, VIP_ETH1, "eth1") == {"a"}


def test_vip_interface_carrier_loss_on_the_active_hands_over(topo, pair):
    # Heartbeats on hb, the VIP on eth0: the switch port of ra goes down, ra's eth0 loses carrier.
    add_hb_link(topo)
    write_config(pair)
    pair.config.write_text(pair.config.read_text().replace(f"[{ADDR['a']}]", f"[{HB2['a']}]")
                           .replace(f"[{ADDR['b']}]", f"[{HB2['b']}]"))
    pair.start_settled()
    t0 = time.monotonic()
    topo.ip("sw", "link", "set", "pa", "down")
    pair.wait_for(lambda: holders(topo, VIP, "eth0") == {"b"}, timeout=3, what="VIP only on rb")
    print(f"\n[carrier] VIP moved to rb after {(time.monotonic() - t0) * 1000:.0f} ms")
    assert pair.role("a") == "fault"
    topo.exec("c", "ping", "-c", "1", "-W", "2", VIP)
    assert topo.neigh("c", VIP)["lladdr"] == topo.mac["b"]
    # Carrier back: ra leaves the fault as standby (rb is active and keeps the VIP).
    topo.ip("sw", "link", "set", "pa", "up")
    pair.wait_for(lambda: pair.role("a") == "standby", timeout=5, what="ra standby after carrier returns")
    assert holders(topo, VIP, "eth0") == {"b"}


def test_a_vip_kept_through_a_carrier_loss_is_announced_when_the_carrier_returns(topo, pair):
    """Trial 35: ra tracks its VIP interface eth1 with lower_priority_by, so a carrier loss only
    lowers its priority and it stays active with the address on eth1; when the carrier came back
    nothing was announced (the neighbours may have moved on meanwhile). Now a gratuitous ARP for
    the VIP goes out from ra when the link is up again (tcpdump on the switch side of ra's eth1),
    none while it is down, and ra holds the VIP throughout (`ip -j addr`)."""
    start_with_vip_on_tracked_eth1(topo, pair)
    time.sleep(1.5)  # the start-up announcement's second burst is over
    cap = Capture(topo, "sw", "arp", dev="x1a")
    topo.ip("sw", "link", "set", "x1a", "down")
    pair.wait_for(lambda: "eth1 is down" in pair.log("a") or "effective priority 100 -> 95" in pair.log("a"), timeout=3,
                  what="ra sees eth1 without carrier")
    time.sleep(0.5)
    assert on(topo, "a", VIP_ETH1, "eth1") and pair.role("a") == "active"
    topo.ip("sw", "link", "set", "x1a", "up")
    wait_link(topo, "a", "eth1")
    pair.wait_for(lambda: "VIPs usable again, their link back" in pair.log("a"), timeout=3, what="ra announces the VIP again")
    time.sleep(0.3)
    frames = cap.stop()
    assert garps(frames, VIP_ETH1, topo.ip_json("a", "link", "show", "dev", "eth1")[0]["address"]), \
        f"no gratuitous ARP for {VIP_ETH1} from ra after the carrier returned: {[f[:42].hex() for _, f in frames]}"
    assert holders(topo, VIP_ETH1, "eth1") == {"a"} and pair.role("a") == "active"


def test_ipv6_vip_present_but_dadfailed_is_a_reported_fault(topo, pair):
    # The client owns the address; ra gets it with DAD, which fails.
    topo.ip("c", "addr", "add", f"{VIP6}/64", "dev", "eth0", "nodad")
    topo.ip("a", "addr", "add", f"{VIP6}/64", "dev", "eth0")
    pair.wait_for(lambda: (on(topo, "a", VIP6, "eth0") or {}).get("dadfailed"), timeout=5, what="dadfailed on ra")
    write_config(pair, vips=((f"{VIP6}/64", "eth0"),))
    cap = Capture(topo, "sw", "icmp6", dev="br0")
    pair.start("a")
    pair.wait_for(lambda: pair.role("a") == "fault", timeout=3, what="ra in fault")
    time.sleep(0.6)                                   # past the dead time: it would have claimed by now
    frames = cap.stop()
    s = status(pair, "a")
    vip = s["vips"][0]
    assert vip["held"] is False
    assert "address conflict" in vip["problem"]
    assert any("address conflict" in f for f in s["local_faults"])
    assert s["role"] == "fault"
    entry = on(topo, "a", VIP6, "eth0")
    assert entry and entry.get("dadfailed"), "the conflicting address must stay visible, not be replaced"
    # No neighbour advertisement for the VIP from ra (ICMPv6 type 136, target = VIP).
    target = socket.inet_pton(socket.AF_INET6, VIP6)
    nas = [f for _, f in frames if f[6:12] == bytes.fromhex(topo.mac["a"].replace(":", "")) and len(f) >= 78
           and f[12:14] == b"\x86\xdd" and f[54] == 136 and f[62:78] == target]
    assert nas == [], "ra advertised a VIP it does not hold"
