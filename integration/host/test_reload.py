"""What a reload reports against what it really changes (issue 13, kind 10), on the host kernel
with two real tandemd (VIP-only; the sync daemon and IPVS are covered in
integration/vm/test_reload_ipvs.py).

Run as root after `swift build`:  python3 -m pytest -v -s integration/host/test_reload.py
A restart-only setting (heartbeat port) is reported as "needs a restart" by reload, its dry run
and status (the report is the property here), and is not applied: the peer keeps accepting
heartbeats on the old port. Live ones are applied: a VIP (seen with `ip -j addr`),
`realtime_priority` (the heartbeat thread's policy in /proc/PID/task/TID/stat) and the control
group (an unprivileged member is refused before the reload and admitted after it).
"""
import grp
import json
import os
import pathlib
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from failover_pair import VIP, Pair  # noqa: E402


@pytest.fixture
def pair(topo):
    p = Pair(topo)
    yield p
    p.close()


def status(pair, node):
    r = pair.ctl(node, "status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_restart_only_settings_are_reported_as_needing_a_restart_never_applied(pair):
    pair.start_settled()
    pair.wait_for(lambda: os.path.exists(pair.socket("a")) and os.path.exists(pair.socket("b")), 10, what="control sockets")
    assert status(pair, "a")["restart_needed"] == []
    old_port = pair.port
    text = pair.config_text(serial=2, extra_vips=["192.0.2.20/24"]).replace(f"port: {old_port}", f"port: {old_port + 1}")
    # The state directory is given on the command line here: a change in the file is not used.
    text = text.replace(f"state_directory: {pair.dir}/state", f"state_directory: {pair.dir}/state2")
    assert f"port: {old_port + 1}" in text and "state2" in text
    pair.config.write_text(text)

    dry = pair.ctl("a", "reload", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would apply: serial 1 -> 2"), dry.stdout
    assert f"  ~ heartbeat port {old_port} -> {old_port + 1}\n" in dry.stdout.split("needs a restart of tandemd")[1], dry.stdout

    r = pair.ctl("a", "reload")
    assert r.returncode == 0, r.stderr
    applied, marker, restart = r.stdout.partition("needs a restart of tandemd")
    assert applied.startswith("applied: serial 1 -> 2") and "+ VIP 192.0.2.20/24 on eth0" in applied, r.stdout
    assert "heartbeat port" not in applied, r.stdout
    assert f"state directory {pair.dir}/state -> {pair.dir}/state2 (not used on this node)" in applied, r.stdout
    assert marker and f"  ~ heartbeat port {old_port} -> {old_port + 1}\n" in restart, r.stdout
    assert "state directory" not in restart, r.stdout

    # The live part is applied: the new VIP is on ra.
    pair.wait_for(lambda: pair.topo.addr_info("a", "192.0.2.20") is not None, 5, what="new VIP on ra")
    # The restart-only part is not: rb keeps hearing ra on the old port.
    before = status(pair, "b")["heartbeats"]["accepted"]
    pair.wait_for(lambda: status(pair, "b")["heartbeats"]["accepted"] > before + 3, 5, what="rb still hears ra")
    s = status(pair, "a")
    assert s["restart_needed"] == [f"heartbeat port {old_port} -> {old_port + 1}"], s["restart_needed"]
    assert s["role"] == "active" and s["peer"]["alive"]
    assert f"NEEDS A RESTART to apply: heartbeat port {old_port} -> {old_port + 1}" in pair.ctl("a", "status").stdout
    assert pair.topo.addr_info("a", VIP) is not None

    # Back to the port the daemon started with: nothing needs a restart any more. Both daemons share
    # this file here, so let rb's mirroring of serial 2 finish first, or it rewrites serial 3 away.
    pair.wait_for(lambda: status(pair, "b")["config"]["serial"] == 2, 10, what="rb on serial 2")
    pair.config.write_text(pair.config_text(serial=3, extra_vips=["192.0.2.20/24"]))
    r = pair.ctl("a", "reload")
    assert r.returncode == 0 and "needs a restart" not in r.stdout, r.stdout
    assert status(pair, "a")["restart_needed"] == []


def fifo_threads(pid):
    """{tid: rt_priority} of the process's threads that run SCHED_FIFO (/proc/PID/task/TID/stat:
    field 40 rt_priority, field 41 policy, 1 = SCHED_FIFO)."""
    found = {}
    for stat in pathlib.Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is field 3 (state): field n is fields[n - 3].
        if int(fields[41 - 3]) == 1:
            found[int(stat.parent.name)] = int(fields[40 - 3])
    return found


def test_realtime_priority_is_the_default_and_a_reload_changes_it(pair):
    pair.start_settled()
    pid = pair.procs["a"].pid
    # No realtime_priority in the config: the heartbeat thread (and only it) runs SCHED_FIFO 50.
    pair.wait_for(lambda: list(fifo_threads(pid).values()) == [50], 5, what="the heartbeat thread runs SCHED_FIFO 50 by default")
    (tid,) = fifo_threads(pid)
    assert pathlib.Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip() == "heartbeat"
    off = pair.config_text(serial=2).replace("  interval:", "  realtime_priority: off\n  interval:")
    assert "realtime_priority: off" in off
    pair.config.write_text(off)
    r = pair.ctl("a", "reload")
    assert r.returncode == 0 and "~ heartbeat realtime priority SCHED_FIFO 50 (the default) -> off" in r.stdout, r.stdout + r.stderr
    assert "needs a restart" not in r.stdout, r.stdout
    pair.wait_for(lambda: fifo_threads(pid) == {}, 5, what="the default scheduler")
    pair.config.write_text(pair.config_text(serial=3).replace("  interval:", "  realtime_priority: 70\n  interval:"))
    r = pair.ctl("a", "reload")
    assert r.returncode == 0 and "~ heartbeat realtime priority off -> SCHED_FIFO 70" in r.stdout, r.stdout + r.stderr
    pair.wait_for(lambda: list(fifo_threads(pid).values()) == [70], 5, what="the heartbeat thread runs SCHED_FIFO 70")


def test_control_group_is_applied_by_a_reload(pair):
    os.chmod(pair.dir, 0o755)  # lets the unprivileged user reach the socket
    pair.start_settled()
    pair.wait_for(lambda: os.path.exists(pair.socket("a")), 10, what="control socket")
    nobody = 65534
    group = grp.getgrgid(nobody).gr_name  # the unprivileged user's primary group
    refused = pair.ctl("a", "maintenance", "off", user=nobody)
    assert refused.returncode == 77, refused.stdout + refused.stderr
    pair.config.write_text(pair.config_text(serial=2, tail=f"control: {{group: {group}}}\n"))
    r = pair.ctl("a", "reload")
    assert r.returncode == 0 and f"~ control group none (root only) -> {group}" in r.stdout, r.stdout + r.stderr
    assert "needs a restart" not in r.stdout, r.stdout
    allowed = pair.ctl("a", "maintenance", "off", user=nobody)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr


def virtual_server(weight):
    return f"""virtual_servers:
  - name: web
    address: {VIP}
    port: 80
    scheduler: wrr
    forwarding: nat
    real_servers:
      - {{address: 10.99.0.100, port: 8080, weight: {weight}}}
"""


@pytest.mark.skipif(os.path.exists("/proc/net/ip_vs"), reason="this kernel has IPVS (the VM tests cover reloads there)")
def test_a_reload_on_a_kernel_without_ipvs_says_its_ipvs_changes_are_not_in_the_kernel(pair):
    """An operator's case: on a router whose kernel has no IPVS, `tandemctl reload` of a weight
    change answered "applied: ~ ipvs: update real server ...", as if the kernel had it. The line is
    marked, a warning says why (the kernel worker's own finding) and that tandemd retries, and
    the dry run says the same; lines that reach the kernel (a VIP) are not marked."""
    pair.config.write_text(pair.config_text(tail=virtual_server(1)))
    pair.start_settled()
    pair.wait_for(lambda: "not available in this kernel" in pair.log("a"), 10, what="ra finds no IPVS")
    pair.config.write_text(pair.config_text(serial=2, extra_vips=["192.0.2.20/24"], tail=virtual_server(5)))
    line = "~ ipvs: update real server 10.99.0.100:8080 of tcp 10.99.0.10:80 (not in the kernel: IPVS unavailable)"
    for args in (("reload", "--dry-run"), ("reload",)):
        r = pair.ctl("a", *args)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"  {line}\n" in r.stdout and "  + VIP 192.0.2.20/24 on eth0\n" in r.stdout, r.stdout
        assert ('warning: 1 IPVS change is in the config in force but not in the kernel: IPVS is not available in this kernel'
                in r.stdout and "modprobe ip_vs" in r.stdout and "every 30s" in r.stdout), r.stdout
    # Nothing left to apply: no line is said to miss the kernel (check-config's own warnings stay).
    after = json.loads(pair.ctl("a", "reload", "--dry-run", "--json").stdout)
    assert after["changes"] == [] and not any("not in the kernel" in w for w in after.get("warnings") or []), after
    pair.wait_for(lambda: "reload: 1 IPVS change is in the config in force but not in the kernel" in pair.log("a"), 5,
                  what="the warning in ra's log")
    pair.wait_for(lambda: pair.topo.addr_info("a", "192.0.2.20") is not None, 5, what="the new VIP on ra")
    # status says it too, in text and JSON (the JSON had no such field: trial 33).
    why = status(pair, "a").get("ipvs_unavailable") or ""
    assert "IPVS is not available in this kernel" in why and "tries again every 30s" in why, why
    text = pair.ctl("a", "status").stdout
    assert "WARNING: IPVS is not available on this node, so its virtual services are not served: IPVS is not available" in text, text


def test_a_reload_that_renames_the_peer_is_refused(pair):
    """Operator trial: a typo in the peer's name, reloaded, was listed as "needs a restart" but
    applied at once: the node stopped recognising its live peer (a standby took the VIPs while
    the active served them). Now the reload and its dry run are refused with the way to rename,
    and the pair stays as it was: ra active and hearing rb, rb standby, the VIP on ra only."""
    pair.start_settled()
    text = pair.config_text(serial=2).replace("name: rb,", "name: rb2,")
    assert "name: rb2," in text
    pair.config.write_text(text)
    for node, args in (("a", ("reload", "--dry-run")), ("a", ("reload",)), ("b", ("reload",))):
        r = pair.ctl(node, *args)
        assert r.returncode == 1, r.stdout + r.stderr
        assert ("is called rb2" if node == "a" else "this node, rb, is not in the new config") in r.stderr, r.stderr
        assert "stays in force" in r.stderr and "stop tandemd on the standby" in r.stderr, r.stderr
    pair.topo.exec("a", "sleep", "0.5")
    a, b = status(pair, "a"), status(pair, "b")
    assert a["role"] == "active" and a["peer"]["alive"] and a["config"]["serial"] == 1, a
    assert b["role"] == "standby" and b["peer"]["alive"], b
    assert pair.holders() == {"a"}


def test_a_reload_says_what_check_config_warns_about(pair):
    """Operator trial: a reload took a tracked interface this router lacks (a fault at its next
    start) and a dead time under two intervals without a word, while check-config warned about
    both. The reload (and its dry run) now prints the same warnings, and logs them."""
    pair.start_settled()
    text = pair.config_text(serial=2).replace("priority: 100}", "priority: 100, track_interfaces: [eth9]}") \
        .replace("dead_time: 30ms", "dead_time: 15ms")
    assert "track_interfaces: [eth9]" in text and "dead_time: 15ms" in text
    pair.config.write_text(text)
    for args in (("reload", "--dry-run"), ("reload",)):
        r = pair.ctl("a", *args)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "warning: track_interfaces: eth9 does not exist on ra: it counts as down" in r.stdout, r.stdout
        assert "warning: heartbeat.dead_time: " in r.stdout and "less than twice the interval" in r.stdout, r.stdout
    pair.wait_for(lambda: "reload: track_interfaces: eth9 does not exist on ra" in pair.log("a"), 5, what="the warning in the log")
