"""Config mirroring between two real tandemd on the host kernel, in network namespaces.

Run as root after `swift build`:  python3 -m pytest -v -s integration/host/test_replication.py
(-s prints the measured times). Each router has its own config file (replication_pair.ReplicaPair);
ra (priority 100) is active, rb standby. What is asserted is what independent tools see: the
config files' bytes, the digest `tandemd --check` computes for each, `ip -j addr` in the router
namespaces; the logs only for the conflict and refusal lines. peer_client.py is an independent
(Python) implementation of the channel's client side.
"""
import json
import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from failover_pair import ADDR  # noqa: E402
from replication_pair import ReplicaPair  # noqa: E402

PEER_CLIENT = os.path.join(os.path.dirname(__file__), "peer_client.py")


@pytest.fixture
def pair(topo):
    p = ReplicaPair(topo)
    yield p
    p.close()


def report(name, **figures):
    print(f"\n[{name}] " + " ".join(f"{k}={v * 1000:.0f}ms" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))


def edit_and_reload(pair, node, text):
    pair.configs[node].write_text(text)
    t0 = time.monotonic()
    pair.signal(node, signal.SIGHUP)
    return t0


def test_edit_on_the_standby_reaches_the_active_within_a_second_and_is_applied(topo, pair):
    pair.start_settled()
    old = pair.text("a")
    new = pair.config_text(serial=2, extra_vips=["10.99.0.11/24"])
    t0 = edit_and_reload(pair, "b", new)
    pair.wait_for(lambda: pair.text("a") == new, timeout=1.0, step=0.002, what="ra's file equals rb's edit")
    t_file = time.monotonic() - t0
    pair.wait_for(lambda: pair.has_address("a", "10.99.0.11"), timeout=1.0, step=0.002, what="the new VIP on ra")
    t_vip = time.monotonic() - t0
    report("standby-to-active", file=t_file, vip=t_vip)
    assert pair.digest("a") == pair.digest("b")
    assert (pair.configs["a"].parent / "ra.yaml.prev").read_text() == old
    assert not pair.has_address("b", "10.99.0.11")
    assert pair.role("a") == "active" and pair.role("b") == "standby"
    assert "applied rb's config serial 2" in pair.log("a")
    assert "served config serial 2" in pair.log("b")


def test_edit_on_the_active_reaches_the_standby_which_claims_nothing(topo, pair):
    pair.start_settled()
    new = pair.config_text(serial=2, extra_vips=["10.99.0.12/24"])
    t0 = edit_and_reload(pair, "a", new)
    pair.wait_for(lambda: pair.text("b") == new, timeout=1.0, step=0.002, what="rb's file equals ra's edit")
    report("active-to-standby", file=time.monotonic() - t0)
    pair.wait_for(lambda: pair.has_address("a", "10.99.0.12"), timeout=1.0, what="the new VIP on ra")
    pair.wait_for(lambda: "applied ra's config serial 2" in pair.log("b"), timeout=1.0, what="rb applied it")
    assert pair.digest("a") == pair.digest("b")
    time.sleep(0.2)
    assert not pair.has_address("b", "10.99.0.12")


def run_client(topo, pair, key_file, name="ra"):
    r = topo.exec("a", sys.executable, PEER_CLIENT, ADDR["b"], str(pair.port), str(key_file), name, "rb", check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_peer_with_the_wrong_key_cannot_fetch_and_is_logged_and_counted(topo, pair):
    pair.start_settled()
    wrong = pair.dir / "wrong.key"
    wrong.write_bytes(os.urandom(32))
    results = [run_client(topo, pair, wrong) for _ in range(3)]
    for r in results:
        assert r["server_proof_ok"] is False
        assert r["verdict"] in ("refused", "closed")
        assert "response" not in r
    pair.wait_for(lambda: "refused a connection" in pair.log("b"), timeout=2, what="the refusal in rb's log")
    lines = [line for line in pair.log("b").splitlines() if "refused a connection" in line]
    assert "authentication failed" in lines[0]
    assert "3 authentication failures so far" in lines[-1]
    # The same client with the right key gets rb's config: the protocol works and the text is the file's.
    good = run_client(topo, pair, pair.key)
    assert good["server_proof_ok"] and good["verdict"] == "accepted" and good["response_tag_ok"]
    assert good["response"]["config"]["_0"]["text"] == pair.text("b")
    assert good["response"]["config"]["_0"]["digest"] == pair.digest("b")
    # The daemons themselves were not disturbed.
    assert pair.role("a") == "active" and pair.role("b") == "standby"


def test_a_conflict_is_reported_on_both_and_raising_a_serial_converges(topo):
    texts = lambda p: {"a": p.config_text(serial=2, extra_vips=["10.99.0.13/24"]),
                       "b": p.config_text(serial=2, extra_vips=["10.99.0.14/24"])}
    pair = ReplicaPair(topo, texts=texts)
    try:
        pair.start_settled()
        first = {n: pair.text(n) for n in ("a", "b")}
        for n in ("a", "b"):
            pair.wait_for(lambda: "config conflict" in pair.log(n), timeout=3, what=f"conflict logged on {n}")
        assert pair.digest("a") != pair.digest("b")
        time.sleep(0.5)
        assert {n: pair.text(n) for n in ("a", "b")} == first, "nothing is applied in a conflict"
        assert pair.log("a").count("config conflict") == 1, "the conflict is logged once, not every poll"
        resolved = pair.config_text(serial=3, extra_vips=["10.99.0.14/24"])
        t0 = edit_and_reload(pair, "b", resolved)
        pair.wait_for(lambda: pair.text("a") == resolved, timeout=1.0, step=0.002, what="ra took rb's serial 3")
        report("conflict-resolved", file=time.monotonic() - t0)
        for n in ("a", "b"):
            pair.wait_for(lambda: "config conflict with" in pair.log(n), timeout=2, what=f"resolved on {n}")
        pair.wait_for(lambda: pair.has_address("a", "10.99.0.14"), timeout=1.0, what="rb's VIP on ra")
        pair.wait_for(lambda: not pair.has_address("a", "10.99.0.13"), timeout=1.0, what="ra's own VIP released")
        assert pair.digest("a") == pair.digest("b")
    finally:
        pair.close()


def test_a_path_address_that_comes_later_is_listened_on_then(topo, pair):
    """rb starts without its path address (fault: no usable heartbeat path); the config channel
    cannot listen there. Once the address is back, the heartbeat path recovers, and the channel
    must too: the bind is retried (status says NOT LISTENING meanwhile), and `ss` shows it."""
    pair.start("a")
    pair.wait_for(lambda: pair.role("a") == "active", 10, what="ra active")
    topo.ip("b", "addr", "del", "10.99.0.2/24", "dev", "eth0")
    pair.start("b")
    pair.wait_for(lambda: "config replication: cannot listen on TCP 10.99.0.2" in pair.log("b"), 10, what="rb's bind failure")
    line = next(l for l in pair.log("b").splitlines() if "cannot listen on TCP 10.99.0.2" in l)
    assert "Cannot assign requested address (errno 99)" in line and "bind(" not in line, line
    status = json.loads(pair.ctl("b", "status", "--json").stdout)
    assert "NOT LISTENING on 10.99.0.2 (Cannot assign requested address (errno 99); retrying)" in status["replication"], status["replication"]
    topo.ip("b", "addr", "add", "10.99.0.2/24", "dev", "eth0")

    def listening():
        out = topo.exec("b", "ss", "-Hltn").stdout
        return any(line.split()[3].startswith("10.99.0.2:") for line in out.splitlines() if len(line.split()) > 3)

    pair.wait_for(listening, 40, step=0.5, what="rb listening on 10.99.0.2")
    pair.wait_for(lambda: pair.role("b") == "standby", 10, what="rb standby")
    assert "config replication listening on TCP 10.99.0.2" in pair.log("b") and "(after retrying)" in pair.log("b")
    assert "NOT LISTENING" not in json.loads(pair.ctl("b", "status", "--json").stdout)["replication"]


def test_a_mirrored_config_the_peer_refuses_leaves_its_file_and_status_true(topo, pair):
    """ra gets a VIP on vlan97, an interface only ra has. rb's reload refuses ra's config, puts
    its own file back (the refused one kept as .refused), and its status must not say that its
    config file on disk was refused (operator trial 33: it said so, and that "a restart would
    read that file", about a file that was fine)."""
    topo.ip("a", "link", "add", "vlan97", "type", "veth", "peer", "name", "vlan97p")
    for link in ("vlan97", "vlan97p"):
        topo.ip("a", "link", "set", link, "up")
    pair.start_settled()
    mine = pair.text("b")
    text = pair.config_text(serial=2, extra_vips=["10.96.0.10/24"]).replace("10.96.0.10/24, interface: eth0",
                                                                             "10.96.0.10/24, interface: vlan97")
    assert "interface: vlan97" in text
    edit_and_reload(pair, "a", text)
    pair.wait_for(lambda: topo.addr_info("a", "10.96.0.10", dev="vlan97") is not None, timeout=5, what="the new VIP on ra")
    pair.wait_for(lambda: "is back as it was" in pair.log("b"), timeout=5, what="rb puts its file back")
    assert pair.text("b") == mine
    assert (pair.configs["b"].parent / "rb.yaml.refused").read_text() == text
    status = pair.ctl("b", "status")
    assert status.returncode == 0, status.stderr
    assert "config file on disk was refused" not in status.stdout, status.stdout
    js = json.loads(pair.ctl("b", "status", "--json").stdout)
    assert js.get("config_file_refused") is None and js["config"]["serial"] == 1, js


def test_a_comment_only_edit_is_said_and_a_raised_serial_mirrors_it(topo, pair):
    """Comments and layout change no serial or digest, so the peer never fetched them and the
    reload said only "no difference" (trial 33: the README promises byte-for-byte mirroring).
    The reload now says so and how to mirror; with the serial raised the peer's file gets the
    exact bytes."""
    pair.start_settled()
    commented = "# rack 4, maintained by the network team\n" + pair.text("a")
    pair.configs["a"].write_text(commented)
    r = pair.ctl("a", "reload")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("unchanged: serial 1 -> 1"), r.stdout
    assert ("warning: the file differs from the config in force only in comments or layout (same serial, same digest): "
            "nothing changes, and rb's file keeps its own text until a change is mirrored; raise serial to mirror this "
            "file now") in r.stdout, r.stdout
    time.sleep(0.5)
    assert pair.text("b") != commented
    raised = commented.replace("serial: 1\n", "serial: 2\n", 1)
    pair.configs["a"].write_text(raised)
    r = pair.ctl("a", "reload")
    assert r.returncode == 0 and r.stdout.startswith("applied: serial 1 -> 2"), r.stdout
    assert "comments or layout" not in r.stdout
    pair.wait_for(lambda: pair.text("b") == raised, timeout=2.0, what="rb's file equals ra's commented one")
    assert pair.role("a") == "active" and pair.role("b") == "standby"
