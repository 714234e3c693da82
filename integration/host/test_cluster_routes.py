"""Cluster mode's route announcements on the host kernel (issue 19), in network namespaces.

Run as root after `swift build`:  python3 -m pytest -v integration/host/test_cluster_routes.py

    up  (eth0 192.0.2.1)  BIRD: the upstream router, merge paths (ECMP) into its main table
    up6 (eth0 fd00:2::99) BIRD: the upstream router of the IPv6 sessions
    d1  (eth0 192.0.2.11) BIRD + `tandemctl cluster apply-routes`: a director
    d2  (eth0 192.0.2.12) likewise
    all joined by br0 in a switch namespace

Tandem's side is `tandemctl cluster apply-routes` (the live rtnetlink route table the daemon will
use). Every assertion is about what an independent tool sees: `ip -j route show table 100` on a
director, `birdc show route` of each BIRD, `ip -j route` on the upstream router. The BIRD configs
are the ones `tandemctl bird-config` generates. Needs root and bird2 (integration/setup).
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from vip_topology import TANDEMCTL, Topology, run  # noqa: E402

VIP4 = "198.51.100.10"
VIP6 = "2001:db8:100::10"
OTHER4 = "198.51.100.11"

CONFIG = f"""\
serial: 1
nodes:
  - {{name: d1, addresses: [192.0.2.11, 'fd00:2::11']}}
  - {{name: d2, addresses: [192.0.2.12, 'fd00:2::12']}}
heartbeat:
  key_file: /etc/tandem/heartbeat.key
cluster:
  route_table: 100
  route_protocol: 250
  bgp:
    local_as: 65010
    peers:
      - {{address: 192.0.2.1, as: 65000, name: up4}}
      - {{address: 'fd00:2::99', as: 65000, name: up6}}
    bfd_interval: 100ms
    hold_time: 9s
virtual_ips:
  - address: {VIP4}/32
  - address: {OTHER4}/32
  - address: {VIP6}/128
sync:
  interface: eth0
"""


def wait_for(what, predicate, timeout):
    """Polls `predicate` (returning a truthy value when done) every 50 ms, at most `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what}: not after {timeout}s (last: {last!r})")


class Cluster(Topology):
    """Four nodes on one bridge (vip_topology.Topology): the upstream routers of the IPv4 and the
    IPv6 sessions, and two directors."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.config = tmp / "cluster.yaml"
        self.config.write_text(CONFIG)
        super().__init__({node: (f"192.0.2.{last}/24", f"fd00:2::{last}/64")
                          for node, last in (("up", 1), ("up6", 99), ("d1", 11), ("d2", 12))})

    def routes(self, node, *args):
        r = run("ip", "-j", "-n", self.ns[node], *args, check=False)
        # A table that holds no route does not exist for the kernel: "FIB table does not exist".
        if r.returncode != 0 and "does not exist" in r.stderr:
            return []
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout) if r.stdout.strip() else []

    def table(self, node):
        """(dst, type, protocol) of every route of table 100, IPv4 and IPv6, as ip -j lists them."""
        rows = self.routes(node, "-4", "route", "show", "table", "100") + self.routes(node, "-6", "route", "show", "table", "100")
        # ip omits the default protocol, boot, and the default type, unicast (iproute2 ip/iproute.c).
        return sorted((r["dst"], r.get("type", "unicast"), str(r.get("protocol", "boot"))) for r in rows)

    def ctl(self, node, *args, check=True):
        r = run("ip", "netns", "exec", self.ns[node], TANDEMCTL, *args, check=False, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError(f"tandemctl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def start_bird(self, node, config_text):
        conf = self.tmp / f"{node}.bird.conf"
        conf.write_text(config_text)
        run("bird", "-p", "-c", str(conf))
        sock = self.tmp / f"{node}.ctl"
        log = open(self.tmp / f"{node}.bird.log", "wb")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[node], "bird", "-f", "-c", str(conf), "-s", str(sock),
                              "-P", str(self.tmp / f"{node}.pid")], stdout=log, stderr=log)
        log.close()
        self.procs.append(p)
        wait_for(f"BIRD of {node} answering on {sock}", lambda: sock.exists() and self.birdc(node, "show", "status", check=False).returncode == 0, 10)

    def birdc(self, node, *args, check=True):
        return run("birdc", "-s", str(self.tmp / f"{node}.ctl"), *args, check=check)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()


def blackhole(dst):
    return (dst, "blackhole", "250")


def test_apply_routes_puts_exactly_the_announced_vips_in_table_100(cluster):
    assert cluster.table("d1") == []
    cluster.ctl("d1", "cluster", "apply-routes", cluster.config, "--announce", VIP4, "--announce", VIP6)
    assert cluster.table("d1") == sorted([blackhole(VIP4), blackhole(VIP6)])
    # Nothing outside table 100: the main table has no VIP route, so forwarding is unchanged.
    assert not [r for r in cluster.routes("d1", "route", "show", "table", "main") if r["dst"].startswith("198.51.100.")]

    # Idempotent: the same request changes nothing and says so.
    again = cluster.ctl("d1", "cluster", "apply-routes", cluster.config, "--announce", VIP4, "--announce", VIP6)
    assert again.stdout == ""

    # Withdraw one, announce another: removal first.
    moved = cluster.ctl("d1", "cluster", "apply-routes", cluster.config, "--announce", OTHER4, "--announce", VIP6)
    assert moved.stdout.splitlines() == [f"- blackhole {VIP4}/32 proto 250 (removed)", f"+ blackhole {OTHER4}/32 proto 250 (added)"]
    assert cluster.table("d1") == sorted([blackhole(OTHER4), blackhole(VIP6)])

    # Withdraw everything.
    cluster.ctl("d1", "cluster", "apply-routes", cluster.config)
    assert cluster.table("d1") == []


def test_foreign_routes_are_left_alone_and_conflicts_reported(cluster):
    cluster.ip("d1", "route", "add", "203.0.113.0/24", "dev", "lo", "table", "100", "proto", "static")
    cluster.ip("d1", "route", "add", "blackhole", f"{OTHER4}/32", "table", "100", "proto", "boot")
    # A stale route of Tandem's protocol that is not a VIP's: removed.
    cluster.ip("d1", "route", "add", "blackhole", "198.51.100.0/24", "table", "100", "proto", "250")

    r = cluster.ctl("d1", "cluster", "apply-routes", cluster.config, "--announce", "all", check=False)
    assert r.returncode == 1
    assert f"conflict blackhole {OTHER4}/32 proto 3 in table 100" in r.stderr
    assert f"ip route del {OTHER4}/32 table 100 proto 3" in r.stderr
    assert cluster.table("d1") == sorted([
        ("203.0.113.0/24", "unicast", "static"), (OTHER4, "blackhole", "boot"), blackhole(VIP4), blackhole(VIP6),
    ])

    listing = cluster.ctl("d1", "cluster", "routes", cluster.config).stdout.splitlines()
    assert f"announced blackhole {VIP4}/32 proto 250" in listing
    assert f"conflict blackhole {OTHER4}/32 proto 3" in listing
    assert any(line.startswith("foreign unicast 203.0.113.0/24 dev #1 proto 4") for line in listing)

    # Withdrawing all never touches the foreign routes.
    cluster.ctl("d1", "cluster", "apply-routes", cluster.config, check=False)
    assert cluster.table("d1") == sorted([("203.0.113.0/24", "unicast", "static"), (OTHER4, "blackhole", "boot")])


def test_bird_config_is_accepted_and_dry_run_changes_nothing(cluster):
    for args in (("--node", "d1"), ("--node", "d2"), ("--upstream",), ("--upstream", "--peer", "up6")):
        r = cluster.ctl("d1", "bird-config", cluster.config, *args)
        conf = cluster.tmp / "check.conf"
        conf.write_text(r.stdout)
        parsed = run("bird", "-p", "-c", str(conf), check=False)
        assert parsed.returncode == 0, (args, parsed.stderr, r.stdout)
    # Without --node, the director is the one owning one of this namespace's addresses.
    own = cluster.ctl("d2", "bird-config", cluster.config)
    assert "local 192.0.2.12 as 65010;" in own.stdout
    dry = cluster.ctl("d1", "cluster", "apply-routes", cluster.config, "--announce", VIP4, "--dry-run")
    assert dry.stdout.splitlines() == [f"would + blackhole {VIP4}/32 proto 250"]
    assert cluster.table("d1") == []


def test_bird_learns_tandem_routes_and_the_upstream_routers_spread_over_both_directors(cluster):
    """Tandem's route → BIRD's kernel protocol on the director → BGP (with BFD) → the upstream
    router's BIRD merges both directors' routes → one multipath route in its kernel; for IPv4
    and IPv6."""
    def generated(*args):
        return cluster.ctl("d1", "bird-config", cluster.config, *args).stdout

    cluster.start_bird("up", generated("--upstream"))
    cluster.start_bird("up6", generated("--upstream", "--peer", "up6"))
    cluster.start_bird("d1", generated("--node", "d1"))
    cluster.start_bird("d2", generated("--node", "d2"))
    for d in ("d1", "d2"):
        cluster.ctl(d, "cluster", "apply-routes", cluster.config, "--announce", VIP4, "--announce", VIP6)

    # The director's BIRD learned the routes from table 100 through its kernel protocols.
    wait_for("d1's BIRD learning the IPv4 VIP route",
             lambda: VIP4 in cluster.birdc("d1", "show", "route", "protocol", "tandem_vips4").stdout, 15)
    wait_for("d1's BIRD learning the IPv6 VIP route",
             lambda: VIP6 in cluster.birdc("d1", "show", "route", "protocol", "tandem_vips6").stdout, 15)

    def nexthops(node, family, dst):
        """The gateways of `dst`'s route in `node`'s main table, None without a route."""
        rows = cluster.routes(node, family, "route", "show", dst)
        if not rows:
            return None
        return sorted(h["gateway"] for h in rows[0].get("nexthops", [])) or [rows[0].get("gateway")]

    # Each upstream router's kernel gets one route with a next hop per director (ECMP). BGP
    # sessions start after BIRD's start delay (5 s), so this bound is generous.
    v4 = lambda: nexthops("up", "-4", f"{VIP4}/32")  # noqa: E731
    v6 = lambda: nexthops("up6", "-6", f"{VIP6}/128")  # noqa: E731
    wait_for("both directors as IPv4 next hops", lambda: v4() == ["192.0.2.11", "192.0.2.12"], 60)
    # IPv6 next hops are the directors' link-local addresses (BIRD sends both, the kernel keeps one).
    wait_for("both directors as IPv6 next hops", lambda: v6() is not None and len(v6()) == 2, 60)
    sessions = cluster.birdc("up", "show", "bfd", "sessions").stdout
    assert "192.0.2.11" in sessions and "192.0.2.12" in sessions

    # d1 withdraws (maintenance, say): the upstream routers keep only d2, through BGP, promptly.
    started = time.monotonic()
    cluster.ctl("d1", "cluster", "apply-routes", cluster.config)
    wait_for("d1 gone from the IPv4 route", lambda: v4() == ["192.0.2.12"], 10)
    withdrawn_after = time.monotonic() - started
    wait_for("d1 gone from the IPv6 route", lambda: v6() is not None and len(v6()) == 1, 10)
    assert VIP4 not in cluster.birdc("d1", "show", "route", "protocol", "tandem_vips4").stdout
    print(f"withdrawal reached the upstream router's kernel in {withdrawn_after:.2f}s")

    # d2 withdraws too: the VIPs are no longer routed upstream.
    cluster.ctl("d2", "cluster", "apply-routes", cluster.config)
    wait_for("the IPv4 VIP route gone", lambda: v4() is None, 10)
    wait_for("the IPv6 VIP route gone", lambda: v6() is None, 10)
