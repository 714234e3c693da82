"""Health checks driving the IPVS table, inside the VM: a real tandemd (a single node; its peer
is absent, so it becomes active after the dead time) with a NAT virtual server, real servers
serving HTTP in their own namespaces, and an agent reporting load.

Topology (namespaces tdm-hv<random>-NAME, deleted at the end):

    router  hb 192.0.2.2/24 (dummy, VIP 192.0.2.10)   br0 10.31.0.1/24
    rs1     eth0 10.31.0.11  HTTP :8080, agent :9999 answering "50%"
    rs2     eth0 10.31.0.12  HTTP :8080
    sorry server 10.31.0.13:8080 (only ever a table entry)

The independent view is `ipvsadm -S -n` in the router's namespace. Time limits follow the issue:
a stopped server is quiesced within fall x interval + timeout, it returns after rise x interval;
the VM runs under software emulation (~10x slower), so each limit gets a fixed slack on top and
the measured times are printed.
"""
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vmlib import ROOT, run

TANDEMD = os.environ.get("TANDEMD") or str(Path(os.environ.get("TANDEM_BIN", ROOT / ".build" / "debug")) / "tandemd")
INTERVAL, TIMEOUT, RISE, FALL = 1.0, 0.8, 2, 2
SLACK = 8.0          # scheduling and reconcile time in the slow VM
HTTP = ("import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length','3'); self.end_headers(); self.wfile.write(b'ok\\n')\n"
        "    def log_message(self,*a): pass\n"
        "s=http.server.ThreadingHTTPServer(('0.0.0.0',8080),H)\n"
        "print('ready',flush=True)\n"
        "s.serve_forever()\n")
AGENT = ("import socket\n"
         "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('0.0.0.0',9999)); s.listen(16)\n"
         "print('ready',flush=True)\n"
         "while True:\n"
         "    c,_=s.accept(); c.sendall(b'50%\\n'); c.close()\n")


class Lab:
    def __init__(self):
        tag = "tdm-hv" + secrets.token_hex(2)
        self.ns = {n: f"{tag}-{n}" for n in ("router", "rs1", "rs2")}
        self.dir = Path(tempfile.mkdtemp(prefix="tdm-health-vm-"))
        self.procs = {}

    def sh(self, *args, check=True):
        return run(*map(str, args), check=check)

    def build(self):
        for name in self.ns.values():
            self.sh("ip", "netns", "add", name)
        for n in self.ns:
            self.sh("ip", "-n", self.ns[n], "link", "set", "lo", "up")
        r = self.ns["router"]
        self.sh("ip", "-n", r, "link", "add", "hb", "type", "dummy")
        self.sh("ip", "-n", r, "addr", "add", "192.0.2.2/24", "dev", "hb")
        self.sh("ip", "-n", r, "link", "set", "hb", "up")
        self.sh("ip", "-n", r, "link", "add", "br0", "type", "bridge")
        self.sh("ip", "-n", r, "addr", "add", "10.31.0.1/24", "dev", "br0")
        self.sh("ip", "-n", r, "link", "set", "br0", "up")
        for i, rs in ((11, "rs1"), (12, "rs2")):
            self.sh("ip", "-n", r, "link", "add", f"to-{rs}", "type", "veth", "peer", "name", "eth0", "netns", self.ns[rs])
            self.sh("ip", "-n", r, "link", "set", f"to-{rs}", "master", "br0", "up")
            self.sh("ip", "-n", self.ns[rs], "addr", "add", f"10.31.0.{i}/24", "dev", "eth0")
            self.sh("ip", "-n", self.ns[rs], "link", "set", "eth0", "up")
            self.sh("ip", "-n", self.ns[rs], "route", "add", "default", "via", "10.31.0.1")
        self.sh("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.sh("ip", "netns", "exec", r, "modprobe", "ip_vs")

    def spawn(self, key, node, args, ready=False):
        """Starts a process in a namespace; with `ready`, waits for its `ready` line (it listens)."""
        log = open(self.dir / f"{key}.log", "ab")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[node], *map(str, args)],
                             stdout=subprocess.PIPE if ready else log, stderr=log, text=True)
        self.procs[key] = p
        if ready:
            assert p.stdout.readline().strip() == "ready", f"{key} did not start"

    def stop(self, key):
        p = self.procs.pop(key)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def start_http(self, rs):
        self.spawn(f"http-{rs}", rs, [sys.executable, "-c", HTTP], ready=True)

    def write_config(self):
        check = f"interval: {int(INTERVAL * 1000)}ms, timeout: {int(TIMEOUT * 1000)}ms, rise: {RISE}, fall: {FALL}"
        path = self.dir / "tandem.yaml"
        path.write_text(f"""serial: 1
nodes:
  - {{name: r1, addresses: [192.0.2.2], priority: 150}}
  - {{name: r2, addresses: [192.0.2.3], priority: 100}}
heartbeat: {{interval: 250ms, dead_time: 1s, auth: none}}
virtual_ips:
  - {{address: 192.0.2.10/24, interface: hb}}
virtual_servers:
  - name: web
    address: 192.0.2.10
    port: 80
    scheduler: wrr
    forwarding: nat
    sorry_server: {{address: 10.31.0.13, port: 8080}}
    health_check: {{type: http, path: /, {check}, failure_action: quiesce}}
    real_servers:
      - {{address: 10.31.0.11, port: 8080, weight: 10}}
      - {{address: 10.31.0.12, port: 8080, weight: 10}}
  - name: api
    address: 192.0.2.10
    port: 81
    scheduler: wrr
    forwarding: nat
    health_check: {{type: agent, port: 9999, {check}}}
    real_servers:
      - {{address: 10.31.0.11, port: 8080, weight: 10}}
control: {{socket: {self.dir}/SOCKET}}
state_directory: {self.dir}/state
""")
        return path

    def table(self):
        """{(service, real server): weight} from ipvsadm -S -n in the router namespace."""
        out = run("ip", "netns", "exec", self.ns["router"], "ipvsadm", "-S", "-n", check=True).stdout
        entries, service = {}, None
        for line in out.splitlines():
            m = re.match(r"-A -t (\S+)", line)
            if m:
                service = m.group(1)
            m = re.match(r"-a -t (\S+) -r (\S+) .*-w (\d+)", line)
            if m:
                entries[(m.group(1), m.group(2))] = int(m.group(3))
        return entries

    def wait_table(self, predicate, limit):
        """Seconds until predicate(table) holds; fails with the last table after `limit` seconds."""
        start = time.monotonic()
        while True:
            t = self.table()
            if predicate(t):
                return time.monotonic() - start
            if time.monotonic() - start > limit:
                raise AssertionError(f"after {limit}s the table is {t}\n{self.diagnose()}\n{self.log()}")
            time.sleep(0.1)

    def diagnose(self):
        """What the router namespace sees of the real servers, for a failure message."""
        probe = ("import socket,time\n"
                 "for port in (8080, 9999):\n"
                 "    t=time.monotonic()\n"
                 "    try:\n"
                 "        s=socket.create_connection(('10.31.0.11',port),timeout=5); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
                 "        print(port, s.recv(40), round(time.monotonic()-t,3))\n"
                 "    except OSError as e: print(port, e, round(time.monotonic()-t,3))\n")
        r = run("ip", "netns", "exec", self.ns["router"], sys.executable, "-c", probe)
        links = run("ip", "-n", self.ns["router"], "-br", "addr").stdout
        conns = run("ip", "netns", "exec", self.ns["router"], "ipvsadm", "-L", "-n", "-c").stdout
        return f"probe from the router: {r.stdout}{r.stderr}\nlinks:\n{links}\nipvs connections:\n{conns}"

    def log(self):
        p = self.dir / "tandemd.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def cleanup(self):
        for key in list(self.procs):
            p = self.procs.pop(key)
            p.kill()
            p.wait()
        for name in self.ns.values():
            run("ip", "netns", "del", name)


WEB, API = "192.0.2.10:80", "192.0.2.10:81"
RS1, RS2, SORRY = "10.31.0.11:8080", "10.31.0.12:8080", "10.31.0.13:8080"


def test_health_checks_drive_the_ipvs_table():
    lab = Lab()
    try:
        lab.build()
        lab.start_http("rs1")
        lab.start_http("rs2")
        lab.spawn("agent", "rs1", [sys.executable, "-c", AGENT], ready=True)
        config = lab.write_config()
        lab.spawn("tandemd", "router", [TANDEMD, "--config", config, "--node", "r1"])

        # Start-up: both web servers at full weight, no sorry server; the agent's 50% halves api's weight.
        lab.wait_table(lambda t: t.get((WEB, RS1)) == 10 and t.get((WEB, RS2)) == 10 and (WEB, SORRY) not in t
                       and t.get((API, RS1)) == 5, 120)

        # rs1's HTTP stops: quiesced (weight 0, still listed) within fall x interval + timeout.
        lab.stop("http-rs1")
        took = lab.wait_table(lambda t: t.get((WEB, RS1)) == 0, FALL * INTERVAL + TIMEOUT + SLACK)
        print(f"rs1 quiesced after {took:.2f}s (limit {FALL * INTERVAL + TIMEOUT} + slack {SLACK})")
        t = lab.table()
        assert t.get((WEB, RS2)) == 10 and (WEB, SORRY) not in t, t
        assert t.get((API, RS1)) == 5, t   # the agent still answers: api unaffected
        assert re.search(r"real server 10\.31\.0\.11:8080 of service web: up -> down: 2 consecutive failures \(fall 2\); last failed: ", lab.log())

        # It returns after rise x interval.
        lab.start_http("rs1")
        took = lab.wait_table(lambda t: t.get((WEB, RS1)) == 10, RISE * INTERVAL + TIMEOUT + SLACK)
        print(f"rs1 back after {took:.2f}s (limit {RISE * INTERVAL} + slack)")
        assert took >= (RISE - 1) * INTERVAL * 0.9, f"rs1 returned after {took:.2f}s: before rise ({RISE}) checks"
        assert "real server 10.31.0.11:8080 of service web: down -> up: 2 consecutive successes (rise 2)" in lab.log()

        # Every web server down: the sorry server appears; it leaves when one returns.
        lab.stop("http-rs1")
        lab.stop("http-rs2")
        took = lab.wait_table(lambda t: t.get((WEB, RS1)) == 0 and t.get((WEB, RS2)) == 0 and (WEB, SORRY) in t,
                              FALL * INTERVAL + TIMEOUT + SLACK)
        print(f"sorry server in after {took:.2f}s")
        lab.start_http("rs2")
        took = lab.wait_table(lambda t: t.get((WEB, RS2)) == 10 and (WEB, SORRY) not in t,
                              RISE * INTERVAL + TIMEOUT + SLACK)
        print(f"sorry server out after {took:.2f}s")
        assert lab.table().get((WEB, RS1)) == 0
        assert "Traceback" not in lab.log()
    finally:
        lab.cleanup()
        print(lab.log()[-4000:])
