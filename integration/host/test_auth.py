"""Heartbeat authentication that never locks a live peer out (issue 13, kind 7): a peer that
restarts with its state directory lost and its wall clock behind, replays, and key rotation.

Run as root after `swift build`:  python3 -m pytest -v -s integration/host/test_auth.py
Two real tandemd in network namespaces (failover_pair.Pair), interval 100 ms, dead time 400 ms
(the issue's numbers). Assertions are about who holds the VIP (`ip -j addr`); status JSON and
log lines only where they are the property (status must say what happens; the log must not
flood; the replayed packets must be counted).
"""
import json
import os
import re
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from vip_topology import Capture  # noqa: E402
from failover_pair import ADDR, VIP, Pair  # noqa: E402
from test_failover import inject, udp_payloads  # noqa: E402

TEST_CLOCK = "TANDEMD_TEST_BOOT_CLOCK_NS"   # test-only stand-in for the wall clock (BootEpoch.swift)


def status(pair, node):
    r = pair.ctl(node, "status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def settled_single_holder(pair):
    """Exactly one node holds the VIP, it is active and the other is standby."""
    holders = pair.holders()
    if len(holders) != 1:
        return None
    (holder,) = holders
    other = "b" if holder == "a" else "a"
    return holder if pair.role(holder) == "active" and pair.role(other) == "standby" else None


def steady(pair, holder, seconds=1.0):
    """The VIP stays on `holder` alone for `seconds` (sampled every 10 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert pair.holders() == {holder}, f"VIP holders {pair.holders()}\n--- ra ---\n{pair.log('a')[-2000:]}\n--- rb ---\n{pair.log('b')[-2000:]}"
        time.sleep(0.01)


@pytest.mark.parametrize("stop,preempt", [("sigkill", False), ("sigterm", True)])
def test_peer_restarted_with_wiped_state_and_clock_behind_is_accepted_again(topo, stop, preempt):
    pair = Pair(topo, interval_ms=100, dead_ms=400)
    try:
        if preempt:
            pair.config.write_text(pair.config_text(tail="election: {preempt: true}\n"))
        pair.start_settled()
        old_epoch = int(re.search(r"boot epoch (\d+)", pair.log("a")).group(1))
        cap = Capture(topo, "b", f"udp port {pair.port} and src host {ADDR['a']}")
        time.sleep(1.0)
        captured = udp_payloads(cap.stop(), pair.port)
        assert len(captured) >= 5, "no heartbeats of ra captured"

        # ra restarts with its state directory lost and its clock an hour behind the epoch rb knows.
        if stop == "sigkill":
            pair.kill("a")
        else:
            pair.signal("a", signal.SIGTERM)
            assert pair.wait_exit("a") == 0
        shutil.rmtree(pair.dir / "state-a")
        behind = old_epoch - 3600 * 10**9
        t0 = time.monotonic()
        pair.start("a", env={TEST_CLOCK: str(behind)})
        pair.wait_for(lambda: f"boot epoch {behind};" in pair.log("a"), 10, what="ra restarted with the older epoch")

        holder = pair.wait_for(lambda: settled_single_holder(pair), 5, step=0.01, what="one active holding the VIP, one standby")
        took = time.monotonic() - t0
        print(f"\n[older epoch, {stop}, preempt={preempt}] one holder ({holder}) {took * 1000:.0f}ms after ra's restart")
        if preempt:
            assert holder == "a", "ra has the higher priority and preempts once rb accepts it"
        steady(pair, holder)

        s = status(pair, "b")
        auth = s["authentication"]
        assert auth["mode"] == "hmac-sha256" and auth["peer_key"] == "current"
        assert auth["state"] == "ok" and auth["verified_by_challenge_at"]
        assert f"boot epoch {behind} replaced {old_epoch}" in auth["detail"]
        assert s["peer"]["alive"]
        text = pair.ctl("b", "status").stdout
        assert "peer verified by challenge at" in text

        # A captured heartbeat of ra's old life, replayed (three times over), is still refused and counted.
        before = s["heartbeats"]["replayed"]
        roles_before = {n: len(pair.roles(n)) for n in ("a", "b")}
        inject(topo, "b", pair.port, captured * 3)
        pair.wait_for(lambda: status(pair, "b")["heartbeats"]["replayed"] >= before + len(captured) * 3, 3,
                      what="the replays counted")
        steady(pair, holder, 0.5)
        assert {n: len(pair.roles(n)) for n in ("a", "b")} == roles_before, "a replayed packet changed a role"
        pair.wait_for(lambda: "were replays: the live peer answered the challenge" in pair.log("b"), 3,
                      what="the live peer refuting the replay")
        # Status says "re-authenticating" while replayed packets are being questioned, "ok" once answered.
        # Answered at once, or, when the last challenge fell to ra's answer rate limit, over one
        # challenge lifetime (5 s, HeartbeatVerifier.challengeLifetimeMilliseconds) after the last replay.
        pair.wait_for(lambda: status(pair, "b")["authentication"]["state"] == "ok", 8, what="status ok again")
        # The log is not flooded: at most a burst of drop lines for all of that.
        replay_lines = [l for l in pair.log("b").splitlines() if "heartbeat dropped" in l and "replayed" in l]
        assert len(replay_lines) <= 6, "\n".join(replay_lines)
    finally:
        pair.close()


@pytest.fixture
def keyed_pair(topo):
    """A pair whose key files sit at the same path on both nodes but are each node's own:
    `ip netns exec` bind-mounts /etc/netns/<namespace>/<dir> over /etc/<dir> for the daemon."""
    tag = "tdm-keys-" + secrets.token_hex(3)
    netns_dir_existed = Path("/etc/netns").exists()
    shared = Path("/etc") / tag
    shared.mkdir(mode=0o700)
    local = {n: Path("/etc/netns") / topo.ns[n] / tag for n in ("a", "b")}
    for d in local.values():
        d.mkdir(parents=True, mode=0o700)
    pair = Pair(topo, interval_ms=100, dead_ms=400)
    pair.key_dir = shared
    pair.local_keys = local
    try:
        yield pair
    finally:
        pair.close()
        shutil.rmtree(shared, ignore_errors=True)
        for n, d in local.items():
            shutil.rmtree(d, ignore_errors=True)
            try:
                d.parent.rmdir()          # /etc/netns/<namespace>, empty now
            except OSError:
                pass
        if not netns_dir_existed:
            try:
                Path("/etc/netns").rmdir()
            except OSError:
                pass


def put_key(pair, node, name, key):
    path = pair.local_keys[node] / name
    path.write_bytes(key)
    os.chmod(path, 0o600)


def key_config(pair, serial, with_next):
    text = pair.config_text(serial=serial, key=pair.key_dir / "heartbeat.key")
    if with_next:
        text = text.replace("  key_file:", f"  next_key_file: {pair.key_dir / 'heartbeat-next.key'}\n  key_file:")
    return text


def start_with_one_key(pair):
    """Both nodes sign with the same fresh key (serial 1), settled; returns (that key, another)."""
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    for n in ("a", "b"):
        put_key(pair, n, "heartbeat.key", old)
    pair.config.write_text(key_config(pair, 1, with_next=False))
    pair.start_settled()
    return old, new


def test_key_rotation_one_node_at_a_time_without_a_takeover(topo, keyed_pair):
    pair = keyed_pair
    old, new = start_with_one_key(pair)
    roles_before = {n: len(pair.roles(n)) for n in ("a", "b")}
    samples, holders_seen = 0, set()

    def watch(seconds):
        nonlocal samples
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            holders_seen.add(frozenset(pair.holders()))
            samples += 1
            time.sleep(0.01)

    def reload(node, count):
        pair.signal(node, signal.SIGHUP)
        pair.wait_for(lambda: pair.log(node).count("heartbeat keys replaced") >= count, 5, what=f"{node} took the new keys")
        watch(1.0)   # ten heartbeat intervals under the new keys

    # 1. The new key goes to both nodes as next_key_file (still signing with the old one).
    for n in ("a", "b"):
        put_key(pair, n, "heartbeat-next.key", new)
    pair.config.write_text(key_config(pair, 2, with_next=True))
    reload("a", 1)
    reload("b", 1)
    assert status(pair, "a")["authentication"]["peer_key"] == "current"
    # 2. Node a signs with the new key, and still accepts the old one.
    put_key(pair, "a", "heartbeat.key", new)
    put_key(pair, "a", "heartbeat-next.key", old)
    reload("a", 2)
    sb = status(pair, "b")["authentication"]
    assert sb["peer_key"] == "next", "rb should see ra signing with the key it has as next"
    assert sb["next_key_fingerprint"] == status(pair, "a")["authentication"]["key_fingerprint"]
    # 3. Node b does the same: both sign with the new key.
    put_key(pair, "b", "heartbeat.key", new)
    put_key(pair, "b", "heartbeat-next.key", old)
    reload("b", 2)
    assert status(pair, "a")["authentication"]["peer_key"] == "current"
    assert status(pair, "b")["authentication"]["peer_key"] == "current"
    # 4. The old key is dropped everywhere.
    pair.config.write_text(key_config(pair, 3, with_next=False))
    reload("a", 3)
    reload("b", 3)
    sa, sb = status(pair, "a"), status(pair, "b")
    assert sa["authentication"].get("next_key_fingerprint") is None, "absent (null) once next_key_file is gone"
    assert sa["authentication"]["key_fingerprint"] == sb["authentication"]["key_fingerprint"]

    assert holders_seen == {frozenset({"a"})}, f"VIP holders seen during the rotation: {holders_seen}"
    assert {n: len(pair.roles(n)) for n in ("a", "b")} == roles_before, "a role changed during the rotation"
    for s in (sa, sb):
        assert s["heartbeats"]["unauthenticated"] == 0, s["heartbeats"]
        assert s["peer"]["alive"]
    print(f"\n[key rotation] {samples} samples, VIP on ra throughout, no packet unauthenticated")


def test_a_one_step_key_change_that_would_lock_the_peer_out_is_refused(topo, keyed_pair):
    """A new key in key_file on one node, in one step, would refuse the live peer's heartbeats
    and make both nodes active: the reload is refused with the two-step fix, nothing moves."""
    pair = keyed_pair
    _, new = start_with_one_key(pair)
    put_key(pair, "a", "heartbeat.key", new)
    pair.config.write_text(key_config(pair, 2, with_next=False))
    r = pair.ctl("a", "reload")
    assert r.returncode == 1, r.stdout
    assert "rb signs with sha256:" in r.stderr and "would refuse: both nodes would go active" in r.stderr, r.stderr
    assert "add the new key as next_key_file on both nodes" in r.stderr and "stays in force" in r.stderr, r.stderr
    time.sleep(1.0)   # ten intervals: nothing changed
    assert pair.holders() == {"a"}
    sa, sb = status(pair, "a"), status(pair, "b")
    assert sa["config"]["serial"] == 1 and sa["peer"]["alive"] and sb["peer"]["alive"]
    assert sa["heartbeats"]["unauthenticated"] == 0 and sb["heartbeats"]["unauthenticated"] == 0


def test_a_swap_to_a_key_the_peer_does_not_hold_is_refused(topo, keyed_pair):
    """Step 1 of the rotation done on ra only (rb lacks the next key, so it keeps serial 1), then
    step 2 on ra: rb could not check ra's new signing key, would hear nothing and go active. The
    reload is refused with rb named and the fix; nothing moves."""
    pair = keyed_pair
    old, new = start_with_one_key(pair)
    put_key(pair, "a", "heartbeat-next.key", new)
    pair.config.write_text(key_config(pair, 2, with_next=True))
    r = pair.ctl("a", "reload")
    assert r.returncode == 0, r.stderr
    put_key(pair, "a", "heartbeat.key", new)
    put_key(pair, "a", "heartbeat-next.key", old)
    r = pair.ctl("a", "reload")
    assert r.returncode == 1, r.stdout
    assert "rb cannot check the new key_file sha256:" in r.stderr and "runs another config (serial 1)" in r.stderr, r.stderr
    assert "both would hold the VIPs" in r.stderr and "reload until rb runs that config" in r.stderr, r.stderr
    time.sleep(1.0)   # ten intervals: nothing changed
    assert pair.holders() == {"a"}
    sa, sb = status(pair, "a"), status(pair, "b")
    assert sa["peer"]["alive"] and sb["peer"]["alive"] and sb["role"] == "standby"
    assert sb["heartbeats"]["unauthenticated"] == 0


def test_a_peer_with_another_key_is_reported_as_refused_not_only_silent(topo, keyed_pair):
    """rb restarted with another key: each node refuses the other's heartbeats and both go active
    (as keepalived would). Status must say why: REFUSING, the keys differ, not just "not heard"."""
    pair = keyed_pair
    start_with_one_key(pair)
    pair.signal("b", signal.SIGTERM)
    pair.wait_exit("b")
    put_key(pair, "b", "heartbeat.key", secrets.token_bytes(32))
    pair.start("b")
    pair.wait_for(lambda: os.path.exists(pair.socket("b")) and pair.ctl("b", "status").returncode == 0, 10, what="rb back")
    for n in ("a", "b"):
        pair.wait_for(lambda: status(pair, n)["authentication"]["state"] == "refusing", 10, what=f"{n} reports refusing")
        auth = status(pair, n)["authentication"]
        assert "differ between the nodes" in auth["detail"] and "both nodes may be active" in auth["detail"], auth
        text = pair.ctl(n, "status").stdout
        assert "  REFUSING: " in text and "naming the peer failed authentication" in text, text


def test_a_peer_back_with_the_right_key_after_running_with_another_is_announced_over(topo, keyed_pair):
    """rb ran a while with another key (both active: it announced the VIP, the client moved to
    it), then stopped and came back with the right key. ra, which never heard it active, must
    announce the VIP again: the client kept sending to rb's MAC for 8 s in the operator's trial."""
    pair = keyed_pair
    right, _ = start_with_one_key(pair)
    topo.exec("c", "ping", "-c", "1", "-W", "2", VIP)
    assert pair.client_mac_for_vip() == topo.mac["a"]
    pair.signal("b", signal.SIGTERM)
    pair.wait_exit("b")
    put_key(pair, "b", "heartbeat.key", secrets.token_bytes(32))
    pair.start("b")
    pair.wait_for(lambda: pair.client_mac_for_vip() == topo.mac["b"], 10, what="the client on rb (it announced with the other key)")
    pair.signal("b", signal.SIGTERM)
    pair.wait_exit("b")
    put_key(pair, "b", "heartbeat.key", right)
    pair.start("b")
    pair.wait_for(lambda: pair.client_mac_for_vip() == topo.mac["a"], 3, what="the client back on ra after rb returned with the right key")
    assert pair.holders() == {"a"}
    assert "is back after it left" in pair.log("a")


def test_check_config_validates_the_next_key_file(tmp_path, tandemctl):
    key = tmp_path / "k1"
    # A key file's one trailing newline is not part of the key, so k2 (k1 plus "\n") holds the same
    # key only when k1 itself does not end in a newline: a random 32nd byte would, 1 time in 256.
    key.write_bytes(secrets.token_bytes(31) + b"k")
    same = tmp_path / "k2"
    same.write_bytes(key.read_bytes() + b"\n")
    short = tmp_path / "k3"
    short.write_bytes(b"short")
    base = """serial: 1
nodes:
  - {name: a, addresses: [192.0.2.1]}
  - {name: b, addresses: [192.0.2.2]}
heartbeat:
  key_file: %s
  next_key_file: %s
virtual_ips:
  - {address: 192.0.2.10/24, interface: eth0}
"""
    cases = [(same, 78, "holds the same key as key_file"), (short, 78, "holds 5 bytes; it needs at least 16"),
             (tmp_path / "missing", 0, "warning: heartbeat.next_key_file: cannot read"), (key, 78, "is the same file as key_file")]
    good = tmp_path / "k4"
    good.write_bytes(secrets.token_bytes(32))
    cases.append((good, 0, None))
    for next_key, code, needle in cases:
        f = tmp_path / "tandem.yaml"
        f.write_text(base % (key, next_key))
        r = tandemctl("check-config", f)
        assert r.returncode == code, (next_key, r.stdout, r.stderr)
        if needle:
            assert needle in r.stderr, r.stderr


def test_a_key_swap_to_a_next_key_the_peer_wrote_differently_is_refused(topo, keyed_pair):
    """Trial 34: step 1 of the rotation with the next key generated on each node (`head -c 32
    /dev/urandom` run twice) is the same config on both, so nothing could tell; step 2 on ra then
    made rb refuse ra's heartbeats and both went active. An operator's reload now asks rb which
    keys it holds and refuses the swap, naming both fingerprints and the fix; with the same file
    copied to rb the swap goes through and nothing moves."""
    pair = keyed_pair
    old, new = start_with_one_key(pair)
    other = secrets.token_bytes(32)
    put_key(pair, "a", "heartbeat-next.key", new)
    put_key(pair, "b", "heartbeat-next.key", other)
    pair.config.write_text(key_config(pair, 2, with_next=True))
    for node in ("a", "b"):
        r = pair.ctl(node, "reload")
        assert r.returncode == 0, r.stdout + r.stderr
    pair.wait_for(lambda: (status(pair, "a")["peer"].get("config") or {}).get("serial") == 2, 5, what="ra hears rb at serial 2")
    sb = status(pair, "b")["authentication"]
    put_key(pair, "a", "heartbeat.key", new)
    put_key(pair, "a", "heartbeat-next.key", old)
    r = pair.ctl("a", "reload")
    assert r.returncode == 1, r.stdout
    assert (f"rb does not hold the new key_file {status(pair, 'a')['authentication']['next_key_fingerprint']} (it holds key_file "
            f"{sb['key_fingerprint']}, next_key_file {sb['next_key_fingerprint']})") in r.stderr, r.stderr
    assert "Copy this node's key file to rb byte for byte" in r.stderr and "stays in force" in r.stderr, r.stderr
    time.sleep(1.0)   # ten intervals: nothing changed
    assert pair.holders() == {"a"}
    assert status(pair, "b")["role"] == "standby" and status(pair, "b")["heartbeats"]["unauthenticated"] == 0
    # SIGHUP asks too (the classic reload).
    pair.signal("a", signal.SIGHUP)
    pair.wait_for(lambda: pair.log("a").count("reload rejected: heartbeat: rb does not hold the new key_file") >= 2, 5,
                  what="ra's SIGHUP reload refused")
    assert pair.holders() == {"a"} and status(pair, "a")["authentication"]["key_fingerprint"] == sb["key_fingerprint"]
    # The fix as the refusal words it: the same file on rb, reload rb, then ra.
    put_key(pair, "b", "heartbeat-next.key", new)
    assert pair.ctl("b", "reload").returncode == 0
    r = pair.ctl("a", "reload")
    assert r.returncode == 0, r.stderr
    time.sleep(1.0)
    assert pair.holders() == {"a"} and status(pair, "b")["authentication"]["peer_key"] == "next"


def test_a_node_started_on_a_key_the_peer_lacks_is_warned(topo, keyed_pair):
    """Trial 35: a node's reload onto a next key the peer lacked was refused, then the node was
    restarted and read that key file: it started signing with a key the peer refuses, and said
    nothing while the peer took over. Once the peer channel answers, the started node asks the
    peer which keys it holds and warns with both fingerprints and the fix."""
    pair = keyed_pair
    old, new = start_with_one_key(pair)
    # Step 1 of the rotation done on both; then rb restarts on a third key, which ra lacks.
    for node in ("a", "b"):
        put_key(pair, node, "heartbeat-next.key", new)
    pair.config.write_text(key_config(pair, 2, with_next=True))
    for node in ("a", "b"):
        r = pair.ctl(node, "reload")
        assert r.returncode == 0, r.stdout + r.stderr
    pair.kill("b")
    # rb comes back signing with a third key, ra's key its next: the peer channel still works.
    put_key(pair, "b", "heartbeat.key", secrets.token_bytes(32))
    put_key(pair, "b", "heartbeat-next.key", old)
    pair.start("b")
    pair.wait_for(lambda: "does not hold the key_file this node signs with" in pair.log("b"), 15,
                  what="rb warns that ra lacks its key")
    log = pair.log("b")
    assert "Copy this node's key file to ra as its next_key_file" in log, log[-2000:]
