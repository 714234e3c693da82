"""tandemctl check-config / show-config as an operator runs them: exit codes, messages, output."""
import json
import os
import pathlib
import pwd
import subprocess
import time

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(tandemctl, example):
    r = tandemctl("check-config", example)
    assert r.returncode == 0, r.stderr
    assert "valid (serial" in r.stdout
    digest = [l for l in r.stdout.splitlines() if l.startswith("digest: ")][0].split()[1]
    assert len(digest) == 64


def test_check_config_node_option(tandemctl, root):
    ok = tandemctl("check-config", root / "examples/dr.yaml", "--node", "director-2")
    assert ok.returncode == 0 and "director-2 (this node) priority 110" in ok.stdout
    bad = tandemctl("check-config", root / "examples/dr.yaml", "--node", "nope")
    assert bad.returncode == 78
    assert 'no node is called "nope"' in bad.stderr


@pytest.mark.parametrize("content,needle", [
    (b"", "is empty"),
    (b"serial: 1\nnodes: [\n", "is not valid YAML"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "is not a text file"),
    (b"\xc3\x28 not utf8\n", "is not UTF-8 text"),
    (b"serial: 1\n", 'missing required key "nodes"'),
])
def test_bad_files_give_clear_errors(tandemctl, tmp_path, content, needle):
    f = tmp_path / "bad.yaml"
    f.write_bytes(content)
    r = tandemctl("check-config", f)
    assert r.returncode == 78, r
    assert needle in r.stderr
    assert "Fatal error" not in r.stderr and "Trace" not in r.stderr


def test_missing_file(tandemctl, tmp_path):
    r = tandemctl("check-config", tmp_path / "absent.yaml")
    assert r.returncode == 78
    assert "no such file" in r.stderr


def test_huge_file_is_refused_without_reading_it(tandemctl, tmp_path):
    f = tmp_path / "huge.yaml"
    with open(f, "wb") as fh:
        fh.truncate(65 * 1024 * 1024)
    r = tandemctl("check-config", f)
    assert r.returncode == 78
    assert "configs larger than 64 MiB are refused" in r.stderr


def test_every_error_with_path_and_line(tandemctl, tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("""serial: 1
nodes:
  - {name: a, addresses: [10.0.0.1]}
  - {name: b, addresses: [10.0.0.2]}
heartbeat: {key_file: /k, interval: 5}
virtual_ips: [{address: 10.0.0.10/24, interface: eth0}]
virtual_servers:
  - name: web
    address: 10.0.0.10
    port: 80
    forwarding: nat
    real_servers:
      - {address: 10.0.1.1, port: 0}
""")
    r = tandemctl("check-config", f)
    assert r.returncode == 78
    assert f"{f}: heartbeat.interval: \"5\" is not a duration" in r.stderr
    assert f"{f}: virtual_servers[0].real_servers[0].port: 0 is not a valid port (1…65535) (line 13)" in r.stderr
    assert "not valid (2 errors)" in r.stderr


def test_show_config_formats(tandemctl, root):
    r = tandemctl("show-config", root / "examples/fwmark-persistence.yaml", "--format", "ipvsadm")
    assert r.returncode == 0
    assert r.stdout == ("-A -f 80 -s wlc -p 3600 -M 255.255.255.0\n"
                        "-a -f 80 -r 192.0.2.101:0 -g -w 5\n"
                        "-a -f 80 -r 192.0.2.102:0 -g -w 5\n")
    j = tandemctl("show-config", root / "examples/nat-http-dns.yaml", "--format", "json")
    table = json.loads(j.stdout)
    assert [s["port"] for s in table] == [80, 53]
    assert table[1]["protocol"] == "udp" and table[1]["one_packet"] is True
    assert {rs["address"] for rs in table[0]["real_servers"]} == {"10.20.0.11", "10.20.0.12"}


def test_warnings_do_not_fail(tandemctl, tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("""serial: 1
nodes: [{name: a, addresses: [10.0.0.1]}, {name: b, addresses: [10.0.0.2]}]
heartbeat: {auth: none}
virtual_ips: [{address: 10.0.0.10/24, interface: eth0}]
virtual_servers: [{name: w, address: 10.0.0.10, port: 80, forwarding: nat, real_servers: [{address: 10.0.1.1, port: 8080}]}]
""")
    r = tandemctl("check-config", f)
    assert r.returncode == 0
    assert "warning: virtual_servers[0].forwarding: NAT real servers must route replies" in r.stderr
    assert "UNAUTHENTICATED" in r.stdout


@pytest.mark.parametrize("command", ["", "status", "failover", "maintenance", "drain", "reload", "events"])
def test_help_text_matches_golden(tandemctl, command):
    """The operator-facing help is part of the interface: a change must be deliberate (regenerate
    integration/host/golden/help-*.txt with `tandemctl CMD --help > ...`)."""
    r = tandemctl(*([command, "--help"] if command else ["--help"]))
    golden = pathlib.Path(__file__).parent / "golden" / f"help-{command or 'tandemctl'}.txt"
    assert r.returncode == 0
    assert r.stdout == golden.read_text()



def test_a_socket_path_that_is_no_socket_is_named(tandemctl, tmp_path):
    """--socket pointing at a directory or a file: the error says what it is, not "is tandemd running"."""
    plain = tmp_path / "plain"
    plain.write_text("")
    for path, what in ((tmp_path, "is a directory"), (plain, "is a regular file")):
        r = tandemctl("status", "--socket", str(path))
        assert r.returncode == 69, r.stderr
        assert f"{path} {what}, not tandemd's control socket" in r.stderr, r.stderr


def test_ipvs_apply_reports_a_bad_config_before_the_kernel(bin_dir, root, tmp_path):
    # `ipvs apply` dumps the kernel's table on its own thread while it loads the config: a bad
    # config is still reported as such (78) whatever the dump found, and a good one on a kernel
    # without IPVS gets the modprobe advice and 69, as before the dump moved. Run in a network
    # namespace of its own and as a dry run, so a kernel with IPVS shows its empty table's plan
    # and nothing anywhere is written.
    def apply(*args):
        return subprocess.run(["unshare", "--net", str(bin_dir / "tandemctl"), "ipvs", "apply", *map(str, args)],
                              capture_output=True, text=True, timeout=60)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"serial: 1\n")
    r = apply("--dry-run", bad)
    assert r.returncode == 78, r
    assert 'missing required key "nodes"' in r.stderr and "IPVS" not in r.stderr
    r = apply("--dry-run", root / "examples/dr.yaml")
    if pathlib.Path("/proc/net/ip_vs").exists():
        assert r.returncode == 0, r
        assert "dry run:" in r.stdout and "nothing written" in r.stdout
    else:
        assert r.returncode == 69, r
        assert "IPVS is not available in this kernel" in r.stderr and "modprobe ip_vs" in r.stderr
        assert r.stderr.count("IPVS is not available") == 1


def pair_config(tail=""):
    """A pair's config for namespaces a (ra, 10.99.0.1) and b (rb, 10.99.0.2) with one VIP on
    eth0; `tail` goes after it (more VIPs, or top-level keys)."""
    return """serial: 1
nodes:
  - {name: ra, addresses: [10.99.0.1], priority: 150}
  - {name: rb, addresses: [10.99.0.2], priority: 100}
heartbeat: {interval: 100ms, dead_time: 400ms, auth: none}
virtual_ips:
  - {address: 10.99.0.10/24, interface: eth0}
""" + tail


def test_check_config_warns_of_a_vip_that_would_route_the_heartbeats_away(bin_dir, topo, tmp_path):
    """A VIP in the heartbeat subnet on another interface: once claimed, the kernel has two
    connected routes to the peer's heartbeat address, and after the heartbeat interface flaps the
    VIP's one comes first (`ip route get` below sees it): the heartbeats leave by the wrong
    interface, the peer takes over while this router serves. check-config on the router says
    so with the fix; the config stays valid (exit 0): some sites wire it on purpose."""
    topo.ip("a", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    for link in ("eth1", "eth1p"):
        topo.ip("a", "link", "set", link, "up")
    config = tmp_path / "tandem.yaml"
    config.write_text(pair_config("""  - {address: 10.99.0.11/24, interface: eth1}
  - {address: 10.99.0.12/32, interface: eth1}
"""))
    r = topo.exec("a", str(bin_dir / "tandemctl"), "check-config", str(config), check=False)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "heartbeat address" in line]
    assert len(warnings) == 1, r.stderr
    assert ("virtual_ips: 10.99.0.11/24 on eth1: its subnet holds rb's heartbeat address 10.99.0.2, which ra reaches from "
            "10.99.0.1 on eth0") in warnings[0] and "Put the VIP on eth0, or give it a /32 prefix" in warnings[0], r.stderr
    # What the warning is about, as the kernel does it: claim the VIP, flap eth0.
    def route():
        return topo.ip_json("a", "route", "get", "10.99.0.2", "from", "10.99.0.1")[0]["dev"]
    assert route() == "eth0"
    topo.ip("a", "addr", "add", "10.99.0.11/24", "dev", "eth1")
    assert route() == "eth0"
    topo.ip("a", "link", "set", "eth0", "down")
    topo.ip("a", "link", "set", "eth0", "up")
    topo.wait_operational()
    assert route() == "eth1"


def test_tandemd_check_warns_of_a_heartbeat_address_this_host_lacks(bin_dir, topo, tmp_path):
    """`tandemd --check --node rb` in a namespace that lacks rb's heartbeat address said
    "valid; this is node rb" (trial 33); tandemd then runs with that path neither listening nor
    sending. Both tandemd --check and check-config warn, naming the path and the fix; the
    namespace's own node (ra, whose address is there) gets no such warning. A control group the
    host lacks is warned too (only the daemon's log said it: only root may change state).
    Namespace c holds neither node's address (one holding the peer's is the next test's)."""
    config = tmp_path / "tandem.yaml"
    config.write_text(pair_config("control: {group: tandem-t34-nosuchgroup}\n"))
    have = [a["local"] for i in topo.ip_json("c", "addr", "show") for a in i.get("addr_info", [])]
    assert "10.99.0.1" not in have and "10.99.0.2" not in have, have
    for command in ([str(bin_dir / "tandemd"), "--check", "--config", str(config), "--node", "rb"],
                    [str(bin_dir / "tandemctl"), "check-config", str(config), "--node", "rb"]):
        r = topo.exec("c", *command, check=False)
        assert r.returncode == 0, r.stderr
        assert ("warning: nodes: rb's heartbeat address 10.99.0.2 is on no interface of this host: heartbeat path 0 to "
                "ra's 10.99.0.1 neither listens nor sends") in r.stderr, r.stderr
        assert "ip addr add 10.99.0.2/PREFIX dev IFACE" in r.stderr, r.stderr
        assert ("warning: control.group: group tandem-t34-nosuchgroup does not exist on this host: only root may change "
                "state through tandemctl") in r.stderr, r.stderr
    r = topo.exec("a", str(bin_dir / "tandemd"), "--check", "--config", str(config), "--node", "ra", check=False)
    assert r.returncode == 0 and "heartbeat address" not in r.stderr, r.stderr


def test_tandemd_check_on_the_peers_host_names_the_peer(bin_dir, topo, tmp_path):
    """`tandemd --check --node ra` on rb's host said "valid; this is node ra", and its warning
    told the operator to add ra's heartbeat address there, which would duplicate it on the LAN
    (trial 35). With rb's heartbeat address here and none of ra's, tandemd --check fails (78)
    and it, check-config and tandemd's start-up log say this is rb's host instead of that advice;
    the daemon started so still goes to fault. rb's own check there is untouched."""
    config = tmp_path / "tandem.yaml"
    config.write_text(pair_config(f"state_directory: {tmp_path}/state\n"))
    line = ("nodes: this host has rb's heartbeat address 10.99.0.2 and none of ra's: is this rb? (--node rb); as ra here "
            "tandemd has no heartbeat path and stays in fault, and adding ra's addresses here would duplicate them on the LAN")
    r = topo.exec("b", str(bin_dir / "tandemd"), "--check", "--config", str(config), "--node", "ra", check=False)
    assert r.returncode == 78, (r.stdout, r.stderr)
    assert f"{config}: {line}" in r.stderr and "ip addr add" not in r.stderr and "valid" not in r.stdout, (r.stdout, r.stderr)
    r = topo.exec("b", str(bin_dir / "tandemctl"), "check-config", str(config), "--node", "ra", check=False)
    assert r.returncode == 0 and f"warning: {line}" in r.stderr and "ip addr add" not in r.stderr, r.stderr
    r = topo.exec("b", str(bin_dir / "tandemd"), "--check", "--config", str(config), "--node", "rb", check=False)
    assert r.returncode == 0 and "this host has" not in r.stderr and "valid; this is node rb" in r.stdout, (r.stdout, r.stderr)
    log = tmp_path / "ra-on-b.log"
    with open(log, "wb") as out:
        daemon = topo.popen("b", str(bin_dir / "tandemd"), "--config", str(config), "--node", "ra",
                            "--control-socket", str(tmp_path / "b.sock"), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 10
        while ("-> fault" not in log.read_text() or line not in log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        text = log.read_text()
        assert f"config: {line}" in text and "-> fault" in text, text
        assert "ip addr add" not in text, text
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def test_a_config_or_program_others_can_change_is_warned_by_every_check(bin_dir, topo, tmp_path):
    """The config names the notify commands and exec checks tandemd runs as root on both
    routers, yet a world-writable, foreign-owned config and a world-writable notify script were
    accepted without a word (trial 35), where the heartbeat key file gets ssh-style checks.
    check-config, tandemd --check, tandemd's start-up log and a reload name each file (and an
    exec check in a world-writable directory), its mode or owner and the chmod/chown that
    fixes it; all still accept the config (warnings only)."""
    base = pathlib.Path(os.path.realpath(tmp_path))
    hooks = base / "hooks"
    hooks.mkdir()
    hooks.chmod(0o777)
    check = hooks / "check.sh"
    check.write_text("#!/bin/sh\nexit 0\n")
    check.chmod(0o755)
    script = base / "notify.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o777)
    config = base / "tandem.yaml"
    body = pair_config(f"""virtual_servers:
  - name: web
    address: 10.99.0.10
    port: 80
    forwarding: dr
    health_check: {{type: exec, command: [{check}, "%h"]}}
    real_servers:
      - {{address: 10.99.0.21, port: 80}}
notify:
  active: [{script}, active]
state_directory: {base}/state
""")
    config.write_text(body)
    config.chmod(0o666)
    os.chown(config, 65534, -1)
    nobody = f"{pwd.getpwuid(65534).pw_name} (uid 65534)"
    expected = [
        f"config file: {config} is writable by its group or other users (mode 0666, owner {nobody}): they can change it, "
        f"and tandemd runs the notify commands and exec checks it names as root, on both routers once it is mirrored; "
        f"run `chmod go-w {config}`",
        f"config file: {config} is owned by {nobody}, not root: that user can change it, and tandemd runs the notify "
        f"commands and exec checks it names as root, on both routers once it is mirrored; run `chown root {config}`",
        f"notify.active: {script} is writable by its group or other users (mode 0777, owner root): they can change it, "
        f"and tandemd runs it as root at each role change; run `chmod go-w {script}`",
        f"virtual_servers[0].health_check.command (web): {check} is in directory {hooks}, which its group or other users "
        f"can write and which has no sticky bit (mode 0777, owner root): they can replace {check}, and tandemd runs it "
        f"as root at every check; run `chmod go-w {hooks}`",
    ]
    def missing(text):
        return [line for line in expected if line not in text]
    r = subprocess.run([str(bin_dir / "tandemctl"), "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not missing(r.stderr), r.stderr
    r = topo.exec("a", str(bin_dir / "tandemd"), "--check", "--config", str(config), check=False)
    assert r.returncode == 0 and not missing(r.stderr), r.stderr
    log = base / "ra.log"
    sock = base / "a.sock"
    with open(log, "wb") as out:
        daemon = topo.popen("a", str(bin_dir / "tandemd"), "--config", str(config), "--node", "ra",
                            "--control-socket", str(sock), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 10
        while missing(log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not missing(log.read_text()), log.read_text()
        assert all(f"config: {line}" in log.read_text() for line in expected), log.read_text()
        # A reload says them again (a mirrored reload goes the same way).
        config.write_text(body.replace("serial: 1", "serial: 2"))
        deadline = time.monotonic() + 10
        while True:
            r = topo.exec("a", str(bin_dir / "tandemctl"), "reload", "--socket", str(sock), check=False)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert all(f"warning: {line}" in r.stdout for line in expected), r.stdout
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    # Fixed as told: nothing more to say.
    for command in ([f"chmod go-w {config}"], [f"chown root {config}"], [f"chmod go-w {script}"], [f"chmod go-w {hooks}"]):
        subprocess.run(command[0].split(), check=True)
    r = topo.exec("a", str(bin_dir / "tandemd"), "--check", "--config", str(config), check=False)
    assert r.returncode == 0 and "writable" not in r.stderr and "owned by" not in r.stderr, r.stderr


def test_programs_that_cannot_run_here_are_warned_by_every_check(bin_dir, topo, tmp_path):
    """A notify command that is not executable and an exec health check whose program is missing
    were found only when due: at the next failover, or as every real server going down (trial 34).
    check-config (here, not a node), tandemd --check on the node and tandemd's start-up all say
    so, with the fix; the config stays valid (the program may be installed later)."""
    script = tmp_path / "notify.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    config = tmp_path / "tandem.yaml"
    config.write_text(pair_config(f"""virtual_servers:
  - name: web
    address: 10.99.0.10
    port: 80
    forwarding: dr
    health_check: {{type: exec, command: [{tmp_path}/no-such-check, "%h"]}}
    real_servers:
      - {{address: 10.99.0.21, port: 80}}
notify:
  active: [{script}, active]
state_directory: {tmp_path}/state
"""))
    notify_line = f"notify.active: {script}: is not executable by tandemd (mode 0644): `chmod +x {script}`"
    check_line = (f"virtual_servers[0].health_check.command (web): {tmp_path}/no-such-check: no such file (or a directory "
                  "on the way cannot be searched); check the path")
    r = subprocess.run([str(bin_dir / "tandemctl"), "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and notify_line in r.stderr and check_line in r.stderr, r.stderr
    r = topo.exec("a", str(bin_dir / "tandemd"), "--check", "--config", str(config), check=False)
    assert r.returncode == 0 and notify_line in r.stderr and check_line in r.stderr, r.stderr
    assert r.stderr.count("notify.active:") == 1, r.stderr
    # At start-up, in the log (once), before any role is taken.
    log = tmp_path / "ra.log"
    with open(log, "wb") as out:
        daemon = topo.popen("a", str(bin_dir / "tandemd"), "--config", str(config), "--node", "ra",
                            "--control-socket", str(tmp_path / "a.sock"), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 10
        while check_line not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = log.read_text()
        assert f"config: {notify_line}" in text and f"config: {check_line}" in text, text
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
