"""tandemctl against a NAT pair with IPVS and connection sync, inside the VM.

Uses the lab's topology (integration/lab: client, routers r1 and r2, real servers rs1 and rs2 in
network namespaces) with a config of its own: the lab's HTTP service plus a TCP echo service, and
the IPVS connection-sync daemon on the routers' heartbeat link. The independent views: the
client's own TCP session through the VIP, `ip -j addr`, and ipvsadm in each router's namespace.
"""
import importlib.machinery
import importlib.util
import json
import os
import secrets
import subprocess
import sys
import time

import pytest

from vmlib import ROOT, TANDEMCTL

LAB_PATH = ROOT / "integration" / "lab"


def load_lab():
    os.environ.setdefault("LAB_INSIDE_VM", "1")
    loader = importlib.machinery.SourceFileLoader("tandem_lab", str(LAB_PATH))
    spec = importlib.util.spec_from_loader("tandem_lab", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


ECHO_SERVER = """
import socket, threading
def serve(c):
    with c:
        f = c.makefile('rwb')
        for line in f:
            f.write(line); f.flush()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 9000)); s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

# One TCP session through the VIP: a numbered line every 50 ms, each echoed back; the first
# failure ends it. Bounded: `count` lines.
ECHO_CLIENT = """
import socket, sys, time
count, timeout = int(sys.argv[1]), float(sys.argv[2])
s = socket.create_connection(('192.0.2.10', 9000), timeout=timeout)
s.settimeout(timeout)
f = s.makefile('rwb')
for n in range(count):
    try:
        f.write(b'%d\\n' % n); f.flush()
        line = f.readline()
        if line != b'%d\\n' % n:
            print(f'{time.time():.4f} fail {n} got {line!r}', flush=True); sys.exit(1)
        print(f'{time.time():.4f} ok {n}', flush=True)
    except Exception as e:
        print(f'{time.time():.4f} fail {n} {type(e).__name__}', flush=True); sys.exit(1)
    time.sleep(0.05)
print('done', flush=True)
"""


@pytest.fixture
def lab():
    module = load_lab()
    lab = module.Lab(vip_only=False)
    lab.crashed = set()
    lab.module = module
    yield lab
    lab.close()


def write_config(lab, tail=""):
    """The pair's config; `tail` is appended as it is (more top-level keys)."""
    m = lab.module
    key = lab.dir / "heartbeat.key"
    key.write_bytes(secrets.token_bytes(32))
    key.chmod(0o600)
    path = lab.dir / "tandem.yaml"
    path.write_text(f"""serial: 1
nodes:
  - {{name: r1, addresses: [192.0.2.2, 198.51.100.2], priority: 150}}
  - {{name: r2, addresses: [192.0.2.3, 198.51.100.3], priority: 100}}
heartbeat:
  interval: {m.INTERVAL_MS}ms
  dead_time: {m.DEAD_MS}ms
  key_file: {key}
virtual_ips:
  - {{address: 192.0.2.10/24, interface: eth0}}
  - {{address: 10.20.0.1/24, interface: eth1, nat_gateway: true}}
virtual_servers:
  - name: web
    address: 192.0.2.10
    port: 80
    scheduler: rr
    forwarding: nat
    real_servers:
      - {{address: 10.20.0.11, port: 8080}}
      - {{address: 10.20.0.12, port: 8080}}
  - name: echo
    address: 192.0.2.10
    port: 9000
    scheduler: rr
    forwarding: nat
    real_servers:
      - {{address: 10.20.0.11, port: 9000}}
      - {{address: 10.20.0.12, port: 9000}}
sync:
  interface: hb
  sync_id: 7
state_directory: {lab.dir}/state
""" + tail)
    return path


def ctl(lab, router, *args, timeout=120):
    command = [TANDEMCTL, args[0], "--socket", str(lab.dir / f"{router}.sock"), *args[1:]]
    return subprocess.run(["ip", "netns", "exec", lab.ns[router], *command], capture_output=True, text=True, timeout=timeout)


def status(lab, router):
    r = ctl(lab, router, "status", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def save(lab, router):
    return lab.ex(router, "ipvsadm", "-S", "-n").stdout


def diagnostics(lab):
    """What a failure message needs: both routers' connection tables, sync daemons, hb link
    counters and the daemons' logs."""
    parts = []
    for r in ("r1", "r2"):
        for args in (["ipvsadm", "-Lnc"], ["ipvsadm", "-L", "--daemon"], ["ip", "-s", "link", "show", "hb"]):
            parts.append(f"--- {r}: {' '.join(args)}\n" + lab.ex(r, *args, check=False).stdout)
        log = lab.dir / f"tandemd-{r}.log"
        parts.append(f"--- {r}: tandemd log\n" + (log.read_text(errors="replace")[-4000:] if log.exists() else ""))
    return "\n".join(parts)


def start_pair(lab, tail=""):
    m = lab.module
    lab.build()
    config = write_config(lab, tail)
    for rs in ("rs1", "rs2"):
        lab.start_http(rs, 8080, rs)
        lab.spawn(f"echo-{rs}", rs, [sys.executable, "-c", ECHO_SERVER], lab.dir / f"echo-{rs}.log")
    for r in ("r1", "r2"):
        lab.spawn(f"tandemd-{r}", r, [m.BIN / "tandemd", "--config", config, "--node", r,
                                      "--control-socket", lab.dir / f"{r}.sock", "--state-directory", lab.dir / f"state-{r}"],
                  lab.dir / f"tandemd-{r}.log")
    assert lab.wait_for(lambda: lab.holder() == ["r1"], 30 * m.SLOW), lab.dump_logs()
    assert lab.wait_for(lambda: (lab.dir / "r2.sock").exists() and status(lab, "r2")["role"] == "standby", 30 * m.SLOW)
    # Warm standby: both routers have the table before any failover.
    desired = subprocess.run([TANDEMCTL, "show-config", str(config), "--format", "ipvsadm"], capture_output=True,
                             text=True, check=True).stdout
    assert lab.wait_for(lambda: save(lab, "r1") == desired and save(lab, "r2") == desired, 30 * m.SLOW)
    return config, desired


def test_manual_failover_keeps_an_established_tcp_session(lab):
    m = lab.module
    config, desired = start_pair(lab)
    # Sessions are synced as they go (3rd packet, then every 50th): the daemons must run first.
    assert lab.wait_for(lambda: "master sync daemon" in lab.ex("r1", "ipvsadm", "-L", "--daemon").stdout
                        and "backup sync daemon" in lab.ex("r2", "ipvsadm", "-L", "--daemon").stdout, 30 * m.SLOW), diagnostics(lab)
    log = lab.dir / "echo-client.log"
    lab.spawn("echo-client", "client", [sys.executable, "-u", "-c", ECHO_CLIENT, "400", str(3 * m.SLOW)], log)
    assert lab.wait_for(lambda: log.read_text().count(" ok ") >= 40, 30 * m.SLOW), log.read_text()
    # The session has reached the standby through the sync daemon (ipvsadm -Lnc there).
    assert lab.wait_for(lambda: "192.0.2.10:9000" in lab.ex("r2", "ipvsadm", "-Lnc").stdout, 20 * m.SLOW), diagnostics(lab)
    requested = time.time()
    r = ctl(lab, "r1", "failover")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "failover complete: r1 -> r2" in r.stdout
    assert lab.holder() == ["r2"]
    lab.procs["echo-client"].wait(timeout=120 * m.SLOW)
    lines = log.read_text().splitlines()
    assert lines[-1] == "done", lines[-5:]
    after = [l for l in lines if l.split()[0] != "done" and float(l.split()[0]) > requested]
    assert len(after) > 20 and not any(" fail " in l for l in lines)
    print(f"\n[manual failover with IPVS NAT + sync] {r.stdout.strip()}; echo session: {len(lines) - 1} round trips, "
          f"{len(after)} after the request, none failed")
    assert save(lab, "r2") == desired


def test_drain_sets_weight_zero_in_the_kernel_and_survives_restart(lab):
    m = lab.module
    config, desired = start_pair(lab)
    r = ctl(lab, "r1", "drain", "10.20.0.11:8080", "--service", "web")
    assert r.returncode == 0, r.stderr
    drained_rule = "-a -t 192.0.2.10:80 -r 10.20.0.11:8080 -m -w 0"
    assert lab.wait_for(lambda: drained_rule in save(lab, "r1"), 10 * m.SLOW), save(lab, "r1")
    # Only that real server of that service.
    assert "-a -t 192.0.2.10:9000 -r 10.20.0.11:9000 -m -w 1" in save(lab, "r1")
    web = next(s for s in status(lab, "r1")["services"] if s["name"] == "web")
    rs = next(x for x in web["real_servers"] if x["server"] == "10.20.0.11:8080")
    assert rs["drained"] and rs["kernel_weight"] == 0 and rs["config_weight"] == 1
    # `show ipvs` through the daemon agrees with ipvsadm -Ln.
    shown = ctl(lab, "r1", "show", "ipvs").stdout
    assert "10.20.0.11:8080" in shown and shown.splitlines()[1:] == lab.ex("r1", "ipvsadm", "-Ln").stdout.splitlines()[1:]
    # The drain survives a daemon restart (state directory).
    lab.procs["tandemd-r1"].terminate()
    lab.procs["tandemd-r1"].wait(timeout=60 * m.SLOW)
    lab.spawn("tandemd-r1", "r1", [m.BIN / "tandemd", "--config", config, "--node", "r1",
                                   "--control-socket", lab.dir / "r1.sock", "--state-directory", lab.dir / "state-r1"],
              lab.dir / "tandemd-r1.log")
    assert lab.wait_for(lambda: (lab.dir / "r1.sock").exists() and ctl(lab, "r1", "status").returncode == 0, 30 * m.SLOW)
    time.sleep(2 * m.SLOW)
    assert drained_rule in save(lab, "r1")
    r = ctl(lab, "r1", "undrain", "10.20.0.11:8080")
    assert r.returncode == 0, r.stderr
    assert lab.wait_for(lambda: save(lab, "r1") == desired, 10 * m.SLOW), save(lab, "r1")
