"""tandemd as a cluster director on the host kernel (issue 19), in a network namespace.

Run as root after `swift build`:  python3 -m pytest -v integration/host/test_cluster_director.py

One director namespace (d1, eth0 192.0.2.11) runs tandemd with a cluster config. The host kernel
has no IPVS, so the director that announces is one whose config needs none (VIPs without virtual
servers or `sync:`: its empty table counts as installed and verified); the one with a virtual
server shows the withdrawal for an IPVS table that cannot be installed. Covered: announce, stale
and foreign routes, maintenance (also across a restart), route repair, SIGTERM withdrawing before
the release and the exit, reload adding and removing VIPs (a switch to a pair refused), and the
BGP sessions of a real BIRD in status. Every assertion about the kernel uses `ip -j route show
table 100`, `ip -j addr show dev lo` or `birdc`, never only tandemd's report; every wait is
bounded. Needs root and bird2 (integration/setup).
"""
import json
import secrets
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from failover_pair import TANDEMD  # noqa: E402
from vip_topology import TANDEMCTL, Topology  # noqa: E402

VIP = "198.51.100.10"
VIP6 = "2001:db8:100::10"
STALE = "198.51.100.99"
FOREIGN = "203.0.113.7"
# ClusterDirectorState.defaultWithdrawalGrace: a stop waits this long between the withdrawal and
# the release of the VIPs.
GRACE_S = 1.0

BASE = """\
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
      - {{address: 192.0.2.1, as: 65000}}
      - {{address: 'fd00:2::1', as: 65000}}
virtual_ips:
  - address: {vip}/32
{more_vips}state_directory: {state}
"""

WITH_SERVICE = """\
virtual_servers:
  - name: www
    address: {vip}
    port: 80
    scheduler: mh
    scheduler_flags: [mh-fallback]
    forwarding: dr
    real_servers:
      - address: 192.0.2.21
"""


def wait_for(what, predicate, timeout):
    """Polls `predicate` every 20 ms until it returns something truthy, at most `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError(f"{what}: not after {timeout}s (last: {last!r})")


class Director:
    def __init__(self, tmp: Path, config_text: str):
        self.tmp = tmp
        self.topo = Topology({"d1": ("192.0.2.11/24", "fd00:2::11/64")})
        self.config = tmp / "cluster.yaml"
        self.config.write_text(config_text)
        self.socket = str(tmp / "d1.sock")
        self.log = tmp / "d1.log"
        self.bird_socket = tmp / "bird.ctl"
        self.proc = None

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = self.topo.popen("d1", TANDEMD, "--config", str(self.config), "--node", "d1",
                                        "--control-socket", self.socket, "--state-directory", str(self.tmp / "state"),
                                        "--bird-socket", str(self.bird_socket), stdout=log, stderr=log)

    def routes(self):
        """Tandem's routes (proto 250) in table 100, IPv4 and IPv6, sorted destinations, as `ip -j route` lists them."""
        found = []
        for family in ("-4", "-6"):
            r = subprocess.run(["ip", family, "-j", "-n", self.topo.ns["d1"], "route", "show", "table", "100", "proto", "250"],
                               capture_output=True, text=True, timeout=10)
            # A table that holds no route does not exist for the kernel: "FIB table does not exist".
            if r.returncode != 0 and "does not exist" in r.stderr:
                continue
            assert r.returncode == 0, r.stderr
            found += [route["dst"] for route in json.loads(r.stdout or "[]")]
        return sorted(found)

    def all_routes(self):
        r = subprocess.run(["ip", "-j", "-n", self.topo.ns["d1"], "route", "show", "table", "100"],
                           capture_output=True, text=True, timeout=10)
        return [] if r.returncode != 0 else json.loads(r.stdout or "[]")

    def on_lo(self):
        """The addresses on lo, as `ip -j addr` lists them."""
        return [a["local"] for link in self.topo.ip_json("d1", "addr", "show", "dev", "lo") for a in link["addr_info"]]

    def ctl(self, *args, timeout=20):
        return subprocess.run(["ip", "netns", "exec", self.topo.ns["d1"], TANDEMCTL, args[0], "--socket", self.socket,
                               *args[1:]], capture_output=True, text=True, timeout=timeout)

    def status(self):
        r = self.ctl("status", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def try_status(self):
        """The status, or None while the control socket does not answer yet."""
        r = self.ctl("status", "--json")
        return json.loads(r.stdout) if r.returncode == 0 else None

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.topo.close()

    def logtext(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def director(tmp_path):
    made = []

    def make(config_text):
        d = Director(tmp_path, config_text)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def test_director_announces_drains_and_withdraws_before_it_stops(director, tmp_path):
    d = director(BASE.format(vip=VIP, more_vips=f"  - address: {VIP6}/128\n", state=tmp_path / "state"))
    ns = d.topo.ns["d1"]
    # A route of Tandem's protocol a crashed predecessor left, and a foreign one: the first goes,
    # the second stays.
    subprocess.run(["ip", "-n", ns, "route", "add", "blackhole", f"{STALE}/32", "table", "100", "proto", "250"], check=True)
    subprocess.run(["ip", "-n", ns, "route", "add", "blackhole", f"{FOREIGN}/32", "table", "100", "proto", "static"], check=True)
    d.start()
    both = sorted([VIP, VIP6])
    wait_for("the VIPs' routes in table 100", lambda: d.routes() == both, timeout=10)
    assert VIP in d.on_lo() and VIP6 in d.on_lo(), d.logtext()
    assert FOREIGN in [r["dst"] for r in d.all_routes()]
    # No election, no peer: status says cluster, and why the VIP is announced.
    s = wait_for("status", d.try_status, timeout=5)
    assert s["mode"] == "cluster" and s["role"] == "director"
    assert s["cluster"]["announcements"] == [{"address": VIP, "announced": True, "reasons": [], "decision": "announced"},
                                             {"address": VIP6, "announced": True, "reasons": [], "decision": "announced"}]
    text = d.ctl("status").stdout
    assert f"VIP {VIP}: announced" in text, text
    # No BIRD runs here: status says so instead of inventing sessions.
    assert "birdc -s" in s["cluster"]["bgp_problem"] and "bgp" not in s["cluster"], s["cluster"]

    # Maintenance: the answer comes after the table changed, so no wait is needed.
    r = d.ctl("maintenance", "on", "--wait", "--timeout", "5")
    assert r.returncode == 0, r.stderr
    assert "every route withdrawn" in r.stdout, r.stdout
    # No virtual servers here: no connection to wait for.
    assert r.stdout.splitlines()[-1] == "no active connections left on this director", r.stdout
    assert d.routes() == []
    assert VIP in d.on_lo()  # the connections already here finish
    assert [a["reasons"] for a in d.status()["cluster"]["announcements"]] == [["maintenance"], ["maintenance"]]
    assert (tmp_path / "state" / "maintenance").exists()
    r = d.ctl("maintenance", "off")
    assert r.returncode == 0, r.stderr
    assert f"announcing {VIP}, {VIP6}" in r.stdout, r.stdout
    assert d.routes() == both

    # Someone deletes the VIP from lo: withdrawn at once (route monitor), claimed and announced
    # again by the repair (every 5 s).
    subprocess.run(["ip", "-n", ns, "addr", "del", f"{VIP}/32", "dev", "lo"], check=True)
    wait_for("the route of the removed VIP withdrawn", lambda: d.routes() == [VIP6], timeout=1.5)
    wait_for("the VIP claimed and announced again", lambda: VIP in d.on_lo() and d.routes() == both, timeout=8)

    # Someone deletes the route: the repair puts it back (every 5 s).
    subprocess.run(["ip", "-n", ns, "route", "del", "blackhole", f"{VIP}/32", "table", "100", "proto", "250"], check=True)
    wait_for("the deleted route repaired", lambda: d.routes() == both, timeout=8)

    # SIGTERM: the route goes first; the VIP stays on lo for the grace period; then exit 0.
    d.proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    wait_for("the route withdrawn after SIGTERM", lambda: d.routes() == [], timeout=3)
    withdrawn = time.monotonic()
    assert d.proc.poll() is None, "tandemd exited before withdrawing"
    assert VIP in d.on_lo() and VIP6 in d.on_lo(), "a VIP was released before the grace period"
    rc = d.proc.wait(timeout=10)
    exited = time.monotonic()
    assert rc == 0, d.logtext()
    assert exited - withdrawn >= GRACE_S * 0.9, (sent, withdrawn, exited)
    assert VIP not in d.on_lo() and VIP6 not in d.on_lo()
    assert d.routes() == []
    assert FOREIGN in [r["dst"] for r in d.all_routes()]


def test_director_without_an_installable_ipvs_table_withdraws(director, tmp_path):
    if Path("/proc/net/ip_vs").exists():
        pytest.skip("this kernel has IPVS: the table can be installed here, the VM lab covers that case")
    d = director(BASE.format(vip=VIP, more_vips="", state=tmp_path / "state") + WITH_SERVICE.format(vip=VIP))
    d.start()
    s = wait_for("status with the IPVS reason",
                 lambda: (lambda s: s if s and s["cluster"]["ipvs_problem"] else None)(d.try_status()), timeout=10)
    a = s["cluster"]["announcements"][0]
    assert a["announced"] is False
    assert a["reasons"][0].startswith("IPVS table not verified (IPVS cannot be opened"), a
    # The VIP is held, the route is not there.
    assert VIP in wait_for("the VIP on lo", lambda: d.on_lo() if VIP in d.on_lo() else None, timeout=5)
    time.sleep(0.5)
    assert d.routes() == []
    # A drain on a director: its own, kept in the state directory, and a reason of its own.
    r = d.ctl("drain", "192.0.2.21:80")
    assert r.returncode == 0, r.stderr
    assert "cluster directors do not share drains" in r.stdout, r.stdout
    assert "www 192.0.2.21 80" in (tmp_path / "state" / "drains").read_text()
    reasons = d.try_status()["cluster"]["announcements"][0]["reasons"]
    assert reasons[1:] == ["no live real server for tcp 198.51.100.10:80 (www)"], reasons
    assert d.ctl("undrain", "192.0.2.21:80").returncode == 0
    assert len(d.try_status()["cluster"]["announcements"][0]["reasons"]) == 1
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=10) == 0, d.logtext()
    assert VIP not in d.on_lo()


def test_maintenance_survives_a_restart(director, tmp_path):
    d = director(BASE.format(vip=VIP, more_vips="", state=tmp_path / "state"))
    d.start()
    wait_for("the VIP's route", lambda: d.routes() == [VIP], timeout=10)
    assert d.ctl("maintenance", "on").returncode == 0
    assert d.routes() == []
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=10) == 0, d.logtext()
    d.start()
    # Up again, in maintenance: the VIP is held, nothing is announced.
    wait_for("the VIP on lo after the restart", lambda: VIP in d.on_lo(), timeout=10)
    s = wait_for("status after the restart", d.try_status, timeout=5)
    assert s["maintenance"] is True
    assert s["cluster"]["announcements"][0]["reasons"] == ["maintenance"]
    time.sleep(0.3)
    assert d.routes() == []
    assert d.ctl("maintenance", "off").returncode == 0
    assert d.routes() == [VIP]


def test_reload_adds_and_removes_vips(director, tmp_path):
    other = "198.51.100.11"
    d = director(BASE.format(vip=VIP, more_vips="", state=tmp_path / "state"))
    d.start()
    wait_for("the VIP's route", lambda: d.routes() == [VIP], timeout=10)
    d.config.write_text(BASE.format(vip=VIP, more_vips=f"  - address: {other}/32\n", state=tmp_path / "state")
                        .replace("serial: 1", "serial: 2"))
    r = d.ctl("reload")
    assert r.returncode == 0, r.stderr
    wait_for("both routes after adding a VIP", lambda: d.routes() == sorted([VIP, other]), timeout=5)
    assert other in d.on_lo()
    # Removing the first VIP: its route goes and it leaves lo.
    d.config.write_text(BASE.format(vip=other, more_vips="", state=tmp_path / "state").replace("serial: 1", "serial: 3"))
    assert d.ctl("reload").returncode == 0
    wait_for("only the remaining route", lambda: d.routes() == [other], timeout=5)
    assert VIP not in d.on_lo() and other in d.on_lo()
    assert d.try_status()["config"]["serial"] == 3
    # A switch to a pair is refused; the director keeps running with serial 3.
    d.config.write_text("serial: 4\nnodes:\n  - {name: d1, addresses: [192.0.2.11]}\n  - {name: d2, addresses: [192.0.2.12]}\n"
                        "heartbeat:\n  key_file: /etc/tandem/heartbeat.key\nvirtual_ips:\n  - {address: 10.0.0.10/24, interface: eth0}\n")
    r = d.ctl("reload")
    assert r.returncode != 0 and "restart" in (r.stderr + r.stdout), r
    assert d.routes() == [other]


def test_status_shows_birds_bgp_sessions(director, tmp_path):
    d = director(BASE.format(vip=VIP, more_vips="", state=tmp_path / "state"))
    conf = tmp_path / "d1.bird.conf"
    r = subprocess.run([TANDEMCTL, "bird-config", str(d.config), "--node", "d1"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    conf.write_text(r.stdout)
    bird = d.topo.popen("d1", "bird", "-f", "-c", str(conf), "-s", str(d.bird_socket),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    birdc = lambda: subprocess.run(["birdc", "-s", str(d.bird_socket), "show", "protocols"], capture_output=True, text=True, timeout=5)
    wait_for("BIRD answering", lambda: d.bird_socket.exists() and birdc().returncode == 0, timeout=10)
    d.start()
    s = wait_for("status with BGP sessions", lambda: (lambda s: s if s and s["cluster"].get("bgp") is not None else None)(d.try_status()),
                 timeout=10)
    # The same sessions and states as birdc lists (no peer answers here, so they stay where they are).
    listed = {line.split()[0]: line.split()[3] for line in birdc().stdout.splitlines() if len(line.split()) > 3 and line.split()[1] == "BGP"}
    assert listed, birdc().stdout
    assert {b["name"]: b["state"] for b in s["cluster"]["bgp"]} == listed
    assert "bgp_problem" not in s["cluster"]
    text = d.ctl("status").stdout
    assert "BGP sessions (BIRD):" in text, text
    bird.terminate()
    bird.wait(timeout=5)


def test_metrics_of_a_director(director, tmp_path):
    port = 20000 + secrets.randbelow(20000)
    d = director(BASE.format(vip=VIP, more_vips="", state=tmp_path / "state") + f"metrics:\n  listen: [127.0.0.1:{port}]\n")
    d.start()
    wait_for("the VIP's route", lambda: d.routes() == [VIP], timeout=10)

    def scrape():
        r = subprocess.run(["ip", "netns", "exec", d.topo.ns["d1"], "curl", "-sf", f"http://127.0.0.1:{port}/metrics"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout if r.returncode == 0 else None

    text = wait_for("/metrics answering", scrape, timeout=5)
    assert f'tandem_cluster_vip_announced{{vip="{VIP}"}} 1' in text, text
    assert "tandem_cluster_ipvs_verified 1" in text
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=10)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert d.ctl("maintenance", "on").returncode == 0
    assert d.routes() == []
    text = scrape()
    assert f'tandem_cluster_vip_announced{{vip="{VIP}"}} 0' in text, text
    assert f'tandem_cluster_vip_withdrawal_reason{{vip="{VIP}",reason="maintenance"}} 1' in text, text
